"""Parameter recovery: fit a model to waves simulated from the known population model.

The simulator's true coefficients (lcsurvey.study.simulate, data/raw/TRUTH.yaml) are standardised
(std_all) and refer to its own latent structure. A configured model need not share it: the
transfer model measures `climate` as one factor of the six facilitation and appreciation items,
whereas in the population climate is a second-order factor of those two facets (each with its
own variance). Its paths from and to climate then have population values of their own. They
are computed here exactly, by fitting the model to the population covariance matrix of the
continuous item responses (loading * factor + sqrt(1 - loading^2) * error, before the answers
are cut into categories); that is the value an estimator of this model is consistent for
(apart from the small attenuation that cutting into 5 or 7 categories brings).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.sem.model import fit_model, parse_model
from lcsurvey.study.simulate import default_truth, simulate_population

RECOVERY_COLUMNS = [
    "replication",
    "label",
    "lhs",
    "rhs",
    "est",
    "se",
    "std_all",
    "std_all_se",
    "std_all_ci_lower",
    "std_all_ci_upper",
    "ci_lower",
    "ci_upper",
]


def population_covariance(items: list[str], truth: Mapping[str, Any] | None = None) -> np.ndarray:
    """Covariance (= correlation) matrix of the continuous responses of `items`."""
    truth = default_truth() if truth is None else truth
    corr = truth["implied_correlations"]
    spec = [truth["items"][i] for i in items]
    loadings = np.array([s["loading"] for s in spec])
    factors = [s["construct"] for s in spec]
    latent = np.array([[corr[a][b] for b in factors] for a in factors])
    cov = np.outer(loadings, loadings) * latent
    np.fill_diagonal(cov, 1.0)
    return cov


def population_values(
    syntax: str, truth: Mapping[str, Any] | None = None, n: int = 1000
) -> pd.DataFrame:
    """The model's parameters (est and std_all) at the population covariance matrix.

    The model is fitted (ML, listwise) to `n` rows whose sample covariance matrix (divisor N)
    is exactly the population one, so the ML estimates are the population values.
    """
    spec = parse_model(syntax)
    items = spec.observed
    cov = population_covariance(items, truth)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, len(items)))
    z -= z.mean(axis=0)
    sample = np.cov(z, rowvar=False, bias=True)
    whiten = np.linalg.inv(np.linalg.cholesky(sample)).T
    x = z @ whiten @ np.linalg.cholesky(cov).T
    fitted = fit_model(syntax, pd.DataFrame(x, columns=items), missing="listwise")
    return fitted.estimates


def replicate(
    syntax: str,
    replication: int,
    *,
    n: int = 300,
    missing_share: float = 0.08,
    seed: int = 20211201,
    truth: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Simulate one wave of `n` clean respondents, blank a share of the model's answers
    completely at random, fit the model by FIML; the labelled regression rows.

    Replication r draws from SeedSequence([seed, r]), so any subset of replications can be run
    in any order or process.
    """
    spec = parse_model(syntax)
    rng = np.random.default_rng(np.random.SeedSequence([seed, replication]))
    data = simulate_population(n, rng, truth)[spec.observed].astype(float)
    values = data.to_numpy(copy=True)
    values[rng.random(values.shape) < missing_share] = np.nan
    data[:] = values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit_model(syntax, data, name="recovery", missing="fiml")
    rows = fitted.estimates[(fitted.estimates["op"] == "~") & (fitted.estimates["label"] != "")]
    return rows.assign(replication=replication)[RECOVERY_COLUMNS].reset_index(drop=True)


def summarise(
    replications: pd.DataFrame, population: pd.DataFrame, truth: Mapping[str, float]
) -> pd.DataFrame:
    """Per path: the stated truth, the population value of this model, the mean std_all, its
    bias against the population value with the Monte Carlo standard error, the SD of the
    estimates against the mean std_all_se, and the share of 95% CIs of std_all that cover the
    population value."""
    rows = []
    pop = population.set_index("label")["std_all"]
    for label, group in replications.groupby("label", sort=True):
        value = float(pop[label])
        covered = (group["std_all_ci_lower"] <= value) & (value <= group["std_all_ci_upper"])
        rows.append(
            {
                "label": label,
                "lhs": group["lhs"].iloc[0],
                "rhs": group["rhs"].iloc[0],
                "truth": truth.get(label, np.nan),
                "population": value,
                "mean": group["std_all"].mean(),
                "bias": group["std_all"].mean() - value,
                "mc_se": group["std_all"].std(ddof=1) / np.sqrt(len(group)),
                "sd": group["std_all"].std(ddof=1),
                "mean_se": group["std_all_se"].mean(),
                "coverage": covered.mean(),
                "replications": len(group),
            }
        )
    return pd.DataFrame(rows)


def stated_truth(
    syntax: str, constructs: Mapping[str, str], truth: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """The simulator's std_all for each labelled regression of the model, where the model's
    factors (names mapped to the simulator's constructs by `constructs`) have one."""
    truth = default_truth() if truth is None else truth
    stated = {(r["lhs"], r["rhs"]): r["std_all"] for r in truth["regressions"]}
    out = {}
    for (lhs, op, rhs), label in parse_model(syntax).labels.items():
        key = (constructs.get(lhs, lhs), constructs.get(rhs, rhs))
        if op == "~" and key in stated:
            out[label] = float(stated[key])
    return out
