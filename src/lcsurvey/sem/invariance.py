"""Measurement invariance: multi-group CFA at three levels, as lavaan's cfa(group = ...).

The measurement part of a model (its `=~` lines) is fitted in every group at once, at three
levels, each nested in the one before (lavaan's `group.equal`):

- configural: the same factor structure in every group, all parameters free per group;
- metric: loadings equal across groups (group.equal = "loadings");
- scalar: loadings and intercepts equal (group.equal = c("loadings", "intercepts")); the latent
  means are fixed at 0 in the first group and free in the others.

Identification is lavaan's default: the first loading of every factor is fixed at 1 in every
group; residual variances, factor variances and covariances are free per group; intercepts are
free (equal across groups in the scalar model) and latent means 0 except as above. Per group g
the model is Sigma_g = Lambda_g Psi_g Lambda_g' + Theta_g and mu_g = nu_g + Lambda_g alpha_g.

Estimation is maximum likelihood on the sum of the groups' log-likelihoods. With
missing = "fiml" (lavaan's missing = "ml") every row with at least one answer counts, through
the per-pattern statistics of lcsurvey.sem.missing.Patterns; with missing = "listwise" only complete
rows count. Equality constraints are one shared parameter. The optimiser takes Newton steps
with the analytic gradient and Hessian (chain rule from the groups' d loglik / d(mu, Sigma) to
the parameters, plus the second-order terms of the bilinear Lambda Psi Lambda' and
Lambda alpha), falling back to Fisher scoring where the Hessian is not negative definite.
Each level starts from the estimates of the level before. Standard errors come from the
observed information under FIML (lavaan's default for missing = "ml") and from the expected
information for complete data (lavaan's default otherwise).

Fit measures are lavaan's fitMeasures() for a multi-group model (likelihood "normal"):
chisq = 2 (logl_H1 - logl) with the saturated model per group (EM estimates under FIML);
df = G (p (p + 1) / 2 + p) - npar; the baseline is the independence model per group (free
means and variances); RMSEA = sqrt(max(chisq - df, 0) / (df N)) * sqrt(G), its 90% CI from the
noncentral chi-square times sqrt(G); SRMR is Bentler's per group (covariance and mean
residuals scaled by the H1 standard deviations) weighted by the group sizes; AIC and BIC from
the log-likelihood with npar free parameters and N = all rows used.

Decision (Chen 2007, Structural Equation Modeling 14: 464-504), each level against the level
before it (deltas are this level minus the previous one, rounded to six decimals):
- metric holds when delta CFI >= -0.010 and (delta RMSEA <= 0.015 or delta SRMR <= 0.030);
- scalar holds when delta CFI >= -0.010 and (delta RMSEA <= 0.015 or delta SRMR <= 0.010).
Otherwise the level is "rejected"; the configural model has no decision. The rule text is
written beside every decision (column `rule`).

Groups with fewer respondents than the minimum, or with an item that has fewer than two
answers or no variance in that group, are left out with a note; with fewer than two groups
left, the table is a single row that says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem import fit_measures as fm
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.optimize import ascend, solve_pd
from lcsurvey.sem.syntax import parse_model

log = logging.getLogger("lcsurvey")

LEVELS = ("configural", "metric", "scalar")
COLUMNS = ["groups", "group_values", "level", "ntotal", "npar", "chisq", "df", "pvalue", "cfi",
           "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr", "aic", "bic",
           "delta_cfi", "delta_rmsea", "delta_srmr", "decision", "rule", "note"]
# Chen (2007) cut-offs: (delta CFI lower bound, delta RMSEA upper bound, delta SRMR upper bound).
CHEN = {"metric": (-0.010, 0.015, 0.030), "scalar": (-0.010, 0.015, 0.010)}


def chen_rule(level: str) -> str:
    """The decision rule of a level, as written in the output."""
    if level not in CHEN:
        return ""
    cfi, rmsea, srmr = CHEN[level]
    return (f"Chen (2007): {level} holds if delta CFI >= {cfi:.3f} and (delta RMSEA <= "
            f"{rmsea:.3f} or delta SRMR <= {srmr:.3f}), against the previous level")


def chen_decision(level: str, delta_cfi: float, delta_rmsea: float, delta_srmr: float) -> str:
    """"holds" or "rejected" by Chen's (2007) cut-offs (CHEN, module docstring); "" for configural
    or missing deltas.

    Parameters
    ----------
    level : str
    delta_cfi, delta_rmsea, delta_srmr : float
        This level's index minus the previous level's (rounded to six decimals here).

    Returns
    -------
    str
    """
    if level not in CHEN or not np.all(np.isfinite([delta_cfi, delta_rmsea, delta_srmr])):
        return ""
    cfi, rmsea, srmr = CHEN[level]
    d_cfi, d_rmsea, d_srmr = (round(float(v), 6) for v in (delta_cfi, delta_rmsea, delta_srmr))
    holds = d_cfi >= cfi and (d_rmsea <= rmsea or d_srmr <= srmr)
    return "holds" if holds else "rejected"


# --------------------------------------------------------------------------------------------
# Parameter layout
# --------------------------------------------------------------------------------------------


@dataclass
class GroupLayout:
    """Where each free parameter sits in one group's matrices (index into theta; -1 = fixed)."""

    lam: np.ndarray        # (p, m) int; markers and structural zeros are -1
    lam_fixed: np.ndarray  # (p, m) fixed values (1 for markers, 0 elsewhere)
    theta: np.ndarray      # (p,) residual variances
    psi: np.ndarray        # (m, m) symmetric
    nu: np.ndarray         # (p,)
    alpha: np.ndarray      # (m,) -1 = fixed at 0


@dataclass
class Layout:
    level: str
    groups: list[GroupLayout]
    q: int
    names: list[tuple[int, str, str, str]] = field(default_factory=list)  # first place per param


def make_layout(level: str, factors: dict[str, list[str]], items: list[str],
                n_groups: int) -> Layout:
    """Free parameters of a level; parameters equal across groups share one index."""
    if level not in LEVELS:
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

    equal_loadings = level in ("metric", "scalar")
    equal_intercepts = level == "scalar"
    groups: list[GroupLayout] = []
    for g in range(n_groups):
        lam = np.full((p, m), -1)
        lam_fixed = np.zeros((p, m))
        for k, (factor, indicators) in enumerate(factors.items()):
            for j, item in enumerate(indicators):
                i = pos[item]
                if j == 0:
                    lam_fixed[i, k] = 1.0
                elif equal_loadings and g > 0:
                    lam[i, k] = groups[0].lam[i, k]
                else:
                    lam[i, k] = new(g, factor, "=~", item)
        theta = np.array([new(g, v, "~~", v) for v in items])
        psi = np.full((m, m), -1)
        names_f = list(factors)
        for k in range(m):
            for ll in range(k + 1):
                psi[k, ll] = psi[ll, k] = new(g, names_f[ll], "~~", names_f[k])
        if equal_intercepts and g > 0:
            nu = groups[0].nu.copy()
            alpha = np.array([new(g, f, "~1", "") for f in names_f])
        else:
            nu = np.array([new(g, v, "~1", "") for v in items])
            alpha = np.full(m, -1)
        groups.append(GroupLayout(lam=lam, lam_fixed=lam_fixed, theta=theta, psi=psi, nu=nu,
                                  alpha=alpha))
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
    return nu + lam @ alpha, (sigma + sigma.T) / 2


class _Derivatives:
    """Jacobians d(mu, vec Sigma)/dtheta and second-order terms for one group's layout."""

    def __init__(self, gl: GroupLayout, q: int):
        self.gl = gl
        self.q = q
        self.upper = np.triu_indices(len(gl.lam))      # vech order of Sigma's elements
        li, lk = np.nonzero(gl.lam >= 0)
        self.lam_i, self.lam_k, self.lam_a = li, lk, gl.lam[li, lk]
        self.th_a = gl.theta
        ps, pt = np.tril_indices(gl.psi.shape[0])
        self.psi_s, self.psi_t, self.psi_a = ps, pt, gl.psi[ps, pt]
        self.nu_a = gl.nu
        free = gl.alpha >= 0
        self.al_k, self.al_a = np.flatnonzero(free), gl.alpha[free]
        self.columns = np.unique(np.concatenate([self.lam_a, self.th_a, self.psi_a, self.nu_a,
                                                 self.al_a]).astype(int))

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
            lg = lam.T @ g_sigma                                   # (m, p)
            s, t, pa = self.psi_s, self.psi_t, self.psi_a
            cross = 2 * ((lk[:, None] == s[None, :]) * lg[t[None, :], li[:, None]]
                         + (s != t)[None, :] * (lk[:, None] == t[None, :])
                         * lg[s[None, :], li[:, None]])
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


def group_data(name: str, x: np.ndarray, missing: str) -> GroupData:
    """Pattern statistics, the saturated (H1) moments and the baseline log-likelihood.

    H1 is the sample mean and covariance matrix (divisor N) of complete data, else the EM
    estimate (lcsurvey.sem.missing.Patterns.h1), as lavaan's h1 for missing = "ml".
    """
    if missing == "listwise":
        x = x[np.isfinite(x).all(axis=1)]
    patterns = Patterns(x)
    if patterns.observed.all():
        mean = patterns.sums.sum(axis=0) / patterns.n_rows
        cov = patterns.cross.sum(axis=0) / patterns.n_rows - np.outer(mean, mean)
    else:
        mean, cov = patterns.h1()
    cov = (cov + cov.T) / 2
    baseline = fm.independence_loglik(*patterns.marginals())
    return GroupData(name=name, patterns=patterns, n=patterns.n_rows, h1_mean=mean,
                     h1_cov=cov, loglik_h1=float(patterns.loglik(cov, mean)),
                     loglik_baseline=baseline)


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
                jv = js.reshape(p, p, len(cols))[der.upper]           # dSigma[i, j], i <= j
                cross = h_musig @ jv                                   # d2l / dmu dtheta
                hess[block] += (jv.T @ h_sigsig @ jv + jm.T @ h_mumu @ jm + jm.T @ cross
                                + cross.T @ jm)
                hess[block] += der.second_order(theta, g_sigma, g_mu)[block]
        if hess is not None:
            hess = (hess + hess.T) / 2
        return grad, hess, (info + info.T) / 2


def fit_level(layout: Layout, groups: list[GroupData], start: np.ndarray, *,
              observed_information: bool, tol: float = 1e-10, max_iter: int = 200) -> LevelFit:
    """Maximise the multi-group log-likelihood of `layout` from `start` (Newton, else Fisher
    scoring), with standard errors from the observed (FIML) or the expected information.

    Returns a LevelFit. The ascent is lcsurvey.sem.optimize.ascend; a step that the line search
    cannot make rise counts as converged when its predicted rise is below 1e-6. lavaan:
    cfa(..., group = , group.equal = ), optimised by nlminb.
    """
    problem = _Problem(layout, groups)
    value, pieces = problem.loglik(start.copy(), parts=True)
    if not np.isfinite(value):
        raise np.linalg.LinAlgError("the starting values give a covariance matrix that is not "
                                    "positive definite")

    def direction(theta, pieces):
        current = problem.derivatives(theta, pieces)
        grad, hess, info = current
        step = solve_pd(-hess, grad)
        if step is None or grad @ step <= 0:
            scale = np.sqrt(np.diag(info))
            step = solve_pd(info / np.outer(scale, scale) + 1e-8 * np.eye(len(grad)),
                            grad / scale)
            if step is None:
                return None, np.nan, current
            step = step / scale
        return step, grad @ step, current

    fit = ascend(lambda theta: problem.loglik(theta, parts=True), direction, start.copy(),
                 tol=tol, max_iter=max_iter, value=value, state=pieces, stalled=1e-6)
    current = fit.last       # the derivatives at the returned theta, when computed there
    if current is None:
        current = problem.derivatives(fit.x, fit.state, hessian=observed_information)
    _, hess, info = current
    try:
        vcov = np.linalg.inv(-hess if observed_information else info)
    except np.linalg.LinAlgError:
        vcov = np.full((layout.q, layout.q), np.nan)
    return LevelFit(level=layout.level, layout=layout, theta=fit.x, loglik=float(fit.value),
                    vcov=vcov, converged=fit.converged, iterations=fit.iterations)


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


def nested_start(previous: LevelFit, layout: Layout, groups: list[GroupData]) -> np.ndarray:
    """Start a level from the fit of the level before: shared parameters take the mean of
    the groups' values; latent means start from the first group's intercept differences."""
    theta = np.zeros(layout.q)
    weight = np.zeros(layout.q)
    for old, new in zip(previous.layout.groups, layout.groups, strict=True):
        for field_name in ("lam", "theta", "psi", "nu"):
            new_idx = getattr(new, field_name).ravel()
            old_idx = getattr(old, field_name).ravel()
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
        "ntotal": n, "npar": npar, "chisq": chisq, "df": df,
        **fm.indices(chisq, df, base_chisq, base_df, n, groups=n_groups), "srmr": srmr / n,
        "aic": fm.aic(fit.loglik, npar), "bic": fm.bic(fit.loglik, npar, n),
        "logl": fit.loglik, "unrestricted_logl": loglik_h1, "baseline_chisq": base_chisq,
        "baseline_df": base_df,
    }


def estimates_table(fit: LevelFit, factors: dict[str, list[str]], items: list[str],
                    group_names: list[str]) -> pd.DataFrame:
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


@dataclass
class InvarianceResult:
    factors: dict[str, list[str]]
    items: list[str]
    group_names: list[str]
    groups: list[GroupData]
    fits: dict[str, LevelFit]
    measures: dict[str, dict]
    errors: dict[str, str]


def fit_invariance(data: pd.DataFrame, factors: dict[str, list[str]], group: str, *,
                   group_order: list | None = None, missing: str = "fiml") -> InvarianceResult:
    """Fit the configural, metric and scalar models of `factors` with `group` as groups.

    Parameters
    ----------
    data : DataFrame
        Items and the grouping column.
    factors : dict
        Factor -> its indicators (the model's =~ lines).
    group : str
        The grouping column.
    group_order : list, optional
        The groups and their order (the first is the reference group of the latent means); by
        default the sorted distinct values.
    missing : {"fiml", "listwise"}

    Returns
    -------
    InvarianceResult
        A level that fails to converge is reported in `errors` and has no fit measures.

    Notes
    -----
    Each group needs every item with at least two answers and some variance (see
    `usable_groups` to screen groups beforehand). Each level starts from the level before.
    lavaan: cfa(model, data, group = group, group.equal = ...) for the three levels
    (semTools::measurementInvariance).
    """
    if missing not in ("fiml", "listwise"):
        raise InputError(f"estimation.missing {missing!r} is not available",
                         expected="fiml or listwise")
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    absent = [v for v in items + [group] if v not in data.columns]
    if absent:
        raise InputError(f"the data lack the columns {absent} for the invariance models",
                         expected="item names from the codebook and the grouping variable")
    for factor, indicators in factors.items():
        if len(indicators) < 2:
            raise InputError(f"factor {factor!r} has fewer than two indicators",
                             expected="two or more items per factor for a multi-group CFA")
    order = sorted(data[group].dropna().unique()) if group_order is None else list(group_order)
    if len(order) < 2:
        raise InputError(f"invariance across {group!r} needs at least two groups",
                         value=[str(v) for v in order])
    groups = []
    for value in order:
        x = data.loc[data[group] == value, items].to_numpy(dtype=float)
        problem = _group_problem(x, items, missing)
        if problem:
            raise InputError(f"group {group} = {value}: {problem}")
        groups.append(group_data(str(value), x, missing))
    fits: dict[str, LevelFit] = {}
    measures: dict[str, dict] = {}
    errors: dict[str, str] = {}
    previous = None
    for level in LEVELS:
        layout = make_layout(level, factors, items, len(groups))
        start = (configural_start(layout, groups) if previous is None
                 else nested_start(previous, layout, groups))
        try:
            fit = fit_level(layout, groups, start, observed_information=missing == "fiml")
        except np.linalg.LinAlgError as err:
            errors[level] = f"the {level} model cannot be estimated: {err}"
            previous = None
            continue
        if not fit.converged:
            errors[level] = f"the {level} model did not converge ({fit.iterations} iterations)"
        fits[level] = fit
        measures[level] = fit_measures(fit, groups)
        previous = fit
    return InvarianceResult(factors=factors, items=items, group_names=[str(v) for v in order],
                            groups=groups, fits=fits, measures=measures, errors=errors)


def _group_problem(x: np.ndarray, items: list[str], missing: str) -> str:
    """Why a group cannot enter the multi-group model, or "" if it can."""
    if missing == "listwise":
        x = x[np.isfinite(x).all(axis=1)]
    x = x[np.isfinite(x).any(axis=1)]
    answers = np.isfinite(x).sum(axis=0)
    few = [v for v, c in zip(items, answers, strict=True) if c < 2]
    if few:
        return f"fewer than two answers to {few}"
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(x, axis=0) - np.nanmin(x, axis=0)
    constant = [v for v, s in zip(items, spread, strict=True) if not s > 0]
    if constant:
        return f"no variance in {constant}"
    return ""


def usable_groups(data: pd.DataFrame, items: list[str], group: str, order: list, *,
                  min_size: int, missing: str = "fiml") -> tuple[list, list[str]]:
    """The groups that can enter the model, and a note for each one left out.

    A group is left out when it has fewer than `min_size` usable rows (complete rows for
    listwise, rows with any answer for FIML) or an item with fewer than two answers or without
    variance in that group.
    """
    kept, notes = [], []
    for value, label in order:
        x = data.loc[data[group] == value, items].to_numpy(dtype=float)
        usable = np.isfinite(x).all(axis=1) if missing == "listwise" else np.isfinite(x).any(axis=1)
        n = int(usable.sum())
        if n < min_size:
            notes.append(f"{group} {label} left out: {n} respondents, fewer than {min_size}")
            continue
        problem = _group_problem(x, items, missing)
        if problem:
            notes.append(f"{group} {label} left out: {problem}")
            continue
        kept.append((value, label))
    return kept, notes


def invariance_table(data: pd.DataFrame, factors: dict[str, list[str]], group: str, *,
                     order: list[tuple[object, str]] | None = None, min_size: int = 50,
                     missing: str = "fiml") -> pd.DataFrame:
    """The invariance table (COLUMNS): one row per level, or one row saying why there is none.

    Parameters
    ----------
    data : DataFrame
    factors : dict
        Factor -> its indicators.
    group : str
        The grouping column.
    order : list of (value, label), optional
        The groups in the order wanted (the first is the reference group); by default the
        sorted distinct values labelled by themselves.
    min_size : int
        Groups below it, or with an unusable item, are left out (see usable_groups), with a note.
    missing : {"fiml", "listwise"}

    Returns
    -------
    DataFrame
        COLUMNS: the fit measures per level, the deltas against the previous level and Chen's
        decision with its rule.
    """
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    if group not in data.columns:
        raise InputError(f"the data have no column {group!r} to form groups",
                         expected="a background variable of the codebook or 'wave'")
    if order is None:
        order = [(v, str(v)) for v in sorted(data[group].dropna().unique())]
    kept, notes = usable_groups(data, items, group, order, min_size=min_size, missing=missing)
    for note in notes:
        log.info("invariance: %s", note)
    base = {"groups": group, "group_values": ";".join(label for _, label in kept)}
    if len(kept) < 2:
        reason = (f"fewer than two groups of {group} with at least {min_size} respondents; "
                  "no invariance test")
        return _frame([{**base, "level": "", "note": "; ".join([reason] + notes)}])
    subset = data[data[group].isin([v for v, _ in kept])]
    try:
        result = fit_invariance(subset, factors, group, group_order=[v for v, _ in kept],
                                missing=missing)
    except np.linalg.LinAlgError as err:
        reason = f"the multi-group model cannot be estimated ({err}); no invariance test"
        log.warning("invariance by %s: %s", group, reason)
        return _frame([{**base, "level": "", "note": "; ".join([reason] + notes)}])
    rows = []
    previous = None
    for level in LEVELS:
        row = {**base, "level": level, "rule": chen_rule(level)}
        level_notes = list(notes)
        if level in result.errors:
            level_notes.append(result.errors[level])
            log.warning("invariance by %s: %s", group, result.errors[level])
        measures = result.measures.get(level) if level not in result.errors else None
        if measures is not None:
            row.update({c: measures[c] for c in COLUMNS if c in measures})
            if previous is not None:
                for index in ("cfi", "rmsea", "srmr"):
                    row[f"delta_{index}"] = measures[index] - previous[index]
                row["decision"] = chen_decision(level, row["delta_cfi"], row["delta_rmsea"],
                                                row["delta_srmr"])
        row["note"] = "; ".join(level_notes)
        rows.append(row)
        previous = measures
    return _frame(rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for column in ("groups", "group_values", "level", "decision", "rule", "note"):
        frame[column] = frame[column].astype(object).fillna("").astype(str)
    for column in ("ntotal", "npar", "df"):
        frame[column] = frame[column].astype("Int64")
    return frame


# --------------------------------------------------------------------------------------------
# Pipeline entry point
# --------------------------------------------------------------------------------------------


def pool_waves(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The waves' responses stacked, with `wave` set to each wave's id (config order)."""
    if not frames:
        raise InputError("no wave to pool for the invariance tables",
                         expected="at least one wave under waves: in config.yaml")
    return pd.concat([frame.assign(wave=wave) for wave, frame in frames.items()],
                     ignore_index=True)


def group_order(data: pd.DataFrame, variable: str, book=None,
                waves: list[str] | None = None) -> list[tuple[object, str]]:
    """(value, label) of each group: waves in config order; a background variable's codes in
    ascending order, labelled by the codebook (the English label where there is one)."""
    if variable == "wave":
        present = set(data["wave"].dropna())
        return [(w, str(w)) for w in (waves or sorted(present)) if w in present]
    if variable not in data.columns:
        known = sorted(book.background) if book is not None else []
        raise InputError(f"invariance.groups names {variable!r}, which the cleaned responses "
                         "do not have", value=variable,
                         expected=f"a background variable of the codebook: {known}")
    labels: dict = {}
    if book is not None and variable in book.background:
        scale = book.scales.get(book.background[variable].scale)
        if scale is not None:
            labels = {float(code): texts[-1] if len(texts) > 1 else texts[0]
                      for code, texts in scale.labels.items() if texts}
    values = sorted(data[variable].dropna().unique())
    return [(v, labels.get(float(v), _format_value(v)) if _is_number(v) else str(v))
            for v in values]


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating)


def _format_value(value) -> str:
    return f"{value:g}" if _is_number(value) else str(value)


def model_invariance(frames: dict[str, pd.DataFrame], syntax: str, variable: str, *,
                     model: str = "model", book=None, missing: str = "fiml",
                     min_group_size: int = 50, min_cell: int = 10) -> pd.DataFrame:
    """The invariance table of a model's measurement part across `variable` groups.

    `frames` maps each wave to its cleaned responses; they are pooled with a `wave` column.
    Groups need at least max(min_group_size, min_cell) respondents: a group smaller than
    report.min_cell is never reported. A model without `=~` lines gives one row saying so.
    """
    spec = parse_model(syntax, name=model)
    data = pool_waves(frames)
    if not spec.measurement:
        return _frame([{"groups": variable, "group_values": "", "level": "",
                        "note": f"model {model!r} has no measurement part (=~ lines)"}])
    order = group_order(data, variable, book, list(frames))
    return invariance_table(data, spec.measurement, variable, order=order,
                            min_size=max(int(min_group_size), int(min_cell)), missing=missing)
