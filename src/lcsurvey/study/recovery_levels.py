"""Recovery of the two-level transfer model over simulated waves with random communities.

One replication: a wave of ``n`` clean respondents in ``communities`` communities whose
profiles and effects are drawn afresh (``with_between(..., exact=False)``: the community parts
are random effects, as the two-level model assumes), scored with the project's scoring
(lcsurvey.study.simulate.levels.score_population), and the model fitted by two-level ML
(lcsurvey.sem.twolevel.fit_twolevel). ``summarise`` compares the estimates with the
population values (lcsurvey.study.simulate.levels): bias, relative bias, RMSE, coverage of
the Wald intervals, and the shares of fits that failed, did not converge or have a negative
variance (Heywood case). bench/twolevel_recovery.py runs it at scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.sem.twolevel import fit_twolevel
from lcsurvey.study.simulate import levels
from lcsurvey.study.simulate.population import simulate_population, with_between

QUANTITIES = ["indirect_between", "a1b", "a2b", "bb", "cb", "indirect_within", "a1", "b", "c"]
REPLICATION_COLUMNS = [
    "replication",
    "communities",
    "members",
    "status",
    "heywood",
    "label",
    "est",
    "se",
    "ci_lower",
    "ci_upper",
]


def replicate(
    replication: int,
    *,
    n: int,
    communities: int,
    between: Mapping[str, Any] | None = None,
    truth: Mapping[str, Any] | None = None,
    seed: int = levels.DEFAULT_SEED,
) -> pd.DataFrame:
    """Simulate, score and fit one wave; one row per quantity of ``QUANTITIES``.

    ``status``: "converged", "not converged" or "failed: <error>" (est etc. then missing);
    ``heywood``: the fit has a negative variance estimate. Replication r draws its
    communities from seed ``seed + r`` and its members from SeedSequence([seed, r, n]), so
    any subset runs in any order or process.
    """
    wave_truth = with_between(
        truth,
        n_communities=communities,
        seed=seed + replication,
        exact=False,
        **dict(between or {}),
    )
    rng = np.random.default_rng(np.random.SeedSequence([seed, replication, n]))
    scores = levels.score_population(simulate_population(n, rng, wave_truth))
    base = {
        "replication": replication,
        "communities": int(scores["community"].nunique()),
        "members": n,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = fit_twolevel(
                levels.TRANSFER_LEVELS, scores, "community", name="transfer_levels"
            )
    except Exception as exc:  # any failure of a fit is a result to count
        status = f"failed: {type(exc).__name__}: {exc}"
        return pd.DataFrame(
            [{**base, "status": status, "heywood": False, "label": q} for q in QUANTITIES],
            columns=REPLICATION_COLUMNS,
        )
    table = fitted.estimates.set_index("label")
    rows = []
    for label in QUANTITIES:
        row = table.loc[label]
        rows.append(
            {
                **base,
                "status": "converged" if fitted.converged else "not converged",
                "heywood": bool(fitted.heywood),
                "label": label,
                "est": float(row["est"]),
                "se": float(row["se"]),
                "ci_lower": float(row["ci_lower"]),
                "ci_upper": float(row["ci_upper"]),
            }
        )
    return pd.DataFrame(rows, columns=REPLICATION_COLUMNS)


def true_values(values: Mapping[str, Any]) -> dict[str, float]:
    """label -> population value (NaN where not identified) of ``levels.population_values``."""
    out = {}
    for level in ("within", "between"):
        for label, value in values[level].items():
            if label != "not_identified":
                out[label] = np.nan if value is None else float(value)
    return out


def summarise(replications: pd.DataFrame, truth: Mapping[str, float]) -> pd.DataFrame:
    """Per quantity: truth, mean, bias, relative bias, median bias, RMSE, SD against the median
    SE, coverage of the Wald intervals (converged fits with an SE), and the shares of failed,
    non-converged and Heywood fits (of all replications).

    Bias and RMSE are over the converged fits; with few communities a few between estimates
    can be far off, so the median bias is given as well. ``clean_*``: the same over the fits
    that converged with no Heywood case and an SE.
    """
    rows = []
    for label in [q for q in QUANTITIES if q in set(replications["label"])]:
        group = replications[replications["label"] == label]
        ok = group[group["status"] == "converged"]
        value = truth.get(label, np.nan)
        est = ok["est"]
        with_ci = ok.dropna(subset=["ci_lower", "ci_upper"])
        covered = (with_ci["ci_lower"] <= value) & (value <= with_ci["ci_upper"])
        bias = est.mean() - value
        rows.append(
            {
                "label": label,
                "truth": value,
                "mean": est.mean(),
                "bias": bias,
                "rel_bias": bias / value if value else np.nan,
                "median_bias": est.median() - value,
                "rmse": float(np.sqrt(np.mean((est - value) ** 2))),
                "sd": est.std(ddof=1),
                "median_se": ok["se"].median(),
                "coverage": covered.mean() if np.isfinite(value) and len(with_ci) else np.nan,
                "no_se": 1 - len(with_ci) / len(ok) if len(ok) else np.nan,
                "failed": group["status"].str.startswith("failed").mean(),
                "not_converged": (group["status"] == "not converged").mean(),
                "heywood": group["heywood"].mean(),
                **_clean(group, value),
                "replications": len(group),
            }
        )
    return pd.DataFrame(rows)


def _clean(group: pd.DataFrame, value: float) -> dict[str, float]:
    """The same over the clean fits only: converged, no Heywood case, with an SE (the fits
    whose between estimates a report would print)."""
    ok = group[(group["status"] == "converged") & ~group["heywood"].astype(bool)]
    ok = ok.dropna(subset=["se", "ci_lower", "ci_upper"])
    est = ok["est"]
    covered = (ok["ci_lower"] <= value) & (value <= ok["ci_upper"])
    return {
        "clean_share": len(ok) / len(group),
        "clean_bias": est.mean() - value,
        "clean_median_bias": est.median() - value,
        "clean_rmse": float(np.sqrt(np.mean((est - value) ** 2))) if len(ok) else np.nan,
        "clean_coverage": covered.mean() if np.isfinite(value) and len(ok) else np.nan,
    }
