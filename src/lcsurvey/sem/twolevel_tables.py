"""The model rule's tables for a two-level model (lcsurvey.sem.twolevel), in the columns of the
single-level tables (lcsurvey.sem.model) so that the jobs reading them need no second reader.

estimates: the single-level columns with `level` in front (1 within, 2 between, 0 for the
defined `:=` effects); the standardised solution's inference (std_all_se ...) is not computed
for two-level models and stays empty. fit: the single-level columns, with srmr_within and
srmr_between after srmr (srmr is their sum, as lavaan's); the robust (MLR) columns stay empty,
as two-level ML here has no robust test. intervals: `level` in front of the single-level
columns; ci_lower and ci_upper are the Wald / delta-method CIs, the bootstrap and Monte Carlo
columns stay empty (no cluster bootstrap of two-level models yet). bootstrap.csv holds one
row whose method says so; modification indices and the common-method checks are not available
for two-level models (header only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
TWOLEVEL_FIT_COLUMNS = [*FIT_COLUMNS[:_SRMR], "srmr_within", "srmr_between", *FIT_COLUMNS[_SRMR:]]
TWOLEVEL_INTERVAL_COLUMNS = ["level", *INTERVAL_COLUMNS, *BOOTSTRAP_COLUMNS]
# The bootstrap summary's method for a two-level model.
NO_BOOTSTRAP = "none (not available for two-level models)"


def twolevel_tables(fitted: TwoLevelFit, *, missing: str, seed: int) -> dict[str, pd.DataFrame]:
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
    n_clusters = int(fitted.fit["nclusters"].iloc[0])
    bootstrap = pd.DataFrame(
        [[0, 0, 0, NO_BOOTSTRAP, seed, 0, "clusters", n_clusters]],
        columns=BOOTSTRAP_SUMMARY_COLUMNS,
    )
    return {"estimates": estimates, "fit": fit, "intervals": intervals, "bootstrap": bootstrap}
