"""The cluster bootstrap of a two-level model: whole clusters resampled, the model refitted.

A draw takes G clusters with replacement from the G clusters of the data (a cluster drawn
twice enters as two clusters) and fits the two-level model (lcsurvey.sem.twolevel) to them:
the moments of exogenous observed variables fixed at the draw's own unrestricted (h1)
moments, as lavaan's fixed.x does for any data set, then the model by ML. lavaan 0.6.14 has
no bootstrap for two-level models; a draw's estimates are lavaan's sem(model, data = the rows
of the drawn clusters, cluster = ...) (tests/fixtures/twolevel_bootstrap/).

The draws themselves are lcsurvey.sem.bootstrap's (the same cluster counts from the same
seed, chunk by chunk over processes, so the result does not depend on `threads`), as are
the intervals: percentile and BCa with the acceleration from the leave-one-cluster-out
jackknife. What is two-level is the refit (TwoLevelJob), made lean because a draw needs
estimates only:
  - the data are summarised once per cluster (complete rows: within cross-products and
    cluster means; lcsurvey.sem.twolevel.ClusterData), so a draw's statistics are sums
    weighted by the clusters' counts; with missing values (missing = "ml") the rows of the
    drawn clusters are gathered by index;
  - the model and the unrestricted model are laid out once; a draw changes only the fixed
    exogenous moments, which need no h1 fit where every exogenous variable is named at one
    level only (lcsurvey.sem.twolevel.exogenous_moments: row or cluster moments);
  - the fits start from the full-sample estimates with the full sample's inverse
    information as the first quasi-Newton matrix, value and gradient from one pass: no
    Hessian, no standard errors, no fit measures or baseline model per draw. Only a draw that
    cannot start there (a negative between-level variance of the full sample) or does not
    converge from there is fitted again from start values, as fit_twolevel starts.
A draw that does not converge, or whose matrices stop being positive definite, is counted
as failed and left out of the intervals, never replaced. With few clusters the unrestricted
between-level covariance matrix often has its maximum outside the positive definite ones;
as fit_twolevel, a draw then takes the exogenous moments where the h1 ascent stops.

References
----------
Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application, section 3.8
(resampling clusters). Cambridge University Press.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem.defined import defined_values
from lcsurvey.sem.twolevel import (
    ClusterData,
    MissingClusterData,
    Moments,
    TwoLevelFit,
    Unrestricted,
    build_model,
    cluster_data,
    exogenous_moments,
    fit_twolevel,
    fix_exogenous,
    maximise,
    missing_cluster_data,
    numeric_hessian,
    start_values,
)
from lcsurvey.sem.twolevel_syntax import TwoLevelSpec, parse_twolevel

INTERVAL_COLUMNS = ["level", "lhs", "op", "rhs", "label", "est", "boot_se", "ci_lower",
                    "ci_upper", "bca_ci_lower", "bca_ci_upper"]  # fmt: skip
SEED = 20211201
# A draw starts next to its maximum and gets there in 10-20 quasi-Newton steps (Demo.twolevel);
# one that has not after 100 counts as failed (the full fit allows 500 from rough starts).
MAX_ITER = 100


@dataclass
class TwoLevelJob:
    """Refits of a two-level model on resampled clusters (a job of lcsurvey.sem.bootstrap).

    data: the fitted rows, per cluster (ClusterData) or with missing values
    (MissingClusterData); spec: the parsed model (exogenous moments not yet fixed); theta,
    vcov: the full-sample estimates and their inverse information; h1: the full sample's
    unrestricted moments. x has one (empty) row per fitted row: run(weights) gets each row
    its cluster's count, as lcsurvey.sem.bootstrap.draws and jackknife make them.
    """

    spec: TwoLevelSpec
    data: ClusterData | MissingClusterData
    theta: np.ndarray
    vcov: np.ndarray
    h1_theta: np.ndarray

    @property
    def method(self) -> str:
        return "twolevel-fiml" if isinstance(self.data, MissingClusterData) else "twolevel-ml"

    @property
    def x(self) -> np.ndarray:
        return np.empty((len(self.data.codes), 0))

    def prepare(self) -> None:
        codes = self.data.codes
        n_clusters = int(codes.max()) + 1
        self._first = np.zeros(n_clusters, dtype=int)
        self._first[codes[::-1]] = np.arange(len(codes))[::-1]  # each cluster's first row
        full = self.data if isinstance(self.data, MissingClusterData) else self.data.stats()
        self._h1 = Unrestricted(full, self.spec)
        self._exogenous = any(par.exogenous for par in self.spec.parameters)
        if self._exogenous:
            info = -numeric_hessian(lambda t: self._h1.gradient(t, full), self.h1_theta)
            self._h1_inverse = _positive_inverse(info) if np.all(np.isfinite(info)) else None
            h1 = self._h1.moments(self.h1_theta, np.nan)
            self._model = build_model(fix_exogenous(self.spec, h1))
        else:
            self._model = build_model(self.spec)
        self._inverse = None  # no usable information: each refit computes its own
        if np.all(np.isfinite(self.vcov)):
            self._inverse = _positive_inverse(np.linalg.pinv(self.vcov))
        else:  # the full-sample fit gave no standard errors (say it did not converge)
            info = -numeric_hessian(lambda t: self._model.gradient(t, full), self.theta)
            if np.all(np.isfinite(info)):
                self._inverse = _positive_inverse(info)

    def _resample(self, counts: np.ndarray):
        """The statistics of the clusters taken counts[j] times each."""
        if isinstance(self.data, ClusterData):
            return self.data.stats(counts)
        return self.data.resample(counts)

    def refit(self, counts: np.ndarray) -> np.ndarray | None:
        """The model's free parameters on a resample, or None when its fit does not converge.

        The exogenous moments in closed form where there is one (exogenous_moments), else
        from the draw's h1 (_unrestricted); the model from the full-sample estimates
        (_ascend), or where the draw cannot start there (a negative between-level variance
        of the full sample that makes the draw's covariance matrices indefinite) or does not
        converge from there, from lavaan-like start values as fit_twolevel starts.
        """
        stats = self._resample(counts)
        model = self._model
        h1 = None
        if self._exogenous:
            moments = exogenous_moments(stats, self.spec)
            if moments is None:
                moments = h1 = self._unrestricted(stats)
            model.set_exogenous(moments)
        x = _ascend(lambda t: model.value_gradient(t, stats), self.theta, self._inverse)
        if x is not None:
            return x
        h1 = h1 or self._unrestricted(stats)
        start = start_values(model, h1)
        return _ascend(lambda t: model.value_gradient(t, stats), start, None)

    def _unrestricted(self, stats) -> Moments:
        """The draw's h1 from the full sample's, taken where the ascent stops as fit_twolevel
        takes the full sample's: with few clusters the unrestricted between-level covariance
        matrix often has its maximum outside the positive definite ones, where no ascent
        converges."""
        h1 = self._h1
        result = maximise(None, None, self.h1_theta, inverse=self._h1_inverse, max_iter=MAX_ITER,
                          value_gradient=lambda t: h1.value_gradient(t, stats))  # fmt: skip
        return h1.moments(result.x, result.value)

    def run(self, weights: np.ndarray) -> np.ndarray:
        counts = weights[:, self._first]
        out = np.full((len(weights), len(self.theta)), np.nan)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for i, c in enumerate(counts):
                try:
                    fitted = self.refit(c)
                except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                    fitted = None
                if fitted is not None:
                    out[i] = fitted
        return out


def _ascend(value_gradient, start: np.ndarray, inverse: np.ndarray | None) -> np.ndarray | None:
    """The maximum from the full-sample estimates, or None.

    First with the full sample's inverse information as the quasi-Newton matrix; where that
    does not converge (a draw far from the full sample, say a between-level variance that
    crosses zero), once more with the draw's own Hessian at the start, as a fit from scratch.
    """
    for matrix in (inverse, None) if inverse is not None else (None,):
        result = maximise(None, None, start, inverse=matrix, max_iter=MAX_ITER,
                          value_gradient=value_gradient)  # fmt: skip
        if result.converged and np.all(np.isfinite(result.x)):
            return result.x
    return None


def _positive_inverse(info: np.ndarray) -> np.ndarray:
    """Inverse of the symmetrised information, eigenvalues kept positive (a quasi-Newton
    start must be positive definite), as maximise's first step does."""
    w, vec = np.linalg.eigh(0.5 * (info + info.T))
    w = np.maximum(w, 1e-6 * max(w.max(), 1e-12))
    return (vec / w) @ vec.T


def twolevel_job(
    spec: TwoLevelSpec | str,
    data: pd.DataFrame,
    cluster: str,
    *,
    missing: str = "listwise",
    name: str = "model",
    fit: TwoLevelFit | None = None,
):
    """The full-sample fit and the refit job of its cluster bootstrap.

    fit: the model already fitted to these data (fit_twolevel with the same cluster and
    missing), so that it is not fitted again.

    Returns
    -------
    (TwoLevelFit, TwoLevelJob)
    """
    spec = parse_twolevel(spec, name=name) if isinstance(spec, str) else spec
    if fit is None:
        fit = fit_twolevel(spec, data, cluster, name=name, missing=missing)
    with warnings.catch_warnings():  # fit_twolevel has said what was left out
        warnings.simplefilter("ignore")
        if missing == "ml":
            rows = missing_cluster_data(data, spec, cluster, name=name)
        else:
            rows = cluster_data(data, spec, cluster, name=name)
    job = TwoLevelJob(spec=spec, data=rows, theta=fit.theta, vcov=fit.vcov, h1_theta=fit.h1.theta)
    return fit, job


def bootstrap_twolevel(
    spec: TwoLevelSpec | str,
    data: pd.DataFrame,
    cluster: str,
    *,
    missing: str = "listwise",
    draws: int = 1000,
    seed: int = SEED,
    threads: int = 1,
    level: float = 0.95,
    bca: bool = True,
    name: str = "model",
    progress=None,
    fit: TwoLevelFit | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cluster-bootstrap intervals of a two-level model's free and defined parameters.

    Parameters
    ----------
    spec : TwoLevelSpec or str
        The model (lcsurvey.sem.twolevel_syntax.parse_twolevel), or its lavaan syntax.
    data : DataFrame
        One row per respondent, with the cluster column.
    cluster : str
        The column naming each row's cluster.
    missing : {"listwise", "ml"}
        As fit_twolevel.
    draws : int
        Bootstrap draws (resamples of G clusters).
    seed : int
        The draws are a function of the seed alone (not of `threads`).
    threads : int
        Processes the draws are spread over.
    level : float
        Confidence level of the intervals.
    bca : bool
        Also the BCa intervals (G more refits: the leave-one-cluster-out jackknife).
    name : str
        The model's name, for messages.
    progress : callable or bool, optional
        As lcsurvey.sem.bootstrap.draws.
    fit : TwoLevelFit, optional
        The model already fitted to `data` (fit_twolevel with the same cluster and missing):
        not fitted again. A fit that did not converge (TwoLevelFit.converged) is bootstrapped
        all the same, its draws starting from where it stopped; whether to report such
        intervals is the caller's decision.

    Returns
    -------
    (DataFrame, DataFrame)
        intervals: one row per free parameter row of the estimates table and per := row
        (INTERVAL_COLUMNS: level 1, 2, or 0 for :=; est the full-sample estimate; boot_se
        the SD of the draws; ci_lower, ci_upper the percentile interval; bca_ci_* BCa, empty
        with bca=False); summary: one row of lcsurvey.sem.bootstrap.SUMMARY_COLUMNS (draws
        requested, ok and failed: not converged or erroring; the refit method; resampling
        "clusters" and the number of clusters).

    Raises
    ------
    InputError
        Bad syntax or data (as fit_twolevel), fewer than one draw, or a level outside (0, 1).

    Examples
    --------
    No R equivalent: lavaan 0.6.14 refuses se = "bootstrap" for two-level models; each draw
    equals sem(model, data = rows of the drawn clusters, cluster = "cluster").
    """
    if draws < 1:
        raise InputError(
            f"two-level model {name!r}: the cluster bootstrap needs at least one draw",
            value=draws,
            expected="draws >= 1",
        )
    if not 0 < level < 1:
        raise InputError(
            f"two-level model {name!r}: confidence level outside (0, 1)",
            value=level,
            expected="a level such as 0.95",
        )
    fit, job = twolevel_job(spec, data, cluster, missing=missing, name=name, fit=fit)
    codes = job.data.codes
    values = boot.draws(job, draws, seed, workers=threads, clusters=codes, progress=progress)
    ok = np.isfinite(values).all(axis=1)
    definitions = list(fit.spec.definitions)
    names = fit.model.names

    def with_defined(theta: np.ndarray) -> np.ndarray:
        return np.hstack([theta, defined_values(definitions, names, theta)])

    estimate = with_defined(fit.theta[None, :])[0]
    kept = with_defined(values[ok])
    nothing = np.full(len(estimate), np.nan)
    se = kept.std(axis=0, ddof=1) if len(kept) > 1 else nothing
    lower, upper = boot.percentile_ci(kept, level) if len(kept) else (nothing, nothing)
    bca_lower, bca_upper = nothing, nothing
    if bca and len(kept):
        jack = with_defined(boot.jackknife(job, workers=threads, clusters=codes, progress=progress))
        bca_lower, bca_upper = boot.bca_ci(kept, estimate, jack, level)
    # the estimates table's rows: spec.parameters in order, then the := rows
    rows, columns = [], []
    for k, par in enumerate(fit.spec.parameters):
        if par in fit.model.index:
            rows.append(k)
            columns.append(fit.model.index[par])
    n_rows = len(fit.spec.parameters)
    rows += list(range(n_rows, n_rows + len(definitions)))
    columns += list(range(len(names), len(names) + len(definitions)))
    intervals = fit.estimates.iloc[rows][INTERVAL_COLUMNS[:6]].reset_index(drop=True)
    for column, values in zip(
        INTERVAL_COLUMNS[6:], (se, lower, upper, bca_lower, bca_upper), strict=True
    ):
        intervals[column] = values[columns]
    summary = pd.DataFrame(
        [
            (
                draws,
                int(ok.sum()),
                int((~ok).sum()),
                job.method,
                seed,
                boot.CHUNK_SIZE,
                "clusters",
                int(codes.max()) + 1,
            )
        ],
        columns=boot.SUMMARY_COLUMNS,
    )
    return intervals, summary
