"""Measurement invariance: multi-group CFA at three levels, as lavaan's cfa(group = ...).

The measurement part of a model (its `=~` lines) is fitted in every group at once
(lcsurvey.sem.multigroup), at three levels, each nested in the one before (lavaan's
`group.equal`):

- configural: the same factor structure in every group, all parameters free per group;
- metric: loadings equal across groups (group.equal = "loadings");
- scalar: loadings and intercepts equal (group.equal = c("loadings", "intercepts")); the latent
  means are fixed at 0 in the first group and free in the others.

Identification, estimation and standard errors are lcsurvey.sem.multigroup's (lavaan's
defaults; FIML or listwise). Each level starts from the estimates of the level before.

Fit measures are lavaan's fitMeasures() for a multi-group model (likelihood "normal"):
chisq = 2 (logl_H1 - logl) with the saturated model per group (EM estimates under FIML);
df = G (p (p + 1) / 2 + p) - npar; the baseline is the independence model per group (free
means and variances); RMSEA = sqrt(max(chisq - df, 0) / (df N)) * sqrt(G), its 90% CI from the
noncentral chi-square times sqrt(G); SRMR is Bentler's per group (covariance and mean
residuals scaled by the H1 standard deviations) weighted by the group sizes; AIC and BIC from
the log-likelihood with npar free parameters and N = all rows used.

Decision (Chen 2007, Structural Equation Modeling 14: 464-504), each level against the level
before it (deltas are this level minus the previous one, rounded to six decimals):
- metric holds when delta CFI >= -0.010 and (delta RMSEA <= 0.015 or delta SRMR <= 0.030);
- scalar holds when delta CFI >= -0.010 and (delta RMSEA <= 0.015 or delta SRMR <= 0.010).
Otherwise the level is "rejected"; the configural model has no decision. The rule text is
written beside every decision (column `rule`).

Groups with fewer respondents than the minimum, or with an item that has fewer than two
answers or no variance in that group, are left out with a note; with fewer than two groups
left, the table is a single row that says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.clusters import cluster_codes
from lcsurvey.sem.fit_measures import chisq_pvalue, scaled_difference
from lcsurvey.sem.multigroup import (
    LEVELS,
    SCORE_COLUMNS,
    GroupData,
    LevelFit,
    configural_start,
    fit_level,
    fit_measures,
    group_data,
    make_layout,
    nested_point,
    nested_start,
    robust_level,
    score_tests,
)
from lcsurvey.sem.progress import reporter
from lcsurvey.sem.robust import cluster_vcov_problem

log = logging.getLogger("lcsurvey")

COLUMNS = [
    "groups",
    "group_values",
    "level",
    "ntotal",
    "npar",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci_lower",
    "rmsea_ci_upper",
    "srmr",
    "aic",
    "bic",
    "delta_cfi",
    "delta_rmsea",
    "delta_srmr",
    "decision",
    "rule",
    "note",
    # With a cluster (lavaan's cluster = , estimator = "MLR"): the Yuan-Bentler scaled test
    # and the number of clusters over all groups; NaN without.
    "chisq_scaled",
    "chisq_scaling_factor",
    "pvalue_scaled",
    "nclusters",
    # The likelihood-ratio test against the level before (lavaan's lavTestLRT): the chi-square
    # difference, its df and p-value, and how it was computed (DELTA_METHODS).
    "delta_chisq",
    "delta_df",
    "delta_pvalue",
    "delta_method",
]
# lavTestLRT's method names: without a cluster the plain difference of the ML chi-squares;
# with one (MLR) the Satorra-Bentler (2001) scaled difference, lavaan's default for MLR, and the
# 2010 version where the 2001 scaling is not positive (the 2001 test is then undefined and
# lavaan only warns).
DELTA_METHODS = ("standard", "satorra.bentler.2001", "satorra.bentler.2010")
SCORE_TABLE_COLUMNS = ["groups", "group_values", "level", *SCORE_COLUMNS]
# Chen (2007) cut-offs: (delta CFI lower bound, delta RMSEA upper bound, delta SRMR upper bound).
CHEN = {"metric": (-0.010, 0.015, 0.030), "scalar": (-0.010, 0.015, 0.010)}


def chen_rule(level: str) -> str:
    """The decision rule of a level, as written in the output."""
    if level not in CHEN:
        return ""
    cfi, rmsea, srmr = CHEN[level]
    return (
        f"Chen (2007): {level} holds if delta CFI >= {cfi:.3f} and (delta RMSEA <= "
        f"{rmsea:.3f} or delta SRMR <= {srmr:.3f}), against the previous level"
    )


def chen_decision(level: str, delta_cfi: float, delta_rmsea: float, delta_srmr: float) -> str:
    """ "holds" or "rejected" by Chen's (2007) cut-offs (CHEN, module docstring); "" for configural
    or missing deltas.

    Parameters
    ----------
    level : str
    delta_cfi, delta_rmsea, delta_srmr : float
        This level's index minus the previous level's (rounded to six decimals here).

    Returns
    -------
    str
    """
    if level not in CHEN or not np.all(np.isfinite([delta_cfi, delta_rmsea, delta_srmr])):
        return ""
    cfi, rmsea, srmr = CHEN[level]
    d_cfi, d_rmsea, d_srmr = (round(float(v), 6) for v in (delta_cfi, delta_rmsea, delta_srmr))
    holds = d_cfi >= cfi and (d_rmsea <= rmsea or d_srmr <= srmr)
    return "holds" if holds else "rejected"


@dataclass
class InvarianceResult:
    factors: dict[str, list[str]]
    items: list[str]
    group_names: list[str]
    groups: list[GroupData]
    fits: dict[str, LevelFit]
    measures: dict[str, dict]
    errors: dict[str, str]


def fit_invariance(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    *,
    group_order: list | None = None,
    missing: str = "fiml",
    cluster: str | None = None,
) -> InvarianceResult:
    """Fit the configural, metric and scalar models of `factors` with `group` as groups.

    Parameters
    ----------
    data : DataFrame
        Items and the grouping column.
    factors : dict
        Factor -> its indicators (the model's =~ lines).
    group : str
        The grouping column.
    group_order : list, optional
        The groups and their order (the first is the reference group of the latent means); by
        default the sorted distinct values.
    missing : {"fiml", "listwise"}
    cluster : str, optional
        A column whose values group the rows into clusters (a missing value: a cluster of its
        own): every level is then lavaan's cfa(..., group = , cluster = , estimator = "MLR"),
        with cluster-robust standard errors (scores summed within the clusters of each group,
        times G_g / (G_g - 1)) and the Yuan-Bentler scaled test in the measures
        (multigroup.robust_level). A cluster spread over several groups counts in each as a
        separate cluster, as in lavaan.

    Returns
    -------
    InvarianceResult
        A level that fails to converge is reported in `errors` and has no fit measures.

    Notes
    -----
    Each group needs every item with at least two answers and some variance (see
    `usable_groups` to screen groups beforehand). Each level starts from the level before.
    lavaan: cfa(model, data, group = group, group.equal = ...) for the three levels
    (semTools::measurementInvariance).
    """
    if missing not in ("fiml", "listwise"):
        raise InputError(
            f"estimation.missing {missing!r} is not available", expected="fiml or listwise"
        )
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    absent = [v for v in items + [group] + ([cluster] if cluster else []) if v not in data.columns]
    if absent:
        raise InputError(
            f"the data lack the columns {absent} for the invariance models",
            expected="item names from the codebook and the grouping variable",
        )
    for factor, indicators in factors.items():
        if len(indicators) < 2:
            raise InputError(
                f"factor {factor!r} has fewer than two indicators",
                expected="two or more items per factor for a multi-group CFA",
            )
    order = sorted(data[group].dropna().unique()) if group_order is None else list(group_order)
    if len(order) < 2:
        raise InputError(
            f"invariance across {group!r} needs at least two groups", value=[str(v) for v in order]
        )
    groups = []
    codes = cluster_codes(data[cluster]) if cluster else None
    for value in order:
        rows = (data[group] == value).to_numpy()
        x = data.loc[rows, items].to_numpy(dtype=float)
        problem = _group_problem(x, items, missing)
        if problem:
            raise InputError(f"group {group} = {value}: {problem}")
        groups.append(group_data(str(value), x, missing, codes[rows] if cluster else None))
    fits: dict[str, LevelFit] = {}
    measures: dict[str, dict] = {}
    errors: dict[str, str] = {}
    previous = None
    # On a large wave each level takes a while: the progress goes to the rule's log.
    report = reporter(None, f"invariance by {group}", len(LEVELS), "levels")
    for done, level in enumerate(LEVELS):
        report(done, len(LEVELS))
        layout = make_layout(level, factors, items, len(groups))
        start = (
            configural_start(layout, groups)
            if previous is None
            else nested_start(previous, layout, groups)
        )
        try:
            # MLR's bread is the observed information, also for complete data (lavaan).
            observed = missing == "fiml" or cluster is not None
            fit = fit_level(layout, groups, start, observed_information=observed)
        except np.linalg.LinAlgError as err:
            errors[level] = f"the {level} model cannot be estimated: {err}"
            previous = None
            continue
        if not fit.converged:
            errors[level] = f"the {level} model did not converge ({fit.iterations} iterations)"
        fits[level] = fit
        measures[level] = fit_measures(fit, groups)
        if cluster is not None:
            fit.vcov, robust = robust_level(fit, groups, measures[level]["df"])
            _check_clusters(level, fit.vcov, robust["nclusters"])
            chisq, df = measures[level]["chisq"], measures[level]["df"]
            scaled = chisq / robust["chisq_scaling_factor"] if df > 0 else chisq
            measures[level].update(
                robust,
                chisq_scaled=scaled,
                pvalue_scaled=chisq_pvalue(scaled, df) if np.isfinite(scaled) else np.nan,
            )
        previous = fit
    report(len(LEVELS), len(LEVELS))
    return InvarianceResult(
        factors=factors,
        items=items,
        group_names=[str(v) for v in order],
        groups=groups,
        fits=fits,
        measures=measures,
        errors=errors,
    )


def _check_clusters(level: str, vcov: np.ndarray, n_clusters: int) -> None:
    """Log a warning, as lavaan does, when the cluster-robust vcov is not positive definite
    (lcsurvey.sem.robust.cluster_vcov_problem)."""
    problem = cluster_vcov_problem(vcov, n_clusters)
    if problem:
        log.warning("invariance, %s model: %s", level, problem)


def _group_problem(x: np.ndarray, items: list[str], missing: str) -> str:
    """Why a group cannot enter the multi-group model, or "" if it can."""
    if missing == "listwise":
        x = x[np.isfinite(x).all(axis=1)]
    x = x[np.isfinite(x).any(axis=1)]
    answers = np.isfinite(x).sum(axis=0)
    few = [v for v, c in zip(items, answers, strict=True) if c < 2]
    if few:
        return f"fewer than two answers to {few}"
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(x, axis=0) - np.nanmin(x, axis=0)
    constant = [v for v, s in zip(items, spread, strict=True) if not s > 0]
    if constant:
        return f"no variance in {constant}"
    return ""


def usable_groups(
    data: pd.DataFrame,
    items: list[str],
    group: str,
    order: list,
    *,
    min_size: int,
    missing: str = "fiml",
) -> tuple[list, list[str]]:
    """The groups that can enter the model, and a note for each one left out.

    A group is left out when it has fewer than `min_size` usable rows (complete rows for
    listwise, rows with any answer for FIML) or an item with fewer than two answers or without
    variance in that group.
    """
    kept, notes = [], []
    for value, label in order:
        x = data.loc[data[group] == value, items].to_numpy(dtype=float)
        usable = np.isfinite(x).all(axis=1) if missing == "listwise" else np.isfinite(x).any(axis=1)
        n = int(usable.sum())
        if n < min_size:
            notes.append(f"{group} {label} left out: {n} respondents, fewer than {min_size}")
            continue
        problem = _group_problem(x, items, missing)
        if problem:
            notes.append(f"{group} {label} left out: {problem}")
            continue
        kept.append((value, label))
    return kept, notes


def invariance_table(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    *,
    order: list[tuple[object, str]] | None = None,
    min_size: int = 50,
    missing: str = "fiml",
    cluster: str | None = None,
) -> pd.DataFrame:
    """The invariance table (COLUMNS) of invariance_tables, without the score tests."""
    return invariance_tables(
        data,
        factors,
        group,
        order=order,
        min_size=min_size,
        missing=missing,
        cluster=cluster,
        score=False,
    )[0]


def invariance_tables(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    *,
    order: list[tuple[object, str]] | None = None,
    min_size: int = 50,
    missing: str = "fiml",
    cluster: str | None = None,
    score: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The invariance table (COLUMNS): one row per level, or one row saying why there is none;
    and the score tests of the constrained levels' equality constraints (SCORE_TABLE_COLUMNS).

    Parameters
    ----------
    data : DataFrame
    factors : dict
        Factor -> its indicators.
    group : str
        The grouping column.
    order : list of (value, label), optional
        The groups in the order wanted (the first is the reference group); by default the
        sorted distinct values labelled by themselves.
    min_size : int
        Groups below it, or with an unusable item, are left out (see usable_groups), with a note.
    missing : {"fiml", "listwise"}
    cluster : str, optional
        The cluster column: cluster-robust standard errors and the scaled test, as
        fit_invariance.
    score : bool
        Compute the score tests (else the second table is empty).

    Returns
    -------
    (DataFrame, DataFrame)
        COLUMNS: the fit measures per level, the deltas against the previous level, the
        likelihood-ratio test against it (nested_test) and Chen's decision with its rule.
        SCORE_TABLE_COLUMNS: for the metric and scalar levels, lavaan's lavTestScore(fit,
        cumulative = TRUE) (multigroup.score_tests): which equality constraint, set free,
        would improve the fit most; the input of a partial invariance model. Empty when
        there is no multi-group model.
    """
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    if group not in data.columns:
        raise InputError(
            f"the data have no column {group!r} to form groups",
            expected="a background variable of the codebook or 'wave'",
        )
    if order is None:
        order = [(v, str(v)) for v in sorted(data[group].dropna().unique())]
    kept, notes = usable_groups(data, items, group, order, min_size=min_size, missing=missing)
    no_scores = pd.DataFrame(columns=SCORE_TABLE_COLUMNS)
    for note in notes:
        log.info("invariance: %s", note)
    base = {"groups": group, "group_values": ";".join(label for _, label in kept)}
    if len(kept) < 2:
        reason = (
            f"fewer than two groups of {group} with at least {min_size} respondents; "
            "no invariance test"
        )
        return as_table([{**base, "level": "", "note": "; ".join([reason] + notes)}]), no_scores
    subset = data[data[group].isin([v for v, _ in kept])]
    try:
        result = fit_invariance(
            subset,
            factors,
            group,
            group_order=[v for v, _ in kept],
            missing=missing,
            cluster=cluster,
        )
    except np.linalg.LinAlgError as err:
        reason = f"the multi-group model cannot be estimated ({err}); no invariance test"
        log.warning("invariance by %s: %s", group, reason)
        return as_table([{**base, "level": "", "note": "; ".join([reason] + notes)}]), no_scores
    rows = []
    scores = []
    previous = None
    for level in LEVELS:
        row = {**base, "level": level, "rule": chen_rule(level)}
        level_notes = list(notes)
        if level in result.errors:
            level_notes.append(result.errors[level])
            log.warning("invariance by %s: %s", group, result.errors[level])
        measures = result.measures.get(level) if level not in result.errors else None
        if measures is not None:
            row.update({c: measures[c] for c in COLUMNS if c in measures})
            if previous is not None:
                for index in ("cfi", "rmsea", "srmr"):
                    row[f"delta_{index}"] = measures[index] - previous[index]
                row["decision"] = chen_decision(
                    level, row["delta_cfi"], row["delta_rmsea"], row["delta_srmr"]
                )
                row.update(nested_test(result, LEVELS[LEVELS.index(level) - 1], level))
            if score and level != "configural":
                tests = score_tests(result.fits[level], result.groups)
                scores.append(tests.assign(level=level, **base))
        row["note"] = "; ".join(level_notes)
        rows.append(row)
        previous = measures
    score_table = (
        pd.concat(scores, ignore_index=True).reindex(columns=SCORE_TABLE_COLUMNS)
        if scores
        else no_scores
    )
    return as_table(rows), score_table


def nested_test(result: InvarianceResult, less: str, more: str) -> dict:
    """The likelihood-ratio test of level `more` against the less restricted level `less`,
    as lavaan's lavTestLRT(fit_less, fit_more) with its default method.

    Returns
    -------
    dict
        delta_chisq, delta_df, delta_pvalue and delta_method (DELTA_METHODS): without a
        cluster the difference of the chi-squares ("standard"); with one (MLR), the
        Satorra-Bentler 2001 scaled difference of the normal-theory chi-squares
        (fit_measures.scaled_difference with the levels' scaling factors), or, where its
        scaling cd is not positive, the 2010 one, with the scaling factor of `less` at the
        estimates of `more` (multigroup.nested_point; lavaan's method =
        "satorra.bentler.2010").
    """
    m1, m0 = result.measures[less], result.measures[more]
    df = int(m0["df"] - m1["df"])
    if "chisq_scaling_factor" not in m0:
        delta, method = m0["chisq"] - m1["chisq"], "standard"
    else:
        args = (m0["chisq"], m0["df"], m0["chisq_scaling_factor"], m1["chisq"], m1["df"])
        delta, cd = scaled_difference(*args, m1["chisq_scaling_factor"])
        method = "satorra.bentler.2001"
        if np.isfinite(cd) and cd <= 0:
            m10 = nested_point(result.fits[less].layout, result.fits[more])
            c10 = robust_level(m10, result.groups, m1["df"])[1]["chisq_scaling_factor"]
            delta, _ = scaled_difference(*args, c10)
            method = "satorra.bentler.2010"
    pvalue = chisq_pvalue(delta, df) if np.isfinite(delta) else np.nan
    return {"delta_chisq": delta, "delta_df": df, "delta_pvalue": pvalue, "delta_method": method}


def as_table(rows: list[dict]) -> pd.DataFrame:
    """Rows as the invariance table: COLUMNS in order, text columns as text, counts as integers."""
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for column in ("groups", "group_values", "level", "decision", "rule", "note", "delta_method"):
        frame[column] = frame[column].astype(object).fillna("").astype(str)
    for column in ("ntotal", "npar", "df", "delta_df"):
        frame[column] = frame[column].astype("Int64")
    return frame
