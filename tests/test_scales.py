"""Scales against psych::alpha, psych::describe, psych::corr.test and a one-factor lavaan CFA
on HolzingerSwineford1939.

Reference numbers: tests/fixtures/r/make_fixtures.R (R, psych, lavaan; versions.csv beside it)
and tests/fixtures/r/make_psychometrics_fixtures.R (skew, kurtosis, correlations with CIs).
The project promises 1e-3 (absolute) against psych; the tests hold each quantity to about ten
times the largest difference seen (listed beside each), never below 1e-10 (below that only the
order of floating-point operations would be tested).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.scales import (
    alpha_ci_feldt,
    correlation_table,
    cronbach_alpha,
    item_statistics,
    kurtosis,
    omega_total,
    reliability_table,
    response_distribution,
    scale_scores,
    skewness,
)

from .conftest import ROOT, SMALL_CODEBOOK

FIXTURES = ROOT / "tests" / "fixtures" / "r"
ALPHA_TOL = 1e-10  # alpha, standardised alpha and Feldt's CI: 4.4e-16 (floor)
OMEGA_TOL = 1e-5  # omega_total from the one-factor CFA (optimiser): 1.1e-6
ITEM_TOL = 1e-10  # item statistics and psych::describe: 5.3e-15 (floor)
CORRELATION_TOL = 1e-10  # psych::corr.test r, CI and p: 1.1e-15 (floor)
SCALES = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
    "all": [f"x{i}" for i in range(1, 10)],
}


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
    assert alpha == pytest.approx(ref["alpha"], abs=ALPHA_TOL)
    assert alpha_std == pytest.approx(ref["alpha_std"], abs=ALPHA_TOL)
    lower, upper = alpha_ci_feldt(alpha, len(block), block.shape[1])
    assert lower == pytest.approx(ref["alpha_ci_lower"], abs=ALPHA_TOL)
    assert upper == pytest.approx(ref["alpha_ci_upper"], abs=ALPHA_TOL)
    assert omega_total(block) == pytest.approx(ref["omega_total"], abs=OMEGA_TOL)


def test_item_statistics_match_psych(hs):
    reference = pd.read_csv(FIXTURES / "holzinger_swineford_items.csv")
    for name, items in SCALES.items():
        ours = item_statistics(hs[items], name).set_index("item")
        ref = reference[reference["construct"] == name].set_index("item")
        for column in ("mean", "sd", "r_drop", "alpha_if_dropped"):
            np.testing.assert_allclose(
                ours.loc[items, column],
                ref.loc[items, column],
                atol=ITEM_TOL,
                err_msg=f"{name} {column}",
            )


def test_scores_need_min_items(small_codebook):
    responses = pd.DataFrame(
        {
            "rid": ["p1", "p2", "p3"],
            "a1": [1.0, 5.0, np.nan],
            "a2": [3.0, np.nan, np.nan],
            "a3": [5.0, np.nan, 2.0],
            "b1": [2.0, 2.0, 2.0],
            "b2": [4.0, 4.0, 4.0],
            "b3": [np.nan, 3.0, 3.0],
        }
    )
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


def test_skew_and_kurtosis_match_psych_describe(hs):
    reference = pd.read_csv(FIXTURES / "psychometrics_describe.csv").set_index("item")
    ours = item_statistics(hs[list(reference.index)], "all").set_index("item")
    for column in ("n", "mean", "sd", "skew", "kurtosis"):
        np.testing.assert_allclose(
            ours.loc[reference.index, column], reference[column], atol=ITEM_TOL, err_msg=column
        )
    assert skewness(hs["x1"].tolist() + [np.nan]) == pytest.approx(reference.loc["x1", "skew"])
    assert np.isnan(kurtosis([3.0, 3.0, 3.0]))


def test_score_correlations_match_psych_corr_test():
    scores = pd.read_csv(FIXTURES / "psychometrics_scores.csv")
    reference = pd.read_csv(FIXTURES / "psychometrics_correlations.csv")
    ours = correlation_table(scores)
    assert ours[["a", "b"]].values.tolist() == reference[["a", "b"]].values.tolist()
    assert ours["n"].tolist() == reference["n"].tolist()  # pairwise n
    for column in ("r", "ci_lower", "ci_upper", "pvalue"):
        np.testing.assert_allclose(
            ours[column], reference[column], atol=CORRELATION_TOL, err_msg=column
        )


def _simulated(n: int = 300, seed: int = 5) -> pd.DataFrame:
    """Two agree5 scales of the small codebook, answers already reverse-keyed."""
    rng = np.random.default_rng(seed)
    trait = rng.normal(size=(n, 2))
    columns = {}
    for j, name in enumerate(["a1", "a2", "a3", "b1", "b2", "b3"]):
        columns[name] = np.clip(
            np.round(3 + trait[:, j // 3] + rng.normal(scale=0.8, size=n)), 1, 5
        )
    responses = pd.DataFrame(columns)
    responses.insert(0, "rid", [f"p{i}" for i in range(n)])
    return responses


def test_unreversed_item_is_flagged():
    from lcsurvey.study.simulate import simulate_population

    book = load_codebook(ROOT / "data" / "codebook.yaml")
    responses = simulate_population(300, np.random.default_rng(11))  # answers keyed as cleaned
    responses.insert(0, "rid", [f"p{i}" for i in range(300)])
    clean_reliability, clean_items = reliability_table(responses, book)
    assert (clean_items["warning"] == "").all() and (clean_reliability["warning"] == "").all()
    responses["ps3"] = 8 - responses["ps3"]  # agree7, the reverse key forgotten
    reliability, items = reliability_table(responses, book)
    items = items[items["construct"] == "psychological_safety"].set_index("item")
    assert items.loc["ps3", "r_drop"] < 0
    message = "ps3 correlates negatively with the rest: reverse key forgotten?"
    assert items.loc["ps3", "warning"] == message
    assert (items.drop(index="ps3")["warning"] == "").all()
    reliability = reliability.set_index("construct")
    assert reliability.loc["psychological_safety", "warning"] == message
    assert (reliability.drop(index="psychological_safety")["warning"] == "").all()


def test_floor_ceiling_and_distribution(small_codebook):
    responses = _simulated()
    responses.loc[:9, "a1"] = np.nan
    _, items = reliability_table(responses, small_codebook)
    a1 = items.set_index("item").loc["a1"]
    answered = responses["a1"].dropna()
    assert a1["floor_share"] == pytest.approx((answered == 1).mean())
    assert a1["ceiling_share"] == pytest.approx((answered == 5).mean())
    assert a1["missing_share"] == pytest.approx(10 / 300)
    distribution = response_distribution(responses, small_codebook)
    assert list(distribution.columns) == ["construct", "item", "value", "n", "share"]
    one = distribution[distribution["item"] == "a1"]
    assert one["value"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # every code, also when unused
    assert one["n"].sum() == 290
    assert one["share"].sum() == pytest.approx(1.0)
    assert one.set_index("value").loc[5.0, "share"] == pytest.approx(a1["ceiling_share"])


# --------------------------------------------------------------------------------------------
# Composites.
# --------------------------------------------------------------------------------------------


def _codebook_with(tmp_path, composites) -> object:
    spec = dict(SMALL_CODEBOOK, composites=composites)
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return load_codebook(path)


def test_composite_scores_mirror_reversed_parts(tmp_path):
    book = _codebook_with(
        tmp_path, {"gamma": {"of": ["alpha_c", "beta_c"], "reverse": ["beta_c"], "min_parts": 2}}
    )
    responses = pd.DataFrame(
        {
            "rid": ["p1", "p2", "p3"],
            "a1": [1.0, 5.0, 4.0],
            "a2": [3.0, 5.0, np.nan],
            "a3": [5.0, 5.0, np.nan],
            "b1": [2.0, 1.0, 2.0],
            "b2": [4.0, 1.0, 4.0],
            "b3": [np.nan, 1.0, 3.0],
        }
    )
    scores = scale_scores(responses, book)
    assert scores["gamma"].iloc[0] == pytest.approx((3.0 + (6 - 3.0)) / 2)
    assert scores["gamma"].iloc[1] == pytest.approx((5.0 + 5.0) / 2)
    assert np.isnan(scores["gamma"].iloc[2])  # alpha_c has one answer of three: one part only


def test_composite_reliability_uses_keyed_items(tmp_path):
    book = _codebook_with(tmp_path, {"gamma": {"of": ["alpha_c", "beta_c"], "reverse": ["beta_c"]}})
    responses = _simulated()
    trait = responses[["a1", "a2", "a3"]].mean(axis=1)
    rng = np.random.default_rng(2)
    for item in ("b1", "b2", "b3"):  # beta_c counts against the composite
        responses[item] = np.clip(np.round(3 - (trait - 3) + rng.normal(scale=0.8, size=300)), 1, 5)
    reliability, items = reliability_table(responses, book)
    row = reliability.set_index("construct").loc["gamma"]
    keyed = responses[["a1", "a2", "a3"]].join(6 - responses[["b1", "b2", "b3"]])
    assert row["n_items"] == 6
    assert row["alpha"] == pytest.approx(cronbach_alpha(keyed)[0])
    assert row["omega_total"] == pytest.approx(omega_total(keyed), abs=1e-6)
    assert row["alpha"] > 0.8 and row["warning"] == ""
    composite_items = items[items["construct"] == "gamma"].set_index("item")
    assert composite_items.loc["b1", "mean"] == pytest.approx(6 - responses["b1"].mean())
    unkeyed = _codebook_with(tmp_path, {"gamma": {"of": ["alpha_c", "beta_c"]}})
    flagged = reliability_table(responses, unkeyed)[0].set_index("construct").loc["gamma"]
    assert "b1 correlates negatively with the rest" in flagged["warning"]


@pytest.mark.parametrize(
    ("composites", "field"),
    [
        (
            {"gamma": {"of": ["alpha_c", "nope"]}},
            "field composites.gamma.of: unknown construct(s) ['nope']",
        ),
        (
            {"gamma": {"of": ["alpha_c", "beta_c"], "reverse": ["delta"]}},
            "field composites.gamma.reverse",
        ),
        (
            {"gamma": {"of": ["alpha_c", "beta_c"], "min_parts": 3}},
            "field composites.gamma.min_parts",
        ),
        (
            {"alpha_c": {"of": ["alpha_c", "beta_c"]}},
            "field composites.alpha_c: the name is also a construct",
        ),
        ({"gamma": {"of": ["alpha_c"]}}, "field composites.gamma.of"),
        ({"gamma": {"parts": ["alpha_c", "beta_c"]}}, "field composites.gamma"),
    ],
)
def test_composite_errors_name_the_field(tmp_path, composites, field):
    with pytest.raises(InputError) as caught:
        _codebook_with(tmp_path, composites)
    assert field in caught.value.message


def test_bundled_codebook_declares_learning_climate():
    book = load_codebook(ROOT / "data" / "codebook.yaml")
    climate = book.composites["learning_climate"]
    assert climate.parts == ("facilitation", "appreciation", "error_avoidance")
    assert climate.reverse == ("error_avoidance",)
