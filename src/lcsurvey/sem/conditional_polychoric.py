"""Sample statistics of ordinal items given observed covariates, as lavaan 0.6.14.

With an observed covariate in the model (``f ~ age``), lavaan's default for ordered items is
``conditional.x = TRUE``: each item gets a probit regression on the covariates (its thresholds
and slopes, lavaan's ``lav_uvord_fit``), each pair of items the correlation of their latent
responses given the covariates (a bivariate probit with the first step held fixed,
``lav_bvord_cor_twostep_fit``), and the asymptotic covariance of (thresholds, slopes,
residual correlations) follows from the casewise scores as in Muthen (1984) (lavaan's
``muthen1984`` with ``eXo``). The covariates themselves are fixed (``fixed.x = TRUE``): their
means and covariance matrix are the sample's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lcsurvey.errors import InputError
from lcsurvey.sem.polychoric import (
    _PAD,
    _cdf,
    _check_items,
    _phi,
    bivariate_cdf,
    bivariate_density,
    pair_index,
    thresholds_of,
)


@dataclass(frozen=True)
class ConditionalPolychoric:
    """Thresholds, slopes and residual polychoric correlations given covariates.

    Attributes
    ----------
    names : list of str
        The items.
    thresholds : list of numpy.ndarray
        Per item, its K-1 thresholds (at covariates zero).
    slopes : numpy.ndarray
        p x q probit slopes of the items on the covariates.
    correlation : numpy.ndarray
        p x p correlations of the latent responses given the covariates.
    nacov : numpy.ndarray
        Asymptotic covariance of ``sqrt(N)`` times (thresholds, slopes column by column,
        correlations column-wise below the diagonal).
    n : int
        Number of complete rows.
    covariates : list of str
    x_mean, x_cov : numpy.ndarray
        Sample means and covariance matrix (N - 1) of the covariates.
    """

    names: list[str]
    thresholds: list[np.ndarray]
    slopes: np.ndarray
    correlation: np.ndarray
    nacov: np.ndarray
    n: int
    covariates: list[str]
    x_mean: np.ndarray
    x_cov: np.ndarray


def _bounds(c: np.ndarray, tau: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower bounds ``tau_c - eta`` and ``tau_{c-1} - eta`` (+-inf at the ends)."""
    tb = np.concatenate([[-np.inf], tau, [np.inf]])
    return tb[c] - eta, tb[c - 1] - eta


def _probit(c: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """ML thresholds and slopes of one item's probit regression, by Newton steps with halving.

    ``P(y <= j | x) = Phi(tau_j - x beta)``. Returns ``(params, scores)``: the thresholds then
    the slopes, and the casewise scores (N x (K - 1 + q)).
    """
    n, q = x.shape
    nth = k - 1
    onehot_u = np.zeros((n, nth))
    onehot_l = np.zeros((n, nth))
    rows = np.arange(n)
    onehot_u[rows[c <= nth], c[c <= nth] - 1] = 1.0
    onehot_l[rows[c >= 2], c[c >= 2] - 2] = 1.0
    ju = np.hstack([onehot_u, -x])  # d upper bound / d params (zero row where c = K)
    jl = np.hstack([onehot_l, -x])
    ju[c == k, nth:] = 0.0
    jl[c == 1, nth:] = 0.0

    def parts(params: np.ndarray):
        zu, zl = _bounds(c, params[:nth], x @ params[nth:])
        prob = np.maximum(_cdf(zu) - _cdf(zl), 1e-300)
        fu = np.where(np.isfinite(zu), _phi(np.where(np.isfinite(zu), zu, 0.0)), 0.0)
        fl = np.where(np.isfinite(zl), _phi(np.where(np.isfinite(zl), zl, 0.0)), 0.0)
        return zu, zl, prob, fu, fl

    def loglik(params: np.ndarray) -> float:
        return float(np.sum(np.log(parts(params)[2])))

    params = np.concatenate([thresholds_of(c, k), np.zeros(q)])
    current = loglik(params)
    for _ in range(200):
        zu, zl, prob, fu, fl = parts(params)
        gu, gl = fu / prob, -fl / prob
        grad = ju.T @ gu + jl.T @ gl
        zu0 = np.where(np.isfinite(zu), zu, 0.0)
        zl0 = np.where(np.isfinite(zl), zl, 0.0)
        huu = -zu0 * fu / prob - gu * gu
        hll = zl0 * fl / prob - gl * gl
        hul = fu * fl / prob**2
        hess = (
            ju.T @ (huu[:, None] * ju)
            + jl.T @ (hll[:, None] * jl)
            + ju.T @ (hul[:, None] * jl)
            + jl.T @ (hul[:, None] * ju)
        )
        step = -np.linalg.solve(hess, grad)
        for _ in range(50):
            trial = params + step
            tau = trial[:nth]
            if np.all(np.diff(tau) > 0):
                value = loglik(trial)
                if value >= current - 1e-12:
                    break
            step = step / 2.0
        done = np.max(np.abs(trial - params)) < 1e-11
        params, current = trial, value
        if done:
            break
    zu, zl, prob, fu, fl = parts(params)
    scores = (fu / prob)[:, None] * ju - (fl / prob)[:, None] * jl
    return params, scores


def conditional_polychoric(
    data: np.ndarray,
    x: np.ndarray,
    names: list[str],
    covariates: list[str],
    *,
    missing: str = "listwise",
) -> ConditionalPolychoric:
    """Thresholds, slopes and residual polychoric correlations of ordinal items given covariates.

    Parameters
    ----------
    data : numpy.ndarray
        N x p category numbers (1..K), NaN for a missing answer.
    x : numpy.ndarray
        N x q covariate values; rows with a missing covariate are dropped.
    names, covariates : list of str
        Item and covariate names, for messages.
    missing : {"listwise", "pairwise"}
        Drop rows with a missing answer, or fit each item's probit regression on its answers
        and each pair's correlation on the rows answering both (a missing answer scores zero).

    Returns
    -------
    ConditionalPolychoric
    """
    data = np.asarray(data, dtype=float)
    x = np.asarray(x, dtype=float)
    keep = ~np.isnan(x).any(axis=1)
    if missing == "pairwise":
        keep &= ~np.isnan(data).all(axis=1)
    else:
        keep &= ~np.isnan(data).any(axis=1)
    data, x = data[keep], x[keep]
    if data.shape[0] < 2:
        raise InputError("too few complete rows for polychoric correlations", value=data.shape[0])
    x_sd = x.std(axis=0)
    constant = [v for v, s in zip(covariates, x_sd, strict=True) if s == 0]
    if constant:
        raise InputError(
            f"covariate {constant[0]} has the same value in every complete row",
            column=constant[0],
            expected="a covariate that varies",
        )
    levels = _check_items(data, names)
    observed = ~np.isnan(data)
    y = np.where(observed, data, 0.0).astype(int)  # 0 marks a missing answer
    n, p = y.shape
    q = x.shape[1]
    fits = []
    for j in range(p):
        rows_j = observed[:, j]
        params, scores = _probit(y[rows_j, j], x[rows_j], levels[j])
        full = np.zeros((n, scores.shape[1]))
        full[rows_j] = scores
        fits.append((params, full))
    th = [f[0][: levels[j] - 1] for j, f in enumerate(fits)]
    slopes = np.array([f[0][levels[j] - 1 :] for j, f in enumerate(fits)]).reshape(p, q)
    eta = x @ slopes.T  # N x p
    # A missing answer spans the whole line: its case probability does not depend on rho, so
    # the case adds nothing to the pair's likelihood or scores.
    upper = np.full((p, n), _PAD)
    lower = np.full((p, n), -_PAD)
    for j in range(p):
        rows_j = observed[:, j]
        upper[j, rows_j], lower[j, rows_j] = _bounds(y[rows_j, j], th[j], eta[rows_j, j])
    upper = np.clip(upper, -_PAD, _PAD)
    lower = np.clip(lower, -_PAD, _PAD)
    rows, cols = pair_index(p)
    ui, li, uj, lj = upper[rows], lower[rows], upper[cols], lower[cols]

    corners = (((0, 0), 1.0), ((1, 0), -1.0), ((0, 1), -1.0), ((1, 1), 1.0))
    cached = [_Corner(h, k) for h, k in ((ui, uj), (li, uj), (ui, lj), (li, lj))]

    def prob(rho: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Case probabilities of pairs k (len(k) x N) at their correlations rho."""
        out = sum(sign * c.cdf(rho, k) for c, (_, sign) in zip(cached, corners, strict=True))
        return np.maximum(out, 1e-300)

    def dprob(rho: np.ndarray, k: np.ndarray, second: bool = False):
        """d P / d rho (and d2 P / d rho2): the density at the corners and its derivative."""
        r = rho[:, None]
        hs, ks = (ui[k], li[k]), (uj[k], lj[k])
        d1 = np.zeros(hs[0].shape)
        d2 = np.zeros(hs[0].shape)
        for (a, b), sign in corners:
            h, kk = hs[a], ks[b]
            dens = _density(h, kk, r)
            d1 += sign * dens
            if second:
                one = 1.0 - r * r
                quad = h * h - 2.0 * r * h * kk + kk * kk
                d2 += sign * dens * ((r + h * kk) / one - r * quad / one**2)
        return (d1, d2) if second else d1

    # Newton steps on each pair's log-likelihood (exact second derivative), with halving;
    # only the pairs still moving take further steps.
    rho = _residual_start(y, eta, rows, cols)
    every = np.arange(len(rho))
    pr_all = prob(rho, every)
    current = np.sum(np.log(pr_all), axis=1)
    active = every
    for _ in range(100):
        k = active
        r0, pr, cur = rho[k], pr_all[k], current[k]
        d1, d2 = dprob(r0, k, second=True)
        g = d1 / pr
        score = np.sum(g, axis=1)
        hess = np.sum(d2 / pr - g * g, axis=1)
        # Fall back to scoring (BHHH) where the curvature is not negative.
        hess = np.where(hess < 0, hess, -np.sum(g * g, axis=1))
        step = -score / hess
        trial, trial_pr, value = r0, pr, cur
        pending = np.ones(len(k), dtype=bool)
        for _ in range(50):
            cand = np.clip(r0 + step, -0.9999, 0.9999)
            todo = np.flatnonzero(pending)
            cand_pr = prob(cand[todo], k[todo])
            cand_value = np.sum(np.log(cand_pr), axis=1)
            ok = cand_value >= cur[todo] - 1e-12
            acc = todo[ok]
            trial = trial.copy()
            trial[acc] = cand[acc]
            trial_pr = trial_pr.copy()
            trial_pr[acc] = cand_pr[ok]
            value = value.copy()
            value[acc] = cand_value[ok]
            pending[acc] = False
            if not pending.any():
                break
            step = np.where(pending, step / 2.0, step)
        moving = np.abs(trial - r0) >= 1e-10
        rho[k], pr_all[k], current[k] = trial, trial_pr, value
        active = k[moving]
        if not len(active):
            break
    pr = pr_all
    cor = np.eye(p)
    cor[rows, cols] = cor[cols, rows] = rho

    # Casewise scores: thresholds (item by item), slopes (covariate by covariate, items within),
    # correlations; then B^-1 INNER B^-T as lavaan's muthen1984.
    nth = [k - 1 for k in levels]
    start = np.concatenate([[0], np.cumsum(nth)]).astype(int)
    total_th = int(start[-1])
    nsl = p * q
    sc_th = np.hstack([f[1][:, : nth[j]] for j, f in enumerate(fits)])
    sc_sl = np.zeros((n, nsl))
    for j, f in enumerate(fits):
        for k in range(q):
            sc_sl[:, k * p + j] = f[1][:, nth[j] + k]
    dpr = dprob(rho, every)
    sc_cor = (dpr / pr).T  # N x Q
    s = np.sqrt(1.0 - rho * rho)[:, None]
    r = rho[:, None]
    a1 = total_th + nsl
    a21 = np.zeros((len(rows), a1))
    for side in (0, 1):
        # d P / d (upper and lower bound of item i) for i the row (side 0) or column item.
        hu, hl, ku, kl = (ui, li, uj, lj) if side == 0 else (uj, lj, ui, li)
        item = rows if side == 0 else cols
        du = _phi(hu) * (_cdf((ku - r * hu) / s) - _cdf((kl - r * hu) / s))
        dl = -_phi(hl) * (_cdf((ku - r * hl) / s) - _cdf((kl - r * hl) / s))
        du, dl = du / pr, dl / pr  # d log P / d bound, Q x N
        for qq, i in enumerate(item):
            c = y[:, i]
            score_rho = sc_cor[:, qq]
            for t in range(nth[i]):
                d = np.where(c == t + 1, du[qq], 0.0) + np.where(c == t + 2, dl[qq], 0.0)
                a21[qq, start[i] + t] = score_rho @ d
            for k in range(q):
                a21[qq, total_th + k * p + i] = score_rho @ (-x[:, k] * (du[qq] + dl[qq]))
    sc = np.hstack([sc_th, sc_sl, sc_cor])
    inner = sc.T @ sc
    a11_inv = np.zeros((a1, a1))
    for j in range(p):
        idx = np.concatenate(
            [np.arange(start[j], start[j + 1]), total_th + np.arange(q) * p + j]
        ).astype(int)
        a11_inv[np.ix_(idx, idx)] = np.linalg.inv(inner[np.ix_(idx, idx)])
    a22_inv = 1.0 / np.sum(sc_cor * sc_cor, axis=0)
    b_inv = np.zeros_like(inner)
    b_inv[:a1, :a1] = a11_inv
    b_inv[a1:, :a1] = -a22_inv[:, None] * (a21 @ a11_inv)
    b_inv[a1:, a1:] = np.diag(a22_inv)
    nacov = n * (b_inv @ inner @ b_inv.T)
    x_cov = np.atleast_2d(np.cov(x, rowvar=False))
    return ConditionalPolychoric(
        list(names), th, slopes, cor, nacov, n, list(covariates), x.mean(axis=0), x_cov
    )


# Genz's (2004) Gauss-Legendre rules for Plackett's integral: fewer nodes for small |rho|.
_RULES = [(0.3, np.polynomial.legendre.leggauss(6)), (0.75, np.polynomial.legendre.leggauss(12))]
_RULES.append((0.925, np.polynomial.legendre.leggauss(20)))


class _Corner:
    """P(X < h, Y < k) for Q pairs of N cases each, at one correlation per pair.

    The case-wise parts of Genz's method (``h k``, ``(h^2 + k^2) / 2`` and ``Phi(h) Phi(k)``)
    are kept, since only rho changes between the evaluations of a pair; pairs with
    ``|rho| >= 0.925`` go to bivariate_cdf.
    """

    def __init__(self, h: np.ndarray, k: np.ndarray):
        self.h, self.k = h, k
        self.hk = h * k
        self.hs = (h * h + k * k) / 2.0
        self.base = _cdf(h) * _cdf(k)

    def cdf(self, rho: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        out = np.empty((len(pairs), self.h.shape[1]))
        low = 0.0
        for high, (nodes, weights) in _RULES:
            sel = np.flatnonzero((np.abs(rho) >= low) & (np.abs(rho) < high))
            low = high
            if not len(sel):
                continue
            q = pairs[sel]
            asr = np.arcsin(rho[sel])[:, None]
            sn = np.sin(asr * (1.0 + nodes[None, :]) / 2.0)  # len(sel) x nodes
            inv = 1.0 / (1.0 - sn * sn)
            total = np.zeros((len(sel), self.h.shape[1]))
            for a in range(len(nodes)):
                total += weights[a] * np.exp(
                    (sn[:, a, None] * self.hk[q] - self.hs[q]) * inv[:, a, None]
                )
            out[sel] = total * asr / (4.0 * np.pi) + self.base[q]
        high_r = np.flatnonzero(np.abs(rho) >= _RULES[-1][0])
        if len(high_r):
            q = pairs[high_r]
            out[high_r] = bivariate_cdf(self.h[q], self.k[q], rho[high_r, None])
        return np.clip(out, 0.0, 1.0)


def _density(h: np.ndarray, k: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Bivariate normal density, zero where a bound stands for infinity."""
    inner = (np.abs(h) < _PAD) & (np.abs(k) < _PAD)
    return np.where(inner, bivariate_density(h, k, r), 0.0)


def _residual_start(
    y: np.ndarray, eta: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Start values: Pearson correlations of the category numbers (a missing answer at the
    item's mean), clipped."""
    y = y.astype(float)
    for j in range(y.shape[1]):
        answered = y[:, j] > 0
        y[~answered, j] = y[answered, j].mean()
    cor = np.corrcoef(y, rowvar=False)
    return np.clip(cor[rows, cols], -0.9, 0.9)
