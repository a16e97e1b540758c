"""The model rule's tables for a two-level model (lcsurvey.sem.twolevel), in the columns of the
single-level tables (lcsurvey.sem.model) so that the jobs reading them need no second reader.

estimates: the single-level columns with `level` in front (1 within, 2 between, 0 for the
defined `:=` effects); the standardised solution's inference (std_all_se ...) is not computed
for two-level models and stays empty. fit: the single-level columns, with srmr_within and
srmr_between after srmr (srmr is their sum, as lavaan's); the robust (MLR) columns stay empty,
as two-level ML here has no robust test. intervals: `level` in front of the single-level
columns; ci_lower and ci_upper are the Wald / delta-method CIs; boot_se, boot_ci_* (percentile)
and bca_ci_* come from the cluster bootstrap (lcsurvey.sem.twolevel_bootstrap), for every free
and := row; the Monte Carlo columns stay empty. bootstrap.csv: the bootstrap's summary, or one
row whose method says why there was none (bootstrap_plan). Modification indices and the
common-method checks are not available for two-level models (header only).

fit.csv and status.csv also say whether the estimates can be read (STABILITY_COLUMNS): a model
that did not converge, has a negative variance (Heywood case) or no standard errors is still
written, with converged False, heywood naming the variances and the status detail beginning
"unstable:", so that a report can say so instead of printing the numbers. A model the data do
not allow (lcsurvey.sem.estimability.NotEstimated) gets tables with their header only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lcsurvey.sem.estimability import status_row, status_table
from lcsurvey.sem.model import (
    BOOTSTRAP_COLUMNS,
    BOOTSTRAP_SUMMARY_COLUMNS,
    ESTIMATE_COLUMNS,
    FIT_COLUMNS,
    INTERVAL_COLUMNS,
)
from lcsurvey.sem.twolevel import TwoLevelFit

TWOLEVEL_ESTIMATE_COLUMNS = ["level", *ESTIMATE_COLUMNS]
_SRMR = FIT_COLUMNS.index("srmr") + 1
# whether the estimates can be read: converged (True/False), heywood (the negative variances in
# words, "" when none), fit_note (why chisq, CFI, TLI, RMSEA and SRMR are empty, "" when they
# are not), se_note (why the standard errors are empty); lcsurvey.sem.twolevel.fit_twolevel
STABILITY_COLUMNS = ["converged", "heywood", "fit_note", "se_note"]
TWOLEVEL_FIT_COLUMNS = [*FIT_COLUMNS[:_SRMR], "srmr_within", "srmr_between", *FIT_COLUMNS[_SRMR:],
                        *STABILITY_COLUMNS]  # fmt: skip
TWOLEVEL_INTERVAL_COLUMNS = ["level", *INTERVAL_COLUMNS, *BOOTSTRAP_COLUMNS]
# The columns of lcsurvey.sem.twolevel_bootstrap's intervals -> those of intervals.csv.
_BOOTSTRAP_INTERVALS = {"boot_se": "boot_se", "ci_lower": "boot_ci_lower",
                        "ci_upper": "boot_ci_upper", "bca_ci_lower": "bca_ci_lower",
                        "bca_ci_upper": "bca_ci_upper"}  # fmt: skip
_KEY = ["level", "lhs", "op", "rhs"]


def bootstrap_plan(fitted: TwoLevelFit, draws: int, max_n: int | None) -> str:
    """Whether the cluster bootstrap of a fitted two-level model is to run: "" when it is,
    else the bootstrap summary's method saying why not.

    None with estimation.bootstrap 0 ("none", as single-level models), above
    estimation.bootstrap_max_n rows (each draw refits on all rows), or when the full-sample
    fit is unstable: every draw starts from its estimates and information, and percentile
    intervals around estimates that are not a maximum of the likelihood (no convergence, no
    invertible information) would look like inference they are not. A Heywood case alone
    does not stop the bootstrap (lavaan does not constrain those either).
    """
    n = int(fitted.fit["ntotal"].iloc[0])
    if draws <= 0:
        return "none"
    if max_n is not None and n > max_n:
        return f"none (n = {n} above {max_n})"
    if not fitted.converged:
        return "none (the two-level fit did not converge)"
    if fitted.se_note:
        return "none (the two-level fit has no standard errors)"
    return ""


def twolevel_tables(
    fitted: TwoLevelFit,
    *,
    missing: str,
    seed: int,
    bootstrap: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    skipped: str = "none",
) -> dict[str, pd.DataFrame]:
    """estimates, fit, intervals and bootstrap tables of a fitted two-level model.

    Parameters
    ----------
    fitted : TwoLevelFit
        From lcsurvey.sem.twolevel.fit_twolevel.
    missing : str
        The fit's missing-data method as the single-level fit.csv writes it ("ml" or
        "listwise").
    seed : int
        estimation.seed, written to the bootstrap summary as the single-level one does.
    bootstrap : (DataFrame, DataFrame), optional
        lcsurvey.sem.twolevel_bootstrap.bootstrap_twolevel's intervals and summary of the
        same model and data; None: no bootstrap, for the reason `skipped` (bootstrap_plan).
    skipped : str
        The bootstrap summary's method when there was no bootstrap.

    Returns
    -------
    dict of DataFrame
        Keyed by the model rule's output names.
    """
    estimates = fitted.estimates.copy()
    estimates["label"] = estimates["label"].fillna("")
    estimates = estimates.reindex(columns=TWOLEVEL_ESTIMATE_COLUMNS)
    fit = fitted.fit.copy()
    fit["missing"] = missing
    fit = fit.reindex(columns=TWOLEVEL_FIT_COLUMNS)
    intervals = estimates[["level", *INTERVAL_COLUMNS]].copy()
    for column in BOOTSTRAP_COLUMNS:
        intervals[column] = np.nan
    if bootstrap is None:
        n_clusters = int(fitted.fit["nclusters"].iloc[0])
        summary = pd.DataFrame(
            [[0, 0, 0, skipped, seed, 0, "clusters", n_clusters]],
            columns=BOOTSTRAP_SUMMARY_COLUMNS,
        )
    else:
        drawn, summary = bootstrap
        summary = summary.reindex(columns=BOOTSTRAP_SUMMARY_COLUMNS)
        rows = intervals[_KEY].merge(
            drawn[_KEY + list(_BOOTSTRAP_INTERVALS)], on=_KEY, how="left", validate="one_to_one"
        )
        for theirs, ours in _BOOTSTRAP_INTERVALS.items():
            intervals[ours] = rows[theirs].to_numpy()
    return {"estimates": estimates, "fit": fit, "intervals": intervals, "bootstrap": summary}


def twolevel_not_estimated_tables() -> dict[str, pd.DataFrame]:
    """The tables of a two-level model that was not estimated: their columns and no row (the
    status table says why)."""
    return {
        "estimates": pd.DataFrame(columns=TWOLEVEL_ESTIMATE_COLUMNS),
        "fit": pd.DataFrame(columns=TWOLEVEL_FIT_COLUMNS),
        "intervals": pd.DataFrame(columns=TWOLEVEL_INTERVAL_COLUMNS),
        "bootstrap": pd.DataFrame(columns=BOOTSTRAP_SUMMARY_COLUMNS),
    }


def twolevel_status(fitted: TwoLevelFit, name: str, needed: int | None) -> dict:
    """The status row of an estimated two-level model: estimated "yes", with converged and
    heywood as in fit.csv and the detail in words when the estimates are unstable (no
    convergence, a Heywood case, no standard errors or no test)."""
    fit = fitted.fit.iloc[0]
    problems = []
    if not fitted.converged:
        problems.append("did not converge")
    if fitted.heywood:
        problems.append("Heywood case: " + "; ".join(fitted.heywood))
    if fitted.se_note:
        problems.append(fitted.se_note)
    if fitted.fit_note:
        problems.append(f"no chisq, CFI, TLI, RMSEA or SRMR: {fitted.fit_note}")
    detail = ("unstable: " + "; ".join(problems)) if problems else ""
    row = status_row(name, True, n=int(fit["ntotal"]), needed=needed, detail=detail)
    return row | {"converged": fitted.converged, "heywood": "; ".join(fitted.heywood)}


def twolevel_status_table(rows: list[dict]) -> pd.DataFrame:
    """Status rows of a two-level model: STATUS_COLUMNS, then converged and heywood (empty
    when the model was not estimated)."""
    table = status_table(rows)
    for column in ("converged", "heywood"):
        table[column] = [row.get(column, pd.NA) for row in rows]
    return table
