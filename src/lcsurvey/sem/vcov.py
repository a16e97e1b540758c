"""Covariance matrices of the estimates of a FIML (or free-means ML) fit.

- observed_information: minus the analytic Hessian of the FIML log-likelihood in
  (params, means), lavaan's information = "observed" (its default for missing = "ml");
- expected_information: lavaan's information = "expected" with h1.information = "structured",
  given the missingness patterns;
- casewise_scores and robust_vcov: the sandwich H^-1 B H^-1 with B the sum of the casewise
  score products, lavaan's se = "robust.huber.white" (estimator = "MLR").

lavaan: lav_model_information.R, lav_model_vcov.R, lav_mvnorm_missing_scores_mu_vech_sigma.
References: Savalei, V. (2010). Expected versus observed information in SEM with incomplete
normal and nonnormal data. Psychological Methods, 15, 352-367. White, H. (1982).
Econometrica, 50, 1-25 (the sandwich).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lcsurvey.sem.fiml import loglik_hessian
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.structure import Structure

if TYPE_CHECKING:  # semopy loads slowly; models arrive built, so only the name is needed
    import pandas as pd
    import semopy


def casewise_scores(
    model: semopy.Model, data: pd.DataFrame, params: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """Gradient of each row's log-likelihood in (params, means), shape (rows, q + p).

    Parameters
    ----------
    model : semopy.Model
    data : DataFrame
    params, means : ndarray
        The point (the estimates).

    Returns
    -------
    ndarray
        One row per data row with at least one observed value (rows without are dropped, as in
        fit_fiml); the rows' scores sum to the gradient of the FIML log-likelihood.

    Notes
    -----
    For a row with observed set o, residual r (zero where missing) and A the padded inverse of
    Sigma_oo: d l_i / d mu = A r, and d l_i = tr(G_i dSigma) with G_i = (A r r' A - A) / 2,
    chained to the parameters by dvec(Sigma)/dtheta. lavaan: lavScores(fit),
    lav_mvnorm_missing_scores_mu_vech_sigma.
    """
    observed = list(model.vars["observed"])
    x = data[observed].to_numpy(dtype=float)
    mask = np.isfinite(x)
    keep = mask.any(axis=1)
    x, mask = x[keep], mask[keep]
    patterns = Patterns(x)
    _, inverse = np.unique(mask, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if not hasattr(model, "param_vals"):
        model.load(data=data[observed].astype(float))
    structure = Structure(model)
    params = np.asarray(params, dtype=float)
    a, _, _ = patterns.inverses(structure.sigma(params))
    jac = structure.jacobian(params)
    model.update_matrices(model.param_vals)
    p = patterns.p
    resid = np.where(mask, x - means, 0.0)
    u = np.einsum("nij,nj->ni", a[inverse], resid)
    outer = (u[:, :, None] * u[:, None, :]).reshape(len(u), p * p)
    g_theta = 0.5 * (outer @ jac - (a.reshape(len(a), p * p) @ jac)[inverse])
    return np.hstack([g_theta, u])


def _at_point(model: semopy.Model, data: pd.DataFrame) -> tuple[Patterns, Structure]:
    """The data's pattern statistics and the model's structure, for derivatives at a point."""
    observed = list(model.vars["observed"])
    patterns = Patterns(data[observed].to_numpy(dtype=float))
    if not hasattr(model, "param_vals"):
        model.load(data=data[observed].astype(float))
    return patterns, Structure(model)


def expected_information(
    model: semopy.Model, data: pd.DataFrame, params: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """Expected information of the FIML log-likelihood in (params, means), given the
    missingness patterns.

    Parameters
    ----------
    model, data, params, means
        As in `casewise_scores`.

    Returns
    -------
    ndarray
        Symmetric, in the order (params, means).

    Notes
    -----
    Per pattern n_k/2 tr(A_k dSigma A_k dSigma) and n_k A_k for the means, A_k the inverse of
    the pattern's observed block of the model-implied Sigma. lavaan: information = "expected"
    with h1.information = "structured" (lav_model_information_expected).
    """
    patterns, structure = _at_point(model, data)
    params = np.asarray(params, dtype=float)
    means = np.asarray(means, dtype=float)
    a, _, conditional = patterns.inverses(structure.sigma(params))
    n = patterns.n
    a_mu = a @ means
    # The expected cross-products make B_k = n_k A_k and the expected mean residual zero:
    # hessian_moments then gives minus the expected information.
    pieces = (a, n[:, None] * a_mu, a_mu, conditional)
    h_mumu, _, h_sigsig = patterns.hessian_moments(means, pieces, n[:, None, None] * a)
    q, p = structure.q, patterns.p
    rows, cols = np.triu_indices(p)
    jac = structure.jacobian(params)[rows * p + cols]
    info = np.zeros((q + p, q + p))
    info[:q, :q] = -(jac.T @ h_sigsig @ jac)
    info[q:, q:] = -h_mumu
    model.update_matrices(params)
    return (info + info.T) / 2


def observed_information(
    model: semopy.Model, data: pd.DataFrame, params: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """Minus the analytic Hessian of the FIML log-likelihood in (params, means) at a point.

    The arguments are those of `casewise_scores`.

    Returns
    -------
    ndarray
        (q + p, q + p). lavaan: information = "observed", lavInspect(fit, "information") times N.
    """
    patterns, structure = _at_point(model, data)
    params = np.asarray(params, dtype=float)
    means = np.asarray(means, dtype=float)
    _, pieces = patterns.loglik(structure.sigma(params), means, parts=True)
    _, g_sigma, b = patterns.gradient(means, pieces)
    hess = loglik_hessian(structure, patterns, params, means, pieces, g_sigma, b)
    model.update_matrices(params)
    return -hess


def robust_vcov(
    model: semopy.Model, data: pd.DataFrame, params: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """Sandwich covariance H^-1 B H^-1 of (params, means), lavaan's estimator = "MLR".

    Parameters
    ----------
    model, data, params, means
        As in `casewise_scores` (the estimates).

    Returns
    -------
    ndarray
        (q + p, q + p).

    Notes
    -----
    H is the observed information (minus the analytic Hessian of the FIML log-likelihood) and
    B the sum over rows of the outer products of the casewise scores, both at the estimates:
    lavaan's se = "robust.huber.white" with information = "observed" (its MLR default with
    missing = "ml"). With complete data this is MLR for a model with free means.

    References
    ----------
    White, H. (1982). Maximum likelihood estimation of misspecified models. Econometrica, 50,
    1-25. lavaan: lav_model_vcov (se = "robust.huber.white").
    """
    bread = np.linalg.inv(observed_information(model, data, params, means))
    scores = casewise_scores(model, data, params, means)
    return bread @ (scores.T @ scores) @ bread
