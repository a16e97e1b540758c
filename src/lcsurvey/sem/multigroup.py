"""Multi-group CFA: the measurement part of a model fitted in several groups at once.

The engine of the invariance tests (lcsurvey.sem.invariance), as lavaan's cfa(group = ...,
group.equal = ...). Per group g the model is Sigma_g = Lambda_g Psi_g Lambda_g' + Theta_g and
mu_g = nu_g + Lambda_g alpha_g; a level (LEVELS) says which parameters are equal across groups:
configural (none), metric (loadings, group.equal = "loadings"), scalar (loadings and intercepts,
group.equal = c("loadings", "intercepts"); the latent means fixed at 0 in the first group and
free in the others). Identification is lavaan's default: the first loading of every factor is
1 in every group. Equality constraints are one shared parameter (make_layout).

Estimation is maximum likelihood on the sum of the groups' log-likelihoods: with
missing = "fiml" every row with at least one answer counts through the per-pattern statistics
of lcsurvey.sem.missing.Patterns; with "listwise" only complete rows. The ascent
(lcsurvey.sem.optimize) takes Newton steps with the analytic gradient and Hessian (chain rule
from the groups' d loglik / d(mu, Sigma) to the parameters, plus the second-order terms of the
bilinear Lambda Psi Lambda' and Lambda alpha), falling back to Fisher scoring where the Hessian
is not negative definite. Standard errors come from the observed information under FIML and
the expected information for complete data (lavaan's defaults). Fit measures (fit_measures) are
lavaan's fitMeasures() for a multi-group model, by lcsurvey.sem.fit_measures.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg

from lcsurvey.sem import fit_measures as fm
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.optimize import ascend, solve_pd
from lcsurvey.sem.vcov import meat, meat_factor, moment_information, moment_scores

# lavaan's group.equal levels, each nested in the one before.
LEVELS = ("configural", "metric", "scalar")
# The optional level after scalar: residual variances equal too (group.equal = c("loadings",
# "intercepts", "residuals")).
STRICT = "strict"

# --------------------------------------------------------------------------------------------
# Parameter layout
# --------------------------------------------------------------------------------------------


@dataclass
class GroupLayout:
    """Where each free parameter sits in one group's matrices (index into theta; -1 = fixed)."""

    lam: np.ndarray  # (p, m) int; markers and structural zeros are -1
    lam_fixed: np.ndarray  # (p, m) fixed values (1 for markers, 0 elsewhere)
    theta: np.ndarray  # (p,) residual variances
    psi: np.ndarray  # (m, m) symmetric
    nu: np.ndarray  # (p,)
    alpha: np.ndarray  # (m,) -1 = fixed at 0
    # Residual covariances (i, j, index), i < j: the same item's residuals at two occasions in
    # a longitudinal model (lcsurvey.sem.longitudinal); none in a multi-group CFA.
    resid_cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=int))


@dataclass
class Layout:
    level: str
    groups: list[GroupLayout]
    q: int
    names: list[tuple[int, str, str, str]] = field(default_factory=list)  # first place per param


def make_layout(
    level: str,
    factors: dict[str, list[str]],
    items: list[str],
    n_groups: int,
    free: frozenset[tuple[str, str, str]] = frozenset(),
) -> Layout:
    """Free parameters of a level; parameters equal across groups share one index.

    `free` names loadings (factor, "=~", item) and intercepts (item, "~1", "") the level would
    hold equal that are free in every group instead: a partial invariance model, as lavaan's
    group.partial.
    """
    if level not in (*LEVELS, STRICT):
        raise ValueError(f"unknown invariance level {level!r}")
    p, m = len(items), len(factors)
    pos = {v: i for i, v in enumerate(items)}
    names: list[tuple[int, str, str, str]] = []
    counter = 0

    def new(g, lhs, op, rhs):
        nonlocal counter
        names.append((g, lhs, op, rhs))
        counter += 1
        return counter - 1

    equal_loadings = level in ("metric", "scalar", STRICT)
    equal_intercepts = level in ("scalar", STRICT)
    equal_residuals = level == STRICT
    groups: list[GroupLayout] = []
    for g in range(n_groups):
        lam = np.full((p, m), -1)
        lam_fixed = np.zeros((p, m))
        for k, (factor, indicators) in enumerate(factors.items()):
            for j, item in enumerate(indicators):
                i = pos[item]
                if j == 0:
                    lam_fixed[i, k] = 1.0
                elif equal_loadings and g > 0 and (factor, "=~", item) not in free:
                    lam[i, k] = groups[0].lam[i, k]
                else:
                    lam[i, k] = new(g, factor, "=~", item)
        if equal_residuals and g > 0:
            theta = groups[0].theta.copy()
        else:
            theta = np.array([new(g, v, "~~", v) for v in items])
        psi = np.full((m, m), -1)
        names_f = list(factors)
        for k in range(m):
            for ll in range(k + 1):
                psi[k, ll] = psi[ll, k] = new(g, names_f[ll], "~~", names_f[k])
        if equal_intercepts and g > 0:
            nu = np.array(
                [
                    new(g, v, "~1", "") if (v, "~1", "") in free else groups[0].nu[i]
                    for i, v in enumerate(items)
                ]
            )
            alpha = np.array([new(g, f, "~1", "") for f in names_f])
        else:
            nu = np.array([new(g, v, "~1", "") for v in items])
            alpha = np.full(m, -1)
        groups.append(
            GroupLayout(lam=lam, lam_fixed=lam_fixed, theta=theta, psi=psi, nu=nu, alpha=alpha)
        )
    return Layout(level=level, groups=groups, q=counter, names=names)


def _take(index: np.ndarray, theta: np.ndarray, fixed: np.ndarray | float = 0.0) -> np.ndarray:
    return np.where(index >= 0, theta[np.maximum(index, 0)], fixed)


def group_matrices(gl: GroupLayout, theta: np.ndarray):
    lam = _take(gl.lam, theta, gl.lam_fixed)
    psi = _take(gl.psi, theta)
    resid = theta[gl.theta]
    nu = theta[gl.nu]
    alpha = _take(gl.alpha, theta)
    return lam, psi, resid, nu, alpha


def implied(gl: GroupLayout, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model-implied (mu, Sigma) of one group."""
    lam, psi, resid, nu, alpha = group_matrices(gl, theta)
    sigma = lam @ psi @ lam.T + np.diag(resid)
    if len(gl.resid_cov):
        i, j, a = gl.resid_cov.T
        sigma[i, j] += theta[a]
        sigma[j, i] += theta[a]
    return nu + lam @ alpha, (sigma + sigma.T) / 2


class _Derivatives:
    """Jacobians d(mu, vec Sigma)/dtheta and second-order terms for one group's layout."""

    def __init__(self, gl: GroupLayout, q: int):
        self.gl = gl
        self.q = q
        self.upper = np.triu_indices(len(gl.lam))  # vech order of Sigma's elements
        li, lk = np.nonzero(gl.lam >= 0)
        self.lam_i, self.lam_k, self.lam_a = li, lk, gl.lam[li, lk]
        self.th_a = gl.theta
        ps, pt = np.tril_indices(gl.psi.shape[0])
        self.psi_s, self.psi_t, self.psi_a = ps, pt, gl.psi[ps, pt]
        self.nu_a = gl.nu
        free = gl.alpha >= 0
        self.al_k, self.al_a = np.flatnonzero(free), gl.alpha[free]
        self.rc_i, self.rc_j, self.rc_a = gl.resid_cov.T
        self.columns = np.unique(
            np.concatenate(
                [self.lam_a, self.th_a, self.psi_a, self.nu_a, self.al_a, self.rc_a]
            ).astype(int)
        )

    def jacobians(self, theta: np.ndarray):
        lam, psi, _, _, alpha = group_matrices(self.gl, theta)
        p = lam.shape[0]
        q = self.q
        js = np.zeros((p, p, q))
        jm = np.zeros((p, q))
        lp = lam @ psi
        for i, k, a in zip(self.lam_i, self.lam_k, self.lam_a, strict=True):
            js[i, :, a] += lp[:, k]
            js[:, i, a] += lp[:, k]
            jm[i, a] += alpha[k]
        js[np.arange(p), np.arange(p), self.th_a] += 1.0
        js[self.rc_i, self.rc_j, self.rc_a] += 1.0
        js[self.rc_j, self.rc_i, self.rc_a] += 1.0
        for s, t, a in zip(self.psi_s, self.psi_t, self.psi_a, strict=True):
            outer = np.outer(lam[:, s], lam[:, t])
            js[:, :, a] += outer if s == t else outer + outer.T
        jm[np.arange(p), self.nu_a] += 1.0
        for k, a in zip(self.al_k, self.al_a, strict=True):
            jm[:, a] += lam[:, k]
        return js.reshape(p * p, q), jm

    def second_order(self, theta: np.ndarray, g_sigma: np.ndarray, g_mu: np.ndarray):
        """sum_ij G_ij d2Sigma_ij / dtheta_a dtheta_b + g_mu' d2mu / dtheta_a dtheta_b."""
        lam, psi, _, _, _ = group_matrices(self.gl, theta)
        q = self.q
        out = np.zeros((q, q))
        li, lk, la = self.lam_i, self.lam_k, self.lam_a
        if len(la):
            block = 2 * g_sigma[np.ix_(li, li)] * psi[np.ix_(lk, lk)]
            np.add.at(out, (la[:, None], la[None, :]), block)
            lg = lam.T @ g_sigma  # (m, p)
            s, t, pa = self.psi_s, self.psi_t, self.psi_a
            cross = 2 * (
                (lk[:, None] == s[None, :]) * lg[t[None, :], li[:, None]]
                + (s != t)[None, :] * (lk[:, None] == t[None, :]) * lg[s[None, :], li[:, None]]
            )
            np.add.at(out, (la[:, None], pa[None, :]), cross)
            np.add.at(out, (pa[None, :], la[:, None]), cross)
            if len(self.al_a):
                mean = (lk[:, None] == self.al_k[None, :]) * g_mu[li][:, None]
                np.add.at(out, (la[:, None], self.al_a[None, :]), mean)
                np.add.at(out, (self.al_a[None, :], la[:, None]), mean)
        return out


# --------------------------------------------------------------------------------------------
# Groups and fitting
# --------------------------------------------------------------------------------------------


@dataclass
class GroupData:
    name: str
    patterns: Patterns
    n: int
    h1_mean: np.ndarray
    h1_cov: np.ndarray
    loglik_h1: float
    loglik_baseline: float
    x: np.ndarray | None = None  # the rows used (at least one answer; complete for listwise)
    clusters: np.ndarray | None = None  # their cluster codes within the group (0..G_g - 1)


def group_data(
    name: str, x: np.ndarray, missing: str, clusters: np.ndarray | None = None
) -> GroupData:
    """Pattern statistics, the saturated (H1) moments and the baseline log-likelihood.

    H1 is the sample mean and covariance matrix (divisor N) of complete data, else the EM
    estimate (lcsurvey.sem.missing.Patterns.h1), as lavaan's h1 for missing = "ml".
    `clusters` (codes per row of x, lcsurvey.sem.clusters.cluster_codes) are kept for the
    rows used, numbered within the group: lavaan sums the scores within clusters per group.
    """
    used = np.isfinite(x).all(axis=1) if missing == "listwise" else np.isfinite(x).any(axis=1)
    x = x[used]
    if clusters is not None:
        clusters = np.unique(np.asarray(clusters)[used], return_inverse=True)[1].ravel()
    patterns = Patterns(x)
    if patterns.observed.all():
        mean = patterns.sums.sum(axis=0) / patterns.n_rows
        cov = patterns.cross.sum(axis=0) / patterns.n_rows - np.outer(mean, mean)
    else:
        mean, cov = patterns.h1()
    cov = (cov + cov.T) / 2
    baseline = fm.independence_loglik(*patterns.marginals())
    return GroupData(
        name=name,
        patterns=patterns,
        n=patterns.n_rows,
        h1_mean=mean,
        h1_cov=cov,
        loglik_h1=float(patterns.loglik(cov, mean)),
        loglik_baseline=baseline,
        x=x,
        clusters=clusters,
    )


@dataclass
class LevelFit:
    level: str
    layout: Layout
    theta: np.ndarray
    loglik: float
    vcov: np.ndarray
    converged: bool
    iterations: int


class _Problem:
    def __init__(self, layout: Layout, groups: list[GroupData]):
        self.layout = layout
        self.groups = groups
        self.derivs = [_Derivatives(gl, layout.q) for gl in layout.groups]

    def loglik(self, theta: np.ndarray, parts: bool = False):
        total, pieces = 0.0, []
        for gl, gd in zip(self.layout.groups, self.groups, strict=True):
            mu, sigma = implied(gl, theta)
            try:
                value, piece = gd.patterns.loglik(sigma, mu, parts=True)
            except np.linalg.LinAlgError:
                return (-np.inf, None) if parts else -np.inf
            total += value
            pieces.append((mu, piece))
        return (total, pieces) if parts else total

    def derivatives(self, theta: np.ndarray, pieces, *, hessian: bool = True):
        """Gradient, Hessian (or None) and the expected information at theta.

        Each group touches only its own parameters (and the shared ones): its blocks are
        computed on those columns and added into the full matrices.
        """
        q = self.layout.q
        grad = np.zeros(q)
        hess = np.zeros((q, q)) if hessian else None
        info = np.zeros((q, q))
        for der, gd, (mu, piece) in zip(self.derivs, self.groups, pieces, strict=True):
            pat = gd.patterns
            p = pat.p
            cols = der.columns
            block = np.ix_(cols, cols)
            js, jm = der.jacobians(theta)
            js, jm = js[:, cols], jm[:, cols]
            g_mu, g_sigma, b = pat.gradient(mu, piece)
            grad[cols] += js.T @ g_sigma.ravel() + jm.T @ g_mu
            sigma = implied(der.gl, theta)[1]
            k_inv = np.linalg.inv(sigma)
            chol = np.linalg.cholesky((k_inv + k_inv.T) / 2)
            z = (chol.T @ js.T.reshape(len(cols), p, p) @ chol).reshape(len(cols), p * p)
            info[block] += gd.n * (jm.T @ k_inv @ jm + 0.5 * z @ z.T)
            if hessian:
                h_mumu, h_musig, h_sigsig = pat.hessian_moments(mu, piece, b)
                jv = js.reshape(p, p, len(cols))[der.upper]  # dSigma[i, j], i <= j
                cross = h_musig @ jv  # d2l / dmu dtheta
                hess[block] += (
                    jv.T @ h_sigsig @ jv + jm.T @ h_mumu @ jm + jm.T @ cross + cross.T @ jm
                )
                hess[block] += der.second_order(theta, g_sigma, g_mu)[block]
        if hess is not None:
            hess = (hess + hess.T) / 2
        return grad, hess, (info + info.T) / 2


def fit_level(
    layout: Layout,
    groups: list[GroupData],
    start: np.ndarray,
    *,
    observed_information: bool,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> LevelFit:
    """Maximise the multi-group log-likelihood of `layout` from `start` (Newton, else Fisher
    scoring), with standard errors from the observed (FIML) or the expected information.

    Returns a LevelFit. The ascent is lcsurvey.sem.optimize.ascend; a step that the line search
    cannot make rise counts as converged when its predicted rise is below 1e-6. lavaan:
    cfa(..., group = , group.equal = ), optimised by nlminb.
    """
    problem = _Problem(layout, groups)
    value, pieces = problem.loglik(start.copy(), parts=True)
    if not np.isfinite(value):
        raise np.linalg.LinAlgError(
            "the starting values give a covariance matrix that is not positive definite"
        )

    def direction(theta, pieces):
        current = problem.derivatives(theta, pieces)
        grad, hess, info = current
        step = solve_pd(-hess, grad)
        if step is None or grad @ step <= 0:
            scale = np.sqrt(np.diag(info))
            step = solve_pd(info / np.outer(scale, scale) + 1e-8 * np.eye(len(grad)), grad / scale)
            if step is None:
                return None, np.nan, current
            step = step / scale
        return step, grad @ step, current

    fit = ascend(
        lambda theta: problem.loglik(theta, parts=True),
        direction,
        start.copy(),
        tol=tol,
        max_iter=max_iter,
        value=value,
        state=pieces,
        stalled=1e-6,
    )
    current = fit.last  # the derivatives at the returned theta, when computed there
    if current is None:
        current = problem.derivatives(fit.x, fit.state, hessian=observed_information)
    _, hess, info = current
    try:
        vcov = np.linalg.inv(-hess if observed_information else info)
    except np.linalg.LinAlgError:
        vcov = np.full((layout.q, layout.q), np.nan)
    return LevelFit(
        level=layout.level,
        layout=layout,
        theta=fit.x,
        loglik=float(fit.value),
        vcov=vcov,
        converged=fit.converged,
        iterations=fit.iterations,
    )


def configural_start(layout: Layout, groups: list[GroupData]) -> np.ndarray:
    """Starting values per group from the H1 moments and each factor's marker item.

    Half of the marker's variance is taken as the factor variance; the other loadings are
    cov(item, marker) / that variance; factor covariances are the markers' covariances
    (shrunk until Psi is positive definite); residual variances the rest of each item's
    variance (at least a tenth of it); intercepts the H1 means.
    """
    theta = np.zeros(layout.q)
    for gl, gd in zip(layout.groups, groups, strict=True):
        s, mean = gd.h1_cov, gd.h1_mean
        markers = np.argmax(gl.lam_fixed, axis=0)
        psi = s[np.ix_(markers, markers)].copy()
        np.fill_diagonal(psi, 0.5 * np.diag(psi))
        for shrink in np.linspace(1, 0, 11):
            trial = psi * shrink + np.diag(np.diag(psi)) * (1 - shrink)
            if np.linalg.eigvalsh(trial)[0] > 1e-6 * np.diag(psi).max():
                psi = trial
                break
        lam = gl.lam_fixed.copy()
        li, lk = np.nonzero(gl.lam >= 0)
        lam[li, lk] = s[li, markers[lk]] / psi[lk, lk]
        common = np.einsum("ik,kl,il->i", lam, psi, lam)
        resid = np.maximum(np.diag(s) - common, 0.1 * np.diag(s))
        theta[gl.lam[li, lk]] = lam[li, lk]
        theta[gl.theta] = resid
        ps, pt = np.tril_indices(len(psi))
        theta[gl.psi[ps, pt]] = psi[ps, pt]
        theta[gl.nu] = mean
    return theta


def _indices(gl: GroupLayout, name: str) -> np.ndarray:
    """The parameter indices of one kind of a group's layout, flat (-1 = fixed)."""
    if name == "resid_cov":
        return gl.resid_cov[:, 2]
    return getattr(gl, name).ravel()


def nested_start(previous: LevelFit, layout: Layout, groups: list[GroupData]) -> np.ndarray:
    """Start a level from the fit of the level before: shared parameters take the mean of
    the groups' values; latent means start from the first group's intercept differences."""
    theta = np.zeros(layout.q)
    weight = np.zeros(layout.q)
    for old, new in zip(previous.layout.groups, layout.groups, strict=True):
        for field_name in ("lam", "theta", "psi", "nu", "resid_cov"):
            new_idx = _indices(new, field_name)
            old_idx = _indices(old, field_name)
            free = new_idx >= 0
            np.add.at(theta, new_idx[free], previous.theta[old_idx[free]])
            np.add.at(weight, new_idx[free], 1.0)
    theta = np.where(weight > 0, theta / np.maximum(weight, 1), 0.0)
    first = layout.groups[0]
    nu0 = theta[first.nu]
    for g, (old, new) in enumerate(zip(previous.layout.groups, layout.groups, strict=True)):
        if g == 0 or not np.any(new.alpha >= 0):
            continue
        lam = _take(new.lam, theta, new.lam_fixed)
        shift = previous.theta[old.nu] - nu0
        alpha = np.linalg.lstsq(lam, shift, rcond=None)[0]
        free = new.alpha >= 0
        theta[new.alpha[free]] = alpha[free]
    return theta


def robust_level(fit: LevelFit, groups: list[GroupData], df: int) -> tuple[np.ndarray, dict]:
    """Sandwich vcov and the Yuan-Bentler (Mplus) scaled test of a fitted level (MLR).

    Parameters
    ----------
    fit : LevelFit
        The fitted level.
    groups : list of GroupData
        With their rows (and clusters, or None for lavaan's MLR without a cluster).
    df : int
        The level's degrees of freedom.

    Returns
    -------
    (ndarray, dict)
        The vcov H^-1 B H^-1 (H the observed information, B the sum over groups of the outer
        products of the casewise scores, or of their sums within the group's clusters times
        G_g / (G_g - 1)), and chisq_scaling_factor (NaN when df <= 0 or the trace is
        negative, as lavaan) and nclusters (clusters over all groups, NaN without).

    Notes
    -----
    The scaling factor is [sum_g tr(A1_g^-1 B1_g) - tr(H^-1 B)] / df with A1_g and B1_g the
    observed and first-order information of group g's unrestricted moments (lcsurvey.sem.robust
    for one group). lavaan: cfa(..., group = , cluster = , estimator = "MLR"),
    lav_model_nvcov_robust_sandwich and lav_test_yuan_bentler_mplus_trace per group.
    """
    problem = _Problem(fit.layout, groups)
    theta = fit.theta
    _, pieces = problem.loglik(theta, parts=True)
    _, hess, _ = problem.derivatives(theta, pieces)
    q = fit.layout.q
    scores_meat = np.zeros((q, q))
    trace_h1 = 0.0
    for der, gd in zip(problem.derivs, groups, strict=True):
        p = gd.patterns.p
        rows, cols = np.triu_indices(p)
        mu, sigma = implied(der.gl, theta)
        js, jm = der.jacobians(theta)
        delta = np.vstack([jm, js[rows * p + cols]])  # d(mu, vech Sigma) / dtheta
        scores_meat += meat(moment_scores(gd.x, mu, sigma) @ delta, gd.clusters)
        a1 = moment_information(gd.x, gd.h1_mean, gd.h1_cov)
        s1 = meat_factor(moment_scores(gd.x, gd.h1_mean, gd.h1_cov), gd.clusters)
        trace_h1 += float(np.sum((s1 @ np.linalg.inv(a1)) * s1))
    try:
        bread = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        bread = np.full((q, q), np.nan)
    vcov = bread @ scores_meat @ bread
    factor = (trace_h1 - float(np.sum(bread * scores_meat))) / df if df > 0 else np.nan
    clustered = groups[0].clusters is not None
    return vcov, {
        "chisq_scaling_factor": factor if factor >= 0 else np.nan,
        "nclusters": sum(int(g.clusters.max()) + 1 for g in groups) if clustered else np.nan,
    }


# --------------------------------------------------------------------------------------------
# Fit measures and tables
# --------------------------------------------------------------------------------------------


def fit_measures(fit: LevelFit, groups: list[GroupData]) -> dict:
    """lavaan's fitMeasures() for a multi-group ML fit (fitMeasures(fit) of cfa(..., group = )).

    Returns the measures of lcsurvey.sem.fiml.fiml_fit_measures under the same names: chisq
    and df over all groups, the independence baseline per group, RMSEA and its CI times sqrt(G),
    SRMR weighted by the group sizes (see the module docstring), by lcsurvey.sem.fit_measures.
    """
    n_groups = len(groups)
    p = groups[0].patterns.p
    n = sum(g.n for g in groups)
    moments = n_groups * (p * (p + 1) // 2 + p)
    npar = fit.layout.q
    df = moments - npar
    loglik_h1 = sum(g.loglik_h1 for g in groups)
    chisq = max(2 * (loglik_h1 - fit.loglik), 0.0) if df != 0 else 0.0
    base_chisq = 2 * (loglik_h1 - sum(g.loglik_baseline for g in groups))
    base_df = moments - 2 * p * n_groups
    srmr = 0.0
    for gl, gd in zip(fit.layout.groups, groups, strict=True):
        mu, sigma = implied(gl, fit.theta)
        srmr += gd.n * fm.srmr(gd.h1_cov, sigma, gd.h1_mean, mu)
    return {
        "ntotal": n,
        "npar": npar,
        "chisq": chisq,
        "df": df,
        **fm.indices(chisq, df, base_chisq, base_df, n, groups=n_groups),
        "srmr": srmr / n,
        "aic": fm.aic(fit.loglik, npar),
        "bic": fm.bic(fit.loglik, npar, n),
        "logl": fit.loglik,
        "unrestricted_logl": loglik_h1,
        "baseline_chisq": base_chisq,
        "baseline_df": base_df,
    }


def estimates_table(
    fit: LevelFit, factors: dict[str, list[str]], items: list[str], group_names: list[str]
) -> pd.DataFrame:
    """Every parameter per group in lavaan's notation: group, lhs, op, rhs, est, se (0 if fixed)."""
    se_all = np.sqrt(np.clip(np.diag(fit.vcov), 0, None))
    names_f = list(factors)
    rows = []
    for g, gl in enumerate(fit.layout.groups):

        def row(lhs, op, rhs, idx, fixed=0.0, g=g):
            est = fit.theta[idx] if idx >= 0 else fixed
            se = se_all[idx] if idx >= 0 else 0.0
            rows.append((group_names[g], lhs, op, rhs, float(est), float(se)))

        pos = {v: i for i, v in enumerate(items)}
        for k, (factor, indicators) in enumerate(factors.items()):
            for item in indicators:
                i = pos[item]
                row(factor, "=~", item, gl.lam[i, k], gl.lam_fixed[i, k])
        for i, v in enumerate(items):
            row(v, "~~", v, gl.theta[i])
        for k in range(len(names_f)):
            for ll in range(k + 1):
                row(names_f[ll], "~~", names_f[k], gl.psi[k, ll])
        for i, v in enumerate(items):
            row(v, "~1", "", gl.nu[i])
        for k, f in enumerate(names_f):
            row(f, "~1", "", gl.alpha[k])
    return pd.DataFrame(rows, columns=["group", "lhs", "op", "rhs", "est", "se"])


# --------------------------------------------------------------------------------------------
# Score tests of the equality constraints
# --------------------------------------------------------------------------------------------

SCORE_COLUMNS = ["test", "lhs", "op", "rhs", "group", "x2", "df", "pvalue"]


def unshared(layout: Layout) -> tuple[Layout, np.ndarray, list[tuple[int, int, int]]]:
    """The layout with every group's copy of a shared parameter free on its own.

    Returns
    -------
    (Layout, ndarray, list)
        The layout (the places of a parameter within one group keep one index); for each of
        its parameters the index of the shared parameter it copies; and the equality
        constraints as (first group's index, later group's index, later group), in the order
        of the later group then the parameter: lavaan's "==" rows of group.equal.
    """
    index: dict[tuple[int, int], int] = {}
    source: list[int] = []
    names: list[tuple[int, str, str, str]] = []
    first_group: dict[int, int] = {}
    constraints: list[tuple[int, int, int]] = []

    def renumber(g: int, old: np.ndarray) -> np.ndarray:
        new = np.full(old.shape, -1)
        for pos in zip(*np.nonzero(old >= 0), strict=True):
            a = int(old[pos])
            if (g, a) not in index:
                index[(g, a)] = len(source)
                source.append(a)
                _, lhs, op, rhs = layout.names[a]
                names.append((g, lhs, op, rhs))
                if a in first_group:
                    constraints.append((index[(first_group[a], a)], index[(g, a)], g))
                else:
                    first_group[a] = g
            new[pos] = index[(g, a)]
        return new

    groups = []
    for g, gl in enumerate(layout.groups):
        groups.append(
            GroupLayout(
                lam=renumber(g, gl.lam),
                lam_fixed=gl.lam_fixed,
                theta=renumber(g, gl.theta),
                psi=renumber(g, gl.psi),
                nu=renumber(g, gl.nu),
                alpha=renumber(g, gl.alpha),
            )
        )
    full = Layout(level=layout.level, groups=groups, q=len(source), names=names)
    return full, np.array(source, dtype=int), constraints


def expected_information(problem: _Problem, theta: np.ndarray) -> np.ndarray:
    """Expected information of the multi-group log-likelihood at theta, given each group's
    missingness patterns: per pattern n_k (dmu' A_k dmu + 1/2 tr(A_k dSigma A_k dSigma)), A_k
    the inverse of the pattern's block of the model-implied Sigma. For complete data the
    usual expected information. lavaan: information = "expected", h1.information =
    "structured" (lav_model_information_expected), as lcsurvey.sem.vcov.expected_information
    for one group."""
    q = problem.layout.q
    info = np.zeros((q, q))
    for der, gd in zip(problem.derivs, problem.groups, strict=True):
        pat = gd.patterns
        p = pat.p
        mu, sigma = implied(der.gl, theta)
        a, _, conditional = pat.inverses(sigma)
        n = pat.n
        a_mu = a @ mu
        pieces = (a, n[:, None] * a_mu, a_mu, conditional)
        h_mumu, _, h_sigsig = pat.hessian_moments(mu, pieces, n[:, None, None] * a)
        cols = der.columns
        js, jm = der.jacobians(theta)
        jv = js[:, cols].reshape(p, p, len(cols))[der.upper]
        jm = jm[:, cols]
        info[np.ix_(cols, cols)] -= jv.T @ h_sigsig @ jv + jm.T @ h_mumu @ jm
    return (info + info.T) / 2


def score_tests(fit: LevelFit, groups: list[GroupData]) -> pd.DataFrame:
    """lavaan's lavTestScore(fit, cumulative = TRUE) for the equality constraints of a level.

    Parameters
    ----------
    fit : LevelFit
        A constrained level (metric or scalar).
    groups : list of GroupData

    Returns
    -------
    DataFrame
        SCORE_COLUMNS without "group" values for the total test: one "total" row (all
        constraints released), one "univariate" row per constraint (the parameter of `group`
        set free from the first group's, df 1), and the "cumulative" rows (constraints
        released one more at a time, by univariate x2, largest first; df 1, 2, ...). Empty
        without constraints. The lhs, op, rhs of a constraint name its parameter.

    Notes
    -----
    With the gradient g and expected information I of the log-likelihood in the parameters
    of every group free (unshared), at the constrained estimates, and R the constraints'
    Jacobian: total = g' I^+ g; releasing the constraints not in R1, g' J g with J the upper
    left block of [[I, R1'], [R1, 0]]^+ (^+ the Moore-Penrose inverse, as MASS::ginv).
    The expected information is lavaan's default for lavTestScore, also for MLR fits (lavaan
    falls back to the ordinary score test there). lavaan: lavTestScore (lav_test_score.R).
    References: Bentler, P. M., & Chou, C.-P. (1992); Satorra, A. (1989). Alternative test
    criteria in covariance structure analysis. Psychometrika, 54, 131-151.
    """
    full, source, constraints = unshared(fit.layout)
    if not constraints:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    problem = _Problem(full, groups)
    theta = fit.theta[source]
    _, pieces = problem.loglik(theta, parts=True)
    grad, _, _ = problem.derivatives(theta, pieces, hessian=False)
    info = expected_information(problem, theta)
    q = full.q
    r = np.zeros((len(constraints), q))
    for k, (a, b, _) in enumerate(constraints):
        r[k, a], r[k, b] = 1.0, -1.0
    rcond = np.sqrt(np.finfo(float).eps)
    total = float(grad @ np.linalg.pinv(info, rcond=rcond) @ grad)
    n_r = len(constraints)
    z = np.block([[info, r.T], [r, np.zeros((n_r, n_r))]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", linalg.LinAlgWarning)
            inverse = linalg.inv(z)
    except (np.linalg.LinAlgError, linalg.LinAlgWarning):
        inverse = None  # the constrained model itself is not identified
    if inverse is None:
        uni = np.array([_released(info, r, grad, np.arange(n_r) != k) for k in range(n_r)])
        order = np.argsort(-uni, kind="stable")
        cumulative = np.empty(n_r)
        keep = np.ones(n_r, dtype=bool)
        for k, c in enumerate(order):
            keep[c] = False
            cumulative[k] = _released(info, r, grad, keep)
    else:
        uni, order, cumulative = _released_by_downdates(inverse, grad, q)
    rows = [("total", "", "", "", "", total, len(constraints))]
    for k, (_, b, g) in enumerate(constraints):
        _, lhs, op, rhs = full.names[b]
        rows.append(("univariate", lhs, op, rhs, groups[g].name, uni[k], 1))
    for k, c in enumerate(order):
        _, lhs, op, rhs = full.names[constraints[c][1]]
        rows.append(
            ("cumulative", lhs, op, rhs, groups[constraints[c][2]].name, cumulative[k], k + 1)
        )
    table = pd.DataFrame(rows, columns=SCORE_COLUMNS[:-1])
    table["pvalue"] = [
        fm.chisq_pvalue(x2, df) for x2, df in zip(table["x2"], table["df"], strict=True)
    ]
    return table


def _released(info: np.ndarray, r: np.ndarray, grad: np.ndarray, keep: np.ndarray) -> float:
    """g' J g with J the upper left block of [[I, R1'], [R1, 0]]^+, R1 = r[keep] (MASS::ginv's
    tolerance, as lavaan)."""
    r1 = r[keep]
    z = np.block([[info, r1.T], [r1, np.zeros((len(r1), len(r1)))]])
    j = np.linalg.pinv(z, rcond=np.sqrt(np.finfo(float).eps))[: len(grad), : len(grad)]
    return float(grad @ j @ grad)


def _released_by_downdates(inverse: np.ndarray, grad: np.ndarray, q: int):
    """The univariate and cumulative score tests from the inverse M of the bordered matrix
    with every constraint: releasing constraint k removes row and column q + k, whose inverse
    is M - M[:, k] M[k, :] / M[k, k] (a Schur downdate), so that g' J g loses
    (g' M[:q, k])^2 / M[k, k]. A pivot M[k, k] of (nearly) zero means that releasing k only
    adds a direction the data cannot identify, along which the score is zero: the statistic
    is unchanged, as with lavaan's pseudo-inverse, and the constraint is left in place for
    the following steps.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        The univariate statistics, the order of release (largest first) and the cumulative
        statistics in that order.
    """
    n_r = len(inverse) - q
    scale = np.abs(np.diag(inverse)[q:]).max() if n_r else 1.0
    tiny = np.sqrt(np.finfo(float).eps) * scale

    def gain(m: np.ndarray, k: int) -> float:
        pivot = m[q + k, q + k]
        if abs(pivot) <= tiny:
            return 0.0
        return -(float(grad @ m[:q, q + k]) ** 2) / pivot

    base = float(grad @ inverse[:q, :q] @ grad)
    uni = np.array([base + gain(inverse, k) for k in range(n_r)])
    order = np.argsort(-uni, kind="stable")
    cumulative = np.empty(n_r)
    m, value = inverse.copy(), base
    for step, k in enumerate(order):
        extra = gain(m, k)
        if extra != 0.0:
            column = m[:, q + k].copy()
            m -= np.outer(column, column) / column[q + k]
        value += extra
        cumulative[step] = value
    return uni, order, cumulative


def nested_point(layout: Layout, restricted: LevelFit) -> LevelFit:
    """The less restricted level `layout` at the estimates of a more restricted fit: lavaan's
    M10 of the Satorra-Bentler (2010) difference test (lav_test_diff_m10).

    Every parameter of `layout` takes the restricted fit's value at the same place in the
    same group; a parameter free in the restricted fit only (the latent means of the scalar
    level) keeps the value `layout` fixes it at (0), as lavaan matches the two parameter
    tables row by row.
    """
    theta = np.zeros(layout.q)
    for new, old in zip(layout.groups, restricted.layout.groups, strict=True):
        for name in ("lam", "theta", "psi", "nu", "alpha", "resid_cov"):
            new_idx, old_idx = _indices(new, name), _indices(old, name)
            free = (new_idx >= 0) & (old_idx >= 0)
            theta[new_idx[free]] = restricted.theta[old_idx[free]]
    return LevelFit(
        level=layout.level,
        layout=layout,
        theta=theta,
        loglik=np.nan,
        vcov=np.full((layout.q, layout.q), np.nan),
        converged=True,
        iterations=0,
    )
