"""Across waves: pooled data, construct means per wave, changes between waves, attrition, panel.

Respondents are linked across waves by their keyed pseudonym ``rid`` (the same person gets the
same ``rid`` in every wave). Every function takes tables the per-wave stages already wrote
(``results/{wave}/clean/responses.parquet`` and ``results/{wave}/scales/scores.parquet``) and
returns one table; waves are compared in the order they are listed in config.yaml.

Methods
-------
Means per wave (:func:`wave_means`): n answers, mean, SD (n - 1), SE = SD / sqrt(n) and the
t-based confidence interval (t with n - 1 degrees of freedom).

Changes between consecutive waves (:func:`wave_changes`): the difference of the two wave means
(later minus earlier) with a Welch t test for partially overlapping samples (Derrick, Toher &
White 2017, "How to compare the means of two samples that include paired observations and
independent observations", The Quantitative Methods for Psychology 13: 120-126, their
T_new2). Returners answer in both waves, so the two means are not independent: their
covariance, r S1 S2 n_c / (n1 n2) with r the correlation of the returners' two scores and n_c
their number, is taken off the Welch variance S1^2/n1 + S2^2/n2, and the degrees of freedom
run from n_c - 1 (all paired) to Welch's (none paired). With no returners the test is exactly
Welch's t test; with only returners it is exactly the paired t test.

Attrition (:func:`attrition`): the respondents kept in a wave who are kept again in the next
wave (returners) against those who are not (leavers), on their earlier scores and background.
Numeric variables: difference of means with Welch's t test and CI. Categorical background: the
share of each category, the difference of shares with a Wald CI and the two-proportion z test
(the same p as Pearson's chi-square on the 2 x 2 table). p values are Holm-adjusted within each
pair of waves (``pvalue_holm``, lcsurvey.study.analyses.holm: a test not done is not counted).

Panel (:func:`panel_model`): a two-wave cross-lagged panel model on scale scores of the
returners of two consecutive waves: both wave-2 scores regressed on both wave-1 scores
(autoregressive paths ``ar_*``, cross-lagged paths ``cl_*``), wave-1 scores correlated and the
wave-2 residuals correlated. It is fitted by lcsurvey.sem.model.fit_model with FIML, so a returner
without a score in one wave still counts. The model is saturated (df = 0, exact fit); what it
offers is the cross-lagged path of perceived learning on later knowledge transfer, controlling
for earlier transfer.

Privacy: statistics of a group smaller than ``min_cell`` are never written (the row stays,
with its n and ``suppressed`` true). With one wave there is nothing to compare: changes,
attrition and panel tables are written with their header only.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.errors import InputError
from lcsurvey.sem.syntax import parse_model
from lcsurvey.study.analyses import holm

__all__ = [
    "ATTRITION_COLUMNS",
    "CHANGE_COLUMNS",
    "MEAN_COLUMNS",
    "add_wave_line",
    "attrition",
    "comparability",
    "comparability_tests",
    "interpreted",
    "means_and_changes",
    "measured_items",
    "overlap_t_test",
    "panel_data",
    "panel_model",
    "panel_syntax",
    "pool",
    "read_longitudinal",
    "wave_changes",
    "wave_means",
]

MEAN_COLUMNS = ["construct", "wave", "n", "mean", "sd", "se", "ci_lower", "ci_upper", "suppressed"]
CHANGE_COLUMNS = [
    "construct",
    "wave_from",
    "wave_to",
    "n_from",
    "n_to",
    "diff",
    "se",
    "ci_lower",
    "ci_upper",
    "pvalue",
    "test",
    "comparable",
    "n_paired",
    "r_paired",
    "df",
    "suppressed",
    # Which invariance test `comparable` comes from: "longitudinal" (the returners' own test,
    # lcsurvey.study.invariance.longitudinal_invariance) or "multigroup" (the waves as groups).
    "comparable_test",
    # Why a change is shown but not interpreted (NOT_INTERPRETED), else empty.
    "note",
]
ATTRITION_COLUMNS = [
    "wave_from",
    "wave_to",
    "variable",
    "level",
    "statistic",
    "returners",
    "leavers",
    "diff",
    "ci_lower",
    "ci_upper",
    "pvalue",
    "pvalue_holm",
    "n_returners",
    "n_leavers",
    "test",
    "suppressed",
]
PANEL_KEYS = ["wave_from", "wave_to"]
NOT_TESTED = "not tested"
# A change of means is compared only under (partial) scalar invariance: with equal loadings
# alone the items' intercepts may differ between the waves, so a difference of scale means
# mixes a change of the construct with a change in how its items are answered. Such changes
# are shown with this note, not interpreted (the two-pager's sentences follow the same rule).
NOT_INTERPRETED = {
    "partly (metric)": "only metric invariance: the change is shown, not interpreted",
    "no": "no metric invariance: the change is shown, not interpreted",
}
# The threshold invariance levels of ordinal items (lcsurvey.sem.wlsmv_groups, Wu & Estabrook
# 2016) as the levels of the continuous sequence they stand for: equal thresholds and loadings
# make the latent variances comparable (metric), with equal intercepts too the latent means
# (scalar). Equal thresholds alone ("thresholds") only fix the scale of the latent responses.
ORDINAL_LEVELS = {"thresholds_loadings": "metric", "thresholds_loadings_intercepts": "scalar"}


def continuous_levels(invariance: pd.DataFrame) -> pd.DataFrame:
    """An invariance table whose ordinal levels (ORDINAL_LEVELS) are named metric and scalar,
    so that it is read as a table of continuous items; other tables are returned as they are.

    When equal thresholds are rejected (decision "rejected" at level "thresholds"), the later
    levels rest on thresholds that differ between the groups: that row becomes the metric level
    (rejected, with its fit changes) and the later levels are left out.
    """
    if invariance is None or "level" not in invariance.columns:
        return invariance
    levels = invariance["level"].astype(str)
    if not levels.isin(list(ORDINAL_LEVELS)).any() and not (levels == "thresholds").any():
        return invariance
    table = invariance.copy()
    decision = table["decision"] if "decision" in table.columns else pd.Series("", table.index)
    rejected = (levels == "thresholds") & (decision.astype(str) == "rejected")
    if rejected.any():
        table = table[~levels.isin(list(ORDINAL_LEVELS))].copy()
        table.loc[rejected[rejected].index, "level"] = "metric"
        return table
    table["level"] = levels.replace(ORDINAL_LEVELS)
    return table


# Returners needed to judge comparability by their longitudinal test (invariance.min_returners).
MIN_RETURNERS = 100
# Invariance levels are judged by the change of fit from the configural model (Chen 2007), which
# presumes that the configural model itself fits: below this CFI the returners' test says more
# about a factor model that does not hold in the pair of waves than about invariance, and the
# multi-group test decides (changes.csv's note says why).
CONFIGURAL_CFI_MIN = 0.90


def interpreted(comparable: str) -> bool:
    """Whether a change of means with this `comparable` value is interpreted: under scalar or
    partial scalar invariance, or when invariance was not tested (the report then says so);
    not under metric invariance alone or none (NOT_INTERPRETED)."""
    return comparable not in NOT_INTERPRETED


# --------------------------------------------------------------------------- pooling


def pool(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack one table per wave (in the given order) with a ``wave`` column after ``rid``.

    Columns are the union of the waves' columns, in order of first appearance; a column a wave
    lacks (a question added later) is missing there. A ``wave`` column already present must
    agree with the wave it is listed under.
    """
    parts = []
    for wave, frame in frames.items():
        frame = frame.copy()
        if "wave" in frame.columns:
            found = set(frame["wave"].dropna().astype(str))
            if found - {wave}:
                raise InputError(
                    f"the table of wave {wave!r} holds rows of other waves",
                    column="wave",
                    value=sorted(found - {wave})[0],
                    expected=repr(wave),
                )
        frame["wave"] = pd.Series(wave, index=frame.index, dtype="string")
        parts.append(frame)
    columns: list[str] = []
    for frame in parts:
        columns += [c for c in frame.columns if c not in columns]
    front = [c for c in ("rid", "wave") if c in columns]
    columns = front + [c for c in columns if c not in front]
    if not parts:
        return pd.DataFrame(columns=columns)
    pooled = pd.concat([p.reindex(columns=columns) for p in parts], ignore_index=True)
    pooled["wave"] = pooled["wave"].astype("string")
    return pooled


# --------------------------------------------------------------------------- means and changes


def _t_interval(estimate: float, se: float, df: float, level: float) -> tuple[float, float]:
    if not np.isfinite(se) or not np.isfinite(df) or df <= 0:
        return np.nan, np.nan
    half = special.stdtrit(df, 0.5 + level / 2) * se
    return estimate - half, estimate + half


def wave_means(
    scores: pd.DataFrame,
    constructs: Sequence[str],
    waves: Sequence[str],
    *,
    level: float = 0.95,
    min_cell: int = 0,
) -> pd.DataFrame:
    """Per construct and wave: n, mean, SD, SE and the t-based CI of the mean (MEAN_COLUMNS)."""
    rows = []
    for construct in constructs:
        for wave in waves:
            values = scores.loc[scores["wave"] == wave, construct].dropna().to_numpy(float)
            n = len(values)
            row = {
                "construct": construct,
                "wave": wave,
                "n": n,
                "mean": np.nan,
                "sd": np.nan,
                "se": np.nan,
                "ci_lower": np.nan,
                "ci_upper": np.nan,
                "suppressed": n < min_cell,
            }
            if n and not row["suppressed"]:
                mean = float(values.mean())
                sd = float(values.std(ddof=1)) if n > 1 else np.nan
                se = sd / np.sqrt(n)
                lower, upper = _t_interval(mean, se, n - 1, level)
                row.update(mean=mean, sd=sd, se=se, ci_lower=lower, ci_upper=upper)
            rows.append(row)
    return pd.DataFrame(rows, columns=MEAN_COLUMNS)


def overlap_t_test(first: pd.Series, second: pd.Series, *, level: float = 0.95) -> dict:
    """Difference of means (second - first) of two partially overlapping samples.

    ``first`` and ``second`` are scores indexed by respondent (rid); respondents in both are
    the paired observations. Returns diff, se, df, ci_lower, ci_upper, pvalue, n_from, n_to,
    n_paired and r_paired (Derrick et al. 2017, T_new2; see the module docstring).
    """
    x1 = first.dropna().astype(float)
    x2 = second.dropna().astype(float)
    if x1.index.has_duplicates or x2.index.has_duplicates:
        raise InputError(
            "a respondent (rid) occurs twice in one wave",
            column="rid",
            expected="one row per respondent and wave",
        )
    n1, n2 = len(x1), len(x2)
    paired = x1.index.intersection(x2.index)
    nc = len(paired)
    out = {
        "n_from": n1,
        "n_to": n2,
        "n_paired": nc,
        "r_paired": np.nan,
        "diff": np.nan,
        "se": np.nan,
        "df": np.nan,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "pvalue": np.nan,
    }
    if n1 < 2 or n2 < 2:
        return out
    v1, v2 = float(x1.var(ddof=1)), float(x2.var(ddof=1))
    diff = float(x2.mean() - x1.mean())
    welch_var = v1 / n1 + v2 / n2
    welch_df = welch_var**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    r = 0.0
    if nc >= 3:
        a, b = x1.loc[paired].to_numpy(), x2.loc[paired].to_numpy()
        if a.std() > 0 and b.std() > 0:
            r = float(np.corrcoef(a, b)[0, 1])
        out["r_paired"] = r
    variance = welch_var - 2 * r * np.sqrt(v1 * v2) * nc / (n1 * n2)
    na, nb = n1 - nc, n2 - nc
    df = welch_df
    if nc >= 3:
        df = (nc - 1) + (welch_df - nc + 1) / (na + nb + 2 * nc) * (na + nb)
    se = float(np.sqrt(variance)) if variance > 0 else np.nan
    out.update(diff=diff, se=se, df=float(df))
    if np.isfinite(se):
        t = diff / se
        out["pvalue"] = float(2 * special.stdtr(df, -abs(t)))
        out["ci_lower"], out["ci_upper"] = _t_interval(diff, se, df, level)
    return out


def _test_name(n_paired: int) -> str:
    if n_paired >= 3:
        return (
            f"Welch t for partially overlapping samples (Derrick et al. 2017): "
            f"{n_paired} returners paired by rid"
        )
    return "Welch t (independent samples: fewer than 3 returners)"


def wave_changes(
    scores: pd.DataFrame,
    constructs: Sequence[str],
    waves: Sequence[str],
    *,
    comparable: Mapping[tuple[str, str, str], str] | None = None,
    level: float = 0.95,
    min_cell: int = 0,
) -> pd.DataFrame:
    """Per construct, each wave against the one before (CHANGE_COLUMNS).

    ``comparable`` maps (construct, wave_from, wave_to) to the comparability of the scores
    (from the invariance tests, see :func:`comparability`), or to (comparability, test) as
    :func:`comparability_tests` gives; missing entries are "not tested". A change that is not
    comparable under scalar invariance gets a `note` (NOT_INTERPRETED).
    """
    comparable = comparable or {}
    rows = []
    for construct in constructs:
        for wave_from, wave_to in zip(waves[:-1], waves[1:], strict=True):
            by_wave = [
                scores.loc[scores["wave"] == w].set_index("rid")[construct]
                for w in (wave_from, wave_to)
            ]
            result = overlap_t_test(*by_wave, level=level)
            small = min(result["n_from"], result["n_to"]) < min_cell
            row = {
                "construct": construct,
                "wave_from": wave_from,
                "wave_to": wave_to,
                **result,
                "test": _test_name(result["n_paired"]),
                "suppressed": small,
            }
            verdict = comparable.get((construct, wave_from, wave_to), NOT_TESTED)
            verdict, test, aside = (
                (tuple(verdict) + ("", ""))[:3] if isinstance(verdict, tuple) else (verdict, "", "")
            )
            row.update(
                comparable=verdict,
                comparable_test=test if verdict != NOT_TESTED else "",
                note="; ".join(part for part in (aside, NOT_INTERPRETED.get(verdict, "")) if part),
            )
            if small:
                for key in ("diff", "se", "ci_lower", "ci_upper", "pvalue", "r_paired", "df"):
                    row[key] = np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


# --------------------------------------------------------------------------- invariance


def comparability(
    invariance: pd.DataFrame | None,
    measurement: Mapping[str, Sequence[str]],
    construct_items: Mapping[str, Sequence[str]],
    waves: Sequence[str],
) -> dict[tuple[str, str, str], str]:
    """Whether construct scores can be compared between consecutive waves, by the multi-group
    test alone: :func:`comparability_tests` without a longitudinal table, verdicts only."""
    tests = comparability_tests(invariance, measurement, construct_items, waves)
    return {key: value[0] for key, value in tests.items()}


def _table_verdict(invariance: pd.DataFrame | None) -> tuple[str | None, set[str]]:
    """The verdict of an invariance table's levels ("yes", "partial scalar", "partly
    (metric)", "no"; None without a metric decision) and the items a holding partial scalar
    level sets free. The levels of ordinal items count as metric and scalar as
    continuous_levels says."""
    if invariance is None or not len(invariance) or "decision" not in invariance.columns:
        return None, set()
    invariance = continuous_levels(invariance)
    decisions = {
        str(level): str(decision)
        for level, decision in zip(invariance["level"], invariance["decision"], strict=True)
        if isinstance(decision, str) and decision
    }
    metric = "holds" in (decisions.get("metric"), decisions.get("partial_metric"))
    if decisions.get("scalar") == "holds" and decisions.get("metric") == "holds":
        return "yes", set()
    if metric and decisions.get("partial_scalar") == "holds":
        return "partial scalar", _freed_items(invariance, "partial_scalar")
    if metric:
        return "partly (metric)", set()
    if "metric" in decisions:
        return "no", set()
    return None, set()


def _shown(verdict: str, items: Sequence[str], free_items: set[str]) -> str:
    if verdict != "partial scalar":
        return verdict
    free = [item for item in items if item in free_items]
    return f"partial scalar ({', '.join(free)} free)" if free else "yes"


def comparability_tests(
    invariance: pd.DataFrame | None,
    measurement: Mapping[str, Sequence[str]],
    construct_items: Mapping[str, Sequence[str]],
    waves: Sequence[str],
    *,
    longitudinal: pd.DataFrame | None = None,
    min_returners: int = MIN_RETURNERS,
) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Whether construct scores can be compared between consecutive waves, and by which test.

    ``invariance`` is the table of lcsurvey.sem.invariance (waves as groups; columns level,
    decision, group_values with the groups tested, separated by ";"); ``measurement`` the
    model's latent -> indicators. A construct is covered when all its items are indicators of
    the model. For a covered construct and two waves that were both tested: "yes" when scalar
    invariance holds; under partial scalar invariance (a partial_scalar row that holds, column
    `freed`), "yes" for a construct none of whose items is free and "partial scalar (ITEMS
    free)" for one with free items; "partly (metric)" when only (partial) metric invariance
    holds, "no" otherwise. Everything else is "not tested".

    ``longitudinal`` (lcsurvey.study.invariance.longitudinal_invariance: per factor and pair
    of waves, the returners' test) takes precedence for a construct whose items are all
    indicators of one factor, when that factor's test of the pair has at least
    ``min_returners`` returners and a metric decision: the same verdicts from its
    levels, test "longitudinal", when its configural model fits (CFI at least
    CONFIGURAL_CFI_MIN). Otherwise the multi-group verdict, test "multigroup" ("" when not
    tested).

    Returns (verdict, test, note) per (construct, wave_from, wave_to); the note says why the
    returners' test was set aside ("" otherwise).
    """
    result: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    pairs = list(zip(waves[:-1], waves[1:], strict=True))
    indicators = {item for items in measurement.values() for item in items}
    verdict, free_items = _table_verdict(invariance)
    tested: set[str] = set()
    if verdict is not None:
        tested = {g for v in invariance["group_values"].dropna().astype(str) for g in v.split(";")}
    for construct, items in construct_items.items():
        covered = bool(items) and set(items) <= indicators
        factor = next(
            (f for f, shown in measurement.items() if items and set(items) <= set(shown)), None
        )
        for wave_from, wave_to in pairs:
            key = (construct, wave_from, wave_to)
            own = _longitudinal_verdict(longitudinal, factor, wave_from, wave_to, min_returners)
            aside = own[2] if own is not None and len(own) > 2 else ""
            if covered and own is not None and not aside:
                result[key] = (_shown(own[0], items, own[1]), "longitudinal", "")
            elif covered and verdict is not None and {wave_from, wave_to} <= tested:
                result[key] = (_shown(verdict, items, free_items), "multigroup", aside)
            else:
                result[key] = (NOT_TESTED, "", aside)
    return result


def _longitudinal_verdict(
    longitudinal: pd.DataFrame | None,
    factor: str | None,
    wave_from: str,
    wave_to: str,
    min_returners: int,
) -> tuple[str, set[str]] | tuple[None, set[str], str] | None:
    """The verdict of one factor's longitudinal test of a pair of waves, or None when there is
    none with enough returners; (None, set(), reason) when its configural model fits too badly
    to judge invariance by (CONFIGURAL_CFI_MIN)."""
    if longitudinal is None or factor is None or not len(longitudinal):
        return None
    rows = longitudinal[
        (longitudinal["factor"].astype(str) == factor)
        & (longitudinal["group_values"].astype(str) == f"{wave_from};{wave_to}")
    ]
    n = pd.to_numeric(rows.loc[rows["level"] == "configural", "ntotal"], errors="coerce")
    if n.empty or not n.iloc[0] >= min_returners:
        return None
    cfi = pd.to_numeric(rows.loc[rows["level"] == "configural", "cfi"], errors="coerce")
    if not cfi.empty and pd.notna(cfi.iloc[0]) and cfi.iloc[0] < CONFIGURAL_CFI_MIN:
        return (
            None,
            set(),
            f"returners' test of {factor} set aside: its configural model fits poorly "
            f"(CFI {cfi.iloc[0]:.2f} < {CONFIGURAL_CFI_MIN:.2f})",
        )
    verdict, free = _table_verdict(rows)
    return None if verdict is None else (verdict, free)


def _freed_items(invariance: pd.DataFrame, level: str) -> set[str]:
    """The items whose loading or intercept a partial level sets free (column `freed`:
    "f =~ x2; x3 ~1")."""
    if "freed" not in invariance.columns:
        return set()
    text = invariance.loc[invariance["level"] == level, "freed"].fillna("").astype(str)
    items = set()
    for part in (p.strip() for t in text for p in t.split(";")):
        if "=~" in part:
            items.add(part.split("=~")[1].strip())
        elif part.endswith("~1"):
            items.add(part[:-2].strip())
    return items


def read_longitudinal(paths: Sequence[str]) -> pd.DataFrame | None:
    """The longitudinal invariance tables of the pairs of waves (results/{wave}/across/
    longitudinal_invariance.csv) as one table, or None without any."""
    tables = [pd.read_csv(path, dtype={"factor": str, "group_values": str}) for path in paths]
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else None


def measured_items(book, syntax: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The items of each codebook construct and the indicators of each latent variable of the
    model ``syntax`` (none without syntax): the two sides :func:`comparability` matches."""
    items = {name: list(c.items) for name, c in book.constructs.items()}
    measurement = parse_model(syntax).measurement if syntax else {}
    return items, {latent: list(indicators) for latent, indicators in measurement.items()}


def means_and_changes(
    scores: pd.DataFrame,
    waves: Sequence[str],
    *,
    construct_items: Mapping[str, Sequence[str]],
    measurement: Mapping[str, Sequence[str]],
    invariance: pd.DataFrame | None = None,
    change_waves: Sequence[str] | None = None,
    min_cell: int = 0,
    longitudinal: pd.DataFrame | None = None,
    min_returners: int = MIN_RETURNERS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The means of every scored construct in each of ``waves`` and the changes between the
    consecutive waves of ``change_waves`` (all of ``waves`` by default), each change marked
    comparable or not from the ``invariance`` table, or from the returners' ``longitudinal``
    table where a factor's test has ``min_returners`` (see :func:`comparability_tests`).

    ``scores`` are pooled scale scores (:func:`pool`): every column besides rid and wave is a
    construct. The pooled tables take every configured wave; a wave's own tables take the waves
    up to and including it, with the change from the previous wave only.
    """
    waves = list(waves)
    change_waves = waves if change_waves is None else list(change_waves)
    constructs = [c for c in scores.columns if c not in ("rid", "wave")]
    comparable = comparability_tests(
        invariance,
        measurement,
        construct_items,
        change_waves,
        longitudinal=longitudinal,
        min_returners=min_returners,
    )
    means = wave_means(scores, constructs, waves, min_cell=min_cell)
    changes = wave_changes(
        scores, constructs, change_waves, comparable=comparable, min_cell=min_cell
    )
    return means, changes


# --------------------------------------------------------------------------- attrition


def _welch(a: np.ndarray, b: np.ndarray, level: float) -> dict:
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return {}
    v1, v2 = a.var(ddof=1) / n1, b.var(ddof=1) / n2
    se = float(np.sqrt(v1 + v2))
    diff = float(a.mean() - b.mean())
    if se == 0:
        return {"returners": a.mean(), "leavers": b.mean(), "diff": diff}
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    lower, upper = _t_interval(diff, se, df, level)
    return {
        "returners": float(a.mean()),
        "leavers": float(b.mean()),
        "diff": diff,
        "ci_lower": lower,
        "ci_upper": upper,
        "pvalue": float(2 * special.stdtr(df, -abs(diff / se))),
    }


def _proportions(k1: int, n1: int, k2: int, n2: int, level: float) -> dict:
    p1, p2 = k1 / n1, k2 / n2
    diff = p1 - p2
    out = {"returners": p1, "leavers": p2, "diff": diff}
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    if se > 0:
        z = special.ndtri(0.5 + level / 2)
        out.update(ci_lower=diff - z * se, ci_upper=diff + z * se)
    pooled = (k1 + k2) / (n1 + n2)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se0 > 0:
        out["pvalue"] = float(2 * special.ndtr(-abs(diff) / se0))
    return out


def attrition(
    responses: pd.DataFrame,
    scores: pd.DataFrame,
    waves: Sequence[str],
    *,
    constructs: Sequence[str],
    numeric: Sequence[str] = (),
    categorical: Mapping[str, Sequence[float]] | None = None,
    level: float = 0.95,
    min_cell: int = 0,
) -> pd.DataFrame:
    """Returners against leavers, per pair of consecutive waves (ATTRITION_COLUMNS).

    ``responses`` and ``scores`` are the pooled tables (rid, wave, ...). Those kept in
    wave_from are compared on their wave_from answers: ``constructs`` (scores) and ``numeric``
    background by means, ``categorical`` background (variable -> its codes) by the share of
    each code among those who answered. A row whose groups (or, for a share, whose category
    count in either group) are smaller than ``min_cell`` is suppressed.
    """
    categorical = categorical or {}
    rows = []
    for wave_from, wave_to in zip(waves[:-1], waves[1:], strict=True):
        later = set(responses.loc[responses["wave"] == wave_to, "rid"].astype(str))
        earlier = responses.loc[responses["wave"] == wave_from].set_index("rid")
        earlier_scores = scores.loc[scores["wave"] == wave_from].set_index("rid")
        returned = earlier.index.astype(str).isin(later)
        returned_scores = earlier_scores.index.astype(str).isin(later)
        family = []
        numeric_parts = [(c, earlier_scores[c], returned_scores) for c in constructs]
        numeric_parts += [(c, earlier[c], returned) for c in numeric]
        for variable, values, mask in numeric_parts:
            values = values.to_numpy(float)
            a, b = values[mask], values[~mask]
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            row = {
                "variable": variable,
                "level": "",
                "statistic": "mean",
                "n_returners": len(a),
                "n_leavers": len(b),
                "test": "Welch t",
            }
            row["suppressed"] = min(len(a), len(b)) < min_cell
            if not row["suppressed"]:
                row.update(_welch(a, b, level))
            family.append(row)
        for variable, codes in categorical.items():
            values = earlier[variable].to_numpy(float)
            answered = ~np.isnan(values)
            a, b = values[returned & answered], values[~returned & answered]
            for code in codes:
                k1, k2 = int((a == code).sum()), int((b == code).sum())
                row = {
                    "variable": variable,
                    "level": f"{code:g}",
                    "statistic": "share",
                    "n_returners": len(a),
                    "n_leavers": len(b),
                    "test": "two-proportion z (chi-square 2 x 2)",
                }
                small = min(len(a), len(b), k1, k2, len(a) - k1, len(b) - k2) < min_cell
                row["suppressed"] = small or min(len(a), len(b)) == 0
                if not row["suppressed"]:
                    row.update(_proportions(k1, len(a), k2, len(b), level))
                family.append(row)
        adjusted = holm([row.get("pvalue", np.nan) for row in family])
        for row, p in zip(family, adjusted, strict=True):
            rows.append({"wave_from": wave_from, "wave_to": wave_to, **row, "pvalue_holm": p})
    return pd.DataFrame(rows, columns=ATTRITION_COLUMNS)


# --------------------------------------------------------------------------- panel model


def _latent(construct: str, time: int) -> str:
    return f"{construct}_t{time}"


def _observed(construct: str, time: int) -> str:
    return f"{construct}_score_t{time}"


def panel_syntax(cause: str, effect: str) -> str:
    """lavaan syntax of the two-wave cross-lagged panel model on scale scores.

    Each score is the single indicator of its own factor (loading 1, residual variance 0),
    so that the wave-1 scores are modelled variables (lavaan's fixed.x = FALSE) and FIML uses
    returners with a wave-1 score missing; the estimates are those of the path model on the
    scores themselves.
    """
    lines = []
    for time in (1, 2):
        for construct in (cause, effect):
            lines.append(f"{_latent(construct, time)} =~ 1*{_observed(construct, time)}")
    for time in (1, 2):
        for construct in (cause, effect):
            observed = _observed(construct, time)
            lines.append(f"{observed} ~~ 0*{observed}")
    x1, y1, x2, y2 = (_latent(cause, 1), _latent(effect, 1), _latent(cause, 2), _latent(effect, 2))
    lines += [
        f"{y2} ~ ar_y*{y1} + cl_xy*{x1}",
        f"{x2} ~ ar_x*{x1} + cl_yx*{y1}",
        f"{x1} ~~ {y1}",
        f"{x2} ~~ {y2}",
    ]
    return "\n".join(lines) + "\n"


def panel_data(
    scores: pd.DataFrame, wave_from: str, wave_to: str, constructs: Sequence[str]
) -> pd.DataFrame:
    """Returners of two waves in wide form: rid then ``<construct>_score_t1`` and ``_t2``."""
    first = scores.loc[scores["wave"] == wave_from, ["rid", *constructs]]
    second = scores.loc[scores["wave"] == wave_to, ["rid", *constructs]]
    wide = first.merge(second, on="rid", suffixes=("_t1", "_t2"), validate="one_to_one")
    wide = wide.rename(columns={f"{c}_t{t}": _observed(c, t) for c in constructs for t in (1, 2)})
    ordered = ["rid"] + [_observed(c, t) for t in (1, 2) for c in constructs]
    return wide[ordered].sort_values("rid", kind="stable").reset_index(drop=True)


def panel_model(
    scores: pd.DataFrame,
    waves: Sequence[str],
    *,
    cause: str,
    effect: str,
    missing: str = "fiml",
    min_cell: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cross-lagged panel model per pair of consecutive waves: (estimates, fit).

    Columns are wave_from, wave_to, then those of lcsurvey.sem.model's estimates and fit tables
    (as results/{wave}/models/{model}/estimates.csv and fit.csv).
    A pair with fewer returners than ``min_cell`` (or than 10, the least the model needs) is
    left out, and so is a pair whose model the data do not allow (fit_model's NotEstimated),
    with a RuntimeWarning that says why.
    """
    from lcsurvey.sem.estimability import NotEstimated
    from lcsurvey.sem.model import ESTIMATE_COLUMNS, FIT_COLUMNS, fit_model

    estimates, fits = [], []
    syntax = panel_syntax(cause, effect)
    for wave_from, wave_to in zip(waves[:-1], waves[1:], strict=True):
        data = panel_data(scores, wave_from, wave_to, [cause, effect])
        used = data.drop(columns="rid").notna().any(axis=1).sum()
        if used < max(min_cell, 10):
            warnings.warn(
                f"panel {wave_from} -> {wave_to} left out: {used} returners, fewer than "
                f"{max(min_cell, 10)}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        try:
            fitted = fit_model(syntax, data.drop(columns="rid"), name="panel", missing=missing)
        except NotEstimated as err:
            # The data's reason (no convergence, a Heywood case, ...): this pair is left out.
            warnings.warn(
                f"panel {wave_from} -> {wave_to} left out: {err.message}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        keys = {"wave_from": wave_from, "wave_to": wave_to}
        table = fitted.estimates.assign(**keys)
        estimates.append(table[PANEL_KEYS + [c for c in table.columns if c not in PANEL_KEYS]])
        fit = fitted.fit.assign(**keys)[PANEL_KEYS + FIT_COLUMNS]
        # The model is saturated: its exact fit comes out as rounding noise (1e-14), which
        # would make reruns differ in the last digit written.
        for column in ("chisq", "rmsea", "srmr"):
            fit[column] = fit[column].mask(fit[column].abs() < 1e-9, 0.0)
        fits.append(fit)
    if not estimates:
        return (
            pd.DataFrame(columns=PANEL_KEYS + ESTIMATE_COLUMNS),
            pd.DataFrame(columns=PANEL_KEYS + FIT_COLUMNS),
        )
    return pd.concat(estimates, ignore_index=True), pd.concat(fits, ignore_index=True)


# --------------------------------------------------------------------------- config


_WAVES_KEY = re.compile(r"^waves\s*:")


def add_wave_line(config_path: str | Path, wave: str, raw_path: str) -> bool:
    """Add ``"<wave>": <raw_path>`` as the last entry under ``waves:`` in config.yaml.

    Keeps every other line (and comment) as it is. Returns False when the wave is already
    there with the same file, True when the line was added; raises InputError when the wave is
    configured with another file.
    """
    import yaml

    path = Path(config_path)
    text = path.read_text(encoding="utf-8")
    config = yaml.safe_load(text) or {}
    waves = config.get("waves") or {}
    if wave in waves:
        spec = waves[wave]
        current = spec if isinstance(spec, str) else spec.get("path")
        if current == raw_path:
            return False
        raise InputError(
            f"wave {wave!r} is already configured with another file",
            file=str(path),
            column="waves",
            value=current,
            expected=raw_path,
        )
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _WAVES_KEY.match(line)), None)
    if start is None:
        raise InputError("no 'waves:' section", file=str(path), expected="a waves: mapping")
    last = start
    indent = "  "
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped:
            continue
        if not lines[i][0].isspace():
            break
        if not stripped.startswith("#"):
            last = i
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, f'{indent}"{wave}": {raw_path}\n')
    updated = "".join(lines)
    check = yaml.safe_load(updated)
    if list(check["waves"])[-1] != wave or {k: v for k, v in check.items() if k != "waves"} != {
        k: v for k, v in config.items() if k != "waves"
    }:
        raise InputError(
            "could not add the wave line safely",
            file=str(path),
            hint=f'Add the line "{wave}": {raw_path} under waves: by hand',
        )
    path.write_text(updated, encoding="utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lcsurvey.study.waves add-wave --config config.yaml --wave ID --path FILE``."""
    parser = argparse.ArgumentParser(prog="python -m lcsurvey.study.waves")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-wave", help="add a wave line to config.yaml (idempotent)")
    add.add_argument("--config", default="config.yaml")
    add.add_argument("--wave", required=True)
    add.add_argument("--path", required=True)
    args = parser.parse_args(argv)
    try:
        added = add_wave_line(args.config, args.wave, args.path)
    except InputError as err:
        print(f"ERROR: {err.message}", file=sys.stderr)
        return 1
    state = "added to" if added else "already in"
    print(f'"{args.wave}": {args.path} {state} {args.config}')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
