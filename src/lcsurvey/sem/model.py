"""Structural equation models: fit lavaan-syntax models with semopy, report them on lavaan's scale.

Parameter tables use lavaan's parameterEstimates() names (lhs, op, rhs, label, est, se, z,
pvalue, ci_lower, ci_upper, std_all) and the fit table lavaan's fitMeasures() names. Labels
work as in lavaan: two parameters with the same label are one parameter (semopy shares a
repeated name), and `name := expression` lines add defined parameters with delta-method
standard errors (lcsurvey.sem.defined); they are taken out of the syntax before semopy reads it. Fit
indices come from the sample and model-implied moments with lavaan's formulas (ML,
likelihood = "normal"; lcsurvey.sem.fit_measures), since semopy lacks SRMR and scales some
indices differently.

Where the rest lives: the FIML fit in lcsurvey.sem.fiml, standard errors in lcsurvey.sem.vcov,
std.all in lcsurvey.sem.standardize, the model's matrices and parameter names in
lcsurvey.sem.structure, bootstrap refits in lcsurvey.sem.bootstrap.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import semopy
from scipy import special

from lcsurvey.errors import InputError
from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem import fit_measures as fm
from lcsurvey.sem.clusters import cluster_codes
from lcsurvey.sem.defined import (
    defined_values,
    delta_method,
    evaluate_all,
)
from lcsurvey.sem.estimability import NotEstimated, check_identified, check_respondents
from lcsurvey.sem.fiml import FimlResult, fiml_fit_measures, fit_fiml
from lcsurvey.sem.robust import (
    ROBUST_COLUMNS,
    RobustInputs,
    cluster_vcov_problem,
    robust_fit_measures,
)
from lcsurvey.sem.standardize import standardized_all, standardized_inference
from lcsurvey.sem.structure import (
    Intercepts,
    Structure,
    fixed_exogenous,
    free_parameters,
    parameter_keys,
    parameter_listing,
)
from lcsurvey.sem.syntax import ModelSpec, _is_number, parse_model  # noqa: F401
from lcsurvey.sem.vcov import (
    expected_information,
    moment_jacobian,
    observed_information,
    sandwich,
)

ESTIMATE_COLUMNS = [
    "lhs",
    "op",
    "rhs",
    "label",
    "est",
    "se",
    "z",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "std_all",
    "std_all_se",
    "std_all_z",
    "std_all_pvalue",
    "std_all_ci_lower",
    "std_all_ci_upper",
]
# The standardised solution's inference (lavaan's standardizedSolution(): se, z, pvalue, CI).
STD_COLUMNS = ESTIMATE_COLUMNS[-5:]
FIT_COLUMNS = [
    "ntotal",
    "estimator",
    "missing",
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
    # MLR (se = "robust" or a cluster): lavaan's scaled test and robust indices (NaN otherwise),
    # and the number of clusters (NaN without a cluster).
    *ROBUST_COLUMNS,
    "nclusters",
]


@dataclass
class FittedModel:
    spec: ModelSpec
    model: semopy.Model
    data: pd.DataFrame
    estimates: pd.DataFrame
    fit: pd.DataFrame
    missing: str = "fiml"
    se: str = "standard"
    # Free parameters: semopy's names (labels for labelled ones) then "<variable>~1" for the
    # means under FIML; their estimates and covariance matrix (vcov, in the same order).
    columns: list[str] | None = None
    theta: np.ndarray | None = None
    vcov: np.ndarray | None = None
    # Per row of `estimates`: the entry of `columns` it shows, or None (fixed or defined).
    row_columns: list[str | None] | None = None
    fiml: FimlResult | None = None
    # Under FIML: the "~1" rows show intercepts, Intercepts.reported(theta), not the means.
    intercepts: Intercepts | None = None
    # The cluster of each row of `data` (lcsurvey.sem.clusters.cluster_codes), or None.
    clusters: np.ndarray | None = None


SE_TYPES = ("standard", "robust")
INFORMATION_TYPES = ("observed", "expected")


def fit_model(
    syntax: str,
    data: pd.DataFrame,
    *,
    name: str = "model",
    missing: str = "fiml",
    se: str = "standard",
    information: str | None = None,
    cluster: str | None = None,
    start: Mapping[tuple[str, str, str], float] | None = None,
) -> FittedModel:
    """Fit a model by maximum likelihood and tabulate it as lavaan would.

    Parameters
    ----------
    syntax : str
        lavaan model syntax (=~, ~, ~~, labels, fixed values, := definitions).
    data : DataFrame
        The observed variables, NaN where missing.
    name : str
        The model's name in messages.
    missing : {"fiml", "listwise"}
        "fiml": full-information ML with free means (lavaan's missing = "ml"), every row with at
        least one answer counts. "listwise": ML on the complete rows (lavaan's default).
    se : {"standard", "robust"}
        "robust": sandwich standard errors H^-1 B H^-1 (observed information H, B the sum of the
        casewise score products), as lavaan's estimator = "MLR"; with listwise data the model
        gets free means for this, as lavaan's MLR does.
    information : {"observed", "expected"}, optional
        The information matrix of the standard errors (se = "standard"), lavaan's
        `information`; None takes lavaan's default (observed under FIML, expected under
        listwise). Expected information under FIML is lavaan's structured one: at the
        model-implied moments, given the missingness patterns.
    cluster : str, optional
        A column of `data` whose values group the rows (lavaan's `cluster =`). A row with a
        missing value is a cluster of its own. The fit is then lavaan's
        sem(..., cluster = "...", estimator = "MLR") whatever `se` says: cluster-robust
        standard errors (se = "robust.cluster": the casewise scores summed within clusters,
        times G / (G - 1)), the Yuan-Bentler scaled test and the robust fit indices, and a
        RuntimeWarning when the clusters are too few for the free parameters (the covariance
        matrix of the estimates is then not positive definite, as lavaan warns). The codes
        are kept as FittedModel.clusters.
    start : mapping, optional
        Starting values of free parameters by (lhs, op, rhs) in lavaan's notation, as in the
        estimates table (a covariance either way round); the others start at semopy's values.
        For a model that extends a fitted one (lavaan's start = fit): its estimates are a start
        near the optimum.

    Returns
    -------
    FittedModel
        estimates (ESTIMATE_COLUMNS, lavaan's parameterEstimates() and standardizedSolution()),
        fit (FIT_COLUMNS, lavaan's fitMeasures()), the free parameters and their vcov.

    Raises
    ------
    NotEstimated
        When the data do not allow the fit (lcsurvey.sem.estimability): fewer respondents than
        respondents_needed (rows with an answer under FIML, complete rows under listwise), more
        free parameters than sample moments, or no convergence of the FIML iterations.
    InputError
        For a setting or a variable that does not exist.

    Notes
    -----
    Defined parameters (:=) get delta-method standard errors from the same covariance matrix.
    With se = "robust" or a cluster the fit table adds lavaan's MLR test (chisq_scaled,
    chisq_scaling_factor, pvalue_scaled: Yuan-Bentler, Mplus variant) and the robust CFI, TLI
    and RMSEA with its CI (lcsurvey.sem.robust; under FIML the FIML-corrected ones lavaan
    reports). Where lavaan gives NA they are NaN: the scaled test of a model with df 0, and a
    negative trace of U Gamma (possible with clusters and a badly fitting model).
    Observed exogenous regressors (observed variables that only predict, fixed_exogenous) are
    lavaan's default fixed.x = TRUE: their variances, covariances and (under FIML) means are
    fixed at the sample values and count neither as free parameters nor among the moments, in
    df, npar, the log-likelihood and the baseline model. Under FIML, rows with a missing value
    in such a regressor are left out, with a warning, as lavaan does.
    Under FIML the "~1" rows are lavaan's intercepts: of an observed outcome of a regression,
    its mean minus the predicted part (see Intercepts); of an indicator, its mean minus the
    loadings times the factor means. lavaan: sem(syntax, data, missing = "ml") followed by
    parameterEstimates(), standardizedSolution() and fitMeasures().
    """
    spec = parse_model(syntax, name=name)
    if se not in SE_TYPES:
        raise InputError(f"estimation.se {se!r} is not available", expected="standard or robust")
    if information not in (None, *INFORMATION_TYPES):
        raise InputError(
            f"estimation.information {information!r} is not available",
            expected="observed or expected",
        )
    absent = [v for v in spec.observed if v not in data.columns]
    if absent:
        raise InputError(
            f"model {name!r} uses variables that the data do not have: {absent}",
            expected="item names from the codebook",
        )
    if cluster is not None and cluster not in data.columns:
        raise InputError(
            f"model {name!r}: the cluster variable {cluster!r} is not a column of the data",
            expected="a column whose values group the rows",
        )
    values = data[spec.observed].astype(float)
    model = semopy.Model(spec.semopy_syntax)
    if start:
        _set_start(model, spec, start)
    active = free_parameters(model)
    result = None
    if missing == "fiml":
        used = values[values.notna().any(axis=1)]
        fixed_x = fixed_exogenous(model, spec)
        gaps = used[fixed_x].isna().any(axis=1)
        if gaps.any():
            warnings.warn(
                f"model {name!r}: {int(gaps.sum())} rows with a missing value in the "
                f"observed regressors {fixed_x} are left out; the regressors' moments "
                "are fixed at the sample values (lavaan's fixed.x = TRUE). Give a "
                "regressor a free variance (x ~~ x) to keep those rows.",
                RuntimeWarning,
                stacklevel=2,
            )
            used = used[~gaps]
        p = len(spec.observed)
        check_respondents(name, len(used), p)
        check_identified(name, len(active) + p, p * (p + 3) // 2, len(used))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fit_fiml(model, used)
        except ValueError as err:
            # The data lack what FIML needs (a variable with fewer than two answers).
            raise NotEstimated(name, "too_few_respondents", n=len(used), detail=str(err)) from None
        if not result.converged:
            raise NotEstimated(
                name,
                "no_convergence",
                n=len(used),
                detail=f"FIML stopped after {result.iterations} iterations",
            )
        q = len(result.params)
        observed = list(model.vars["observed"])
        columns = active + [f"{v}~1" for v in observed]
        theta = np.concatenate([result.params, result.means])
        codes = cluster_codes(data.loc[used.index, cluster]) if cluster is not None else None
        robust = se == "robust" or codes is not None
        if robust:
            vcov, info, meat = sandwich(
                model, used, result.params, result.means, codes, bread=result.vcov
            )
            free = np.setdiff1d(np.arange(len(vcov)), [q + observed.index(v) for v in fixed_x])
            free_vcov = vcov[np.ix_(free, free)]
        elif information == "expected":
            vcov = _inverse(expected_information(model, used, result.params, result.means))
        else:
            vcov = result.vcov
        se_all = np.sqrt(np.clip(np.diag(vcov), 0, None))
        estimates = _estimates_table(model, spec, se_all[:q])
        # Intercepts of the observed variables, with delta-method standard errors; those of
        # fixed regressors and the latent means (0) are fixed (listed, as lavaan does).
        intercepts = Intercepts(model)
        shown = intercepts.reported(theta[None])[0, q:]
        jac = intercepts.jacobian(theta)
        se_shown = np.sqrt(np.clip(np.diag(jac @ vcov @ jac.T), 0, None))[q:]
        fixed = [observed.index(v) for v in fixed_x]
        se_shown[fixed] = np.nan
        rows = _rows(
            [
                (v, "~1", "", "", value, s)
                for v, value, s in zip(observed, shown, se_shown, strict=True)
            ]
            + [(f, "~1", "", "", 0.0, np.nan) for f in spec.measurement]
        )
        estimates = pd.concat([estimates, rows], ignore_index=True)
        measures = fiml_fit_measures(result, model, fixed=fixed)
        if robust:
            measures.update(
                robust_fit_measures(
                    RobustInputs(
                        x=used[observed].to_numpy(dtype=float),
                        clusters=codes,
                        fixed=fixed,
                        h1_mean=result.h1_means,
                        h1_cov=result.h1_cov,
                        mu=result.means,
                        sigma=model.calc_sigma()[0],
                        delta=moment_jacobian(Structure(model), result.params),
                        information=info,
                        meat=meat,
                        chisq=measures["chisq"],
                        df=measures["df"],
                        baseline_df=measures["baseline_df"],
                        fiml=True,
                    )
                )
            )
            model.update_matrices(result.params)
        fit = pd.DataFrame([{**measures, "estimator": "ML", "missing": "fiml"}]).reindex(
            columns=FIT_COLUMNS
        )
    elif missing == "listwise":
        intercepts = None
        used = values.dropna()
        # Counted in complete rows; estimation.missing: fiml would use every answer.
        check_respondents(name, len(used), len(spec.observed))
        codes = cluster_codes(data.loc[used.index, cluster]) if cluster is not None else None
        robust = se == "robust" or codes is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # semopy's default SLSQP tolerance stops about 1e-3 short of lavaan's estimates.
            model.fit(used, obj="MLW", solver="SLSQP", options={"ftol": 1e-12, "maxiter": 10000})
            theta = np.asarray(model.param_vals, dtype=float).copy()
            if robust:
                means = used[list(model.vars["observed"])].to_numpy(float).mean(axis=0)
                full, info, meat = sandwich(model, used, theta, means, codes)
                vcov = full[: len(theta), : len(theta)]
                observed = list(model.vars["observed"])
                fixed_means = [len(theta) + observed.index(v) for v in fixed_exogenous(model, spec)]
                free = np.setdiff1d(np.arange(len(full)), fixed_means)
                free_vcov = full[np.ix_(free, free)]
            elif information == "observed":
                # At the sample means the means and the covariance parameters are orthogonal.
                means = used[list(model.vars["observed"])].to_numpy(float).mean(axis=0)
                info = observed_information(model, used, theta, means)
                vcov = _inverse(info[: len(theta), : len(theta)])
            else:
                vcov = np.asarray(model.calc_fim(inverse=True)[1], dtype=float)
        columns = list(active)
        estimates = _estimates_table(model, spec, np.sqrt(np.clip(np.diag(vcov), 0, None)))
        fixed_x = fixed_exogenous(model, spec)
        fit = fit_measures(model, used, n_free=len(model.param_vals), fixed_x=fixed_x)
        if robust:
            observed = list(model.vars["observed"])
            x = used[observed].to_numpy(dtype=float)
            fixed = [observed.index(v) for v in fixed_x]
            p, k = len(observed), len(fixed)
            baseline_df = p * (p - 1) // 2 - k * (k - 1) // 2
            sample_cov = np.cov(x, rowvar=False, bias=True)  # divisor N, as lavaan's
            measures = robust_fit_measures(
                RobustInputs(
                    x=x,
                    clusters=codes,
                    fixed=fixed,
                    h1_mean=means,
                    h1_cov=sample_cov,
                    mu=means,
                    sigma=model.calc_sigma()[0],
                    delta=moment_jacobian(Structure(model), theta),
                    information=info,
                    meat=meat,
                    chisq=float(fit["chisq"].iloc[0]),
                    df=int(fit["df"].iloc[0]),
                    baseline_df=baseline_df,
                    fiml=False,
                )
            )
            model.update_matrices(theta)
            for column, value in measures.items():
                fit[column] = value
            if codes is not None:
                # lavaan's cluster = "..." adds a mean structure: the p - k free means count
                # in AIC and BIC, and SRMR includes their (zero) residuals.
                extra = p - k
                fit["aic"] += 2 * extra
                fit["bic"] += np.log(len(x)) * extra
                fit["srmr"] = fm.srmr(sample_cov, model.calc_sigma()[0], means, means)
    else:
        raise InputError(
            f"estimation.missing {missing!r} is not available", expected="fiml or listwise"
        )
    if robust:
        fit["estimator"] = "MLR"
        se = "robust"
    if codes is not None:
        fit["nclusters"] = int(codes.max()) + 1
        _check_clusters(name, free_vcov, int(codes.max()) + 1)
    estimates["std_all"] = standardized_all(estimates, model)
    row_columns = _row_columns(model, spec, estimates)
    if spec.definitions:
        estimates = pd.concat(
            [estimates, _defined_rows(spec, estimates, columns, theta, vcov)], ignore_index=True
        )
        row_columns += [None] * len(spec.definitions)
    estimates[STD_COLUMNS] = standardized_inference(
        model,
        spec,
        estimates,
        row_columns,
        columns,
        theta,
        vcov,
        reported=intercepts.reported if intercepts is not None else None,
    )
    return FittedModel(
        spec=spec,
        model=model,
        data=used,
        estimates=estimates,
        fit=fit,
        missing=missing,
        se=se,
        columns=columns,
        theta=theta,
        vcov=vcov,
        row_columns=row_columns,
        fiml=result,
        intercepts=intercepts,
        clusters=codes,
    )


def _check_clusters(name: str, vcov: np.ndarray, n_clusters: int) -> None:
    """Warn, as lavaan does, when the cluster-robust vcov is not positive definite
    (lcsurvey.sem.robust.cluster_vcov_problem). `vcov` holds lavaan's free parameters (with the
    means, without those of fixed regressors)."""
    problem = cluster_vcov_problem(vcov, n_clusters)
    if problem:
        warnings.warn(f"model {name!r}: {problem}", RuntimeWarning, stacklevel=3)


def _inverse(information: np.ndarray) -> np.ndarray:
    """The covariance matrix of the estimates; NaN where the information is singular."""
    try:
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return np.full_like(information, np.nan)


def _row_columns(model: semopy.Model, spec: ModelSpec, estimates: pd.DataFrame) -> list[str | None]:
    """The free parameter (semopy name, or variable~1 for a mean) each table row shows."""
    names = {key: param for param, key in parameter_keys(model, spec)}
    out = []
    for lhs, op, rhs, se in estimates[["lhs", "op", "rhs", "se"]].itertuples(index=False):
        if op == "~1":
            out.append(f"{lhs}~1" if np.isfinite(se) else None)
        else:
            out.append(names.get((lhs, op, rhs)))
    return out


def _defined_rows(
    spec: ModelSpec,
    estimates: pd.DataFrame,
    columns: list[str],
    theta: np.ndarray,
    vcov: np.ndarray,
) -> pd.DataFrame:
    """The := rows: estimate, delta-method se, z, p, Wald CI and std_all.

    std_all evaluates the expression on the standardised values of the labelled parameters
    (the first row of a shared label), as lavaan's standardizedSolution() does.
    """
    definitions = list(spec.definitions)
    est, se = delta_method(definitions, columns, theta, vcov)
    frame = _rows(
        [
            (d.name, ":=", d.expression, d.name, e, s)
            for d, e, s in zip(definitions, est, se, strict=True)
        ]
    )
    labelled = estimates.assign(label=estimates["label"].fillna(""))
    labelled = labelled[labelled["label"] != ""].drop_duplicates("label")
    std = dict(zip(labelled["label"], labelled["std_all"], strict=True))
    frame["std_all"] = [float(v) for v in evaluate_all(definitions, std).values()]
    return frame


def _rows(records: list[tuple]) -> pd.DataFrame:
    """Parameter rows (lhs, op, rhs, label, est, se) with z, p and the 95% CI (NaN se = fixed)."""
    rows = []
    for lhs, op, rhs, label, est, se in records:
        free = bool(np.isfinite(se) and se > 0)
        z = est / se if free else np.nan
        half = special.ndtri(0.975) * se if free else 0.0
        rows.append(
            {
                "lhs": lhs,
                "op": op,
                "rhs": rhs,
                "label": label,
                "est": float(est),
                "se": se if free else np.nan,
                "z": z,
                "pvalue": 2 * special.ndtr(-abs(z)) if free else np.nan,
                "ci_lower": est - half,
                "ci_upper": est + half,
                "std_all": np.nan,
                **dict.fromkeys(STD_COLUMNS, np.nan),
            }
        )
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


def _estimates_table(model: semopy.Model, spec: ModelSpec, se_free: np.ndarray) -> pd.DataFrame:
    """Every parameter (free and fixed) in lavaan's notation; se_free in param_vals order."""
    table = parameter_listing(model)
    active = free_parameters(model)
    se_of = dict(zip(active, se_free, strict=True))
    loadings = {(lat, ind) for lat, inds in spec.measurement.items() for ind in inds}
    records = []
    for param, rec in zip(table.index, table.to_dict("records"), strict=True):
        lval, op, rval = rec["lval"], rec["op"], rec["rval"]
        if op == "~" and (rval, lval) in loadings:
            lhs, op, rhs = rval, "=~", lval
        else:
            lhs, rhs = lval, rval
        records.append(
            (
                lhs,
                op,
                rhs,
                spec.labels.get((lhs, op, rhs), ""),
                float(rec["Estimate"]),
                se_of.get(param, np.nan),
            )
        )
    frame = _rows(records)
    order = {"=~": 0, "~": 1, "~~": 2}
    frame["_order"] = frame["op"].map(order)
    return frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


INTERVAL_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "ci_lower", "ci_upper"]
BOOTSTRAP_COLUMNS = [
    "boot_se",
    "boot_ci_lower",
    "boot_ci_upper",
    "bca_ci_lower",
    "bca_ci_upper",
    "mc_ci_lower",
    "mc_ci_upper",
]
BOOTSTRAP_SUMMARY_COLUMNS = boot.SUMMARY_COLUMNS


def bootstrap_estimates(
    fitted: FittedModel,
    n_draws: int,
    seed: int,
    *,
    workers: int = 1,
    max_n: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bootstrap and Monte Carlo 95% CIs for every free and defined parameter.

    Returns the intervals table (one row per row of the estimates table: INTERVAL_COLUMNS,
    where ci_lower and ci_upper are the Wald / delta-method CI, then BOOTSTRAP_COLUMNS) and a
    one-row summary (BOOTSTRAP_SUMMARY_COLUMNS: draws requested, converged and failed; the
    refit method; what was resampled, "rows" or "clusters", and the number of clusters).
    boot_se is the SD of the draws (lavaan's se with se = "bootstrap"); boot_ci_* the
    percentile CI (boot.ci.type = "perc"); bca_ci_* BCa with jackknife acceleration; mc_ci_*
    the Monte Carlo CI of defined parameters. n_draws = 0 leaves the new columns empty.

    max_n: above this many rows the bootstrap (and BCa's jackknife) is skipped: each draw
    refits the model on all rows, so its cost grows with n while the Monte Carlo CI (n_draws
    draws from the estimates' sampling distribution, Preacher & Selig 2012) costs the same at
    any n and is an accepted interval for indirect effects at large n. boot_se, boot_ci_* and
    bca_ci_* stay empty, mc_ci_* are filled and the summary's method says why, e.g.
    "none (monte carlo: n = 15346 above 5000)". None: always bootstrap.

    With fitted.clusters set (fit_model(..., cluster=...)) the draws resample whole clusters
    and BCa's acceleration comes from the leave-one-cluster-out jackknife; otherwise rows.
    See lcsurvey.sem.bootstrap for the refits and the seeding.
    """
    estimates = fitted.estimates[INTERVAL_COLUMNS].copy()
    for column in BOOTSTRAP_COLUMNS:
        estimates[column] = np.nan
    clusters = fitted.clusters
    resampling = "rows" if clusters is None else "clusters"
    n_clusters = None if clusters is None else int(clusters.max()) + 1
    if n_draws <= 0:
        summary = pd.DataFrame(
            [[0, 0, 0, "none", seed, 0, resampling, n_clusters]],
            columns=BOOTSTRAP_SUMMARY_COLUMNS,
        )
        return estimates, summary
    definitions = list(fitted.spec.definitions)
    columns = fitted.columns

    def with_defined(theta: np.ndarray) -> np.ndarray:
        shown = fitted.intercepts.reported(theta) if fitted.intercepts is not None else theta
        return np.hstack([shown, defined_values(definitions, columns, theta)])

    n = len(fitted.data)
    if max_n is not None and n > max_n:
        return _monte_carlo_only(
            fitted, estimates, with_defined, n_draws, seed, resampling, n_clusters, n, max_n
        )
    job = _bootstrap_job(fitted)
    values = boot.draws(job, n_draws, seed, workers=workers, clusters=clusters)
    jack = boot.jackknife(job, workers=workers, clusters=clusters)
    ok = np.isfinite(values).all(axis=1)
    estimate = with_defined(fitted.theta[None, :])[0]
    values = with_defined(values[ok])
    jack = with_defined(jack)
    se = values.std(axis=0, ddof=1) if len(values) > 1 else np.full(len(estimate), np.nan)
    lower, upper = boot.percentile_ci(values) if len(values) else (se, se)
    bca_lower, bca_upper = boot.bca_ci(values, estimate, jack) if len(values) else (se, se)
    mc = with_defined(boot.monte_carlo(fitted.theta, fitted.vcov, n_draws, seed))
    mc_lower, mc_upper = boot.percentile_ci(mc)
    rows = _interval_rows(fitted, estimates)
    for i, j in enumerate(rows):
        if j is None:
            continue
        estimates.loc[i, BOOTSTRAP_COLUMNS[:5]] = [
            se[j],
            lower[j],
            upper[j],
            bca_lower[j],
            bca_upper[j],
        ]
        if estimates.loc[i, "op"] == ":=":
            estimates.loc[i, BOOTSTRAP_COLUMNS[5:]] = [mc_lower[j], mc_upper[j]]
    summary = pd.DataFrame(
        [
            [
                n_draws,
                int(ok.sum()),
                int((~ok).sum()),
                job.method,
                seed,
                boot.CHUNK_SIZE,
                resampling,
                n_clusters,
            ]
        ],
        columns=BOOTSTRAP_SUMMARY_COLUMNS,
    )
    return estimates, summary


def _interval_rows(fitted: FittedModel, estimates: pd.DataFrame) -> list[int | None]:
    """For each row of the estimates table, its column in the draws (free parameters, then
    the defined ones), or None for a row without draws (a fixed parameter)."""
    columns, definitions = fitted.columns, list(fitted.spec.definitions)
    position = {name: i for i, name in enumerate(columns)}
    position.update({d.name: len(columns) + k for k, d in enumerate(definitions)})
    return [
        position.get(c) if c is not None else position.get(lhs) if op == ":=" else None
        for c, lhs, op in zip(fitted.row_columns, estimates["lhs"], estimates["op"], strict=True)
    ]


def _monte_carlo_only(
    fitted: FittedModel,
    estimates: pd.DataFrame,
    with_defined,
    n_draws: int,
    seed: int,
    resampling: str,
    n_clusters: int | None,
    n: int,
    max_n: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """bootstrap_estimates above max_n rows: the Monte Carlo CIs of the defined parameters,
    no bootstrap draws (the same Monte Carlo draws as with the bootstrap, so the interval
    does not depend on which side of max_n a wave falls)."""
    mc = with_defined(boot.monte_carlo(fitted.theta, fitted.vcov, n_draws, seed))
    mc_lower, mc_upper = boot.percentile_ci(mc)
    for i, j in enumerate(_interval_rows(fitted, estimates)):
        if j is not None and estimates.loc[i, "op"] == ":=":
            estimates.loc[i, BOOTSTRAP_COLUMNS[5:]] = [mc_lower[j], mc_upper[j]]
    method = f"none (monte carlo: n = {n} above {max_n})"
    summary = pd.DataFrame(
        [[0, 0, 0, method, seed, 0, resampling, n_clusters]],
        columns=BOOTSTRAP_SUMMARY_COLUMNS,
    )
    return estimates, summary


# Above this size (missingness patterns x observed variables cubed), scipy's BFGS refit per
# draw (FimlJob, MlJob) costs more than about 30 ms here, and the draws are refitted in
# batches by QuasiNewtonJob instead.
QUASI_NEWTON_ABOVE = 200_000


def _bootstrap_job(fitted: FittedModel):
    """How the draws are refitted: batched least squares when exact (a path model of observed
    variables), else full FIML or ML refits: one at a time with scipy for small models,
    a chunk at a time by quasi-Newton iterations for larger ones."""
    spec, model = fitted.spec, fitted.model
    observed = list(model.vars["observed"])
    x = fitted.data[observed].to_numpy(dtype=float)
    paths = _path_job(fitted, x, observed)
    if paths is not None:
        return paths
    patterns = len(np.unique(np.isfinite(x), axis=0))
    if patterns * len(observed) ** 3 > QUASI_NEWTON_ABOVE:
        return _quasi_newton_job(fitted)
    if fitted.missing == "fiml":
        return boot.FimlJob(
            syntax=spec.semopy_syntax,
            x=x,
            observed=observed,
            theta=fitted.theta,
            vcov=fitted.fiml.vcov,
            h1_cov=fitted.fiml.h1_cov,
        )
    return boot.MlJob(syntax=spec.semopy_syntax, x=x, observed=observed, theta=fitted.theta)


def _quasi_newton_job(fitted: FittedModel) -> boot.QuasiNewtonJob:
    """Batched quasi-Newton refits (FIML, or ML with free means on complete rows)."""
    observed = list(fitted.model.vars["observed"])
    x = fitted.data[observed].to_numpy(dtype=float)
    params = np.asarray(fitted.model.param_vals, dtype=float)
    means = fitted.theta[len(params) :] if fitted.missing == "fiml" else x.mean(axis=0)
    info = observed_information(fitted.model, fitted.data, params, means)
    # With complete rows the free means sit at the sample means and the covariance
    # parameters at the ML estimates: the same iterations give the listwise refits.
    return boot.QuasiNewtonJob(
        syntax=fitted.spec.semopy_syntax,
        x=x,
        observed=observed,
        theta=np.concatenate([params, means]),
        information=info,
        n_out=len(fitted.theta),
    )


def _path_job(fitted: FittedModel, x: np.ndarray, observed: list[str]) -> boot.PathJob | None:
    """A PathJob when the ML estimates are equation-wise least squares, else None.

    That holds for a recursive model of observed variables with complete rows, free
    regressions (no fixed values, no label shared between paths) and uncorrelated residuals.
    """
    spec = fitted.spec
    if spec.measurement or not np.isfinite(x).all():
        return None
    if re.search(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*\*", spec.semopy_syntax):
        return None
    if len(set(spec.labels.values())) != len(spec.labels):
        return None
    places = parameter_keys(fitted.model, spec)
    first = {}
    for param, key in places:
        first.setdefault(param, key)
    keys = [first[c] if c in first else (c[:-2], "~1", "") for c in fitted.columns]
    index = {v: i for i, v in enumerate(observed)}
    predictors: dict[int, list[int]] = {}
    for lhs, op, rhs in keys:
        if op == "~":
            predictors.setdefault(index[lhs], []).append(index[rhs])
    for lhs, op, rhs in keys:
        if op == "~~" and lhs != rhs and (index[lhs] in predictors or index[rhs] in predictors):
            return None
    order, done = [], set()
    while len(order) < len(predictors):  # topological order, or a cycle: no job
        ready = [
            d
            for d in predictors
            if d not in done and all(p not in predictors or p in done for p in predictors[d])
        ]
        if not ready:
            return None
        order += ready
        done.update(ready)
    equations = [(d, predictors[d]) for d in order]
    job = boot.PathJob(x=x, variables=observed, equations=equations, keys=keys)
    job.prepare()
    return job


def fit_measures(
    model: semopy.Model, data: pd.DataFrame, *, n_free: int, fixed_x: list[str] | None = None
) -> pd.DataFrame:
    """lavaan's fitMeasures() for an ML fit without mean structure (listwise data).

    Parameters
    ----------
    model : semopy.Model
        The fitted model.
    data : DataFrame
        The complete rows it was fitted to.
    n_free : int
        Free parameters.
    fixed_x : list of str, optional
        Observed exogenous regressors with moments fixed at the sample values (lavaan's default
        fixed.x = TRUE).

    Returns
    -------
    DataFrame
        One row, FIT_COLUMNS.

    Notes
    -----
    chisq = N F_ML with F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p and S the covariance
    matrix with divisor N; the baseline is the independence model (its chisq
    N (log|diag S| - log|S|)); CFI, TLI, RMSEA and its 90% CI, SRMR (covariances only), AIC and
    BIC by lcsurvey.sem.fit_measures. Fixed regressors count as lavaan counts them: their
    k(k+1)/2 moments leave the degrees of freedom, the baseline model keeps their covariances,
    and the log-likelihood is that of the other variables given them. lavaan: fitMeasures(fit)
    of sem(syntax, data) (missing = "listwise").
    """
    observed = list(model.vars["observed"])
    x = data[observed].to_numpy(float)
    n, p = x.shape
    s = np.cov(x, rowvar=False, bias=True)
    sigma = model.calc_sigma()[0]
    _, logdet_sigma = np.linalg.slogdet(sigma)
    _, logdet_s = np.linalg.slogdet(s)
    trace = np.trace(s @ np.linalg.inv(sigma))
    f_ml = logdet_sigma + trace - logdet_s - p
    fixed = [observed.index(v) for v in (fixed_x or [])]
    k = len(fixed)
    df = p * (p + 1) // 2 - k * (k + 1) // 2 - n_free
    chisq = n * f_ml if df != 0 else 0.0  # df 0: exact fit, only rounding noise is left
    # The independence model's discrepancy (its regressors' block saturated under fixed.x).
    base = np.diag(np.diag(s))
    base[np.ix_(fixed, fixed)] = s[np.ix_(fixed, fixed)]
    chisq_base = n * (np.linalg.slogdet(base)[1] - logdet_s)
    df_base = p * (p - 1) // 2 - k * (k - 1) // 2
    loglik = fm.normal_loglik(n, p, logdet_sigma, trace)
    if k:
        # lavaan's logl under fixed.x: the joint one minus the regressors' own (saturated).
        s_xx = s[np.ix_(fixed, fixed)]
        loglik -= fm.normal_loglik(n, k, np.linalg.slogdet(s_xx)[1], k)
    return pd.DataFrame(
        [
            {
                "ntotal": n,
                "estimator": "ML",
                "missing": "listwise",
                "chisq": chisq,
                "df": df,
                **fm.indices(chisq, df, chisq_base, df_base, n),
                "srmr": fm.srmr(s, sigma),
                "aic": fm.aic(loglik, n_free),
                "bic": fm.bic(loglik, n_free, n),
            }
        ],
        columns=FIT_COLUMNS,
    )


def _set_start(
    model: semopy.Model, spec: ModelSpec, start: Mapping[tuple[str, str, str], float]
) -> None:
    """Give semopy's parameters the starting values `start` has for them (semopy computes
    starting values only for parameters without one)."""
    for name, (lhs, op, rhs) in parameter_keys(model, spec):
        value = start.get((lhs, op, rhs), start.get((rhs, op, lhs)) if op == "~~" else None)
        if value is not None and np.isfinite(value):
            model.parameters[name].start = float(value)


def not_estimated_tables() -> dict[str, pd.DataFrame]:
    """The tables of a model job whose model was not estimated: estimates, fit, intervals,
    bootstrap and modindices with their columns and no row (the job's status table says why)."""
    from lcsurvey.sem.modindices import MODINDICES_COLUMNS

    return {
        "estimates": pd.DataFrame(columns=ESTIMATE_COLUMNS),
        "fit": pd.DataFrame(columns=FIT_COLUMNS),
        "intervals": pd.DataFrame(columns=INTERVAL_COLUMNS + BOOTSTRAP_COLUMNS),
        "bootstrap": pd.DataFrame(columns=BOOTSTRAP_SUMMARY_COLUMNS),
        "modindices": pd.DataFrame(columns=MODINDICES_COLUMNS),
    }
