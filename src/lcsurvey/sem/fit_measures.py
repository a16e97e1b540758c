"""Fit measures as pure functions of chisq, df, the baseline model, N and the log-likelihood.

Each formula lives here once, as lavaan keeps them in lav_fit_*.R; the fits (listwise ML in
lcsurvey.sem.model, FIML in lcsurvey.sem.fiml, multi-group in lcsurvey.sem.invariance) have
one thin wrapper each that gathers chisq, df, the baseline and the residuals and calls these.
Names and definitions follow lavaan's fitMeasures() (likelihood = "normal", so N, not N - 1,
in RMSEA; Bentler's SRMR over the lower triangle with the diagonal and, with a mean
structure, the means).

References
----------
Bentler, P. M. (1990). Comparative fit indexes in structural models. Psychological Bulletin,
107, 238-246 (CFI). Tucker, L. R. & Lewis, C. (1973). Psychometrika, 38, 1-10 (TLI).
Steiger, J. H. (1990). Multivariate Behavioral Research, 25, 173-180 (RMSEA);
Browne, M. W. & Cudeck, R. (1993) (its confidence interval). Steiger, J. H. (1998). A note on
multiple sample extensions of the RMSEA fit index. SEM, 5, 411-419 (the sqrt(G) factor).
Akaike (1974), Schwarz (1978) (AIC, BIC). lavaan: lav_fit_cfi.R, lav_fit_rmsea.R,
lav_fit_srmr.R, lav_fit_aic.R, lav_fit_measures.R.
"""

from __future__ import annotations

import numpy as np
from scipy import special

LOG_2PI = float(np.log(2 * np.pi))


def chisq_pvalue(chisq: float, df: int) -> float:
    """p-value of the likelihood-ratio test: P(chi2_df > chisq); NaN when df <= 0.

    Parameters
    ----------
    chisq : float
        Test statistic, 2 (logl_H1 - logl).
    df : int
        Degrees of freedom.

    Returns
    -------
    float
        lavaan: fitMeasures(fit, "pvalue").
    """
    return float(special.chdtrc(df, chisq)) if df > 0 else np.nan


def scaled_difference(
    chisq0: float, df0: int, scaling0: float, chisq1: float, df1: int, scaling1: float
) -> tuple[float, float]:
    """Satorra-Bentler scaled chi-square difference of two nested models.

    Parameters
    ----------
    chisq0, df0, scaling0 : float, int, float
        The more restricted model: its normal-theory chi-square, df and scaling factor.
    chisq1, df1, scaling1 : float, int, float
        The less restricted model; for the 2010 test, scaling1 is the scaling factor of the
        less restricted model at the estimates of the more restricted one (M10).

    Returns
    -------
    (float, float)
        The scaled difference (chisq0 - chisq1) / cd and cd = (df0 c0 - df1 c1) / (df0 - df1);
        NaN when df0 == df1. A cd <= 0 (possible in the 2001 test) gives a difference that is
        not a chi-square: the caller then takes the 2010 test.

    Notes
    -----
    lavaan: lavTestLRT(m1, m0, method = "satorra.bentler.2001" or "satorra.bentler.2010"),
    lav_test_diff_SatorraBentler2001 / 2010. References: Satorra, A., & Bentler, P. M. (2001).
    A scaled difference chi-square test statistic for moment structure analysis.
    Psychometrika, 66, 507-514. Satorra, A., & Bentler, P. M. (2010). Ensuring positiveness
    of the scaled difference chi-square test statistic. Psychometrika, 75, 243-248.
    """
    if df0 == df1:
        return np.nan, np.nan
    cd = (df0 * scaling0 - df1 * scaling1) / (df0 - df1)
    return (chisq0 - chisq1) / cd, cd


def nested_models_test(restricted: dict, general: dict) -> dict:
    """The likelihood-ratio test of two fitted models, `restricted` nested in `general`, from
    their fit measures (fit.csv rows), as lavaan's lavTestLRT(general, restricted).

    Parameters
    ----------
    restricted, general : dict
        Each model's ``chisq`` and ``df``, and with a robust (MLR) fit its
        ``chisq_scaling_factor``.

    Returns
    -------
    dict
        delta_chisq, delta_df, delta_pvalue and delta_method: the plain difference
        ("standard") for ML, the Satorra-Bentler 2001 scaled difference for MLR (lavaan's
        default for it). Where the 2001 scaling is not positive the difference is no
        chi-square; lavaan then only warns, here the p value is left empty and the method says
        so ("satorra.bentler.2001 (scaling not positive)"): the 2010 version needs the general
        model evaluated at the restricted model's estimates, which fit measures do not hold.
    """
    df = int(restricted["df"] - general["df"])
    scaled = [m.get("chisq_scaling_factor") for m in (restricted, general)]
    if any(c is None or not np.isfinite(c) for c in scaled):
        delta, method = restricted["chisq"] - general["chisq"], "standard"
    else:
        delta, cd = scaled_difference(
            restricted["chisq"],
            restricted["df"],
            scaled[0],
            general["chisq"],
            general["df"],
            scaled[1],
        )
        method = "satorra.bentler.2001"
        if np.isfinite(cd) and cd <= 0:
            return {
                "delta_chisq": delta,
                "delta_df": df,
                "delta_pvalue": np.nan,
                "delta_method": method + " (scaling not positive)",
            }
    pvalue = chisq_pvalue(delta, df) if np.isfinite(delta) and df > 0 else np.nan
    return {"delta_chisq": delta, "delta_df": df, "delta_pvalue": pvalue, "delta_method": method}


def cfi(chisq: float, df: int, baseline_chisq: float, baseline_df: int) -> float:
    """Comparative fit index (Bentler 1990).

    Parameters
    ----------
    chisq, df : float, int
        The model's test statistic and degrees of freedom.
    baseline_chisq, baseline_df : float, int
        The baseline (independence) model's.

    Returns
    -------
    float
        1 when the denominator is 0.

    Notes
    -----
    .. math:: CFI = 1 - \\frac{\\max(\\chi^2 - df, 0)}{\\max(\\chi^2 - df,
              \\chi^2_b - df_b, 0)}

    lavaan: fitMeasures(fit, "cfi"), lav_fit_cfi().
    """
    denominator = max(chisq - df, baseline_chisq - baseline_df, 0.0)
    return 1 - max(chisq - df, 0.0) / denominator if denominator > 0 else 1.0


def tli(chisq: float, df: int, baseline_chisq: float, baseline_df: int) -> float:
    """Tucker-Lewis index (non-normed fit index); 1 for a model with df <= 0.

    Parameters
    ----------
    chisq, df, baseline_chisq, baseline_df
        As in `cfi`.

    Returns
    -------
    float

    Notes
    -----
    .. math:: TLI = \\frac{\\chi^2_b / df_b - \\chi^2 / df}{\\chi^2_b / df_b - 1}

    lavaan: fitMeasures(fit, "tli"), lav_fit_tli() (not truncated to [0, 1]).
    """
    if df <= 0:
        return 1.0
    return (baseline_chisq / baseline_df - chisq / df) / (baseline_chisq / baseline_df - 1)


def rmsea(chisq: float, df: int, n: int, *, groups: int = 1) -> float:
    """Root mean square error of approximation; 0 for a model with df <= 0.

    Parameters
    ----------
    chisq, df : float, int
        The model's test statistic and degrees of freedom.
    n : int
        Rows used (all groups together).
    groups : int
        Number of groups (Steiger 1998: the multi-group RMSEA is times sqrt(G)).

    Returns
    -------
    float

    Notes
    -----
    .. math:: RMSEA = \\sqrt{\\max(\\chi^2 - df, 0) / (df N)} \\sqrt{G}

    lavaan: fitMeasures(fit, "rmsea"), lav_fit_rmsea() (likelihood = "normal": N, not N - 1).
    """
    if df <= 0:
        return 0.0
    value = float(np.sqrt(max(chisq - df, 0.0) / (df * n)))
    return value * float(np.sqrt(groups)) if groups > 1 else value


def rmsea_ci(
    chisq: float, df: int, n: int, level: float = 0.90, *, groups: int = 1
) -> tuple[float, float]:
    """Confidence limits of the RMSEA from the noncentral chi-square (Browne & Cudeck 1993).

    Parameters
    ----------
    chisq, df, n
        As in `rmsea`.
    level : float
        Confidence level (lavaan's default 0.90).
    groups : int
        Number of groups: both limits times sqrt(G), as the RMSEA.

    Returns
    -------
    (float, float)
        (0, 0) for a just-identified model (df 0), as lavaan reports it; NaN for df < 0.

    Notes
    -----
    The limits are sqrt(lambda / (N df)) with lambda the noncentrality at which
    pchisq(chisq, df, lambda) is 1 - (1 - level) / 2 (lower) and (1 - level) / 2 (upper), 0
    where no such lambda exists; found by bisection to brentq's precision.
    lavaan: fitMeasures(fit, c("rmsea.ci.lower", "rmsea.ci.upper")), lav_fit_rmsea_ci().
    """
    if df == 0:
        return 0.0, 0.0  # a just-identified model fits perfectly, as lavaan reports it
    if df < 0:
        return np.nan, np.nan
    tail = (1 - level) / 2

    def ncp_for(prob: float) -> float:
        # pchisq(chisq, df, ncp) falls with ncp; find ncp with pchisq = prob, 0 when impossible.
        if special.chdtr(df, chisq) < prob:
            return 0.0
        lower, upper = 1e-10, max(chisq, 1.0)
        while special.chndtr(chisq, df, upper) > prob:
            lower, upper = upper, 2 * upper
        while upper - lower > 2e-12 * max(1.0, upper):  # bisection, to brentq's precision
            middle = (lower + upper) / 2
            if special.chndtr(chisq, df, middle) > prob:
                lower = middle
            else:
                upper = middle
        return (lower + upper) / 2

    lam_lower = ncp_for(1 - tail)
    lam_upper = ncp_for(tail)
    lower = float(np.sqrt(lam_lower / (n * df)))
    upper = float(np.sqrt(lam_upper / (n * df)))
    if groups > 1:
        root = float(np.sqrt(groups))
        return lower * root, upper * root
    return lower, upper


def srmr(
    observed_cov: np.ndarray,
    implied_cov: np.ndarray,
    observed_mean: np.ndarray | None = None,
    implied_mean: np.ndarray | None = None,
) -> float:
    """Standardised root mean square residual (Bentler's), one group.

    Parameters
    ----------
    observed_cov : ndarray
        Sample (H1) covariance matrix, divisor N.
    implied_cov : ndarray
        Model-implied covariance matrix.
    observed_mean, implied_mean : ndarray, optional
        Sample (H1) and model-implied means, for a model with a mean structure.

    Returns
    -------
    float

    Notes
    -----
    Residuals are scaled by the sample standard deviations: (s_ij - sigma_ij) / sqrt(s_ii s_jj)
    over the lower triangle with the diagonal and (m_i - mu_i) / sqrt(s_ii) for the means;
    SRMR is the root of their mean square. A multi-group SRMR is the groups' SRMR weighted by
    their sizes. lavaan: fitMeasures(fit, "srmr") (Bentler's, "srmr_bentler"), lav_fit_srmr.
    """
    p = len(observed_cov)
    scale = 1 / np.sqrt(np.diag(observed_cov))
    resid_cov = (observed_cov - implied_cov) * np.outer(scale, scale)
    residuals = resid_cov[np.tril_indices(p)]
    if observed_mean is not None:
        residuals = np.concatenate([residuals, (observed_mean - implied_mean) * scale])
    return float(np.sqrt(np.mean(residuals**2)))


def aic(loglik: float, npar: int) -> float:
    """Akaike's information criterion, -2 logl + 2 npar (lavaan: fitMeasures(fit, "aic"))."""
    return -2 * loglik + 2 * npar


def bic(loglik: float, npar: int, n: int) -> float:
    """Schwarz's Bayesian information criterion, -2 logl + log(N) npar (lavaan: "bic")."""
    return -2 * loglik + np.log(n) * npar


def normal_loglik(n: float, p: int, logdet: float, trace: float) -> float:
    """Log-likelihood of N rows of p normal variables from their moments.

    Parameters
    ----------
    n : float
        Rows.
    p : int
        Variables.
    logdet : float
        log|Sigma| of the model's covariance matrix.
    trace : float
        tr(S Sigma^-1) with S the sample covariance matrix (divisor N) about the model's means
        (p for the saturated model, Sigma = S).

    Returns
    -------
    float

    Notes
    -----
    .. math:: \\ell = -\\frac{N}{2} (p \\log 2\\pi + \\log|\\Sigma| + tr(S \\Sigma^{-1}))

    lavaan: fitMeasures(fit, "logl") of complete data; with Sigma = S the saturated model's
    ("unrestricted.logl"); lav_mvnorm_loglik_samplestats.
    """
    return -0.5 * n * (p * LOG_2PI + logdet + trace)


def independence_loglik(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> float:
    """Log-likelihood of the baseline (independence) model: free means and variances, no
    covariances, each variable on its own observed values (FIML).

    Parameters
    ----------
    counts : ndarray
        Observed values per variable.
    sums, squares : ndarray
        Sums and sums of squares of the observed values per variable.

    Returns
    -------
    float

    Notes
    -----
    Each variable's ML mean m and variance v (divisor its count n_i) give
    -n_i / 2 (log 2 pi + log v + 1). lavaan: the baseline model's logl in
    fitMeasures(fit, "baseline.chisq") = 2 (unrestricted.logl - baseline logl),
    lav_fit_measures / lav_object_independence.
    """
    variances = squares / counts - (sums / counts) ** 2
    return float(-0.5 * (counts * (LOG_2PI + np.log(variances) + 1)).sum())


def indices(
    chisq: float, df: int, baseline_chisq: float, baseline_df: int, n: int, *, groups: int = 1
) -> dict:
    """pvalue, cfi, tli, rmsea and its 90% CI of a fit, by the functions above.

    Parameters
    ----------
    chisq, df, baseline_chisq, baseline_df, n, groups
        As in cfi, tli, rmsea and rmsea_ci.

    Returns
    -------
    dict
        Keys pvalue, cfi, tli, rmsea, rmsea_ci_lower, rmsea_ci_upper (lavaan's fitMeasures()
        names with dots as underscores).
    """
    lower, upper = rmsea_ci(chisq, df, n, groups=groups)
    return {
        "pvalue": chisq_pvalue(chisq, df),
        "cfi": cfi(chisq, df, baseline_chisq, baseline_df),
        "tli": tli(chisq, df, baseline_chisq, baseline_df),
        "rmsea": rmsea(chisq, df, n, groups=groups),
        "rmsea_ci_lower": lower,
        "rmsea_ci_upper": upper,
    }
