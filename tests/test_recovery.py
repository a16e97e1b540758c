"""Parameter recovery: the structural paths a..f of the configured transfer model, fitted by
FIML to waves simulated from the known population model (lcsurvey.study.simulate).

What is compared: std_all, since the simulator's coefficients are standardised. The transfer
model measures climate as one factor of six facet items whereas the population has climate as
a second-order factor, so the paths from and to climate (a, b, c) have population values of
their own: lcsurvey.study.recovery.population_values computes them from the population covariance
of the continuous responses (a .446, b .332, c .209 against the stated .50, .30, .25; d, e, f
equal the stated values). Design: 30 waves of 300 respondents, 8% of the answers missing
completely at random. Tolerances: mean bias within 0.02 (the attenuation that cutting answers
into 5 or 7 categories brings; about -0.012 for d with 20,000 respondents) plus three Monte
Carlo standard errors; coverage of the 95% CIs of std_all pooled over the six paths (180
intervals, binomial SD 0.016) at least 0.90, and at least 24 of 30 for every path.
bench/recovery.py runs the same with 500 waves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.study.recovery import population_values, replicate, stated_truth, summarise

from .conftest import ROOT

REPLICATIONS = 30
CONSTRUCTS = {
    "climate": "climate",
    "safety": "psychological_safety",
    "learning": "learning_behaviour",
    "perceived": "perceived_learning",
    "support": "home_support",
    "transfer": "knowledge_transfer",
}


@pytest.fixture(scope="module")
def syntax():
    return yaml.safe_load((ROOT / "config.yaml").read_text())["models"]["transfer"]


@pytest.fixture(scope="module")
def population(syntax):
    return population_values(syntax)


@pytest.fixture(scope="module")
def summary(syntax, population):
    replications = pd.concat([replicate(syntax, r) for r in range(REPLICATIONS)])
    return summarise(replications, population, stated_truth(syntax, CONSTRUCTS)).set_index("label")


def test_population_values_where_the_model_matches_the_simulator(syntax, population):
    truth = stated_truth(syntax, CONSTRUCTS)
    assert sorted(truth) == ["a", "b", "c", "d", "e", "f"]
    values = population.set_index("label")["std_all"]
    for label in ("d", "e", "f"):  # factors measured as in the population
        assert values[label] == pytest.approx(truth[label], abs=1e-4)
    # One climate factor over the facet items: attenuated a, c; b takes up part of c.
    assert values["a"] < truth["a"] - 0.03
    assert values["c"] < truth["c"] - 0.03
    assert values["b"] > truth["b"] + 0.01


def test_structural_paths_are_recovered_without_bias(summary):
    assert list(summary.index) == ["a", "b", "c", "d", "e", "f"]
    assert (summary["replications"] == REPLICATIONS).all()
    tolerance = 0.02 + 3 * summary["mc_se"]
    assert (summary["bias"].abs() < tolerance).all(), summary[["bias", "mc_se"]]
    # The delta-method standard errors of std_all match the spread of the estimates.
    ratio = summary["mean_se"] / summary["sd"]
    assert ((ratio > 0.7) & (ratio < 1.4)).all(), ratio


def test_confidence_intervals_cover_about_95_percent(summary):
    covered = (summary["coverage"] * summary["replications"]).round().astype(int)
    assert covered.sum() / summary["replications"].sum() >= 0.90
    assert (covered >= 24).all(), summary["coverage"]
    assert np.isfinite(summary["coverage"]).all()
