"""The measurement model of a wave: CFAs per construct and jointly, loadings, fit, validity.

Which models: every construct with at least three items alone (a one-factor CFA; with three
items it is just identified, df = 0), and one joint CFA of every construct of the codebook
with at least two items, factors free to correlate. The joint model takes all constructs, not
only those of a structural model, because discriminant validity (HTMT, Fornell-Larcker) is a
question about every pair of scales the report shows. Composites are not factors here.

All models are fitted by lcsurvey.sem.model.fit_model (FIML, lavaan's missing = "ml", by default;
listwise on request) with lavaan's default marker-variable identification, so `est` and `se`
are those of lavaan's cfa() and `std_all` its standardised solution.

Validity per factor of the joint model:
- cr: composite reliability on the standardised loadings (Fornell & Larcker 1981, Raykov 1997),
  (sum l)^2 / ((sum l)^2 + sum (1 - l^2)), as computed from lavaan's standardizedSolution();
- comp_rel_sem: semTools::compRelSEM() with its defaults (obs.var = TRUE):
  (sum lambda)^2 psi / sum of the observed covariances of the factor's items;
- ave: semTools::AVE() with its defaults: sum lambda^2 psi / sum of the observed item variances;
- sqrt_ave beside the largest absolute correlation with another factor (Fornell-Larcker: the
  criterion holds when sqrt_ave is larger);
- HTMT (semTools::htmt, defaults absolute = TRUE, htmt2 = TRUE: geometric means) from the item
  correlation matrix, and the arithmetic-mean HTMT of Henseler et al. (2015) beside it.
"Observed" moments are lavaan's sample statistics: the covariance matrix with divisor N of the
complete rows (listwise), or the EM estimate of the unrestricted model (FIML, as lavaan's
h1 for missing = "ml"); HTMT uses the correlation matrix from the same moments, as
semTools::htmt(missing = "listwise" or "ml").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.estimability import (
    NotEstimated,
    check_admissible,
    respondents_needed,
    status_row,
    status_table,
)
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.model import FIT_COLUMNS, FittedModel, fit_model
from lcsurvey.sem.progress import reporter
from lcsurvey.survey.codebook import Codebook

JOINT = "joint"
# With a cluster (estimation.cluster) the CFAs are cluster-robust MLR fits: the scaled test and
# the robust indices follow bic; without, those columns are empty.
CFA_FIT_COLUMNS = ["model"] + [c for c in FIT_COLUMNS if c not in ("estimator", "missing")]
LOADING_COLUMNS = [
    "model",
    "construct",
    "item",
    "est",
    "se",
    "z",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "std_all",
]
VALIDITY_COLUMNS = [
    "construct",
    "n_items",
    "cr",
    "comp_rel_sem",
    "ave",
    "sqrt_ave",
    "max_factor_correlation",
    "fornell_larcker",
    "max_htmt",
]
HTMT_COLUMNS = ["construct_a", "construct_b", "htmt", "htmt_arithmetic", "factor_correlation"]


@dataclass
class MeasurementResult:
    factors: dict[str, list[str]]  # factor -> items of the joint model
    fits: dict[str, FittedModel]  # model name (construct or "joint") -> fitted CFA
    sample_cov: pd.DataFrame | None  # the joint items' observed moments (see module doc)
    missing: str
    # One row per CFA (lcsurvey.sem.estimability.status_row): estimated or why not. A CFA the
    # data do not allow is not in `fits`; without the joint CFA there are no validity tables.
    status: list[dict] = field(default_factory=list)


def cfa_syntax(factors: dict[str, list[str]]) -> str:
    """lavaan syntax of a CFA with the given factors (marker-variable identification)."""
    return "\n".join(f"{factor} =~ {' + '.join(items)}" for factor, items in factors.items())


def measurement_factors(book: Codebook, min_items: int = 2) -> dict[str, list[str]]:
    """Construct -> items for every construct with at least `min_items` items."""
    return {name: list(c.items) for name, c in book.constructs.items() if len(c.items) >= min_items}


def sample_moments(data: pd.DataFrame, missing: str) -> pd.DataFrame:
    """lavaan's sample covariance matrix: divisor N on complete rows, or the EM estimate (FIML)."""
    x = data.to_numpy(dtype=float)
    if missing == "listwise":
        complete = x[np.isfinite(x).all(axis=1)]
        cov = np.cov(complete, rowvar=False, bias=True)
    else:
        _, cov = Patterns(x).h1()
    return pd.DataFrame(cov, index=data.columns, columns=data.columns)


def _fitted_moments(fitted: FittedModel, missing: str) -> pd.DataFrame:
    """The moments a fitted model was estimated from (FIML keeps its EM matrix in the model)."""
    observed = list(fitted.model.vars["observed"])
    if missing == "fiml":
        cov = getattr(fitted.model, "mx_cov", None)
        if cov is not None and np.shape(cov) == (len(observed), len(observed)):
            return pd.DataFrame(np.asarray(cov, dtype=float), index=observed, columns=observed)
    return sample_moments(fitted.data[observed], missing)


def fit_measurement(
    responses: pd.DataFrame, book: Codebook, *, missing: str = "fiml", cluster: str | None = None
) -> MeasurementResult:
    """Fit the one-factor CFA of each construct (3+ items) and the joint CFA.

    cluster: a column of `responses` grouping the rows (lcsurvey.sem.model.fit_model's
    `cluster`): every CFA is then cluster-robust (lavaan's estimator = "MLR" with cluster =).

    A CFA the data do not allow (lcsurvey.sem.estimability: too few respondents, no
    convergence, not identified, a Heywood case) is left out of `fits`, and `status` says why;
    the others are still fitted. The joint CFA is fitted last (its moments feed
    validity and HTMT).
    """
    factors = measurement_factors(book)
    if not factors:
        raise InputError(
            "the codebook has no construct with two or more items for a CFA", file=book.source
        )
    fits: dict[str, FittedModel] = {}
    status: list[dict] = []
    models = {name: {name: items} for name, items in factors.items() if len(items) >= 3}
    todo = [*models.items(), (JOINT, factors)]
    # On a large wave the CFAs take minutes: their progress goes to the rule's log.
    report = reporter(None, "measurement model", len(todo), "CFAs")
    for done, (name, model_factors) in enumerate(todo):
        report(done, len(todo))
        label = "joint CFA" if name == JOINT else f"CFA {name}"
        needed = respondents_needed(sum(len(items) for items in model_factors.values()))
        try:
            fitted = fit_model(
                cfa_syntax(model_factors), responses, name=label, missing=missing, cluster=cluster
            )
            check_admissible(label, fitted.estimates, len(fitted.data))
        except NotEstimated as err:
            status.append(err.status_row() | {"model": name})
            continue
        fits[name] = fitted
        status.append(status_row(name, True, n=len(fitted.data), needed=needed))
    report(len(todo), len(todo))
    # The joint model first in the status table, then the constructs (as in cfa_fit.csv).
    status = status[-1:] + status[:-1]
    return MeasurementResult(
        factors=factors,
        fits=fits,
        sample_cov=_fitted_moments(fits[JOINT], missing) if JOINT in fits else None,
        missing=missing,
        status=status,
    )


def cfa_fit_table(result: MeasurementResult) -> pd.DataFrame:
    """One row per CFA (the joint model, then each construct alone): lavaan's fit measures."""
    order = [JOINT] + [name for name in result.fits if name != JOINT]
    rows = [
        result.fits[name].fit.iloc[0].to_dict() | {"model": name}
        for name in order
        if name in result.fits
    ]
    return pd.DataFrame(rows, columns=CFA_FIT_COLUMNS)


def status_frame(result: MeasurementResult) -> pd.DataFrame:
    """measurement_status.csv: one row per CFA (the joint model first), estimated or why not."""
    return status_table(result.status)


def loadings_table(result: MeasurementResult) -> pd.DataFrame:
    """The loadings (=~ rows) of every CFA, the model's name in `model`."""
    frames = []
    order = [JOINT] + [n for n in result.fits if n != JOINT]
    for name in (n for n in order if n in result.fits):
        est = result.fits[name].estimates
        rows = est[est["op"] == "=~"].rename(columns={"lhs": "construct", "rhs": "item"})
        frames.append(rows.assign(model=name))
    if not frames:
        return pd.DataFrame(columns=LOADING_COLUMNS)
    return pd.concat(frames, ignore_index=True)[LOADING_COLUMNS]


def factor_correlations(fitted: FittedModel) -> pd.DataFrame:
    """The factors' correlation matrix (std_all of the factor covariances)."""
    factors = list(fitted.spec.measurement)
    phi = pd.DataFrame(np.eye(len(factors)), index=factors, columns=factors)
    est = fitted.estimates
    rows = est[
        (est["op"] == "~~")
        & est["lhs"].isin(factors)
        & est["rhs"].isin(factors)
        & (est["lhs"] != est["rhs"])
    ]
    for lhs, rhs, r in rows[["lhs", "rhs", "std_all"]].itertuples(index=False):
        phi.loc[lhs, rhs] = phi.loc[rhs, lhs] = r
    return phi


def composite_reliability(std_loadings: np.ndarray) -> float:
    """Composite reliability from standardised loadings: (sum l)^2 / ((sum l)^2 + sum(1 - l^2))."""
    lam = np.asarray(std_loadings, dtype=float)
    common = lam.sum() ** 2
    return float(common / (common + (1 - lam**2).sum()))


def comp_rel_sem(loadings: np.ndarray, factor_variance: float, sample_cov: np.ndarray) -> float:
    """semTools::compRelSEM (obs.var = TRUE): (sum lambda)^2 psi / sum(S) over the factor's items."""
    return float(np.sum(loadings) ** 2 * factor_variance / np.sum(sample_cov))


def average_variance_extracted(
    loadings: np.ndarray, factor_variance: float, sample_variances: np.ndarray
) -> float:
    """semTools::AVE (obs.var = TRUE): sum(lambda^2) psi / sum of the items' observed variances."""
    return float(np.sum(np.square(loadings)) * factor_variance / np.sum(sample_variances))


def htmt(
    corr: pd.DataFrame, factors: dict[str, list[str]], *, geometric: bool = True
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio per pair of factors, as semTools::htmt (absolute = TRUE).

    HTMT(a, b) = mean |r| between a's and b's items / sqrt(mean |r| within a * mean |r| within b),
    means over the off-diagonal correlations; geometric = True takes geometric means (htmt2,
    Roemer et al. 2021, semTools' default), False the arithmetic means (Henseler et al. 2015).
    """
    r = np.abs(corr.to_numpy(dtype=float))
    index = {name: i for i, name in enumerate(corr.columns)}
    blocks = {f: [index[i] for i in items] for f, items in factors.items()}

    def mean(values: np.ndarray) -> float:
        return float(np.exp(np.mean(np.log(values)))) if geometric else float(np.mean(values))

    within = {}
    for f, idx in blocks.items():
        sub = r[np.ix_(idx, idx)]
        within[f] = mean(sub[~np.eye(len(idx), dtype=bool)]) if len(idx) > 1 else np.nan
    names = list(factors)
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            between = mean(r[np.ix_(blocks[a], blocks[b])].ravel())
            out.loc[a, b] = out.loc[b, a] = between / np.sqrt(within[a] * within[b])
    return out


def _correlation(cov: pd.DataFrame) -> pd.DataFrame:
    sd = np.sqrt(np.diag(cov.to_numpy()))
    return cov / np.outer(sd, sd)


def validity_tables(result: MeasurementResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """validity.csv (one row per factor of the joint model) and htmt.csv (one row per pair);
    both header-only when the joint CFA was not estimated."""
    if JOINT not in result.fits:
        return pd.DataFrame(columns=VALIDITY_COLUMNS), pd.DataFrame(columns=HTMT_COLUMNS)
    joint = result.fits[JOINT]
    est = joint.estimates
    loadings = est[est["op"] == "=~"]
    variances = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"])].set_index("lhs")["est"]
    phi = factor_correlations(joint)
    corr = _correlation(result.sample_cov)
    h2 = htmt(corr, result.factors)
    h1 = htmt(corr, result.factors, geometric=False)
    names = list(result.factors)
    rows = []
    for f in names:
        rows_f = loadings[loadings["lhs"] == f]
        items = rows_f["rhs"].tolist()
        lam = rows_f["est"].to_numpy()
        s = result.sample_cov.loc[items, items].to_numpy()
        ave = average_variance_extracted(lam, variances[f], np.diag(s))
        others = [g for g in names if g != f]
        max_r = float(phi.loc[f, others].abs().max()) if others else np.nan
        rows.append(
            {
                "construct": f,
                "n_items": len(items),
                "cr": composite_reliability(rows_f["std_all"].to_numpy()),
                "comp_rel_sem": comp_rel_sem(lam, variances[f], s),
                "ave": ave,
                "sqrt_ave": np.sqrt(ave),
                "max_factor_correlation": max_r,
                "fornell_larcker": bool(np.sqrt(ave) > max_r) if others else True,
                "max_htmt": float(h2.loc[f, others].max()) if others else np.nan,
            }
        )
    pairs = [
        {
            "construct_a": a,
            "construct_b": b,
            "htmt": h2.loc[a, b],
            "htmt_arithmetic": h1.loc[a, b],
            "factor_correlation": phi.loc[a, b],
        }
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return (pd.DataFrame(rows, columns=VALIDITY_COLUMNS), pd.DataFrame(pairs, columns=HTMT_COLUMNS))
