"""Full-information maximum likelihood (lavaan's missing = "ml") for semopy models.

The model's covariance structure Sigma(theta) comes from semopy (parser, matrices, starting
values); the means of the observed variables are free (a saturated mean structure, as lavaan
estimates intercepts for a model without mean restrictions). The likelihood of the
missingness patterns, its derivatives in (mu, Sigma) and the EM estimate of H1 are in
lcsurvey.sem.missing; the chain rule to the model's parameters in lcsurvey.sem.structure.

Estimation: EM for the unrestricted (H1) means and covariances; semopy's ML fit to the EM
moments, polished by Fisher scoring (ml_start), for starting values; Newton steps on the FIML
log-likelihood with its analytic Hessian (newton_ascent); both by lcsurvey.sem.optimize.ascend.
Standard errors come from the observed information (the inverse Hessian of -loglik in the free
parameters including the means), lavaan's default for missing = "ml" (other information
matrices and the sandwich: lcsurvey.sem.vcov). Fit measures follow lavaan's fitMeasures() for
missing = "ml" (fiml_fit_measures, by lcsurvey.sem.fit_measures).

lavaan: lavaan(..., missing = "ml"); lav_model_estimate, lav_mvnorm_missing.R.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lcsurvey.sem import fit_measures as fm
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.optimize import ascend, damped_newton_step
from lcsurvey.sem.structure import Structure

if TYPE_CHECKING:  # semopy loads slowly; models arrive built, so only the name is needed
    import semopy


@dataclass
class FimlResult:
    """A FIML fit: estimates, log-likelihoods of the model, H1 and baseline, and the vcov.

    lavaan: the parts of lavInspect(fit, "est"), fitMeasures(fit, c("logl",
    "unrestricted.logl")) and vcov(fit) of lavaan(..., missing = "ml").
    """

    params: np.ndarray  # semopy parameter vector at the optimum (model.param_vals order)
    means: np.ndarray  # estimated means of the observed variables (model.vars["observed"])
    loglik: float  # H0 log-likelihood (lavaan's logl)
    loglik_h1: float  # unrestricted model log-likelihood by EM (lavaan's unrestricted.logl)
    loglik_baseline: float  # independence model with free means and variances
    npar: int  # free parameters including the p means (lavaan's npar)
    vcov: np.ndarray  # covariance matrix of (params, means) from the observed information
    n: int  # rows used (rows with at least one observed value)
    converged: bool
    iterations: int
    h1_means: np.ndarray | None = None  # EM means of the unrestricted model
    h1_cov: np.ndarray | None = None  # EM covariance matrix (divisor N) of the unrestricted model


def ml_start(
    structure: Structure, theta: np.ndarray, cov: np.ndarray, *, max_iter: int = 500
) -> np.ndarray:
    """Minimise the complete-data ML discrepancy log|Sigma| + tr(S Sigma^-1) by Fisher scoring.

    Parameters
    ----------
    structure : Structure
        The model's Sigma(theta).
    theta : ndarray
        Starting values (semopy's param_vals order).
    cov : ndarray
        The covariance matrix S fitted (the EM moments for FIML; a draw's for the bootstrap).
    max_iter : int
        Most scoring steps.

    Returns
    -------
    ndarray
        theta after the last accepted step; the start if Sigma(start) is not positive definite.

    Notes
    -----
    Gradient tr((K - K S K) dSigma) and expected information tr(K S_a K S_b) with K = Sigma^-1
    (chained by Structure); steps halved until F falls (lcsurvey.sem.optimize.ascend on -F),
    until the Newton decrement is below 1e-12. lavaan: lav_model_estimate with
    optim.method = "fisher" (for ML, complete data).
    """

    def objective(th):
        try:
            sigma = structure.sigma(th)
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return -np.inf, None
        k_inv = np.linalg.inv(sigma)
        return -(2 * np.log(np.diag(chol)).sum() + np.sum(cov * k_inv)), k_inv

    def direction(th, k_inv):
        g = k_inv - k_inv @ cov @ k_inv
        grad = structure.chain(th, g)  # of the discrepancy, which falls
        jac = structure.jacobian(th)
        chol_k = np.linalg.cholesky(k_inv)
        p = len(k_inv)
        z = chol_k.T @ jac.T.reshape(structure.q, p, p) @ chol_k
        z = z.reshape(structure.q, p * p)
        info = z @ z.T
        try:
            step = -np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(info, grad, rcond=None)[0]
        return step, -grad @ step, None

    value, k_inv = objective(theta)
    if not np.isfinite(value):
        return theta
    fit = ascend(
        objective,
        direction,
        theta,
        tol=1e-12,
        max_iter=max_iter,
        value=value,
        state=k_inv,
        min_size=1e-8,
        final_step=True,
    )
    return fit.x


def _ml_stationary(
    structure: Structure, theta: np.ndarray, cov: np.ndarray, tol: float = 1e-6
) -> bool:
    """Whether theta is a stationary point of the ML discrepancy to `cov` (positive definite
    implied covariance, gradient below `tol` in every parameter)."""
    try:
        sigma = structure.sigma(theta)
        np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return False
    k_inv = np.linalg.inv(sigma)
    grad = structure.chain(theta, k_inv - k_inv @ cov @ k_inv)
    return bool(np.all(np.isfinite(grad)) and np.abs(grad).max() < tol)


# --------------------------------------------------------------------------------------------
# FIML
# --------------------------------------------------------------------------------------------


def loglik_hessian(structure: Structure, patterns: Patterns, theta, mu, pieces, g_sigma, b):
    """Analytic Hessian of the FIML log-likelihood in (theta, mu).

    Parameters
    ----------
    structure : Structure
    patterns : Patterns
    theta, mu : ndarray
        The point (model parameters, means).
    pieces, g_sigma, b
        patterns.loglik(..., parts=True) and patterns.gradient(...) at that point.

    Returns
    -------
    ndarray
        (q + p, q + p), symmetric.

    Notes
    -----
    J' H_SS J + sum G d2Sigma (the second-order term by Structure.second_order) in theta,
    H_mumu in mu and H_muS J between them, with J = dvech(Sigma)/dtheta. lavaan: the observed
    information for missing = "ml", lav_model_information_observed /
    lav_mvnorm_missing_information_observed_samplestats.
    """
    h_mumu, h_musig, h_sigsig = patterns.hessian_moments(mu, pieces, b)
    q, p = structure.q, patterns.p
    rows, cols = np.triu_indices(p)
    jac = structure.jacobian(theta)[rows * p + cols]  # dvech(Sigma) / dtheta
    h = np.empty((q + p, q + p))
    h[:q, :q] = jac.T @ h_sigsig @ jac + structure.second_order(theta, g_sigma)
    h_mutheta = h_musig @ jac
    h[q:, :q] = h_mutheta
    h[:q, q:] = h_mutheta.T
    h[q:, q:] = h_mumu
    return (h + h.T) / 2


def fit_fiml(
    model: semopy.Model, data: pd.DataFrame, *, tol: float = 1e-9, max_iter: int = 100
) -> FimlResult:
    """Fit `model` by full-information ML with free means, as lavaan's missing = "ml".

    Parameters
    ----------
    model : semopy.Model
        The model (built from its syntax; loaded here with the data and the EM moments).
    data : DataFrame
        The model's observed variables, NaN where missing.
    tol : float
        Converged when the Newton increase g' step is below tol.
    max_iter : int
        Most Newton steps.

    Returns
    -------
    FimlResult
        After the call, model.param_vals and the model matrices hold the FIML estimates.

    Notes
    -----
    Rows without any observed value of the model's variables are dropped. H1 by EM
    (Patterns.h1); starting values by ml_start to the EM moments (semopy's own ML fit first where
    that does not reach a stationary point); then newton_ascent. vcov = the inverse observed
    information. lavaan: sem(model, data, missing = "ml").

    References
    ----------
    Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data.
    In Marcoulides & Schumacker (Eds.), Advanced structural equation modeling. Erlbaum.
    """
    observed = list(model.vars["observed"])
    absent = [v for v in observed if v not in data.columns]
    if absent:
        raise ValueError(f"the data lack the model's variables {absent}")
    x = data[observed].to_numpy(dtype=float)
    patterns = Patterns(x)
    p = patterns.p
    if patterns.n_rows == 0:
        raise ValueError("no row has an observed value of the model's variables")
    counts, sums, squares = patterns.marginals()
    if np.any(counts < 2):
        raise ValueError("every variable needs at least two observed values")

    mu_h1, cov_h1 = patterns.h1()
    eigen = np.linalg.eigvalsh(cov_h1)
    if eigen[0] < 1e-8 * eigen[-1]:
        warnings.warn(
            "the unrestricted (H1) covariance matrix is nearly singular: too few "
            "observed pairs for some variables; chisq and the fit indices are unreliable",
            RuntimeWarning,
            stacklevel=2,
        )
    loglik_h1 = float(patterns.loglik(cov_h1, mu_h1))

    loglik_baseline = fm.independence_loglik(counts, sums, squares)

    cov_frame = pd.DataFrame(cov_h1, index=observed, columns=observed)
    frame = data.loc[np.isfinite(x).any(axis=1), observed].astype(float)
    model.load(data=frame, cov=cov_frame)
    model.n_samples = patterns.n_rows
    structure = Structure(model)
    q = structure.q
    # Starting values: Fisher scoring of the ML discrepancy to the EM moments from semopy's
    # starting values; where that does not reach a stationary point, semopy's own ML fit first.
    theta = ml_start(
        structure, np.asarray(model.param_vals, dtype=float).copy(), cov_h1, max_iter=40
    )
    if not _ml_stationary(structure, theta, cov_h1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(obj="MLW", solver="SLSQP")
        except (np.linalg.LinAlgError, ValueError):
            model.load(data=frame, cov=cov_frame, clean_slate=True)
        theta = ml_start(structure, np.asarray(model.param_vals, dtype=float).copy(), cov_h1)
    mu = mu_h1.copy()
    try:
        value, pieces = patterns.loglik(structure.sigma(theta), mu, parts=True)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the starting values give a covariance matrix that is not positive definite"
        ) from None
    theta, mu, value, pieces, hess, converged, iterations = newton_ascent(
        structure, patterns, theta, mu, value, pieces, tol=tol, max_iter=max_iter
    )

    if not converged or hess is None:
        g_mu, g_sigma, b = patterns.gradient(mu, pieces)
        hess = loglik_hessian(structure, patterns, theta, mu, pieces, g_sigma, b)
    try:
        vcov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        vcov = np.full_like(hess, np.nan)
    model.param_vals = theta
    model.update_matrices(theta)
    return FimlResult(
        params=theta,
        means=mu,
        loglik=float(value),
        loglik_h1=loglik_h1,
        loglik_baseline=loglik_baseline,
        npar=q + p,
        vcov=vcov,
        n=patterns.n_rows,
        converged=converged,
        iterations=iterations,
        h1_means=mu_h1,
        h1_cov=cov_h1,
    )


def newton_ascent(
    structure: Structure,
    patterns: Patterns,
    theta: np.ndarray,
    mu: np.ndarray,
    value: float,
    pieces,
    *,
    tol: float,
    max_iter: int,
):
    """Maximise the FIML log-likelihood from (theta, mu) by Newton steps with the analytic
    Hessian, halving a step until the log-likelihood rises enough (Armijo).

    Parameters
    ----------
    structure : Structure
    patterns : Patterns
    theta, mu : ndarray
        Start (model parameters, means).
    value, pieces
        patterns.loglik(structure.sigma(theta), mu, parts=True) at the start.
    tol, max_iter
        As in `fit_fiml`.

    Returns
    -------
    tuple
        (theta, mu, value, pieces, hess, converged, iterations); hess is the Hessian at the
        returned point (always so when converged), or None when it was last computed at an
        earlier point.

    Notes
    -----
    The loop is lcsurvey.sem.optimize.ascend with damped_newton_step (Levenberg-damped where
    -H is not positive definite). lavaan optimises with nlminb; the estimates agree to the
    tolerance of tests/test_fiml.py.
    """
    q = structure.q

    def objective(x):
        try:
            return patterns.loglik(structure.sigma(x[:q]), x[q:], parts=True)
        except np.linalg.LinAlgError:
            return -np.inf, None

    def direction(x, pieces):
        g_mu, g_sigma, b = patterns.gradient(x[q:], pieces)
        grad = np.concatenate([structure.chain(x[:q], g_sigma), g_mu])
        hess = loglik_hessian(structure, patterns, x[:q], x[q:], pieces, g_sigma, b)
        step = damped_newton_step(hess, grad)
        return step, grad @ step, hess

    fit = ascend(
        objective,
        direction,
        np.concatenate([theta, mu]),
        tol=tol,
        max_iter=max_iter,
        value=value,
        state=pieces,
    )
    return (
        fit.x[:q].copy(),
        fit.x[q:].copy(),
        fit.value,
        fit.state,
        fit.last,
        fit.converged,
        fit.iterations,
    )


def fiml_gradient(
    model: semopy.Model, data: pd.DataFrame, params: np.ndarray, means: np.ndarray
) -> tuple[float, np.ndarray]:
    """Log-likelihood and its analytic gradient in (params, means) at the given point.

    Parameters
    ----------
    model : semopy.Model
    data : DataFrame
    params, means : ndarray
        The point.

    Returns
    -------
    (float, ndarray)
        lavaan: lavInspect(fit, "gradient") is the gradient of its discrepancy, -1/N times this.
    """
    observed = list(model.vars["observed"])
    patterns = Patterns(data[observed].to_numpy(dtype=float))
    if not hasattr(model, "param_vals"):
        model.load(data=data[observed].astype(float))
    structure = Structure(model)
    value, pieces = patterns.loglik(structure.sigma(params), means, parts=True)
    g_mu, g_sigma, _ = patterns.gradient(means, pieces)
    grad = np.concatenate([structure.chain(params, g_sigma), g_mu])
    model.update_matrices(model.param_vals)
    return float(value), grad


def fiml_fit_measures(
    result: FimlResult, model: semopy.Model, fixed: list[int] | None = None
) -> dict:
    """lavaan's fitMeasures() for a missing = "ml" fit (likelihood "normal", N in RMSEA).

    Parameters
    ----------
    result : FimlResult
    model : semopy.Model
        The fitted model (its matrices are set to result.params).
    fixed : list of int, optional
        Positions of observed regressors whose means, variances and covariances are fixed at
        the sample values (lavaan's fixed.x = TRUE; their values are complete).

    Returns
    -------
    dict
        npar, ntotal, chisq, df, pvalue, cfi, tli, rmsea, rmsea_ci_lower, rmsea_ci_upper, srmr,
        aic, bic, logl, unrestricted_logl, baseline_chisq, baseline_df.

    Notes
    -----
    chisq = 2 (logl_H1 - logl); the baseline is the independence model with free means and
    variances; the formulas are lcsurvey.sem.fit_measures. Fixed regressors: their k(k+3)/2
    moments leave the moments and the free parameters, the baseline model keeps their
    covariances, and logl (and unrestricted_logl, hence AIC and BIC) is the log-likelihood of
    the other variables given them: the joint one minus the regressors' own saturated one.
    Regressors with a declared (free) variance are modelled variables, independent of all
    others in the baseline, as in lavaan. lavaan: fitMeasures(fit) of sem(..., missing = "ml").
    """
    fixed = list(fixed or [])
    k = len(fixed)
    p = len(result.means)
    n = result.n
    moments = p * (p + 1) // 2 + p - k * (k + 3) // 2
    npar = result.npar - k  # the regressors' means are not free
    df = moments - npar
    # df 0: the model reproduces H1 exactly and only rounding noise is left, as lavaan reports.
    chisq = 2 * (result.loglik_h1 - result.loglik) if df != 0 else 0.0
    loglik, loglik_h1, loglik_baseline = result.loglik, result.loglik_h1, result.loglik_baseline
    if k:
        cov_x = result.h1_cov[np.ix_(fixed, fixed)]
        own = fm.normal_loglik(n, k, np.linalg.slogdet(cov_x)[1], k)
        # The baseline model's regressors are saturated instead of independent.
        independent = fm.normal_loglik(n, k, np.log(np.diag(cov_x)).sum(), k)
        loglik_baseline += own - independent
        loglik, loglik_h1, loglik_baseline = loglik - own, loglik_h1 - own, loglik_baseline - own
    base_chisq = 2 * (loglik_h1 - loglik_baseline)
    base_df = moments - 2 * (p - k)
    model.update_matrices(result.params)
    sigma = model.calc_sigma()[0]
    srmr = fm.srmr(result.h1_cov, sigma, result.h1_means, result.means)
    return {
        "npar": npar,
        "ntotal": n,
        "chisq": chisq,
        "df": df,
        **fm.indices(chisq, df, base_chisq, base_df, n),
        "srmr": srmr,
        "aic": fm.aic(loglik, npar),
        "bic": fm.bic(loglik, npar, n),
        "logl": loglik,
        "unrestricted_logl": loglik_h1,
        "baseline_chisq": base_chisq,
        "baseline_df": base_df,
    }
