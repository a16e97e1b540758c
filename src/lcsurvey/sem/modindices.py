"""Modification indices and expected parameter changes of a fitted model (lavaan's modindices()).

For every parameter a model leaves out (a cross-loading, a residual covariance, a covariance
of factors, a regression among the variables of the structural part), the score test of
freeing it: the expected drop of the chi-square (mi, one degree of freedom) and the value the
parameter would take (epc), with epc standardised as lavaan does (sepc_lv, sepc_all,
sepc_nox).

Method (Sorbom 1989; lavaan's modindices with its defaults): the model is extended by the
candidates, held at their current values (0 for a parameter the model leaves out); with the
score s_c = d loglik / d theta_c and the expected information I of the extended model,

    V_c = I_cc - I_cq I_qq^-1 I_qc,  mi_c = s_c^2 / V_c,  epc_c = s_c / V_c,

q the model's free parameters. The information is always the expected one (lavaan's default
information = "expected" of modindices, whatever the fit used): for complete data at the
model-implied Sigma, under FIML given the missingness patterns (h1.information =
"structured"). Robust (MLR) and cluster-robust fits have the same estimates, so the same
indices: lavaan's modindices does not use the robust information. The free means of a fit with
a mean structure are orthogonal to the covariance parameters in the expected information and
leave the indices unchanged. A candidate with V_c / N below eps^(1/3) (not identified once
freed, such as a marker loading, or a path against an existing one) is left out, as lavaan
leaves out its NA rows.

The candidates are those of lavaan's lav_partable_full for one group without ordinal items:
every factor on every observed variable that is not an observed regressor and not in a
regression; covariances between two indicators; covariances among the factors; regressions
among the variables that appear in the model's regressions (not an indicator on a factor, not
a variable on itself, not one fixed observed regressor on another). lavaan: modindices(fit),
lav_partable_full, lav_object_extended, lav_standardize_lv / _all / _all_nox.

References: Sorbom, D. (1989). Model modification. Psychometrika, 54, 371-384. Saris, W. E.,
Satorra, A., & Sorbom, D. (1987). The detection and correction of specification errors in
structural equation models. Sociological Methodology, 17, 105-129 (epc). Kaplan, D. (1989).
Model modification in covariance structure analysis: application of the expected parameter
change statistic. Multivariate Behavioral Research, 24, 285-305 (sepc).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.structure import (
    Structure,
    fixed_exogenous,
    parameter_keys,
    parameter_listing,
)

if TYPE_CHECKING:
    from lcsurvey.sem.model import FittedModel

MODINDICES_COLUMNS = ["lhs", "op", "rhs", "mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"]

# lavaan leaves out a candidate whose efficient information is below this (per respondent).
SMALL_INFORMATION = np.finfo(float).eps ** (1 / 3)


def candidates(fitted: FittedModel) -> list[tuple[str, str, str]]:
    """The parameters a model leaves out that lavaan's modindices() tests, (lhs, op, rhs).

    Parameters
    ----------
    fitted : FittedModel

    Returns
    -------
    list of (str, str, str)
        lavaan's lav_partable_full for one group (module docstring), without the model's
        free parameters; covariances with the variable listed first in the model first.
    """
    model, spec = fitted.model, fitted.spec
    observed = list(spec.observed)
    latent = list(spec.measurement)
    indicators = {v for items in spec.measurement.values() for v in items}
    fixed_x = set(fixed_exogenous(model, spec))
    loadings = {(f, v) for f, items in spec.measurement.items() for v in items}
    listing = parameter_listing(model)
    regressions = [
        (lhs, rhs)
        for lhs, op, rhs in listing[["lval", "op", "rval"]].itertuples(index=False)
        if op == "~" and (rhs, lhs) not in loadings
    ]
    in_regressions = list(dict.fromkeys(v for pair in regressions for v in pair))
    free = {key for _, key in parameter_keys(model, spec)}
    out = []
    no_x = [v for v in observed if v not in fixed_x]
    for f in latent:
        out += [(f, "=~", v) for v in no_x if v not in in_regressions]
    pairs = [v for v in no_x if v in indicators]
    out += [(a, "~~", b) for i, a in enumerate(pairs) for b in pairs[i + 1 :]]
    out += [(a, "~~", b) for i, a in enumerate(latent) for b in latent[i + 1 :]]
    out += [
        (y, "~", x)
        for y in in_regressions
        for x in in_regressions
        if y != x and not (y in indicators and x in latent) and not (y in fixed_x and x in fixed_x)
    ]
    return [key for key in out if key not in free]


def _sigma_derivatives(model, keys: list[tuple[str, str, str]], theta: np.ndarray) -> np.ndarray:
    """dSigma / d(candidate), (c, p, p), in semopy's matrices at theta.

    Sigma = M Psi M' + Theta with M = Lambda C, C = (I - B)^-1. A loading of factor k on row
    i adds (M Psi C')[:, k] to row and column i; a regression B[a, b] adds M[:, a] (C Psi M')[b]
    and its transpose (dC = C E_ab C); a covariance Psi[a, b] adds M[:, a] M[:, b]' and its
    transpose; a residual covariance Theta[i, j] the unit pair. lavaan: computeDelta
    (lav_model_delta) for a parameter made free.
    """
    model.update_matrices(theta)
    beta, lamb, psi, _ = (np.asarray(mx, dtype=float) for mx in model.matrices[:4])
    c = np.linalg.inv(model.identity_c - beta)
    m = lamb @ c
    n_ = c @ psi @ m.T  # (eta, p): C Psi C' Lambda'
    rows = {v: i for i, v in enumerate(model.names_lambda[0])}
    eta = {v: i for i, v in enumerate(model.names_beta[0])}
    p = len(rows)
    out = np.zeros((len(keys), p, p))
    for k, (lhs, op, rhs) in enumerate(keys):
        if op == "=~":
            i, f = rows[rhs], eta[lhs]
            column = (lamb @ c @ psi @ c.T)[:, f]
            out[k, i, :] += column
            out[k, :, i] += column
        elif op == "~":
            a, b = eta[lhs], eta[rhs]
            outer = np.outer(m[:, a], n_[b])
            out[k] = outer + outer.T
        elif lhs in eta and rhs in eta:
            a, b = eta[lhs], eta[rhs]
            outer = np.outer(m[:, a], m[:, b])
            out[k] = outer + outer.T
        else:
            i, j = rows[lhs], rows[rhs]
            out[k, i, j] = out[k, j, i] = 1.0
    return out


def modification_indices(fitted: FittedModel) -> pd.DataFrame:
    """lavaan's modindices(fit, sort. = TRUE) of a fitted single-group model.

    Parameters
    ----------
    fitted : FittedModel
        From lcsurvey.sem.model.fit_model (listwise or FIML, any se, with or without clusters).

    Returns
    -------
    DataFrame
        MODINDICES_COLUMNS, one row per candidate (candidates) that is identified once freed,
        sorted by mi, largest first.

    Warns
    -----
    RuntimeWarning
        When the model's expected information is singular (lavaan stops with an error): the
        table is then empty.

    Notes
    -----
    See the module docstring for the formulas; N times lavaan's per-respondent score and
    information are the log-likelihood's here, so mi = s^2 / V needs no N.
    """
    model, spec = fitted.model, fitted.spec
    observed = list(model.vars["observed"])
    x = fitted.data[observed].to_numpy(dtype=float)
    structure = Structure(model)
    q = structure.q
    params = np.asarray(fitted.theta[:q], dtype=float)
    means = fitted.theta[q:] if fitted.missing == "fiml" else x.mean(axis=0)
    keys = candidates(fitted)
    if not keys:
        return pd.DataFrame(columns=MODINDICES_COLUMNS)
    patterns = Patterns(x)
    sigma = structure.sigma(params)
    _, pieces = patterns.loglik(sigma, means, parts=True)
    _, g_sigma, _ = patterns.gradient(means, pieces)
    p = len(observed)
    d_cand = _sigma_derivatives(model, keys, params)
    score = np.einsum("kij,ij->k", d_cand, g_sigma)
    # Expected information in vech Sigma, as lcsurvey.sem.vcov.expected_information builds it.
    a, _, conditional = patterns.inverses(sigma)
    n = patterns.n
    a_mu = a @ means
    expected = (a, n[:, None] * a_mu, a_mu, conditional)
    _, _, h_sigsig = patterns.hessian_moments(means, expected, n[:, None, None] * a)
    rows, cols = np.triu_indices(p)
    # Under fixed.x the moments among the fixed regressors carry no information for the
    # model (lavaan zeroes them in its h1 information); a candidate that moves them (such a
    # regressor as an outcome) sees the difference.
    fixed = np.isin(np.arange(p), [observed.index(v) for v in fixed_exogenous(model, spec)])
    x_block = fixed[rows] & fixed[cols]
    h_sigsig[x_block] = 0.0
    h_sigsig[:, x_block] = 0.0
    j_free = structure.jacobian(params)[rows * p + cols]
    j_cand = d_cand[:, rows, cols].T
    hj_cand = -(h_sigsig @ j_cand)
    i_qq = -(j_free.T @ h_sigsig @ j_free)
    i_qc = j_free.T @ hj_cand
    i_cc = np.einsum("vk,vk->k", j_cand, hj_cand)
    model.update_matrices(params)
    try:
        v = _efficient_information(i_cc, i_qc, i_qq)
    except np.linalg.LinAlgError:
        warnings.warn(
            "no modification indices: the model's information matrix is singular (a "
            "parameter is not identified); the table of modification indices is left empty",
            RuntimeWarning,
            stacklevel=2,
        )
        return pd.DataFrame(columns=MODINDICES_COLUMNS)
    keep = v / patterns.n_rows >= SMALL_INFORMATION
    keys = [key for key, ok in zip(keys, keep, strict=True) if ok]
    mi = score[keep] ** 2 / v[keep]
    epc = score[keep] / v[keep]
    table = pd.DataFrame(keys, columns=["lhs", "op", "rhs"])
    table["mi"] = mi
    table["epc"] = epc
    table[["sepc_lv", "sepc_all", "sepc_nox"]] = _standardized(fitted, keys, epc)
    return (
        table.sort_values("mi", ascending=False, kind="stable")
        .reset_index(drop=True)
        .reindex(columns=MODINDICES_COLUMNS)
    )


def _efficient_information(i_cc: np.ndarray, i_qc: np.ndarray, i_qq: np.ndarray) -> np.ndarray:
    """diag(I_cc - I_cq I_qq^-1 I_qc), with only the diagonal of I_cc given; raises
    LinAlgError when I_qq is singular."""
    return i_cc - np.einsum("qk,qk->k", i_qc, np.linalg.solve((i_qq + i_qq.T) / 2, i_qc))


def _standardized(fitted: FittedModel, keys, epc: np.ndarray) -> np.ndarray:
    """sepc_lv, sepc_all, sepc_nox of each candidate (lavaan's lav_standardize_lv, _all and
    _all_nox with cov.std = TRUE): a loading times the factor's SD (and over the item's SD);
    a regression times the SD of its predictor over that of its outcome; a covariance over
    the square roots of the two residual variances. sepc_nox leaves fixed observed regressors
    unstandardised."""
    model, spec = fitted.model, fitted.spec
    sigma, (_, c) = model.calc_sigma()
    psi = np.asarray(model.matrices[2], dtype=float)
    theta = np.asarray(model.matrices[3], dtype=float)
    eta_cov = c @ psi @ c.T
    rows = {v: i for i, v in enumerate(model.names_lambda[0])}
    eta = {v: i for i, v in enumerate(model.names_beta[0])}
    latent = set(spec.measurement)
    fixed_x = set(fixed_exogenous(model, spec))

    def sd(v):  # total SD of a variable, latent or observed
        if v in latent:
            return np.sqrt(eta_cov[eta[v], eta[v]])
        return np.sqrt(sigma[rows[v], rows[v]])

    def residual(v):  # the estimate of v ~~ v
        if v in eta:
            return abs(psi[eta[v], eta[v]])
        return abs(theta[rows[v], rows[v]])

    out = np.empty((len(keys), 3))
    for k, ((lhs, op, rhs), value) in enumerate(zip(keys, epc, strict=True)):
        if op == "=~":
            lv = value * sd(lhs)
            out[k] = [lv, lv / sd(rhs), lv / sd(rhs)]
        elif op == "~":
            lv = value / (sd(lhs) if lhs in latent else 1.0) * (sd(rhs) if rhs in latent else 1.0)
            all_ = lv / (1.0 if lhs in latent else sd(lhs))
            nox = all_
            if rhs not in latent:
                all_ = all_ * sd(rhs)
                nox = nox * (1.0 if rhs in fixed_x else sd(rhs))
            out[k] = [lv, all_, nox]
        else:
            std = value / np.sqrt(residual(lhs) * residual(rhs))
            lv = std if lhs in latent else value
            out[k] = [lv, std, std]
    return out
