"""Full-information maximum likelihood (lavaan's missing = "ml") for semopy models.

The model's covariance structure Sigma(theta) comes from semopy (parser, matrices, starting
values); the means of the observed variables are free (a saturated mean structure, as lavaan
estimates intercepts for a model without mean restrictions). Rows are grouped by missingness
pattern once; the log-likelihood, its gradient and its Hessian then work on per-pattern
counts, sums and cross-products, using one inverse of Sigma per evaluation: for a pattern with
missing set m, the inverse of the observed block (padded with zeros) is
K - K[:, m] K[m, m]^-1 K[m, :] with K = Sigma^-1, and log|Sigma_oo| = log|Sigma| + log|K[m, m]|.

Estimation: EM for the unrestricted (H1) means and covariances; semopy's ML fit to the EM
moments, polished by Fisher scoring, for starting values; Newton steps on the FIML
log-likelihood with its analytic Hessian. Standard errors come from the observed information
(the inverse Hessian of -loglik in the free parameters including the means), lavaan's default
for missing = "ml". Fit measures follow lavaan's fitMeasures() for missing = "ml".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.sem.optimize import ascend, damped_newton_step

if TYPE_CHECKING:      # semopy loads slowly; models arrive built, so only the name is needed
    import semopy

LOG_2PI = float(np.log(2 * np.pi))


@dataclass
class FimlResult:
    params: np.ndarray       # semopy parameter vector at the optimum (model.param_vals order)
    means: np.ndarray        # estimated means of the observed variables (model.vars["observed"])
    loglik: float            # H0 log-likelihood (lavaan's logl)
    loglik_h1: float         # unrestricted model log-likelihood by EM (lavaan's unrestricted.logl)
    loglik_baseline: float   # independence model with free means and variances
    npar: int                # free parameters including the p means (lavaan's npar)
    vcov: np.ndarray         # covariance matrix of (params, means) from the observed information
    n: int                   # rows used (rows with at least one observed value)
    converged: bool
    iterations: int
    h1_means: np.ndarray | None = None   # EM means of the unrestricted model
    h1_cov: np.ndarray | None = None     # EM covariance matrix (divisor N) of the unrestricted model


# --------------------------------------------------------------------------------------------
# Missingness patterns
# --------------------------------------------------------------------------------------------


class Patterns:
    """Per-pattern sufficient statistics of a data matrix with NaN for missing cells.

    For pattern k: n[k] rows, sums[k] the column sums (0 where missing), cross[k] the sum of
    x x' over its rows (0 outside the observed block). Patterns are grouped by their number of
    missing variables; `groups` holds (pattern indices, missing-variable indices) per group.
    """

    def __init__(self, x: np.ndarray):
        mask = np.isfinite(x)
        keep = mask.any(axis=1)
        x, mask = x[keep], mask[keep]
        self.n_rows, self.p = x.shape
        x0 = np.where(mask, x, 0.0)
        masks, inverse = np.unique(mask, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        self.observed = masks
        self.n = np.bincount(inverse, minlength=len(masks)).astype(float)
        self.n_observed = masks.sum(axis=1)
        self.sums = np.zeros((len(masks), self.p))
        np.add.at(self.sums, inverse, x0)
        order = np.argsort(inverse, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(self.n).astype(int)])
        xs = x0[order]
        self.cross = np.empty((len(masks), self.p, self.p))
        for k in range(len(masks)):
            block = xs[bounds[k]:bounds[k + 1]]
            self.cross[k] = block.T @ block
        n_missing = self.p - self.n_observed
        self.groups = []
        for r in np.unique(n_missing):
            idx = np.flatnonzero(n_missing == r)
            miss = np.array([np.flatnonzero(~masks[k]) for k in idx], dtype=int).reshape(len(idx), r)
            self.groups.append((idx, miss))
        self.const = float(LOG_2PI * (self.n * self.n_observed).sum())

    def inverses(self, sigma: np.ndarray):
        """Padded inverses A[k] of the observed blocks of Sigma and log|Sigma_oo| per pattern.

        Also returns, per group with missing values, K[m, m]^-1 (the conditional covariance of the
        missing given the observed variables). Raises LinAlgError if Sigma is not positive
        definite.
        """
        chol = np.linalg.cholesky(sigma)
        logdet = 2 * np.log(np.diag(chol)).sum()
        eye = np.eye(self.p)
        k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, eye))
        k_inv = (k_inv + k_inv.T) / 2
        npat = len(self.n)
        a = np.empty((npat, self.p, self.p))
        logdets = np.empty(npat)
        conditional = []
        for idx, miss in self.groups:
            r = miss.shape[1]
            if r == 0:
                a[idx] = k_inv
                logdets[idx] = logdet
                conditional.append(None)
                continue
            km = np.moveaxis(k_inv[:, miss], 0, 1)                 # (g, p, r) = K[:, m]
            kmm = k_inv[miss[:, :, None], miss[:, None, :]]          # (g, r, r)
            if r == 1:
                kmm_inv = 1.0 / kmm
                det = kmm[:, 0, 0]
            elif r == 2:
                det = kmm[:, 0, 0] * kmm[:, 1, 1] - kmm[:, 0, 1] * kmm[:, 1, 0]
                kmm_inv = np.empty_like(kmm)
                kmm_inv[:, 0, 0] = kmm[:, 1, 1] / det
                kmm_inv[:, 1, 1] = kmm[:, 0, 0] / det
                kmm_inv[:, 0, 1] = -kmm[:, 0, 1] / det
                kmm_inv[:, 1, 0] = -kmm[:, 1, 0] / det
            else:
                sign, logabs = np.linalg.slogdet(kmm)
                det = sign * np.exp(logabs)
                kmm_inv = np.linalg.inv(kmm)
            if np.any(det <= 0):
                raise np.linalg.LinAlgError("observed block not positive definite")
            a[idx] = k_inv - km @ kmm_inv @ np.swapaxes(km, 1, 2)
            a[idx[:, None], miss, :] = 0.0          # exact zeros where the pattern is missing
            a[idx[:, None], :, miss] = 0.0
            logdets[idx] = logdet + np.log(det)
            conditional.append(kmm_inv)
        return a, logdets, conditional

    def loglik(self, sigma: np.ndarray, mu: np.ndarray, *, parts: bool = False):
        """Log-likelihood at (mu, Sigma); with parts=True also the pieces the derivatives use."""
        a, logdets, conditional = self.inverses(sigma)
        a_s = np.einsum("kij,kj->ki", a, self.sums)
        a_mu = a @ mu
        quad = (np.einsum("kij,kij->k", a, self.cross) - 2 * a_s @ mu
                + self.n * (a_mu @ mu))
        value = -0.5 * (self.const + self.n @ logdets + quad.sum())
        if not parts:
            return value
        return value, (a, a_s, a_mu, conditional)

    def gradient(self, mu: np.ndarray, pieces):
        """d loglik / d mu and G with d loglik = tr(G dSigma) for symmetric dSigma; also B_k."""
        a, a_s, a_mu, _ = pieces
        n = self.n
        g_mu = a_s.sum(axis=0) - np.einsum("k,kij->ij", n, a) @ mu
        # B_k = A_k W_k A_k with W_k the cross-products about mu.
        b = a @ self.cross @ a
        b -= a_s[:, :, None] * a_mu[:, None, :]
        b -= a_mu[:, :, None] * a_s[:, None, :]
        b += n[:, None, None] * a_mu[:, :, None] * a_mu[:, None, :]
        g_sigma = 0.5 * (b.sum(axis=0) - np.einsum("k,kij->ij", n, a))
        return g_mu, (g_sigma + g_sigma.T) / 2, b

    def _vech_pairs(self):
        """Flat indices into the (v, v) matrix over upper-triangle pairs that give, for vech
        elements (i, j) and (l, k), the entries ((i, l), (j, k)) and ((i, k), (j, l)).

        They depend on p only and cost more to build than to use, so they are kept.
        """
        if getattr(self, "_pairs", None) is None:
            p = self.p
            rows, cols = np.triu_indices(p)
            v = len(rows)
            dtype = np.int32 if v * v < np.iinfo(np.int32).max else np.int64
            vmap = np.empty((p, p), dtype=dtype)
            vmap[rows, cols] = np.arange(v)
            vmap[cols, rows] = np.arange(v)
            first_i, first_j = rows[:, None], cols[:, None]     # vech element (i, j)
            second_l, second_k = rows[None, :], cols[None, :]   # vech element (l, k)
            self._pairs = ((vmap[first_i, second_l] * v + vmap[first_j, second_k]).ravel(),
                           (vmap[first_i, second_k] * v + vmap[first_j, second_l]).ravel())
        return self._pairs

    def hessian_moments(self, mu: np.ndarray, pieces, b: np.ndarray):
        """Second derivatives of loglik in (mu, vech Sigma).

        Returns (H_mumu, H_musigma, H_sigmasigma): H_mumu (p, p); H_musigma (p, v) and
        H_sigmasigma (v, v) over the v = p(p+1)/2 distinct elements of Sigma in the order of
        numpy.triu_indices(p), each element moving Sigma[i, j] and Sigma[j, i] together.
        """
        a, a_s, a_mu, _ = pieces
        n = self.n
        rows, cols = np.triu_indices(self.p)
        h_mumu = -np.einsum("k,kij->ij", n, a)
        u = a_s - n[:, None] * a_mu                                 # A_k (s_k - n_k mu)
        # d2l / dmu_i dSigma[j, l] = -sum_k A_k[i, j] u_k[l], symmetrised over (j, l).
        a_upper = a[:, rows, cols]                                  # A_k is symmetric
        a_iu = (a.reshape(len(n), -1).T @ u).reshape(self.p, self.p, self.p)
        h_musig = -(a_iu[:, rows, cols] + a_iu[:, cols, rows])
        h_musig[:, rows == cols] /= 2
        # For symmetric perturbations: d2l[dS1, dS2] = sum_k tr(dS1 left_k dS2 A_k) with
        # left_k = n_k/2 A_k - B_k. With small[(i, l), (j, k)] = sum_k left_k[i, l] A_k[j, k],
        # the vech element pair ((i, j), (l, k)) collects the four placements of both elements.
        left = 0.5 * n[:, None] * a[:, rows, cols] - b[:, rows, cols]
        small = left.T @ a_upper
        small = small + small.T           # the third and fourth placements are the transpose's
        first, second = self._vech_pairs()
        flat = small.ravel()
        h_sigsig = (flat.take(first) + flat.take(second)).reshape(len(rows), len(rows))
        diagonal = np.where(rows == cols, 0.5, 1.0)
        h_sigsig *= diagonal[:, None] * diagonal[None, :]
        return h_mumu, h_musig, h_sigsig

    def h1(self, *, tol: float = 1e-9, max_iter: int = 50):
        """Unrestricted ML means and covariance matrix (divisor N): EM, then Newton steps.

        EM runs until its steps are small (1e-4); Newton steps on (mu, vech Sigma) with the
        analytic Hessian then converge quadratically where EM would crawl.
        """
        mu, sigma, _, _ = self.em(tol=1e-4)
        p = self.p
        rows, cols = np.triu_indices(p)
        try:
            value, pieces = self.loglik(sigma, mu, parts=True)
        except np.linalg.LinAlgError:
            return mu, sigma
        off_diagonal = np.where(rows == cols, 1.0, 2.0)

        def moments(x):
            """(mu, Sigma) from x = (mu, vech Sigma)."""
            new_sigma = np.zeros((p, p))
            new_sigma[rows, cols] = x[p:]
            new_sigma[cols, rows] = new_sigma[rows, cols]
            return x[:p], new_sigma

        def objective(x):
            new_mu, new_sigma = moments(x)
            try:
                return self.loglik(new_sigma, new_mu, parts=True)
            except np.linalg.LinAlgError:
                return -np.inf, None

        def direction(x, pieces):
            g_mu, g_sigma, b = self.gradient(x[:p], pieces)
            h_mumu, h_musig, h_sigsig = self.hessian_moments(x[:p], pieces, b)
            grad = np.concatenate([g_mu, off_diagonal * g_sigma[rows, cols]])
            hess = np.block([[h_mumu, h_musig], [h_musig.T, h_sigsig]])
            step = damped_newton_step((hess + hess.T) / 2, grad)
            return step, grad @ step, None

        fit = ascend(objective, direction, np.concatenate([mu, sigma[rows, cols]]), tol=tol,
                     max_iter=max_iter, value=value, state=pieces)
        return moments(fit.x)

    def em(self, *, tol: float = 1e-8, max_iter: int = 1000):
        """Unrestricted ML means and covariance matrix (divisor N) by EM."""
        n_total = self.n.sum()
        counts = self.observed.T.astype(float) @ self.n
        mu = self.sums.sum(axis=0) / counts
        var = (np.einsum("kii->ki", self.cross).sum(axis=0) - 2 * mu * self.sums.sum(axis=0)
               + mu**2 * counts) / counts
        sigma = np.diag(np.where(var > 0, var, 1.0))
        converged = False
        iterations = 0
        for iterations in range(1, max_iter + 1):  # noqa: B007
            t1, t2 = self._estep(sigma, mu)
            mu_new = t1 / n_total
            sigma_new = t2 / n_total - np.outer(mu_new, mu_new)
            sigma_new = (sigma_new + sigma_new.T) / 2
            delta = max(np.abs(mu_new - mu).max(), np.abs(sigma_new - sigma).max())
            mu, sigma = mu_new, sigma_new
            if delta < tol:
                converged = True
                break
        return mu, sigma, converged, iterations

    def _estep(self, sigma: np.ndarray, mu: np.ndarray):
        """Expected sums and cross-products of the completed data at (mu, Sigma).

        A row of a pattern with missing set m is completed as x0 + P z with z = a + R x0 the
        regression of the missing on the observed variables (x0 has zeros where missing; P puts
        the r values in their places). Summed over the pattern's rows:
        sum x x' = C + P Z' + Z P' + P (sum z z' + n K[m, m]^-1) P' with Z' = a s' + R C.
        """
        k_inv = np.linalg.inv(sigma)
        p = self.p
        t1 = self.sums.sum(axis=0)
        t2 = self.cross.sum(axis=0)
        scatter = np.zeros(p * p)
        for idx, miss in self.groups:
            r = miss.shape[1]
            if r == 0:
                continue
            n = self.n[idx]
            s = self.sums[idx]
            c = self.cross[idx]
            g = len(idx)
            kmm_inv = np.linalg.inv(k_inv[miss[:, :, None], miss[:, None, :]])
            reg = -kmm_inv @ k_inv[miss]                    # (g, r, p)
            reg[np.arange(g)[:, None, None], np.arange(r)[None, :, None], miss[:, None, :]] = 0.0
            shift = mu[miss] - reg @ mu                     # (g, r)
            reg_s = np.einsum("krj,kj->kr", reg, s)
            t1 += np.bincount(miss.ravel(), weights=(n[:, None] * shift + reg_s).ravel(),
                              minlength=p)
            reg_c = reg @ c                                 # (g, r, p)
            zx = shift[:, :, None] * s[:, None, :] + reg_c
            zz = (n[:, None, None] * (shift[:, :, None] * shift[:, None, :] + kmm_inv)
                  + shift[:, :, None] * reg_s[:, None, :] + reg_s[:, :, None] * shift[:, None, :]
                  + reg_c @ np.swapaxes(reg, 1, 2))
            flat_rows = (miss[:, :, None] * p + np.arange(p)[None, None, :]).ravel()
            scatter += np.bincount(flat_rows, weights=zx.ravel(), minlength=p * p)
            flat_block = (miss[:, :, None] * p + miss[:, None, :]).ravel()
            t2 += np.bincount(flat_block, weights=zz.ravel(), minlength=p * p).reshape(p, p)
        scatter = scatter.reshape(p, p)
        return t1, t2 + scatter + scatter.T


# --------------------------------------------------------------------------------------------
# semopy model plumbing
# --------------------------------------------------------------------------------------------


class _Structure:
    """Sigma(theta) of a semopy model and the chain rule from dSigma to dtheta."""

    def __init__(self, model: semopy.Model):
        self.model = model
        self.q = len(model.param_vals)
        # Sparse form of model.mx_diffs: per matrix, (rows, cols, parameter, weight).
        self.locations = []
        for n_mx in range(4):
            rows, cols, params, weights = [], [], [], []
            for i_par, diffs in enumerate(model.mx_diffs):
                d = diffs[n_mx]
                if d is None:
                    continue
                r, c = np.nonzero(d)
                rows.append(r)
                cols.append(c)
                params.append(np.full(len(r), i_par))
                weights.append(d[r, c])
            if rows:
                self.locations.append((n_mx, np.concatenate(rows), np.concatenate(cols),
                                       np.concatenate(params), np.concatenate(weights)))

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        self.model.update_matrices(theta)
        sigma, _ = self.model.calc_sigma()
        return (sigma + sigma.T) / 2

    def chain(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Gradient in theta of tr(G Sigma(theta)) for a fixed symmetric G."""
        model = self.model
        model.update_matrices(theta)
        beta, lamb, psi, _ = model.matrices[:4]
        c = np.linalg.inv(model.identity_c - beta)
        m = lamb @ c
        x = 2 * g @ m @ psi
        derivs = (m.T @ x @ c.T, x @ c.T, m.T @ g @ m, g)
        out = np.zeros(self.q)
        for n_mx, rows, cols, params, weights in self.locations:
            np.add.at(out, params, weights * derivs[n_mx][rows, cols])
        return out

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """dvec(Sigma)/dtheta, shape (p*p, q)."""
        model = self.model
        model.update_matrices(theta)
        _, (m, c) = model.calc_sigma()
        grads = model.calc_sigma_grad(m, c)
        return np.stack([np.asarray(gr, dtype=float).ravel() for gr in grads], axis=1)

    def second_order(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Hessian in theta of tr(G Sigma(theta)) for fixed G, by central differences."""
        q = self.q
        out = np.empty((q, q))
        for a in range(q):
            h = 1e-5 * max(1.0, abs(theta[a]))
            up, down = theta.copy(), theta.copy()
            up[a] += h
            down[a] -= h
            out[:, a] = (self.chain(up, g) - self.chain(down, g)) / (2 * h)
        self.model.update_matrices(theta)
        return (out + out.T) / 2


def _ml_start(structure: _Structure, theta: np.ndarray, cov: np.ndarray, *,
              max_iter: int = 500) -> np.ndarray:
    """Fisher scoring of the complete-data ML discrepancy log|Sigma| + tr(S Sigma^-1)."""

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
        grad = structure.chain(th, g)              # of the discrepancy, which falls
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
    fit = ascend(objective, direction, theta, tol=1e-12, max_iter=max_iter, value=value,
                 state=k_inv, min_size=1e-8, final_step=True)
    return fit.x


def _ml_stationary(structure: _Structure, theta: np.ndarray, cov: np.ndarray,
                   tol: float = 1e-6) -> bool:
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


def _hessian(structure: _Structure, patterns: Patterns, theta, mu, pieces, g_sigma, b):
    """Hessian of loglik in (theta, mu)."""
    h_mumu, h_musig, h_sigsig = patterns.hessian_moments(mu, pieces, b)
    q, p = structure.q, patterns.p
    rows, cols = np.triu_indices(p)
    jac = structure.jacobian(theta)[rows * p + cols]        # dvech(Sigma) / dtheta
    h = np.empty((q + p, q + p))
    h[:q, :q] = jac.T @ h_sigsig @ jac + structure.second_order(theta, g_sigma)
    h_mutheta = h_musig @ jac
    h[q:, :q] = h_mutheta
    h[:q, q:] = h_mutheta.T
    h[q:, q:] = h_mumu
    return (h + h.T) / 2


def fit_fiml(model: semopy.Model, data: pd.DataFrame, *, tol: float = 1e-9,
             max_iter: int = 100) -> FimlResult:
    """Fit `model` by full-information ML with free means, as lavaan's missing = "ml".

    Rows without any observed value of the model's variables are dropped. After the call,
    model.param_vals and the model matrices hold the FIML estimates.
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
    if np.any(patterns.observed.T.astype(float) @ patterns.n < 2):
        raise ValueError("every variable needs at least two observed values")

    mu_h1, cov_h1 = patterns.h1()
    eigen = np.linalg.eigvalsh(cov_h1)
    if eigen[0] < 1e-8 * eigen[-1]:
        warnings.warn("the unrestricted (H1) covariance matrix is nearly singular: too few "
                      "observed pairs for some variables; chisq and the fit indices are unreliable",
                      RuntimeWarning, stacklevel=2)
    loglik_h1 = float(patterns.loglik(cov_h1, mu_h1))

    counts = patterns.observed.T.astype(float) @ patterns.n
    sums = patterns.sums.sum(axis=0)
    squares = np.einsum("kii->i", patterns.cross)
    means = sums / counts
    variances = squares / counts - means**2
    loglik_baseline = float(-0.5 * (counts * (LOG_2PI + np.log(variances) + 1)).sum())

    cov_frame = pd.DataFrame(cov_h1, index=observed, columns=observed)
    frame = data.loc[np.isfinite(x).any(axis=1), observed].astype(float)
    model.load(data=frame, cov=cov_frame)
    model.n_samples = patterns.n_rows
    structure = _Structure(model)
    q = structure.q
    # Starting values: Fisher scoring of the ML discrepancy to the EM moments from semopy's
    # starting values; where that does not reach a stationary point, semopy's own ML fit first.
    theta = _ml_start(structure, np.asarray(model.param_vals, dtype=float).copy(), cov_h1,
                      max_iter=40)
    if not _ml_stationary(structure, theta, cov_h1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(obj="MLW", solver="SLSQP")
        except (np.linalg.LinAlgError, ValueError):
            model.load(data=frame, cov=cov_frame, clean_slate=True)
        theta = _ml_start(structure, np.asarray(model.param_vals, dtype=float).copy(), cov_h1)
    mu = mu_h1.copy()
    try:
        value, pieces = patterns.loglik(structure.sigma(theta), mu, parts=True)
    except np.linalg.LinAlgError:
        raise ValueError("the starting values give a covariance matrix that is not positive "
                         "definite") from None
    theta, mu, value, pieces, hess, converged, iterations = newton_ascent(
        structure, patterns, theta, mu, value, pieces, tol=tol, max_iter=max_iter)

    if not converged or hess is None:
        g_mu, g_sigma, b = patterns.gradient(mu, pieces)
        hess = _hessian(structure, patterns, theta, mu, pieces, g_sigma, b)
    try:
        vcov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        vcov = np.full_like(hess, np.nan)
    model.param_vals = theta
    model.update_matrices(theta)
    return FimlResult(params=theta, means=mu, loglik=float(value), loglik_h1=loglik_h1,
                      loglik_baseline=loglik_baseline, npar=q + p, vcov=vcov,
                      n=patterns.n_rows, converged=converged, iterations=iterations,
                      h1_means=mu_h1, h1_cov=cov_h1)


def newton_ascent(structure: _Structure, patterns: Patterns, theta: np.ndarray, mu: np.ndarray,
                  value: float, pieces, *, tol: float, max_iter: int):
    """Maximise the FIML log-likelihood from (theta, mu) by Newton steps with the analytic
    Hessian, halving a step until the log-likelihood rises enough (Armijo).

    value and pieces are patterns.loglik(..., parts=True) at the start. Converged when the
    Newton increase g' step is below tol (lcsurvey.sem.optimize.ascend). Returns (theta, mu,
    value, pieces, hess, converged, iterations); hess is the Hessian at the returned point
    (always so when converged), or None when it was last computed at an earlier point.
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
        hess = _hessian(structure, patterns, x[:q], x[q:], pieces, g_sigma, b)
        step = damped_newton_step(hess, grad)
        return step, grad @ step, hess

    fit = ascend(objective, direction, np.concatenate([theta, mu]), tol=tol, max_iter=max_iter,
                 value=value, state=pieces)
    return (fit.x[:q].copy(), fit.x[q:].copy(), fit.value, fit.state, fit.last, fit.converged,
            fit.iterations)


def fiml_gradient(model: semopy.Model, data: pd.DataFrame, params: np.ndarray,
                  means: np.ndarray) -> tuple[float, np.ndarray]:
    """Log-likelihood and its analytic gradient in (params, means) at the given point."""
    observed = list(model.vars["observed"])
    patterns = Patterns(data[observed].to_numpy(dtype=float))
    if not hasattr(model, "param_vals"):
        model.load(data=data[observed].astype(float))
    structure = _Structure(model)
    value, pieces = patterns.loglik(structure.sigma(params), means, parts=True)
    g_mu, g_sigma, _ = patterns.gradient(means, pieces)
    grad = np.concatenate([structure.chain(params, g_sigma), g_mu])
    model.update_matrices(model.param_vals)
    return float(value), grad


def parameter_names(model: semopy.Model) -> list[tuple[str, str, str]]:
    """(lhs, op, rhs) in lavaan's notation for each entry of model.param_vals."""
    names = []
    matrices = model.matrices
    for param in (v for v in model.parameters.values() if v.active):
        loc = param.locations[0]
        n_mx = next(i for i, mx in enumerate(matrices) if mx is loc.matrix)
        rows, cols = model.names[n_mx]
        i, j = loc.indices
        lhs, rhs = rows[i], cols[j]
        if n_mx == 0:
            names.append((lhs, "~", rhs))
        elif n_mx == 1:
            names.append((rhs, "=~", lhs))
        else:
            names.append((lhs, "~~", rhs))
    return names


# --------------------------------------------------------------------------------------------
# Fit measures
# --------------------------------------------------------------------------------------------


def rmsea_ci(chisq: float, df: int, n: int, level: float = 0.90) -> tuple[float, float]:
    """RMSEA confidence limits from the noncentrality parameter, as lavaan computes them."""
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
        while upper - lower > 2e-12 * max(1.0, upper):    # bisection, to brentq's precision
            middle = (lower + upper) / 2
            if special.chndtr(chisq, df, middle) > prob:
                lower = middle
            else:
                upper = middle
        return (lower + upper) / 2

    lam_lower = ncp_for(1 - tail)
    lam_upper = ncp_for(tail)
    return float(np.sqrt(lam_lower / (n * df))), float(np.sqrt(lam_upper / (n * df)))


def fiml_fit_measures(result: FimlResult, model: semopy.Model,
                      fixed: list[int] | None = None) -> dict:
    """lavaan's fitMeasures() for a missing = "ml" fit (likelihood "normal", N in RMSEA).

    fixed: positions of observed regressors whose means, variances and covariances are fixed
    at the sample values (lavaan's fixed.x = TRUE; their values are complete). Their k(k+3)/2
    moments leave the moments and the free parameters, the baseline model keeps their
    covariances, and logl (and unrestricted_logl, hence AIC and BIC) is the log-likelihood of
    the other variables given them: the joint one minus the regressors' own saturated one.
    Regressors with a declared (free) variance are modelled variables, independent of all
    others in the baseline, as in lavaan.
    """
    fixed = list(fixed or [])
    k = len(fixed)
    p = len(result.means)
    n = result.n
    moments = p * (p + 1) // 2 + p - k * (k + 3) // 2
    npar = result.npar - k                      # the regressors' means are not free
    df = moments - npar
    # df 0: the model reproduces H1 exactly and only rounding noise is left, as lavaan reports.
    chisq = 2 * (result.loglik_h1 - result.loglik) if df != 0 else 0.0
    loglik, loglik_h1, loglik_baseline = result.loglik, result.loglik_h1, result.loglik_baseline
    if k:
        cov_x = result.h1_cov[np.ix_(fixed, fixed)]
        own = -0.5 * n * (k * LOG_2PI + np.linalg.slogdet(cov_x)[1] + k)
        # The baseline model's regressors are saturated instead of independent.
        independent = -0.5 * n * (k * LOG_2PI + np.log(np.diag(cov_x)).sum() + k)
        loglik_baseline += own - independent
        loglik, loglik_h1, loglik_baseline = loglik - own, loglik_h1 - own, loglik_baseline - own
    base_chisq = 2 * (loglik_h1 - loglik_baseline)
    base_df = moments - 2 * (p - k)
    cfi_den = max(chisq - df, base_chisq - base_df, 0.0)
    cfi = 1 - max(chisq - df, 0.0) / cfi_den if cfi_den > 0 else 1.0
    if df > 0:
        tli = (base_chisq / base_df - chisq / df) / (base_chisq / base_df - 1)
        rmsea = float(np.sqrt(max(chisq - df, 0.0) / (df * n)))
        pvalue = float(special.chdtrc(df, chisq))
    else:
        tli, rmsea, pvalue = 1.0, 0.0, np.nan
    lower, upper = rmsea_ci(chisq, df, n)
    model.update_matrices(result.params)
    sigma = model.calc_sigma()[0]
    cov_h1, mean_h1 = result.h1_cov, result.h1_means
    scale = 1 / np.sqrt(np.diag(cov_h1))
    resid_cov = (cov_h1 - sigma) * np.outer(scale, scale)
    resid_mean = (mean_h1 - result.means) * scale
    residuals = np.concatenate([resid_cov[np.tril_indices(p)], resid_mean])
    srmr = float(np.sqrt(np.mean(residuals**2)))
    return {
        "npar": npar, "ntotal": n, "chisq": chisq, "df": df, "pvalue": pvalue,
        "cfi": cfi, "tli": tli, "rmsea": rmsea, "rmsea_ci_lower": lower, "rmsea_ci_upper": upper,
        "srmr": srmr, "aic": -2 * loglik + 2 * npar,
        "bic": -2 * loglik + np.log(n) * npar, "logl": loglik,
        "unrestricted_logl": loglik_h1, "baseline_chisq": base_chisq,
        "baseline_df": base_df,
    }


# --------------------------------------------------------------------------------------------
# Casewise scores and robust (sandwich) standard errors
# --------------------------------------------------------------------------------------------


def casewise_scores(model: semopy.Model, data: pd.DataFrame, params: np.ndarray,
                    means: np.ndarray) -> np.ndarray:
    """Gradient of each row's log-likelihood in (params, means), shape (rows, q + p).

    For a row with observed set o, residual r (zero where missing) and A the padded inverse of
    Sigma_oo: d l_i / d mu = A r, and d l_i = tr(G_i dSigma) with G_i = (A r r' A - A) / 2,
    chained to the parameters by dvec(Sigma)/dtheta. Rows without any observed value are
    dropped, as in fit_fiml. The rows' scores sum to the gradient of the FIML log-likelihood.
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
    structure = _Structure(model)
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


def _at_point(model: semopy.Model, data: pd.DataFrame) -> tuple[Patterns, _Structure]:
    """The data's pattern statistics and the model's structure, for derivatives at a point."""
    observed = list(model.vars["observed"])
    patterns = Patterns(data[observed].to_numpy(dtype=float))
    if not hasattr(model, "param_vals"):
        model.load(data=data[observed].astype(float))
    return patterns, _Structure(model)


def expected_information(model: semopy.Model, data: pd.DataFrame, params: np.ndarray,
                         means: np.ndarray) -> np.ndarray:
    """Expected information of the FIML log-likelihood in (params, means), given the
    missingness patterns: per pattern n_k/2 tr(A_k dSigma A_k dSigma) and n_k A_k for the means
    (A_k the inverse of the pattern's observed block of the model-implied Sigma), as lavaan's
    information = "expected" with h1.information = "structured"."""
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


def observed_information(model: semopy.Model, data: pd.DataFrame, params: np.ndarray,
                         means: np.ndarray) -> np.ndarray:
    """Minus the analytic Hessian of the FIML log-likelihood in (params, means) at a point."""
    patterns, structure = _at_point(model, data)
    params = np.asarray(params, dtype=float)
    means = np.asarray(means, dtype=float)
    _, pieces = patterns.loglik(structure.sigma(params), means, parts=True)
    _, g_sigma, b = patterns.gradient(means, pieces)
    hess = _hessian(structure, patterns, params, means, pieces, g_sigma, b)
    model.update_matrices(params)
    return -hess


def robust_vcov(model: semopy.Model, data: pd.DataFrame, params: np.ndarray,
                means: np.ndarray) -> np.ndarray:
    """Sandwich covariance H^-1 B H^-1 of (params, means), lavaan's estimator = "MLR".

    H is the observed information (minus the analytic Hessian of the FIML log-likelihood) and
    B the sum over rows of the outer products of the casewise scores, both at the estimates:
    lavaan's se = "robust.huber.white" with information = "observed" (its MLR default with
    missing = "ml"). With complete data this is MLR for a model with free means.
    """
    bread = np.linalg.inv(observed_information(model, data, params, means))
    scores = casewise_scores(model, data, params, means)
    return bread @ (scores.T @ scores) @ bread
