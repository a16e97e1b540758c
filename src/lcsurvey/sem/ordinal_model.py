"""The parameter table and implied correlations of a single-group SEM of ordinal items.

lavaan 0.6.14's defaults for ``sem(model, ordered = TRUE)``: the first loading of each factor
fixed to 1 (unless the line frees it with ``NA*``), free variances of the latent variables
(residual variances for the dependent ones), free covariances among the exogenous latent
variables and among the residuals of dependent latent variables that predict nothing
(``auto.cov.lv.x``, ``auto.cov.y``), free thresholds, zero intercepts and latent means.
Shared labels make parameters equal; a label shared with a fixed parameter fixes them all
(as lavaan does).

The latent responses ``y*`` follow the all-y LISREL form ``Sigma* = Lambda A Psi A' Lambda' +
Theta`` with ``A = (I - B)^-1``. In the delta parameterisation ``diag(Sigma*) = 1``: the residual
variances of the items are ``1 - diag(Lambda A Psi A' Lambda')`` and not free. In the theta
parameterisation they are fixed at 1 and the implied correlations and standardised thresholds
divide by ``sqrt(diag Sigma*)`` (lavaan's scale factors ``~*~``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lcsurvey.errors import InputError
from lcsurvey.sem.syntax import ModelSpec, Relation

LAMBDA, BETA, PSI, THETA, GAMMA = "lambda", "beta", "psi", "theta", "gamma"


@dataclass
class Row:
    """One row of the parameter table: where it sits and whether it is free.

    ``free`` is the index of its free parameter (shared by equal labels), or -1 with
    ``value`` the fixed value.
    """

    lhs: str
    op: str
    rhs: str
    label: str
    matrix: str
    i: int
    j: int
    free: int
    value: float
    user: bool


def _refuse(name: str, relation: Relation, why: str) -> InputError:
    return InputError(
        f"model {name}: the ordinal (WLSMV) estimator does not fit the line "
        f"'{relation.statement}': {why}",
        value=relation.statement,
        expected="factor lines (=~), regressions among factors (~), covariances between "
        "factors or between item residuals (~~), labels, fixed values and :=",
        hint="fit this model with the default estimator, or rewrite the line",
    )


class OrdinalModel:
    """lavaan's parameter table of an ordinal SEM and Sigma*(theta), the correlations it implies.

    Parameters
    ----------
    spec : ModelSpec
        The parsed model (its relations and definitions).
    items : list of str
        The ordinal items, in the order of the sample statistics.
    parameterization : {"delta", "theta"}
    name : str
        Model name, for messages.
    covariates : list of str
        Observed covariates (``f ~ x``): their effects are the slopes ``Gamma`` of
        ``eta = B eta + Gamma x + zeta``, and the items' probit slopes on them are implied as
        ``Lambda A Gamma`` (lavaan's ``conditional.x = TRUE``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        items: list[str],
        parameterization: str,
        name: str = "model",
        covariates: list[str] | None = None,
    ):
        self.items = list(items)
        self.covariates = list(covariates or [])
        xi = {v: k for k, v in enumerate(self.covariates)}
        self.latents = list(spec.measurement)
        self.parameterization = parameterization
        self.name = name
        latent_set = set(self.latents)
        item_set = set(items)
        p, m = len(items), len(self.latents)
        li = {v: k for k, v in enumerate(self.latents)}
        ii = {v: k for k, v in enumerate(items)}
        self.p, self.m = p, m
        rows: list[Row] = []
        user_cov: set[frozenset[str]] = set()
        for rel in spec.relations:
            if rel.op == "=~":
                if rel.rhs in latent_set:
                    rows.append(self._row(rel, BETA, li[rel.rhs], li[rel.lhs]))
                elif rel.rhs in item_set:
                    rows.append(self._row(rel, LAMBDA, ii[rel.rhs], li[rel.lhs]))
                else:
                    raise _refuse(name, rel, f"{rel.rhs} is not an ordinal item of the model")
            elif rel.op == "~" and rel.lhs in latent_set and rel.rhs in xi:
                rows.append(self._row(rel, GAMMA, li[rel.lhs], xi[rel.rhs]))
            elif rel.op == "~":
                for v in (rel.lhs, rel.rhs):
                    if v not in latent_set:
                        raise _refuse(
                            name,
                            rel,
                            f"{v} is an observed variable; regressions are fitted only "
                            "among factors",
                        )
                rows.append(self._row(rel, BETA, li[rel.lhs], li[rel.rhs]))
            else:
                a, b = rel.lhs, rel.rhs
                if a in latent_set and b in latent_set:
                    rows.append(self._row(rel, PSI, li[a], li[b]))
                elif a in item_set and b in item_set and a != b:
                    rows.append(self._row(rel, THETA, ii[a], ii[b]))
                elif a == b and a in item_set:
                    raise _refuse(
                        name,
                        rel,
                        f"the residual variance of the ordinal item {a} is not a parameter "
                        f"of the {parameterization} parameterisation",
                    )
                else:
                    raise _refuse(
                        name, rel, "covariances are fitted between two factors or two items"
                    )
                user_cov.add(frozenset((a, b)))
        seen: set[tuple[str, str, str]] = set()
        for row in rows:
            key = (row.lhs, row.op, row.rhs)
            if row.op == "~~":
                key = (min(row.lhs, row.rhs), "~~", max(row.lhs, row.rhs))
            if key in seen:
                raise InputError(
                    f"model {name} gives the parameter '{row.lhs} {row.op} {row.rhs}' twice",
                    value=f"{row.lhs} {row.op} {row.rhs}",
                    expected="each parameter on one line",
                )
            seen.add(key)
        indicators = {v for v in items if any(r.matrix == LAMBDA and r.rhs == v for r in rows)}
        stray = [v for v in items if v not in indicators]
        if stray:
            raise InputError(
                f"model {name}: the ordinal item(s) {', '.join(stray)} indicate no factor",
                expected="every ordinal item of the model in a factor line (=~)",
            )
        # auto.fix.first: the first indicator of each factor, unless given a value or NA.
        first: set[str] = set()
        for row in rows:
            if row.op == "=~" and row.lhs not in first:
                first.add(row.lhs)
                if row.value != row.value and row.label != "NA":  # NaN: no numeric modifier
                    row.value = 1.0
        for row in rows:
            if row.label == "NA":
                row.label = ""
        dependent = {r.lhs for r in rows if r.op == "~"}
        predictors = {r.rhs for r in rows if r.op == "~"}
        indicator_latents = {r.rhs for r in rows if r.op == "=~" and r.rhs in latent_set}
        self.endogenous = dependent | indicator_latents
        # Default variances of the latent variables and the automatic covariances.
        n_user = len(rows)
        for f in self.latents:
            if frozenset((f,)) not in user_cov:
                rows.append(Row(f, "~~", f, "", PSI, li[f], li[f], 0, np.nan, False))
        exogenous = [f for f in self.latents if f not in self.endogenous]
        y_only = [f for f in self.latents if f in dependent and f not in predictors]
        for group in (exogenous, y_only):
            for k, a in enumerate(group):
                for b in group[k + 1 :]:
                    if frozenset((a, b)) not in user_cov:
                        rows.append(Row(a, "~~", b, "", PSI, li[a], li[b], 0, np.nan, False))
        self.n_user = n_user
        self.rows = rows
        self._number_parameters()

    @staticmethod
    def _row(rel: Relation, matrix: str, i: int, j: int) -> Row:
        mod = rel.modifier
        value, label = np.nan, ""
        if mod is not None:
            try:
                value = float(mod)
            except ValueError:
                label = mod
        return Row(rel.lhs, rel.op, rel.rhs, label, matrix, i, j, 0, value, True)

    def _number_parameters(self) -> None:
        """Free parameter indices: one per row, or per label when rows share a label."""
        fixed_label: dict[str, float] = {}
        for row in self.rows:
            if row.label and row.value == row.value:
                fixed_label.setdefault(row.label, row.value)
        index: dict[str, int] = {}
        self.free_names: list[str] = []
        for k, row in enumerate(self.rows):
            if row.label in fixed_label:
                row.value, row.free = fixed_label[row.label], -1
            elif row.value == row.value:
                row.free = -1
            elif row.label and row.label in index:
                row.free = index[row.label]
            else:
                row.free = len(self.free_names)
                if row.label:
                    index[row.label] = row.free
                self.free_names.append(row.label or f".p{k + 1}.")
        self.npar = len(self.free_names)
        self.fixed_labels = fixed_label
        # Places of the free parameters by matrix, for the Jacobian.
        self._places = [(r.matrix, r.i, r.j, r.free) for r in self.rows if r.free >= 0]

    # -- the matrices and Sigma* ------------------------------------------------------------

    def matrices(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Lambda, B, Psi and the off-diagonal Theta at ``theta`` (diagonal Theta left 0)."""
        p, m = self.p, self.m
        mx = {LAMBDA: np.zeros((p, m)), BETA: np.zeros((m, m)), PSI: np.zeros((m, m))}
        mx[THETA] = np.zeros((p, p))
        mx[GAMMA] = np.zeros((m, len(self.covariates)))
        for row in self.rows:
            v = theta[row.free] if row.free >= 0 else row.value
            mx[row.matrix][row.i, row.j] = v
            if row.matrix in (PSI, THETA):
                mx[row.matrix][row.j, row.i] = v
        return mx

    def _parts(self, theta: np.ndarray):
        mx = self.matrices(theta)
        a = np.linalg.inv(np.eye(self.m) - mx[BETA])
        m_ = mx[LAMBDA] @ a
        g = m_ @ mx[PSI] @ a.T  # Lambda A Psi A'
        common = m_ @ mx[PSI] @ m_.T
        sigma = common + mx[THETA]
        if self.parameterization == "theta":
            sigma[np.diag_indices(self.p)] = np.diag(common) + 1.0
        else:
            sigma[np.diag_indices(self.p)] = 1.0
        return mx, a, m_, g, sigma

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        """Sigma*, the implied covariance matrix of the latent responses."""
        return self._parts(theta)[4]

    def common_variances(self, theta: np.ndarray) -> np.ndarray:
        """``diag(Lambda A Psi A' Lambda')``: the variance of each latent response the factors
        explain."""
        _, _, m_, _, _ = self._parts(theta)
        return np.einsum("ij,ij->i", m_ @ self.matrices(theta)[PSI], m_)

    def eta_covariance(self, theta: np.ndarray) -> np.ndarray:
        """Implied covariance matrix of the latent variables, ``A Psi A'``."""
        mx, a, _, _, _ = self._parts(theta)
        return a @ mx[PSI] @ a.T

    def correlations(self, theta: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The implied correlations of the latent responses at (rows, cols)."""
        sigma = self.sigma(theta)
        with np.errstate(invalid="ignore"):  # a trial step may make a variance negative
            sd = np.sqrt(np.diag(sigma))
        return sigma[rows, cols] / (sd[rows] * sd[cols])

    def sigma_jacobian(self, theta: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """d Sigma*[rows, cols] / d theta (the diagonal of Sigma* as in the theta
        parameterisation: the common part plus fixed residual variances).

        Each place of a parameter moves Sigma* by ``u v' + v u'`` (lavaan's computeDelta):
        a loading (i, f) by ``u = e_i, v = (Lambda A Psi A')[:, f]``; a regression or
        higher-order loading (g, f) by ``u = (Lambda A)[:, g]`` and the same ``v``; a latent
        (co)variance (g, f) by the columns g and f of ``Lambda A`` (half for a variance); a
        residual covariance (i, j) by ``e_i, e_j``.
        """
        _, _, m_, g, _ = self._parts(theta)
        jac = np.zeros((len(rows), self.npar))
        for matrix, i, j, k in self._places:
            if matrix == LAMBDA:
                d = np.where(rows == i, g[cols, j], 0.0) + np.where(cols == i, g[rows, j], 0.0)
            elif matrix == BETA:
                d = m_[rows, i] * g[cols, j] + g[rows, j] * m_[cols, i]
            elif matrix == PSI:
                d = m_[rows, i] * m_[cols, j]
                if i != j:
                    d = d + m_[rows, j] * m_[cols, i]
            elif matrix == GAMMA:
                continue  # covariate effects do not move the residual correlations
            else:
                d = ((rows == i) & (cols == j)) | ((rows == j) & (cols == i))
                d = d.astype(float)
            jac[:, k] += d
        return jac

    def correlation_jacobian(
        self, theta: np.ndarray, rows: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """d correlations[rows, cols] / d theta."""
        jac = self.sigma_jacobian(theta, rows, cols)
        if self.parameterization != "theta":
            return jac
        sigma = self.sigma(theta)
        diag = np.arange(self.p)
        djd = self.sigma_jacobian(theta, diag, diag)
        var = np.diag(sigma)
        r = sigma[rows, cols] / np.sqrt(var[rows] * var[cols])
        return jac / np.sqrt(var[rows] * var[cols])[:, None] - (r / 2.0)[:, None] * (
            djd[rows] / var[rows, None] + djd[cols] / var[cols, None]
        )

    def diagonal_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d diag(Sigma*) / d theta (theta parameterisation)."""
        diag = np.arange(self.p)
        return self.sigma_jacobian(theta, diag, diag)

    def slopes(self, theta: np.ndarray) -> np.ndarray:
        """Implied probit slopes of the items on the covariates, ``Lambda A Gamma`` (p x q)."""
        mx, _, m_, _, _ = self._parts(theta)
        return m_ @ mx[GAMMA]

    def slope_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d vec(slopes) / d theta, the slopes column by column (covariate by covariate)."""
        mx, a, m_, _, _ = self._parts(theta)
        ag = a @ mx[GAMMA]  # m x q
        p, q = self.p, len(self.covariates)
        jac = np.zeros((p * q, self.npar))
        for matrix, i, j, k in self._places:
            d = np.zeros((p, q))
            if matrix == LAMBDA:
                d[i, :] = ag[j, :]
            elif matrix == BETA:
                d = np.outer(m_[:, i], ag[j, :])
            elif matrix == GAMMA:
                d[:, j] = m_[:, i]
            else:
                continue
            jac[:, k] += d.T.ravel()
        return jac

    def scaled_slopes(self, theta: np.ndarray) -> np.ndarray:
        """The slopes as the probit regressions estimate them: in the metric of latent
        responses with unit residual variance (divided by ``sqrt(diag Sigma*)`` under the theta
        parameterisation)."""
        slopes = self.slopes(theta)
        if self.parameterization != "theta":
            return slopes
        return slopes / np.sqrt(np.diag(self.sigma(theta)))[:, None]

    def scaled_slope_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d vec(scaled_slopes) / d theta."""
        jac = self.slope_jacobian(theta)
        if self.parameterization != "theta":
            return jac
        var = np.diag(self.sigma(theta))
        q = len(self.covariates)
        item = np.tile(np.arange(self.p), q)  # the item of each vec(slopes) entry
        slopes = self.slopes(theta).T.ravel()
        ddiag = self.diagonal_jacobian(theta)
        return (
            jac / np.sqrt(var[item])[:, None]
            - (slopes / (2.0 * var[item] ** 1.5))[:, None] * ddiag[item]
        )

    # -- start values ------------------------------------------------------------------------

    def start(self, cor: np.ndarray) -> np.ndarray:
        """Start values: loadings from each factor's first principal component, scaled to its
        fixed loading (or fixed variance); regressions and covariances at zero.

        Starting at the principal-component signs keeps reverse-keyed items (negative
        loadings) out of the poor local minima a start at all-ones can lead to.
        """
        theta = np.zeros(self.npar)
        var0 = np.ones(self.m)
        loads: dict[tuple[int, int], float] = {}
        for f in range(self.m):
            members = [r for r in self.rows if r.matrix == LAMBDA and r.j == f]
            if not members:
                continue
            idx = [r.i for r in members]
            values, vectors = np.linalg.eigh(cor[np.ix_(idx, idx)])
            vec = vectors[:, -1] * np.sqrt(max(values[-1], 1e-3))
            if vec[0] < 0:
                vec = -vec
            fixed = [(k, r.value) for k, r in enumerate(members) if r.free < 0 and r.value != 0]
            var_row = [r for r in self.rows if r.matrix == PSI and r.i == f and r.j == f]
            if fixed:
                k, v = fixed[0]
                base = vec[k] if abs(vec[k]) > 1e-3 else 1e-3
                scale = v / base
            elif var_row and var_row[0].free < 0 and var_row[0].value > 0:
                scale = 1.0 / np.sqrt(var_row[0].value)
            else:
                scale = 1.0
            var0[f] = 1.0 / scale**2
            for r, value in zip(members, vec, strict=True):
                loads[(r.i, f)] = value * scale
        for r in self.rows:
            if r.free < 0:
                continue
            if r.matrix == LAMBDA:
                theta[r.free] = loads[(r.i, r.j)]
            elif r.matrix == BETA and r.op == "=~":
                theta[r.free] = 1.0
            elif r.matrix == PSI and r.i == r.j:
                higher = any(x.matrix == BETA and x.op == "=~" and x.j == r.i for x in self.rows)
                if higher:
                    sub = [x.i for x in self.rows if x.matrix == BETA and x.j == r.i]
                    theta[r.free] = 0.5 * float(np.mean(var0[sub]))
                elif any(x.matrix == BETA and x.op == "=~" and x.i == r.i for x in self.rows):
                    theta[r.free] = 0.5 * var0[r.i]
                else:
                    theta[r.free] = var0[r.i]
        return theta
