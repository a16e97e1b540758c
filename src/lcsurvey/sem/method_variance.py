"""Common-method variance: Harman's single-factor test and an unmeasured latent method factor.

A survey whose items are all answered by one person at one time shares a source of variance
that has nothing to do with the constructs (acquiescence, mood, consistency motif: Podsakoff,
MacKenzie, Lee & Podsakoff 2003). Two checks are common and both are here:

- **Harman's single-factor test**: how much of the items' variance one unrotated factor takes.
  Given two ways, as researchers compute it: the first principal component of the correlation
  matrix (its eigenvalue over the number of items: psych::principal(x, nfactors = 1,
  rotate = "none")$values[1] / p) and the first factor of a minimum-residual factor analysis
  (the sum of its squared loadings over p: psych::fa(x, nfactors = 1, rotate = "none",
  fm = "minres")). Both from pairwise-complete correlations, psych's default. A share above
  one half is the usual warning sign; a share below it proves little (Podsakoff et al. 2003).
- **Unmeasured latent method construct (ULMC)**: the model refitted with one more factor,
  `method`, on which every indicator loads with the same loading, orthogonal to the substantive
  factors (Podsakoff et al. 2003; Williams, Cote & Buckley 1989). In lavaan syntax, added to
  the model: `method =~ 1*x1 + 1*x2 + ...` and `method ~~ 0*f1 + 0*f2 + ...`. The loadings are
  fixed at 1 and the method variance is free, which is the same model as equal free loadings
  with the variance fixed at 1 (`method =~ l*x1 + l*x2 + ...`, `method ~~ 1*method`) and the
  same fit, without a sign to choose. The table gives the change in each structural path (and
  := effect) from the model without to the model with the method factor, and the share of each
  indicator's variance the method factor takes (its standardised method loading squared).
  The refit starts from the estimates without the method factor.

- **CFA marker technique** (Williams, Hartman & Cavazotte 2010), when items are marked as
  marker variables: Baseline (the marker factor's measurement fixed at its CFA values,
  orthogonal to the factors) against Method-C (one equal marker loading on every indicator),
  a chi-square difference on 1 df (marker_rows).

`method_variance_table` returns them in one long table (METHOD_VARIANCE_COLUMNS): `check`
(harman, ulmc, marker), the parameter (lhs, op, rhs; empty for a whole-model number),
`statistic`, `value`, and a `note` in words where a number is missing. lavaan 0.6.14 and
psych 2.2.9 give the same numbers (tests/fixtures/method_variance/).

References
----------
Podsakoff, P. M., MacKenzie, S. B., Lee, J.-Y., & Podsakoff, N. P. (2003). Common method biases
in behavioral research. Journal of Applied Psychology, 88(5), 879-903.
Williams, L. J., Cote, J. A., & Buckley, M. R. (1989). Lack of method variance in self-reported
affect and perceptions at work. Journal of Applied Psychology, 74(3), 462-468.
Williams, L. J., Hartman, N., & Cavazotte, F. (2010). Method variance and marker variables: a
review and comprehensive CFA marker technique. Organizational Research Methods, 13(3), 477-514.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from lcsurvey.errors import InputError
from lcsurvey.sem.estimability import NotEstimated, check_admissible
from lcsurvey.sem.model import FittedModel, fit_model
from lcsurvey.sem.syntax import ModelSpec, parse_model

METHOD_VARIANCE_COLUMNS = ["check", "lhs", "op", "rhs", "statistic", "value", "note"]
# Structural parameters whose change the ULMC reports: regressions and defined effects.
PATH_OPS = ("~", ":=")
# The fit measures compared without and with the method factor.
FIT_STATISTICS = ("chisq", "df", "cfi", "tli", "rmsea", "srmr")
# psych::fa's bounds on the uniquenesses (fa's `fit.residuals` optimised by L-BFGS-B).
_MINRES_BOUNDS = (0.005, 1.0)


def pairwise_correlations(data: pd.DataFrame) -> np.ndarray:
    """Pearson correlations from the pairwise-complete rows (R's cor(x, use = "pairwise"))."""
    corr = data.astype(float).corr(method="pearson", min_periods=2).to_numpy()
    if np.isnan(corr).any():
        bad = [
            f"{data.columns[i]} and {data.columns[j]}"
            for i, j in zip(*np.where(np.isnan(corr)), strict=True)
            if i < j
        ]
        raise InputError(
            f"no correlation for {', '.join(bad[:3])}: too few rows answer both, or one of them "
            "does not vary",
            expected="at least two rows with both answers and some variation",
        )
    return corr


def first_component_share(corr: np.ndarray) -> float:
    """The first principal component's eigenvalue over the number of items.

    psych::principal(x, nfactors = 1, rotate = "none")$values[1] / ncol(x).
    """
    return float(np.linalg.eigvalsh(corr)[-1] / len(corr))


def first_factor_share(corr: np.ndarray) -> float:
    """The sum of squared loadings of one minimum-residual factor over the number of items.

    Minres as psych::fa(x, nfactors = 1, rotate = "none", fm = "minres"): the uniquenesses psi
    minimise the sum of squared off-diagonal residuals of R with 1 - psi on its diagonal, after
    one principal factor of that matrix; psi bounded to [0.005, 1] as psych does, started at
    psych's 1 - 0.5 / diag(R^-1).

    Notes
    -----
    share = sum(lambda^2) / p with lambda = sqrt(max(e_1, 0)) v_1 from the first eigenpair of
    R - diag(psi).
    """
    p = len(corr)
    off = ~np.eye(p, dtype=bool)

    def loadings(psi: np.ndarray) -> np.ndarray:
        reduced = corr.copy()
        np.fill_diagonal(reduced, 1 - psi)
        values, vectors = np.linalg.eigh(reduced)
        return vectors[:, -1] * np.sqrt(max(values[-1], 0.0))

    def residual(psi: np.ndarray) -> float:
        lam = loadings(psi)
        return float(np.sum(((corr - np.outer(lam, lam)) ** 2)[off]))

    start = np.clip(1 - 0.5 / np.diag(np.linalg.pinv(corr)), *_MINRES_BOUNDS)
    result = optimize.minimize(
        residual,
        start,
        method="L-BFGS-B",
        bounds=[_MINRES_BOUNDS] * p,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10000},
    )
    return float(np.sum(loadings(result.x) ** 2) / p)


def harman_rows(data: pd.DataFrame) -> list[dict]:
    """Harman's single-factor test on the columns of `data` (rows with no answer left out).

    The shares are NaN, with the reason in `note`, when two columns cannot be correlated.
    """
    used = data[data.notna().any(axis=1)]
    counts = [_row("harman", "items", data.shape[1]), _row("harman", "n", len(used))]
    try:
        corr = pairwise_correlations(used)
    except InputError as err:
        # A diagnostic: the model's tables still stand when the items cannot all be correlated.
        return counts + [
            _row("harman", statistic, np.nan, note=err.message)
            for statistic in ("first_component_share", "first_factor_share")
        ]
    return counts + [
        _row("harman", "first_component_share", first_component_share(corr)),
        _row("harman", "first_factor_share", first_factor_share(corr)),
    ]


def method_factor_syntax(syntax: str, name: str = "model") -> tuple[str, str]:
    """The model's syntax with an unmeasured latent method factor added, and that factor's name.

    Every observed indicator of a =~ line loads 1 on the method factor, whose variance is free
    and whose covariances with the model's factors are fixed at 0. The factor is called
    `method` unless the model already uses that name (then `method_1`, `method_2`, ...).
    """
    spec = parse_model(syntax, name=name)
    if not spec.measurement:
        raise InputError(
            f"model {name!r} has no measurement part (no =~ line): a method factor needs "
            "indicators",
            expected="a model with latent variables measured by items",
        )
    used = set(spec.measurement) | set(spec.observed)
    factor, k = "method", 0
    while factor in used:
        k += 1
        factor = f"method_{k}"
    indicators = _indicators(spec)
    lines = [
        syntax.rstrip("\n"),
        f"{factor} =~ " + " + ".join(f"1*{x}" for x in indicators),
        f"{factor} ~~ " + " + ".join(f"0*{f}" for f in spec.measurement),
    ]
    return "\n".join(lines) + "\n", factor


def ulmc_rows(
    base: FittedModel, data: pd.DataFrame, *, name: str = "model", **settings
) -> list[dict]:
    """Refit `base`'s model with an unmeasured latent method factor; compare the two.

    Parameters
    ----------
    base : FittedModel
        The model as fitted without the method factor (lcsurvey.sem.model.fit_model).
    data : DataFrame
        The data `base` was fitted to (all rows: the refit selects them as fit_model does).
    name : str
        The model's name in messages.
    **settings
        fit_model's missing, se, information and cluster, as for `base`.

    Returns
    -------
    list of dict
        Rows of METHOD_VARIANCE_COLUMNS: the fit without and with the method factor, the
        method factor's variance, each indicator's method share (std_all of its method loading,
        squared) and their mean, and for each regression and := effect its est and std_all
        without, with and the change (with minus without). `estimated` is 0 (and the only
        row, with the reason) when the refit is not estimated; `admissible` is 0, with the
        reason, when it has a negative variance (a Heywood case: then its numbers are those of
        an improper solution).
    """
    syntax, factor = method_factor_syntax(base.spec.syntax, name=name)
    label = f"{name} with a method factor"
    try:
        fitted = fit_model(syntax, data, name=label, start=_start(base), **settings)
    except NotEstimated as first:
        if first.reason != "no_convergence":
            return [_row("ulmc", "estimated", 0, note=first.message)]
        # From the estimates without the method factor the ascent can stall on a ridge of an
        # improper solution; semopy's own starting values are the second try.
        try:
            fitted = fit_model(syntax, data, name=label, **settings)
        except NotEstimated as err:
            return [_row("ulmc", "estimated", 0, note=err.message)]
    rows = [_row("ulmc", "estimated", 1)]
    try:
        check_admissible(label, fitted.estimates, len(fitted.data))
    except NotEstimated as err:
        # Kept with the reason: an improper solution (a negative variance) says the method
        # factor takes more than the data allow; its numbers are not to be read as estimates.
        rows.append(_row("ulmc", "admissible", 0, note=err.message))
    else:
        rows.append(_row("ulmc", "admissible", 1))
    for statistic in FIT_STATISTICS:
        rows.append(_row("ulmc", f"{statistic}_without", base.fit[statistic].iloc[0]))
        rows.append(_row("ulmc", f"{statistic}_with", fitted.fit[statistic].iloc[0]))
    est = fitted.estimates
    variance = est[(est["lhs"] == factor) & (est["op"] == "~~") & (est["rhs"] == factor)]
    rows.append(_row("ulmc", "method_variance", variance["est"].iloc[0]))
    loadings = est[(est["lhs"] == factor) & (est["op"] == "=~")]
    shares = loadings["std_all"].to_numpy(float) ** 2
    rows.append(_row("ulmc", "method_share_mean", float(np.mean(shares))))
    rows += [
        _row("ulmc", "method_share", share, lhs=factor, op="=~", rhs=item)
        for item, share in zip(loadings["rhs"], shares, strict=True)
    ]
    before = base.estimates[base.estimates["op"].isin(PATH_OPS)]
    keyed = est.set_index(["lhs", "op", "rhs"])
    for path in before.itertuples():
        after = keyed.loc[(path.lhs, path.op, path.rhs)]
        at = {"lhs": path.lhs, "op": path.op, "rhs": path.rhs}
        for column in ("est", "std_all"):
            without, with_ = float(getattr(path, column)), float(after[column])
            rows += [
                _row("ulmc", f"{column}_without", without, **at),
                _row("ulmc", f"{column}_with", with_, **at),
                _row("ulmc", f"{column}_change", with_ - without, **at),
            ]
    return rows


def marker_rows(
    base: FittedModel,
    data: pd.DataFrame,
    markers: Sequence[str],
    *,
    name: str = "model",
    **settings,
) -> list[dict]:
    """The CFA marker technique (Williams, Hartman & Cavazotte 2010): Baseline against Method-C.

    Parameters
    ----------
    base : FittedModel
        The model; its =~ and ~~ lines are the measurement model (its regressions become free
        covariances among the factors, as in a CFA).
    data : DataFrame
        The data, with the marker items.
    markers : sequence of str
        The marker items: answers that share the method but not the constructs. One item is
        its factor's only indicator (its residual variance fixed at 0).
    name : str
        The model's name in messages.
    **settings
        fit_model's missing, se, information and cluster.

    Returns
    -------
    list of dict
        Rows of METHOD_VARIANCE_COLUMNS (check = "marker"): `items`, then `chisq` and `df` of
        the three models (`_cfa`: the marker factor correlated with the factors; `_baseline`:
        its loadings, residual variances and variance fixed at the CFA's values, orthogonal to
        the factors; `_method_c`: the baseline with one equal loading of the marker factor on
        every substantive indicator), `delta_chisq`, `delta_df` and `delta_pvalue` of Baseline
        against Method-C (the plain difference of the chi-squares, lavaan's anova() under ML;
        under MLR the note says a scaled difference would be needed), `method_loading` and per
        substantive indicator its `method_share` in Method-C (std_all squared) and their mean.
        A model that is not estimated gives `estimated` = 0 with the reason.

    Notes
    -----
    Method-U, Method-R and the sensitivity analysis of Williams et al. are not part of it.
    """
    spec = base.spec
    markers = list(markers)
    missing_items = [m for m in markers if m not in data.columns]
    if missing_items:
        raise InputError(
            f"the marker items {missing_items} are not in the data of model {name!r}",
            expected="items of the codebook marked `marker: true`",
        )
    used = [m for m in markers if m in spec.observed]
    if used:
        raise InputError(
            f"the marker items {used} are also indicators or variables of model {name!r}",
            expected="marker items that the model does not use",
        )
    taken = set(spec.measurement) | set(spec.observed)
    factor, k = "marker", 0
    while factor in taken:
        k += 1
        factor = f"marker_{k}"
    label = f"{factor}_loading"
    measurement = "\n".join(_measurement_statements(spec.syntax))
    indicators = _indicators(spec)
    cfa = f"{measurement}\n{factor} =~ {' + '.join(markers)}\n"
    if len(markers) == 1:
        cfa += f"{markers[0]} ~~ 0*{markers[0]}\n"
    rows = [_row("marker", "items", len(markers), note=", ".join(markers))]
    try:
        fitted_cfa = fit_model(cfa, data, name=f"{name}: marker CFA", **settings)
        est = fitted_cfa.estimates
        loadings = est[(est["lhs"] == factor) & (est["op"] == "=~")]
        residuals = est[(est["op"] == "~~") & est["lhs"].isin(markers) & (est["lhs"] == est["rhs"])]
        variance = est[(est["lhs"] == factor) & (est["op"] == "~~") & (est["rhs"] == factor)]
        fixed = [
            f"{factor} =~ "
            + " + ".join(f"{float(r.est)!r}*{r.rhs}" for r in loadings.itertuples()),
            *(f"{r.lhs} ~~ {float(r.est)!r}*{r.rhs}" for r in residuals.itertuples()),
            f"{factor} ~~ {float(variance['est'].iloc[0])!r}*{factor}",
            f"{factor} ~~ " + " + ".join(f"0*{f}" for f in spec.measurement),
        ]
        baseline = measurement + "\n" + "\n".join(fixed) + "\n"
        method_c = baseline + f"{factor} =~ " + " + ".join(f"{label}*{x}" for x in indicators)
        fitted_baseline = fit_model(baseline, data, name=f"{name}: marker baseline", **settings)
        fitted_method = fit_model(method_c, data, name=f"{name}: marker Method-C", **settings)
    except NotEstimated as err:
        return rows + [_row("marker", "estimated", 0, note=err.message)]
    rows.append(_row("marker", "estimated", 1))
    for model, fitted in (
        ("cfa", fitted_cfa),
        ("baseline", fitted_baseline),
        ("method_c", fitted_method),
    ):
        for statistic in ("chisq", "df"):
            rows.append(_row("marker", f"{statistic}_{model}", fitted.fit[statistic].iloc[0]))
    delta = float(fitted_baseline.fit["chisq"].iloc[0] - fitted_method.fit["chisq"].iloc[0])
    delta_df = int(fitted_baseline.fit["df"].iloc[0] - fitted_method.fit["df"].iloc[0])
    note = (
        "plain difference of the normal-theory chi-squares; under MLR a scaled difference is needed"
        if str(fitted_method.fit["estimator"].iloc[0]) == "MLR"
        else ""
    )
    rows += [
        _row("marker", "delta_chisq", delta, note=note),
        _row("marker", "delta_df", delta_df),
        _row("marker", "delta_pvalue", stats.chi2.sf(max(delta, 0.0), delta_df), note=note),
    ]
    est = fitted_method.estimates
    method = est[(est["lhs"] == factor) & (est["op"] == "=~") & est["rhs"].isin(indicators)]
    rows.append(_row("marker", "method_loading", method["est"].iloc[0]))
    shares = method["std_all"].to_numpy(float) ** 2
    rows.append(_row("marker", "method_share_mean", float(np.mean(shares))))
    rows += [
        _row("marker", "method_share", share, lhs=factor, op="=~", rhs=item)
        for item, share in zip(method["rhs"], shares, strict=True)
    ]
    return rows


def method_variance_table(
    base: FittedModel,
    data: pd.DataFrame,
    *,
    name: str = "model",
    markers: Sequence[str] = (),
    **settings,
) -> pd.DataFrame:
    """Harman's test, the ULMC comparison and the marker technique, one table.

    `data` and `settings` as for ulmc_rows. Harman's test uses every row of `data` with an
    answer to one of the model's observed variables, whatever the missing-data setting.
    Without `markers` (the codebook's items marked `marker: true`) the marker check is one row,
    `items` = 0, whose note says that no item is marked. A model without latent variables gets
    Harman's test only (ulmc `latent_variables` = 0, with the reason).
    """
    rows = harman_rows(data[base.spec.observed])
    if not base.spec.measurement:
        # A path model of observed variables: no indicators for a method factor to load on.
        note = "the model has no latent variables (no =~ line): no method factor"
        rows += [_row("ulmc", "latent_variables", 0, note=note)]
        if markers:
            rows += [_row("marker", "latent_variables", 0, note=note)]
    else:
        rows += ulmc_rows(base, data, name=name, **settings)
        if markers:
            rows += marker_rows(base, data, markers, name=name, **settings)
    if not markers:
        rows.append(_row("marker", "items", 0, note="no item is marked as a marker variable"))
    return pd.DataFrame(rows, columns=METHOD_VARIANCE_COLUMNS)


def empty_table() -> pd.DataFrame:
    """The table of a model that was not estimated: the columns, no row."""
    return pd.DataFrame(columns=METHOD_VARIANCE_COLUMNS)


def _measurement_statements(syntax: str) -> list[str]:
    """The model's =~ and ~~ statements (its measurement model), comments left out."""
    statements = [
        s.strip()
        for line in syntax.splitlines()
        for s in line.split("#", 1)[0].split(";")
        if s.strip()
    ]
    return [s for s in statements if "=~" in s or ("~~" in s and ":=" not in s)]


def _indicators(spec: ModelSpec) -> list[str]:
    """The observed indicators of the model's =~ lines, in order, each once."""
    return list(
        dict.fromkeys(x for items in spec.measurement.values() for x in items if x in spec.observed)
    )


def _start(base: FittedModel) -> dict[tuple[str, str, str], float]:
    """Starting values for the model with the method factor: the estimates without it (the
    method factor starts at semopy's values). From semopy's own starting values the factor can
    drift into a substantive factor and the fit end at a variance of 0 below lavaan's optimum."""
    est = base.estimates[base.estimates["op"].isin(("=~", "~", "~~"))]
    return {(r.lhs, r.op, r.rhs): float(r.est) for r in est.itertuples()}


def _row(
    check: str,
    statistic: str,
    value: float,
    *,
    lhs: str = "",
    op: str = "",
    rhs: str = "",
    note: str = "",
) -> dict:
    value = float(value)
    return {
        "check": check,
        "lhs": lhs,
        "op": op,
        "rhs": rhs,
        "statistic": statistic,
        "value": value,
        "note": note,
    }
