"""Scales against psych::alpha and a one-factor lavaan CFA on HolzingerSwineford1939.

Reference numbers: tests/fixtures/r/make_fixtures.R (R, psych, lavaan; versions.csv beside it).
Tolerance 1e-3 on alpha, omega and item statistics, as the project promises against psych.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lcsurvey.scales import (
    alpha_ci_feldt,
    cronbach_alpha,
    item_statistics,
    omega_total,
    reliability_table,
    scale_scores,
)

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"
TOL = 1e-3
SCALES = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
          "speed": ["x7", "x8", "x9"], "all": [f"x{i}" for i in range(1, 10)]}


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "holzinger_swineford.csv")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "holzinger_swineford_reliability.csv").set_index("construct")


@pytest.mark.parametrize("name", list(SCALES))
def test_alpha_and_omega_match_psych_and_lavaan(hs, reference, name):
    block = hs[SCALES[name]]
    ref = reference.loc[name]
    alpha, alpha_std = cronbach_alpha(block)
    assert alpha == pytest.approx(ref["alpha"], abs=TOL)
    assert alpha_std == pytest.approx(ref["alpha_std"], abs=TOL)
    lower, upper = alpha_ci_feldt(alpha, len(block), block.shape[1])
    assert lower == pytest.approx(ref["alpha_ci_lower"], abs=TOL)
    assert upper == pytest.approx(ref["alpha_ci_upper"], abs=TOL)
    assert omega_total(block) == pytest.approx(ref["omega_total"], abs=TOL)


def test_item_statistics_match_psych(hs):
    reference = pd.read_csv(FIXTURES / "holzinger_swineford_items.csv")
    for name, items in SCALES.items():
        ours = item_statistics(hs[items], name).set_index("item")
        ref = reference[reference["construct"] == name].set_index("item")
        for column in ("mean", "sd", "r_drop", "alpha_if_dropped"):
            np.testing.assert_allclose(ours.loc[items, column], ref.loc[items, column], atol=TOL,
                                       err_msg=f"{name} {column}")


def test_scores_need_min_items(small_codebook):
    responses = pd.DataFrame({
        "rid": ["p1", "p2", "p3"],
        "a1": [1.0, 5.0, np.nan], "a2": [3.0, np.nan, np.nan], "a3": [5.0, np.nan, 2.0],
        "b1": [2.0, 2.0, 2.0], "b2": [4.0, 4.0, 4.0], "b3": [np.nan, 3.0, 3.0],
    })
    scores = scale_scores(responses, small_codebook)
    assert scores.loc[0, "alpha_c"] == 3.0
    assert np.isnan(scores.loc[1, "alpha_c"])  # one answer of three, min_items 2
    assert np.isnan(scores.loc[2, "alpha_c"])
    assert scores["beta_c"].tolist() == [3.0, 3.0, 3.0]


def test_reliability_table_shape(small_codebook):
    rng = np.random.default_rng(3)
    trait = rng.normal(size=(200, 1))
    data = np.clip(np.round(3 + trait + rng.normal(scale=0.8, size=(200, 6))), 1, 5)
    responses = pd.DataFrame(data, columns=["a1", "a2", "a3", "b1", "b2", "b3"])
    responses.insert(0, "rid", [f"p{i}" for i in range(200)])
    reliability, items = reliability_table(responses, small_codebook)
    assert list(reliability["construct"]) == ["alpha_c", "beta_c"]
    assert (reliability["alpha"] > 0.6).all()
    assert (reliability["alpha_ci_lower"] < reliability["alpha"]).all()
    assert (reliability["alpha"] < reliability["alpha_ci_upper"]).all()
    assert len(items) == 6
