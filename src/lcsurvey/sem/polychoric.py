"""Thresholds, polychoric correlations and their asymptotic covariance, as lavaan 0.6.14.

Ordinal items are coded 1..K. Thresholds are the probit cut points of each item's marginal
distribution; each polychoric correlation is the two-step maximum likelihood estimate for one
pair with the thresholds held fixed (lavaan's ``pc_cor_TS``). The asymptotic covariance of
(thresholds, correlations) follows Muthen (1984) from the casewise scores (lavaan's
``muthen1984``): ``B^-1 INNER B^-T`` with ``INNER`` the cross-product of the scores and ``B``
the block-triangular "sandwich bread" built from the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lcsurvey.errors import InputError
from lcsurvey.sem.normal import ndtr, ndtri

MAX_CATEGORIES = 15
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _cdf(x: np.ndarray) -> np.ndarray:
    return ndtr(x)


def bivariate_cdf(h: np.ndarray, k: np.ndarray, r: np.ndarray | float) -> np.ndarray:
    """P(X < h, Y < k) for a standard bivariate normal with correlation ``r``.

    Genz's (2004) method, vectorised over finite ``h``, ``k`` and ``r`` (broadcast together):
    Gauss-Legendre quadrature of Plackett's identity for ``|r| < 0.925``, Drezner-Wesolowsky's
    expansion otherwise.
    """
    h, k, r = np.broadcast_arrays(
        -np.asarray(h, dtype=float), -np.asarray(k, dtype=float), np.asarray(r, dtype=float)
    )
    shape = h.shape
    h, k, r = h.ravel(), k.ravel(), r.ravel()
    out = np.empty(h.shape)
    low = np.abs(r) < 0.925
    if low.any():
        out[low] = _bvn_plackett(h[low], k[low], r[low])
    if (~low).any():
        out[~low] = _bvn_drezner(h[~low], k[~low], r[~low])
    return np.clip(out, 0.0, 1.0).reshape(shape)


def _bvn_plackett(h: np.ndarray, k: np.ndarray, r: np.ndarray) -> np.ndarray:
    hk = h * k
    hs = (h * h + k * k) / 2.0
    asr = np.arcsin(r)
    sn = np.sin(asr * (1.0 + _NODES[:, None]) / 2.0)
    terms = _WEIGHTS[:, None] * np.exp((sn * hk - hs) / (1.0 - sn * sn))
    return terms.sum(axis=0) * asr / (4.0 * np.pi) + _cdf(-h) * _cdf(-k)


def _bvn_drezner(h: np.ndarray, k: np.ndarray, r: np.ndarray) -> np.ndarray:
    k = np.where(r < 0, -k, k)
    hk = h * k
    a2 = (1.0 - r) * (1.0 + r)
    a = np.sqrt(a2)
    bs = (h - k) ** 2
    c = (4.0 - hk) / 8.0
    d = (12.0 - hk) / 16.0
    asr = -(bs / a2 + hk) / 2.0
    bvn = np.where(
        asr > -100,
        a * np.exp(asr) * (1 - c * (bs - a2) * (1 - d * bs / 5) / 3 + c * d * a2 * a2 / 5),
        0.0,
    )
    b = np.sqrt(bs)
    sp = np.sqrt(2.0 * np.pi) * _cdf(-b / a)
    bvn = bvn - np.where(
        hk > -100, np.exp(-hk / 2.0) * sp * b * (1 - c * bs * (1 - d * bs / 5) / 3), 0.0
    )
    half = a / 2.0
    xs = (half + half * _NODES[:, None]) ** 2
    rs = np.sqrt(1.0 - xs)
    asr2 = -(bs / xs + hk) / 2.0
    sp2 = 1.0 + c * xs * (1.0 + d * xs)
    ep = np.exp(-hk * (1.0 - rs) / (2.0 * (1.0 + rs))) / rs
    add = np.where(asr2 > -100, _WEIGHTS[:, None] * np.exp(asr2) * (ep - sp2), 0.0)
    bvn = -(bvn + half * add.sum(axis=0)) / (2.0 * np.pi)
    low = np.where(h < 0, _cdf(k) - _cdf(h), _cdf(-h) - _cdf(-k))
    negative = np.where(h >= k, -bvn, low - bvn)
    return np.where(r > 0, bvn + _cdf(-np.maximum(h, k)), negative)


def bivariate_density(h: np.ndarray, k: np.ndarray, r: float) -> np.ndarray:
    """Standard bivariate normal density at (h, k) with correlation ``r``."""
    s = 1.0 - r * r
    return np.exp(-(h * h - 2.0 * r * h * k + k * k) / (2.0 * s)) / (2.0 * np.pi * np.sqrt(s))


@dataclass(frozen=True)
class PolychoricResult:
    """Thresholds, polychoric matrix and the asymptotic covariance of both.

    Attributes
    ----------
    names : list of str
        The items, in column order.
    thresholds : list of numpy.ndarray
        Per item, its K-1 thresholds.
    correlation : numpy.ndarray
        The p x p polychoric matrix.
    nacov : numpy.ndarray or None
        Asymptotic covariance of ``sqrt(N)`` times the statistics (lavaan's NACOV), ordered as
        all thresholds (item by item) then the correlations column-wise below the diagonal.
    n : int
        Number of cases used (complete rows, or rows with an answer under pairwise).
    """

    names: list[str]
    thresholds: list[np.ndarray]
    correlation: np.ndarray
    nacov: np.ndarray | None
    n: int

    @property
    def statistics(self) -> np.ndarray:
        """The sample statistics vector: thresholds then correlations (column-wise vech)."""
        rows, cols = pair_index(len(self.names))
        return np.concatenate([*self.thresholds, self.correlation[rows, cols]])


def pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each below-diagonal element, column by column (lavaan's vech order)."""
    rows, cols = [], []
    for j in range(p - 1):
        for i in range(j + 1, p):
            rows.append(i)
            cols.append(j)
    return np.array(rows, dtype=int), np.array(cols, dtype=int)


def _check_items(data: np.ndarray, names: list[str]) -> list[int]:
    levels = []
    for col, name in enumerate(names):
        x = data[:, col]
        x = x[~np.isnan(x)]
        if len(x) == 0:
            raise InputError(
                f"ordinal item {name} has no answers",
                column=name,
                expected="at least some answers to every item of the model",
            )
        if np.any(x != np.round(x)) or np.any(x < 1):
            bad = x[(x != np.round(x)) | (x < 1)][0]
            raise InputError(
                f"ordinal item {name} has a value that is not a category number",
                column=name,
                value=bad,
                expected="whole numbers 1, 2, ... coding the ordered categories",
            )
        k = int(x.max())
        if k > MAX_CATEGORIES:
            raise InputError(
                f"ordinal item {name} has {k} categories; more than {MAX_CATEGORIES} is not "
                "an ordered rating",
                column=name,
                value=k,
                expected=f"at most {MAX_CATEGORIES} categories",
                hint="treat the item as continuous or collapse categories in the codebook",
            )
        counts = np.bincount(x.astype(int), minlength=k + 1)[1:]
        empty = [str(c + 1) for c in range(k) if counts[c] == 0]
        if empty or k < 2:
            raise InputError(
                f"ordinal item {name}: nobody chose category {', '.join(empty) or '2'}",
                column=name,
                expected="every category from 1 to the highest used at least once",
                hint="collapse the empty category with its neighbour in the codebook",
            )
        levels.append(k)
    return levels


def _pair_table(x: np.ndarray, y: np.ndarray, kx: int, ky: int) -> np.ndarray:
    return np.bincount((x - 1) * ky + (y - 1), minlength=kx * ky).reshape(kx, ky).astype(float)


def _cell_threshold_derivatives(
    tx: np.ndarray, ty: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """Derivative of cell probabilities with respect to the upper and lower x thresholds.

    Returns ``(upper, lower)``, each K1 x K2: the derivative of P(a, b) with respect to
    ``tx[a]`` (zero in the last row) and to ``tx[a-1]`` (zero in the first row).
    """
    s = np.sqrt(1.0 - rho * rho)
    yb = np.concatenate([[-np.inf], ty, [np.inf]])
    cond = _cdf((yb[None, :] - rho * tx[:, None]) / s)  # (K1-1) x (K2+1)
    band = _phi(tx)[:, None] * (cond[:, 1:] - cond[:, :-1])  # (K1-1) x K2
    kx, ky = len(tx) + 1, len(ty) + 1
    upper = np.zeros((kx, ky))
    lower = np.zeros((kx, ky))
    upper[:-1] = band
    lower[1:] = -band
    return upper, lower


_PAD = 30.0  # a threshold standing in for +infinity when tables of unequal size are stacked


def _stacked_probabilities(tx: np.ndarray, ty: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Cell probabilities of Q stacked tables (Q x Kx x Ky) from padded thresholds."""
    q = len(rho)
    grid = np.zeros((q, tx.shape[1] + 2, ty.shape[1] + 2))
    grid[:, 1:-1, 1:-1] = bivariate_cdf(tx[:, :, None], ty[:, None, :], rho[:, None, None])
    grid[:, 1:-1, -1] = _cdf(tx)
    grid[:, -1, 1:-1] = _cdf(ty)
    grid[:, -1, -1] = 1.0
    return grid[:, 1:, 1:] - grid[:, :-1, 1:] - grid[:, 1:, :-1] + grid[:, :-1, :-1]


def _stacked_rho_derivative(tx: np.ndarray, ty: np.ndarray, rho: np.ndarray) -> np.ndarray:
    grid = np.zeros((len(rho), tx.shape[1] + 2, ty.shape[1] + 2))
    grid[:, 1:-1, 1:-1] = bivariate_density(tx[:, :, None], ty[:, None, :], rho[:, None, None])
    return grid[:, 1:, 1:] - grid[:, :-1, 1:] - grid[:, 1:, :-1] + grid[:, :-1, :-1]


def _fit_pairs(tables: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Maximum likelihood rho of every pair at once, by Fisher scoring with step halving.

    ``tables`` is Q x Kx x Ky (zero-padded), ``tx`` and ``ty`` the thresholds padded with a
    large value. The log-likelihood of one table is unimodal in rho, so each pair reaches the
    maximum lavaan's nlminb finds; the pairs still moving step together, so the work is a few
    array passes.
    """
    n = tables.sum(axis=(1, 2))
    used = tables > 0
    kx, ky = tables.shape[1:]
    # Start from the Pearson correlation of the category numbers (usually a little smaller in
    # magnitude than the polychoric one): fewer steps than starting at zero.
    u, v = np.arange(1, kx + 1, dtype=float), np.arange(1, ky + 1, dtype=float)
    pu, pv = tables.sum(axis=2) / n[:, None], tables.sum(axis=1) / n[:, None]
    cov = np.einsum("i,qij,j->q", u, tables, v) / n - (pu @ u) * (pv @ v)
    var = (pu @ u**2 - (pu @ u) ** 2) * (pv @ v**2 - (pv @ v) ** 2)
    rho = np.clip(cov / np.sqrt(np.where(var > 0, var, 1.0)), -0.95, 0.95)

    def loglik(prob: np.ndarray, k: np.ndarray) -> np.ndarray:
        return np.sum(
            np.where(used[k], tables[k] * np.log(np.maximum(prob, 1e-300)), 0.0), axis=(1, 2)
        )

    every = np.arange(len(rho))
    prob = _stacked_probabilities(tx, ty, rho)
    current = loglik(prob, every)
    # Only pairs still moving take further steps: most converge in a few.
    active = every
    for _ in range(100):
        k = active
        r, pr, cur = rho[k], prob[k], current[k]
        dprob = _stacked_rho_derivative(tx[k], ty[k], r)
        safe = np.maximum(pr, 1e-300)
        score = np.sum(np.where(used[k], tables[k] * dprob / safe, 0.0), axis=(1, 2))
        info = n[k] * np.sum(np.where(pr > 1e-300, dprob * dprob / safe, 0.0), axis=(1, 2))
        step = score / info
        trial, trial_prob, value = r, pr, cur
        pending = np.ones(len(k), dtype=bool)
        for _ in range(50):
            candidate = np.clip(r + step, -0.9999, 0.9999)
            cand_prob = _stacked_probabilities(tx[k], ty[k], candidate)
            cand_value = loglik(cand_prob, k)
            accept = pending & (cand_value >= cur - 1e-12)
            trial = np.where(accept, candidate, trial)
            trial_prob = np.where(accept[:, None, None], cand_prob, trial_prob)
            value = np.where(accept, cand_value, value)
            pending &= ~accept
            if not pending.any():
                break
            step = np.where(pending, step / 2.0, step)
        moving = np.abs(trial - r) >= 1e-10
        rho[k], prob[k], current[k] = trial, trial_prob, value
        active = k[moving]
        if not len(active):
            break
    return rho


def _padded(th: list[np.ndarray], index: np.ndarray, width: int) -> np.ndarray:
    out = np.full((len(index), width), _PAD)
    for q, item in enumerate(index):
        out[q, : len(th[item])] = th[item]
    return out


def thresholds_of(x: np.ndarray, k: int) -> np.ndarray:
    """Probit thresholds of one item: the normal quantiles of its cumulative proportions."""
    counts = np.bincount(x, minlength=k + 1)[1:]
    return ndtri(np.cumsum(counts)[:-1] / len(x))


def polychoric(
    data: np.ndarray, names: list[str], *, acov: bool = True, missing: str = "listwise"
) -> PolychoricResult:
    """Thresholds, polychoric correlations and (optionally) their asymptotic covariance.

    Parameters
    ----------
    data : numpy.ndarray
        N x p category numbers (1..K), NaN for a missing answer.
    names : list of str
        Item names, for messages.
    acov : bool
        Whether to compute the asymptotic covariance (NACOV) from the casewise scores.
    missing : {"listwise", "pairwise"}
        lavaan's ``missing``: drop rows with a missing answer, or estimate each threshold from
        the item's answers and each correlation from the pair's (the scores of a missing
        answer count zero in NACOV, whose N is then every row with an answer).

    Returns
    -------
    PolychoricResult
    """
    if missing not in ("listwise", "pairwise"):
        raise InputError(
            f"missing {missing!r} is not available for ordinal items",
            value=missing,
            expected="listwise or pairwise",
        )
    data = np.asarray(data, dtype=float)
    if missing == "listwise":
        data = data[~np.isnan(data).any(axis=1)]
    else:
        # lavaan keeps every row with at least one answer under missing = "pairwise".
        data = data[~np.isnan(data).all(axis=1)]
    if data.shape[0] < 2:
        raise InputError("too few complete rows for polychoric correlations", value=data.shape[0])
    observed = ~np.isnan(data)
    levels = _check_items(data, names)
    y = np.where(observed, data, 0.0).astype(int)  # 0 marks a missing answer
    n, p = y.shape
    th = [thresholds_of(y[observed[:, j], j], levels[j]) for j in range(p)]
    rows, cols = pair_index(p)
    kmax = max(levels)
    tables = np.zeros((len(rows), kmax, kmax))
    complete = observed.all()
    for q, (i, j) in enumerate(zip(rows, cols, strict=True)):
        both = slice(None) if complete else observed[:, i] & observed[:, j]
        tables[q, : levels[i], : levels[j]] = _pair_table(
            y[both, i], y[both, j], levels[i], levels[j]
        )
    if (tables.sum(axis=(1, 2)) < 2).any():
        q = int(np.argmin(tables.sum(axis=(1, 2))))
        raise InputError(
            f"ordinal items {names[rows[q]]} and {names[cols[q]]} are answered together by "
            "fewer than two respondents",
            expected="pairs of items answered by the same respondents",
        )
    tx, ty = _padded(th, rows, kmax - 1), _padded(th, cols, kmax - 1)
    rho = _fit_pairs(tables, tx, ty)
    cor = np.eye(p)
    cor[rows, cols] = cor[cols, rows] = rho
    if not acov:
        return PolychoricResult(list(names), th, cor, None, n)
    probs = _stacked_probabilities(tx, ty, rho)
    drho = _stacked_rho_derivative(tx, ty, rho)
    nacov = _muthen1984(y, th, cor, levels, tables, probs, drho)
    return PolychoricResult(list(names), th, cor, nacov, n)


def _muthen1984(
    y: np.ndarray,
    th: list[np.ndarray],
    cor: np.ndarray,
    levels: list[int],
    tables: np.ndarray,
    probs: np.ndarray,
    drho: np.ndarray,
) -> np.ndarray:
    """NACOV of thresholds and correlations from the casewise scores (lavaan's muthen1984).

    ``tables``, ``probs`` and ``drho`` are the stacked pair tables, their fitted cell
    probabilities and the derivatives of those by rho (Q x Kmax x Kmax, pair order).
    """
    n, p = y.shape
    nth = [k - 1 for k in levels]
    start = np.concatenate([[0], np.cumsum(nth)])
    total_th = int(start[-1])
    rows, cols = pair_index(p)
    npair = len(rows)
    # One score matrix, column-major: every score is written (and read) column by column.
    sc = np.zeros((n, total_th + npair), order="F")
    sc_th, sc_cor = sc[:, :total_th], sc[:, total_th:]
    for j in range(p):
        tb = np.concatenate([[-np.inf], th[j], [np.inf]])
        c = y[:, j]
        # A missing answer (0) scores zero: lavaan sums the cross-products over the answers
        # there are (missing = "pairwise").
        prob = np.where(c > 0, _cdf(tb[c]) - _cdf(tb[c - 1]), 1.0)
        for t in range(nth[j]):
            dens = _phi(th[j][t])
            sc_th[:, start[j] + t] = (
                np.where(c == t + 1, dens, 0.0) - np.where(c == t + 2, dens, 0.0)
            ) / prob
    a21 = np.zeros((npair, total_th))
    for q, (i, j) in enumerate(zip(rows, cols, strict=True)):
        rho = cor[i, j]
        prob = probs[q, : levels[i], : levels[j]]
        cell = (y[:, i] - 1, y[:, j] - 1)
        rho_score = drho[q, : levels[i], : levels[j]] / prob
        sc_cor[:, q] = np.where((y[:, i] > 0) & (y[:, j] > 0), rho_score[cell], 0.0)
        # Scores are constant within a cell of the pair's table, so the cross-products over
        # cases are sums over cells weighted by the counts.
        weight = tables[q, : levels[i], : levels[j]] * rho_score / prob
        up_i, low_i = _cell_threshold_derivatives(th[i], th[j], rho)
        up_j, low_j = _cell_threshold_derivatives(th[j], th[i], rho)
        cross_i = np.sum(weight * up_i, axis=1)[:-1] + np.sum(weight * low_i, axis=1)[1:]
        cross_j = np.sum(weight * up_j.T, axis=0)[:-1] + np.sum(weight * low_j.T, axis=0)[1:]
        a21[q, start[i] : start[i + 1]] = cross_i
        a21[q, start[j] : start[j + 1]] = cross_j
    inner = sc.T @ sc
    # B = [[A11, 0], [A21, A22]] with A11 block-diagonal (one block per item) and A22
    # diagonal, so its inverse is [[A11^-1, 0], [-A22^-1 A21 A11^-1, A22^-1]]: blockwise, far
    # cheaper than inverting B whole.
    a11_inv = np.zeros((total_th, total_th))
    for j in range(p):
        s = slice(start[j], start[j + 1])
        a11_inv[s, s] = np.linalg.inv(inner[s, s])
    a22_inv = 1.0 / np.sum(sc_cor * sc_cor, axis=0)
    b_inv = np.zeros_like(inner)
    b_inv[:total_th, :total_th] = a11_inv
    b_inv[total_th:, :total_th] = -a22_inv[:, None] * (a21 @ a11_inv)
    b_inv[total_th:, total_th:] = np.diag(a22_inv)
    return n * (b_inv @ inner @ b_inv.T)
