"""Measurement invariance in the study: across the waves and across background variables.

The configured models' measurement parts (=~ lines) are tested with lcsurvey.sem.invariance
(configural, metric, scalar; Chen's 2007 decisions) on the waves' cleaned responses pooled
with a `wave` column: waves as groups (in config order), or a background variable's groups
labelled by the codebook, with the waves pooled. Groups smaller than
max(invariance.min_group_size, report.min_cell) are left out: a group smaller than
report.min_cell is never reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.invariance import SCORE_TABLE_COLUMNS, as_table, invariance_tables
from lcsurvey.sem.syntax import parse_model


def pool_waves(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The waves' responses stacked, with `wave` set to each wave's id (config order)."""
    if not frames:
        raise InputError(
            "no wave to pool for the invariance tables",
            expected="at least one wave under waves: in config.yaml",
        )
    return pd.concat([frame.assign(wave=wave) for wave, frame in frames.items()], ignore_index=True)


def group_order(
    data: pd.DataFrame, variable: str, book=None, waves: list[str] | None = None
) -> list[tuple[object, str]]:
    """(value, label) of each group: waves in config order; a background variable's codes in
    ascending order, labelled by the codebook (the English label where there is one)."""
    if variable == "wave":
        present = set(data["wave"].dropna())
        return [(w, str(w)) for w in (waves or sorted(present)) if w in present]
    if variable not in data.columns:
        known = sorted(book.background) if book is not None else []
        raise InputError(
            f"invariance.groups names {variable!r}, which the cleaned responses do not have",
            value=variable,
            expected=f"a background variable of the codebook: {known}",
        )
    labels: dict = {}
    if book is not None and variable in book.background:
        scale = book.scales.get(book.background[variable].scale)
        if scale is not None:
            labels = {
                float(code): texts[-1] if len(texts) > 1 else texts[0]
                for code, texts in scale.labels.items()
                if texts
            }
    values = sorted(data[variable].dropna().unique())
    return [
        (v, labels.get(float(v), _format_value(v)) if _is_number(v) else str(v)) for v in values
    ]


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating)


def _format_value(value) -> str:
    return f"{value:g}" if _is_number(value) else str(value)


def model_invariance_tables(
    frames: dict[str, pd.DataFrame],
    syntax: str,
    variable: str,
    *,
    model: str = "model",
    book=None,
    missing: str = "fiml",
    min_group_size: int = 50,
    min_cell: int = 10,
    cluster: str | None = None,
    score: bool = True,
    partial_max_share: float = 0.0,
    strict: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The invariance table of a model's measurement part across `variable` groups, and the
    score tests of its constrained levels (lcsurvey.sem.invariance.invariance_tables).

    `frames` maps each wave to its cleaned responses; they are pooled with a `wave` column.
    Groups need at least max(min_group_size, min_cell) respondents: a group smaller than
    report.min_cell is never reported. A model without `=~` lines gives one row saying so.
    `cluster` (a column, e.g. the community) makes every level cluster-robust (lavaan's
    cluster = , estimator = "MLR"; lcsurvey.sem.invariance.fit_invariance). `score`: compute
    the score tests (else the second table is empty). `partial_max_share`: the partial levels
    (lcsurvey.sem.invariance.invariance_tables; config invariance.partial_max_share).
    `strict`: also the strict level (config invariance.strict).
    """
    spec = parse_model(syntax, name=model)
    data = pool_waves(frames)
    if not spec.measurement:
        return as_table(
            [
                {
                    "groups": variable,
                    "group_values": "",
                    "level": "",
                    "note": f"model {model!r} has no measurement part (=~ lines)",
                }
            ]
        ), pd.DataFrame(columns=SCORE_TABLE_COLUMNS)
    order = group_order(data, variable, book, list(frames))
    return invariance_tables(
        data,
        spec.measurement,
        variable,
        order=order,
        min_size=max(int(min_group_size), int(min_cell)),
        missing=missing,
        cluster=cluster,
        score=score,
        partial_max_share=partial_max_share,
        strict=strict,
    )


def model_invariance(
    frames: dict[str, pd.DataFrame],
    syntax: str,
    variable: str,
    **options,
) -> pd.DataFrame:
    """The invariance table of model_invariance_tables alone (no score tests are computed);
    `options` as there."""
    return model_invariance_tables(frames, syntax, variable, score=False, **options)[0]
