"""The model structure: semopy's matrices as functions of the free parameters.

The only module that reaches into semopy's internals (update_matrices, calc_sigma,
mx_diffs, parameters and their locations, names, inspect_list). Everything else in the
engine sees a model through what this module offers:

- Structure: Sigma(theta), dvec(Sigma)/dtheta and the chain rule from d/dSigma to d/dtheta
  (lavaan's computeSigmaHat and computeDelta, lav_model_implied.R and lav_model_gradient.R);
- parameter_names and parameter_keys: the free parameters in lavaan's (lhs, op, rhs) notation
  (lavaan's parameter table, lav_partable);
- fixed_exogenous: observed regressors whose moments are fixed (lavaan's fixed.x = TRUE);
- Intercepts: lavaan's intercepts ("~1" rows) from the free means of a FIML fit;
- parameter_listing: every parameter, free and fixed, with its value (semopy's inspect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # semopy loads slowly; models arrive built, so only the name is needed
    import pandas as pd
    import semopy

    from lcsurvey.sem.syntax import ModelSpec


class Structure:
    """Sigma(theta) of a semopy model and the chain rule from dSigma to dtheta.

    semopy's RAM-like matrices: Sigma = Lambda C Psi C' Lambda' + Theta with C = (I - B)^-1
    (B the regressions among the variables of the structural part, Lambda the loadings and the
    observed variables' selection, Psi and Theta the (residual) covariances). theta is
    model.param_vals: semopy's free parameters, one per label.

    Parameters
    ----------
    model : semopy.Model
        A model with data loaded (its matrices and mx_diffs built).

    Notes
    -----
    The gradient of tr(G Sigma) in theta for a symmetric G is, per matrix,
    dB: 2 M' G M Psi C', dLambda: 2 G M Psi C', dPsi: M' G M, dTheta: G (M = Lambda C), summed
    over the places of each parameter (lavaan's lav_model_gradient with its derivative
    matrices, lav_model_delta / computeDelta).
    """

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
                self.locations.append(
                    (
                        n_mx,
                        np.concatenate(rows),
                        np.concatenate(cols),
                        np.concatenate(params),
                        np.concatenate(weights),
                    )
                )

    def batch_layout(self, theta: np.ndarray):
        """semopy's matrices at theta and where each parameter sits, for evaluating Sigma of
        many parameter vectors at once (Sigma = M Psi M' + Theta, M = Lambda (I - B)^-1).

        Parameters
        ----------
        theta : ndarray
            The point whose matrices serve as the template (fixed entries).

        Returns
        -------
        (list of ndarray, list, ndarray)
            The four matrices (B, Lambda, Psi, Theta) at theta; per matrix (rows, cols,
            parameter index) of its free entries, or None; the identity I of (I - B).
        """
        model = self.model
        model.update_matrices(theta)
        base = [np.array(mx, dtype=float) for mx in model.matrices[:4]]
        places = [
            (np.asarray(r1[0], dtype=int), np.asarray(r1[1], dtype=int), np.asarray(r2, dtype=int))
            if r1
            else None
            for r1, r2 in model.param_ranges[:4]
        ]
        return base, places, np.array(model.identity_c, dtype=float)

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        """Model-implied covariance matrix Sigma(theta), symmetrised (lavaan: fitted(fit)$cov).

        Parameters
        ----------
        theta : ndarray
            Free parameters (semopy's param_vals order). Leaves the model's matrices at theta.

        Returns
        -------
        ndarray
            (p, p) in the order of model.vars["observed"].
        """
        self.model.update_matrices(theta)
        sigma, _ = self.model.calc_sigma()
        return (sigma + sigma.T) / 2

    def chain(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Gradient in theta of tr(G Sigma(theta)) for a fixed symmetric G.

        Parameters
        ----------
        theta : ndarray
        g : ndarray
            (p, p) symmetric, say d loglik / d Sigma.

        Returns
        -------
        ndarray
            (q,): sum over each parameter's places of the derivative matrices (class Notes).
        """
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
        """dvec(Sigma)/dtheta, shape (p*p, q) (lavaan: computeDelta, lav_model_delta).

        Parameters
        ----------
        theta : ndarray

        Returns
        -------
        ndarray
        """
        model = self.model
        model.update_matrices(theta)
        _, (m, c) = model.calc_sigma()
        grads = model.calc_sigma_grad(m, c)
        return np.stack([np.asarray(gr, dtype=float).ravel() for gr in grads], axis=1)

    def second_order(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Hessian in theta of tr(G Sigma(theta)) for fixed G, by central differences of `chain`.

        Parameters
        ----------
        theta : ndarray
        g : ndarray
            (p, p) symmetric.

        Returns
        -------
        ndarray
            (q, q), symmetrised; steps 1e-5 max(1, |theta_a|). The model is left at theta.
        """
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


def free_parameters(model: semopy.Model) -> list[str]:
    """semopy's names of the free parameters of `model`, in the order of model.param_vals:
    the label of a labelled parameter (one name for a shared label), else semopy's own."""
    return [k for k, v in model.parameters.items() if v.active]


def variable_order(model: semopy.Model) -> list[str]:
    """The names of `model`'s observed then structural (latent and endogenous) variables,
    in the order of implied_variances."""
    return list(model.names_lambda[0]) + list(model.names_beta[0])


def implied_variances(model: semopy.Model) -> np.ndarray:
    """Model-implied variances at the model's current matrices: the observed variables'
    (diag Sigma) then the structural variables' (diag C Psi C', C = (I - B)^-1), in the order
    of variable_order.

    Parameters
    ----------
    model : semopy.Model

    Returns
    -------
    ndarray
        lavaan: diag(lavInspect(fit, "cov.all")) (observed and latent).
    """
    sigma, (_, c) = model.calc_sigma()
    latent_cov = c @ model.matrices[2] @ c.T
    return np.concatenate([np.diag(sigma), np.diag(latent_cov)])


def parameter_names(model: semopy.Model) -> list[tuple[str, str, str]]:
    """(lhs, op, rhs) in lavaan's notation for each entry of model.param_vals.

    Parameters
    ----------
    model : semopy.Model

    Returns
    -------
    list of (str, str, str)
        The first place of each free parameter: "~" (regressions), "=~" (loadings), "~~"
        (variances and covariances), as in lavaan's parTable(fit)[, c("lhs", "op", "rhs")].
    """
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


def parameter_keys(model: semopy.Model, spec: ModelSpec) -> list[tuple[str, tuple[str, str, str]]]:
    """(semopy name, (lhs, op, rhs) in lavaan's notation) for every place of every free parameter.

    Parameters
    ----------
    model : semopy.Model
    spec : ModelSpec
        The parsed model (its latent variables).

    Returns
    -------
    list of (str, (str, str, str))
        A shared label gives one name with several places; covariances are listed both ways.

    Notes
    -----
    semopy keeps observed outcomes of regressions in its loading matrix, so a loading counts as
    =~ only when its factor is one of the model's latent variables. lavaan: the free rows of
    parTable(fit) with their plabel / label.
    """
    out = []
    for param, value in model.parameters.items():
        if not value.active:
            continue
        for loc in value.locations:
            n_mx = next(i for i, mx in enumerate(model.matrices) if mx is loc.matrix)
            rows, cols = model.names[n_mx]
            lhs, rhs = rows[loc.indices[0]], cols[loc.indices[1]]
            if n_mx == 1 and rhs in spec.measurement:
                out.append((param, (rhs, "=~", lhs)))
            elif n_mx <= 1:
                out.append((param, (lhs, "~", rhs)))
            else:
                out.append((param, (lhs, "~~", rhs)))
                out.append((param, (rhs, "~~", lhs)))
    return out


def fixed_exogenous(model: semopy.Model, spec: ModelSpec) -> list[str]:
    """Observed exogenous regressors whose moments are fixed at their sample values.

    Parameters
    ----------
    model : semopy.Model
    spec : ModelSpec

    Returns
    -------
    list of str
        Observed variables that only ever predict, with no free variance of their own in the
        model: lavaan's fixed.x = TRUE (lavNames(fit, "ov.x")).
    """
    free = {key for _, key in parameter_keys(model, spec)}
    return [
        v
        for v in model.vars["observed"]
        if v in model.vars["exogenous"] and (v, "~~", v) not in free
    ]


class Intercepts:
    """lavaan's intercepts ("~1" rows) from the means of the observed variables.

    A FIML fit here has one free mean per observed variable: a saturated mean structure, as
    lavaan's free intercepts with the latent intercepts fixed at 0 are, but lavaan reports
    intercepts. In semopy's matrices, eta = (I - B)^-1 (alpha + zeta) holds the latent
    variables and the observed variables of the structural part, and mu = nu + Lambda E[eta]
    the means of the observed ones. An observed variable in eta has E[eta] = its mean, so with
    alpha = 0 for the latent variables, E[eta] is linear in the means: the latent rows solve
    ((I - B) E[eta])_latent = 0. The intercept of an observed variable in eta is then its
    alpha = ((I - B) E[eta])_v, and of any other observed variable (an indicator, or an outcome
    that semopy keeps in Lambda) its nu = mu_v - Lambda_v E[eta]. So the intercepts are
    A(params) mu; with no observed variable in eta, A = I and the intercepts are the means.
    theta below is (params, means), the order of FittedModel.theta under FIML.
    """

    def __init__(self, model: semopy.Model):
        self.model = model
        self.observed = list(model.vars["observed"])
        self.q = len(model.param_vals)
        position = {v: i for i, v in enumerate(self.observed)}
        eta = list(model.names_beta[0])
        self.in_eta = np.array([k for k, v in enumerate(eta) if v in position], dtype=int)
        self.latent = np.array([k for k, v in enumerate(eta) if v not in position], dtype=int)
        self.of_eta = np.array([position[eta[k]] for k in self.in_eta], dtype=int)
        lambda_rows = list(model.names_lambda[0])
        self.lambda_rows = np.array([lambda_rows.index(v) for v in self.observed], dtype=int)
        self.identity = len(self.in_eta) == 0
        self.params = np.array(model.param_vals, dtype=float)  # where the model is left

    def matrix(self, params: np.ndarray) -> np.ndarray:
        """A(params): intercepts = A @ means. Leaves the model's matrices at params; the
        public methods put them back at the estimates."""
        p = len(self.observed)
        if self.identity:
            return np.eye(p)
        self.model.update_matrices(params)
        beta, lamb = (np.asarray(mx, dtype=float) for mx in self.model.matrices[:2])
        i_b = np.eye(len(beta)) - beta
        expect = np.zeros((len(beta), p))  # E[eta] = expect @ means
        expect[self.in_eta, self.of_eta] = 1.0
        if len(self.latent):
            lat, obs = self.latent, self.in_eta
            expect[lat] = -np.linalg.solve(
                i_b[np.ix_(lat, lat)], i_b[np.ix_(lat, obs)] @ expect[obs]
            )
        out = np.eye(p) - lamb[self.lambda_rows] @ expect
        out[self.of_eta] = (i_b @ expect)[self.in_eta]
        return out

    def reported(self, thetas: np.ndarray) -> np.ndarray:
        """(params, intercepts) for each row of thetas = (params, means)."""
        thetas = np.asarray(thetas, dtype=float)
        if self.identity or not len(thetas):
            return thetas
        q = self.q
        out = thetas.copy()
        for row, theta in zip(out, thetas, strict=True):
            row[q:] = self.matrix(theta[:q]) @ theta[q:]
        self.model.update_matrices(self.params)
        return out

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d reported / d theta: central differences in params, A in the means."""
        theta = np.asarray(theta, dtype=float)
        k = len(theta)
        jac = np.eye(k)
        if self.identity:
            return jac
        q = self.q
        for j in range(q):
            h = 1e-6 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            jac[q:, j] = (self.matrix(up[:q]) @ theta[q:] - self.matrix(down[:q]) @ theta[q:]) / (
                2 * h
            )
        jac[q:, q:] = self.matrix(theta[:q])
        self.model.update_matrices(self.params)
        return jac


def parameter_listing(model: semopy.Model) -> pd.DataFrame:
    """Every parameter of the model, free and fixed, with its value (semopy's inspect()).

    Parameters
    ----------
    model : semopy.Model
        A fitted (or loaded) model.

    Returns
    -------
    DataFrame
        Indexed by semopy's parameter name (the label, if any); columns lval, op, rval,
        Estimate in semopy's notation (loadings as "~" rows). lavaan: parTable(fit).
    """
    from semopy.inspector import inspect_list

    return inspect_list(model, information=None, index_names=True)
