"""The instrument as the simulator writes it: question columns, scales and labels, read from
data/codebook.yaml so that simulator and codebook cannot drift apart.

The simulator reads the codebook's YAML itself (``lcsurvey.schema.load_yaml``), not
``lcsurvey.survey.codebook.load_codebook``: it writes the Dutch question text of the background
questions (their ``label``), which the parsed Codebook does not keep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lcsurvey.schema import load_yaml

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_CODEBOOK = REPO_ROOT / "data" / "codebook.yaml"


def read_codebook(path: str | Path | None = None) -> dict[str, Any]:
    """The codebook document as plain YAML (default: the repo's data/codebook.yaml)."""
    return load_yaml(path or DEFAULT_CODEBOOK)


@dataclass(frozen=True)
class Question:
    """One raw question column of the instrument, as the simulator needs it."""

    key: str  # codebook name (item key, background key, att1, consent, comment)
    column: str  # raw column name in the canonical (first) export
    role: str  # item | background | attention | consent | free_text
    scale: str | None
    text: str  # Dutch question text for the CSV's second header row
    reverse: bool = False
    wave_columns: Mapping[str, str] = field(default_factory=dict)

    def column_in(self, wave_id: str | None) -> str:
        """Raw column name in the export of ``wave_id`` (a wave may rename columns)."""
        return self.wave_columns.get(wave_id, self.column) if wave_id else self.column


def question_order(column: str) -> tuple[int, int]:
    """Order raw columns as the questionnaire does: Q7 before Q10, Q10_2 before Q10_10."""
    m = re.fullmatch(r"Q(\d+)(?:_(\d+))?", column)
    if not m:
        return (10_000, 0)
    return (int(m.group(1)), int(m.group(2) or 0))


def instrument(codebook: Mapping[str, Any]) -> list[Question]:
    """All question columns of the codebook in questionnaire order."""
    qs: list[Question] = []
    consent = codebook["meta"]["consent"]
    qs.append(Question("consent", consent["column"], "consent", consent["scale"], "Toestemming"))
    for key, spec in codebook["background"].items():
        qs.append(
            Question(
                key,
                spec["column"],
                "background",
                spec["scale"],
                spec["label"]["nl"],
                wave_columns=spec.get("wave_columns", {}),
            )
        )
    for key, spec in codebook["items"].items():
        qs.append(
            Question(
                key,
                spec["column"],
                "item",
                spec["scale"],
                spec["text"]["nl"],
                reverse=bool(spec.get("reverse", False)),
                wave_columns=spec.get("wave_columns", {}),
            )
        )
    for key, spec in codebook.get("attention_checks", {}).items():
        qs.append(
            Question(
                key,
                spec["column"],
                "attention",
                spec["scale"],
                spec["text"]["nl"],
                wave_columns=spec.get("wave_columns", {}),
            )
        )
    for key, spec in codebook.get("free_text", {}).items():
        qs.append(
            Question(
                key,
                spec["column"],
                "free_text",
                None,
                "Heeft u nog opmerkingen over de leer-werkgemeenschap?",
            )
        )
    qs.sort(key=lambda q: question_order(q.column))
    return qs


def scale_range(codebook: Mapping[str, Any], scale: str) -> tuple[int, int]:
    spec = codebook["scales"][scale]
    if "values" in spec:
        codes = [int(k) for k in spec["values"]]
        return min(codes), max(codes)
    return int(spec["min"]), int(spec["max"])


def labels_nl(codebook: Mapping[str, Any], scale: str | None) -> dict[int, str] | None:
    if scale is None:
        return None
    spec = codebook["scales"][scale]
    if "values" not in spec:
        return None
    return {int(k): str(v[0]) for k, v in spec["values"].items()}


def consent_yes(codebook: Mapping[str, Any]) -> int:
    """The consent code meaning "yes". YAML 1.1 (yaml.safe_load) reads the key ``yes:`` as the
    boolean True, so the codebook's ``meta.consent.yes`` arrives under the key True."""
    spec = codebook["meta"]["consent"]
    return int(spec["yes"] if "yes" in spec else spec[True])


def meta_column(codebook: Mapping[str, Any], name: str, wave_id: str | None) -> str:
    spec = codebook["meta"][name]
    if wave_id and wave_id in spec.get("wave_columns", {}):
        return spec["wave_columns"][wave_id]
    return spec["column"]
