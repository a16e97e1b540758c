"""lavaan's standardised solution: std.all and its delta-method inference.

std_all scales every variable to unit model-implied variance (lavaan's
standardizedSolution(type = "std.all")); standardized_inference gives its standard errors,
z, p and 95% CIs by the delta method with the Jacobian of std.all in the free parameters
(central differences), as lavaan's standardizedSolution() (lav_std_se_delta, lav_standardize.R).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.sem.defined import evaluate_all
from lcsurvey.sem.structure import implied_variances, variable_order

if TYPE_CHECKING:  # semopy loads slowly; models arrive built, so only the name is needed
    import semopy

    from lcsurvey.sem.syntax import ModelSpec


def standardized_all(estimates: pd.DataFrame, model: semopy.Model) -> pd.Series:
    """lavaan's std.all: every variable scaled to unit model-implied variance.

    Parameters
    ----------
    estimates : DataFrame
        Parameter rows (lhs, op, rhs, est) in lavaan's notation.
    model : semopy.Model
        The fitted model (its current matrices give the implied variances).

    Returns
    -------
    Series
        std_all per row (NaN for rows without one).

    Notes
    -----
    Loadings and regressions are multiplied by sd(rhs or factor) / sd(lhs or indicator);
    variances are divided by the total variance; covariances between two residuals (or two
    factors) are divided by the product of their own standard deviations, i.e. reported as a
    correlation of residuals, as lavaan does. lavaan: standardizedSolution(fit,
    type = "std.all")$est.std, lav_standardize_all.
    """
    standardize = _standardizer(estimates, model)
    return pd.Series(
        standardize(estimates["est"].to_numpy(dtype=float)), index=estimates.index, dtype=float
    )


def _standardizer(estimates: pd.DataFrame, model: semopy.Model):
    """std_all of the rows of `estimates` as a function of their est values (an array).

    The total variances come from the model's matrices at the time of the call.
    """
    names = variable_order(model)
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
        total = implied_variances(model)
        out = np.full(len(est), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[mean] = est[mean] / np.sqrt(total[lhs[mean]])
            out[loading] = est[loading] * np.sqrt(total[lhs[loading]] / total[rhs[loading]])
            out[regression] = est[regression] * np.sqrt(
                total[rhs[regression]] / total[lhs[regression]]
            )
            out[variance] = est[variance] / total[lhs[variance]]
            out[covariance] = est[covariance] / np.sqrt(
                est[own_lhs[covariance]] * est[own_rhs[covariance]]
            )
        return out

    return standardize


def standardized_inference(
    model: semopy.Model,
    spec: ModelSpec,
    estimates: pd.DataFrame,
    row_columns: list[str | None],
    columns: list[str],
    theta: np.ndarray,
    vcov: np.ndarray,
    reported=None,
) -> pd.DataFrame:
    """Standard errors, z, p and 95% CIs of std_all, as lavaan's standardizedSolution().

    Parameters
    ----------
    model : semopy.Model
    spec : ModelSpec
        The parsed model (its := definitions).
    estimates : DataFrame
        The estimates table with std_all.
    row_columns : list
        Per row, the free parameter (entry of `columns`) it shows, or None.
    columns : list of str
        Names of the free parameters, in the order of theta and vcov.
    theta, vcov : ndarray
        Estimates of the free parameters and their covariance matrix (robust for MLR).
    reported : callable, optional
        Maps rows of theta to the values the rows show (Intercepts.reported under FIML).

    Returns
    -------
    DataFrame
        std_all_se, std_all_z, std_all_pvalue, std_all_ci_lower, std_all_ci_upper.

    Notes
    -----
    Delta method: std_all (every row, the := rows evaluated on the standardised labelled
    parameters) is a function of theta; its Jacobian J by central differences gives the
    covariance J V J'. A row whose standardised value does not move with theta (a fixed latent
    variance or mean) gets se 0 and no z or p, as in lavaan (lav_std_se_delta).
    """
    base = estimates[estimates["op"] != ":="]
    est = base["est"].to_numpy(dtype=float)
    rows = np.flatnonzero([c is not None for c in row_columns[: len(base)]])
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
    return pd.DataFrame(
        {
            "std_all_se": se,
            "std_all_z": z,
            "std_all_pvalue": 2 * special.ndtr(-np.abs(z)),
            "std_all_ci_lower": std - half,
            "std_all_ci_upper": std + half,
        },
        index=estimates.index,
    )
