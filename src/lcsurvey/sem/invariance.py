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
    STRICT,
    GroupData,
    Layout,
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
    # partial_metric and partial_scalar rows: the parameters free in every group ("; ").
    "freed",
]
# The partial levels (lavaan's group.partial), each after the level it relaxes.
PARTIAL = {"metric": "partial_metric", "scalar": "partial_scalar"}
# lavTestLRT's method names: without a cluster the plain difference of the ML chi-squares;
# with one (MLR) the Satorra-Bentler (2001) scaled difference, lavaan's default for MLR, and the
# 2010 version where the 2001 scaling is not positive (the 2001 test is then undefined and
# lavaan only warns).
DELTA_METHODS = ("standard", "satorra.bentler.2001", "satorra.bentler.2010")
SCORE_TABLE_COLUMNS = ["groups", "group_values", "level", *SCORE_COLUMNS]
# Chen (2007) cut-offs: (delta CFI lower bound, delta RMSEA upper bound, delta SRMR upper bound).
# Residual (strict) invariance: Chen's cut-offs for intercepts and residuals alike.
CHEN = {
    "metric": (-0.010, 0.015, 0.030),
    "scalar": (-0.010, 0.015, 0.010),
    STRICT: (-0.010, 0.015, 0.010),
}


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
    missing: str = "fiml"
    cluster: str | None = None


def fit_invariance(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    *,
    group_order: list | None = None,
    missing: str = "fiml",
    cluster: str | None = None,
    strict: bool = False,
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
    strict : bool
        Also fit the strict level after scalar: residual variances equal too (lavaan's
        group.equal = c("loadings", "intercepts", "residuals")).

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
    levels = (*LEVELS, STRICT) if strict else LEVELS
    report = reporter(None, f"invariance by {group}", len(levels), "levels")
    for done, level in enumerate(levels):
        report(done, len(levels))
        layout = make_layout(level, factors, items, len(groups))
        start = (
            configural_start(layout, groups)
            if previous is None
            else nested_start(previous, layout, groups)
        )
        try:
            fit, measures[level] = fit_one_level(layout, groups, start, missing, cluster)
        except np.linalg.LinAlgError as err:
            errors[level] = f"the {level} model cannot be estimated: {err}"
            previous = None
            continue
        if not fit.converged:
            errors[level] = f"the {level} model did not converge ({fit.iterations} iterations)"
        fits[level] = fit
        previous = fit
    report(len(levels), len(levels))
    return InvarianceResult(
        factors=factors,
        items=items,
        group_names=[str(v) for v in order],
        groups=groups,
        fits=fits,
        measures=measures,
        errors=errors,
        missing=missing,
        cluster=cluster,
    )


def fit_one_level(
    layout: Layout,
    groups: list[GroupData],
    start: np.ndarray,
    missing: str,
    cluster: str | None,
) -> tuple[LevelFit, dict]:
    """Fit one level (layout) and its fit measures; with a cluster the cluster-robust vcov and
    the scaled test (multigroup.robust_level). Raises LinAlgError when it cannot be fitted."""
    # MLR's bread is the observed information, also for complete data (lavaan).
    observed = missing == "fiml" or cluster is not None
    fit = fit_level(layout, groups, start, observed_information=observed)
    measures = fit_measures(fit, groups)
    if cluster is not None:
        fit.vcov, robust = robust_level(fit, groups, measures["df"])
        _check_clusters(layout.level, fit.vcov, robust["nclusters"])
        chisq, df = measures["chisq"], measures["df"]
        scaled = chisq / robust["chisq_scaling_factor"] if df > 0 else chisq
        measures.update(
            robust,
            chisq_scaled=scaled,
            pvalue_scaled=chisq_pvalue(scaled, df) if np.isfinite(scaled) else np.nan,
        )
    return fit, measures


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


def groups_to_compare(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    order: list | None,
    *,
    min_size: int,
    missing: str,
) -> tuple[list[str], list, list[str]]:
    """The factors' items, the groups of `group` that can enter the model (usable_groups) and
    a note for each one left out; `order` None: the sorted distinct values, labelled by
    themselves.

    Raises
    ------
    InputError
        The data have no column `group`.
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
    return items, kept, notes


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
    strict: bool = False,
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
        strict=strict,
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
    partial_max_share: float = 0.0,
    strict: bool = False,
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
    partial_max_share : float
        When metric or scalar invariance is rejected (or the level before held only
        partially), a partial_metric or partial_scalar row follows it (partial_search): the
        constraints with the largest score tests set free, one at a time, until Chen's rule
        holds or this share of the level's loadings or intercepts is free; 0: none.
    strict : bool
        A strict row after the scalar one (residual variances equal too), tested against
        the scalar level.

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
    items, kept, notes = groups_to_compare(
        data, factors, group, order, min_size=min_size, missing=missing
    )
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
            strict=strict,
        )
    except np.linalg.LinAlgError as err:
        reason = f"the multi-group model cannot be estimated ({err}); no invariance test"
        log.warning("invariance by %s: %s", group, reason)
        return as_table([{**base, "level": "", "note": "; ".join([reason] + notes)}]), no_scores
    rows = []
    scores = []
    previous = None
    # The last level that holds (fit, measures, parameters free), which the next is tested
    # against when a partial model is needed; None once neither a level nor its partial holds.
    accepted = None
    levels = (*LEVELS, STRICT) if strict else LEVELS
    for level in levels:
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
                row.update(nested_test(result, levels[levels.index(level) - 1], level))
            if score and level != "configural":
                tests = score_tests(result.fits[level], result.groups)
                labels = {str(value): label for value, label in kept}
                tests["group"] = [labels.get(g, g) for g in tests["group"]]
                scores.append(tests.assign(level=level, **base))
        row["note"] = "; ".join(level_notes)
        rows.append(row)
        previous = measures
        if level in PARTIAL and measures is not None and accepted is not None:
            reference_fit, reference, carried = accepted
            accepted = None
            if row.get("decision") == "holds" and not carried:
                accepted = (result.fits[level], measures, frozenset())
            elif partial_max_share > 0:
                partial = partial_search(
                    result, level, reference, max_share=partial_max_share, carried=carried
                )
                if partial is not None:
                    rows.append(
                        _partial_row(base, notes, partial, reference_fit, reference, result)
                    )
                    if partial.decision == "holds":
                        accepted = (partial.fit, partial.measures, partial.free)
        elif level == "configural" and measures is not None:
            accepted = (result.fits[level], measures, frozenset())
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
    return likelihood_ratio_test(
        result.fits[less],
        result.measures[less],
        result.fits[more],
        result.measures[more],
        result.groups,
    )


def likelihood_ratio_test(
    fit1: LevelFit, m1: dict, fit0: LevelFit, m0: dict, groups: list[GroupData]
) -> dict:
    """nested_test for two fitted levels: fit1 (measures m1) less restricted than fit0 (m0)."""
    df = int(m0["df"] - m1["df"])
    if "chisq_scaling_factor" not in m0:
        delta, method = m0["chisq"] - m1["chisq"], "standard"
    else:
        args = (m0["chisq"], m0["df"], m0["chisq_scaling_factor"], m1["chisq"], m1["df"])
        delta, cd = scaled_difference(*args, m1["chisq_scaling_factor"])
        method = "satorra.bentler.2001"
        if np.isfinite(cd) and cd <= 0:
            m10 = nested_point(fit1.layout, fit0)
            c10 = robust_level(m10, groups, m1["df"])[1]["chisq_scaling_factor"]
            delta, _ = scaled_difference(*args, c10)
            method = "satorra.bentler.2010"
    pvalue = chisq_pvalue(delta, df) if np.isfinite(delta) else np.nan
    return {"delta_chisq": delta, "delta_df": df, "delta_pvalue": pvalue, "delta_method": method}


@dataclass
class PartialFit:
    """A partial invariance model: the level relaxed, its fit and what was set free."""

    level: str  # "metric" or "scalar": the level relaxed
    fit: LevelFit
    measures: dict
    decision: str
    free: frozenset  # (lhs, op, rhs) free in every group, those carried over included
    freed: list  # set free by this search, in order


def _decide(level: str, measures: dict, reference: dict) -> tuple[str, dict]:
    deltas = {f"delta_{i}": measures[i] - reference[i] for i in ("cfi", "rmsea", "srmr")}
    decision = chen_decision(
        level, deltas["delta_cfi"], deltas["delta_rmsea"], deltas["delta_srmr"]
    )
    return decision, deltas


def partial_search(
    result: InvarianceResult,
    level: str,
    reference: dict,
    *,
    max_share: float,
    carried: frozenset = frozenset(),
) -> PartialFit | None:
    """Partial invariance: free the equality constraint with the largest score test, refit,
    until Chen's rule holds against `reference` or a share `max_share` is free.

    Parameters
    ----------
    result : InvarianceResult
        With the fitted `level`.
    level : {"metric", "scalar"}
        The level to relax: its loadings (metric) or intercepts (scalar) are the candidates.
    reference : dict
        The measures of the (accepted) level before, which the decision compares with.
    max_share : float
        At most floor(max_share * the level's constrained loadings or intercepts) are set free.
    carried : frozenset
        Parameters free from the start (the loadings of a partial metric model, for the
        partial scalar one).

    Returns
    -------
    PartialFit or None
        None when nothing is free (max_share too small, or no candidate) or a refit fails.

    Notes
    -----
    Each step takes the univariate score tests of the current model (multigroup.score_tests,
    lavaan's lavTestScore) and frees, in every group, the parameter of the largest one (over
    the groups after the first) not yet free; an intercept is only freed while another
    intercept of its factor stays equal, so the latent means stay identified. lavaan:
    cfa(..., group.equal = ..., group.partial = c(...)). Reference: Byrne, B. M., Shavelson,
    R. J., & Muthen, B. (1989). Testing for the equivalence of factor covariance and mean
    structures: the issue of partial measurement invariance. Psychological Bulletin, 105,
    456-466.
    """
    factors, items, groups = result.factors, result.items, result.groups
    if level == "metric":
        op = "=~"
        kind = [(f, "=~", v) for f, vs in factors.items() for v in vs[1:]]
    else:
        op = "~1"
        kind = [(v, "~1", "") for v in items]
    limit = int(np.floor(max_share * len(kind) + 1e-9))
    free = set(carried)
    fit, measures = result.fits[level], result.measures[level]
    try:
        if free:
            layout = make_layout(level, factors, items, len(groups), frozenset(free))
            start = nested_point(layout, fit).theta
            fit, measures = fit_one_level(layout, groups, start, result.missing, result.cluster)
        decision, _ = _decide(level, measures, reference)
        freed: list = []
        while decision != "holds" and len(freed) < limit:
            tests = score_tests(fit, groups)
            uni = tests[(tests["test"] == "univariate") & (tests["op"] == op)]
            uni = uni.sort_values("x2", ascending=False, kind="stable")
            pick = None
            for lhs, rhs in zip(uni["lhs"], uni["rhs"], strict=True):
                key = (lhs, op, rhs)
                if key in free:
                    continue
                if op == "~1" and not any(
                    v != lhs and (v, "~1", "") not in free
                    for vs in factors.values()
                    if lhs in vs
                    for v in vs
                ):
                    continue
                pick = key
                break
            if pick is None:
                break
            free.add(pick)
            freed.append(pick)
            layout = make_layout(level, factors, items, len(groups), frozenset(free))
            start = nested_point(layout, fit).theta
            fit, measures = fit_one_level(layout, groups, start, result.missing, result.cluster)
            decision, _ = _decide(level, measures, reference)
    except np.linalg.LinAlgError as err:
        log.warning("partial %s invariance: a model cannot be estimated (%s)", level, err)
        return None
    if not free:
        return None
    return PartialFit(
        level=level,
        fit=fit,
        measures=measures,
        decision=decision,
        free=frozenset(free),
        freed=freed,
    )


def freed_text(free) -> str:
    """The freed parameters as text, lavaan's syntax: "visual =~ x2; x3 ~1"."""
    return "; ".join(f"{lhs} {op} {rhs}".strip() for lhs, op, rhs in sorted(free))


def _partial_row(
    base: dict,
    notes: list[str],
    partial: PartialFit,
    reference_fit: LevelFit,
    reference: dict,
    result: InvarianceResult,
) -> dict:
    """The table row of a partial level: fit, deltas and test against the accepted level
    before, Chen's decision and the parameters free."""
    level = PARTIAL[partial.level]
    row = {**base, "level": level, "rule": chen_rule(partial.level)}
    row.update({c: partial.measures[c] for c in COLUMNS if c in partial.measures})
    decision, deltas = _decide(partial.level, partial.measures, reference)
    row.update(deltas, decision=decision)
    row.update(
        likelihood_ratio_test(
            reference_fit, reference, partial.fit, partial.measures, result.groups
        )
    )
    row["freed"] = freed_text(partial.free)
    extra = list(notes)
    if decision != "holds":
        extra.append(f"still rejected with {len(partial.freed)} parameters set free")
    row["note"] = "; ".join(extra)
    return row


def as_table(rows: list[dict]) -> pd.DataFrame:
    """Rows as the invariance table: COLUMNS in order, text columns as text, counts as integers."""
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for column in (
        "groups",
        "group_values",
        "level",
        "decision",
        "rule",
        "note",
        "delta_method",
        "freed",
    ):
        frame[column] = frame[column].astype(object).fillna("").astype(str)
    for column in ("ntotal", "npar", "df", "delta_df"):
        frame[column] = frame[column].astype("Int64")
    return frame
