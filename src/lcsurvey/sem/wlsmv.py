"""Single-group structural equation models of ordinal items by WLSMV or ULSMV, as lavaan 0.6.14.

``sem(model, ordered = TRUE, estimator = "WLSMV")`` with lavaan's defaults: the delta
parameterisation (latent responses standardised, residual variances ``1 - communality``; theta
as an option), thresholds free (so they equal the sample thresholds), diagonally weighted least
squares on the polychoric matrix (unweighted for ULSMV), robust (sandwich) standard errors and
the mean-and-variance adjusted ("scaled-shifted") test, CFI/TLI/RMSEA plain and scaled, and
lavaan's SRMR for categorical data. The model's parameter table and implied correlations come
from lcsurvey.sem.ordinal_model (factor lines, regressions among factors, covariances,
labels, fixed values, observed covariates); ``:=`` lines get delta-method standard errors. Missing values are
dropped listwise, or used pairwise as lavaan's ``missing = "pairwise"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.conditional_polychoric import ConditionalPolychoric, conditional_polychoric
from lcsurvey.sem.defined import delta_method, evaluate_all
from lcsurvey.sem.normal import chi2_sf
from lcsurvey.sem.ordinal_model import BETA, GAMMA, LAMBDA, PSI, THETA, OrdinalModel
from lcsurvey.sem.polychoric import PolychoricResult, pair_index, polychoric
from lcsurvey.sem.syntax import parse_model


@dataclass(frozen=True)
class WlsmvFit:
    """Estimates and the fit of a WLSMV (or ULSMV) model of ordinal items.

    Attributes
    ----------
    estimates : pandas.DataFrame
        lavaan's ``parameterEstimates(fit, standardized = TRUE)``: ``lhs, op, rhs, label, est,
        se, std_all`` with ``=~``, ``~``, ``|`` (``item | t1``), ``~~``, ``~*~``, ``~1`` and
        ``:=`` rows; fixed parameters have se 0.
    fit : dict of str to float
        ``chisq, df, pvalue, chisq_scaled, df_scaled, pvalue_scaled, chisq_scaling_factor,
        chisq_shift, baseline_chisq, baseline_df, baseline_chisq_scaled, cfi, tli, rmsea,
        cfi_scaled, tli_scaled, rmsea_scaled, srmr`` (pvalue NaN under ULSMV, as lavaan).
    polychoric : PolychoricResult or ConditionalPolychoric
        The sample statistics the model was fitted to (``n``: the rows used).
    """

    estimates: pd.DataFrame
    fit: dict[str, float]
    polychoric: PolychoricResult | ConditionalPolychoric


def _gauss_newton(resid, jac, theta: np.ndarray) -> np.ndarray:
    """Minimise the sum of squared residuals by Gauss-Newton steps with step halving."""
    current = float(np.sum(resid(theta) ** 2))
    for _ in range(500):
        # Normal equations: J'J is only parameters x parameters, so the step costs little
        # even with thousands of correlations (least squares on J itself is far slower).
        j = jac(theta)
        step = np.linalg.lstsq(j.T @ j, -(j.T @ resid(theta)), rcond=None)[0]
        for _ in range(60):
            trial = theta + step
            value = float(np.sum(resid(trial) ** 2))
            if value <= current:
                break
            step = step / 2.0
        else:
            break
        done = np.max(np.abs(trial - theta)) < 1e-11
        theta, current = trial, value
        if done:
            break
    return theta


def _scaled_shifted(stat: float, df: int, ugamma: np.ndarray) -> tuple[float, float, float]:
    """lavaan's scaled-shifted statistic: ``a * T + b`` with ``a = sqrt(df / tr(UG^2))``."""
    tr1 = float(np.trace(ugamma))
    tr2 = float(np.sum(ugamma * ugamma.T))
    a = np.sqrt(df / tr2)
    shift = df - a * tr1
    return a * stat + shift, 1.0 / a, shift


ESTIMATORS = ("wlsmv", "ulsmv")
PARAMETERIZATIONS = ("delta", "theta")
MISSING = ("listwise", "pairwise")


def fit_wlsmv_syntax(
    data: pd.DataFrame,
    syntax: str,
    *,
    name: str = "model",
    estimator: str = "wlsmv",
    parameterization: str = "delta",
    missing: str = "listwise",
) -> WlsmvFit:
    """Fit a single-group SEM of ordinal items, written in lavaan syntax, as lavaan 0.6.14.

    ``sem(model, ordered = TRUE, estimator = "WLSMV")`` (or ``"ULSMV"``): factor lines,
    regressions among factors and of factors on observed covariates (``f ~ age``: an observed
    variable that only predicts factors; lavaan's ``conditional.x``, see
    lcsurvey.sem.conditional_polychoric), covariances between factors or between item
    residuals, labels (shared labels make parameters equal), fixed values, ``NA*`` to free a
    first loading, and ``:=`` lines with delta-method standard errors. A line lavaan reads but
    this estimator does not fit (an item in a regression, intercepts, thresholds,
    constraints) is refused with a message naming the line, rather than fitted as a
    different model.

    Parameters
    ----------
    data : pandas.DataFrame
        Category numbers (1..K) of the items, one column per item; other columns are ignored.
    syntax : str
        The model in lavaan syntax.
    name : str
        Model name, for messages.
    estimator : {"wlsmv", "ulsmv"}
        (any case) Diagonally weighted (lavaan's WLSMV) or unweighted (ULSMV) least squares; both with
        robust standard errors and the scaled-shifted test.
    parameterization : {"delta", "theta"}
        lavaan's ``parameterization``: latent responses of unit variance (delta) or item
        residual variances of one (theta).
    missing : {"listwise", "pairwise"}
        lavaan's ``missing``: complete rows only, or thresholds from each item's answers and
        polychoric correlations from each pair's.

    Returns
    -------
    WlsmvFit
    """
    # lavaan's spelling ("WLSMV", "ULSMV") is accepted as well.
    estimator, parameterization, missing = (
        str(v).lower() for v in (estimator, parameterization, missing)
    )
    for option, value, allowed in (
        ("estimator", estimator, ESTIMATORS),
        ("parameterization", parameterization, PARAMETERIZATIONS),
        ("missing", missing, MISSING),
    ):
        if value not in allowed:
            raise InputError(
                f"model {name}: {option} {value!r} is not available for ordinal items",
                value=value,
                expected=" or ".join(allowed),
            )
    spec = parse_model(syntax, name=name)
    latents = set(spec.measurement)
    # An observed variable that only ever predicts a factor (f ~ x) is a covariate, as
    # lavaan's exogenous ov.x; every other observed variable is an ordinal item.
    placed = [
        (v, rel.op == "~" and v == rel.rhs) for rel in spec.relations for v in (rel.lhs, rel.rhs)
    ]
    observed = list(dict.fromkeys(v for v, _ in placed if v not in latents))
    covariates = [v for v in observed if all(x for u, x in placed if u == v)]
    items = [v for v in observed if v not in covariates]
    predictors = {r.rhs for r in spec.relations if r.op == "~" and r.lhs in latents}
    for rel in spec.relations:
        if rel.op == "~~" and (rel.lhs in predictors or rel.rhs in predictors):
            raise InputError(
                f"model {name}: the ordinal (WLSMV) estimator does not fit the line "
                f"'{rel.statement}': an observed predictor of a factor is a covariate whose "
                "variances and covariances are fixed at the sample's (lavaan's fixed.x)",
                value=rel.statement,
                expected="no ~~ line on a covariate",
                hint="drop the line; the covariates' covariances are taken from the data",
            )
    absent = [i for i in observed if i not in data.columns]
    if absent:
        raise InputError(
            f"model {name} names items that are not in the data: {', '.join(absent)}",
            expected="every item of the model as a column of the data",
        )
    model = OrdinalModel(spec, items, parameterization, name=name, covariates=covariates)
    if covariates:
        for v in covariates:
            if not pd.api.types.is_numeric_dtype(data[v]):
                raise InputError(
                    f"model {name}: covariate {v} is not numeric",
                    column=v,
                    value=str(data[v].dropna().iloc[0]) if data[v].notna().any() else "",
                    expected="numbers (a continuous covariate, or 0/1 for two groups)",
                )
        pc = conditional_polychoric(
            data[items].to_numpy(dtype=float),
            data[covariates].to_numpy(dtype=float),
            items,
            covariates,
            missing=missing,
        )
    else:
        pc = polychoric(data[items].to_numpy(dtype=float), items, missing=missing)
    return _fit(model, spec, pc, estimator, name)


def fit_wlsmv(
    data: pd.DataFrame, measurement: dict[str, list[str]], *, name: str = "model"
) -> WlsmvFit:
    """Fit a CFA of ordinal items by WLSMV as lavaan 0.6.14.

    Parameters
    ----------
    data : pandas.DataFrame
        Category numbers (1..K) of the items, one column per item; other columns are ignored.
    measurement : dict of str to list of str
        Factor -> its items (the model's ``=~`` lines, e.g. ``ModelSpec.measurement``).
    name : str
        Model name, for messages.

    Returns
    -------
    WlsmvFit
    """
    syntax = "\n".join(f"{f} =~ {' + '.join(items)}" for f, items in measurement.items())
    return fit_wlsmv_syntax(data, syntax, name=name)


def _fit(model: OrdinalModel, spec, pc: PolychoricResult, estimator: str, name: str) -> WlsmvFit:
    """DWLS (or ULS) estimates, robust SEs, the scaled-shifted test and the fit measures."""
    p = len(model.items)
    rows, cols = pair_index(p)
    r = pc.correlation[rows, cols]
    nth = sum(len(t) for t in pc.thresholds)
    # With covariates the statistics are (thresholds, slopes, residual correlations); the
    # slopes come column by column (lavaan's vec).
    slopes = getattr(pc, "slopes", np.zeros((p, 0)))
    sample = np.concatenate([slopes.T.ravel(), r])
    nsl = slopes.size
    gamma = pc.nacov
    w = 1.0 / np.diag(gamma) if estimator == "wlsmv" else np.ones(len(gamma))
    w_str = w[nth:]
    w_cor = w[nth + nsl :]
    n = pc.n
    df = len(sample) - model.npar
    if df < 0:
        raise InputError(
            f"model {name} has {model.npar} free parameters besides the thresholds but only "
            f"{len(sample)} sample statistics to fit: it is not identified",
            expected="fewer free parameters (fix loadings or drop covariances)",
        )

    def implied(theta: np.ndarray) -> np.ndarray:
        cor = model.correlations(theta, rows, cols)
        return np.concatenate([model.scaled_slopes(theta).T.ravel(), cor]) if nsl else cor

    def jacobian(theta: np.ndarray) -> np.ndarray:
        cor = model.correlation_jacobian(theta, rows, cols)
        return np.vstack([model.scaled_slope_jacobian(theta), cor]) if nsl else cor

    def resid(theta: np.ndarray) -> np.ndarray:
        return np.sqrt(w_str) * (sample - implied(theta))

    def jac(theta: np.ndarray) -> np.ndarray:
        return -np.sqrt(w_str)[:, None] * jacobian(theta)

    theta = _gauss_newton(resid, jac, model.start(pc.correlation))
    _check_solution(model, jac(theta), resid(theta), name)
    # lavaan counts N - 1 for the test statistic and the sandwich of (D)WLS with ordered
    # items, while Gamma itself is the N-based asymptotic covariance.
    stat = (n - 1) * float(np.sum(resid(theta) ** 2))

    # Delta: d(thresholds, correlations) / d(thresholds, structural parameters). Under the
    # delta parameterisation the thresholds are their own model; under theta the standardised
    # thresholds are tau / sqrt(diag Sigma*).
    ntot = nth + len(sample)
    delta = np.zeros((ntot, nth + model.npar))
    delta[nth:, nth:] = jacobian(theta)
    sigma = model.sigma(theta)
    sd = np.sqrt(np.diag(sigma))
    th_item = np.concatenate([np.full(len(t), j) for j, t in enumerate(pc.thresholds)])
    th_item = th_item.astype(int)
    th_std = np.concatenate(pc.thresholds)
    if model.parameterization == "theta":
        ddiag = model.diagonal_jacobian(theta)
        delta[:nth, :nth] = np.diag(1.0 / sd[th_item])
        delta[:nth, nth:] = -(th_std / (2.0 * sd[th_item] ** 2))[:, None] * ddiag[th_item]
    else:
        delta[:nth, :nth] = np.eye(nth)
    wd = w[:, None] * delta
    bread = np.linalg.inv(delta.T @ wd)
    vcov = bread @ (wd.T @ gamma @ wd) @ bread / (n - 1)
    u = np.diag(w) - wd @ bread @ wd.T
    chisq_scaled, scaling, shift = _scaled_shifted(stat, df, u @ gamma)

    # Baseline: all correlations zero, thresholds (and slopes) free.
    base_stat = (n - 1) * float(np.sum(w_cor * r * r))
    base_df = len(r)
    u_base = np.diag(np.concatenate([np.zeros(nth + nsl), w_cor]))
    base_scaled, _, _ = _scaled_shifted(base_stat, base_df, u_base @ gamma)

    fit = {
        "chisq": stat,
        "df": float(df),
        # ULS gives no chi-square distributed statistic: lavaan reports no p-value for it.
        "pvalue": chi2_sf(stat, df) if estimator == "wlsmv" else np.nan,
        "chisq_scaled": chisq_scaled,
        "df_scaled": float(df),
        "pvalue_scaled": chi2_sf(chisq_scaled, df),
        "chisq_scaling_factor": scaling,
        "chisq_shift": shift,
        "baseline_chisq": base_stat,
        "baseline_df": float(base_df),
        "baseline_chisq_scaled": base_scaled,
    }
    for suffix, t, tb in (("", stat, base_stat), ("_scaled", chisq_scaled, base_scaled)):
        fit["cfi" + suffix] = 1.0 - max(t - df, 0.0) / max(t - df, tb - base_df, 0.0)
        fit["tli" + suffix] = (tb / base_df - t / df) / (tb / base_df - 1.0)
        # lavaan divides by N - 1 here (its "rmsea" uses the Wishart-type count).
        fit["rmsea" + suffix] = float(np.sqrt(max(t - df, 0.0) / (df * (n - 1))))
    # lavaan's srmr for categorical data: the (residual) correlation residuals averaged over
    # the p (p - 1) / 2 correlations plus one per observed variable, covariates included.
    implied_cor = sigma[rows, cols] / (sd[rows] * sd[cols])
    count = len(r) + p + len(model.covariates)
    fit["srmr"] = float(np.sqrt(np.sum((r - implied_cor) ** 2) / count))

    est = _sem_table(model, spec, pc, theta, vcov, sd, nth)
    return WlsmvFit(est, fit, pc)


def _check_solution(model: OrdinalModel, jac: np.ndarray, res: np.ndarray, name: str) -> None:
    """Refuse a model whose parameters the correlations do not pin down, or a fit that did not
    reach the minimum, naming the parameters concerned (lavaan warns that the information
    matrix could not be inverted, or that the model did not converge)."""
    labels = {}
    for row in model.rows:
        if row.free >= 0:
            labels.setdefault(row.free, f"{row.lhs} {row.op} {row.rhs}")
    values, vectors = np.linalg.eigh(jac.T @ jac)
    if model.npar and values[0] <= 1e-16 * values[-1]:
        null = np.abs(vectors[:, 0])
        involved = [labels[k] for k in np.flatnonzero(null > 0.1 * null.max())]
        raise InputError(
            f"model {name} is not identified: the correlations do not determine "
            f"{', '.join(involved)}",
            expected="a scale for every factor (a fixed loading or variance) and fewer free "
            "parameters than the data determine",
            hint="fix a loading or a variance, or drop a path or covariance",
        )
    gradient = jac.T @ res
    if np.max(np.abs(gradient)) > 1e-6:
        worst = labels[int(np.argmax(np.abs(gradient)))]
        raise InputError(
            f"model {name}: the estimation did not converge (largest gradient at {worst})",
            expected="a model the data can estimate",
            hint="check the model for near-empty categories or factors with one or two items",
        )


def _sem_table(
    model: OrdinalModel,
    spec,
    pc: PolychoricResult,
    theta: np.ndarray,
    vcov: np.ndarray,
    sd: np.ndarray,
    nth: int,
) -> pd.DataFrame:
    """lavaan's parameter table with ``std_all`` (standardizedSolution's est.std)."""
    mx = model.matrices(theta)
    # std_all divides by the total (unconditional) variances: with covariates the factors'
    # and latent responses' variances include what the covariates explain.
    x_cov = getattr(pc, "x_cov", np.zeros((0, 0)))
    a = np.linalg.inv(np.eye(model.m) - mx[BETA])
    eta_cov = a @ (mx[GAMMA] @ x_cov @ mx[GAMMA].T + mx[PSI]) @ a.T
    eta_var = np.diag(eta_cov)
    eta_sd = np.sqrt(eta_var)
    pi = model.slopes(theta)
    sd_tot = np.sqrt(sd**2 + np.einsum("ik,kl,il->i", pi, x_cov, pi))
    x_sd = np.sqrt(np.diag(x_cov))
    common = model.common_variances(theta)
    resid_var = np.ones(model.p) if model.parameterization == "theta" else 1.0 - common
    se_all = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    out: list[tuple[str, str, str, str, float, float, float]] = []

    def structural(row) -> None:
        est = float(theta[row.free]) if row.free >= 0 else float(row.value)
        se = float(se_all[nth + row.free]) if row.free >= 0 else 0.0
        i, j = row.i, row.j
        if row.matrix == LAMBDA:
            std = est * eta_sd[j] / sd_tot[i]
        elif row.matrix == PSI:
            std = est / np.sqrt(mx[PSI][i, i] * mx[PSI][j, j]) if i != j else est / eta_var[i]
        elif row.matrix == THETA:
            std = est / np.sqrt(resid_var[i] * resid_var[j])
        elif row.matrix == GAMMA:
            std = est * x_sd[j] / eta_sd[i]
        else:  # regressions and loadings on latent variables
            std = est * eta_sd[j] / eta_sd[i]
        out.append((row.lhs, row.op, row.rhs, row.label, est, se, float(std)))

    for row in model.rows[: model.n_user]:
        structural(row)
    th_params = []
    k = 0
    for j, (item, th) in enumerate(zip(pc.names, pc.thresholds, strict=True)):
        for t, v in enumerate(th):
            est = float(v) * sd[j]
            th_params.append(est)
            out.append((item, "|", f"t{t + 1}", "", est, float(se_all[k]), est / sd_tot[j]))
            k += 1
    for i, item in enumerate(model.items):
        v = float(resid_var[i])
        out.append((item, "~~", item, "", v, 0.0, v / sd_tot[i] ** 2))
    for row in model.rows[model.n_user :]:
        structural(row)
    # Covariates are fixed at their sample moments (fixed.x), listed as lavaan does.
    for i, xa in enumerate(model.covariates):
        for j in range(i, len(model.covariates)):
            c = float(x_cov[i, j])
            out.append((xa, "~~", model.covariates[j], "", c, 0.0, c / (x_sd[i] * x_sd[j])))
    for i, item in enumerate(model.items):
        out.append((item, "~*~", item, "", float(1.0 / sd[i]), 0.0, 1.0))
    for v in model.items:
        out.append((v, "~1", "", "", 0.0, 0.0, 0.0))
    for k, v in enumerate(model.covariates):
        mean = float(pc.x_mean[k])
        out.append((v, "~1", "", "", mean, 0.0, mean / x_sd[k]))
    for v in model.latents:
        out.append((v, "~1", "", "", 0.0, 0.0, 0.0))
    table = pd.DataFrame(out, columns=["lhs", "op", "rhs", "label", "est", "se", "std_all"])
    if spec.definitions:
        definitions = list(spec.definitions)
        fixed = list(model.fixed_labels)
        names = [f".th{k}." for k in range(nth)] + model.free_names + fixed
        point = np.concatenate([th_params, theta, [model.fixed_labels[f] for f in fixed]])
        cov = np.zeros((len(point), len(point)))
        cov[: len(vcov), : len(vcov)] = vcov
        est, se = delta_method(definitions, names, point, cov)
        labelled = table[table["label"] != ""].drop_duplicates("label")
        std_values = dict(zip(labelled["label"], labelled["std_all"], strict=True))
        std = evaluate_all(definitions, std_values)
        for d, e, s in zip(definitions, est, se, strict=True):
            table.loc[len(table)] = (d.name, ":=", d.expression, d.name, e, s, float(std[d.name]))
    return table
