"""Scale construction: item statistics, reliability (alpha, omega) and mean scale scores.

Alpha follows psych::alpha: covariances from pairwise-complete observations, raw alpha from
the covariance matrix, standardised alpha from the correlation matrix, item-rest correlations
(r.drop) and alpha if an item is dropped computed from the same matrices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from lcsurvey.codebook import Codebook

RELIABILITY_COLUMNS = [
    "construct", "n_items", "n", "alpha", "alpha_std", "alpha_ci_lower", "alpha_ci_upper",
    "omega_total",
]
ITEM_COLUMNS = [
    "item", "construct", "n", "mean", "sd", "missing_share", "r_drop", "alpha_if_dropped",
]


def _alpha_from_cov(cov: np.ndarray) -> float:
    k = cov.shape[0]
    if k < 2:
        return np.nan
    return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum()))


def cronbach_alpha(items: pd.DataFrame) -> tuple[float, float]:
    """Cronbach's alpha, raw and standardised, as psych::alpha (use = "pairwise").

    raw alpha = k/(k-1) * (1 - tr(C)/sum(C)) with C the pairwise-complete covariance matrix;
    standardised alpha is the same formula on the correlation matrix.
    """
    cov = items.cov().to_numpy()
    corr = items.corr().to_numpy()
    return _alpha_from_cov(cov), _alpha_from_cov(corr)


def alpha_ci_feldt(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's confidence interval for alpha, as psych::alpha.ci.

    lower = 1 - (1 - alpha) F(1 - p/2; n-1, (n-1)(k-1)), upper = 1 - (1 - alpha) F(p/2; ...).
    """
    if n < 2 or k < 2 or not np.isfinite(alpha):
        return np.nan, np.nan
    p = 1 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lower = 1 - (1 - alpha) * stats.f.ppf(1 - p / 2, df1, df2)
    upper = 1 - (1 - alpha) * stats.f.ppf(p / 2, df1, df2)
    return float(lower), float(upper)


def one_factor_ml(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loadings and residual variances of a one-factor model fitted by maximum likelihood.

    Minimises the ML discrepancy log|Sigma| - log|S| + tr(S Sigma^-1) - p with
    Sigma = l l' + diag(psi), factor variance fixed at 1 (as lavaan's cfa(std.lv = TRUE)).
    """
    p = cov.shape[0]
    sd = np.sqrt(np.diag(cov))
    start = np.concatenate([0.7 * sd, np.log(0.5 * sd**2)])
    _, logdet_s = np.linalg.slogdet(cov)

    def objective(theta: np.ndarray) -> float:
        loadings, psi = theta[:p], np.exp(theta[p:])
        sigma = np.outer(loadings, loadings) + np.diag(psi)
        sign, logdet = np.linalg.slogdet(sigma)
        if sign <= 0:
            return 1e10
        return float(logdet + np.trace(cov @ np.linalg.inv(sigma)) - logdet_s - p)

    result = optimize.minimize(objective, start, method="L-BFGS-B")
    loadings, psi = result.x[:p], np.exp(result.x[p:])
    if loadings.sum() < 0:
        loadings = -loadings
    return loadings, psi


def omega_total(items: pd.DataFrame) -> float:
    """McDonald's omega total from a one-factor ML model: (sum l)^2 / ((sum l)^2 + sum psi)."""
    if items.shape[1] < 3:
        return np.nan
    loadings, psi = one_factor_ml(items.cov().to_numpy())
    common = loadings.sum() ** 2
    return float(common / (common + psi.sum()))


def item_statistics(items: pd.DataFrame, construct: str) -> pd.DataFrame:
    """Per item: n, mean, sd, missing share, item-rest correlation, alpha if dropped (psych)."""
    cov = items.cov().to_numpy()
    k = cov.shape[0]
    rows = []
    for j, name in enumerate(items.columns):
        rest = [i for i in range(k) if i != j]
        rest_var = cov[np.ix_(rest, rest)].sum()
        cov_with_rest = cov[j, rest].sum()
        r_drop = cov_with_rest / np.sqrt(cov[j, j] * rest_var) if k > 1 else np.nan
        column = items[name]
        rows.append({
            "item": name,
            "construct": construct,
            "n": int(column.notna().sum()),
            "mean": column.mean(),
            "sd": column.std(),
            "missing_share": float(column.isna().mean()),
            "r_drop": float(r_drop),
            "alpha_if_dropped": _alpha_from_cov(cov[np.ix_(rest, rest)]),
        })
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def scale_scores(responses: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """rid + the mean of the answered items per construct, missing below `min_items` answered."""
    scores = {"rid": responses["rid"]}
    for name, construct in book.constructs.items():
        block = responses[list(construct.items)]
        answered = block.notna().sum(axis=1)
        scores[name] = block.mean(axis=1).where(answered >= construct.min_items)
    return pd.DataFrame(scores)


def reliability_table(responses: pd.DataFrame, book: Codebook) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reliability table (one row per construct) and the item table of a wave."""
    reliability, item_tables = [], []
    for name, construct in book.constructs.items():
        block = responses[list(construct.items)]
        k = block.shape[1]
        n = int((block.notna().sum(axis=1) >= construct.min_items).sum())
        alpha, alpha_std = cronbach_alpha(block) if k > 1 else (np.nan, np.nan)
        lower, upper = alpha_ci_feldt(alpha, n, k)
        reliability.append({
            "construct": name, "n_items": k, "n": n, "alpha": alpha, "alpha_std": alpha_std,
            "alpha_ci_lower": lower, "alpha_ci_upper": upper, "omega_total": omega_total(block),
        })
        if k > 1:
            item_tables.append(item_statistics(block, name))
    return (pd.DataFrame(reliability, columns=RELIABILITY_COLUMNS),
            pd.concat(item_tables, ignore_index=True))
