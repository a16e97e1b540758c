"""Multi-group CFA of ordinal items by WLSMV, and invariance of thresholds, as lavaan 0.6.14.

``cfa(model, group = , ordered = TRUE, estimator = "WLSMV")`` on the syntax semTools 0.5.6's
``measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", parameterization = "delta")``
writes. Per group the latent responses ``y* = nu + Lambda eta + e`` have means
``mu = nu + Lambda alpha`` and scale factors ``delta`` (lavaan's ``~*~``, one over the standard
deviation of ``y*``); the model's sample statistics are each group's thresholds and polychoric
correlations (lcsurvey.sem.polychoric), implied as ``(tau - mu) delta`` and
``delta_i delta_j (Lambda Psi Lambda')_ij``. The residual variances follow (delta
parameterisation): ``theta = 1 / delta^2 - diag(Lambda Psi Lambda')``.

Estimation is DWLS over all groups: the sum over groups of ``(N_g - 1) e_g' W_g e_g`` with
``W_g`` the inverse diagonal of the group's Gamma (lavaan's group ``fx`` times ``2 N_g``), which
is also the test statistic. Standard errors are the sandwich ``E^-1 B E^-1 / (N - G)`` with
``E = sum f_g D_g' W_g D_g`` and ``B = sum f_g D_g' W_g Gamma_g W_g D_g`` (``f_g = N_g / N``).
The scaled-shifted test takes the traces of ``U Gamma`` over all groups at once
(lavaan's ``lav_test_satorra_bentler_trace_original``); the baseline is the independence model
with free thresholds per group; the RMSEA counts ``N - G`` and is times ``sqrt(G)``.

Factors are identified by their variances (``ID.fac = "std.lv"``; semTools warns that marker
items leave the latent means unidentified under this sequence, and lavaan finds the
information matrix of its configural model singular), each factor's sign by its first item
loading positively (lavaan's start).

Invariance levels (Wu & Estabrook 2016), the first group the reference:

- configural: thresholds and loadings free per group; intercepts 0, scale factors 1, latent
  means 0 and latent variances 1 in every group;
- thresholds: thresholds equal; intercepts and scale factors free in the other groups (for a
  binary item only the intercept: its scale factor is freed with equal intercepts);
- thresholds_loadings: loadings equal too; latent variances free in the other groups;
- thresholds_loadings_intercepts: intercepts equal (so 0 in every group); latent means free in
  the other groups.

Nested levels are compared as ``lavTestLRT(fit1, fit0)`` does for WLSMV by default
(``lav_test_diff_Satorra2000`` with ``scaled.shifted = TRUE``, "satorra.2000"): the difference
of the unscaled statistics, scaled and shifted from the projection onto the constraints that
the restricted model adds (found from both models' Jacobians, lavaan's ``A.method = "delta"``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.errors import InputError
from lcsurvey.sem.fit_measures import rmsea_ci
from lcsurvey.sem.invariance import CHEN, COLUMNS, as_table, chen_decision, groups_to_compare
from lcsurvey.sem.polychoric import PolychoricResult, pair_index, polychoric

log = logging.getLogger("lcsurvey")

LEVELS = (
    "configural",
    "thresholds",
    "thresholds_loadings",
    "thresholds_loadings_intercepts",
)
# What each level holds equal across groups (measEq.syntax's group.equal).
EQUAL = {
    "configural": frozenset(),
    "thresholds": frozenset({"thresholds"}),
    "thresholds_loadings": frozenset({"thresholds", "loadings"}),
    "thresholds_loadings_intercepts": frozenset({"thresholds", "loadings", "intercepts"}),
}


@dataclass
class Entry:
    """One parameter of one group: a fixed value or a label (equal labels, equal values)."""

    group: int
    kind: str  # lambda, tau, nu, delta, alpha, psi
    i: int
    j: int
    value: float = 0.0
    label: str | None = None


@dataclass
class MultigroupModel:
    """The parameters of a multi-group ordinal CFA, group by group.

    Attributes
    ----------
    factors : list of str
    items : list of str
    loads : list of (item index, factor index)
        The loadings of the model, the same in every group.
    nthresholds : list of int
        Thresholds per item.
    entries : list of Entry
        Every parameter of every group; free ones carry a label, and entries sharing a label
        are one free parameter.
    """

    factors: list[str]
    items: list[str]
    loads: list[tuple[int, int]]
    nthresholds: list[int]
    ngroups: int
    entries: list[Entry] = field(default_factory=list)

    def labels(self) -> list[str]:
        """The free parameters, in order of first appearance."""
        return list(dict.fromkeys(e.label for e in self.entries if e.label is not None))

    def matrices(self, x: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Per group: lambda (p x m), tau (list per item), nu, delta, alpha, psi."""
        p, m = len(self.items), len(self.factors)
        index = {label: k for k, label in enumerate(self.labels())}
        out = []
        for _ in range(self.ngroups):
            out.append(
                {
                    "lambda": np.zeros((p, m)),
                    "tau": np.zeros((p, max(self.nthresholds))),
                    "nu": np.zeros((p, 1)),
                    "delta": np.ones((p, 1)),
                    "alpha": np.zeros((m, 1)),
                    "psi": np.zeros((m, m)),
                }
            )
        for e in self.entries:
            value = x[index[e.label]] if e.label is not None else e.value
            out[e.group][e.kind][e.i, e.j] = value
            if e.kind == "psi":
                out[e.group]["psi"][e.j, e.i] = value
        return out


def _flat(values: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(values)


def implied(model: MultigroupModel, x: np.ndarray) -> list[np.ndarray]:
    """Per group the implied statistics: thresholds (item by item) then correlations."""
    p = len(model.items)
    rows, cols = pair_index(p)
    out = []
    for mats in model.matrices(x):
        lam, psi = mats["lambda"], mats["psi"]
        delta = mats["delta"][:, 0]
        mu = mats["nu"][:, 0] + lam @ mats["alpha"][:, 0]
        th = [(mats["tau"][j, : model.nthresholds[j]] - mu[j]) * delta[j] for j in range(p)]
        common = lam @ psi @ lam.T
        cor = delta[rows] * delta[cols] * common[rows, cols]
        out.append(_flat([*th, cor]))
    return out


def jacobian(model: MultigroupModel, x: np.ndarray) -> list[np.ndarray]:
    """Per group the derivatives of the implied statistics by the free parameters.

    Each entry with a label adds its derivative to its label's column (equal labels: the sum).
    """
    p = len(model.items)
    rows, cols = pair_index(p)
    nth = model.nthresholds
    start = np.concatenate([[0], np.cumsum(nth)]).astype(int)
    nstat = int(start[-1]) + len(rows)
    index = {label: k for k, label in enumerate(model.labels())}
    out = [np.zeros((nstat, len(index))) for _ in range(model.ngroups)]
    mats = model.matrices(x)
    item_of = np.repeat(np.arange(p), nth)  # the item of each threshold
    cache = []
    for m in mats:
        lam, psi = m["lambda"], m["psi"]
        lp = lam @ psi
        cache.append((lp, (lp @ lam.T)[rows, cols], m["nu"][:, 0] + lam @ m["alpha"][:, 0]))
    for e in model.entries:
        if e.label is None:
            continue
        m = mats[e.group]
        lam = m["lambda"]
        delta, alpha = m["delta"][:, 0], m["alpha"][:, 0]
        lp, common, mu = cache[e.group]
        d = np.zeros(nstat)
        th, cor = d[: start[-1]], d[start[-1] :]
        if e.kind == "tau":
            th[start[e.i] + e.j] = delta[e.i]
        elif e.kind == "nu":
            th[start[e.i] : start[e.i + 1]] = -delta[e.i]
        elif e.kind == "alpha":
            th[:] = -lam[item_of, e.i] * delta[item_of]
        elif e.kind == "delta":
            k = e.i
            th[start[k] : start[k + 1]] = m["tau"][k, : nth[k]] - mu[k]
            cor[:] = (
                np.where(rows == k, delta[cols], 0.0) * common
                + np.where(cols == k, delta[rows], 0.0) * common
            )
        elif e.kind == "lambda":
            k, f = e.i, e.j
            th[start[k] : start[k + 1]] = -alpha[f] * delta[k]
            cor[:] = (
                delta[rows]
                * delta[cols]
                * (np.where(rows == k, lp[cols, f], 0.0) + np.where(cols == k, lp[rows, f], 0.0))
            )
        else:  # psi
            f, h = e.i, e.j
            both = lam[rows, f] * lam[cols, h]
            if f != h:
                both = both + lam[rows, h] * lam[cols, f]
            cor[:] = delta[rows] * delta[cols] * both
        out[e.group][:, index[e.label]] += d
    return out


@dataclass
class GroupStats:
    """The sample statistics of one group."""

    name: str
    pc: PolychoricResult
    weights: np.ndarray  # the inverse diagonal of Gamma

    @property
    def n(self) -> int:
        return self.pc.n


@dataclass
class MultigroupFit:
    """A fitted multi-group WLSMV model.

    Attributes
    ----------
    model : MultigroupModel
    x : numpy.ndarray
        The free parameters (model.labels() order).
    vcov : numpy.ndarray
        Their robust covariance matrix.
    fit : dict
        ``npar, chisq, df, pvalue, chisq_scaled, df_scaled, pvalue_scaled,
        chisq_scaling_factor, chisq_shift, baseline_chisq, baseline_df, baseline_chisq_scaled,
        cfi, tli, rmsea, rmsea_ci_lower, rmsea_ci_upper`` and their ``_scaled`` versions, and
        ``srmr`` (lavaan's fitMeasures; SRMR on the correlations, weighted by group size).
    groups : list of GroupStats
    delta : list of numpy.ndarray
        The Jacobian per group at the estimates.
    """

    model: MultigroupModel
    x: np.ndarray
    vcov: np.ndarray
    fit: dict[str, float]
    groups: list[GroupStats]
    delta: list[np.ndarray]
    information: np.ndarray


def group_statistics(
    data: pd.DataFrame,
    items: list[str],
    group: str,
    order: list,
    labels: list | None = None,
    *,
    missing: str = "listwise",
) -> list[GroupStats]:
    """Thresholds, polychorics and Gamma per group: rows with a missing item dropped
    (``missing="listwise"``), or every row with an answer used pairwise (``"pairwise"``,
    lavaan's ``missing = "pairwise"``: lcsurvey.sem.polychoric per group).

    An item's categories are its distinct values over all groups, in ascending order (as
    lavaan's ``ordered =``, which makes them a factor). Each must be chosen in every group, or
    that group's thresholds would not exist: InputError names the item, the group (its label
    from `labels`, else its value) and the value nobody chose.
    """
    labels = [str(v) for v in order] if labels is None else [str(v) for v in labels]
    x = data[items].apply(pd.to_numeric, errors="coerce")
    answered = x.notna().all(axis=1) if missing == "listwise" else x.notna().any(axis=1)
    kept = answered & data[group].isin(order)
    x, values = x[kept].to_numpy(dtype=float), data.loc[kept, group].to_numpy()
    codes = np.full(x.shape, np.nan)
    categories = []
    for j in range(len(items)):
        seen = ~np.isnan(x[:, j])
        levels, codes[seen, j] = np.unique(x[seen, j], return_inverse=True)
        categories.append(levels)
    codes += 1
    empty = []  # (item, group label, categories nobody in that group chose)
    for value, label in zip(order, labels, strict=True):
        part = codes[values == value]
        for j, item in enumerate(items):
            answers = part[~np.isnan(part[:, j]), j].astype(int)
            counts = np.bincount(answers, minlength=len(categories[j]) + 1)[1:]
            unused = [_category(categories[j][c]) for c in np.flatnonzero(counts == 0)]
            if unused:
                empty.append((item, label, ", ".join(unused)))
    if empty:
        # All of them at once, so that the codebook can be mended in one go.
        listed = "; ".join(
            f"ordinal item {item}: nobody in group {label} of {group} chose {cats}"
            for item, label, cats in empty
        )
        raise InputError(
            f"{listed} (chosen in other groups); these items' thresholds cannot be compared "
            "across groups",
            column=empty[0][0],
            expected="every category of an item chosen in every group",
            hint="collapse each empty category with its neighbour in the codebook, or leave "
            "the group out",
        )
    out = []
    for value, label in zip(order, labels, strict=True):
        pc = polychoric(codes[values == value], items, missing=missing)
        out.append(GroupStats(label, pc, 1.0 / np.diag(pc.nacov)))
    return out


def _category(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def build_model(
    measurement: dict[str, list[str]], nthresholds: list[int], ngroups: int, level: str
) -> MultigroupModel:
    """The parameters of `level` (LEVELS) as measEq.syntax writes them (module docstring)."""
    if level not in EQUAL:
        raise InputError(f"unknown invariance level {level!r}", expected=", ".join(LEVELS))
    equal = EQUAL[level]
    items = list(dict.fromkeys(i for v in measurement.values() for i in v))
    factors = list(measurement)
    loads = [(items.index(i), f) for f, fac in enumerate(factors) for i in measurement[fac]]
    model = MultigroupModel(factors, items, loads, list(nthresholds), ngroups)
    add = model.entries.append
    for g in range(ngroups):
        tag = f".g{g + 1}"
        for i, f in loads:
            name = f"lambda.{i + 1}_{f + 1}"
            add(Entry(g, "lambda", i, f, label=name + ("" if "loadings" in equal else tag)))
        for j, k in enumerate(nthresholds):
            for t in range(k):
                name = f"{items[j]}.thr{t + 1}"
                add(Entry(g, "tau", j, t, label=name + ("" if "thresholds" in equal else tag)))
        # Intercepts and scales stay fixed in the reference group; the thresholds level frees
        # them in the others, and equal intercepts fix them at the reference value 0. A binary
        # item (one threshold) cannot have both free: its scale is freed only once the
        # intercepts are equal (measEq.syntax's rule).
        for j in range(len(items)):
            free_nu = g > 0 and "thresholds" in equal and "intercepts" not in equal
            free_scale = g > 0 and "thresholds" in equal
            if nthresholds[j] == 1:
                free_scale = free_scale and "intercepts" in equal
            add(Entry(g, "nu", j, 0, label=f"nu.{j + 1}{tag}" if free_nu else None))
            add(Entry(g, "delta", j, 0, 1.0, label=f"delta.{j + 1}{tag}" if free_scale else None))
        for f in range(len(factors)):
            free_mean = g > 0 and "intercepts" in equal
            add(Entry(g, "alpha", f, 0, label=f"alpha.{f + 1}{tag}" if free_mean else None))
            free_var = g > 0 and "loadings" in equal
            add(Entry(g, "psi", f, f, 1.0, label=f"psi.{f + 1}_{f + 1}{tag}" if free_var else None))
        for f in range(len(factors)):
            for h in range(f + 1, len(factors)):
                add(Entry(g, "psi", h, f, label=f"psi.{h + 1}_{f + 1}{tag}"))
    return model


def _start(model: MultigroupModel, groups: list[GroupStats]) -> np.ndarray:
    """Sample thresholds (first group holding the label), loadings from each factor's first
    principal component per group (first indicator positive), zero covariances, unit scales."""
    labels = model.labels()
    x = np.zeros(len(labels))
    seen = set()
    load_start = []
    for gs in groups:
        lam = np.zeros((len(model.items), len(model.factors)))
        for f in range(len(model.factors)):
            members = [i for i, h in model.loads if h == f]
            values, vectors = np.linalg.eigh(gs.pc.correlation[np.ix_(members, members)])
            vec = vectors[:, -1] * np.sqrt(max(values[-1], 1e-6))
            # lavaan's sign: the factor's first indicator loads positively.
            lam[members, f] = vec if vec[0] >= 0 else -vec
        load_start.append(lam)
    index = {label: k for k, label in enumerate(labels)}
    for e in model.entries:
        if e.label is None or e.label in seen:
            continue
        seen.add(e.label)
        k = index[e.label]
        if e.kind == "tau":
            x[k] = groups[e.group].pc.thresholds[e.i][e.j]
        elif e.kind == "lambda":
            x[k] = load_start[e.group][e.i, e.j]
        elif e.kind in ("delta",) or (e.kind == "psi" and e.i == e.j):
            x[k] = 1.0
    return x


class NotConverged(RuntimeError):
    """The estimation did not reach a minimum within its iterations."""


def _minimise(model, groups, x: np.ndarray, max_iter: int = 300) -> np.ndarray:
    """Gauss-Newton with step halving on the weighted residuals of all groups.

    Stops when a step changes no parameter by more than 1e-10, or when no step along the
    Gauss-Newton direction lowers the fit function (the minimum to rounding); raises
    NotConverged after `max_iter` steps.
    """
    scale = [np.sqrt((gs.n - 1) * gs.weights) for gs in groups]
    stats = [gs.pc.statistics for gs in groups]

    def resid(z):
        return _flat([s * (o - e) for s, o, e in zip(scale, stats, implied(model, z), strict=True)])

    current = float(np.sum(resid(x) ** 2))
    for _ in range(max_iter):
        jac = np.vstack([-s[:, None] * d for s, d in zip(scale, jacobian(model, x), strict=True)])
        # The normal equations: J has full column rank for an identified model, and the
        # small system is much cheaper than an SVD of J.
        step = np.linalg.solve(jac.T @ jac, -jac.T @ resid(x))
        for _ in range(60):
            trial = x + step
            value = float(np.sum(resid(trial) ** 2))
            if value <= current:
                break
            step = step / 2.0
        else:
            return x
        done = np.max(np.abs(trial - x)) < 1e-10
        x, current = trial, value
        if done:
            return x
    raise NotConverged(f"no convergence in {max_iter} Gauss-Newton steps")


def _traces(groups: list[GroupStats], delta: list[np.ndarray], fg, e_inv) -> tuple[float, float]:
    """tr(UG) and tr(UG^2) of lavaan's ``U Gamma`` over all groups, block by block.

    lavaan builds ``V = bdiag(f_g W_g)``, ``Gamma = bdiag(Gamma_g / f_g)`` and
    ``U = V - V D E^-1 D' V``; so ``U Gamma = A - B C`` with ``A = bdiag(W_g Gamma_g)``,
    ``B`` the stacked ``f_g W_g D_g`` and ``C = E^-1 [(W_g D_g)' Gamma_g]``, and
    ``tr((A - BC)^2) = tr(A^2) - 2 tr(C A B) + tr((C B)^2)`` needs no matrix of all groups.
    """
    tr_a = tr_a2 = tr_cb = tr_cab = 0.0
    cb_all = np.zeros_like(e_inv)
    for f, gs, d in zip(fg, groups, delta, strict=True):
        wd = gs.weights[:, None] * d
        a = gs.weights[:, None] * gs.pc.nacov
        c = e_inv @ (wd.T @ gs.pc.nacov)
        cb = c @ (f * wd)
        tr_a += float(np.trace(a))
        tr_a2 += float(np.sum(a * a.T))
        tr_cb += float(np.trace(cb))
        tr_cab += float(np.sum((c @ a) * (f * wd).T))
        cb_all += cb
    return tr_a - tr_cb, tr_a2 - 2.0 * tr_cab + float(np.sum(cb_all * cb_all.T))


def fit_model(model: MultigroupModel, groups: list[GroupStats], start=None) -> MultigroupFit:
    """Estimate `model` on the groups' statistics; robust SEs and lavaan's fit measures."""
    x = _minimise(model, groups, _start(model, groups) if start is None else start)
    n_g = np.array([gs.n for gs in groups], dtype=float)
    ntotal = n_g.sum()
    fg = n_g / ntotal
    resid = [gs.pc.statistics - e for gs, e in zip(groups, implied(model, x), strict=True)]
    stat = float(
        sum(
            (n - 1) * np.sum(gs.weights * r * r)
            for n, gs, r in zip(n_g, groups, resid, strict=True)
        )
    )
    nstat = sum(len(r) for r in resid)
    df = nstat - len(x)
    delta = jacobian(model, x)
    info = sum(
        f * d.T @ (gs.weights[:, None] * d) for f, d, gs in zip(fg, delta, groups, strict=True)
    )
    e_inv = np.linalg.inv(info)
    meat = sum(
        f * (gs.weights[:, None] * d).T @ gs.pc.nacov @ (gs.weights[:, None] * d)
        for f, d, gs in zip(fg, delta, groups, strict=True)
    )
    # N - G: lavaan's count for (D)WLS with ordered items (N - 1 with one group).
    vcov = e_inv @ meat @ e_inv / (ntotal - len(groups))
    tr1, tr2 = _traces(groups, delta, fg, e_inv)
    a = np.sqrt(df / tr2)
    shift = df - a * tr1
    scaled = a * stat + shift

    # Baseline: every correlation zero, thresholds free in each group.
    nth = [sum(len(t) for t in gs.pc.thresholds) for gs in groups]
    base_stat = float(
        sum(
            (n - 1) * np.sum(gs.weights[k:] * gs.pc.statistics[k:] ** 2)
            for n, gs, k in zip(n_g, groups, nth, strict=True)
        )
    )
    base_df = nstat - sum(nth)
    # Its U Gamma is block diagonal: per group diag(0 for thresholds, W) Gamma_g.
    ug = [
        np.concatenate([np.zeros(k), gs.weights[k:]])[:, None] * gs.pc.nacov
        for gs, k in zip(groups, nth, strict=True)
    ]
    base_tr1 = sum(float(np.trace(u)) for u in ug)
    base_tr2 = sum(float(np.sum(u * u.T)) for u in ug)
    a_b = np.sqrt(base_df / base_tr2)
    base_scaled = a_b * base_stat + base_df - a_b * base_tr1

    fit = {
        "npar": float(len(x)),
        "chisq": stat,
        "df": float(df),
        "pvalue": float(special.chdtrc(df, stat)),
        "chisq_scaled": scaled,
        "df_scaled": float(df),
        "pvalue_scaled": float(special.chdtrc(df, scaled)),
        "chisq_scaling_factor": 1.0 / a,
        "chisq_shift": shift,
        "baseline_chisq": base_stat,
        "baseline_df": float(base_df),
        "baseline_chisq_scaled": base_scaled,
    }
    ng = len(groups)
    for suffix, t, tb in (("", stat, base_stat), ("_scaled", scaled, base_scaled)):
        fit["cfi" + suffix] = 1.0 - max(t - df, 0.0) / max(t - df, tb - base_df, 0.0)
        fit["tli" + suffix] = (tb / base_df - t / df) / (tb / base_df - 1.0)
        # lavaan counts N - G here (the Wishart-type count, as N - 1 for one group).
        fit["rmsea" + suffix] = float(
            np.sqrt(max(t - df, 0.0) / (df * (ntotal - ng))) * np.sqrt(ng)
        )
        lower, upper = rmsea_ci(t, df, int(ntotal) - ng, groups=ng)
        fit["rmsea_ci_lower" + suffix], fit["rmsea_ci_upper" + suffix] = lower, upper
    fit["srmr"] = _srmr(model, groups, x, fg)
    return MultigroupFit(model, x, vcov, fit, groups, delta, info)


def _srmr(model, groups, x, fg) -> float:
    p = len(model.items)
    values = []
    for gs, e in zip(groups, implied(model, x), strict=True):
        k = sum(len(t) for t in gs.pc.thresholds)
        r = gs.pc.statistics[k:] - e[k:]
        values.append(np.sqrt(np.sum(r * r) / (p * (p + 1) / 2)))
    return float(np.sum(fg * np.array(values)))


def estimates_table(fit: MultigroupFit) -> pd.DataFrame:
    """lavaan's parameterEstimates per group: ``group, lhs, op, rhs, label, est, se``.

    Loadings (``=~``), thresholds (``item | t1``), factor variances and covariances and the
    residual variances of the latent responses (``~~``; derived in the delta
    parameterisation, so no standard error), intercepts and latent means (``~1``) and scale
    factors (``~*~``). ``label`` is the equality label: rows that share one are held equal.
    """
    model = fit.model
    labels = model.labels()
    index = {label: k for k, label in enumerate(labels)}
    se = np.sqrt(np.clip(np.diag(fit.vcov), 0.0, None))
    mats = model.matrices(fit.x)
    rows = []
    kinds = ("lambda", "tau", "psi", "nu", "alpha", "delta")
    for g, gs in enumerate(fit.groups):
        entries = [e for e in model.entries if e.group == g]
        entries.sort(key=lambda e: kinds.index(e.kind))
        for e in entries:
            value = mats[g][e.kind][e.i, e.j]
            err = float(se[index[e.label]]) if e.label is not None else 0.0
            lhs, op, rhs = _names(model, e)
            rows.append((gs.name, lhs, op, rhs, e.label or "", float(value), err))
        lam, psi = mats[g]["lambda"], mats[g]["psi"]
        common = np.diag(lam @ psi @ lam.T)
        delta = mats[g]["delta"][:, 0]
        for j, item in enumerate(model.items):
            rows.append((gs.name, item, "~~", item, "", float(1 / delta[j] ** 2 - common[j]), 0.0))
    return pd.DataFrame(rows, columns=["group", "lhs", "op", "rhs", "label", "est", "se"])


def _names(model: MultigroupModel, e: Entry) -> tuple[str, str, str]:
    items, factors = model.items, model.factors
    if e.kind == "lambda":
        return factors[e.j], "=~", items[e.i]
    if e.kind == "tau":
        return items[e.i], "|", f"t{e.j + 1}"
    if e.kind == "psi":
        return factors[min(e.i, e.j)], "~~", factors[max(e.i, e.j)]
    if e.kind == "nu":
        return items[e.i], "~1", ""
    if e.kind == "alpha":
        return factors[e.i], "~1", ""
    return items[e.i], "~*~", items[e.i]


def negative_variances(fit: MultigroupFit) -> list[str]:
    """A note per group whose latent responses have a negative residual variance (a
    communality above one: lavaan warns the same), naming the items."""
    est = estimates_table(fit)
    bad = est[(est.op == "~~") & (est.lhs == est.rhs) & est.lhs.isin(fit.model.items)]
    bad = bad[bad.est < 0]
    return [
        f"negative residual variance of {', '.join(part.lhs)} in group {name}"
        for name, part in bad.groupby("group", sort=False)
    ]


def _orthogonal_complement(h: np.ndarray) -> np.ndarray:
    """Columns spanning the orthogonal complement of the column space of `h` (lavaan's
    lav_matrix_orthogonal_complement: from the QR decomposition)."""
    q, r = np.linalg.qr(h, mode="complete")
    rank = int(np.sum(np.abs(np.diag(r)) > 1e-8 * max(1.0, np.abs(r).max()))) if r.size else 0
    return q[:, rank:]


def difference_test(less: MultigroupFit, more: MultigroupFit) -> dict:
    """lavTestLRT(less, more) for WLSMV: the scaled-shifted Satorra (2000) difference.

    `more` is nested in `less` (more constraints). As lavaan's lav_test_diff_Satorra2000
    (H1 = TRUE, A.method = "delta", scaled.shifted = TRUE): the constraints are the
    orthogonal complement ``A`` of ``H = D1^+ D0`` (both Jacobians stacked over groups, each
    at its own estimates), ``P`` the expected information of `less`, and with
    ``M = P^-1 A' (A P^-1 A')^+ A P^-1`` the traces of ``U Gamma`` with
    ``U = V D1 M D1' V``. The statistic is ``a (T0 - T1) + b`` with ``a = sqrt(m / tr(UG^2))``,
    ``b = m - a tr(UG)``, on ``m`` degrees of freedom.

    Returns
    -------
    dict
        delta_chisq, delta_df, delta_pvalue, delta_method ("satorra.2000").
    """
    m = int(more.fit["df"] - less.fit["df"])
    t_delta = more.fit["chisq"] - less.fit["chisq"]
    if m == 0:
        return {
            "delta_chisq": t_delta,
            "delta_df": 0,
            "delta_pvalue": np.nan,
            "delta_method": "satorra.2000",
        }
    d1, d0 = np.vstack(less.delta), np.vstack(more.delta)
    h = np.linalg.solve(d1.T @ d1, d1.T @ d0)  # D1^+ D0 (D1 has full column rank)
    a_mat = _orthogonal_complement(h).T
    p_inv = np.linalg.inv(less.information)
    apa = a_mat @ p_inv @ a_mat.T
    keep = ~(
        (np.abs(apa.sum(axis=0)) < np.sqrt(np.finfo(float).eps))
        & (np.abs(apa.sum(axis=1)) < np.sqrt(np.finfo(float).eps))
    )
    a_mat = a_mat[keep]
    proj = p_inv @ a_mat.T @ np.linalg.pinv(a_mat @ p_inv @ a_mat.T) @ a_mat @ p_inv
    groups = less.groups
    n_g = np.array([gs.n for gs in groups], dtype=float)
    fg = n_g / n_g.sum()
    # With M = sum f_g (W_g D1_g)' Gamma_g (W_g D1_g): tr(UG) = tr(M proj) and
    # tr(UG^2) = tr(proj M proj M), lavaan's V D1 proj D1' V bdiag(f_g Gamma_g) by blocks.
    mid = np.zeros_like(proj)
    for f, gs, d in zip(fg, groups, less.delta, strict=True):
        wd = gs.weights[:, None] * d
        mid += f * wd.T @ gs.pc.nacov @ wd
    pm = proj @ mid
    trace1 = float(np.trace(pm))
    trace2 = float(np.sum(pm * pm.T))
    a = np.sqrt(m / trace2)
    stat = t_delta * a + (m - a * trace1)
    return {
        "delta_chisq": float(stat),
        "delta_df": m,
        "delta_pvalue": float(special.chdtrc(m, stat)),
        "delta_method": "satorra.2000",
    }


# The Chen (2007) cut-offs each level is judged by (lcsurvey.sem.invariance.CHEN): thresholds
# and intercepts are locations (Chen's intercept cut-offs), loadings Chen's loading ones.
CHEN_LEVEL = {
    "thresholds": "scalar",
    "thresholds_loadings": "metric",
    "thresholds_loadings_intercepts": "scalar",
}
# Columns of the ordinal invariance table beyond lcsurvey.sem.invariance.COLUMNS.
EXTRA_COLUMNS = [
    "estimator",
    "chisq_shift",
    "cfi_scaled",
    "tli_scaled",
    "rmsea_scaled",
    "rmsea_ci_lower_scaled",
    "rmsea_ci_upper_scaled",
]


def chen_rule(level: str) -> str:
    """The decision rule of an ordinal level, as written in the output."""
    if level not in CHEN_LEVEL:
        return ""
    cfi, rmsea, srmr = CHEN[CHEN_LEVEL[level]]
    return (
        f"Chen (2007): {level} holds if delta CFI >= {cfi:.3f} and (delta RMSEA <= "
        f"{rmsea:.3f} or delta SRMR <= {srmr:.3f}), against the previous level; "
        "CFI and RMSEA scaled (WLSMV)"
    )


@dataclass
class OrdinalInvariance:
    """The four levels fitted: fits and errors by level, the groups' statistics."""

    fits: dict[str, MultigroupFit]
    errors: dict[str, str]
    groups: list[GroupStats]


def fit_ordinal_invariance(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    *,
    group_order: list | None = None,
    group_labels: list | None = None,
    missing: str = "listwise",
) -> OrdinalInvariance:
    """Fit the four levels (LEVELS) of `factors` with `group` as groups, by WLSMV.

    Parameters
    ----------
    data : DataFrame
        The ordinal items (any ordered codes) and the grouping column.
    factors : dict
        Factor -> its indicators (the model's =~ lines).
    group : str
    group_order : list, optional
        The groups (the first is the reference); by default the sorted distinct values.
    group_labels : list, optional
        Their names in messages and tables.
    missing : {"listwise", "pairwise"}
        lavaan's ``missing`` (group_statistics).

    Raises
    ------
    InputError
        A missing column, a factor with fewer than two items, an item with more than 15
        categories, or a category nobody chose in one group (group_statistics).
    """
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    absent = [v for v in [*items, group] if v not in data.columns]
    if absent:
        raise InputError(
            f"the data lack the columns {absent} for the invariance models",
            expected="item names from the codebook and the grouping variable",
        )
    for factor, indicators in factors.items():
        if len(indicators) < 2:
            raise InputError(
                f"factor {factor!r} has fewer than two items; the ordinal invariance models "
                "need at least two per factor",
                value=factor,
            )
    order = sorted(data[group].dropna().unique()) if group_order is None else list(group_order)
    if missing not in ("listwise", "pairwise"):
        raise InputError(
            f"missing {missing!r} is not available for ordinal items",
            value=missing,
            expected="listwise or pairwise",
        )
    groups = group_statistics(data, items, group, order, group_labels, missing=missing)
    nth = [len(t) for t in groups[0].pc.thresholds]
    fits, errors = {}, {}
    for level in LEVELS:
        try:
            fits[level] = fit_model(build_model(factors, nth, len(groups), level), groups)
        except (np.linalg.LinAlgError, NotConverged) as err:
            # A singular system: the model is not identified in these data (e.g. a factor
            # whose items do not correlate in one group).
            errors[level] = f"{level}: the model cannot be estimated ({err})"
    return OrdinalInvariance(fits, errors, groups)


def ordinal_invariance(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    group: str,
    *,
    order: list[tuple[object, str]] | None = None,
    min_size: int = 50,
    missing: str = "listwise",
) -> pd.DataFrame:
    """The invariance table of ordinal items: lcsurvey.sem.invariance.COLUMNS + EXTRA_COLUMNS.

    One row per level (LEVELS) with lavaan's WLSMV fit measures (``chisq``, ``cfi``, ``tli``,
    ``rmsea`` plain; ``chisq_scaled`` and the ``_scaled`` indices from the scaled-shifted
    test), the test against the level before (difference_test, ``delta_method``
    "satorra.2000") and Chen's decision (CHEN_LEVEL) from ``delta_cfi`` and ``delta_rmsea``,
    the differences of the *scaled* CFI and RMSEA, and ``delta_srmr``. ``aic``, ``bic`` and
    ``nclusters`` are empty (no likelihood, no clusters).

    Groups below `min_size` complete rows, or with an item without two answers or variance,
    are left out with a note (lcsurvey.sem.invariance.usable_groups). When fewer than two
    groups are left, or the data cannot be used (a category nobody chose in one group), the
    table is a single row whose note says why.

    Parameters
    ----------
    data : DataFrame
    factors : dict
        Factor -> its indicators.
    group : str
    order : list of (value, label), optional
        The groups in the order wanted (the first is the reference group); by default the
        sorted distinct values labelled by themselves.
    min_size : int
    missing : {"listwise", "pairwise"}
        lavaan's ``missing``: complete rows, or every row with an answer (group_statistics);
        `min_size` counts the same rows.
    """
    # usable_groups counts the rows with any answer unless missing is "listwise"
    items, kept, notes = groups_to_compare(
        data, factors, group, order, min_size=min_size, missing=missing
    )
    base = {
        "groups": group,
        "group_values": ";".join(label for _, label in kept),
        "estimator": "WLSMV",
    }
    if len(kept) < 2:
        reason = (
            f"fewer than two groups of {group} with at least {min_size} respondents; "
            "no invariance test"
        )
        return _table([{**base, "level": "", "note": "; ".join([reason, *notes])}])
    try:
        result = fit_ordinal_invariance(
            data,
            factors,
            group,
            group_order=[v for v, _ in kept],
            group_labels=[label for _, label in kept],
            missing=missing,
        )
    except InputError as err:
        log.warning("ordinal invariance by %s: %s", group, err.message)
        return _table([{**base, "level": "", "note": "; ".join([err.message, *notes])}])
    rows = []
    previous = None
    for k, level in enumerate(LEVELS):
        row = {**base, "level": level, "rule": chen_rule(level)}
        level_notes = list(notes)
        fit = result.fits.get(level)
        if fit is None:
            level_notes.append(result.errors[level])
            log.warning("ordinal invariance by %s: %s", group, result.errors[level])
        else:
            m = fit.fit
            row.update({c: m[c] for c in [*COLUMNS, *EXTRA_COLUMNS] if c in m})
            row["ntotal"] = sum(gs.n for gs in fit.groups)
            level_notes.extend(negative_variances(fit))
            if previous is not None:
                before = previous.fit
                row["delta_cfi"] = m["cfi_scaled"] - before["cfi_scaled"]
                row["delta_rmsea"] = m["rmsea_scaled"] - before["rmsea_scaled"]
                row["delta_srmr"] = m["srmr"] - before["srmr"]
                row["decision"] = chen_decision(
                    CHEN_LEVEL[level], row["delta_cfi"], row["delta_rmsea"], row["delta_srmr"]
                )
                row.update(difference_test(previous, fit))
            elif k > 0:
                level_notes.append("no test: the level before was not estimated")
        row["note"] = "; ".join(level_notes)
        rows.append(row)
        previous = fit
    return _table(rows)


def _table(rows: list[dict]) -> pd.DataFrame:
    frame = as_table(rows)
    extra = pd.DataFrame(rows).reindex(columns=EXTRA_COLUMNS)
    extra["estimator"] = extra["estimator"].astype(object).fillna("").astype(str)
    return pd.concat([frame, extra], axis=1)
