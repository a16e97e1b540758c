"""The robust (MLR) test statistic and fit indices, with or without clusters of rows.

With estimator = "MLR" lavaan reports, beside the sandwich standard errors (lcsurvey.sem.vcov),
the Yuan-Bentler scaled chi-square in its Mplus variant (test = "yuan.bentler.mplus") and
robust CFI, TLI and RMSEA. With cluster = "..." every first-order (score) matrix sums the
casewise scores within clusters and is multiplied by G / (G - 1) (lcsurvey.sem.vcov.meat).

- scaling factor c = tr(U Gamma) / df, computed as lavaan does as
  [tr(A1^-1 B1) - tr(H^-1 B0)] / df: A1 and B1 the observed and first-order information of the
  unrestricted model (H1) at its estimates, H and B0 those of the model at its estimates;
  chisq_scaled = chisq / c. Elements of fixed regressors (fixed.x) leave A1 and B1, their means
  leave H and B0.
- complete data (missing = "listwise"): robust CFI and TLI from chisq and the baseline chisq
  with their scaling factors (Brosseau-Liard & Savalei 2014), robust RMSEA
  sqrt(max(chisq / (N df) - c / N, 0)) and its CI from chisq_scaled times c (Brosseau-Liard,
  Savalei & Li 2012);
- FIML (missing = "ml"): the FIML-corrected versions of Zhang & Savalei (2020), lavaan's
  "FIML-C(V3)": the model evaluated against the H1 moments as complete data (chisq XX3), with
  a scaling factor from the H1 information.

lavaan: lav_test_yuan_bentler, lav_test_yuan_bentler_mplus_trace, lav_fit_cfi_lavobject,
lav_fit_rmsea_lavobject, lav_fit_fiml_corrected (0.6.14).

References
----------
Yuan, K.-H. & Bentler, P. M. (2000). Three likelihood-based methods for mean and covariance
structure analysis with nonnormal missing data. Sociological Methodology, 30, 165-200.
Brosseau-Liard, P. E., Savalei, V. & Li, L. (2012). An investigation of the sample performance
of two nonnormality corrections for RMSEA. MBR, 47, 904-930. Brosseau-Liard, P. E. & Savalei, V.
(2014). Adjusting incremental fit indices for nonnormality. MBR, 49, 460-470. Zhang, X. &
Savalei, V. (2020). Examining the effect of missing data on RMSEA and CFI under normal theory
full-information maximum likelihood. SEM, 27, 219-239.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lcsurvey.sem import fit_measures as fm
from lcsurvey.sem.vcov import meat, meat_factor, moment_information, moment_scores

ROBUST_COLUMNS = [
    "chisq_scaled",
    "chisq_scaling_factor",
    "pvalue_scaled",
    "cfi_robust",
    "tli_robust",
    "rmsea_robust",
    "rmsea_ci_lower_robust",
    "rmsea_ci_upper_robust",
]


@dataclass
class RobustInputs:
    """What the robust test needs from a fit (totals, not per-row averages).

    x : (rows, p) the rows used, NaN where missing; clusters their codes or None.
    fixed : positions of the fixed regressors (fixed.x) among the p variables.
    h1_mean, h1_cov : the unrestricted estimates (sample moments, divisor N, or EM).
    delta : d(mu, vech Sigma)/d(params, means) at the estimates (vcov.moment_jacobian).
    information, meat : H and B0 of the sandwich in (params, means) (vcov.sandwich).
    chisq, df, baseline_df : the model's test statistic and degrees of freedom and the
    baseline model's degrees of freedom (fitMeasures()).
    fiml : missing = "ml" (FIML-corrected robust indices) or complete data.
    """

    x: np.ndarray
    clusters: np.ndarray | None
    fixed: list[int]
    h1_mean: np.ndarray
    h1_cov: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    delta: np.ndarray
    information: np.ndarray
    meat: np.ndarray
    chisq: float
    df: int
    baseline_df: int
    fiml: bool


def _free_moments(p: int, fixed: list[int]) -> np.ndarray:
    """Positions in (mu, vech Sigma) that are not moments of the fixed regressors."""
    rows, cols = np.triu_indices(p)
    is_x = np.zeros(p, dtype=bool)
    is_x[list(fixed)] = True
    return np.flatnonzero(np.concatenate([~is_x, ~(is_x[rows] & is_x[cols])]))


def _trace(information: np.ndarray, first_order: np.ndarray) -> float:
    """tr(information^-1 first_order); NaN when the information is singular."""
    try:
        return float(np.trace(np.linalg.solve(information, first_order)))
    except np.linalg.LinAlgError:
        return np.nan


def _baseline_moments(inputs: RobustInputs) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariance matrix of the independence model at its ML estimates.

    Each variable's own mean and variance on its observed values (the likelihood of
    independent variables factors by variable, so this is also the FIML estimate); the fixed
    regressors keep their H1 block. lavaan: lav_object_independence.
    """
    x = inputs.x
    observed = np.isfinite(x)
    counts = observed.sum(axis=0)
    values = np.where(observed, x, 0.0)
    mean = values.sum(axis=0) / counts
    var = np.where(observed, x - mean, 0.0) ** 2
    cov = np.diag(var.sum(axis=0) / counts)
    fixed = list(inputs.fixed)
    if fixed:
        cov[np.ix_(fixed, fixed)] = inputs.h1_cov[np.ix_(fixed, fixed)]
        mean[fixed] = inputs.h1_mean[fixed]
    return mean, cov


def _baseline_jacobian(p: int, fixed: list[int]) -> np.ndarray:
    """d(mu, vech Sigma)/d(free means and variances) of the independence model."""
    rows, cols = np.triu_indices(p)
    free = [i for i in range(p) if i not in set(fixed)]
    v = len(rows)
    diagonal = {int(r): k for k, (r, c) in enumerate(zip(rows, cols, strict=True)) if r == c}
    delta = np.zeros((p + v, 2 * len(free)))
    for j, i in enumerate(free):
        delta[i, j] = 1.0
        delta[p + diagonal[i], len(free) + j] = 1.0
    return delta


def _saturated_information(cov: np.ndarray, n: int) -> np.ndarray:
    """Information of N complete rows in (mu, vech Sigma) at the saturated estimates.

    N K for the means and N (K_ik K_jl + K_il K_jk) d_ij d_kl for the elements (i, j), (k, l)
    of Sigma (d = 1/2 on the diagonal), K = Sigma^-1. lavaan:
    lav_mvnorm_h1_information_observed_samplestats.
    """
    p = len(cov)
    k = np.linalg.inv(cov)
    rows, cols = np.triu_indices(p)
    half = np.where(rows == cols, 0.5, 1.0)
    block = k[rows[:, None], rows[None, :]] * k[cols[:, None], cols[None, :]]
    block += k[rows[:, None], cols[None, :]] * k[cols[:, None], rows[None, :]]
    block *= half[:, None] * half[None, :]
    v = len(rows)
    out = np.zeros((p + v, p + v))
    out[:p, :p] = k
    out[p:, p:] = block
    return n * out


def ml_discrepancy(mean: np.ndarray, cov: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """F_ML of moments (mean, cov) against a model's (mu, Sigma), with the mean part.

    log|Sigma| + tr(S Sigma^-1) - log|S| - p + (m - mu)' Sigma^-1 (m - mu); N times it is the
    chi-square of complete data with these moments. lavaan: lav_mvnorm_h1_loglik_samplestats
    against lav_mvnorm_loglik_samplestats (fit.tilde in lav_fit_fiml_corrected).
    """
    inverse = np.linalg.inv(sigma)
    resid = mean - mu
    return float(
        np.linalg.slogdet(sigma)[1]
        + np.sum(cov * inverse)
        - np.linalg.slogdet(cov)[1]
        - len(cov)
        + resid @ inverse @ resid
    )


def robust_fit_measures(inputs: RobustInputs) -> dict:
    """lavaan's scaled test and robust fit indices of an MLR fit (ROBUST_COLUMNS).

    Parameters
    ----------
    inputs : RobustInputs

    Returns
    -------
    dict
        chisq_scaled, chisq_scaling_factor, pvalue_scaled, cfi_robust, tli_robust,
        rmsea_robust, rmsea_ci_lower_robust, rmsea_ci_upper_robust.

    Notes
    -----
    NaN where lavaan 0.6.14 gives NA: a negative trace (the scaling factor, and then the
    scaled test and, with complete data, every robust index; this happens with clusters when
    the model fits badly), and the scaled test of a model with df 0 (chisq_scaled is chisq;
    with complete data also its robust CFI and TLI, while under FIML they are 1, as lavaan).
    Under FIML the robust indices come from the FIML-corrected statistics and do not depend on
    the scaling factor (module docstring).
    """
    x, clusters, fixed = inputs.x, inputs.clusters, list(inputs.fixed)
    n, p = x.shape
    df = inputs.df
    keep = _free_moments(p, fixed)
    # H1: observed and first-order information at the unrestricted estimates; the first-order
    # one as S'S (scores or their cluster sums S), so that only products with S are formed.
    a1 = moment_information(x, inputs.h1_mean, inputs.h1_cov)[np.ix_(keep, keep)]
    s1 = meat_factor(moment_scores(x, inputs.h1_mean, inputs.h1_cov)[:, keep], clusters)
    try:
        a1_inv = np.linalg.inv(a1)
    except np.linalg.LinAlgError:
        a1_inv = np.full_like(a1, np.nan)
    r1 = s1 @ a1_inv  # Gamma = A1^-1 B1 A1^-1 = R1' R1
    trace_h1 = float(np.sum(r1 * s1))
    q = inputs.information.shape[0] - p
    free = np.concatenate([np.arange(q), q + np.setdiff1d(np.arange(p), fixed)])
    h0 = _trace(inputs.information[np.ix_(free, free)], inputs.meat[np.ix_(free, free)])
    factor = (trace_h1 - h0) / df if df > 0 else np.nan
    if not factor >= 0:  # lavaan: a negative trace gives NA
        factor = np.nan
    chisq = inputs.chisq
    scaled = chisq / factor if df > 0 else chisq
    out = {
        "chisq_scaled": scaled,
        "chisq_scaling_factor": factor,
        "pvalue_scaled": fm.chisq_pvalue(scaled, df) if np.isfinite(scaled) else np.nan,
    }
    # The independence model: its own estimates, information and scores.
    base_mean, base_cov = _baseline_moments(inputs)
    base_delta = _baseline_jacobian(p, fixed)
    base_df = inputs.baseline_df
    if inputs.fiml:
        wc = _saturated_information(inputs.h1_cov, n)[np.ix_(keep, keep)]
        # k = tr(U Wm^-1 Wc Wm^-1 U Gamma) with U = Wm - P E P', P = Wm D, E = (D' Wm D)^-1,
        # Wm = A1, Gamma = R1' R1. As U Wm^-1 = I - P E D', k expands to
        # tr(Wc Gamma) - 2 tr(P E D' Wc Gamma) + tr(E D' Wc D E P' Gamma P): products with D
        # (parameters) and R1 (clusters) only.
        wc_gamma = float(np.sum((r1 @ wc) * r1))

        def corrected(delta: np.ndarray) -> float:
            wm_d = a1 @ delta
            e = np.linalg.inv(delta.T @ wm_d)
            wc_d = wc @ delta
            r_wc_d = r1 @ wc_d
            r_wm_d = r1 @ wm_d
            cross = float(np.sum((r_wm_d @ e) * r_wc_d))
            last = float(np.trace(e @ (delta.T @ wc_d) @ e @ (r_wm_d.T @ r_wm_d)))
            return wc_gamma - 2 * cross + last

        model_delta = inputs.delta[np.ix_(keep, free)]
        base_free = np.any(base_delta[keep] != 0, axis=0)
        base_delta = base_delta[np.ix_(keep, base_free)]
        xx3 = n * ml_discrepancy(inputs.h1_mean, inputs.h1_cov, inputs.mu, inputs.sigma)
        xx3_null = n * ml_discrepancy(inputs.h1_mean, inputs.h1_cov, base_mean, base_cov)
        # With df 0 lavaan divides by zero: an infinite factor, and XX3 / c 0.
        c_hat = corrected(model_delta) / df if df > 0 else np.inf
        c_null = corrected(base_delta) / base_df
        xx3_scaled = xx3 / c_hat
    else:
        base_info = base_delta.T @ moment_information(x, base_mean, base_cov) @ base_delta
        base_scores = moment_scores(x, base_mean, base_cov) @ base_delta
        base_trace = trace_h1 - _trace(base_info, meat(base_scores, clusters))
        c_null = base_trace / base_df
        if not c_null >= 0:
            c_null = np.nan
        xx3, c_hat = chisq, factor
        xx3_null = n * ml_discrepancy(inputs.h1_mean, inputs.h1_cov, base_mean, base_cov)
        xx3_scaled = scaled
    lower, upper = robust_rmsea_ci(xx3_scaled, df, n, c_hat)
    out.update(
        {
            "cfi_robust": robust_cfi(xx3, df, xx3_null, base_df, c_hat, c_null),
            "tli_robust": robust_tli(xx3, df, xx3_null, base_df, c_hat, c_null),
            "rmsea_robust": robust_rmsea(xx3, df, n, c_hat),
            "rmsea_ci_lower_robust": lower,
            "rmsea_ci_upper_robust": upper,
        }
    )
    return out


def _corrected(c_hat: float, c_null: float, df: int) -> bool:
    """Whether lavaan uses the scaling factors (it does not when either is exactly 1)."""
    return df > 0 and c_hat != 1 and c_null != 1


def robust_cfi(
    chisq: float, df: int, baseline_chisq: float, baseline_df: int, c_hat: float, c_null: float
) -> float:
    """Robust CFI: 1 - max(chisq - c df, 0) / max(chisq - c df, chisq_b - c_b df_b, 0).

    NaN when a scaling factor is NaN. lavaan: lav_fit_cfi(X2, df, X2.null, df.null, c.hat,
    c.hat.null), "cfi.robust".
    """
    if np.isnan([chisq, baseline_chisq, c_hat, c_null]).any():
        return np.nan
    if _corrected(c_hat, c_null, df):
        t1 = max(chisq - c_hat * df, 0.0)
        t2 = max(chisq - c_hat * df, baseline_chisq - c_null * baseline_df, 0.0)
    else:
        t1 = max(chisq - df, 0.0)
        t2 = max(chisq - df, baseline_chisq - baseline_df, 0.0)
    if np.isclose(t1, 0, rtol=0, atol=1.5e-8) and np.isclose(t2, 0, rtol=0, atol=1.5e-8):
        return 1.0
    return 1 - t1 / t2


def robust_tli(
    chisq: float, df: int, baseline_chisq: float, baseline_df: int, c_hat: float, c_null: float
) -> float:
    """Robust TLI: 1 - (chisq - c df) df_b / ((chisq_b - c_b df_b) df).

    NaN when a scaling factor is NaN. lavaan: lav_fit_tli(..., c.hat, c.hat.null), "tli.robust".
    """
    if np.isnan([chisq, baseline_chisq, c_hat, c_null]).any():
        return np.nan
    if _corrected(c_hat, c_null, df):
        t1 = (chisq - c_hat * df) * baseline_df
        t2 = (baseline_chisq - c_null * baseline_df) * df
    else:
        t1 = (chisq - df) * baseline_df
        t2 = (baseline_chisq - baseline_df) * df
    return 1 - t1 / t2 if df > 0 and abs(t2) > 0 else 1.0


def robust_rmsea(chisq: float, df: int, n: int, c_hat: float) -> float:
    """Robust RMSEA sqrt(max(chisq / (N df) - c / N, 0)); 0 for df 0, NaN for a NaN c.

    lavaan: lav_fit_rmsea(X2, df, N, c.hat), "rmsea.robust".
    """
    if df <= 0:
        return 0.0
    if np.isnan(c_hat) or np.isnan(chisq):
        return np.nan
    return float(np.sqrt(max(chisq / n / df - c_hat / n, 0.0)))


def robust_rmsea_ci(chisq_scaled: float, df: int, n: int, c_hat: float) -> tuple[float, float]:
    """90% CI of the robust RMSEA: the RMSEA CI of chisq_scaled with the noncentrality times c.

    lavaan: lav_fit_rmsea_ci(X2 = chisq.scaled, df, N, c.hat), "rmsea.ci.lower.robust" and
    "rmsea.ci.upper.robust"; (0, 0) for df 0, else NaN for a NaN c.
    """
    if df < 1 and np.isfinite(chisq_scaled):
        return 0.0, 0.0
    if np.isnan(c_hat) or not np.isfinite(chisq_scaled):
        return np.nan, np.nan
    lower, upper = fm.rmsea_ci(chisq_scaled, df, n)
    root = float(np.sqrt(c_hat))
    return lower * root, upper * root


def cluster_vcov_problem(vcov: np.ndarray, n_clusters: int) -> str | None:
    """Why a cluster-robust covariance matrix of the estimates is not positive definite, as
    lavaan warns (lav_model_vcov: smallest eigenvalue below .Machine$double.eps^(3/4)), or None.

    The meat sums the scores within G clusters, and the sums add up to zero at the estimates,
    so its rank is at most G - 1: with as many free parameters as clusters or more the matrix
    is singular. Each estimate's standard error is still a cluster-robust one (Stata and Mplus
    report them too); what is lost is any joint Wald test of more than G - 1 parameters.
    """
    free = len(vcov)
    finite = bool(np.isfinite(vcov).all())
    smallest = float(np.linalg.eigvalsh(vcov)[0]) if free and finite else np.nan
    if smallest >= np.finfo(float).eps ** 0.75 and free < n_clusters:
        return None
    if free >= n_clusters:
        return (
            f"{free} free parameters and {n_clusters} clusters: the cluster-robust covariance "
            f"matrix of the estimates has rank at most {n_clusters - 1} and is not positive "
            f"definite (smallest eigenvalue {smallest:.3g}), as lavaan warns. Each estimate's "
            "standard error and interval remain cluster-robust; a joint test of more than "
            f"{n_clusters - 1} parameters is not possible, and with few clusters such standard "
            "errors tend to be somewhat too small"
        )
    return (
        "the cluster-robust covariance matrix of the estimates is not positive definite "
        f"(smallest eigenvalue {smallest:.3g}), as lavaan warns: the model may not be identified"
    )
