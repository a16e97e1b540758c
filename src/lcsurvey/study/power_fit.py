"""The power analysis' structural-model fits: one model fitted again and again to samples.

Each replication of the power analysis (lcsurvey.study.power) fits the same lavaan-syntax model
to a new sample of the same variables. SemFitter sets the model's structure up once
(lcsurvey.sem.structure) and then fits each sample: with complete data by Fisher scoring /
Newton steps on the sample moments (ML with free means, as lcsurvey.sem.model.fit_model), with
missing answers by FIML (lcsurvey.sem.fiml), both through the engine's one optimiser
(lcsurvey.sem.optimize.ascend); standard errors from the information matrix and the delta
method for := parameters (lcsurvey.sem.defined), as the pipeline's own fit gives them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem import fiml
from lcsurvey.sem.defined import defined_values, delta_method
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.optimize import ascend
from lcsurvey.sem.structure import Structure, free_parameters, parameter_names
from lcsurvey.sem.syntax import parse_model

# Convergence: the largest possible gain in log-likelihood from another step (Newton
# decrement / 2) below this.
TOLERANCE = 1e-7
MAX_ITER = 200


@dataclass
class Fit:
    est: float
    se: float
    converged: bool


class SemFitter:
    """One structural model fitted again and again to samples of the same variables.

    `start`: population values of the free parameters by their (lhs, op, rhs) key (see
    lcsurvey.sem.structure.parameter_names); None starts from semopy's own starting values.
    """

    def __init__(
        self,
        syntax: str,
        sample: pd.DataFrame,
        start: Mapping[tuple[str, str, str], float] | None = None,
    ):
        import semopy

        self.spec = parse_model(syntax)
        self.model = semopy.Model(self.spec.semopy_syntax)
        observed = list(self.spec.observed)
        absent = [v for v in observed if v not in sample.columns]
        if absent:
            raise InputError(
                f"the power model uses variables the population does not have: {absent}",
                expected="item names from the codebook",
            )
        frame = sample[observed].astype(float).dropna()
        # semopy only needs data for its starting values: a slice keeps large samples cheap.
        self.model.load(data=frame.iloc[:5000])
        self.observed = list(self.model.vars["observed"])
        self.structure = Structure(self.model)
        self.keys = parameter_names(self.model)
        self.columns = free_parameters(self.model)
        if start is None:
            x = frame[self.observed].to_numpy(float)
            cov = np.cov(x, rowvar=False, bias=True)
            # Far from the optimum, plain Fisher scoring (lcsurvey.sem.fiml) is the safer start.
            start = fiml.ml_start(self.structure, np.asarray(self.model.param_vals, float), cov)
            theta, _, converged = self._scoring(start, cov, len(x), max_iter=1000)
            if not converged:
                raise InputError("the power model does not converge on the population sample")
            self.start = theta
        else:
            missing = [k for k in self.keys if tuple(k) not in start]
            if missing:
                raise InputError(
                    f"the population values lack {missing}",
                    expected="the population file of the same model",
                )
            self.start = np.array([start[tuple(k)] for k in self.keys], dtype=float)

    def start_values(self) -> dict[tuple[str, str, str], float]:
        return {tuple(k): float(v) for k, v in zip(self.keys, self.start, strict=True)}

    # -- complete data --------------------------------------------------------------------

    def _objective(self, theta, cov):
        try:
            sigma = self.structure.sigma(theta)
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf, None
        eye = np.eye(len(sigma))
        k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, eye))
        return 2 * np.log(np.diag(chol)).sum() + np.sum(cov * k_inv), (k_inv + k_inv.T) / 2

    def _products(self, theta, k_inv, cov):
        """tr(K S_a K S_b) and tr(K C K S_a K S_b) for all pairs of parameters (q x q)."""
        st = self.structure
        q, p = st.q, len(cov)
        jac = st.jacobian(theta).T.reshape(q, p, p)
        ka = k_inv @ jac
        ka_t = np.swapaxes(ka, 1, 2).reshape(q, p * p)
        kka = (k_inv @ cov @ ka).reshape(q, p * p)
        return ka.reshape(q, p * p) @ ka_t.T, kka @ ka_t.T

    def _scoring(self, theta, cov, n, *, max_iter=MAX_ITER):
        """Minimise F = log|Sigma| + tr(C Sigma^-1); returns theta, K, converged.

        Steps use d2F without its second-order term (2 tr(KCK S_a K S_b) - tr(K S_a K S_b)),
        which is exact for a linear Sigma(theta) and converges in a few steps near the
        optimum; Fisher scoring (tr(K S_a K S_b)) where that matrix is not positive definite.
        """
        st = self.structure
        value, k_inv = self._objective(theta, cov)
        if k_inv is None:
            return theta, None, False

        def objective(th):  # the ascent of -F
            value, k = self._objective(th, cov)
            return -value, k

        def direction(th, k_inv):
            grad = st.chain(th, k_inv - k_inv @ cov @ k_inv)
            fisher, cross = self._products(th, k_inv, cov)
            for info in (2 * cross - fisher, fisher):
                try:
                    chol = np.linalg.cholesky((info + info.T) / 2)
                except np.linalg.LinAlgError:
                    continue
                step = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
                return step, -grad @ step, None
            return None, np.nan, None

        # Converged when the log-likelihood (-n/2 F) can rise by less than TOLERANCE.
        fit = ascend(
            objective,
            direction,
            theta,
            tol=TOLERANCE,
            max_iter=max_iter,
            value=-value,
            state=k_inv,
            scale=n / 4,
        )
        return fit.x, fit.state, fit.converged

    def fit_complete(self, x: np.ndarray):
        """ML on the moments of complete rows; vcov of theta from the observed information.

        -loglik = n/2 F + const at mu = the sample means, so the information of theta is
        n/2 d2F with d2F[a, b] = 2 tr(K C K S_a K S_b) - tr(K S_a K S_b) + tr(G S_ab),
        S_a = dSigma/dtheta_a, G = K - K C K (lavaan's observed information under
        missing = "ml"; the means are independent of theta at their estimates). F is minimised
        by BFGS from the population values with that matrix less its last term as the first
        Hessian; the exact d2F at the end then gives the standard errors and, when the
        Newton decrement is not yet below the tolerance, polishing Newton steps.
        """
        from scipy.optimize import minimize

        n = len(x)
        cov = np.cov(x, rowvar=False, bias=True)
        st = self.structure
        theta = self.start.copy()
        value, k_inv = self._objective(theta, cov)
        if k_inv is None:
            return theta, None, False
        fisher, cross = self._products(theta, k_inv, cov)
        approx = 2 * cross - fisher
        approx = (approx + approx.T) / 2
        try:
            np.linalg.cholesky(approx)
        except np.linalg.LinAlgError:
            approx = (fisher + fisher.T) / 2
        start_inverse = np.linalg.inv(approx)

        def objective(th):
            value, k = self._objective(th, cov)
            if k is None:
                return np.inf, np.zeros_like(th)
            return value, st.chain(th, k - k @ cov @ k)

        result = minimize(
            objective,
            theta,
            jac=True,
            method="BFGS",
            options={
                "hess_inv0": (start_inverse + start_inverse.T) / 2,
                "gtol": 1e-9,
                "maxiter": MAX_ITER,
            },
        )
        theta = result.x
        for _ in range(5):
            value, k_inv = self._objective(theta, cov)
            if k_inv is None:
                return theta, None, False
            g = k_inv - k_inv @ cov @ k_inv
            grad = st.chain(theta, g)
            fisher, cross = self._products(theta, k_inv, cov)
            d2f = 2 * cross - fisher + st.second_order(theta, g)
            d2f = (d2f + d2f.T) / 2
            try:
                chol = np.linalg.cholesky(d2f)
            except np.linalg.LinAlgError:
                return theta, None, False
            step = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
            if n / 4 * -(grad @ step) < TOLERANCE:
                vcov = np.linalg.inv(n / 2 * d2f)
                if not np.all(np.isfinite(vcov)) or np.any(np.diag(vcov) <= 0):
                    return theta, None, False
                return theta, vcov, True
            theta = theta + step
        return theta, None, False

    # -- missing answers ------------------------------------------------------------------

    def fit_fiml(self, x: np.ndarray):
        """FIML (free means) by Newton steps with the analytic Hessian of lcsurvey.sem.fiml."""
        x = x[np.isfinite(x).any(axis=1)]
        patterns = Patterns(x)
        st = self.structure
        q = st.q
        if np.any(patterns.observed.T.astype(float) @ patterns.n < 2):
            return self.start, None, False
        counts = patterns.observed.T.astype(float) @ patterns.n
        theta, mu = self.start.copy(), patterns.sums.sum(axis=0) / counts

        try:
            value, pieces = patterns.loglik(st.sigma(theta), mu, parts=True)
        except np.linalg.LinAlgError:
            return theta, None, False
        theta, mu, _, _, hess, converged, _ = fiml.newton_ascent(
            st, patterns, theta, mu, value, pieces, tol=2 * TOLERANCE, max_iter=MAX_ITER
        )
        if not converged:
            return theta, None, False
        try:
            vcov = np.linalg.inv(-hess)[:q, :q]
        except np.linalg.LinAlgError:
            return theta, None, False
        if not np.all(np.isfinite(vcov)) or np.any(np.diag(vcov) <= 0):
            return theta, None, False
        return theta, vcov, True

    def fit(self, data: pd.DataFrame):
        """(theta, vcov, converged); a sample the model cannot be fitted to is not converged."""
        x = data[self.observed].to_numpy(dtype=float)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                if np.isfinite(x).all():
                    return self.fit_complete(x)
                return self.fit_fiml(x)
            except (np.linalg.LinAlgError, ValueError):
                return self.start, None, False

    def effects(self, theta, vcov, names: Sequence[str]) -> dict[str, tuple[float, float]]:
        """(estimate, se) of each label or defined parameter in names."""
        definitions = list(self.spec.definitions)
        out = {}
        if any(d.name in names for d in definitions):
            # A defined parameter may use earlier ones: evaluate all, keep the wanted.
            est, se = delta_method(definitions, self.columns, theta, vcov)
            for d, e, s in zip(definitions, est, se, strict=True):
                if d.name in names:
                    out[d.name] = (float(e), float(s))
        for name in names:
            if name in self.columns:
                i = self.columns.index(name)
                out[name] = (float(theta[i]), float(np.sqrt(vcov[i, i])))
        return out

    def values(self, theta, names: Sequence[str]) -> dict[str, float]:
        """Point values of labels and defined parameters at theta (no standard errors)."""
        definitions = list(self.spec.definitions)
        out = {}
        if definitions:
            vals = defined_values(definitions, self.columns, theta)
            out.update({d.name: float(v) for d, v in zip(definitions, vals, strict=True)})
        out.update({c: float(theta[i]) for i, c in enumerate(self.columns)})
        return {name: out[name] for name in names}
