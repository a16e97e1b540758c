"""Measurement invariance in the study: across the waves and across background variables.

The configured models' measurement parts (=~ lines) are tested with lcsurvey.sem.invariance
(configural, metric, scalar; Chen's 2007 decisions) on the waves' cleaned responses pooled
with a `wave` column: waves as groups (in config order), or a background variable's groups
labelled by the codebook, with the waves pooled. Groups smaller than
max(invariance.min_group_size, report.min_cell) are left out: a group smaller than
report.min_cell is never reported.

Longitudinal invariance (longitudinal_invariance): the returners of two consecutive waves (the
same pseudonym `rid` in both) are one sample measured twice, not two groups: their
measurement part is fitted as one longitudinal CFA per pair of waves
(lcsurvey.sem.longitudinal, semTools' measEq.syntax with longFacNames).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.invariance import COLUMNS, SCORE_TABLE_COLUMNS, as_table, invariance_tables
from lcsurvey.sem.longitudinal import column_name, fit_longitudinal, longitudinal_table
from lcsurvey.sem.syntax import parse_model
from lcsurvey.sem.wlsmv_groups import ordinal_invariance


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
    ordered: bool | list[str] = False,
    ordinal_missing: str = "listwise",
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

    `ordered` (lavaan's ``ordered =``: True or the ordinal items): when every item of the
    measurement part is ordinal, the levels are the threshold invariance sequence fitted by
    WLSMV (lcsurvey.sem.wlsmv_groups.ordinal_invariance: configural, thresholds,
    thresholds_loadings, thresholds_loadings_intercepts; missing answers as
    `ordinal_missing`, config estimation.ordinal_missing: listwise or pairwise; no score tests,
    partial or strict levels, or clusters); a mix of ordinal and continuous items gives one row
    saying so.
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
    if ordered:
        min_size = max(int(min_group_size), int(min_cell))
        table = _ordinal_tables(
            data, spec.measurement, variable, order, ordered, cluster, min_size, ordinal_missing
        )
        return table, pd.DataFrame(columns=SCORE_TABLE_COLUMNS)
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


def _ordinal_tables(
    data, factors, variable, order, ordered, cluster, min_size, missing
) -> pd.DataFrame:
    """The WLSMV invariance table, or one row saying why there is none."""
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    continuous = [] if ordered is True else [v for v in items if v not in ordered]
    reason = ""
    if continuous:
        reason = (
            f"items {continuous} are not ordinal while the others are; invariance of "
            "thresholds needs every item of the measurement part ordinal"
        )
    elif cluster:
        reason = "cluster-robust invariance tests of ordinal items are not available"
    if reason:
        return as_table([{"groups": variable, "group_values": "", "level": "", "note": reason}])
    return ordinal_invariance(
        data, factors, variable, order=order, min_size=min_size, missing=missing
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


def returners_wide(
    earlier: pd.DataFrame,
    later: pd.DataFrame,
    items: list[str],
    occasions: list[str],
    *,
    cluster: str | None = None,
) -> pd.DataFrame:
    """The returners of two waves (the same pseudonym `rid` in both) in wide form: one row per
    person, `item@wave` for every item and wave (lcsurvey.sem.longitudinal.column_name), rows
    sorted by rid. With `cluster`, a column of that name: the person's cluster in the earlier
    wave, or in the later one where the earlier is missing (a returner is one person: one
    cluster)."""
    frames = []
    for frame, occasion in zip((earlier, later), occasions, strict=True):
        if frame["rid"].duplicated().any():
            raise InputError(
                f"a respondent (rid) occurs twice in wave {occasion}",
                column="rid",
                value=str(frame.loc[frame["rid"].duplicated(), "rid"].iloc[0]),
                expected="one row per respondent and wave",
            )
        part = frame.set_index("rid").reindex(columns=items).astype(float)
        part.columns = [column_name(item, occasion) for item in items]
        if cluster:
            part[f"{cluster}@{occasion}"] = frame.set_index("rid").get(cluster)
        frames.append(part)
    wide = frames[0].join(frames[1], how="inner").sort_index(kind="stable")
    if cluster:
        first, second = (f"{cluster}@{o}" for o in occasions)
        wide[cluster] = wide[first].where(wide[first].notna(), wide[second])
        wide = wide.drop(columns=[first, second])
    return wide.reset_index()


LONGITUDINAL_COLUMNS = ["factor", *COLUMNS]


def longitudinal_invariance(
    frames: dict[str, pd.DataFrame],
    syntax: str,
    *,
    model: str = "model",
    missing: str = "fiml",
    min_cell: int = 10,
    cluster: str | None = None,
    strict: bool = False,
) -> pd.DataFrame:
    """The returners' longitudinal invariance of each factor of a model's measurement part,
    for each pair of consecutive waves (in the order of `frames`): LONGITUDINAL_COLUMNS, the
    factor then the levels of lcsurvey.sem.longitudinal.longitudinal_table (`groups`
    "returners", `group_values` "EARLIER;LATER", `ntotal` the returners used).

    Each factor is its own longitudinal CFA (the factor at both waves, its items' residuals
    correlated across the waves): all factors in one model double the model's variables
    (64 for the bundled model), and with some 150 returners who skipped a few items each the
    saturated model of that many variables is not estimable (its EM covariance matrix is
    singular, as lavaan warns), so its chi-square, CFI and RMSEA mean nothing. A verdict per
    factor is also what the changes of construct means need.

    A factor with fewer returners than needed (report.min_cell, and more than its observed
    variables: 2 x items + 1) or with an item without two different answers among them is one
    row with `note` saying why; a model without `=~` lines is one row saying so.
    `cluster` (a column of the responses): cluster-robust levels, each returner in the
    cluster of the earlier wave.
    """
    spec = parse_model(syntax, name=model)
    waves = list(frames)
    if not spec.measurement:
        row = {
            "groups": "returners",
            "note": f"model {model!r} has no measurement part (=~ lines)",
        }
        return as_table([row]).assign(factor="").reindex(columns=LONGITUDINAL_COLUMNS)
    tables = []
    for earlier, later in zip(waves[:-1], waves[1:], strict=True):
        occasions = [earlier, later]
        base = {"groups": "returners", "group_values": ";".join(occasions), "level": ""}
        for factor, indicators in spec.measurement.items():
            items = list(indicators)
            wide = returners_wide(frames[earlier], frames[later], items, occasions, cluster=cluster)
            problem, used = _returners_problem(wide, items, occasions, missing, min_cell)
            if problem:
                table = as_table([{**base, "ntotal": used, "note": problem}])
            else:
                result = fit_longitudinal(
                    wide,
                    {factor: items},
                    occasions,
                    missing=missing,
                    cluster=cluster,
                    strict=strict,
                )
                table = longitudinal_table(result)
            tables.append(table.assign(factor=factor))
    if not tables:
        return pd.DataFrame(columns=LONGITUDINAL_COLUMNS)
    return pd.concat(tables, ignore_index=True).reindex(columns=LONGITUDINAL_COLUMNS)


def _returners_problem(
    wide: pd.DataFrame, items: list[str], occasions: list[str], missing: str, min_cell: int
) -> tuple[str, int]:
    """Why the returners cannot enter a longitudinal CFA ("" if they can), and how many there
    are (with an answer; complete for listwise)."""
    columns = [column_name(v, o) for o in occasions for v in items]
    x = wide[columns].to_numpy(dtype=float)
    used = np.isfinite(x).all(axis=1) if missing == "listwise" else np.isfinite(x).any(axis=1)
    n = int(used.sum())
    needed = max(int(min_cell), len(columns) + 1)
    if n < needed:
        return f"{n} returners, fewer than {needed}", n
    x = x[used]
    answers = np.isfinite(x).sum(axis=0)
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(x, axis=0) - np.nanmin(x, axis=0)
    bad = [c for c, a, s in zip(columns, answers, spread, strict=True) if a < 2 or not s > 0]
    if bad:
        return f"fewer than two different answers among the returners to {bad}", n
    return "", n
