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
    exogenous moments;
  - both fits start from the full-sample estimates with the full sample's inverse
    information as the first quasi-Newton matrix: no Hessian, no standard errors, no fit
    measures or baseline model per draw.
A draw that does not converge, or whose matrices stop being positive definite, is counted
as failed and left out of the intervals, never replaced.

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
    Unrestricted,
    build_model,
    cluster_data,
    fit_twolevel,
    fix_exogenous,
    maximise,
    missing_cluster_data,
    numeric_hessian,
)
from lcsurvey.sem.twolevel_syntax import TwoLevelSpec, parse_twolevel

INTERVAL_COLUMNS = ["level", "lhs", "op", "rhs", "label", "est", "boot_se", "ci_lower",
                    "ci_upper", "bca_ci_lower", "bca_ci_upper"]  # fmt: skip
SEED = 20211201


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
        if isinstance(self.data, MissingClusterData):
            order = np.argsort(codes, kind="stable")
            self._rows = np.split(order, np.cumsum(np.bincount(codes))[:-1])
            self._sizes = np.array([len(rows) for rows in self._rows])
            full = self.data
        else:
            full = self.data.stats()
        self._h1 = Unrestricted(full, self.spec)
        self._exogenous = any(par.exogenous for par in self.spec.parameters)
        if self._exogenous:
            info = -numeric_hessian(lambda t: self._h1.gradient(t, full), self.h1_theta)
            self._h1_inverse = _positive_inverse(info)
            h1 = self._h1.moments(self.h1_theta, np.nan)
            self._model = build_model(fix_exogenous(self.spec, h1))
        else:
            self._model = build_model(self.spec)
        self._inverse = _positive_inverse(np.linalg.pinv(self.vcov))

    def _resample(self, counts: np.ndarray):
        """The statistics of the clusters taken counts[j] times each."""
        if isinstance(self.data, ClusterData):
            return self.data.stats(counts)
        data = self.data
        drawn = np.repeat(np.arange(len(counts)), counts.astype(int))
        rows = np.concatenate([self._rows[g] for g in drawn])
        values = data.values[rows]
        return MissingClusterData(
            y=data.y,
            z=data.z,
            values=values,
            zvalues=data.zvalues[drawn],
            codes=np.repeat(np.arange(len(drawn)), self._sizes[drawn]),
            patterns=data.patterns[rows],
            masks=data.masks,
            counts=data.counts[drawn],
            n_rows=len(rows),
            n_clusters=len(drawn),
            observed_values=int(np.isfinite(values).sum()),
        )

    def refit(self, counts: np.ndarray) -> np.ndarray | None:
        """The model's free parameters on a resample, or None when the fit fails."""
        stats = self._resample(counts)
        model = self._model
        if self._exogenous:
            h1 = self._h1
            result = maximise(
                lambda t: h1.value(t, stats),
                lambda t: h1.gradient(t, stats),
                self.h1_theta,
                inverse=self._h1_inverse,
            )
            if not result.converged:
                return None
            model.set_exogenous(h1.moments(result.x, result.value))
        result = maximise(
            lambda t: model.value(t, stats),
            lambda t: model.gradient(t, stats),
            self.theta,
            inverse=self._inverse,
        )
        if not result.converged or not np.all(np.isfinite(result.x)):
            return None
        return result.x

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
):
    """The full-sample fit and the refit job of its cluster bootstrap.

    Returns
    -------
    (TwoLevelFit, TwoLevelJob)
    """
    spec = parse_twolevel(spec, name=name) if isinstance(spec, str) else spec
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
    fit, job = twolevel_job(spec, data, cluster, missing=missing, name=name)
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
