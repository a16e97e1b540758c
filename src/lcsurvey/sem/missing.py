"""The normal likelihood with missing values: missingness patterns, EM H1, derivatives.

Rows are grouped by missingness pattern once; the log-likelihood, its gradient and its Hessian
in (mu, Sigma) then work on per-pattern counts, sums and cross-products, using one inverse of
Sigma per evaluation: for a pattern with missing set m, the inverse of the observed block
(padded with zeros) is K - K[:, m] K[m, m]^-1 K[m, :] with K = Sigma^-1, and
log|Sigma_oo| = log|Sigma| + log|K[m, m]|. The unrestricted (H1) means and covariances come
from EM (Dempster, Laird & Rubin 1977), polished by Newton steps (lcsurvey.sem.optimize).

lavaan: lav_mvnorm_missing.R (lav_mvnorm_missing_loglik_samplestats, its gradient and
Hessian) and lav_mvnorm_missing_h1_estimate_moments (EM) for missing = "ml". The chain rule
to a model's parameters is in lcsurvey.sem.fiml (the fit) and lcsurvey.sem.vcov (scores and
information matrices).
"""

from __future__ import annotations

import numpy as np

from lcsurvey.sem.fit_measures import LOG_2PI
from lcsurvey.sem.optimize import ascend, damped_newton_step


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
            block = xs[bounds[k] : bounds[k + 1]]
            self.cross[k] = block.T @ block
        n_missing = self.p - self.n_observed
        self.groups = []
        for r in np.unique(n_missing):
            idx = np.flatnonzero(n_missing == r)
            miss = np.array([np.flatnonzero(~masks[k]) for k in idx], dtype=int).reshape(
                len(idx), r
            )
            self.groups.append((idx, miss))
        self.const = float(LOG_2PI * (self.n * self.n_observed).sum())

    def marginals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per variable: the number of observed values, their sum and their sum of squares."""
        counts = self.observed.T.astype(float) @ self.n
        sums = self.sums.sum(axis=0)
        squares = np.einsum("kii->i", self.cross)
        return counts, sums, squares

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
            km = np.moveaxis(k_inv[:, miss], 0, 1)  # (g, p, r) = K[:, m]
            kmm = k_inv[miss[:, :, None], miss[:, None, :]]  # (g, r, r)
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
            a[idx[:, None], miss, :] = 0.0  # exact zeros where the pattern is missing
            a[idx[:, None], :, miss] = 0.0
            logdets[idx] = logdet + np.log(det)
            conditional.append(kmm_inv)
        return a, logdets, conditional

    def loglik(self, sigma: np.ndarray, mu: np.ndarray, *, parts: bool = False):
        """Log-likelihood at (mu, Sigma); with parts=True also the pieces the derivatives use.

        Parameters
        ----------
        sigma : ndarray
            (p, p) covariance matrix.
        mu : ndarray
            (p,) means.
        parts : bool
            Also return (A, A s, A mu, conditional) for gradient and hessian_moments.

        Returns
        -------
        float, or (float, tuple)
            Raises LinAlgError if Sigma is not positive definite.

        Notes
        -----
        loglik = -1/2 sum_k (n_k p_k log(2 pi) + n_k log|Sigma_k| + tr(A_k W_k)),
        with W_k the pattern's cross-products about mu. lavaan:
        lav_mvnorm_missing_loglik_samplestats.
        """
        a, logdets, conditional = self.inverses(sigma)
        a_s = np.einsum("kij,kj->ki", a, self.sums)
        a_mu = a @ mu
        quad = np.einsum("kij,kij->k", a, self.cross) - 2 * a_s @ mu + self.n * (a_mu @ mu)
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
            first_i, first_j = rows[:, None], cols[:, None]  # vech element (i, j)
            second_l, second_k = rows[None, :], cols[None, :]  # vech element (l, k)
            self._pairs = (
                (vmap[first_i, second_l] * v + vmap[first_j, second_k]).ravel(),
                (vmap[first_i, second_k] * v + vmap[first_j, second_l]).ravel(),
            )
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
        u = a_s - n[:, None] * a_mu  # A_k (s_k - n_k mu)
        # d2l / dmu_i dSigma[j, l] = -sum_k A_k[i, j] u_k[l], symmetrised over (j, l).
        a_upper = a[:, rows, cols]  # A_k is symmetric
        a_iu = (a.reshape(len(n), -1).T @ u).reshape(self.p, self.p, self.p)
        h_musig = -(a_iu[:, rows, cols] + a_iu[:, cols, rows])
        h_musig[:, rows == cols] /= 2
        # For symmetric perturbations: d2l[dS1, dS2] = sum_k tr(dS1 left_k dS2 A_k) with
        # left_k = n_k/2 A_k - B_k. With small[(i, l), (j, k)] = sum_k left_k[i, l] A_k[j, k],
        # the vech element pair ((i, j), (l, k)) collects the four placements of both elements.
        left = 0.5 * n[:, None] * a[:, rows, cols] - b[:, rows, cols]
        small = left.T @ a_upper
        small = small + small.T  # the third and fourth placements are the transpose's
        first, second = self._vech_pairs()
        flat = small.ravel()
        h_sigsig = (flat.take(first) + flat.take(second)).reshape(len(rows), len(rows))
        diagonal = np.where(rows == cols, 0.5, 1.0)
        h_sigsig *= diagonal[:, None] * diagonal[None, :]
        return h_mumu, h_musig, h_sigsig

    def h1(self, *, tol: float = 1e-9, max_iter: int = 50):
        """Unrestricted ML means and covariance matrix (divisor N): EM, then Newton steps.

        Parameters
        ----------
        tol : float
            Newton steps stop when the predicted rise g' step is below tol.
        max_iter : int
            Most Newton steps.

        Returns
        -------
        (ndarray, ndarray)
            mu (p,), Sigma (p, p).

        Notes
        -----
        EM runs until its steps are small (1e-4); Newton steps on (mu, vech Sigma) with the
        analytic Hessian (lcsurvey.sem.optimize.ascend) then converge quadratically where EM would
        crawl. lavaan: lav_mvnorm_missing_h1_estimate_moments (the unrestricted model of
        missing = "ml"; its logl is fitMeasures(fit, "unrestricted.logl")).
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

        fit = ascend(
            objective,
            direction,
            np.concatenate([mu, sigma[rows, cols]]),
            tol=tol,
            max_iter=max_iter,
            value=value,
            state=pieces,
        )
        return moments(fit.x)

    def em(self, *, tol: float = 1e-8, max_iter: int = 1000):
        """Unrestricted ML means and covariance matrix (divisor N) by EM.

        Parameters
        ----------
        tol : float
            Stops when no mean or covariance moves by more than tol.
        max_iter : int

        Returns
        -------
        (ndarray, ndarray, bool, int)
            mu, Sigma, converged, iterations.

        References
        ----------
        Dempster, A. P., Laird, N. M. & Rubin, D. B. (1977). Maximum likelihood from incomplete
        data via the EM algorithm. JRSS B, 39, 1-38. Little & Rubin (2019), section 11.2.
        """
        n_total = self.n.sum()
        counts = self.observed.T.astype(float) @ self.n
        mu = self.sums.sum(axis=0) / counts
        var = (
            np.einsum("kii->ki", self.cross).sum(axis=0)
            - 2 * mu * self.sums.sum(axis=0)
            + mu**2 * counts
        ) / counts
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
            reg = -kmm_inv @ k_inv[miss]  # (g, r, p)
            reg[np.arange(g)[:, None, None], np.arange(r)[None, :, None], miss[:, None, :]] = 0.0
            shift = mu[miss] - reg @ mu  # (g, r)
            reg_s = np.einsum("krj,kj->kr", reg, s)
            t1 += np.bincount(
                miss.ravel(), weights=(n[:, None] * shift + reg_s).ravel(), minlength=p
            )
            reg_c = reg @ c  # (g, r, p)
            zx = shift[:, :, None] * s[:, None, :] + reg_c
            zz = (
                n[:, None, None] * (shift[:, :, None] * shift[:, None, :] + kmm_inv)
                + shift[:, :, None] * reg_s[:, None, :]
                + reg_s[:, :, None] * shift[:, None, :]
                + reg_c @ np.swapaxes(reg, 1, 2)
            )
            flat_rows = (miss[:, :, None] * p + np.arange(p)[None, None, :]).ravel()
            scatter += np.bincount(flat_rows, weights=zx.ravel(), minlength=p * p)
            flat_block = (miss[:, :, None] * p + miss[:, None, :]).ravel()
            t2 += np.bincount(flat_block, weights=zz.ravel(), minlength=p * p).reshape(p, p)
        scatter = scatter.reshape(p, p)
        return t1, t2 + scatter + scatter.T
