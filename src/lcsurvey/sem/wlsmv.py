"""Confirmatory factor analysis of ordinal items by WLSMV, as lavaan 0.6.14.

``cfa(model, ordered = TRUE, estimator = "WLSMV")`` with lavaan's defaults: the delta
parameterisation (latent responses standardised, residual variances ``1 - communality``), the
first loading of each factor fixed to 1, correlated factors, thresholds free (so they equal the
sample thresholds), diagonally weighted least squares on the polychoric matrix, robust
(sandwich) standard errors and the mean-and-variance adjusted ("scaled-shifted") test. Missing
values are dropped listwise.

The implied correlation matrix is built here for the measurement model (``=~`` lines, factors
freely correlated); structural paths and equality labels are not handled yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.errors import InputError
from lcsurvey.sem.polychoric import PolychoricResult, pair_index, polychoric
from lcsurvey.sem.syntax import parse_model


@dataclass(frozen=True)
class WlsmvFit:
    """Estimates and the fit of a WLSMV CFA.

    Attributes
    ----------
    estimates : pandas.DataFrame
        lavaan's parameter table: ``lhs, op, rhs, est, se, std_all`` with ``=~``, ``|`` (``item | t1``),
        ``~~``, ``~1`` and ``~*~`` rows.
    fit : dict of str to float
        ``chisq, df, pvalue, chisq_scaled, df_scaled, pvalue_scaled, chisq_scaling_factor,
        chisq_shift, baseline_chisq, baseline_df, baseline_chisq_scaled, cfi, tli, rmsea,
        cfi_scaled, tli_scaled, rmsea_scaled``.
    polychoric : PolychoricResult
        The sample statistics the model was fitted to.
    """

    estimates: pd.DataFrame
    fit: dict[str, float]
    polychoric: PolychoricResult


class _Cfa:
    """Loadings and factor covariances of a CFA, and the correlations they imply."""

    def __init__(self, measurement: dict[str, list[str]], items: list[str]):
        self.factors = list(measurement)
        self.items = items
        self.load: list[tuple[int, int]] = []  # free loadings: (item, factor)
        self.marker: list[tuple[int, int]] = []
        for f, factor in enumerate(self.factors):
            for pos, item in enumerate(measurement[factor]):
                (self.marker if pos == 0 else self.load).append((items.index(item), f))
        m = len(self.factors)
        self.psi = [(g, f) for f in range(m) for g in range(f, m)]  # lower triangle, by column
        self.npar = len(self.load) + len(self.psi)

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam = np.zeros((len(self.items), len(self.factors)))
        for i, f in self.marker:
            lam[i, f] = 1.0
        for (i, f), v in zip(self.load, theta[: len(self.load)], strict=True):
            lam[i, f] = v
        psi = np.zeros((len(self.factors),) * 2)
        for (g, f), v in zip(self.psi, theta[len(self.load) :], strict=True):
            psi[g, f] = psi[f, g] = v
        return lam, psi

    def correlations(self, theta: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        lam, psi = self.matrices(theta)
        return (lam @ psi @ lam.T)[rows, cols]

    def jacobian(self, theta: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Derivatives of the implied correlations (vech order) by the free parameters."""
        lam, psi = self.matrices(theta)
        lp = lam @ psi
        jac = np.zeros((len(rows), self.npar))
        for c, (i, f) in enumerate(self.load):
            jac[:, c] = np.where(rows == i, lp[cols, f], 0.0) + np.where(
                cols == i, lp[rows, f], 0.0
            )
        for c, (g, f) in enumerate(self.psi):
            d = lam[rows, g] * lam[cols, f]
            if g != f:
                d = d + lam[rows, f] * lam[cols, g]
            jac[:, len(self.load) + c] = d
        return jac


def _gauss_newton(resid, jac, theta: np.ndarray) -> np.ndarray:
    """Minimise the sum of squared residuals by Gauss-Newton steps with step halving."""
    current = float(np.sum(resid(theta) ** 2))
    for _ in range(500):
        step = np.linalg.lstsq(jac(theta), -resid(theta), rcond=None)[0]
        for _ in range(60):
            trial = theta + step
            value = float(np.sum(resid(trial) ** 2))
            if value <= current:
                break
            step = step / 2.0
        else:
            break
        done = np.max(np.abs(trial - theta)) < 1e-11
        theta, current = trial, value
        if done:
            break
    return theta


def _start_values(cfa: _Cfa, cor: np.ndarray) -> np.ndarray:
    """Loadings from each factor's first principal component, rescaled to its marker.

    Starting at the principal-component signs keeps reverse-keyed items (negative loadings)
    out of the poor local minima a start at all-ones can lead to.
    """
    lam0 = np.zeros((len(cfa.items), len(cfa.factors)))
    var0 = np.zeros(len(cfa.factors))
    for marker, f in cfa.marker:
        members = [marker] + [i for i, g in cfa.load if g == f]
        values, vectors = np.linalg.eigh(cor[np.ix_(members, members)])
        vec = vectors[:, -1] * np.sqrt(values[-1])
        if abs(vec[0]) < 1e-3:
            vec[0] = 1e-3
        lam0[members, f] = vec / vec[0]
        var0[f] = vec[0] ** 2
    loads = [lam0[i, f] for i, f in cfa.load]
    return np.array(loads + [var0[f] if g == f else 0.0 for g, f in cfa.psi])


def _scaled_shifted(stat: float, df: int, ugamma: np.ndarray) -> tuple[float, float, float]:
    """lavaan's scaled-shifted statistic: ``a * T + b`` with ``a = sqrt(df / tr(UG^2))``."""
    tr1 = float(np.trace(ugamma))
    tr2 = float(np.sum(ugamma * ugamma.T))
    a = np.sqrt(df / tr2)
    shift = df - a * tr1
    return a * stat + shift, 1.0 / a, shift


def fit_wlsmv_syntax(data: pd.DataFrame, syntax: str, *, name: str = "model") -> WlsmvFit:
    """Fit lavaan syntax made of ``=~`` lines (a CFA with correlated factors) by WLSMV.

    Other lines (regressions, residual covariances, defined parameters) and modifiers
    (labels, fixed values) are refused with a message naming the line, rather than fitted
    as a different model.
    """
    for number, raw in enumerate(syntax.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=~" not in line or "*" in line or any(op in line for op in ("~~", ":=", "==")):
            raise InputError(
                f"model {name}: the ordinal (WLSMV) estimator fits only factor lines "
                "'factor =~ item + item ...' without labels or fixed values",
                row=number,
                value=line,
                expected="a line 'factor =~ item1 + item2 + ...'",
                hint="fit this model with the default estimator, or drop the line",
            )
    return fit_wlsmv(data, parse_model(syntax, name=name).measurement, name=name)


def fit_wlsmv(
    data: pd.DataFrame, measurement: dict[str, list[str]], *, name: str = "model"
) -> WlsmvFit:
    """Fit a CFA of ordinal items by WLSMV as lavaan 0.6.14.

    Parameters
    ----------
    data : pandas.DataFrame
        Category numbers (1..K) of the items, one column per item; other columns are ignored.
    measurement : dict of str to list of str
        Factor -> its items (the model's ``=~`` lines, e.g. ``ModelSpec.measurement``).
    name : str
        Model name, for messages.

    Returns
    -------
    WlsmvFit
    """
    items: list[str] = []
    for indicators in measurement.values():
        items.extend(i for i in indicators if i not in items)
    missing = [i for i in items if i not in data.columns]
    if missing:
        raise InputError(
            f"model {name} names items that are not in the data: {', '.join(missing)}",
            expected="every item of the model as a column of the data",
        )
    pc = polychoric(data[items].to_numpy(dtype=float), items)
    cfa = _Cfa(measurement, items)
    rows, cols = pair_index(len(items))
    r = pc.correlation[rows, cols]
    nth = sum(len(t) for t in pc.thresholds)
    gamma = pc.nacov
    w = 1.0 / np.diag(gamma)
    w_cor = w[nth:]
    n = pc.n

    def resid(theta: np.ndarray) -> np.ndarray:
        return np.sqrt(w_cor) * (r - cfa.correlations(theta, rows, cols))

    def jac(theta: np.ndarray) -> np.ndarray:
        return -np.sqrt(w_cor)[:, None] * cfa.jacobian(theta, rows, cols)

    start = _start_values(cfa, pc.correlation)
    theta = _gauss_newton(resid, jac, start)
    # lavaan counts N - 1 for the test statistic and the sandwich of (D)WLS with ordered
    # items, while Gamma itself is the N-based asymptotic covariance.
    stat = (n - 1) * float(np.sum(resid(theta) ** 2))
    df = len(r) - cfa.npar

    # Delta: thresholds are free (identity block), correlations depend on loadings and psi.
    ntot = nth + len(r)
    delta = np.zeros((ntot, nth + cfa.npar))
    delta[:nth, :nth] = np.eye(nth)
    delta[nth:, nth:] = cfa.jacobian(theta, rows, cols)
    wd = w[:, None] * delta
    bread = np.linalg.inv(delta.T @ wd)
    vcov = bread @ (wd.T @ gamma @ wd) @ bread / (n - 1)
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    u = np.diag(w) - wd @ bread @ wd.T
    chisq_scaled, scaling, shift = _scaled_shifted(stat, df, u @ gamma)

    # Baseline: all correlations zero, thresholds free.
    base_stat = (n - 1) * float(np.sum(w_cor * r * r))
    base_df = len(r)
    u_base = np.diag(np.concatenate([np.zeros(nth), w_cor]))
    base_scaled, _, _ = _scaled_shifted(base_stat, base_df, u_base @ gamma)

    fit = {
        "chisq": stat,
        "df": float(df),
        "pvalue": float(special.chdtrc(df, stat)),
        "chisq_scaled": chisq_scaled,
        "df_scaled": float(df),
        "pvalue_scaled": float(special.chdtrc(df, chisq_scaled)),
        "chisq_scaling_factor": scaling,
        "chisq_shift": shift,
        "baseline_chisq": base_stat,
        "baseline_df": float(base_df),
        "baseline_chisq_scaled": base_scaled,
    }
    for suffix, t, tb in (("", stat, base_stat), ("_scaled", chisq_scaled, base_scaled)):
        fit["cfi" + suffix] = 1.0 - max(t - df, 0.0) / max(t - df, tb - base_df, 0.0)
        fit["tli" + suffix] = (tb / base_df - t / df) / (tb / base_df - 1.0)
        # lavaan divides by N - 1 here (its "rmsea" uses the Wishart-type count).
        fit["rmsea" + suffix] = float(np.sqrt(max(t - df, 0.0) / (df * (n - 1))))

    est = _table(cfa, pc, theta, se, nth)
    return WlsmvFit(est, fit, pc)


def _table(
    cfa: _Cfa, pc: PolychoricResult, theta: np.ndarray, se: np.ndarray, nth: int
) -> pd.DataFrame:
    """lavaan's parameter table, with ``std_all`` (latent responses have variance one)."""
    lam, psi = cfa.matrices(theta)
    sd = np.sqrt(np.diag(psi))
    se_free = dict(zip(cfa.load, se[nth : nth + len(cfa.load)], strict=True))
    out: list[tuple[str, str, str, float, float, float]] = []
    for f, factor in enumerate(cfa.factors):
        for i in np.flatnonzero(lam[:, f] != 0):
            se_i = se_free.get((int(i), f), 0.0)
            out.append((factor, "=~", cfa.items[i], lam[i, f], se_i, lam[i, f] * sd[f]))
    k = 0
    for name, th in zip(pc.names, pc.thresholds, strict=True):
        for t, v in enumerate(th):
            out.append((name, "|", f"t{t + 1}", float(v), float(se[k]), float(v)))
            k += 1
    communality = np.diag(lam @ psi @ lam.T)
    for i, name in enumerate(cfa.items):
        out.append((name, "~~", name, 1.0 - communality[i], 0.0, 1.0 - communality[i]))
    se_psi = dict(zip(cfa.psi, se[nth + len(cfa.load) :], strict=True))
    for f in range(len(cfa.factors)):
        for g in range(f, len(cfa.factors)):
            value = psi[g, f]
            out.append(
                (
                    cfa.factors[f],
                    "~~",
                    cfa.factors[g],
                    value,
                    float(se_psi[(g, f)]),
                    value / (sd[f] * sd[g]),
                )
            )
    # Delta parameterisation: latent-response intercepts and factor means fixed at zero,
    # scale factors at one (lavaan lists them all).
    for name in [*cfa.items, *cfa.factors]:
        out.append((name, "~1", "", 0.0, 0.0, 0.0))
    for name in cfa.items:
        out.append((name, "~*~", name, 1.0, 0.0, 1.0))
    return pd.DataFrame(out, columns=["lhs", "op", "rhs", "est", "se", "std_all"])
