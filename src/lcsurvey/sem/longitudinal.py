"""Longitudinal measurement invariance: the same people measured on several occasions.

The measurement part of a model (its `=~` lines) is written once per occasion in one
single-group CFA, as semTools' measEq.syntax(configural.model, longFacNames = ,
longIndNames = , long.equal = , auto = "all") fitted by lavaan's cfa(): a factor per construct
and occasion, all factors correlated, the residuals of the same item correlated across every
pair of occasions, and three levels, each nested in the one before:

- configural: loadings, intercepts and residual variances free per occasion, latent means 0;
- metric: each item's loadings equal across occasions (long.equal = "loadings");
- scalar: loadings and intercepts equal, the latent means 0 at the first occasion and free at
  the later ones (long.equal = c("loadings", "intercepts"));
- strict (optional): residual variances equal too ("residuals").

Identification: the first loading of every factor is 1 (lavaan's marker). measEq.syntax's
default ID.fac = "std.lv" fixes the first occasion's factor variances at 1 instead; both
identify the same models (the metric and scalar constraints included), so the log-likelihood,
chi-square, df and every fit index are the same; only the scale of the loadings and factor
variances differs.

Estimation, fit measures, the cluster-robust test and the likelihood-ratio test between levels
are those of the multi-group engine with one group (lcsurvey.sem.multigroup: the model
Sigma = Lambda Psi Lambda' + Theta, mu = nu + Lambda alpha, with Theta's residual covariances
across occasions as GroupLayout.resid_cov), so FIML counts a person who skipped items or an
occasion's items, and Chen's (2007) decisions and lavTestLRT's difference test are those of
lcsurvey.sem.invariance. A person is one row (wide data): the columns of item v at occasion t
are named column_name(v, t).

References: Widaman, Ferrer & Conger (2010), Factorial invariance within longitudinal
structural equation models, Child Development Perspectives 4: 10-18; Liu et al. (2017),
Testing measurement invariance in longitudinal data with ordered-categorical measures,
Psychological Methods 22: 486-506 (semTools' measEq.syntax).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.clusters import cluster_codes
from lcsurvey.sem.invariance import (
    COLUMNS,
    as_table,
    chen_decision,
    chen_rule,
    fit_one_level,
    likelihood_ratio_test,
)
from lcsurvey.sem.multigroup import (
    LEVELS,
    STRICT,
    GroupData,
    GroupLayout,
    Layout,
    LevelFit,
    configural_start,
    group_data,
    nested_start,
)

__all__ = [
    "LongitudinalResult",
    "column_name",
    "fit_longitudinal",
    "long_layout",
    "longitudinal_table",
]


def column_name(name: str, occasion: str) -> str:
    """The wide column (or factor) of item (or factor) `name` at `occasion`: "name@occasion"."""
    return f"{name}@{occasion}"


def long_layout(
    level: str, factors: dict[str, list[str]], occasions: list[str]
) -> tuple[Layout, list[str], list[str]]:
    """The free parameters of one longitudinal level (module docstring).

    Returns the Layout (one group), the observed columns in order (occasion by occasion, the
    items in order of first appearance) and the factors (factor@occasion).
    """
    if level not in (*LEVELS, STRICT):
        raise ValueError(f"unknown invariance level {level!r}")
    items = list(dict.fromkeys(v for indicators in factors.values() for v in indicators))
    p, m, n_occ = len(items), len(factors), len(occasions)
    pos = {v: i for i, v in enumerate(items)}
    names: list[tuple[int, str, str, str]] = []

    def new(lhs, op, rhs):
        names.append((0, lhs, op, rhs))
        return len(names) - 1

    columns = [column_name(v, t) for t in occasions for v in items]
    latents = [column_name(f, t) for t in occasions for f in factors]
    lam = np.full((p * n_occ, m * n_occ), -1)
    lam_fixed = np.zeros(lam.shape)
    theta = np.full(p * n_occ, -1)
    nu = np.full(p * n_occ, -1)
    alpha = np.full(m * n_occ, -1)
    for o in range(n_occ):
        for k, indicators in enumerate(factors.values()):
            col = o * m + k
            for j, item in enumerate(indicators):
                row = o * p + pos[item]
                if j == 0:
                    lam_fixed[row, col] = 1.0
                elif o > 0 and level != "configural":
                    lam[row, col] = lam[pos[item], k]
                else:
                    lam[row, col] = new(latents[col], "=~", columns[row])
        for i in range(p):
            row = o * p + i
            shared = o > 0
            theta[row] = (
                theta[i] if shared and level == STRICT else new(columns[row], "~~", columns[row])
            )
            nu[row] = (
                nu[i] if shared and level in ("scalar", STRICT) else new(columns[row], "~1", "")
            )
        if o > 0 and level in ("scalar", STRICT):
            for k in range(m):
                alpha[o * m + k] = new(latents[o * m + k], "~1", "")
    psi = np.full((m * n_occ, m * n_occ), -1)
    for a in range(m * n_occ):
        for b in range(a + 1):
            psi[a, b] = psi[b, a] = new(latents[b], "~~", latents[a])
    resid_cov = []
    for i in range(p):
        for o1 in range(n_occ):
            for o2 in range(o1 + 1, n_occ):
                r1, r2 = o1 * p + i, o2 * p + i
                resid_cov.append((r1, r2, new(columns[r1], "~~", columns[r2])))
    group = GroupLayout(
        lam=lam,
        lam_fixed=lam_fixed,
        theta=theta,
        psi=psi,
        nu=nu,
        alpha=alpha,
        resid_cov=np.array(resid_cov, dtype=int).reshape(-1, 3),
    )
    return Layout(level=level, groups=[group], q=len(names), names=names), columns, latents


@dataclass
class LongitudinalResult:
    factors: dict[str, list[str]]
    occasions: list[str]
    columns: list[str]
    data: GroupData
    fits: dict[str, LevelFit]
    measures: dict[str, dict]
    errors: dict[str, str]


def fit_longitudinal(
    data: pd.DataFrame,
    factors: dict[str, list[str]],
    occasions: list[str],
    *,
    missing: str = "fiml",
    cluster: str | None = None,
    strict: bool = False,
) -> LongitudinalResult:
    """Fit the configural, metric and scalar (and strict) longitudinal models.

    Parameters
    ----------
    data : DataFrame
        One row per person; the columns column_name(item, occasion) for every item of
        `factors` and occasion, NaN where not answered.
    factors : dict
        Factor -> its indicators (the model's =~ lines), each with two or more.
    occasions : list of str
        The occasions in time order (the first is the reference of the latent means).
    missing : {"fiml", "listwise"}
    cluster : str, optional
        A column of `data` grouping the persons (a missing value: a cluster of its own): every
        level is then cluster-robust with the Yuan-Bentler scaled test (lavaan's cluster = ,
        estimator = "MLR").
    strict : bool
        Also the strict level.

    Returns
    -------
    LongitudinalResult
        A level that cannot be fitted or does not converge is in `errors`.

    Notes
    -----
    lavaan: cfa(as.character(measEq.syntax(model, data, longFacNames = , longIndNames = ,
    long.equal = ..., auto = "all")), data, missing = "ml").
    """
    if missing not in ("fiml", "listwise"):
        raise InputError(
            f"estimation.missing {missing!r} is not available", expected="fiml or listwise"
        )
    if len(occasions) < 2:
        raise InputError(
            "longitudinal invariance needs at least two occasions",
            value=[str(o) for o in occasions],
        )
    for factor, indicators in factors.items():
        if len(indicators) < 2:
            raise InputError(
                f"factor {factor!r} has fewer than two indicators",
                expected="two or more items per factor for a longitudinal CFA",
            )
    columns = long_layout("configural", factors, occasions)[1]
    absent = [c for c in columns + ([cluster] if cluster else []) if c not in data.columns]
    if absent:
        raise InputError(
            f"the data lack the columns {absent} for the longitudinal invariance models",
            expected="one column per item and occasion, named item@occasion",
        )
    x = data[columns].to_numpy(dtype=float)
    codes = cluster_codes(data[cluster]) if cluster else None
    group = group_data("returners", x, missing, codes)
    fits: dict[str, LevelFit] = {}
    measures: dict[str, dict] = {}
    errors: dict[str, str] = {}
    previous = None
    for level in (*LEVELS, STRICT) if strict else LEVELS:
        layout = long_layout(level, factors, occasions)[0]
        start = (
            configural_start(layout, [group])
            if previous is None
            else nested_start(previous, layout, [group])
        )
        try:
            fit, measures[level] = fit_one_level(layout, [group], start, missing, cluster)
        except np.linalg.LinAlgError as err:
            errors[level] = f"the {level} model cannot be estimated: {err}"
            previous = None
            continue
        if not fit.converged:
            errors[level] = f"the {level} model did not converge ({fit.iterations} iterations)"
        fits[level] = fit
        previous = fit
    return LongitudinalResult(
        factors=factors,
        occasions=list(occasions),
        columns=columns,
        data=group,
        fits=fits,
        measures=measures,
        errors=errors,
    )


def longitudinal_table(result: LongitudinalResult, *, label: str = "returners") -> pd.DataFrame:
    """The levels of a longitudinal fit as an invariance table (lcsurvey.sem.invariance.COLUMNS).

    `groups` is `label`, `group_values` the occasions joined by ";" (as the multi-group table's
    groups, so that the same reading of decisions applies); each constrained level has its
    deltas against the level before, Chen's decision and lavTestLRT's difference test
    (invariance.likelihood_ratio_test: plain, or Satorra-Bentler scaled with a cluster).
    """
    base = {"groups": label, "group_values": ";".join(result.occasions)}
    rows = []
    previous = None
    for level in (*LEVELS, STRICT):
        if level not in result.measures and level not in result.errors:
            continue
        row = {**base, "level": level, "rule": chen_rule(level)}
        if level in result.errors:
            row["note"] = result.errors[level]
        measures = result.measures.get(level)
        if measures is not None:
            row.update({c: measures[c] for c in COLUMNS if c in measures})
        usable = measures is not None and level not in result.errors
        if usable and previous is not None:
            ref_fit, ref = previous
            deltas = {f"delta_{i}": measures[i] - ref[i] for i in ("cfi", "rmsea", "srmr")}
            row.update(deltas)
            row["decision"] = chen_decision(level, *deltas.values())
            row.update(
                likelihood_ratio_test(ref_fit, ref, result.fits[level], measures, [result.data])
            )
        rows.append(row)
        previous = (result.fits[level], measures) if usable else None
    return as_table(rows)
