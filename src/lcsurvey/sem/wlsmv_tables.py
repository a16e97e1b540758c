"""The model rule's tables for a WLSMV or ULSMV fit (lcsurvey.sem.wlsmv), in the columns of the
single-level tables (lcsurvey.sem.model) so that the jobs reading them need no second reader.

estimates: lavaan's ``parameterEstimates()`` of the ordinal fit, with the thresholds as
``item | t1`` rows; z, p and the 95% Wald CI from the robust (sandwich) standard errors; fixed
parameters (the first loading of each factor, the residual variances and scale factors of the
delta parameterisation, the zero intercepts) have no standard error and a CI of their value;
the standardised solution's inference (std_all_se ...) stays empty. fit: the single-level
columns (chisq, df, pvalue, cfi, tli, rmsea of the unscaled test; ``chisq_scaled``,
``chisq_scaling_factor``, ``pvalue_scaled``), then the ordinal fit's own measures under
lavaan's names (``df_scaled``, ``chisq_shift``, ``baseline_chisq``, ``cfi_scaled``,
``tli_scaled``, ``rmsea_scaled``, ...). Columns the ordinal engine does not compute (AIC and
BIC, which need a likelihood; the ML-robust ``cfi_robust`` ...) stay empty.

No bootstrap: intervals are the Wald / delta-method CIs (lavaan's default for WLSMV as well);
a bootstrap of WLSMV refits the polychoric matrix and its asymptotic covariance for every
draw, and lavaan's ``se = "bootstrap"`` is not what its users report. bootstrap.csv holds one
row whose method says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.sem.model import (
    BOOTSTRAP_COLUMNS,
    BOOTSTRAP_SUMMARY_COLUMNS,
    ESTIMATE_COLUMNS,
    FIT_COLUMNS,
    INTERVAL_COLUMNS,
)
from lcsurvey.sem.wlsmv import WlsmvFit

# The bootstrap summary's method for an ordinal fit.
NO_BOOTSTRAP = "none (WLSMV/ULSMV: Wald CIs from the robust standard errors)"
_Z975 = float(special.ndtri(0.975))


def wlsmv_fit_table(
    fit: WlsmvFit, *, estimator: str = "WLSMV", missing: str = "listwise"
) -> pd.DataFrame:
    """fit.csv of an ordinal fit: the single-level columns, then the engine's other measures.

    `missing` ("listwise" or "pairwise") is the fit's, written to the `missing` column."""
    values = dict(fit.fit)
    row = {column: values.pop(column, np.nan) for column in FIT_COLUMNS}
    row |= {"ntotal": int(fit.polychoric.n), "estimator": estimator, "missing": missing}
    row |= values
    return pd.DataFrame([row], columns=[*FIT_COLUMNS, *values])


def wlsmv_estimates(fit: WlsmvFit) -> pd.DataFrame:
    """estimates.csv of an ordinal fit (see the module docstring)."""
    est = fit.estimates.copy()
    if "label" not in est.columns:
        est["label"] = ""
    est["label"] = est["label"].fillna("")
    se = est["se"].to_numpy(dtype=float)
    free = np.isfinite(se) & (se > 0)
    est["se"] = np.where(free, se, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(free, est["est"] / se, np.nan)
    est["z"] = z
    est["pvalue"] = np.where(free, 2.0 * special.ndtr(-np.abs(z)), np.nan)
    est["ci_lower"] = np.where(free, est["est"] - _Z975 * se, est["est"])
    est["ci_upper"] = np.where(free, est["est"] + _Z975 * se, est["est"])
    return est.reindex(columns=ESTIMATE_COLUMNS)


def wlsmv_tables(
    fit: WlsmvFit, *, estimator: str, seed: int, missing: str = "listwise"
) -> dict[str, pd.DataFrame]:
    """estimates, fit, intervals and bootstrap tables of an ordinal fit.

    Parameters
    ----------
    fit : WlsmvFit
        From lcsurvey.sem.wlsmv.fit_wlsmv_syntax.
    estimator : str
        "WLSMV" or "ULSMV", as lavaan writes it in fit.csv's `estimator`.
    seed : int
        estimation.seed, written to the bootstrap summary as the single-level one does.
    missing : {"listwise", "pairwise"}
        The fit's handling of missing answers (fit.csv's `missing`).

    Returns
    -------
    dict of DataFrame
        Keyed by the model rule's output names.
    """
    estimates = wlsmv_estimates(fit)
    intervals = estimates[INTERVAL_COLUMNS].copy()
    for column in BOOTSTRAP_COLUMNS:
        intervals[column] = np.nan
    bootstrap = pd.DataFrame(
        [[0, 0, 0, NO_BOOTSTRAP, seed, 0, "rows", np.nan]], columns=BOOTSTRAP_SUMMARY_COLUMNS
    )
    return {
        "estimates": estimates,
        "fit": wlsmv_fit_table(fit, estimator=estimator, missing=missing),
        "intervals": intervals,
        "bootstrap": bootstrap,
    }
