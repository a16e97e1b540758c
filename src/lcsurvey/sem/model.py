"""Structural equation models: fit lavaan-syntax models with semopy, report them on lavaan's scale.

Parameter tables use lavaan's parameterEstimates() names (lhs, op, rhs, label, est, se, z,
pvalue, ci_lower, ci_upper, std_all) and the fit table lavaan's fitMeasures() names. Labels
work as in lavaan: two parameters with the same label are one parameter (semopy shares a
repeated name), and `name := expression` lines add defined parameters with delta-method
standard errors (lcsurvey.sem.defined); they are taken out of the syntax before semopy reads it. Fit
indices are computed here from the sample and model-implied covariance matrices with
lavaan's formulas (ML, likelihood = "normal"), since semopy lacks SRMR and scales some
indices differently.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import semopy
from scipy import special
from semopy.inspector import inspect_list

from lcsurvey.errors import InputError
from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem.defined import (
    defined_values,
    delta_method,
    evaluate_all,
)
from lcsurvey.sem.fiml import (
    FimlResult,
    expected_information,
    fiml_fit_measures,
    fit_fiml,
    observed_information,
    rmsea_ci,
    robust_vcov,
)
from lcsurvey.sem.syntax import ModelSpec, _is_number, parse_model  # noqa: F401

ESTIMATE_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower",
                    "ci_upper", "std_all", "std_all_se", "std_all_z", "std_all_pvalue",
                    "std_all_ci_lower", "std_all_ci_upper"]
# The standardised solution's inference (lavaan's standardizedSolution(): se, z, pvalue, CI).
STD_COLUMNS = ESTIMATE_COLUMNS[-5:]
FIT_COLUMNS = ["ntotal", "estimator", "missing", "chisq", "df", "pvalue", "cfi", "tli", "rmsea",
               "rmsea_ci_lower", "rmsea_ci_upper", "srmr", "aic", "bic"]


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


SE_TYPES = ("standard", "robust")
INFORMATION_TYPES = ("observed", "expected")


def fit_model(syntax: str, data: pd.DataFrame, *, name: str = "model",
              missing: str = "fiml", se: str = "standard",
              information: str | None = None) -> FittedModel:
    """Fit a model by maximum likelihood and tabulate it as lavaan would.

    missing = "fiml": full-information ML with free means (lavaan's missing = "ml"), every
    row with at least one answer counts, standard errors from the observed information.
    missing = "listwise": ML on the complete rows (lavaan's default), expected information.
    se = "robust": sandwich standard errors H^-1 B H^-1 (observed information H, B the sum of
    the casewise score products), as lavaan's estimator = "MLR"; with listwise data the model
    gets free means for this, as lavaan's MLR does.
    information = "observed" or "expected" chooses the information matrix of the standard
    errors (se = "standard") as lavaan's `information` argument; None takes lavaan's default
    (observed under FIML, expected under listwise). Expected information under FIML is
    lavaan's structured one: at the model-implied moments, given the missingness patterns.
    Defined parameters (:=) get delta-method standard errors from the same covariance matrix.
    Observed exogenous regressors (observed variables that only predict, fixed_exogenous) are
    lavaan's default fixed.x = TRUE: their variances, covariances and (under FIML) means are
    fixed at the sample values and count neither as free parameters nor among the moments, in
    df, npar, the log-likelihood and the baseline model. Under FIML, rows with a missing value
    in such a regressor are left out, with a warning, as lavaan does.
    Under FIML the "~1" rows are lavaan's intercepts: of an observed outcome of a regression,
    its mean minus the predicted part (see Intercepts); of an indicator, its mean minus the
    loadings times the factor means.
    """
    spec = parse_model(syntax, name=name)
    if se not in SE_TYPES:
        raise InputError(f"estimation.se {se!r} is not available", expected="standard or robust")
    if information not in (None, *INFORMATION_TYPES):
        raise InputError(f"estimation.information {information!r} is not available",
                         expected="observed or expected")
    absent = [v for v in spec.observed if v not in data.columns]
    if absent:
        raise InputError(f"model {name!r} uses variables that the data do not have: {absent}",
                         expected="item names from the codebook")
    values = data[spec.observed].astype(float)
    model = semopy.Model(spec.semopy_syntax)
    active = [k for k, v in model.parameters.items() if v.active]
    result = None
    if missing == "fiml":
        used = values[values.notna().any(axis=1)]
        fixed_x = fixed_exogenous(model, spec)
        gaps = used[fixed_x].isna().any(axis=1)
        if gaps.any():
            warnings.warn(f"model {name!r}: {int(gaps.sum())} rows with a missing value in the "
                          f"observed regressors {fixed_x} are left out; the regressors' moments "
                          "are fixed at the sample values (lavaan's fixed.x = TRUE). Give a "
                          "regressor a free variance (x ~~ x) to keep those rows.",
                          RuntimeWarning, stacklevel=2)
            used = used[~gaps]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fit_fiml(model, used)
        except ValueError as err:
            raise InputError(f"model {name!r} cannot be estimated: {err}") from None
        if not result.converged:
            raise InputError(f"model {name!r} did not converge under FIML "
                             f"({result.iterations} iterations)")
        q = len(result.params)
        observed = list(model.vars["observed"])
        columns = active + [f"{v}~1" for v in observed]
        theta = np.concatenate([result.params, result.means])
        if se == "robust":
            vcov = robust_vcov(model, used, result.params, result.means)
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
        rows = _rows([(v, "~1", "", "", value, s) for v, value, s in
                      zip(observed, shown, se_shown, strict=True)]
                     + [(f, "~1", "", "", 0.0, np.nan) for f in spec.measurement])
        estimates = pd.concat([estimates, rows], ignore_index=True)
        fit = pd.DataFrame([{**fiml_fit_measures(result, model, fixed=fixed), "estimator": "ML",
                             "missing": "fiml"}])[FIT_COLUMNS]
    elif missing == "listwise":
        intercepts = None
        used = values.dropna()
        if len(used) < len(spec.observed) + 1:
            raise InputError(
                f"model {name!r}: only {len(used)} complete cases for {len(spec.observed)} "
                "variables", expected="more complete cases than observed variables",
                hint="Use estimation.missing: fiml to use every answer",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # semopy's default SLSQP tolerance stops about 1e-3 short of lavaan's estimates.
            model.fit(used, obj="MLW", solver="SLSQP", options={"ftol": 1e-12, "maxiter": 10000})
            theta = np.asarray(model.param_vals, dtype=float).copy()
            if se == "robust":
                means = used[list(model.vars["observed"])].to_numpy(float).mean(axis=0)
                vcov = robust_vcov(model, used, theta, means)[:len(theta), :len(theta)]
            elif information == "observed":
                # At the sample means the means and the covariance parameters are orthogonal.
                means = used[list(model.vars["observed"])].to_numpy(float).mean(axis=0)
                info = observed_information(model, used, theta, means)
                vcov = _inverse(info[:len(theta), :len(theta)])
            else:
                vcov = np.asarray(model.calc_fim(inverse=True)[1], dtype=float)
        columns = list(active)
        estimates = _estimates_table(model, spec, np.sqrt(np.clip(np.diag(vcov), 0, None)))
        fit = fit_measures(model, used, n_free=len(model.param_vals),
                           fixed_x=fixed_exogenous(model, spec))
    else:
        raise InputError(f"estimation.missing {missing!r} is not available",
                         expected="fiml or listwise")
    if se == "robust":
        fit["estimator"] = "MLR"
    estimates["std_all"] = standardized_all(estimates, model)
    row_columns = _row_columns(model, spec, estimates)
    if spec.definitions:
        estimates = pd.concat([estimates, _defined_rows(spec, estimates, columns, theta, vcov)],
                              ignore_index=True)
        row_columns += [None] * len(spec.definitions)
    estimates[STD_COLUMNS] = standardized_inference(
        model, spec, estimates, row_columns, columns, theta, vcov,
        reported=intercepts.reported if intercepts is not None else None)
    return FittedModel(spec=spec, model=model, data=used, estimates=estimates, fit=fit,
                       missing=missing, se=se, columns=columns, theta=theta, vcov=vcov,
                       row_columns=row_columns, fiml=result, intercepts=intercepts)


class Intercepts:
    """lavaan's intercepts ("~1" rows) from the means of the observed variables.

    A FIML fit here has one free mean per observed variable: a saturated mean structure, as
    lavaan's free intercepts with the latent intercepts fixed at 0 are, but lavaan reports
    intercepts. In semopy's matrices, eta = (I - B)^-1 (alpha + zeta) holds the latent
    variables and the observed variables of the structural part, and mu = nu + Lambda E[eta]
    the means of the observed ones. An observed variable in eta has E[eta] = its mean, so with
    alpha = 0 for the latent variables, E[eta] is linear in the means: the latent rows solve
    ((I - B) E[eta])_latent = 0. The intercept of an observed variable in eta is then its
    alpha = ((I - B) E[eta])_v, and of any other observed variable (an indicator, or an outcome
    that semopy keeps in Lambda) its nu = mu_v - Lambda_v E[eta]. So the intercepts are
    A(params) mu; with no observed variable in eta, A = I and the intercepts are the means.
    theta below is (params, means), the order of FittedModel.theta under FIML.
    """

    def __init__(self, model: semopy.Model):
        self.model = model
        self.observed = list(model.vars["observed"])
        self.q = len(model.param_vals)
        position = {v: i for i, v in enumerate(self.observed)}
        eta = list(model.names_beta[0])
        self.in_eta = np.array([k for k, v in enumerate(eta) if v in position], dtype=int)
        self.latent = np.array([k for k, v in enumerate(eta) if v not in position], dtype=int)
        self.of_eta = np.array([position[eta[k]] for k in self.in_eta], dtype=int)
        lambda_rows = list(model.names_lambda[0])
        self.lambda_rows = np.array([lambda_rows.index(v) for v in self.observed], dtype=int)
        self.identity = len(self.in_eta) == 0
        self.params = np.array(model.param_vals, dtype=float)   # where the model is left

    def matrix(self, params: np.ndarray) -> np.ndarray:
        """A(params): intercepts = A @ means. Leaves the model's matrices at params; the
        public methods put them back at the estimates."""
        p = len(self.observed)
        if self.identity:
            return np.eye(p)
        self.model.update_matrices(params)
        beta, lamb = (np.asarray(mx, dtype=float) for mx in self.model.matrices[:2])
        i_b = np.eye(len(beta)) - beta
        expect = np.zeros((len(beta), p))                     # E[eta] = expect @ means
        expect[self.in_eta, self.of_eta] = 1.0
        if len(self.latent):
            lat, obs = self.latent, self.in_eta
            expect[lat] = -np.linalg.solve(i_b[np.ix_(lat, lat)], i_b[np.ix_(lat, obs)]
                                           @ expect[obs])
        out = np.eye(p) - lamb[self.lambda_rows] @ expect
        out[self.of_eta] = (i_b @ expect)[self.in_eta]
        return out

    def reported(self, thetas: np.ndarray) -> np.ndarray:
        """(params, intercepts) for each row of thetas = (params, means)."""
        thetas = np.asarray(thetas, dtype=float)
        if self.identity or not len(thetas):
            return thetas
        q = self.q
        out = thetas.copy()
        for row, theta in zip(out, thetas, strict=True):
            row[q:] = self.matrix(theta[:q]) @ theta[q:]
        self.model.update_matrices(self.params)
        return out

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d reported / d theta: central differences in params, A in the means."""
        theta = np.asarray(theta, dtype=float)
        k = len(theta)
        jac = np.eye(k)
        if self.identity:
            return jac
        q = self.q
        for j in range(q):
            h = 1e-6 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            jac[q:, j] = (self.matrix(up[:q]) @ theta[q:]
                          - self.matrix(down[:q]) @ theta[q:]) / (2 * h)
        jac[q:, q:] = self.matrix(theta[:q])
        self.model.update_matrices(self.params)
        return jac


def _inverse(information: np.ndarray) -> np.ndarray:
    """The covariance matrix of the estimates; NaN where the information is singular."""
    try:
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return np.full_like(information, np.nan)


def parameter_keys(model: semopy.Model, spec: ModelSpec) -> list[tuple[str, tuple[str, str, str]]]:
    """(semopy name, (lhs, op, rhs) in lavaan's notation) for every place of every free parameter.

    A shared label gives one name with several places. semopy keeps observed outcomes of
    regressions in its loading matrix, so a loading counts as =~ only when its factor is one
    of the model's latent variables.
    """
    out = []
    for param, value in model.parameters.items():
        if not value.active:
            continue
        for loc in value.locations:
            n_mx = next(i for i, mx in enumerate(model.matrices) if mx is loc.matrix)
            rows, cols = model.names[n_mx]
            lhs, rhs = rows[loc.indices[0]], cols[loc.indices[1]]
            if n_mx == 1 and rhs in spec.measurement:
                out.append((param, (rhs, "=~", lhs)))
            elif n_mx <= 1:
                out.append((param, (lhs, "~", rhs)))
            else:
                out.append((param, (lhs, "~~", rhs)))
                out.append((param, (rhs, "~~", lhs)))
    return out


def _row_columns(model: semopy.Model, spec: ModelSpec,
                 estimates: pd.DataFrame) -> list[str | None]:
    """The free parameter (semopy name, or variable~1 for a mean) each table row shows."""
    names = {key: param for param, key in parameter_keys(model, spec)}
    out = []
    for lhs, op, rhs, se in estimates[["lhs", "op", "rhs", "se"]].itertuples(index=False):
        if op == "~1":
            out.append(f"{lhs}~1" if np.isfinite(se) else None)
        else:
            out.append(names.get((lhs, op, rhs)))
    return out


def _defined_rows(spec: ModelSpec, estimates: pd.DataFrame, columns: list[str],
                  theta: np.ndarray, vcov: np.ndarray) -> pd.DataFrame:
    """The := rows: estimate, delta-method se, z, p, Wald CI and std_all.

    std_all evaluates the expression on the standardised values of the labelled parameters
    (the first row of a shared label), as lavaan's standardizedSolution() does.
    """
    definitions = list(spec.definitions)
    est, se = delta_method(definitions, columns, theta, vcov)
    frame = _rows([(d.name, ":=", d.expression, d.name, e, s)
                   for d, e, s in zip(definitions, est, se, strict=True)])
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
        rows.append({
            "lhs": lhs, "op": op, "rhs": rhs, "label": label, "est": float(est),
            "se": se if free else np.nan, "z": z,
            "pvalue": 2 * special.ndtr(-abs(z)) if free else np.nan,
            "ci_lower": est - half, "ci_upper": est + half, "std_all": np.nan,
            **dict.fromkeys(STD_COLUMNS, np.nan),
        })
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


def _estimates_table(model: semopy.Model, spec: ModelSpec, se_free: np.ndarray) -> pd.DataFrame:
    """Every parameter (free and fixed) in lavaan's notation; se_free in param_vals order."""
    table = inspect_list(model, information=None, index_names=True)
    active = [k for k, v in model.parameters.items() if v.active]
    se_of = dict(zip(active, se_free, strict=True))
    loadings = {(lat, ind) for lat, inds in spec.measurement.items() for ind in inds}
    records = []
    for param, rec in zip(table.index, table.to_dict("records"), strict=True):
        lval, op, rval = rec["lval"], rec["op"], rec["rval"]
        if op == "~" and (rval, lval) in loadings:
            lhs, op, rhs = rval, "=~", lval
        else:
            lhs, rhs = lval, rval
        records.append((lhs, op, rhs, spec.labels.get((lhs, op, rhs), ""),
                        float(rec["Estimate"]), se_of.get(param, np.nan)))
    frame = _rows(records)
    order = {"=~": 0, "~": 1, "~~": 2}
    frame["_order"] = frame["op"].map(order)
    return frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


INTERVAL_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "ci_lower", "ci_upper"]
BOOTSTRAP_COLUMNS = ["boot_se", "boot_ci_lower", "boot_ci_upper", "bca_ci_lower", "bca_ci_upper",
                     "mc_ci_lower", "mc_ci_upper"]
BOOTSTRAP_SUMMARY_COLUMNS = ["draws_requested", "draws_ok", "draws_failed", "method", "seed",
                             "chunk_size"]


def bootstrap_estimates(fitted: FittedModel, n_draws: int, seed: int, *,
                        workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bootstrap and Monte Carlo 95% CIs for every free and defined parameter.

    Returns the intervals table (one row per row of the estimates table: INTERVAL_COLUMNS,
    where ci_lower and ci_upper are the Wald / delta-method CI, then BOOTSTRAP_COLUMNS) and a
    one-row summary (draws requested, converged and failed; the refit method). boot_se is the SD of the draws (lavaan's se with
    se = "bootstrap"); boot_ci_* the percentile CI (boot.ci.type = "perc"); bca_ci_* BCa with
    jackknife acceleration; mc_ci_* the Monte Carlo CI of defined parameters. n_draws = 0
    leaves the new columns empty. See lcsurvey.sem.bootstrap for the refits and the seeding.
    """
    estimates = fitted.estimates[INTERVAL_COLUMNS].copy()
    for column in BOOTSTRAP_COLUMNS:
        estimates[column] = np.nan
    if n_draws <= 0:
        summary = pd.DataFrame([[0, 0, 0, "none", seed, 0]], columns=BOOTSTRAP_SUMMARY_COLUMNS)
        return estimates, summary
    job = _bootstrap_job(fitted)
    values = boot.draws(job, n_draws, seed, workers=workers)
    jack = boot.jackknife(job, workers=workers)
    ok = np.isfinite(values).all(axis=1)
    definitions = list(fitted.spec.definitions)
    columns = fitted.columns

    def with_defined(theta: np.ndarray) -> np.ndarray:
        shown = fitted.intercepts.reported(theta) if fitted.intercepts is not None else theta
        return np.hstack([shown, defined_values(definitions, columns, theta)])

    estimate = with_defined(fitted.theta[None, :])[0]
    values = with_defined(values[ok])
    jack = with_defined(jack)
    se = values.std(axis=0, ddof=1) if len(values) > 1 else np.full(len(estimate), np.nan)
    lower, upper = boot.percentile_ci(values) if len(values) else (se, se)
    bca_lower, bca_upper = boot.bca_ci(values, estimate, jack) if len(values) else (se, se)
    mc = with_defined(boot.monte_carlo(fitted.theta, fitted.vcov, n_draws, seed))
    mc_lower, mc_upper = boot.percentile_ci(mc)
    position = {name: i for i, name in enumerate(columns)}
    position.update({d.name: len(columns) + k for k, d in enumerate(definitions)})
    rows = [position.get(c) if c is not None else position.get(lhs) if op == ":=" else None
            for c, lhs, op in zip(fitted.row_columns, estimates["lhs"], estimates["op"],
                                  strict=True)]
    for i, j in enumerate(rows):
        if j is None:
            continue
        estimates.loc[i, BOOTSTRAP_COLUMNS[:5]] = [se[j], lower[j], upper[j], bca_lower[j],
                                                   bca_upper[j]]
        if estimates.loc[i, "op"] == ":=":
            estimates.loc[i, BOOTSTRAP_COLUMNS[5:]] = [mc_lower[j], mc_upper[j]]
    summary = pd.DataFrame([[n_draws, int(ok.sum()), int((~ok).sum()), job.method, seed,
                             boot.CHUNK_SIZE]], columns=BOOTSTRAP_SUMMARY_COLUMNS)
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
        params = np.asarray(fitted.model.param_vals, dtype=float)
        means = fitted.theta[len(params):] if fitted.missing == "fiml" else x.mean(axis=0)
        info = observed_information(model, fitted.data, params, means)
        # With complete rows the free means sit at the sample means and the covariance
        # parameters at the ML estimates: the same iterations give the listwise refits.
        return boot.QuasiNewtonJob(syntax=spec.semopy_syntax, x=x, observed=observed,
                             theta=np.concatenate([params, means]), information=info,
                             n_out=len(fitted.theta))
    if fitted.missing == "fiml":
        return boot.FimlJob(syntax=spec.semopy_syntax, x=x, observed=observed,
                            theta=fitted.theta, vcov=fitted.fiml.vcov,
                            h1_cov=fitted.fiml.h1_cov)
    return boot.MlJob(syntax=spec.semopy_syntax, x=x, observed=observed, theta=fitted.theta)


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
    while len(order) < len(predictors):          # topological order, or a cycle: no job
        ready = [d for d in predictors if d not in done and all(
            p not in predictors or p in done for p in predictors[d])]
        if not ready:
            return None
        order += ready
        done.update(ready)
    equations = [(d, predictors[d]) for d in order]
    job = boot.PathJob(x=x, variables=observed, equations=equations, keys=keys)
    job.prepare()
    return job


def standardized_all(estimates: pd.DataFrame, model: semopy.Model) -> pd.Series:
    """lavaan's std.all: every variable scaled to unit model-implied variance.

    Loadings and regressions are multiplied by sd(rhs or factor) / sd(lhs or indicator);
    variances are divided by the total variance; covariances between two residuals (or two
    factors) are divided by the product of their own standard deviations, i.e. reported as a
    correlation of residuals, as lavaan does. Uses the model's current matrices.
    """
    standardize = _standardizer(estimates, model)
    return pd.Series(standardize(estimates["est"].to_numpy(dtype=float)), index=estimates.index,
                     dtype=float)


def _standardizer(estimates: pd.DataFrame, model: semopy.Model):
    """std_all of the rows of `estimates` as a function of their est values (an array).

    The total variances come from the model's matrices at the time of the call.
    """
    names = list(model.names_lambda[0]) + list(model.names_beta[0])
    where = {v: i for i, v in enumerate(names)}
    lhs = np.array([where[v] for v in estimates["lhs"]])
    ops = estimates["op"].to_numpy()
    rhs = np.array([where.get(v, -1) for v in estimates["rhs"].fillna("")])
    variance_row = {}
    for i, (a, op, b) in enumerate(zip(estimates["lhs"], ops, estimates["rhs"], strict=True)):
        if op == "~~" and a == b:
            variance_row.setdefault(a, i)
    own_lhs = np.array([variance_row.get(v, -1) for v in estimates["lhs"]])
    own_rhs = np.array([variance_row.get(v, -1) for v in estimates["rhs"].fillna("")])
    mean = ops == "~1"
    loading = ops == "=~"
    regression = ops == "~"
    variance = (ops == "~~") & (lhs == rhs)
    covariance = (ops == "~~") & (lhs != rhs) & (own_lhs >= 0) & (own_rhs >= 0)

    def standardize(est: np.ndarray) -> np.ndarray:
        sigma, (_, c) = model.calc_sigma()
        latent_cov = c @ model.matrices[2] @ c.T
        total = np.concatenate([np.diag(sigma), np.diag(latent_cov)])
        out = np.full(len(est), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[mean] = est[mean] / np.sqrt(total[lhs[mean]])
            out[loading] = est[loading] * np.sqrt(total[lhs[loading]] / total[rhs[loading]])
            out[regression] = est[regression] * np.sqrt(total[rhs[regression]]
                                                        / total[lhs[regression]])
            out[variance] = est[variance] / total[lhs[variance]]
            out[covariance] = est[covariance] / np.sqrt(est[own_lhs[covariance]]
                                                         * est[own_rhs[covariance]])
        return out

    return standardize


def standardized_inference(model: semopy.Model, spec: ModelSpec, estimates: pd.DataFrame,
                           row_columns: list[str | None], columns: list[str], theta: np.ndarray,
                           vcov: np.ndarray, reported=None) -> pd.DataFrame:
    """Standard errors, z, p and 95% CIs of std_all, as lavaan's standardizedSolution().

    Delta method: std_all (every row, the := rows evaluated on the standardised labelled
    parameters) is a function of the free parameters theta; its Jacobian by central
    differences gives the covariance J V J' with V the model's vcov (robust for MLR). A row
    whose standardised value does not move with theta (a fixed latent variance or mean) gets
    se 0 and no z or p, as in lavaan. reported(thetas) maps theta to the values the rows show
    (Intercepts.reported under FIML); None: theta itself.
    """
    base = estimates[estimates["op"] != ":="]
    est = base["est"].to_numpy(dtype=float)
    rows = np.flatnonzero([c is not None for c in row_columns[:len(base)]])
    position = {name: i for i, name in enumerate(columns)}
    take = np.array([position[row_columns[i]] for i in rows], dtype=int)
    q = len(model.param_vals)
    definitions = list(spec.definitions)
    labelled = base.assign(label=base["label"].fillna(""))
    labelled = labelled[labelled["label"] != ""].drop_duplicates("label")
    label_rows = [base.index.get_loc(i) for i in labelled.index]
    label_names = list(labelled["label"])
    standardize = _standardizer(base, model)

    def standardized(point: np.ndarray) -> np.ndarray:
        values = est.copy()
        values[rows] = (reported(point[None])[0] if reported is not None else point)[take]
        model.update_matrices(point[:q])
        std = standardize(values)
        if not definitions:
            return std
        labels = dict(zip(label_names, std[label_rows], strict=True))
        extra = [float(v) for v in evaluate_all(definitions, labels).values()]
        return np.concatenate([std, extra])

    theta = np.asarray(theta, dtype=float)
    center = standardized(theta)
    jac = np.empty((len(center), len(theta)))
    for j in range(len(theta)):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        jac[:, j] = (standardized(up) - standardized(down)) / (2 * h)
    model.update_matrices(theta[:q])
    cov = jac @ vcov @ jac.T
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    se = np.where(se > 1e-9 * np.maximum(1.0, np.abs(center)), se, 0.0)
    std = estimates["std_all"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, std / se, np.nan)
    half = special.ndtri(0.975) * se
    return pd.DataFrame({"std_all_se": se, "std_all_z": z,
                         "std_all_pvalue": 2 * special.ndtr(-np.abs(z)),
                         "std_all_ci_lower": std - half, "std_all_ci_upper": std + half},
                        index=estimates.index)


def fixed_exogenous(model: semopy.Model, spec: ModelSpec) -> list[str]:
    """Observed exogenous regressors whose variances and covariances semopy fixes at their
    sample values (lavaan's fixed.x = TRUE): observed variables that only ever predict, with
    no free variance of their own in the model."""
    free = {key for _, key in parameter_keys(model, spec)}
    return [v for v in model.vars["observed"] if v in model.vars["exogenous"]
            and (v, "~~", v) not in free]


def fit_measures(model: semopy.Model, data: pd.DataFrame, *, n_free: int,
                 fixed_x: list[str] | None = None) -> pd.DataFrame:
    """lavaan's fitMeasures() for an ML fit without mean structure (listwise data).

    chisq = N F_ML with F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p and S the covariance
    matrix with divisor N; baseline = the independence model; CFI, TLI, RMSEA (90% CI by the
    noncentral chi-square) use N; SRMR is Bentler's (residuals scaled by the sample SDs, lower
    triangle with diagonal); AIC/BIC from the log-likelihood with the free parameters.
    Observed exogenous regressors with moments fixed at the sample values (`fixed_x`, lavaan's
    default fixed.x = TRUE) count as lavaan counts them: their k(k+1)/2 moments leave the
    degrees of freedom, the baseline model keeps their covariances, and the log-likelihood is
    that of the other variables given them.
    """
    observed = list(model.vars["observed"])
    x = data[observed].to_numpy(float)
    n, p = x.shape
    s = np.cov(x, rowvar=False, bias=True)
    sigma = model.calc_sigma()[0]
    _, logdet_sigma = np.linalg.slogdet(sigma)
    _, logdet_s = np.linalg.slogdet(s)
    f_ml = logdet_sigma + np.trace(s @ np.linalg.inv(sigma)) - logdet_s - p
    fixed = [observed.index(v) for v in (fixed_x or [])]
    k = len(fixed)
    df = p * (p + 1) // 2 - k * (k + 1) // 2 - n_free
    chisq = n * f_ml if df != 0 else 0.0  # df 0: exact fit, only rounding noise is left
    base = np.diag(np.diag(s))
    base[np.ix_(fixed, fixed)] = s[np.ix_(fixed, fixed)]
    chisq_base = n * (np.linalg.slogdet(base)[1] - logdet_s)
    df_base = p * (p - 1) // 2 - k * (k - 1) // 2
    cfi_den = max(chisq - df, chisq_base - df_base, 0.0)
    cfi = 1 - max(chisq - df, 0.0) / cfi_den if cfi_den > 0 else 1.0
    tli = ((chisq_base / df_base) - (chisq / df)) / ((chisq_base / df_base) - 1) if df > 0 else 1.0
    rmsea = np.sqrt(max(chisq - df, 0.0) / (df * n)) if df > 0 else 0.0
    lower, upper = rmsea_ci(chisq, df, n)
    scale = 1 / np.sqrt(np.diag(s))
    resid = (s - sigma) * np.outer(scale, scale)
    srmr = np.sqrt(np.mean(resid[np.tril_indices(p)] ** 2))
    loglik = -n / 2 * (p * np.log(2 * np.pi) + logdet_sigma + np.trace(s @ np.linalg.inv(sigma)))
    if k:
        # lavaan's logl under fixed.x: the joint one minus the regressors' own (saturated).
        s_xx = s[np.ix_(fixed, fixed)]
        loglik += n / 2 * (k * np.log(2 * np.pi) + np.linalg.slogdet(s_xx)[1] + k)
    return pd.DataFrame([{
        "ntotal": n, "estimator": "ML", "missing": "listwise",
        "chisq": chisq, "df": df, "pvalue": special.chdtrc(df, chisq) if df > 0 else np.nan,
        "cfi": cfi, "tli": tli, "rmsea": rmsea, "rmsea_ci_lower": lower, "rmsea_ci_upper": upper,
        "srmr": srmr, "aic": -2 * loglik + 2 * n_free, "bic": -2 * loglik + np.log(n) * n_free,
    }], columns=FIT_COLUMNS)
