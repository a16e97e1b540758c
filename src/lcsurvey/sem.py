"""Structural equation models: fit lavaan-syntax models with semopy, report them on lavaan's scale.

Parameter tables use lavaan's parameterEstimates() names (lhs, op, rhs, label, est, se, z,
pvalue, ci_lower, ci_upper, std_all) and the fit table lavaan's fitMeasures() names. Fit
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
from scipy import optimize, stats
from semopy import stats as semopy_stats
from semopy.inspector import inspect_list

from lcsurvey.errors import InputError
from lcsurvey.fiml import fiml_fit_measures, fit_fiml

ESTIMATE_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower",
                    "ci_upper", "std_all"]
FIT_COLUMNS = ["ntotal", "estimator", "missing", "chisq", "df", "pvalue", "cfi", "tli", "rmsea",
               "rmsea_ci_lower", "rmsea_ci_upper", "srmr", "aic", "bic"]

_TERM = re.compile(r"^\s*(?:(?P<mod>[A-Za-z_.][\w.]*|[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*\*\s*)?"
                   r"(?P<var>[A-Za-z_.][\w.]*)\s*$")


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline needs to know about a model beyond what semopy reads."""

    syntax: str
    measurement: dict[str, list[str]]     # latent -> indicators
    labels: dict[tuple[str, str, str], str]  # (lhs, op, rhs) -> label
    observed: list[str]                   # observed variables the model uses


def parse_model(syntax: str, *, name: str = "model") -> ModelSpec:
    """Read the parts of lavaan syntax the reports need: measurement relations and labels.

    Lines are `lhs op terms` with op one of =~, ~, ~~; terms are joined by + and may carry a
    label (`a*x`) or a fixed value (`1*x`). Comments start with #. A line that is not one of
    these is an error naming the model and the line.
    """
    measurement: dict[str, list[str]] = {}
    labels: dict[tuple[str, str, str], str] = {}
    names: list[str] = []
    statements = [s.strip() for line in syntax.splitlines()
                  for s in line.split("#", 1)[0].split(";") if s.strip()]
    for number, statement in enumerate(statements, start=1):
        match = re.match(r"^([A-Za-z_.][\w.]*)\s*(=~|~~|~|:=)\s*(.+)$", statement)
        if not match:
            raise InputError(
                f"cannot read statement {number} of model {name!r}",
                value=statement, expected="'lhs =~ x1 + x2', 'y ~ a*x' or 'x ~~ y' (lavaan syntax)",
            )
        lhs, op, rhs = match.groups()
        if op == ":=":
            raise InputError(
                f"model {name!r} defines a parameter (:=), which this version cannot estimate yet",
                value=statement, expected="only =~, ~ and ~~ statements",
            )
        for term in rhs.split("+"):
            term_match = _TERM.match(term)
            if not term_match:
                raise InputError(f"cannot read the term {term.strip()!r} in model {name!r}",
                                 value=statement, expected="a variable, optionally label*variable")
            var, modifier = term_match.group("var"), term_match.group("mod")
            if op == "=~":
                measurement.setdefault(lhs, []).append(var)
            if modifier and not _is_number(modifier):
                labels[(lhs, op, var)] = modifier
            names.extend([lhs, var])
    latents = set(measurement)
    observed = list(dict.fromkeys(n for n in names if n not in latents))
    return ModelSpec(syntax=syntax, measurement=measurement, labels=labels, observed=observed)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class FittedModel:
    spec: ModelSpec
    model: semopy.Model
    data: pd.DataFrame
    estimates: pd.DataFrame
    fit: pd.DataFrame


def fit_model(syntax: str, data: pd.DataFrame, *, name: str = "model",
              missing: str = "fiml") -> FittedModel:
    """Fit a model by maximum likelihood and tabulate it as lavaan would.

    missing = "fiml": full-information ML with free means (lavaan's missing = "ml"), every
    row with at least one answer counts, standard errors from the observed information.
    missing = "listwise": ML on the complete rows (lavaan's default), expected information.
    """
    spec = parse_model(syntax, name=name)
    absent = [v for v in spec.observed if v not in data.columns]
    if absent:
        raise InputError(f"model {name!r} uses variables that the data do not have: {absent}",
                         expected="item names from the codebook")
    values = data[spec.observed].astype(float)
    model = semopy.Model(syntax)
    if missing == "fiml":
        used = values[values.notna().any(axis=1)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fit_fiml(model, used)
        except ValueError as err:
            raise InputError(f"model {name!r} cannot be estimated: {err}") from None
        q = len(result.params)
        se = np.sqrt(np.clip(np.diag(result.vcov), 0, None))
        estimates = _estimates_table(model, spec, se[:q])
        observed = list(model.vars["observed"])
        # Observed intercepts are free; latent means are fixed at 0 (listed, as lavaan does).
        intercepts = _rows([(v, "~1", "", "", mean, s) for v, mean, s in
                            zip(observed, result.means, se[q:], strict=True)]
                           + [(f, "~1", "", "", 0.0, np.nan) for f in spec.measurement])
        estimates = pd.concat([estimates, intercepts], ignore_index=True)
        fit = pd.DataFrame([{**fiml_fit_measures(result, model), "estimator": "ML",
                             "missing": "fiml"}])[FIT_COLUMNS]
        if not result.converged:
            raise InputError(f"model {name!r} did not converge under FIML "
                             f"({result.iterations} iterations)")
    elif missing == "listwise":
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
            se = semopy_stats.calc_se(model, information="expected")
        estimates = _estimates_table(model, spec, np.asarray(se, dtype=float))
        fit = fit_measures(model, used, n_free=len(model.param_vals))
    else:
        raise InputError(f"estimation.missing {missing!r} is not available",
                         expected="fiml or listwise")
    estimates["std_all"] = standardized_all(estimates, model)
    return FittedModel(spec=spec, model=model, data=used, estimates=estimates, fit=fit)


def _rows(records: list[tuple]) -> pd.DataFrame:
    """Parameter rows (lhs, op, rhs, label, est, se) with z, p and the 95% CI (NaN se = fixed)."""
    rows = []
    for lhs, op, rhs, label, est, se in records:
        free = bool(np.isfinite(se) and se > 0)
        z = est / se if free else np.nan
        half = stats.norm.ppf(0.975) * se if free else 0.0
        rows.append({
            "lhs": lhs, "op": op, "rhs": rhs, "label": label, "est": float(est),
            "se": se if free else np.nan, "z": z,
            "pvalue": 2 * stats.norm.sf(abs(z)) if free else np.nan,
            "ci_lower": est - half, "ci_upper": est + half, "std_all": np.nan,
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


def standardized_all(estimates: pd.DataFrame, model: semopy.Model) -> pd.Series:
    """lavaan's std.all: every variable scaled to unit model-implied variance.

    Loadings and regressions are multiplied by sd(rhs or factor) / sd(lhs or indicator);
    variances are divided by the total variance; covariances between two residuals (or two
    factors) are divided by the product of their own standard deviations, i.e. reported as a
    correlation of residuals, as lavaan does.
    """
    sigma, (_, c) = model.calc_sigma()
    psi = model.matrices[2]
    latent_cov = c @ psi @ c.T
    total = dict(zip(model.names_lambda[0], np.diag(sigma), strict=True))
    total.update(zip(model.names_beta[0], np.diag(latent_cov), strict=True))
    own = {lhs: est for lhs, op, rhs, est in
           estimates[["lhs", "op", "rhs", "est"]].itertuples(index=False)
           if op == "~~" and lhs == rhs}
    values = []
    for lhs, op, rhs, est in estimates[["lhs", "op", "rhs", "est"]].itertuples(index=False):
        if op == "~1":
            values.append(est / np.sqrt(total[lhs]))
        elif op == "=~":
            values.append(est * np.sqrt(total[lhs] / total[rhs]))
        elif op == "~":
            values.append(est * np.sqrt(total[rhs] / total[lhs]))
        elif lhs == rhs:
            values.append(est / total[lhs])
        else:
            values.append(est / np.sqrt(own[lhs] * own[rhs]))
    return pd.Series(values, index=estimates.index, dtype=float)


def fit_measures(model: semopy.Model, data: pd.DataFrame, *, n_free: int) -> pd.DataFrame:
    """lavaan's fitMeasures() for an ML fit without mean structure (listwise data).

    chisq = N F_ML with F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p and S the covariance
    matrix with divisor N; baseline = the independence model; CFI, TLI, RMSEA (90% CI by the
    noncentral chi-square) use N; SRMR is Bentler's (residuals scaled by the sample SDs, lower
    triangle with diagonal); AIC/BIC from the log-likelihood with the free parameters.
    """
    observed = list(model.vars["observed"])
    x = data[observed].to_numpy(float)
    n, p = x.shape
    s = np.cov(x, rowvar=False, bias=True)
    sigma = model.calc_sigma()[0]
    _, logdet_sigma = np.linalg.slogdet(sigma)
    _, logdet_s = np.linalg.slogdet(s)
    f_ml = logdet_sigma + np.trace(s @ np.linalg.inv(sigma)) - logdet_s - p
    chisq = n * f_ml
    df = p * (p + 1) // 2 - n_free
    chisq_base = n * (np.log(np.diag(s)).sum() - logdet_s)
    df_base = p * (p - 1) // 2
    cfi_den = max(chisq - df, chisq_base - df_base, 0.0)
    cfi = 1 - max(chisq - df, 0.0) / cfi_den if cfi_den > 0 else 1.0
    tli = ((chisq_base / df_base) - (chisq / df)) / ((chisq_base / df_base) - 1) if df > 0 else 1.0
    rmsea = np.sqrt(max(chisq - df, 0.0) / (df * n)) if df > 0 else 0.0
    lower, upper = _rmsea_ci(chisq, df, n)
    scale = 1 / np.sqrt(np.diag(s))
    resid = (s - sigma) * np.outer(scale, scale)
    srmr = np.sqrt(np.mean(resid[np.tril_indices(p)] ** 2))
    loglik = -n / 2 * (p * np.log(2 * np.pi) + logdet_sigma + np.trace(s @ np.linalg.inv(sigma)))
    return pd.DataFrame([{
        "ntotal": n, "estimator": "ML", "missing": "listwise",
        "chisq": chisq, "df": df, "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
        "cfi": cfi, "tli": tli, "rmsea": rmsea, "rmsea_ci_lower": lower, "rmsea_ci_upper": upper,
        "srmr": srmr, "aic": -2 * loglik + 2 * n_free, "bic": -2 * loglik + np.log(n) * n_free,
    }], columns=FIT_COLUMNS)


def _rmsea_ci(chisq: float, df: int, n: int, level: float = 0.90) -> tuple[float, float]:
    """RMSEA confidence limits from the noncentrality parameter, as lavaan computes them."""
    if df <= 0:
        return np.nan, np.nan
    tail = (1 - level) / 2

    def ncp_for(prob: float) -> float:
        # pchisq(chisq, df, ncp) falls with ncp; find ncp with pchisq = prob, 0 when impossible.
        if stats.chi2.cdf(chisq, df) < prob:
            return 0.0
        upper = max(chisq, 1.0)
        while stats.ncx2.cdf(chisq, df, upper) > prob:
            upper *= 2
        return optimize.brentq(lambda lam: stats.ncx2.cdf(chisq, df, lam) - prob, 1e-10, upper)

    lam_lower = ncp_for(1 - tail)
    lam_upper = ncp_for(tail)
    return float(np.sqrt(lam_lower / (n * df))), float(np.sqrt(lam_upper / (n * df)))
