"""A frozen analysis plan: what the analysis was meant to be before the next waves came in.

`lcsurvey plan freeze` writes ``analysis_plan.lock`` next to config.yaml: the canonical JSON
(sorted keys, no spaces) of each analysis-relevant part of config.yaml and of the codebook, the
SHA-256 of each and of all of them together, the date of the freeze and the waves already seen.
Later runs compare the configuration as it is with the lock (`compare`): every difference is a
`Deviation`, said in plain words by `describe` (`lcsurvey plan status`) and, in each language,
by the two-pager (lcsurvey.report.sentences.plan_statement).

What counts as the analysis (`analysis_parts`); the rest (waves and their files, column names,
question texts and labels of items, languages, the smallest group reported, the power analysis,
the pseudonym key) may change without a deviation:

- config.yaml: ``models`` (one entry per lavaan statement, comments and spacing left out),
  ``cleaning``, ``estimation``, ``roles``, ``report.model`` and ``report.effects``,
  ``invariance``; each with the schema's defaults filled in, so that writing a default out
  is no deviation;
- the codebook: ``scales`` (codes, labels, range, missing codes), ``items`` and ``background``
  (scale, reverse keying), ``attention_checks`` (scale, right answer), ``constructs`` (items,
  min_items), ``composites`` (parts, reversed parts, min_parts) and ``meta`` (the survey-tool
  values the exclusion rules read: preview statuses, the consent answer; not the columns).

Which results a deviation makes exploratory (`exploratory_scope`), in every wave's report:

- a line of the report's model added, removed or changed, or an estimation setting changed:
  the model's results (its paths, fit and effects), ``"model"``;
- any other deviation (a cleaning rule, a scale, a construct's items, an item's scale or
  reverse keying, a role, the report's model or effects, the invariance settings): every
  result of the wave, since the sample or the scores themselves differ, ``"all"``;
- a change of another model only (not the one the two-pager shows): listed, nothing marked.

A wave listed in the lock (seen when the plan was frozen) was not analysed blind; its report
says the plan was frozen after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lcsurvey.errors import InputError
from lcsurvey.schema import load_yaml, with_defaults

LOCK_NAME = "analysis_plan.lock"
LOCK_FORMAT = 1

# The parts of config.yaml and of the codebook that make the analysis, in the order the lock
# and every list of deviations names them.
CONFIG_PARTS = ("models", "cleaning", "estimation", "roles", "report", "invariance")
CODEBOOK_PARTS = (
    "scales",
    "items",
    "background",
    "attention_checks",
    "constructs",
    "composites",
    "meta",
)
# What each codebook entry keeps (the rest is where and how the question was asked).
_ENTRY_FIELDS = {
    "items": ("scale", "reverse"),
    "background": ("scale", "reverse"),
    "attention_checks": ("scale", "expected"),
    "constructs": ("items", "min_items"),
    "composites": ("of", "reverse", "min_parts"),
}
# meta entries: everything but the columns they are read from
_META_LEFT_OUT = ("column", "wave_columns")
# report settings that are part of the analysis (languages and min_cell are not)
_REPORT_FIELDS = ("model", "effects")
# Parts whose deviations touch only the model's results (see the module docstring).
_MODEL_PARTS = ("estimation",)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text kept as it is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_statements(syntax: str) -> list[str]:
    """The statements of lavaan syntax as the engine reads them (lcsurvey.sem.syntax): comments
    left out, `;` separating statements as a line break does, spaces collapsed to one."""
    return [
        " ".join(statement.split())
        for line in str(syntax).splitlines()
        for statement in line.split("#", 1)[0].split(";")
        if statement.strip()
    ]


def _key(statement: str) -> str:
    """A statement without spaces: `a*x` and `a * x` are the same line."""
    return "".join(statement.split())


def _entry(spec: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """A codebook entry's analysis fields, with the defaults lcsurvey.survey.codebook gives
    them when they are not written (reverse: false; min_items, min_parts: all)."""
    spec = spec if isinstance(spec, dict) else {}
    implied = {
        "reverse": [] if "of" in spec else False,
        "min_items": len(spec.get("items") or []),
        "min_parts": len(spec.get("of") or []),
    }
    return {f: spec.get(f, implied.get(f)) for f in fields if f in spec or f in implied}


def analysis_parts(config: Mapping[str, Any], codebook: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis-relevant parts of a config and a codebook document (see the module
    docstring), defaults of both schemas filled in; part name -> JSON-able value."""
    config = with_defaults(dict(config), "config")
    book = with_defaults(dict(codebook), "codebook")
    parts: dict[str, Any] = {
        "models": {
            name: model_statements(syntax) for name, syntax in (config.get("models") or {}).items()
        },
        "cleaning": config.get("cleaning") or {},
        "estimation": config.get("estimation") or {},
        "roles": config.get("roles") or {},
        "report": {k: (config.get("report") or {}).get(k) for k in _REPORT_FIELDS},
        "invariance": config.get("invariance") or {},
        "scales": book.get("scales") or {},
    }
    for part, fields in _ENTRY_FIELDS.items():
        parts[part] = {name: _entry(spec, fields) for name, spec in (book.get(part) or {}).items()}
    parts["meta"] = {
        role: {k: v for k, v in spec.items() if k not in _META_LEFT_OUT}
        for role, spec in (book.get("meta") or {}).items()
        if isinstance(spec, dict)
    }
    # Canonical JSON round trip: the same value whatever YAML made of it (int keys, tuples).
    return {name: json.loads(canonical(parts[name])) for name in CONFIG_PARTS + CODEBOOK_PARTS}


def read_documents(config_path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.yaml and the codebook it names, as documents (no schema check)."""
    config_path = Path(config_path)
    config = load_yaml(config_path)
    if not isinstance(config, dict) or "codebook" not in config:
        raise InputError(
            "the configuration names no codebook", file=str(config_path), expected="codebook: FILE"
        )
    codebook_path = Path(config["codebook"])
    if not codebook_path.is_absolute():
        codebook_path = config_path.parent / codebook_path
    codebook = load_yaml(codebook_path)
    if not isinstance(codebook, dict):
        raise InputError("the codebook is empty or not a mapping", file=str(codebook_path))
    return config, codebook


def lock_path(config_path: str | Path) -> Path:
    """Where the lock of this configuration lives: next to config.yaml."""
    return Path(config_path).parent / LOCK_NAME


def freeze_date() -> str:
    """SOURCE_DATE_EPOCH as a UTC date when set (reproducible builds), else today (UTC)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = datetime.fromtimestamp(int(epoch), tz=UTC) if epoch.isdigit() else datetime.now(UTC)
    return moment.strftime("%Y-%m-%d")


def make_lock(
    config: Mapping[str, Any], codebook: Mapping[str, Any], date: str | None = None
) -> dict[str, Any]:
    """The lock's content: the date, the waves seen, each part's canonical JSON and SHA-256."""
    parts = analysis_parts(config, codebook)
    return {
        "format": LOCK_FORMAT,
        "frozen": date or freeze_date(),
        "waves_seen": [str(w) for w in (config.get("waves") or {})],
        "sha256": sha256_text(canonical(parts)),
        "parts": {
            name: {"sha256": sha256_text(canonical(value)), "canonical": canonical(value)}
            for name, value in parts.items()
        },
    }


def write_lock(path: str | Path, lock: Mapping[str, Any]) -> None:
    """Write the lock as indented JSON (one part per entry, readable in a diff)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(lock, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_lock(path: str | Path) -> dict[str, Any]:
    """Read and check a lock written by `write_lock`."""
    source = str(path)
    try:
        lock = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            "no frozen analysis plan", file=source, hint="Freeze one with 'lcsurvey plan freeze'"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(
            f"cannot read the frozen analysis plan: {err}",
            file=source,
            hint="Restore it from version control, or freeze the plan again",
        ) from None
    parts = lock.get("parts") if isinstance(lock, dict) else None
    if (
        not isinstance(parts, dict)
        or lock.get("format") != LOCK_FORMAT
        or not isinstance(lock.get("frozen"), str)
        or not all(isinstance(p, dict) and "canonical" in p for p in parts.values())
    ):
        raise InputError(
            "not a frozen analysis plan of this version",
            file=source,
            expected=f"JSON with format {LOCK_FORMAT}, frozen, waves_seen and parts",
        )
    for name, part in parts.items():
        if sha256_text(part["canonical"]) != part.get("sha256"):
            raise InputError(
                f"the plan's part {name!r} does not match its SHA-256: the lock was edited",
                file=source,
                hint="Restore it from version control, or freeze the plan again",
            )
    return lock


class _Absent:
    """Not there at all (a null value is there: `information: null`)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Deviation:
    """One difference between the frozen plan and the configuration as it is.

    part: a name of CONFIG_PARTS or CODEBOOK_PARTS. path: where in the part (for models the
    model's name; for a codebook part the entry's name, then the field). before / after: the
    planned and the present value (ABSENT: not there), for models one statement each.
    """

    part: str
    path: tuple[str, ...]
    before: Any = ABSENT
    after: Any = ABSENT

    @property
    def change(self) -> str:
        if self.before is ABSENT:
            return "added"
        if self.after is ABSENT:
            return "removed"
        return "changed"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able; a value that is not there is left out."""
        out: dict[str, Any] = {"part": self.part, "path": list(self.path)}
        if self.before is not ABSENT:
            out["before"] = self.before
        if self.after is not ABSENT:
            out["after"] = self.after
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deviation:
        return cls(
            data["part"],
            tuple(data["path"]),
            data.get("before", ABSENT),
            data.get("after", ABSENT),
        )


def _model_deviations(name: str, before: list[str], after: list[str]) -> list[Deviation]:
    """Statements removed and added; a removed and an added one with the same left-hand side
    and operator (`transfer ~ ...`) are one changed line."""
    kept_before = {_key(s) for s in after}
    kept_after = {_key(s) for s in before}
    removed = [s for s in before if _key(s) not in kept_before]
    added = [s for s in after if _key(s) not in kept_after]

    def head(statement: str) -> str:
        match = re.match(r"^\s*([A-Za-z_.][\w.]*)\s*(=~|~~|~|:=)", statement)
        return f"{match.group(1)} {match.group(2)}" if match else statement

    out = []
    for old in removed:
        partner = next((new for new in added if head(new) == head(old)), ABSENT)
        if partner is not ABSENT:
            added.remove(partner)
        out.append(Deviation("models", (name,), old, partner))
    out += [Deviation("models", (name,), ABSENT, new) for new in added]
    return out


def _value_deviations(part: str, path: tuple[str, ...], before: Any, after: Any) -> list[Deviation]:
    """Leaf differences of two JSON values: mappings key by key, anything else as a whole."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in list(before) + [k for k in after if k not in before]:
            out += _value_deviations(
                part, (*path, str(key)), before.get(key, ABSENT), after.get(key, ABSENT)
            )
        return out
    return [Deviation(part, path, before, after)]


def compare(lock: Mapping[str, Any], config: Mapping[str, Any], codebook: Mapping[str, Any]):
    """The deviations of the configuration from the frozen plan, in the lock's part order."""
    now = analysis_parts(config, codebook)
    deviations: list[Deviation] = []
    for name in CONFIG_PARTS + CODEBOOK_PARTS:
        planned_part = lock["parts"].get(name)
        planned = json.loads(planned_part["canonical"]) if planned_part else {}
        present = now[name]
        if planned == present:
            continue
        if name == "models":
            for model in list(planned) + [m for m in present if m not in planned]:
                if model not in present:
                    deviations.append(Deviation("models", (model,), planned[model], ABSENT))
                elif model not in planned:
                    deviations.append(Deviation("models", (model,), ABSENT, present[model]))
                else:
                    deviations += _model_deviations(model, planned[model], present[model])
            continue
        deviations += _value_deviations(name, (), planned, present)
    return deviations


def plan_summary(
    lock: Mapping[str, Any], config: Mapping[str, Any], codebook: Mapping[str, Any]
) -> dict[str, Any]:
    """What a report needs to know of the plan, as JSON-able values: the date of the freeze,
    the waves seen then, and the deviations (Deviation.as_dict)."""
    return {
        "frozen": lock["frozen"],
        "waves_seen": list(lock.get("waves_seen") or []),
        "deviations": [d.as_dict() for d in compare(lock, config, codebook)],
    }


def exploratory_scope(deviations, report_model: str) -> str:
    """Which results of a report the deviations make exploratory: "all", "model" or "none"
    (the rule of the module docstring)."""
    scope = "none"
    for deviation in deviations:
        if isinstance(deviation, Mapping):
            deviation = Deviation.from_dict(deviation)
        if deviation.part == "models":
            if deviation.path[:1] == (report_model,):
                scope = "model"
        elif deviation.part in _MODEL_PARTS:
            scope = "model"
        else:
            return "all"
    return scope


def value_text(value: Any, null: str = "none", yes: str = "yes", no: str = "no") -> str:
    """A planned or present value in a sentence: text as it is, lists and mappings with
    commas, null and booleans in the words given, numbers as they are."""
    words = {"null": null, "yes": yes, "no": no}
    if isinstance(value, str):
        return value
    if value is None:
        return null
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v, **words) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v, **words)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


# The words of `describe` in English, the command line's language; the two-pager passes the
# same keys from lcsurvey/report/wording/{nl,en}.yaml (keys plan_*).
ENGLISH: dict[str, Any] = {
    "parts": {
        "models": "model",
        "cleaning": "cleaning rule",
        "estimation": "estimation setting",
        "roles": "role",
        "report": "report setting",
        "invariance": "invariance setting",
        "scales": "scale",
        "items": "item",
        "background": "background variable",
        "attention_checks": "attention check",
        "constructs": "construct",
        "composites": "composite",
        "meta": "survey-tool field",
    },
    "line_added": "{what}: line added: {after}",
    "line_removed": "{what}: line removed: {before}",
    "line_changed": "{what}: line {before} changed to {after}",
    "added": "{what} added: {after}",
    "removed": "{what} removed (was {before})",
    "changed": "{what} changed from {before} to {after}",
    "null": "none",
    "yes": "yes",
    "no": "no",
}


def subject(deviation: Deviation, part_word: str) -> str:
    """What changed, e.g. 'construct psychological_safety (items)': the part's word, the entry
    and, for a field inside it, the field."""
    if not deviation.path:
        return part_word
    name, *rest = deviation.path
    return f"{part_word} {name}" + (f" ({' '.join(rest)})" if rest else "")


def describe(deviation: Deviation, words: Mapping[str, Any] = ENGLISH) -> str:
    """One deviation in plain words (English unless other `words` with ENGLISH's keys)."""
    what = subject(deviation, words["parts"][deviation.part])
    before, after = deviation.before, deviation.after
    if deviation.part == "models" and (isinstance(before, str) or isinstance(after, str)):
        # one statement of a model: quoted, so that where the line ends is clear
        key = "line_" + deviation.change
        return words[key].format(what=what, before=f"'{before}'", after=f"'{after}'")
    values = {"null": words["null"], "yes": words["yes"], "no": words["no"]}
    return words[deviation.change].format(
        what=what,
        before="" if before is ABSENT else value_text(before, **values),
        after="" if after is ABSENT else value_text(after, **values),
    )
