"""An archivable Frictionless Data Package of the cleaned responses and the scale scores.

`make publish` writes publish/data/: ``datapackage.json`` and, per wave, ``{wave}/responses.csv``
(results/{wave}/clean/responses.parquet) and ``{wave}/scores.csv``
(results/{wave}/scales/scores.parquet). The codebook is each table's schema: an item's field
has its question text, its type, the codes of its response scale as ``categories`` (Data
Package v2) and as an ``enum`` constraint, the scale's range as ``minimum``/``maximum``; a
construct's field has its label and the items it averages. Missing answers are empty cells.

What a data archive must never receive is kept out twice: only columns the codebook names as
items, background variables or constructs (plus the pseudonym ``rid``, ``wave`` and the
cleaning flags) are written, and a column named like a PII, free-text, id or person column of
the codebook, or like a contact detail, stops the package (`assert_no_personal_columns`).

Small groups are coarsened per wave, as the reports never show a group below
``report.min_cell``:

- a background variable with value labels, and the cluster variable (``estimation.cluster``):
  a category with fewer respondents than min_cell becomes missing; when the categories made
  missing (with the unanswered) still number fewer than min_cell, the next smallest
  categories join them, and a variable left with no category is left out of the table;
- a numeric background variable without labels (an age, a number of months): bottom- and
  top-coded, the lowest values raised to the value at which min_cell respondents are reached
  from below, the highest likewise lowered.

Quasi-identifiers (codebook ``quasi_identifier: true``: what a colleague could know) are
protected together instead (lcsurvey.survey.disclosure): numeric ones recoded into bands,
labelled ones merged as configured (config ``publish.disclosure``), small categories made
missing as above, then local suppression until every combination of them is shared by at
least k respondents in each wave and over the waves linked by ``rid``; ``disclosure.csv``
lists what was done and the risk before and after.

Each field's description says what was done to it. The package is validated with the
``frictionless`` library before anything is published (`validate_package`); frictionless
checks the descriptor against the profiles it ships, so validation needs no network.

References
----------
Frictionless Data Package v2, https://datapackage.org/standard/data-package/ (Table Schema:
field types, ``categories``, ``missingValues``, ``primaryKey``, ``foreignKeys``).
Hundepool, A. et al. (2012). Statistical Disclosure Control. Wiley (global recoding,
top- and bottom-coding).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.survey import disclosure
from lcsurvey.survey.clean import REASON_TEXT
from lcsurvey.survey.codebook import Codebook, Scale, Variable

# The standard v2 profile. frictionless reads only the version from this address and checks
# the descriptor against the profiles built into the library: nothing is fetched (a custom
# profile address would be).
PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"

# Column names that look like contact details or other direct identifiers, whatever the
# codebook calls them: a second line of defence beside the codebook's own pii/free_text lists.
PERSONAL_NAME = re.compile(
    r"e-?mail|phone|telefoon|mobile|first_?name|last_?name|surname|voornaam|achternaam|"
    r"^name$|naam|address|adres|ip_?address|^ip$|latitude|longitude|location|postcode|zip_?code|"
    r"birth|geboorte|recipient|external_?ref",
    re.IGNORECASE,
)

FLAGS = {
    "flag_outlier": "outliers",
    "flag_low_variability": "low_variability",
}


@dataclass
class Table:
    """One CSV of the package: its rows and its Table Schema."""

    name: str
    path: str
    frame: pd.DataFrame
    schema: dict[str, Any]
    title: str
    notes: list[str] = field(default_factory=list)
    # Rows of the disclosure-control table: what was recoded and suppressed, risk before/after.
    control: list[dict[str, Any]] = field(default_factory=list)
    # A responses table's quasi-identifiers: name -> its field (None: left out), its recoding
    # in words and its original values; and their values after recoding, before suppression.
    quasi: dict[str, dict[str, Any]] = field(default_factory=dict)
    recoded: pd.DataFrame | None = None
    linked: bool = False


def _sentences(parts: Iterable[str]) -> str:
    """Parts of a description as sentences: each capitalised, each ending in one full stop."""
    out = []
    for part in parts:
        part = part.strip().rstrip(".")
        if part:
            if not re.match(r"[a-z]{2}: ", part):  # "nl: ..." keeps its language tag as is
                part = part[0].upper() + part[1:]
            out.append(part + ("" if part[-1] in "?!" else "."))
    return " ".join(out)


def _texts(mapping: Mapping[str, str]) -> str:
    return "; ".join(f"{lang}: {text.strip().rstrip('.')}" for lang, text in mapping.items())


def _title(mapping: Mapping[str, str], fallback: str) -> str:
    return mapping.get("en") or next(iter(mapping.values()), fallback)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _integral(values: pd.Series) -> bool:
    present = values.dropna().astype(float)
    return bool(np.all(np.isclose(present, np.round(present))))


def _scale_field(
    var: Variable, scale: Scale, values: pd.Series
) -> tuple[dict[str, Any], list[str]]:
    """Type, categories and range of a codebook variable (an item or a background variable),
    and the sentences that describe them."""
    integral = _integral(values) and all(
        float(code).is_integer() for code in (*scale.labels, scale.lowest, scale.highest)
    )
    spec: dict[str, Any] = {"type": "integer" if integral else "number"}
    described = [f"scale {scale.name}"]
    if scale.missing:
        described.append(
            "the codebook's missing codes "
            + ", ".join(str(_number(code)) for code in scale.missing)
            + " are empty cells"
        )
    # Data Package v2 allows categories on integer (and string) fields only.
    if scale.labels and integral:
        low, high = scale.lowest, scale.highest
        categories = []
        for code in sorted(scale.labels):
            # A reverse-keyed item is stored mirrored (low + high - answer): its stored value
            # carries the label of the answer it came from.
            answer = low + high - code if var.reverse else code
            categories.append(
                {"value": _number(code), "label": " / ".join(scale.labels.get(answer, ()))}
            )
        spec["categories"] = categories
        spec["categoriesOrdered"] = True
        spec["constraints"] = {
            "minimum": _number(low),
            "maximum": _number(high),
            "enum": [_number(code) for code in sorted(scale.labels)],
        }
        described.append("codes: " + "; ".join(f"{c['value']} = {c['label']}" for c in categories))
    else:
        spec["constraints"] = {"minimum": _number(scale.lowest), "maximum": _number(scale.highest)}
        described.append(f"range {_number(scale.lowest)} to {_number(scale.highest)}")
    if var.reverse:
        described.insert(
            0,
            f"reverse-keyed: stored as {_number(scale.lowest + scale.highest)} minus the answer",
        )
    return spec, described


def coarsen_groups(
    values: pd.Series,
    min_cell: int,
    labels: Mapping[float, tuple[str, ...]] | None = None,
    order: pd.Series | None = None,
) -> tuple[pd.Series | None, list[str]]:
    """Categories with fewer than `min_cell` respondents made missing (None: nothing left).

    The missing cells must not single out a small category: when the categories made missing
    and the unanswered together number fewer than `min_cell`, the largest category gives up
    as many answers as are lacking (those first in `order`, the pseudonyms: an arbitrary but
    reproducible choice) if it keeps `min_cell`; otherwise whole categories join, the smallest
    first (local suppression and global recoding, Hundepool et al. 2012).

    Parameters
    ----------
    values
        One background variable's codes (NaN: unanswered).
    min_cell
        The smallest group that may be shown (config report.min_cell).
    labels
        Code -> label texts, for the description.
    order
        The key that chooses the answers the largest category gives up (default: row order).

    Returns
    -------
    The coarsened values (None when no category of `min_cell` would be left) and what was
    made missing, as text for the field's description.
    """
    # Smallest first; between equal counts, the lower code first (deterministic).
    counts = values.value_counts(dropna=True).sort_index().sort_values(kind="stable")
    small = [code for code, n in counts.items() if n < min_cell]
    if not small:
        return values, []

    def name(code: float) -> str:
        text = " / ".join((labels or {}).get(float(code), ()))
        return f"{_number(code)} ({text})" if text else str(_number(code))

    kept = counts.drop(small)
    coded = values.mask(values.isin(small))
    lacking = min_cell - int(coded.isna().sum())
    extra = []
    if lacking > 0 and len(kept) and kept.iloc[-1] - lacking >= min_cell:
        largest = kept.index[-1]
        keys = order if order is not None else pd.Series(np.arange(len(values)), values.index)
        chosen = keys[coded == largest].sort_values(kind="stable").index[:lacking]
        coded = coded.mask(coded.index.isin(chosen))
        extra.append(
            f"and, so that at least {min_cell} are empty, {lacking} answers of {name(largest)} "
            "(those with the lowest rid)"
        )
    elif lacking > 0:
        for code, n in kept.items():
            if lacking <= 0:
                break
            small.append(code)
            lacking -= int(n)
        coded = values.mask(values.isin(small))
    if len(small) == len(counts):
        return None, []
    return coded, [name(code) for code in sorted(small)] + extra


def top_bottom_code(values: pd.Series, min_cell: int) -> tuple[pd.Series | None, list[str]]:
    """The lowest and highest values recoded so that each end value has `min_cell` respondents.

    The values below the lowest value reached by `min_cell` respondents counting from below
    are raised to it; likewise from above. None when fewer than 2 * `min_cell` answered: the
    two ends would overlap, and one value for everybody says nothing.
    """
    present = values.dropna().sort_values(kind="stable").to_numpy(dtype=float)
    if len(present) < 2 * min_cell:
        return None, []
    low, high = present[min_cell - 1], present[len(present) - min_cell]
    coded = values.clip(lower=low, upper=high)
    notes = []
    if (values < low).any():
        notes.append(f"values below {_number(low)} are given as {_number(low)}")
    if (values > high).any():
        notes.append(f"values above {_number(high)} are given as {_number(high)}")
    return coded, notes


def _quasi_identifier(
    categorical: bool,
    scale: Scale,
    values: pd.Series,
    min_cell: int,
    recode: Mapping[str, Any],
    order: pd.Series,
    target: int,
) -> tuple[pd.Series | None, Scale, list[str], str]:
    """Global recoding of one quasi-identifier (bands of a numeric one, merged categories of a
    `categorical` one: labelled, or the cluster), then its small categories made missing.

    Returns the values (None: left out), the scale they are now on, what was done (for the
    description) and the recoding in a few words (for the disclosure-control table).
    """
    described: list[str] = []
    if not categorical:
        breaks = recode.get("bands") or disclosure.propose_breaks(values, target)
        how = "configured" if recode.get("bands") else "proposed"
        if not breaks:
            return None, scale, [], "left out (too few answers for two bands)"
        labels = disclosure.band_labels(breaks)
        values = disclosure.recode_bands(values, breaks)
        scale = Scale(
            name=f"{scale.name} in bands",
            labels={float(code): (text,) for code, text in enumerate(labels, start=1)},
            min=1,
            max=len(labels),
        )
        summary = f"in bands ({how}): " + ", ".join(labels)
        described.append(
            f"recoded into bands ({how}): "
            + "; ".join(f"{code} = {text}" for code, text in enumerate(labels, start=1))
        )
    else:
        groups = recode.get("merge") or []
        summary = ""
        if groups:
            values, merged = disclosure.merge_categories(values, groups)
            labels = dict(scale.labels)
            for code, codes in merged.items():
                labels[code] = (
                    " / ".join(" / ".join(scale.labels.get(c, (str(c),))) for c in codes),
                )
                for other in codes[1:]:
                    labels.pop(other, None)
            scale = Scale(name=scale.name, labels=labels, min=scale.min, max=scale.max)
            joined = "; ".join(
                "+".join(str(_number(c)) for c in codes) + f" as {_number(code)}"
                for code, codes in merged.items()
            )
            summary = f"categories merged: {joined}"
            described.append(f"categories merged (global recoding): {joined}")
    coded, changed = coarsen_groups(values, min_cell, scale.labels, order)
    if coded is None:
        left_out = f"left out (no category of {min_cell})"
        return None, scale, [], f"{summary}; {left_out}" if summary else left_out
    if changed:
        described.append(
            f"categories with fewer than {min_cell} respondents in this wave are empty: "
            + ", ".join(changed)
        )
        summary += ("; " if summary else "") + f"small categories made empty: {', '.join(changed)}"
    return coded, scale, described, summary or "none"


def _responses_table(
    responses: pd.DataFrame,
    book: Codebook,
    wave: str,
    min_cell: int,
    cluster: str | None,
    control: Mapping[str, Any] | None = None,
) -> Table:
    control = dict(control or {})
    target = int(control.get("k") or min_cell)
    recodes = control.get("recode") or {}
    fields: list[dict[str, Any]] = [
        {
            "name": "rid",
            "type": "string",
            "title": "Respondent pseudonym",
            "description": "Keyed pseudonym (HMAC-SHA256) of the person: the same person has "
            "the same rid in every wave. Without the key it cannot be traced back.",
            "constraints": {"required": True},
        },
        {
            "name": "wave",
            "type": "string",
            "title": "Wave",
            "description": "The survey wave.",
            "constraints": {"required": True, "enum": [wave]},
        },
    ]
    columns: dict[str, pd.Series] = {
        "rid": responses["rid"].astype("string"),
        "wave": pd.Series(wave, index=responses.index, dtype="string"),
    }
    notes = []
    for name, var in book.items.items():
        if name not in responses:
            continue
        spec, described = _scale_field(var, book.scales[var.scale], responses[name])
        construct = book.construct_of(name)
        text = [_texts(var.text)] if var.text else []
        if construct:
            text.append(f"item of construct {construct}")
        fields.append(
            {
                "name": name,
                "title": _title(var.text, name),
                "description": _sentences([*text, *described]),
                **spec,
            }
        )
        columns[name] = responses[name]
    quasi: dict[str, dict[str, Any]] = {}  # name -> its field, recoding and original values
    for name, var in book.background.items():
        if name not in responses:
            continue
        scale = book.scales[var.scale]
        values = responses[name]
        if var.quasi_identifier:
            coded, scale, changed, summary = _quasi_identifier(
                bool(scale.labels) or name == cluster,
                scale,
                values,
                min_cell,
                recodes.get(name) or {},
                responses["rid"],
                target,
            )
            original = values
            what = ""
            left_out = f"{name}: {summary}"
        elif scale.labels or name == cluster:
            coded, changed = coarsen_groups(values, min_cell, scale.labels, responses["rid"])
            what = (
                f"categories with fewer than {min_cell} respondents in this wave are empty "
                f"(coarsened into missing): {', '.join(changed)}"
            )
            left_out = f"{name}: left out (no category of at least {min_cell} respondents)"
        else:
            coded, changed = top_bottom_code(values, min_cell)
            what = f"bottom- and top-coded to groups of at least {min_cell}: " + "; ".join(changed)
            left_out = f"{name}: left out (fewer than {2 * min_cell} answers)"
        if coded is None:
            notes.append(left_out)
            if var.quasi_identifier:
                quasi[name] = {"summary": summary, "original": values, "field": None}
            continue
        spec, described = _scale_field(var, scale, coded)
        if var.quasi_identifier:
            described.append("quasi-identifier (a colleague could know it)")
            described += changed
            if changed:
                notes.append(f"{name}: {summary}")
        elif changed:
            described.append(what)
            notes.append(f"{name}: " + what)
        if name == cluster:
            described.insert(0, "the cluster (respondents nested in it)")
        entry = {
            "name": name,
            "title": _title(var.label, name),
            "description": _sentences([_texts(var.label), *described] if var.label else described),
            **spec,
        }
        fields.append(entry)
        columns[name] = coded
        if var.quasi_identifier:
            quasi[name] = {"summary": summary, "original": original, "field": entry}
    for name, step in FLAGS.items():
        if name in responses:
            fields.append(
                {
                    "name": name,
                    "type": "boolean",
                    "title": name.replace("_", " ").capitalize(),
                    "description": f"Flagged by the cleaning rule {step!r} "
                    f"({REASON_TEXT[step]}) and kept: the analyst decides whether to exclude.",
                }
            )
            columns[name] = responses[name].astype(bool)
    frame = pd.DataFrame(columns)
    published = [name for name, entry in quasi.items() if entry["field"] is not None]
    recoded = frame[published].copy()
    _suppress(frame, published, target, min_cell)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if frame["rid"].notna().all() and frame["rid"].is_unique:
        schema["primaryKey"] = ["rid"]
    return Table(
        name=f"responses-{wave}".lower(),
        path=f"{wave}/responses.csv",
        frame=frame,
        schema=schema,
        title=f"Cleaned responses, wave {wave}",
        notes=notes,
        quasi=quasi,
        recoded=recoded,
    )


def _suppress(frame: pd.DataFrame, keys: list[str], target: int, min_cell: int) -> None:
    """Local suppression of `frame`'s (recoded) quasi-identifiers `keys`, in place, to k =
    `target`; a category this leaves with fewer than `min_cell` answers is made empty too
    (which only raises k)."""
    protection = disclosure.protect(frame, keys, target, order=frame["rid"])
    for name in keys:
        coarsened, _ = coarsen_groups(protection.frame[name], min_cell, None, frame["rid"])
        frame[name] = (
            coarsened
            if coarsened is not None
            else protection.frame[name].where(pd.Series(False, index=frame.index))
        )


def _link_waves(tables: list[Table], target: int, min_cell: int) -> dict[str, Any] | None:
    """k-anonymity of each person's quasi-identifiers over all waves, linked by `rid`.

    The same person has the same rid in every wave, so a reader can put their rows side by
    side: a combination k-anonymous in each wave alone can be unique over two. The waves'
    published quasi-identifiers are joined per person (a wave without the person counts as
    missing, matching anything: whether someone answered a wave is taken as unknown to a
    colleague), suppressed further to k = `target` and the emptied cells written back.
    Returns the rows' numbers (None with fewer than two waves to link).
    """
    parts = {}
    for table in tables:
        keys = [name for name, entry in table.quasi.items() if entry["field"] is not None]
        rid = table.frame["rid"]
        if keys and rid.notna().all() and rid.is_unique:
            parts[table.name] = (table, keys)
    if len(parts) < 2:
        return None
    persons = pd.concat(
        [
            table.frame.set_index("rid")[keys].add_prefix(f"{table.name}\t")
            for table, keys in parts.values()
        ],
        axis=1,
    )
    columns = list(persons.columns)
    before = disclosure.risk_summary(persons, columns, target)
    order = pd.Series(persons.index, index=persons.index)
    protected = disclosure.protect(persons, columns, target, order=order).frame
    suppressed = 0
    for table, keys in parts.values():
        own = protected.loc[table.frame["rid"]]
        for name in keys:
            emptied = own[f"{table.name}\t{name}"].isna().to_numpy() & table.frame[name].notna()
            suppressed += int(emptied.sum())
            table.frame[name] = table.frame[name].mask(emptied)
            coarsened, _ = coarsen_groups(table.frame[name], min_cell, None, table.frame["rid"])
            if coarsened is None:
                coarsened = table.frame[name].where(pd.Series(False, index=table.frame.index))
            persons.loc[table.frame["rid"], f"{table.name}\t{name}"] = coarsened.to_numpy()
            table.frame[name] = coarsened
    after = disclosure.risk_summary(persons, columns, target)
    answered = int(persons.notna().sum().sum()) + suppressed
    return {
        "wave": "(all waves)",
        "variable": "(all quasi-identifiers, linked by rid)",
        "recoding": "",
        "answered": answered,
        "suppressed": suppressed,
        "emptied": suppressed,
        "information_loss": round(suppressed / answered, 4) if answered else 0.0,
        "k_before": before.k,
        "k_after": after.k,
        "sample_uniques_before": before.sample_uniques,
        "sample_uniques_after": after.sample_uniques,
        "expected_reidentifications_before": round(before.expected_reidentifications, 3),
        "expected_reidentifications_after": round(after.expected_reidentifications, 3),
    }


def _control_rows(table: Table, target: int) -> list[dict[str, Any]]:
    """The rows of the disclosure-control table of one responses table (per quasi-identifier
    and for their combination), the fields' descriptions and a sentence for the table's."""
    quasi, frame, recoded, notes = table.quasi, table.frame, table.recoded, table.notes
    wave = str(frame["wave"].iloc[0]) if len(frame) else table.name
    names = list(quasi)
    published = [name for name in names if quasi[name]["field"] is not None]
    original = pd.DataFrame({name: quasi[name]["original"] for name in names})

    def row(
        variable: str, keys: list[str], recoding: str, lost: int, emptied: int, answered: int
    ) -> dict:
        before = disclosure.risk_summary(original, keys, target)
        kept = [key for key in keys if key in published]
        after = disclosure.risk_summary(frame, kept, target)
        return {
            "wave": wave,
            "variable": variable,
            "recoding": recoding,
            "answered": answered,
            "suppressed": lost,
            "emptied": emptied,
            "information_loss": round(emptied / answered, 4) if answered else 0.0,
            "k_before": before.k,
            "k_after": after.k,
            "sample_uniques_before": before.sample_uniques,
            "sample_uniques_after": after.sample_uniques,
            "expected_reidentifications_before": round(before.expected_reidentifications, 3),
            "expected_reidentifications_after": round(after.expected_reidentifications, 3),
        }

    rows = []
    for name in names:
        answered = int(original[name].notna().sum())
        if name in published:
            # Cells the recoding left answered and the suppression (with its coarsening) emptied.
            lost = int((recoded[name].notna() & frame[name].isna()).sum())
            entry = quasi[name]["field"]
            if lost:
                entry["description"] = _sentences(
                    [
                        entry["description"],
                        f"{lost} answers made empty (local suppression) so that every "
                        f"combination of the quasi-identifiers {', '.join(published)} is shared "
                        f"by at least {target} respondents",
                    ]
                )
        else:
            lost = 0
        emptied = (
            int((original[name].notna() & frame[name].isna()).sum())
            if name in published
            else answered
        )
        rows.append(row(name, [name], quasi[name]["summary"], lost, emptied, answered))
    if names:
        answered = sum(r["answered"] for r in rows)
        lost = sum(r["suppressed"] for r in rows)
        emptied = sum(r["emptied"] for r in rows)
        combined = row("(all quasi-identifiers)", names, "", lost, emptied, answered)
        rows.append(combined)
        linked = " (in this wave, and linked over all waves by rid)" if table.linked else ""
        notes.append(
            f"quasi-identifiers ({', '.join(names)}): before disclosure control the smallest "
            f"group sharing a combination had {combined['k_before']} respondents "
            f"({combined['sample_uniques_before']} were unique); after global recoding and "
            f"local suppression ({emptied} of {answered} answers made empty, {lost} of them by "
            f"local suppression) every combination is "
            f"shared by at least {combined['k_after']}{linked} (k-anonymity; see disclosure.csv)"
        )
    return rows


DISCLOSURE_FIELDS = {
    "wave": ("string", "The survey wave."),
    "variable": (
        "string",
        "A quasi-identifier, or '(all quasi-identifiers)' for their combination.",
    ),
    "recoding": ("string", "The global recoding (bands, merged or emptied categories)."),
    "answered": ("integer", "Answers before disclosure control."),
    "suppressed": ("integer", "Answers made empty by local suppression."),
    "emptied": (
        "integer",
        "All answers made empty: by the recoding (small categories; all of them for a variable "
        "left out) and by local suppression.",
    ),
    "information_loss": ("number", "emptied / answered."),
    "k_before": (
        "integer",
        "The smallest number of respondents sharing a value (a combination) before: k of "
        "k-anonymity; a missing value matches any (sdcMicro's freqCalc).",
    ),
    "k_after": ("integer", "The same, as published."),
    "sample_uniques_before": ("integer", "Respondents unique on it (f_k = 1) before."),
    "sample_uniques_after": ("integer", "The same, as published."),
    "expected_reidentifications_before": (
        "number",
        "Sum of the individual risks 1 / f_k (sdcMicro's indivRisk for a population) before.",
    ),
    "expected_reidentifications_after": ("number", "The same, as published."),
}


def disclosure_table(
    tables: Iterable[Table], target: int, linked: Mapping[str, Any] | None = None
) -> Table:
    """What disclosure control did to each wave's quasi-identifiers, and to their linked
    combination over the waves: one table for the package."""
    rows = [row for table in tables for row in table.control] + ([dict(linked)] if linked else [])
    frame = pd.DataFrame(rows, columns=list(DISCLOSURE_FIELDS))
    fields = [
        {"name": name, "type": kind, "description": text}
        for name, (kind, text) in DISCLOSURE_FIELDS.items()
    ]
    return Table(
        name="disclosure-control",
        path="disclosure.csv",
        frame=frame,
        schema={"fields": fields, "missingValues": [""]},
        title=f"Disclosure control of the quasi-identifiers (k = {target})",
        notes=[
            "Per wave and quasi-identifier (codebook quasi_identifier), and for their "
            "combination: the global recoding, the answers made empty by local suppression, "
            "the information lost and the risk before and after (sdcMicro's measures)"
        ],
    )


def _scores_table(scores: pd.DataFrame, book: Codebook, wave: str, responses: Table) -> Table:
    fields: list[dict[str, Any]] = [
        {
            "name": "rid",
            "type": "string",
            "title": "Respondent pseudonym",
            "description": f"The respondent's rid in the responses of wave {wave}.",
            "constraints": {"required": True},
        }
    ]
    columns: dict[str, pd.Series] = {"rid": scores["rid"].astype("string")}
    parts = [
        *((name, construct) for name, construct in book.constructs.items()),
        *((name, composite) for name, composite in book.composites.items()),
    ]
    for name, spec in parts:
        if name not in scores:
            continue
        if name in book.constructs:
            scale = book.construct_scale(name)
            how = (
                f"Mean of the items {', '.join(spec.items)} (reverse-keyed items mirrored), "
                f"missing when fewer than {spec.min_items} are answered"
            )
        else:
            scale = book.construct_scale(spec.parts[0])
            mirrored = f"; {', '.join(spec.reverse)} mirrored" if spec.reverse else ""
            how = (
                f"Mean of the construct scores {', '.join(spec.parts)}{mirrored}, missing when "
                f"fewer than {spec.min_parts} have a score"
            )
        fields.append(
            {
                "name": name,
                "type": "number",
                "title": _title(spec.label, name),
                "description": _sentences(
                    [_texts(spec.label) if spec.label else "", how, f"scale {scale.name}"]
                ),
                "constraints": {
                    "minimum": _number(scale.lowest),
                    "maximum": _number(scale.highest),
                },
            }
        )
        columns[name] = scores[name]
    frame = pd.DataFrame(columns)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if "primaryKey" in responses.schema and frame["rid"].is_unique:
        schema["primaryKey"] = ["rid"]
        schema["foreignKeys"] = [
            {"fields": ["rid"], "reference": {"resource": responses.name, "fields": ["rid"]}}
        ]
    return Table(
        name=f"scores-{wave}".lower(),
        path=f"{wave}/scores.csv",
        frame=frame,
        schema=schema,
        title=f"Scale scores, wave {wave}",
    )


def personal_names(book: Codebook, waves: Iterable[str]) -> set[str]:
    """Every raw column name of the codebook that holds PII, free text, the id or person code."""
    names = set(book.pii) | {book.id} | ({book.person} if book.person else set())
    for name, spec in book.free_text.items():
        names |= {name, spec["column"], *spec.get("wave_columns", {}).values()}
    for wave in waves:
        names |= set(book.dropped_text_columns(wave))
    return names


def assert_no_personal_columns(tables: Iterable[Table], book: Codebook, waves: list[str]) -> None:
    """Stop when a table has a PII, free-text, id or person column, or one named like a contact."""
    forbidden = {name.casefold() for name in personal_names(book, waves)}
    for table in tables:
        for column in table.frame.columns:
            if column.casefold() in forbidden or PERSONAL_NAME.search(column):
                raise InputError(
                    "a column that may identify a person would be published",
                    file=table.path,
                    column=column,
                    expected="no PII, free-text, id or person column in the data package",
                    hint="Rename it in the codebook or list it under pii / free_text",
                )


def package_tables(
    results: Path,
    book: Codebook,
    waves: list[str],
    min_cell: int,
    cluster: str | None,
    control: Mapping[str, Any] | None = None,
) -> list[Table]:
    """Per wave, the responses table and the scores table, coarsened and described; with
    quasi-identifiers in the codebook, the disclosure-control table last.

    `control` is config ``publish.disclosure``: ``k`` (default `min_cell`) and ``recode``
    (per quasi-identifier ``bands`` or ``merge``).
    """
    tables = []
    for wave in waves:
        paths = {
            "responses": results / wave / "clean" / "responses.parquet",
            "scores": results / wave / "scales" / "scores.parquet",
        }
        for path in paths.values():
            if not path.is_file():
                raise InputError(
                    "a result the data package needs is missing",
                    file=str(path),
                    hint="Run 'make run' first",
                )
        responses = _responses_table(
            pd.read_parquet(paths["responses"]), book, wave, min_cell, cluster, control
        )
        tables += [
            responses,
            _scores_table(pd.read_parquet(paths["scores"]), book, wave, responses),
        ]
    if disclosure.quasi_identifiers(book.background):
        target = int((control or {}).get("k") or min_cell)
        responses_tables = [table for table in tables if table.quasi]
        linked = _link_waves(responses_tables, target, min_cell)
        for table in responses_tables:
            table.linked = linked is not None
            table.control = _control_rows(table, target)
        tables.append(disclosure_table(tables, target, linked))
    assert_no_personal_columns(tables, book, waves)
    return tables


def descriptor(tables: list[Table], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The datapackage.json of `tables` with the metadata of config `publish:`."""
    package: dict[str, Any] = {
        "$schema": PROFILE,
        "name": settings["name"],
        "title": settings["title"],
        "description": settings["description"],
        "version": settings["version"],
        "licenses": [dict(licence) for licence in settings["licenses"]],
    }
    if settings.get("contributors"):
        package["contributors"] = [dict(person) for person in settings["contributors"]]
    package["resources"] = [
        {
            "name": table.name,
            "type": "table",
            "path": table.path,
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "title": table.title,
            **({"description": _sentences(table.notes)} if table.notes else {}),
            "schema": table.schema,
        }
        for table in tables
    ]
    return package


def _csv_frame(table: Table) -> pd.DataFrame:
    """Integer fields without a decimal point, booleans as true/false, missing as empty."""
    frame = table.frame.copy()
    for spec in table.schema["fields"]:
        name = spec["name"]
        if spec["type"] == "integer":
            frame[name] = frame[name].astype("Int64")
        elif spec["type"] == "boolean":
            frame[name] = frame[name].map({True: "true", False: "false"})
    return frame


def write_package(tables: list[Table], settings: Mapping[str, Any], folder: Path) -> list[Path]:
    """Write the CSVs and datapackage.json into `folder`; return the files written."""
    written = []
    for table in tables:
        path = folder / table.path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Numbers as Python writes them: the shortest text that reads back to the same value.
        _csv_frame(table).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    path = folder / "datapackage.json"
    text = json.dumps(descriptor(tables, settings), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    written.append(path)
    return written


def validate_package(path: Path) -> None:
    """Validate datapackage.json and its tables with frictionless; an InputError lists the errors."""
    # Imported here: only publishing needs frictionless, and importing it takes a moment.
    from frictionless import FrictionlessException, Package

    try:
        report = Package(str(path)).validate()
    except FrictionlessException as exc:  # a descriptor frictionless cannot even load
        raise InputError(
            f"the data package does not validate: {exc}",
            file=str(path),
            hint="Check config.yaml's publish: section",
        ) from None
    if report.valid:
        return
    problems = [
        f"{task}: {message}"
        for task, message in (
            (task.name or task.place, error.message)
            for task in report.tasks
            for error in task.errors
        )
    ] + [error.message for error in report.errors]
    raise InputError(
        f"the data package does not validate ({len(problems)} error(s)): "
        + "; ".join(problems[:20])
        + ("; ..." if len(problems) > 20 else ""),
        file=str(path),
    )
