"""Covariance matrices of the estimates of a FIML (or free-means ML) fit.

- observed_information: minus the analytic Hessian of the FIML log-likelihood in
  (params, means), lavaan's information = "observed" (its default for missing = "ml");
- expected_information: lavaan's information = "expected" with h1.information = "structured",
  given the missingness patterns;
- moment_scores, moment_information, moment_jacobian: the same in (mu, vech Sigma), for the
  robust test statistic (lcsurvey.sem.robust);
- casewise_scores, meat and robust_vcov: the sandwich H^-1 B H^-1 with B the sum of the
  casewise score products, lavaan's se = "robust.huber.white" (estimator = "MLR"), or of their
  sums within clusters times G / (G - 1), lavaan's se = "robust.cluster".

lavaan: lav_model_information.R, lav_model_vcov.R, lav_mvnorm_missing_scores_mu_vech_sigma.
References: Savalei, V. (2010). Expected versus observed information in SEM with incomplete
normal and nonnormal data. Psychological Methods, 15, 352-367. White, H. (1982).
Econometrica, 50, 1-25 (the sandwich).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lcsurvey.sem.clusters import sum_within
from lcsurvey.sem.fiml import loglik_hessian
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.structure import Structure

if TYPE_CHECKING:  # semopy loads slowly; models arrive built, so only the name is needed
    import pandas as pd
    import semopy


def moment_scores(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gradient of each row's normal log-likelihood in (mu, vech Sigma), shape (rows, p + v).

    Parameters
    ----------
    x : ndarray
        (rows, p) data, NaN where missing; rows without an observed value are dropped.
    mu, sigma : ndarray
        The point: means (p,) and covariance matrix (p, p).

    Returns
    -------
    ndarray
        Columns: the p means, then the v = p(p+1)/2 distinct elements of Sigma in the order of
        numpy.triu_indices(p), each element moving Sigma[i, j] and Sigma[j, i] together (the
        order of Patterns.hessian_moments).

    Notes
    -----
    For a row with observed set o, residual r (zero where missing) and A the padded inverse of
    Sigma_oo: d l_i / d mu = A r, and d l_i / d Sigma = G_i = (A r r' A - A) / 2, counted twice
    for an off-diagonal element. lavaan: lav_mvnorm_missing_scores_mu_vech_sigma (and
    lav_mvnorm_scores_mu_vech_sigma for complete data).
    """
    mask = np.isfinite(x)
    keep = mask.any(axis=1)
    x, mask = x[keep], mask[keep]
    patterns = Patterns(x)
    _, inverse = np.unique(mask, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    a, _, _ = patterns.inverses(sigma)
    resid = np.where(mask, x - mu, 0.0)
    u = np.einsum("nij,nj->ni", a[inverse], resid)
    rows, cols = np.triu_indices(patterns.p)
    g = 0.5 * (u[:, rows] * u[:, cols] - a[:, rows, cols][inverse])
    g *= np.where(rows == cols, 1.0, 2.0)
    return np.hstack([u, g])


def moment_information(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Minus the Hessian of the normal log-likelihood of `x` in (mu, vech Sigma) at a point.

    Parameters
    ----------
    x, mu, sigma
        As in `moment_scores`.

    Returns
    -------
    ndarray
        (p + v, p + v), the order of `moment_scores`. At the unrestricted ML estimates (H1)
        this is lavaan's unstructured observed h1 information times N
        (lav_mvnorm_missing_information_observed_samplestats; with complete data at the sample
        moments, lav_mvnorm_h1_information_observed_samplestats).
    """
    patterns = Patterns(x)
    _, pieces = patterns.loglik(sigma, mu, parts=True)
    _, _, b = patterns.gradient(mu, pieces)
    h_mumu, h_musig, h_sigsig = patterns.hessian_moments(mu, pieces, b)
    return -np.block([[h_mumu, h_musig], [h_musig.T, h_sigsig]])


def moment_jacobian(structure: Structure, params: np.ndarray) -> np.ndarray:
    """d(mu, vech Sigma) / d(params, means) of a model with free means, (p + v, q + p).

    lavaan: computeDelta (with the intercepts replaced by the free means).
    """
    q = structure.q
    jac = structure.jacobian(params)
    p = int(round(np.sqrt(jac.shape[0])))
    rows, cols = np.triu_indices(p)
    delta = np.zeros((p + len(rows), q + p))
    delta[:p, q:] = np.eye(p)
    delta[p:, :q] = jac[rows * p + cols]
    return delta


def meat_factor(scores: np.ndarray, clusters: np.ndarray | None = None) -> np.ndarray:
    """S with meat(scores, clusters) = S'S: the scores, or their sums within clusters times
    sqrt(G / (G - 1)); (rows or G, k). A product with S is cheaper than one with S'S when
    there are fewer rows (or clusters) than columns."""
    if clusters is None:
        return scores
    sums = sum_within(scores, clusters)
    g = len(sums)
    return sums * np.sqrt(g / (g - 1))


def meat(scores: np.ndarray, clusters: np.ndarray | None = None) -> np.ndarray:
    """Sum of the outer products of the scores; with clusters, of their sums per cluster.

    Parameters
    ----------
    scores : ndarray
        (rows, k) casewise scores.
    clusters : ndarray of int, optional
        Cluster code per row (0..G-1, lcsurvey.sem.clusters.cluster_codes).

    Returns
    -------
    ndarray
        (k, k). With clusters: G / (G - 1) times S'S, S the (G, k) sums of the scores within
        clusters, lavaan's small-sample factor for se = "robust.cluster" (also with
        missing = "ml"; lav_mvnorm_missing_information_firstorder with cluster.idx).
    """
    factor = meat_factor(scores, clusters)
    return factor.T @ factor


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
    The moment scores (`moment_scores`) chained to the parameters by d(mu, vech Sigma)/dtheta
    (`moment_jacobian`). lavaan: lavScores(fit), lav_mvnorm_missing_scores_mu_vech_sigma.
    """
    observed = list(model.vars["observed"])
    x = data[observed].to_numpy(dtype=float)
    if not hasattr(model, "param_vals"):
        model.load(data=data[observed].astype(float))
    structure = Structure(model)
    params = np.asarray(params, dtype=float)
    scores = moment_scores(x, np.asarray(means, dtype=float), structure.sigma(params))
    delta = moment_jacobian(structure, params)
    model.update_matrices(model.param_vals)
    return scores @ delta


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


def sandwich(
    model: semopy.Model,
    data: pd.DataFrame,
    params: np.ndarray,
    means: np.ndarray,
    clusters: np.ndarray | None = None,
    *,
    bread: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sandwich H^-1 B H^-1 of (params, means) with its bread H and meat B.

    Parameters
    ----------
    model, data, params, means
        As in `casewise_scores` (the estimates).
    clusters : ndarray of int, optional
        Cluster code per row of `data` (rows with an observed value): the scores are summed
        within clusters before the outer products (`meat`).
    bread : ndarray, optional
        H^-1 when already known (a FIML fit's vcov is the inverse observed information at the
        estimates); computed otherwise.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        vcov, H (the observed information) and B, each (q + p, q + p).
    """
    if bread is None:
        info = observed_information(model, data, params, means)
        bread = np.linalg.inv(info)
    else:
        info = np.linalg.inv(bread)
    scores = meat(casewise_scores(model, data, params, means), clusters)
    return bread @ scores @ bread, info, scores


def robust_vcov(
    model: semopy.Model,
    data: pd.DataFrame,
    params: np.ndarray,
    means: np.ndarray,
    clusters: np.ndarray | None = None,
) -> np.ndarray:
    """Sandwich covariance H^-1 B H^-1 of (params, means), lavaan's estimator = "MLR".

    Parameters
    ----------
    model, data, params, means
        As in `casewise_scores` (the estimates).
    clusters : ndarray of int, optional
        Cluster code per row (lavaan's cluster = "..."): B from the scores summed within
        clusters, times G / (G - 1).

    Returns
    -------
    ndarray
        (q + p, q + p).

    Notes
    -----
    H is the observed information (minus the analytic Hessian of the FIML log-likelihood) and
    B the sum over rows of the outer products of the casewise scores, both at the estimates:
    lavaan's se = "robust.huber.white" with information = "observed" (its MLR default with
    missing = "ml"). With complete data this is MLR for a model with free means. With
    clusters, lavaan's se = "robust.cluster" (sem(..., cluster = "g", estimator = "MLR")).

    References
    ----------
    White, H. (1982). Maximum likelihood estimation of misspecified models. Econometrica, 50,
    1-25. Williams, R. L. (2000). A note on robust variance estimation for cluster-correlated
    data. Biometrics, 56, 645-646. lavaan: lav_model_vcov (se = "robust.huber.white",
    "robust.cluster").
    """
    return sandwich(model, data, params, means, clusters)[0]
