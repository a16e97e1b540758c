"""Cleaning: map raw columns to codebook items, decode answers, apply the exclusion rules.

Nothing is lost: every raw row ends up either kept or quarantined with its reason(s), and the
flow table (CONSORT style) adds up. PII never gets this far: the reader drops it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.errors import InputError
from lcsurvey.schema import defaults
from lcsurvey.survey.codebook import Codebook, Scale, Variable
from lcsurvey.survey.pseudonym import pseudonymise

log = logging.getLogger("lcsurvey")

# Order in which the exclusion rules are applied; a respondent is counted in the flow at the
# first rule that removes them, while `reasons` lists every rule they fail.
STEPS = (
    "id",
    "previews",
    "consent",
    "progress",
    "duplicates",
    "speeders",
    "attention",
    "straightlining",
    "missing",
    "outliers",
    "low_variability",
)
# Rules that only flag by default: the analyst decides whether to exclude on them.
FLAG_ONLY_BY_DEFAULT = ("outliers", "low_variability")

# The rules' defaults: config.yaml's cleaning: in workflow/schemas/config.schema.yaml.
DEFAULT_RULES: dict[str, Any] = defaults("config")["cleaning"]

REASON_TEXT = {
    "id": "no response id",
    "previews": "survey preview or test response",
    "consent": "no consent",
    "progress": "incomplete (progress below the threshold)",
    "duplicates": "duplicate of a more complete response by the same person",
    "speeders": "speeder (duration below the threshold)",
    "attention": "failed attention check",
    "straightlining": "straightlining (longstring share above the threshold)",
    "missing": "too many unanswered items",
    "outliers": "multivariate outlier (Mahalanobis distance)",
    "low_variability": "low intra-individual response variability",
}


@dataclass(frozen=True)
class CleanResult:
    kept: pd.DataFrame
    quarantine: pd.DataFrame
    flow: pd.DataFrame
    recodes: pd.DataFrame


def _active(value: Any) -> bool:
    return value is not None and value is not False


def _column(frame: pd.DataFrame, column: str, *, what: str, source: str, wave: str) -> pd.Series:
    if column not in frame.columns:
        # The reader numbers the columns of a name the header repeats ("Q1 @2", "Q1 @4").
        numbered = [str(c) for c in frame.columns if str(c).startswith(f"{column} @")]
        raise InputError(
            f"the codebook's {what} expects a column that is not in the data of wave {wave!r}",
            file=source,
            column=column,
            expected="one of the file's columns (or set wave_columns for this wave in the codebook)",
            hint=f"The file repeats this name; its columns are read as "
            f"{', '.join(repr(c) for c in numbered)}: name one of them in the codebook"
            if numbered
            else None,
        )
    return frame[column]


def _as_text(series: pd.Series) -> pd.Series:
    """Cells as stripped strings (missing stays missing), for matching labels and codes."""
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def _to_float(text: pd.Series) -> pd.Series:
    """Numbers written with a decimal point or comma; anything else becomes NaN."""
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").astype(float)


def decode(
    series: pd.Series,
    var: Variable,
    scale: Scale,
    *,
    source: str,
    rows: list[int],
    value_labels: Mapping[float, str] | None = None,
) -> tuple[pd.Series, dict[str, int]]:
    """One raw column as numeric codes of its scale.

    Choice text (Dutch or English, case- and whitespace-insensitive) is matched through the
    scale's labels, numbers are taken as codes, a label followed by its own code (Qualtrics'
    end points "Very likely\n7", "Not at all likely1") is that code, the scale's missing codes
    become missing, and
    numbers outside the scale become missing and are counted. Text that is neither a number
    nor a known label is an error naming the file row, the column and the labels expected.
    """
    column = series.name
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
        unknown = pd.Series(False, index=series.index)
    else:
        # A column holds a handful of distinct answers: decode those, then spread them out.
        codes, uniques = pd.factorize(_as_text(series), use_na_sentinel=True)
        uniques = pd.Series(uniques, dtype="string")
        decoded = _to_float(uniques).to_numpy(copy=True)
        lookup = scale.label_lookup()
        if value_labels:
            lookup.update({_norm(lbl): float(code) for code, lbl in value_labels.items()})
        for j in np.flatnonzero(np.isnan(decoded)):
            decoded[j] = lookup.get(_norm(uniques[j]), np.nan)
            if np.isnan(decoded[j]):
                decoded[j] = _label_with_code(uniques[j], lookup)
        decoded = np.append(decoded, np.nan)  # code -1 (missing) picks the last entry
        values = pd.Series(decoded[codes], index=series.index)
        unknown = pd.Series((codes >= 0) & np.isnan(values.to_numpy()), index=series.index)
    if unknown.any():
        position = int(np.flatnonzero(unknown.to_numpy())[0])
        bad = series.iloc[position]
        if scale.labels:
            expected = "a code or one of the labels " + ", ".join(
                f"{int(code)} = {' / '.join(texts)}" for code, texts in scale.labels.items()
            )
        else:
            expected = f"a number from {scale.min:g} to {scale.max:g}"
        raise InputError(
            f"unknown answer for item {var.name} (scale {scale.name}); "
            f"{int(unknown.sum())} cell(s) in this column cannot be read",
            file=source,
            row=rows[position],
            column=str(column),
            value=bad,
            expected=expected,
            hint="Add the label to the codebook's scale, or correct the export",
        )
    is_missing_code = values.isin(scale.missing)
    values = values.mask(is_missing_code)
    if scale.labels:
        in_range = values.isin(list(scale.labels))
    else:
        in_range = values.between(scale.min, scale.max)
    out_of_range = values.notna() & ~in_range
    values = values.mask(out_of_range)
    counts = {
        "n_missing_code": int(is_missing_code.sum()),
        "n_out_of_range": int(out_of_range.sum()),
    }
    return values, counts


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


# A label with a code stuck on, with or without a space or line break between.
_LABEL_WITH_CODE = re.compile(r"^(?P<label>.*\D)(?P<code>[-+]?\d+)$", re.DOTALL)


def _label_with_code(text: str, lookup: Mapping[str, float]) -> float:
    """The code of a cell written as a scale label followed by that label's own code.

    Qualtrics exports some scales with text at the end points and bare numbers between:
    ``"Very likely\n7"``, ``"Not at all likely1"``, ``"2"`` .. ``"6"``. Such a cell maps to
    its code only when the label is the scale's label for exactly that code; any other
    combination stays unreadable (NaN), so that the caller reports it.
    """
    found = _LABEL_WITH_CODE.match(_norm(text))
    if found is None:
        return np.nan
    code = float(found.group("code"))
    return code if lookup.get(found.group("label").strip()) == code else np.nan


def longest_run_reference(answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the longest run of identical consecutive answers, and the number answered.

    Plain loop, kept as the readable definition that the vectorised version is tested against.
    Unanswered items are skipped: they neither break nor extend a run (careless::longstring on
    the answered items in questionnaire order).
    """
    longest = np.zeros(answers.shape[0], dtype=int)
    answered = np.zeros(answers.shape[0], dtype=int)
    for i, row in enumerate(answers):
        row = row[~np.isnan(row)]
        answered[i] = row.size
        if row.size:
            bounds = np.concatenate(([-1], np.flatnonzero(np.diff(row) != 0), [row.size - 1]))
            longest[i] = np.diff(bounds).max()
    return longest, answered


def longest_run(answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised longest_run_reference: answered items packed left per row, runs measured."""
    n_rows, n_cols = answers.shape
    answered = ~np.isnan(answers)
    n_answered = answered.sum(axis=1)
    order = np.argsort(~answered, axis=1, kind="stable")
    packed = np.take_along_axis(answers, order, axis=1)
    idx = np.arange(n_cols)
    valid = idx[None, :] < n_answered[:, None]
    same = np.zeros((n_rows, n_cols), dtype=bool)
    same[:, 1:] = (packed[:, 1:] == packed[:, :-1]) & valid[:, 1:]
    # Run length ending at each position: positions since the last break.
    last_break = np.maximum.accumulate(np.where(~same, idx[None, :], 0), axis=1)
    run = np.where(valid, idx[None, :] - last_break + 1, 0)
    return run.max(axis=1, initial=0), n_answered


def longstring_share(blocks: list[np.ndarray]) -> np.ndarray:
    """Share of the answered items covered by the longest identical run within each block.

    A block is the items that share a response scale, in questionnaire order. Runs are
    measured per scale because a straightliner who ticks "agree" everywhere gives a different
    code on a 1-7 scale than on a 1-5 scale; summing the runs over blocks catches them while
    one long honest run on a short block stays a small share.
    """
    runs = [longest_run(block) for block in blocks]
    covered = sum(longest for longest, _ in runs)
    answered = sum(n for _, n in runs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(answered > 0, covered / np.maximum(answered, 1), np.nan)


def mahalanobis_p(x: np.ndarray) -> np.ndarray:
    """Per row: p-value of the squared Mahalanobis distance over the row's answered items.

    Means and covariances are pairwise-complete estimates (made positive definite if needed);
    d2 = (x_o - mu_o)' Sigma_oo^-1 (x_o - mu_o) is referred to chi-square with as many degrees
    of freedom as answered items. Sigma_oo^-1 is obtained from K = Sigma^-1 as
    K_oo - K_om K_mm^-1 K_mo, batched over rows with the same number of missing items, so the
    cost does not grow with the number of missingness patterns.
    """
    observed = ~np.isnan(x)
    mu = np.nanmean(x, axis=0)
    sigma = pd.DataFrame(x).cov().to_numpy()
    values, vectors = np.linalg.eigh(sigma)
    sigma = (vectors * np.maximum(values, 1e-6 * values.max())) @ vectors.T
    k_full = np.linalg.inv(sigma)
    centred = np.where(observed, x - mu, 0.0)
    k_x = centred @ k_full
    d2 = np.einsum("ij,ij->i", k_x, centred)
    n_missing = (~observed).sum(axis=1)
    for m in np.unique(n_missing[n_missing > 0]):
        rows = np.flatnonzero(n_missing == m)
        miss = np.argsort(observed[rows], axis=1, kind="stable")[:, :m]
        k_mm = k_full[miss[:, :, None], miss[:, None, :]]
        u = np.take_along_axis(k_x[rows], miss, axis=1)
        d2[rows] -= np.einsum("ij,ij->i", u, np.linalg.solve(k_mm, u[:, :, None])[:, :, 0])
    return special.chdtrc(observed.sum(axis=1), d2)


def clean_wave(
    frame: pd.DataFrame,
    book: Codebook,
    *,
    wave: str,
    source: str,
    rows: list[int] | None = None,
    value_labels: Mapping[str, Mapping[float, str]] | None = None,
    rules: Mapping[str, Any] | None = None,
    key: bytes,
) -> CleanResult:
    """Clean one wave: decode it through the codebook, flag and quarantine, pseudonymise.

    `frame` holds the raw columns (PII already dropped), `rows` the file row number of each
    frame row (for messages). Returns the kept respondents, the quarantine (every excluded row
    with its data and reasons), the flow table and the per-item recode counts.
    """
    rules = {**DEFAULT_RULES, **(rules or {})}
    rows = list(rows) if rows is not None else list(range(2, len(frame) + 2))
    value_labels = value_labels or {}
    frame = frame.reset_index(drop=True)
    n_raw = len(frame)

    def col(column: str, what: str) -> pd.Series:
        return _column(frame, column, what=what, source=source, wave=wave)

    # --- decode every mapped variable -------------------------------------------------------
    decoded: dict[str, pd.Series] = {}
    raw_codes: dict[str, pd.Series] = {}
    recodes = []
    for section, variables in (
        ("item", book.items),
        ("background", book.background),
        ("attention check", book.attention_checks),
    ):
        for var in variables.values():
            column = var.column_in(wave)
            scale = book.scales[var.scale]
            values, counts = decode(
                col(column, f"{section} {var.name}"),
                var,
                scale,
                source=source,
                rows=rows,
                value_labels=value_labels.get(column),
            )
            raw_codes[var.name] = values
            if var.reverse:
                values = scale.lowest + scale.highest - values
            decoded[var.name] = values
            if section == "item":
                recodes.append(
                    {
                        "item": var.name,
                        "column": column,
                        **counts,
                        "n_missing": int(values.isna().sum()),
                    }
                )
    items = list(book.items)
    item_frame = pd.DataFrame({name: decoded[name] for name in items})
    by_scale: dict[str, list[str]] = {}
    for name in items:
        by_scale.setdefault(book.items[name].scale, []).append(name)
    blocks = [
        np.column_stack([raw_codes[name].to_numpy(float) for name in names])
        for names in by_scale.values()
        if len(names) > 1
    ]

    # --- ids and pseudonyms -----------------------------------------------------------------
    ids = _as_text(col(book.id, "id"))
    person_col = book.person if book.person and book.person in frame.columns else None
    person = _as_text(frame[person_col]) if person_col else ids
    person = person.fillna(ids)
    rid = pseudonymise(person, key)

    # --- flags, each evaluated where it is defined ---------------------------------------------
    flags: dict[str, pd.Series] = {step: pd.Series(False, index=frame.index) for step in STEPS}
    flags["id"] = ids.isna()

    if _active(rules["previews"]) and book.meta.get("status"):
        status = _as_text(col(book.meta_column("status", wave), "meta.status"))
        preview = {_norm(v) for v in book.meta["status"].get("preview", [])}
        preview |= {_norm(f"{float(v):g}") for v in preview if _is_number(v)}
        codes, uniques = pd.factorize(status)
        is_preview = np.array([_norm(_number_text(u)) in preview for u in uniques] + [False])
        flags["previews"] = pd.Series(is_preview[codes], index=frame.index)

    if _active(rules["consent"]) and book.meta.get("consent"):
        spec = book.meta["consent"]
        consent_raw = col(book.meta_column("consent", wave), "meta.consent")
        if spec.get("scale"):
            consent_var = Variable(
                name="consent", column=str(consent_raw.name), scale=spec["scale"]
            )
            consent, _ = decode(
                consent_raw,
                consent_var,
                book.scales[spec["scale"]],
                source=source,
                rows=rows,
                value_labels=value_labels.get(str(consent_raw.name)),
            )
        else:
            consent = _to_float(_as_text(consent_raw))
        flags["consent"] = ~(consent == float(spec.get("yes", 1)))

    progress = None
    if book.meta.get("progress"):
        progress = _to_float(_as_text(col(book.meta_column("progress", wave), "meta.progress")))
    if _active(rules["min_progress"]) and progress is not None:
        flags["progress"] = ~(progress >= float(rules["min_progress"]))

    answered_items = item_frame.notna().sum(axis=1)
    survivors = ~(flags["id"] | flags["previews"] | flags["consent"] | flags["progress"])
    if _active(rules["duplicates"]):
        # Most complete first, then file order; the first of each person is kept.
        order = pd.DataFrame(
            {"person": person, "answered": answered_items, "pos": np.arange(n_raw)}
        )
        order = order[survivors & person.notna()].sort_values(
            ["answered", "pos"], ascending=[False, True], kind="stable"
        )
        dup_index = order.index[order.duplicated("person", keep="first")]
        flags["duplicates"] = pd.Series(frame.index.isin(dup_index), index=frame.index)

    duration = None
    if book.meta.get("duration"):
        duration = _to_float(_as_text(col(book.meta_column("duration", wave), "meta.duration")))
    if _active(rules["speeder_fraction_of_median"]) and duration is not None:
        base = duration[survivors & ~flags["duplicates"]]
        median = float(base.median()) if base.notna().any() else np.nan
        threshold = float(rules["speeder_fraction_of_median"]) * median
        flags["speeders"] = duration < threshold

    if _active(rules["attention_checks"]):
        failed = pd.Series(False, index=frame.index)
        for name, var in book.attention_checks.items():
            failed |= decoded[name].notna() & (decoded[name] != float(var.expected))
        flags["attention"] = failed

    shares = longstring_share(blocks)
    if _active(rules["longstring_max_share"]):
        # Too few answers to speak of a pattern: leave those to the missing-items rule.
        enough = answered_items.to_numpy() >= max(5, len(items) // 2)
        flags["straightlining"] = pd.Series(
            enough & (shares >= float(rules["longstring_max_share"])), index=frame.index
        )

    missing_share = 1 - answered_items / len(items)
    if _active(rules["max_missing_share"]):
        flags["missing"] = missing_share > float(rules["max_missing_share"])

    # Flags on the respondents still in: their mean and covariance define "typical".
    still_in = ~pd.concat([flags[s] for s in STEPS if s not in FLAG_ONLY_BY_DEFAULT], axis=1).any(
        axis=1
    )
    items_in = item_frame[still_in].to_numpy(float)
    if _active(rules["outlier_p"]) and still_in.sum() > len(items) + 1:
        p_values = np.full(n_raw, np.nan)
        p_values[still_in.to_numpy()] = mahalanobis_p(items_in)
        flags["outliers"] = pd.Series(p_values < float(rules["outlier_p"]), index=frame.index)
    if _active(rules["min_variability"]):
        low, high = (
            np.array([getattr(book.scales[book.items[n].scale], side) for n in items])
            for side in ("lowest", "highest")
        )
        # As ticked (before reverse keying): a respondent ticking one box throughout has 0.
        answers = np.column_stack([raw_codes[name].to_numpy(float) for name in items])
        pomp = (answers - low) / (high - low)
        answered = ~np.isnan(pomp)
        count = np.maximum(answered.sum(axis=1), 1)
        mean = np.where(answered, pomp, 0).sum(axis=1) / count
        irv = np.sqrt(np.where(answered, (pomp - mean[:, None]) ** 2, 0).sum(axis=1) / count)
        irv = np.where(answered.sum(axis=1) >= 5, irv, np.nan)
        flags["low_variability"] = (
            pd.Series(irv < float(rules["min_variability"]), index=frame.index) & still_in
        )
    excluding = {step: True for step in STEPS}
    excluding["outliers"] = bool(rules["exclude_outliers"])
    excluding["low_variability"] = bool(rules["exclude_low_variability"])

    # --- flow: each row counted at the first rule that removes it ---------------------------
    removed = pd.Series(False, index=frame.index)
    flow_rows = []
    for step in STEPS:
        applies = flags[step] & ~removed
        newly = applies if excluding[step] else applies & False
        n_before = int((~removed).sum())
        removed |= newly
        flow_rows.append(
            {
                "step": step,
                "n_before": n_before,
                "n_removed": int(newly.sum()),
                "n_after": int((~removed).sum()),
                "n_flagged": int(applies.sum()),
            }
        )
    flow = pd.DataFrame(flow_rows)

    reasons = pd.Series("", index=frame.index, dtype="string")
    for step in STEPS:
        reasons = reasons.mask(flags[step], reasons.where(reasons == "", reasons + ";") + step)

    background = pd.DataFrame({name: decoded[name] for name in book.background}, index=frame.index)
    checks = pd.DataFrame(
        {name: decoded[name] for name in book.attention_checks}, index=frame.index
    )
    kept_text = pd.DataFrame(
        {
            name: _as_text(
                col(spec.get("wave_columns", {}).get(wave, spec["column"]), f"free_text {name}")
            )
            for name, spec in book.free_text.items()
            if spec.get("keep", False)
        },
        index=frame.index,
    )
    base = pd.concat(
        [
            pd.DataFrame({"rid": rid, "wave": pd.Series(wave, index=frame.index, dtype="string")}),
            item_frame,
            background,
            kept_text,
        ],
        axis=1,
    )
    kept = (
        base[~removed]
        .assign(
            flag_outlier=flags["outliers"][~removed].astype(bool),
            flag_low_variability=flags["low_variability"][~removed].astype(bool),
        )
        .reset_index(drop=True)
    )

    used = {
        var.column_in(wave)
        for group in (book.items, book.background, book.attention_checks)
        for var in group.values()
    }
    used |= {
        spec.get("wave_columns", {}).get(wave, spec["column"])
        for spec in book.free_text.values()
        if spec.get("keep", False)
    }
    other = [c for c in frame.columns if c not in used]
    extra = frame.loc[removed, other].astype("string")
    extra.columns = [f"raw_{c}" for c in other]
    quarantine = pd.concat(
        [
            base[removed],
            checks[removed],
            pd.DataFrame(
                {
                    "file_row": pd.Series(rows, index=frame.index)[removed].astype("int64"),
                    "reasons": reasons[removed],
                    "first_reason": _first_reason(flags, removed, excluding),
                    "progress": progress[removed] if progress is not None else np.nan,
                    "duration": duration[removed] if duration is not None else np.nan,
                    "longstring_share": pd.Series(shares, index=frame.index)[removed],
                    "missing_share": missing_share[removed],
                }
            ),
            extra,
        ],
        axis=1,
    ).reset_index(drop=True)

    if len(kept) + len(quarantine) != n_raw:  # pragma: no cover - guarded invariant
        raise RuntimeError(
            f"wave {wave}: {n_raw} raw rows but {len(kept)} kept + {len(quarantine)} quarantined"
        )
    return CleanResult(kept=kept, quarantine=quarantine, flow=flow, recodes=pd.DataFrame(recodes))


def _first_reason(
    flags: dict[str, pd.Series], removed: pd.Series, excluding: dict[str, bool]
) -> pd.Series:
    first = pd.Series(pd.NA, index=removed.index, dtype="string")
    for step in reversed(STEPS):
        if excluding[step]:
            first = first.mask(flags[step], step)
    return first[removed]


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _number_text(value: str) -> str:
    """'1.0' and '1' compare equal as status codes; other text is left alone."""
    return f"{float(value):g}" if _is_number(value) else value


def clean_file(
    path: str,
    book: Codebook,
    *,
    wave: str,
    rules: Mapping[str, Any] | None,
    key: bytes,
    encoding: str | None = None,
    sheet: str | None = None,
) -> CleanResult:
    """Read one raw export (PII and unkept free text dropped on reading) and clean it."""
    from lcsurvey.survey.io import read_raw

    raw = read_raw(
        path, encoding=encoding, sheet=sheet, pii=book.pii, drop=book.dropped_text_columns(wave)
    )
    log.info("read %s as %s", raw.source, raw.description)
    for note in raw.notes:
        log.info("%s: %s", raw.source, note)
    return clean_wave(
        raw.frame,
        book,
        wave=wave,
        source=raw.source,
        rows=raw.rows,
        value_labels=raw.value_labels,
        rules=rules,
        key=key,
    )
