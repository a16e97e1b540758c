"""Scale construction: item statistics, reliability (alpha, omega) and mean scale scores.

Alpha follows psych::alpha: covariances from pairwise-complete observations, raw alpha from
the covariance matrix, standardised alpha from the correlation matrix, item-rest correlations
(r.drop) and alpha if an item is dropped computed from the same matrices. Skew and kurtosis
follow psych::describe (type 3), correlations between scale scores psych::corr.test.

Composites (codebook `composites:`) are scored as the mean of their parts' scores, a reversed
part mirrored on its scale; their alpha and omega use the parts' items, reverse-keyed where the
part is reversed, and their item rows in the item table hold those keyed items.

Constructs whose items are ordered categories (codebook `ordinal: true`) get two more columns,
from the polychoric matrix of their complete rows (lcsurvey.sem.polychoric, lavaan's
estimates: nothing added to empty cells): ordinal alpha (Zumbo, Gadermann & Zeisser 2007), as
psych's ``alpha(polychoric(x, correct = 0)$rho)``, and categorical omega (Green & Yang 2009),
as semTools' ``compRelSEM()`` of a one-factor CFA fitted by WLSMV: the reliability of the sum
of the item scores as they were answered, not of the latent responses. The columns appear only
when some construct is ordinal, so a codebook without ordinal scales gives the table it always
gave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special

from lcsurvey.errors import InputError
from lcsurvey.sem.polychoric import bivariate_cdf, polychoric
from lcsurvey.sem.wlsmv import fit_wlsmv
from lcsurvey.survey.codebook import Codebook, Composite

RELIABILITY_COLUMNS = [
    "construct",
    "n_items",
    "n",
    "alpha",
    "alpha_std",
    "alpha_ci_lower",
    "alpha_ci_upper",
    "omega_total",
    "warning",
]
ITEM_COLUMNS = [
    "item",
    "construct",
    "n",
    "mean",
    "sd",
    "missing_share",
    "r_drop",
    "alpha_if_dropped",
    "skew",
    "kurtosis",
    "floor_share",
    "ceiling_share",
    "warning",
]
DISTRIBUTION_COLUMNS = ["construct", "item", "value", "n", "share"]
CORRELATION_COLUMNS = ["a", "b", "r", "n", "ci_lower", "ci_upper", "pvalue"]


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
    lower = 1 - (1 - alpha) * special.fdtri(df1, df2, 1 - p / 2)
    upper = 1 - (1 - alpha) * special.fdtri(df1, df2, p / 2)
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


ORDINAL_COLUMNS = ["ordinal_alpha", "ordinal_omega"]


def _category_numbers(items: pd.DataFrame) -> pd.DataFrame:
    """Complete rows, each item's answers numbered 1..K by rank (the categories chosen)."""
    complete = items.dropna()
    return complete.apply(lambda x: pd.Series(np.unique(x, return_inverse=True)[1] + 1, x.index))


def ordinal_alpha(items: pd.DataFrame) -> float:
    """Ordinal alpha: standardised alpha of the polychoric matrix (complete rows).

    Notes
    -----
    :math:`\\alpha_{ord} = \\frac{k}{k-1}\\left(1 - \\frac{k}{\\sum_{ij} R_{ij}}\\right)` with
    :math:`R` the polychoric matrix (Zumbo, Gadermann & Zeisser 2007). R:
    ``psych::alpha(psych::polychoric(x, correct = 0)$rho)``; psych's default ``correct = 0.5``
    adds half a count to empty cells of a bivariate table, lavaan and this function do not.
    """
    k = items.shape[1]
    if k < 2:
        return np.nan
    codes = _category_numbers(items)
    try:
        cor = polychoric(codes.to_numpy(dtype=float), list(items.columns), acov=False).correlation
    except InputError:
        return np.nan
    return float(k / (k - 1) * (1.0 - k / cor.sum()))


def ordinal_omega(items: pd.DataFrame) -> float:
    """Categorical omega (Green & Yang 2009) of a one-factor CFA fitted by WLSMV.

    Notes
    -----
    With thresholds :math:`\\tau`, the model's common part :math:`\\lambda\\lambda^T\\psi` and
    the polychoric matrix :math:`R`, the reliability of the sum of the category numbers is

    .. math:: \\omega = \\frac{\\sum_{jj'} [\\sum_{cc'} \\Phi_2(\\tau_{jc}, \\tau_{j'c'};
       (\\lambda\\lambda^T\\psi)_{jj'}) - \\sum_c \\Phi(\\tau_{jc}) \\sum_{c'} \\Phi(\\tau_{j'c'})]}
       {\\sum_{jj'} [\\sum_{cc'} \\Phi_2(\\tau_{jc}, \\tau_{j'c'}; R_{jj'}) - \\sum_c
       \\Phi(\\tau_{jc}) \\sum_{c'} \\Phi(\\tau_{j'c'})]}

    as semTools 0.5.6's ``compRelSEM(cfa(..., ordered = TRUE, estimator = "WLSMV"))`` with its
    defaults (``obs.var = TRUE``: the denominator from the sample polychoric matrix;
    ``ord.scale = TRUE``). NaN below three items (a one-factor model is then not identified).
    """
    if items.shape[1] < 3:
        return np.nan
    codes = _category_numbers(items)
    names = list(items.columns)
    try:
        if len(names) == 3:
            # Just identified: every estimator reproduces the three correlations exactly,
            # l1^2 = r12 r13 / r23 (and the WLSMV fit's test has no degrees of freedom).
            pc = polychoric(codes.to_numpy(dtype=float), names, acov=False)
            r = pc.correlation
            first = r[0, 1] * r[0, 2] / r[1, 2]
            if not first > 0:
                return np.nan
            std = np.array([1.0, r[0, 1] / first, r[0, 2] / first]) * np.sqrt(first)
        else:
            fit = fit_wlsmv(codes, {"f": names})
            pc = fit.polychoric
            est = fit.estimates
            std = est[est["op"] == "=~"].set_index("rhs")["std_all"].reindex(names).to_numpy()
    except InputError:
        return np.nan
    common = np.outer(std, std)
    cor = pc.correlation
    th = pc.thresholds
    numerator = denominator = 0.0
    for j in range(len(names)):
        for jp in range(len(names)):
            margins = special.ndtr(th[j]).sum() * special.ndtr(th[jp]).sum()
            grid = (th[j][:, None], th[jp][None, :])
            true_joint = bivariate_cdf(*grid, common[j, jp]).sum()
            # P(X < a, X < b) = Phi(min(a, b)): the bivariate formula is singular at r = 1.
            observed_joint = (
                special.ndtr(np.minimum(*grid)).sum()
                if j == jp
                else bivariate_cdf(*grid, cor[j, jp]).sum()
            )
            numerator += true_joint - margins
            denominator += observed_joint - margins
    return float(numerator / denominator)


def _deviations(values: pd.Series | np.ndarray) -> tuple[np.ndarray, float] | None:
    """Deviations from the mean of the answered values and their sum of squares, if any spread."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return None
    d = x - x.mean()
    ss = float((d**2).sum())
    return (d, ss) if ss > 0 else None


def skewness(values: pd.Series | np.ndarray) -> float:
    """Skew as psych::skew(type = 3): b1 = m3 / s^3 = g1 ((n - 1)/n)^(3/2), s the sd (n - 1)."""
    if (dev := _deviations(values)) is None:
        return np.nan
    d, ss = dev
    n = len(d)
    return float(np.sqrt(n) * (d**3).sum() / ss**1.5 * (1 - 1 / n) ** 1.5)


def kurtosis(values: pd.Series | np.ndarray) -> float:
    """Excess kurtosis as psych::kurtosi(type = 3): b2 = m4 / s^4 - 3 = (g2 + 3)(1 - 1/n)^2 - 3."""
    if (dev := _deviations(values)) is None:
        return np.nan
    d, ss = dev
    n = len(d)
    return float((n * (d**4).sum() / ss**2) * (1 - 1 / n) ** 2 - 3)


def negative_item_warning(item: str, r_drop: float) -> str:
    """The warning for an item that correlates negatively with the rest of its scale."""
    if np.isfinite(r_drop) and r_drop < 0:
        return f"{item} correlates negatively with the rest: reverse key forgotten?"
    return ""


def item_statistics(
    items: pd.DataFrame,
    construct: str,
    *,
    lowest: float | None = None,
    highest: float | None = None,
) -> pd.DataFrame:
    """Per item: psych::describe and psych::alpha's item statistics, floor and ceiling shares.

    n, mean, sd (n - 1), skew and kurtosis (type 3), missing share, item-rest correlation
    (r.drop) and alpha if dropped from the pairwise covariance matrix; floor and ceiling share =
    share of the answers at the scale's lowest and highest code (NaN when not given); a warning
    when r_drop < 0.
    """
    cov = items.cov().to_numpy()
    k = cov.shape[0]
    rows = []
    for j, name in enumerate(items.columns):
        rest = [i for i in range(k) if i != j]
        rest_var = cov[np.ix_(rest, rest)].sum()
        cov_with_rest = cov[j, rest].sum()
        r_drop = float(cov_with_rest / np.sqrt(cov[j, j] * rest_var)) if k > 1 else np.nan
        column = items[name]
        answered = column.dropna()
        rows.append(
            {
                "item": name,
                "construct": construct,
                "n": int(len(answered)),
                "mean": answered.mean(),
                "sd": answered.std(),
                "missing_share": float(column.isna().mean()),
                "r_drop": r_drop,
                "alpha_if_dropped": _alpha_from_cov(cov[np.ix_(rest, rest)]),
                "skew": skewness(answered),
                "kurtosis": kurtosis(answered),
                "floor_share": _share_at(answered, lowest),
                "ceiling_share": _share_at(answered, highest),
                "warning": negative_item_warning(name, r_drop),
            }
        )
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def _share_at(answered: pd.Series, code: float | None) -> float:
    if code is None or len(answered) == 0:
        return np.nan
    return float((answered == code).mean())


def response_distribution(responses: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """Long table construct, item, value, n, share: every code of the item's scale, share of answers.

    Labelled scales list every labelled code (zero counts included); a numeric range scale
    lists its whole numbers from min to max. Answers off those codes are listed too.
    """
    frames = []
    for name, construct in book.constructs.items():
        scale = book.construct_scale(name)
        codes = (
            sorted(scale.labels)
            if scale.labels
            else list(np.arange(np.ceil(scale.lowest), np.floor(scale.highest) + 1))
        )
        for item in construct.items:
            answered = responses[item].dropna()
            counts = answered.value_counts()
            values = sorted(set(codes) | set(counts.index.astype(float)))
            n = counts.reindex(values, fill_value=0).to_numpy()
            frames.append(
                pd.DataFrame(
                    {
                        "construct": name,
                        "item": item,
                        "value": values,
                        "n": n.astype(int),
                        "share": n / len(answered) if len(answered) else np.nan,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)[DISTRIBUTION_COLUMNS]


def composite_items(responses: pd.DataFrame, book: Codebook, composite: Composite) -> pd.DataFrame:
    """The items of a composite's parts, those of a reversed part mirrored (low + high - x)."""
    columns = {}
    for part in composite.parts:
        scale = book.construct_scale(part)
        for item in book.constructs[part].items:
            x = responses[item].astype(float)
            columns[item] = scale.lowest + scale.highest - x if part in composite.reverse else x
    return pd.DataFrame(columns, index=responses.index)


def scale_scores(responses: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """rid + the mean of the answered items per construct, missing below `min_items` answered.

    A composite's score is the mean of its parts' scores (a reversed part mirrored on its
    scale), missing when fewer than `min_parts` parts have a score.
    """
    scores = {"rid": responses["rid"]}
    for name, construct in book.constructs.items():
        block = responses[list(construct.items)]
        answered = block.notna().sum(axis=1)
        scores[name] = block.mean(axis=1).where(answered >= construct.min_items)
    for name, composite in book.composites.items():
        parts = {}
        for part in composite.parts:
            scale = book.construct_scale(part)
            parts[part] = (
                scale.lowest + scale.highest - scores[part]
                if part in composite.reverse
                else scores[part]
            )
        block = pd.DataFrame(parts)
        scores[name] = block.mean(axis=1).where(block.notna().sum(axis=1) >= composite.min_parts)
    return pd.DataFrame(scores)


def _reliability_row(
    name: str, block: pd.DataFrame, n: int, items: pd.DataFrame | None, ordinal: bool = False
) -> dict:
    k = block.shape[1]
    extra = (
        {"ordinal_alpha": ordinal_alpha(block), "ordinal_omega": ordinal_omega(block)}
        if ordinal
        else {}
    )
    alpha, alpha_std = cronbach_alpha(block) if k > 1 else (np.nan, np.nan)
    lower, upper = alpha_ci_feldt(alpha, n, k)
    warnings = [] if items is None else [w for w in items["warning"] if w]
    return {
        "construct": name,
        "n_items": k,
        "n": n,
        "alpha": alpha,
        "alpha_std": alpha_std,
        "alpha_ci_lower": lower,
        "alpha_ci_upper": upper,
        "omega_total": omega_total(block),
        **extra,
        "warning": "; ".join(warnings),
    }


def reliability_table(responses: pd.DataFrame, book: Codebook) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reliability table (one row per construct, then per composite) and the item table.

    `warning` names the items that correlate negatively with the rest of their scale.
    """
    reliability, item_tables = [], []
    any_ordinal = False
    for name, construct in book.constructs.items():
        block = responses[list(construct.items)]
        scale = book.construct_scale(name)
        any_ordinal |= scale.ordinal
        n = int((block.notna().sum(axis=1) >= construct.min_items).sum())
        items = None
        if block.shape[1] > 1:
            items = item_statistics(block, name, lowest=scale.lowest, highest=scale.highest)
            item_tables.append(items)
        reliability.append(_reliability_row(name, block, n, items, scale.ordinal))
    if book.composites:
        scores = scale_scores(responses, book)
        for name, composite in book.composites.items():
            block = composite_items(responses, book, composite)
            scale = book.construct_scale(composite.parts[0])
            n = int(scores[name].notna().sum())
            items = item_statistics(block, name, lowest=scale.lowest, highest=scale.highest)
            item_tables.append(items)
            reliability.append(_reliability_row(name, block, n, items, scale.ordinal))
    columns = RELIABILITY_COLUMNS
    if any_ordinal:  # beside the Pearson-based ones, before the warning
        columns = [*RELIABILITY_COLUMNS[:-1], *ORDINAL_COLUMNS, RELIABILITY_COLUMNS[-1]]
    return (
        pd.DataFrame(reliability, columns=columns),
        pd.concat(item_tables, ignore_index=True),
    )


def correlation_table(
    scores: pd.DataFrame, names: list[str] | None = None, level: float = 0.95
) -> pd.DataFrame:
    """Pearson correlations of scale scores, pairwise complete, as psych::corr.test.

    Long table a, b, r, n (pairwise), the Fisher-z confidence interval
    tanh(atanh(r) -/+ z_(1 - p/2) / sqrt(n - 3)) and the two-sided p of t = r sqrt((n - 2)/(1 - r^2)).
    """
    names = [c for c in scores.columns if c != "rid"] if names is None else names
    values = scores[names].to_numpy(dtype=float)
    present = np.isfinite(values).astype(float)
    pair_n = present.T @ present
    r = scores[names].corr().to_numpy()
    z_crit = special.ndtri(1 - (1 - level) / 2)
    rows = []
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            n, rij = int(pair_n[i, j]), r[i, j]
            lower = upper = p = np.nan
            if n > 3 and np.isfinite(rij) and abs(rij) < 1:
                half = z_crit / np.sqrt(n - 3)
                lower, upper = np.tanh(np.arctanh(rij) - half), np.tanh(np.arctanh(rij) + half)
                t = rij * np.sqrt((n - 2) / (1 - rij**2))
                p = 2 * special.stdtr(n - 2, -abs(t))
            rows.append(
                {
                    "a": a,
                    "b": names[j],
                    "r": rij,
                    "n": n,
                    "ci_lower": lower,
                    "ci_upper": upper,
                    "pvalue": p,
                }
            )
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
