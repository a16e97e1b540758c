"""Bootstrap and Monte Carlo confidence intervals for free and defined (:=) parameters.

Draws are nonparametric bootstrap resamples of the rows (multinomial counts used as weights),
refitted from the full-sample estimates:
  - "paths": a recursive path model of observed variables on complete rows. Its ML estimates
    are the least-squares coefficients of each equation (residual variances with divisor N),
    so a whole chunk of draws is solved at once with batched linear algebra.
  - "fiml": the FIML log-likelihood on resampled pattern statistics (counts, sums and
    cross-products per missingness pattern), by Newton steps with the full-sample Hessian
    (switching to the exact Hessian if that is slow), for lavaan's missing = "ml".
  - "ml": the ML discrepancy on the resampled covariance matrix by Fisher scoring (listwise;
    lcsurvey.sem.fiml.ml_start, the engine's one optimiser, lcsurvey.sem.optimize).
  - "fiml-bfgs": larger models (a survey wave's structural model): FIML (or, with complete
    rows, ML with free means) refits of a whole chunk of draws at once, quasi-Newton (BFGS)
    iterations from the full-sample estimates and inverse information, each draw iterated
    until its next step is below 1e-5 standard errors (QuasiNewtonJob).
Draws come in chunks of CHUNK_SIZE; chunk i uses numpy's SeedSequence(seed).spawn(n)[i], so the
draws and the CIs are the same on 1 worker or many. A failed draw (no convergence, a matrix
that is not positive definite) is counted and left out of the CIs, never replaced. After each
chunk the draws done are reported (lcsurvey.sem.progress: now and then a line to the
"lcsurvey" logger, a bar on a terminal); that only reads the count.

Clustered rows (lavaan's `cluster = "..."`, respondents nested in communities): with cluster
codes the draws resample the G clusters instead, with replacement (multinomial counts over the
clusters, each row weighted by its cluster's count), and the jackknife leaves out one cluster at
a time. A draw's total weight then differs from N when cluster sizes differ; every job works
with the draw's own total (the sample size of the refit: divisor-N moments, FIML sums). With
every row a cluster of its own, in order, the draws are the row draws. lavaan 0.6.14 has no
cluster bootstrap; the refits equal lavaan's fits of the rows of the drawn clusters
(tests/fixtures/cluster_bootstrap/).

CIs: percentile; BCa (Efron 1987) with the bias correction from the share of draws below the
estimate and the acceleration from the jackknife (of rows, or of clusters: Davison & Hinkley
1997, section 3.8); Monte Carlo (draws of the free parameters
from N(est, vcov), the expression evaluated on each) for defined parameters. lavaan's
parameterEstimates(boot.ci.type = "perc") is the percentile CI; its "bca.simple" is BCa
without the acceleration.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from lcsurvey.errors import InputError
from lcsurvey.sem.progress import reporter

CHUNK_SIZE = 50
# The one-row summary of a bootstrap: draws requested, converged and failed; the refit method
# (a job's `method`); the seed and chunk size that fix the draws; what was resampled, "rows" or
# "clusters", and the number of clusters.
SUMMARY_COLUMNS = [
    "draws_requested",
    "draws_ok",
    "draws_failed",
    "method",
    "seed",
    "chunk_size",
    "resampling",
    "clusters",
]
LEVEL = 0.95
LOG_2PI = float(np.log(2 * np.pi))


@dataclass
class PathJob:
    """Recursive path model of observed variables with complete data: batched least squares.

    x: (n, p) data; equations: (dependent, predictors) column indices; keys: the output
    quantities as (lhs, op, rhs): (y, "~", x) coefficients, (v, "~~", v) residual or exogenous
    variances, (v, "~~", w) exogenous covariances, (v, "~1", "") means.
    """

    x: np.ndarray
    variables: list[str]
    equations: list[tuple[int, list[int]]]
    keys: list[tuple[str, str, str]]

    method = "paths"

    def prepare(self) -> None:
        index = {v: i for i, v in enumerate(self.variables)}
        dependents = {dep for dep, _ in self.equations}
        self._slots = []
        for lhs, op, rhs in self.keys:
            if op == "~1":
                self._slots.append(("mean", index[lhs]))
            elif op == "~":
                dep = index[lhs]
                eq = next(k for k, (d, _) in enumerate(self.equations) if d == dep)
                self._slots.append(("coef", eq, self.equations[eq][1].index(index[rhs])))
            elif lhs == rhs and index[lhs] in dependents:
                eq = next(k for k, (d, _) in enumerate(self.equations) if d == index[lhs])
                self._slots.append(("resid", eq))
            else:
                self._slots.append(("cov", index[lhs], index[rhs]))

    def run(self, weights: np.ndarray) -> np.ndarray:
        x = self.x
        share = weights / weights.sum(axis=1, keepdims=True)
        means = share @ x
        cov = np.einsum("dn,ni,nj->dij", share, x, x) - means[:, :, None] * means[:, None, :]
        coefs, resid = [], []
        for dep, preds in self.equations:
            sxx = cov[:, preds][:, :, preds]
            sxy = cov[:, preds, dep]
            beta = np.linalg.solve(sxx, sxy[:, :, None])[:, :, 0]
            coefs.append(beta)
            resid.append(cov[:, dep, dep] - np.einsum("dk,dk->d", sxy, beta))
        out = np.empty((len(weights), len(self.keys)))
        for j, slot in enumerate(self._slots):
            if slot[0] == "mean":
                out[:, j] = means[:, slot[1]]
            elif slot[0] == "coef":
                out[:, j] = coefs[slot[1]][:, slot[2]]
            elif slot[0] == "resid":
                out[:, j] = resid[slot[1]]
            else:
                out[:, j] = cov[:, slot[1], slot[2]]
        return out


@dataclass
class FimlJob:
    """FIML refits on resampled missingness-pattern statistics (see lcsurvey.sem.fiml)."""

    syntax: str
    x: np.ndarray  # rows used by the fit, NaN where missing
    observed: list[str]
    theta: np.ndarray  # full-sample (params, means)
    vcov: np.ndarray  # inverse observed information at the full-sample estimates
    h1_cov: np.ndarray
    tol: float = 1e-7  # on the largest gradient entry of -loglik / n
    max_iter: int = 200
    step_tol: float = 1e-4  # see refit: the largest Newton step, in standard errors

    method = "fiml"

    def prepare(self) -> None:
        import pandas as pd
        import semopy

        from lcsurvey.sem.missing import Patterns
        from lcsurvey.sem.structure import Structure

        model = semopy.Model(self.syntax)
        frame = pd.DataFrame(self.x, columns=self.observed)
        model.load(
            data=frame, cov=pd.DataFrame(self.h1_cov, index=self.observed, columns=self.observed)
        )
        _check_order(model, self.observed)
        self._structure = Structure(model)
        mask = np.isfinite(self.x)
        masks, inverse = np.unique(mask, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        self._order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(masks))
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._inverse = inverse
        x0 = np.where(mask, self.x, 0.0)[self._order]
        self._x0 = x0
        self._outer = (x0[:, :, None] * x0[:, None, :]).reshape(len(x0), -1)
        self._base = Patterns(self.x)

    def _patterns(self, w: np.ndarray):
        """The full sample's Patterns with counts, sums and cross-products weighted by w."""
        base = object.__new__(type(self._base))
        base.__dict__.update(
            {k: getattr(self._base, k) for k in ("p", "observed", "n_observed", "groups")}
        )
        ws = w[self._order]
        base.n = np.add.reduceat(ws, self._starts).astype(float)
        base.n_rows = float(w.sum())
        base.sums = np.add.reduceat(ws[:, None] * self._x0, self._starts, axis=0)
        p = base.p
        base.cross = np.add.reduceat(ws[:, None] * self._outer, self._starts, axis=0).reshape(
            -1, p, p
        )
        base.const = float(np.log(2 * np.pi) * (base.n * base.n_observed).sum())
        return base

    def refit(self, w: np.ndarray) -> np.ndarray | None:
        """BFGS on -loglik / n from the full-sample estimates and inverse information.

        scipy's BFGS rather than the engine's Newton ascent (lcsurvey.sem.optimize): a draw
        starts next to its maximum with the full sample's inverse information as its inverse
        Hessian, so a few gradient-only steps do, where each Newton step would need the exact
        Hessian.
        """
        from scipy.optimize import minimize

        structure = self._structure
        patterns = self._patterns(w)
        q = structure.q
        n = float(w.sum())

        def objective(z):
            try:
                value, pieces = patterns.loglik(structure.sigma(z[:q]), z[q:], parts=True)
            except np.linalg.LinAlgError:
                return np.inf, np.zeros_like(z)
            g_mu, g_sigma, _ = patterns.gradient(z[q:], pieces)
            return -value / n, -np.concatenate([structure.chain(z[:q], g_sigma), g_mu]) / n

        start = (self.vcov + self.vcov.T) / 2 * n
        result = minimize(
            objective,
            self.theta,
            jac=True,
            method="BFGS",
            options={"hess_inv0": start, "gtol": self.tol, "maxiter": self.max_iter},
        )
        if result.success:
            return result.x
        # Status 2: the line search found no lower value in floating point, typically a hair
        # from the maximum. Such a draw counts as converged when the Newton step left,
        # V g n (V the full-sample inverse information), is below step_tol standard errors.
        if result.status == 2 and np.all(np.isfinite(result.jac)):
            step = start @ result.jac
            if np.max(np.abs(step) / np.sqrt(np.diag(self.vcov))) < self.step_tol:
                return result.x
        return None

    def run(self, weights: np.ndarray) -> np.ndarray:
        out = np.full((len(weights), len(self.theta)), np.nan)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for i, w in enumerate(weights):
                fitted = self.refit(w.astype(float))
                if fitted is not None:
                    out[i] = fitted
        return out


@dataclass
class MlJob:
    """ML refits (listwise, no mean structure) on resampled covariance matrices."""

    syntax: str
    x: np.ndarray  # complete rows
    observed: list[str]
    theta: np.ndarray

    method = "ml"

    def prepare(self) -> None:
        import pandas as pd
        import semopy

        from lcsurvey.sem.structure import Structure

        model = semopy.Model(self.syntax)
        model.load(data=pd.DataFrame(self.x, columns=self.observed))
        _check_order(model, self.observed)
        self._structure = Structure(model)

    def run(self, weights: np.ndarray) -> np.ndarray:
        from lcsurvey.sem.fiml import ml_start

        structure = self._structure
        out = np.full((len(weights), len(self.theta)), np.nan)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for i, w in enumerate(weights):
                share = w / w.sum()
                mean = share @ self.x
                cov = (self.x.T * share) @ self.x - np.outer(mean, mean)
                theta = ml_start(structure, self.theta.copy(), cov, max_iter=100)
                try:
                    k_inv = np.linalg.inv(structure.sigma(theta))
                except np.linalg.LinAlgError:
                    continue
                grad = structure.chain(theta, k_inv - k_inv @ cov @ k_inv)
                if np.all(np.isfinite(theta)) and np.abs(grad).max() < 1e-6:
                    out[i] = theta
        return out


@dataclass
class QuasiNewtonJob:
    """Converged FIML refits of larger models, a chunk of draws at a time.

    Every draw is iterated to the maximum of its resampled log-likelihood (FIML with free
    means; with complete rows the covariance parameters are then the ML estimates) by BFGS:
    from the full-sample estimates, with the full sample's inverse observed information
    (scaled to the draw's total weight) as the first inverse Hessian, the exact gradient, and
    step halving until the log-likelihood rises (Armijo). A draw has converged when the
    Newton-type step V g / n (V the full-sample inverse information per observation) is below
    `tol` standard errors for every parameter, i.e. its gradient is zero to that precision; a
    draw that does not get there in `max_iter` iterations, or whose covariance matrix stops
    being positive definite, fails.

    The log-likelihood and its gradient work row by row (a survey wave has nearly as many
    missingness patterns as rows): for a row with missing set m, A r = K (r - P (K r)) and
    A = K - K P K, with K = Sigma^-1, r the residual (0 where missing) and P the p x p matrix
    holding K[m, m]^-1 in rows and columns m; log|Sigma_oo| = log|Sigma| + log|K[m, m]|. So
    the weighted sum of the rows' A is W K - K (sum_i w_i P_i) K: two p x p products per draw
    instead of one per row.

    Why not the engine's one optimiser (lcsurvey.sem.optimize.ascend, which the FIML fit,
    the multi-group fit, the power analysis and MlJob's refits use): that loop moves one point
    with Newton steps, each needing the exact Hessian (q second-order chain-rule passes). Here
    a chunk of draws moves at once, every evaluation batched over the draws, and each draw's
    curvature is learnt from its gradients (BFGS, no Hessian), so draws converge or fail on
    their own while the others go on; the step halving is the same Armijo rule (1e-4).
    """

    syntax: str
    x: np.ndarray  # rows used by the fit, NaN where missing
    observed: list[str]
    theta: np.ndarray  # full-sample (params, means)
    information: np.ndarray  # observed information of the full sample at theta
    n_out: int  # quantities returned: the first n_out entries of theta
    tol: float = 1e-5  # largest step, in standard errors, of a converged draw
    max_iter: int = 100

    method = "fiml-bfgs"

    def prepare(self) -> None:
        import pandas as pd
        import semopy

        from lcsurvey.sem.structure import Structure

        frame = pd.DataFrame(self.x, columns=self.observed)
        model = semopy.Model(self.syntax)
        model.load(data=frame, cov=frame.cov())
        _check_order(model, self.observed)
        self._structure = Structure(model)
        self._q = self._structure.q
        # Sigma(theta) and the chain rule for a chunk of draws at once (semopy's matrices:
        # Sigma = M Psi M' + Theta with M = Lambda (I - B)^-1).
        self._base, self._places, self._identity = self._structure.batch_layout(
            self.theta[: self._q]
        )
        self._gather = []
        for n_mx, rows, cols, params, weights in self._structure.locations:
            scatter = np.zeros((len(rows), self._q))
            scatter[np.arange(len(rows)), params] = weights
            self._gather.append((n_mx, rows, cols, scatter))
        info = (self.information + self.information.T) / 2
        self._v = np.linalg.inv(info) * len(self.x)  # per unit of weight
        self._v = (self._v + self._v.T) / 2
        self._se = np.sqrt(np.diag(self._v) / len(self.x))
        # Rows sorted by their number of missing values, so that each group is a slice.
        n_missing = (~np.isfinite(self.x)).sum(axis=1)
        self._order = np.argsort(n_missing, kind="stable")
        x = self.x[self._order]
        mask = np.isfinite(x)
        self._mask = mask
        self._x0 = np.where(mask, x, 0.0)
        self._n_obs = mask.sum(axis=1)
        n_missing = n_missing[self._order]
        # Rows with r > 0 missing values: (slice of rows, missing indices (rows, r), the
        # positions of K[m, m] in the flattened p x p matrix (rows, r * r)).
        self._groups = []
        p = x.shape[1]
        for r in np.unique(n_missing[n_missing > 0]):
            rows = np.flatnonzero(n_missing == r)
            miss = np.array([np.flatnonzero(~mask[i]) for i in rows], dtype=int)
            miss = miss.reshape(len(rows), r)
            flat = (miss[:, :, None] * p + miss[:, None, :]).reshape(len(rows), r * r)
            self._groups.append((slice(rows[0], rows[-1] + 1), miss, flat))
        # Each row's log-likelihood and score at the full-sample estimates: every draw's
        # starting value and gradient are their weighted sums.
        from lcsurvey.sem.vcov import casewise_scores

        ones = np.ones((1, len(x)))
        self._row_values = self._evaluate(self.theta[None], ones, rowwise=True)
        scores = casewise_scores(model, frame, self.theta[: self._q], self.theta[self._q :])
        self._row_scores = scores[self._order]

    def _evaluate(self, thetas: np.ndarray, weights: np.ndarray, *, rowwise: bool = False):
        """Log-likelihood (D,) and gradient (D, k) of each draw; -inf where Sigma is not PD.

        weights are per row in the sorted order of prepare(). rowwise=True: the log-likelihood
        of each row at thetas[0] instead.
        """
        q, p = self._q, self.x.shape[1]
        d_count = len(thetas)
        mats = [np.repeat(base[None], d_count, axis=0) for base in self._base]
        for mx, place in zip(mats, self._places, strict=True):
            if place is not None:
                mx[:, place[0], place[1]] = thetas[:, place[2]]
        beta, lamb, psi, _ = mats
        c = np.linalg.inv(self._identity - beta)
        m = lamb @ c
        sigma = m @ psi @ np.swapaxes(m, 1, 2) + mats[3]
        sigma = (sigma + np.swapaxes(sigma, 1, 2)) / 2
        ok = np.ones(d_count, dtype=bool)
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            chol = np.empty_like(sigma)
            for d in range(d_count):
                try:
                    chol[d] = np.linalg.cholesky(sigma[d])
                except np.linalg.LinAlgError:
                    ok[d] = False
                    chol[d] = np.eye(p)
            sigma[~ok] = np.eye(p)
        k_inv = np.linalg.inv(sigma)
        k_inv = (k_inv + np.swapaxes(k_inv, 1, 2)) / 2
        logdet = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        mu = thetas[:, q:]
        resid = np.multiply(self._mask[None], mu[:, None, :])  # (D, n, p)
        np.subtract(self._x0[None], resid, out=resid)
        u = np.empty_like(resid)
        for d in range(d_count):  # one BLAS call per draw beats numpy's stacking
            np.matmul(resid[d], k_inv[d], out=u[d])  # K r per row
        quad = np.einsum("dnp,dnp->dn", u, resid)
        logdets = np.repeat(logdet[:, None], len(self.x), axis=1)
        k_flat = k_inv.reshape(d_count, p * p)
        offsets = (np.arange(d_count) * (p * p))[:, None]
        shift = np.zeros_like(resid)  # P (K r) per row: K[m, m]^-1 (K r)[m] at m
        places, values = [], []  # sum_i w_i P_i, scattered
        for rows, miss, flat in self._groups:
            g, r = miss.shape
            kmm_inv, logabs, bad = _sweep_inverse(k_flat[:, flat].reshape(d_count, g, r, r))
            ok &= ~bad.any(axis=1)
            t = np.take_along_axis(u[:, rows], miss[None], axis=2)  # (K r)[m], (D, g, r)
            coef = np.einsum("dgrs,dgs->dgr", kmm_inv, t)
            np.put_along_axis(shift[:, rows], miss[None], coef, axis=2)
            quad[:, rows] -= (t * coef).sum(axis=2)
            logdets[:, rows] += logabs
            places.append((offsets + flat.ravel()[None]).ravel())
            values.append((weights[:, rows, None, None] * kmm_inv).ravel())
        for d in range(d_count):
            u[d] -= shift[d] @ k_inv[d]  # A r per row
        const = LOG_2PI * self._n_obs
        if rowwise:
            return -0.5 * (const[None] + logdets + quad)[0]
        value = -0.5 * (weights * (const[None] + logdets + quad)).sum(axis=1)
        if places:
            scattered = np.bincount(
                np.concatenate(places), weights=np.concatenate(values), minlength=d_count * p * p
            ).reshape(d_count, p, p)
        else:
            scattered = np.zeros_like(k_inv)
        sum_a = weights.sum(axis=1)[:, None, None] * k_inv - k_inv @ scattered @ k_inv
        wu = weights[:, :, None] * u
        g_mu = wu.sum(axis=1)
        g_sigma = 0.5 * (np.swapaxes(wu, 1, 2) @ u - sum_a)
        g_sigma = (g_sigma + np.swapaxes(g_sigma, 1, 2)) / 2
        grad = np.empty_like(thetas)
        x = 2 * g_sigma @ m @ psi
        c_t = np.swapaxes(c, 1, 2)
        m_t = np.swapaxes(m, 1, 2)
        derivs = (m_t @ x @ c_t, x @ c_t, m_t @ g_sigma @ m, g_sigma)
        grad[:, :q] = 0.0
        for n_mx, rows, cols, scatter in self._gather:
            grad[:, :q] += derivs[n_mx][:, rows, cols] @ scatter
        grad[~ok, :q] = 0.0
        grad[:, q:] = g_mu
        value[~ok] = -np.inf
        return value, grad

    def run(self, weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, dtype=float)[:, self._order]
        d_count = len(weights)
        out = np.full((d_count, self.n_out), np.nan)
        self.iterations = np.zeros(d_count, dtype=int)
        theta = np.repeat(self.theta[None], d_count, axis=0)
        # BFGS in its two-loop form (Nocedal & Wright, algorithm 7.4) with every pair kept:
        # the inverse Hessian of -loglik starts as the full sample's, scaled to the draw's
        # weight, and is never formed (k x k per draw would dominate the iterations).
        total = weights.sum(axis=1)
        k = len(self.theta)
        pairs_s = np.zeros((d_count, self.max_iter, k))
        pairs_y = np.zeros((d_count, self.max_iter, k))
        rho = np.zeros((d_count, self.max_iter))  # 0: an empty slot, which is a no-op
        n_pairs = np.zeros(d_count, dtype=int)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value, grad = weights @ self._row_values, weights @ self._row_scores
            active = np.flatnonzero(np.isfinite(value))
            for _ in range(self.max_iter):
                if not len(active):
                    break
                check = (grad[active] @ self._v) / total[active, None]
                done = (np.abs(check) / self._se).max(axis=1) < self.tol
                out[active[done]] = theta[active[done], : self.n_out]
                active = active[~done]
                if not len(active):
                    break
                self.iterations[active] += 1
                step = _two_loop(
                    grad[active],
                    self._v,
                    total[active],
                    pairs_s[active],
                    pairs_y[active],
                    rho[active],
                    n_pairs[active].max(),
                )
                size = np.ones(len(active))
                pending = np.arange(len(active))
                while len(pending):
                    idx = active[pending]
                    trial = theta[idx] + size[pending, None] * step[pending]
                    trial_value, trial_grad = self._evaluate(trial, weights[idx])
                    rise = np.einsum("dk,dk->d", grad[idx], step[pending])
                    accept = trial_value >= value[idx] + 1e-4 * size[pending] * rise
                    taken = idx[accept]
                    s_vec = trial[accept] - theta[taken]
                    y_vec = grad[taken] - trial_grad[accept]  # change in -gradient
                    theta[taken] = trial[accept]
                    value[taken] = trial_value[accept]
                    grad[taken] = trial_grad[accept]
                    curvature = np.einsum("dk,dk->d", s_vec, y_vec)
                    good = curvature > 1e-12 * np.linalg.norm(s_vec, axis=1) * np.linalg.norm(
                        y_vec, axis=1
                    )
                    d, slot = taken[good], n_pairs[taken[good]]
                    pairs_s[d, slot], pairs_y[d, slot] = s_vec[good], y_vec[good]
                    rho[d, slot] = 1.0 / curvature[good]
                    n_pairs[d] += 1
                    size[pending[~accept]] /= 2
                    pending = pending[~accept & (size[pending] > 1e-8)]
                active = active[size >= 1e-8]  # no rise even for tiny steps: failed
        return out


def _two_loop(grad, v, total, pairs_s, pairs_y, rho, used: int) -> np.ndarray:
    """BFGS step H g per draw from its (s, y) pairs, H_0 = v / total (the two-loop recursion)."""
    q = grad.copy()
    alphas = []
    for j in reversed(range(used)):
        alpha = rho[:, j] * np.einsum("dk,dk->d", pairs_s[:, j], q)
        q -= alpha[:, None] * pairs_y[:, j]
        alphas.append(alpha)
    r = (q @ v) / total[:, None]
    for j, alpha in zip(range(used), reversed(alphas), strict=True):
        beta = rho[:, j] * np.einsum("dk,dk->d", pairs_y[:, j], r)
        r += (alpha - beta)[:, None] * pairs_s[:, j]
    return r


def _sweep_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse, log-determinant and "not positive definite" of stacked small symmetric
    matrices (..., r, r), by the sweep operator over every pivot (numpy's inv and slogdet
    call LAPACK once per matrix, which dominates for thousands of 2 x 2 to 8 x 8 matrices)."""
    a = np.array(a, dtype=float)
    logdet = np.zeros(a.shape[:-2])
    bad = np.zeros(a.shape[:-2], dtype=bool)
    for k in range(a.shape[-1]):
        pivot = a[..., k, k].copy()
        bad |= pivot <= 0
        pivot[pivot <= 0] = 1.0
        logdet += np.log(pivot)
        column = a[..., :, k] / pivot[..., None]
        a -= column[..., :, None] * a[..., k, None, :]
        a[..., :, k] = column
        a[..., k, :] = column
        a[..., k, k] = -1.0 / pivot
    return -a, logdet, bad


# --------------------------------------------------------------------------------------------
# Running the draws
# --------------------------------------------------------------------------------------------


def _check_order(model, observed: list[str]) -> None:
    """semopy orders variables by string hashes: a worker must see the parent's order."""
    if list(model.vars["observed"]) != list(observed):
        raise RuntimeError(
            "the model's variable order differs from the full-sample fit; "
            "run with PYTHONHASHSEED set (the workflow sets it)"
        )


_JOB = None


def _start_worker(job) -> None:
    global _JOB
    _JOB = job
    job.prepare()


def _run_chunk(task) -> np.ndarray:
    seed, size, n_rows = task
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=size)
    return _JOB.run(weights.astype(float))


def _run_cluster_chunk(task) -> np.ndarray:
    seed, size, codes = task
    n_clusters = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=size)
    return _JOB.run(counts[:, codes].astype(float))


def _run_weights(weights: np.ndarray) -> np.ndarray:
    return _JOB.run(weights)


def _map(job, function, tasks: list, workers: int, progress=None) -> list[np.ndarray]:
    """function(task) for every task, in order; progress(rows done, total) after each.

    A task's result has one row per draw (or refit), so the rows done are the units done.
    """
    report = progress or (lambda done, total: None)
    total = sum(_units(task) for task in tasks)
    if workers <= 1 or len(tasks) <= 1:
        _start_worker(job)
        return list(_counted((function(task) for task in tasks), report, total))
    # Forked workers share the parent's string hashes, hence semopy's variable order.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        initializer=_start_worker,
        initargs=(job,),
        mp_context=context,
    ) as pool:
        return list(_counted(pool.map(function, tasks), report, total))


def _units(task) -> int:
    """Draws of a chunk task (seed, size, ...), refits of a jackknife block (an array)."""
    return len(task) if isinstance(task, np.ndarray) else int(task[1])


def _counted(results, report, total: int):
    done = 0
    for result in results:
        done += len(result)
        report(done, total)
        yield result


def cluster_sizes(clusters: np.ndarray, n_rows: int) -> np.ndarray:
    """Rows per cluster, after checking that `clusters` codes the job's rows as 0..G-1.

    Parameters
    ----------
    clusters : ndarray of int
        The cluster of each row (lcsurvey.sem.clusters.cluster_codes).
    n_rows : int
        The rows of the job.

    Returns
    -------
    ndarray of int
        (G,) the size of each cluster.
    """
    codes = np.asarray(clusters)
    if codes.shape != (n_rows,):
        raise InputError(
            f"cluster codes for {codes.shape[0] if codes.ndim == 1 else codes.shape} rows, "
            f"but the model was fitted to {n_rows} rows",
            expected="one cluster code per row of the fit",
        )
    if not np.issubdtype(codes.dtype, np.integer) or (n_rows and codes.min() < 0):
        raise InputError(
            "cluster codes must be integers 0..G-1",
            value=str(codes.dtype),
            hint="Make them with lcsurvey.sem.clusters.cluster_codes",
        )
    sizes = np.bincount(codes)
    if len(sizes) < 2 or (sizes == 0).any():
        raise InputError(
            f"a cluster bootstrap needs at least two clusters coded 0..G-1 without gaps; "
            f"found {int((sizes > 0).sum())} clusters among codes 0..{len(sizes) - 1}",
            expected="cluster codes from lcsurvey.sem.clusters.cluster_codes",
        )
    return sizes


def draws(
    job,
    n_draws: int,
    seed: int,
    *,
    workers: int = 1,
    clusters: np.ndarray | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int], None] | bool | None = None,
) -> np.ndarray:
    """Bootstrap values (n_draws, quantities) of the job's quantities; NaN rows failed.

    Parameters
    ----------
    job
        A refit job (PathJob, FimlJob, MlJob, QuasiNewtonJob): prepare() and run(weights).
    n_draws : int
    seed : int
    workers : int
        Processes; the draws do not depend on it.
    clusters : ndarray of int, optional
        The cluster of each row of job.x, codes 0..G-1. None: rows are resampled.
    chunk_size : int
    progress : callable, optional
        Called as progress(draws done, n_draws) after each chunk. None: the draws done,
        elapsed and expected remaining time go to the "lcsurvey" logger now and then (and a
        bar to an interactive terminal; lcsurvey.sem.progress); False: nothing.

    Returns
    -------
    ndarray

    Notes
    -----
    Chunk i of chunk_size draws is generated from SeedSequence(seed).spawn(n_chunks)[i], so the
    result does not depend on `workers`. Rows: the weights of a chunk are
    multinomial(N, 1/N) counts per row. Clusters: multinomial(G, 1/G) counts per cluster, each
    row weighted by its cluster's count (a draw holds G clusters, so its total weight varies
    with the sizes of the clusters drawn); with codes 0..N-1 in row order these are the row
    weights, draw for draw.
    """
    n_rows = len(job.x)
    n_chunks = -(-n_draws // chunk_size)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    sizes = [min(chunk_size, n_draws - i * chunk_size) for i in range(n_chunks)]
    report = reporter(progress, "bootstrap", n_draws, "draws")
    if clusters is None:
        tasks = [(s, size, n_rows) for s, size in zip(seeds, sizes, strict=True)]
        chunks = _map(job, _run_chunk, tasks, workers, report)
    else:
        cluster_sizes(clusters, n_rows)
        codes = np.asarray(clusters, dtype=np.int64)
        tasks = [(s, size, codes) for s, size in zip(seeds, sizes, strict=True)]
        chunks = _map(job, _run_cluster_chunk, tasks, workers, report)
    return np.concatenate(chunks) if chunks else np.empty((0, 0))


def jackknife(
    job,
    *,
    workers: int = 1,
    clusters: np.ndarray | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int], None] | bool | None = None,
) -> np.ndarray:
    """Leave-one-out values of the job's quantities: (rows, quantities), or with cluster codes
    (clusters, quantities), cluster g's row the fit without the rows of cluster g.

    The cluster jackknife gives BCa's acceleration when whole clusters are resampled (bca_ci:
    the same formula on G leave-one-cluster-out values). `progress` as in draws, counting
    refits.
    """
    n_rows = len(job.x)
    if clusters is None:
        codes = np.arange(n_rows)
    else:
        cluster_sizes(clusters, n_rows)
        codes = np.asarray(clusters, dtype=np.int64)
    n_units = int(codes.max()) + 1 if n_rows else 0
    blocks = []
    for start in range(0, n_units, chunk_size):
        stop = min(start + chunk_size, n_units)
        blocks.append((codes[None, :] != np.arange(start, stop)[:, None]).astype(float))
    report = reporter(progress, "jackknife", n_units, "refits")
    return np.concatenate(_map(job, _run_weights, blocks, workers, report))


# --------------------------------------------------------------------------------------------
# Confidence intervals
# --------------------------------------------------------------------------------------------


def percentile_ci(values: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI per column over the finite rows.

    Parameters
    ----------
    values : ndarray
        (draws, quantities).
    level : float

    Returns
    -------
    (ndarray, ndarray)
        Lower and upper limits: the (1 - level)/2 and (1 + level)/2 quantiles (numpy's linear
        interpolation). lavaan: parameterEstimates(fit, boot.ci.type = "perc").
    """
    tail = (1 - level) / 2
    return (np.nanquantile(values, tail, axis=0), np.nanquantile(values, 1 - tail, axis=0))


def bca_ci(
    values: np.ndarray, estimate: np.ndarray, jack: np.ndarray | None, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected and accelerated (BCa) bootstrap CI per column.

    Parameters
    ----------
    values : ndarray
        (draws, quantities); rows with a NaN are left out.
    estimate : ndarray
        The full-sample estimates.
    jack : ndarray or None
        Leave-one-out values (rows, quantities), or leave-one-cluster-out values (clusters,
        quantities) when whole clusters were resampled; None: no acceleration.
    level : float

    Returns
    -------
    (ndarray, ndarray)

    Notes
    -----
    z0 = Phi^-1(share of draws below the estimate, ties half), a = sum(U^3) / (6 sum(U^2)^1.5)
    with U the jackknife influence values (a = 0 without jackknife: lavaan's "bca.simple");
    with G clusters, U_g = mean - the fit without cluster g (Davison & Hinkley 1997, 3.8: the
    cluster is the unit that is resampled; a factor G - 1 in U cancels in a);
    limits at the quantiles Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for z = Phi^-1((1 -+ level)/2).
    boot::boot.ci(type = "bca") with the jackknife acceleration.

    References
    ----------
    Efron, B. (1987). Better bootstrap confidence intervals. JASA, 82, 171-185.
    Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application.
    Cambridge University Press.
    """
    norm = _Normal()
    ok = np.isfinite(values).all(axis=1)
    values = values[ok]
    below = (values < estimate).mean(axis=0) + 0.5 * (values == estimate).mean(axis=0)
    z0 = norm.ppf(np.clip(below, 1e-10, 1 - 1e-10))
    if jack is not None:
        jack = jack[np.isfinite(jack).all(axis=1)]
        influence = jack.mean(axis=0) - jack
        denominator = 6 * (influence**2).sum(axis=0) ** 1.5
        with np.errstate(divide="ignore", invalid="ignore"):
            accel = np.where(denominator > 0, (influence**3).sum(axis=0) / denominator, 0.0)
    else:
        accel = np.zeros_like(z0)
    tail = (1 - level) / 2
    limits = []
    for z in (norm.ppf(tail), norm.ppf(1 - tail)):
        adjusted = norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        limits.append(
            np.array(
                [
                    np.quantile(values[:, j], adjusted[j]) if np.isfinite(adjusted[j]) else np.nan
                    for j in range(values.shape[1])
                ]
            )
        )
    return limits[0], limits[1]


def monte_carlo(estimate: np.ndarray, vcov: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """Draws of the free parameters from N(estimate, vcov) (the Monte Carlo CI's input).

    Parameters
    ----------
    estimate : ndarray
    vcov : ndarray
    n_draws : int
    seed : int
        Drawn from SeedSequence([seed, 1]), apart from the bootstrap's streams.

    Returns
    -------
    ndarray
        (n_draws, quantities). semTools: monteCarloCI(fit) evaluates the := expressions on
        such draws.

    References
    ----------
    Preacher, K. J. & Selig, J. P. (2012). Advantages of Monte Carlo confidence intervals for
    indirect effects. Communication Methods and Measures, 6, 77-98.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    return rng.multivariate_normal(estimate, vcov, size=n_draws, method="eigh")


class _Normal:
    """Vectorised standard normal cdf and quantile from the standard library (scipy loads slowly)."""

    _dist = NormalDist()

    def cdf(self, x):
        return np.array([self._dist.cdf(v) if np.isfinite(v) else np.nan for v in np.atleast_1d(x)])

    def ppf(self, p):
        return np.array([self._dist.inv_cdf(v) if 0 < v < 1 else np.nan for v in np.atleast_1d(p)])
