"""Analyses stage: motives, main motive, moderation and diversity against R, and recovery.

Reference numbers: tests/fixtures/r/make_analysis_fixtures.R (R's t.test, p.adjust, prop.test,
lm with sandwich::vcovHC / vcovCL, lme4::lmer) on the seeded data set it writes beside them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.study import analyses
from lcsurvey.study.simulate import default_truth, simulate_population
from lcsurvey.survey.codebook import load_codebook

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "r"
CODEBOOK = REPO / "data" / "codebook.yaml"
TOL = 1e-6  # R and Python on the same data: only floating-point differences remain


@pytest.fixture(scope="module")
def book():
    return load_codebook(CODEBOOK)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(FIXTURES / "analysis_data.csv")


def reference(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"analysis_{name}.csv")


def assert_close(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    columns: list[str],
    rtol: float = TOL,
    atol: float = TOL,
) -> None:
    assert len(ours) == len(theirs)
    for column in columns:
        np.testing.assert_allclose(
            ours[column].to_numpy(dtype=float),
            theirs[column].to_numpy(dtype=float),
            rtol=rtol,
            atol=atol,
            err_msg=column,
        )


# --------------------------------------------------------------------------------------------
# Building blocks.
# --------------------------------------------------------------------------------------------


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), method = "holm") = 0.03 0.06 0.06 0.02
    np.testing.assert_allclose(analyses.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_wilson_ci_matches_prop_test():
    # R: prop.test(15, 50, correct = FALSE)$conf.int = 0.1910355 0.4375035
    low, high = analyses.wilson_ci(15, 50)
    assert low == pytest.approx(0.1910355, abs=1e-7)
    assert high == pytest.approx(0.4375035, abs=1e-7)
    assert np.isnan(analyses.wilson_ci(0, 0)).all()  # nobody answered: nothing to say


def test_mean_ci_matches_t_test():
    # R: t.test(c(1, 2, 3, 4, 5))$conf.int = 1.036757 4.963243
    out = analyses.mean_ci(pd.Series([1, 2, 3, 4, 5, np.nan]))
    assert out["n"] == 5
    assert out["ci_lower"] == pytest.approx(1.036757, abs=1e-6)
    assert out["ci_upper"] == pytest.approx(4.963243, abs=1e-6)


def test_small_cells_are_merged_and_never_shown_alone():
    counts = pd.Series({"a": 50, "b": 30, "c": 4, "d": 3})
    table = analyses.merge_small_cells(counts, 10)
    assert table.loc[~table["merged"], "label"].tolist() == ["a"]
    assert table.loc[table["merged"], "n"].item() == 7 + 30  # 7 < 10, so b joins
    assert table["n"].sum() == counts.sum()
    single = analyses.merge_small_cells(pd.Series({"a": 50, "b": 30, "c": 4}), 10)
    assert not (single["n"] < 10).any()  # a lone small cell takes the smallest other with it
    assert 4 not in single["n"].tolist()


# --------------------------------------------------------------------------------------------
# Against R.
# --------------------------------------------------------------------------------------------


def test_motives_match_r_t_test_and_holm(data, book):
    ours = analyses.motives(data, book)
    theirs = reference("motives")
    assert ours["construct"].tolist() == theirs["construct"].tolist()
    assert_close(ours, theirs, ["n", "mean", "sd", "ci_lower", "ci_upper", "t", "df"])
    assert_close(ours, theirs, ["pvalue", "p_holm"], rtol=1e-6, atol=1e-12)
    assert list(ours.columns) == analyses.MOTIVE_COLUMNS
    assert (ours["midpoint"] == 3).all()  # agree5
    verdicts = dict(zip(ours["construct"], ours["verdict"], strict=True))
    assert verdicts == {
        "motive_knowledge": "motive",
        "motive_network": "motive",
        "motive_labour": "not a motive",
        "motive_societal": "undecided",
    }


def test_main_motive_matches_r_wilson(data, book):
    ours = analyses.main_motive(data, book, min_cell=10)
    theirs = reference("main_motive")
    assert ours["category"].tolist()[:3] == [1, 2, 4]
    assert ours["category"].isna().tolist() == [False, False, False, True]
    assert ours.loc[3, "members"] == "5; 3" and bool(ours.loc[3, "merged"])
    assert_close(ours, theirs, ["n", "n_total", "share", "ci_lower", "ci_upper"])
    assert (ours["n"] >= 10).all()


def test_moderation_matches_r_lm_with_hc3(data):
    result = analyses.moderation(data)
    ours, theirs = result.coefficients, reference("moderation")
    assert ours["term"].tolist() == theirs["term"].tolist()
    assert_close(ours, theirs, ["est", "se", "t", "df", "ci_lower", "ci_upper", "n", "r2"])
    assert_close(ours, theirs, ["pvalue"], rtol=1e-6, atol=1e-12)
    slopes, r_slopes = result.simple_slopes, reference("simple_slopes")
    assert_close(
        slopes,
        r_slopes,
        ["moderator_level", "moderator_value", "slope", "se", "ci_lower", "ci_upper"],
    )
    assert_close(slopes, r_slopes, ["pvalue"], rtol=1e-6, atol=1e-12)
    # the mean-level slope is the centred model's coefficient of the predictor
    assert slopes.loc[1, "slope"] == pytest.approx(ours.loc[1, "est"], abs=1e-12)
    # each line passes through the model's prediction at the predictor's mean
    b = ours["est"].to_numpy()
    m_c = (
        slopes["moderator_value"]
        - data["home_support"][
            data[["knowledge_transfer", "perceived_learning", "home_support"]].notna().all(axis=1)
        ].mean()
    )
    np.testing.assert_allclose(slopes["intercept"], b[0] + b[2] * m_c, atol=1e-12)


def test_heterogeneity_matches_r(data):
    ours, theirs = analyses.community_heterogeneity(data), reference("heterogeneity")
    assert_close(ours, theirs, ["community", "n", "majority_sector", "share_other_sector"])


def test_diversity_matches_r_vcovcl_and_lmer(data):
    ours = analyses.diversity(data, data)
    theirs = reference("diversity")
    key = ["outcome", "method", "term"]
    ours = ours.sort_values(key).reset_index(drop=True)
    theirs = theirs.sort_values(key).reset_index(drop=True)
    assert ours[key].equals(theirs[key])
    assert_close(ours, theirs, ["n", "n_clusters"])
    cluster = ours["method"] == "ols_cluster"
    assert_close(ours[cluster], theirs[cluster], ["est", "se", "pvalue", "ci_lower", "ci_upper"])
    # lmer: its optimiser (bobyqa) stops about 1e-7 (relative) from the REML optimum
    assert_close(ours[~cluster], theirs[~cluster], ["est", "se", "ci_lower", "ci_upper"])
    assert_close(ours[~cluster], theirs[~cluster], ["pvalue"], rtol=1e-5, atol=1e-10)


# --------------------------------------------------------------------------------------------
# Behaviour.
# --------------------------------------------------------------------------------------------


def test_motive_verdicts_follow_the_interval_and_holm(book):
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(
        {
            "motive_knowledge": np.clip(rng.normal(4.2, 0.6, 200), 1, 5),
            "motive_network": np.clip(rng.normal(3.0, 0.6, 200), 1, 5),
            "motive_labour": np.clip(rng.normal(2.2, 0.6, 200), 1, 5),
        }
    )
    tests = analyses.motives(scores, book).set_index("construct")
    assert tests.loc["motive_knowledge", "verdict"] == "motive"
    assert tests.loc["motive_labour", "verdict"] == "not a motive"
    assert tests.loc["motive_network", "verdict"] == "undecided"
    assert (tests["p_holm"] >= tests["pvalue"]).all()
    assert "motive_societal" not in tests.index  # absent scores are left out, not invented


def test_random_intercept_on_the_boundary_is_plain_ols():
    # No community variance at all: REML puts tau^2 at 0 and the fit equals OLS.
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(10), 20)
    x = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = x @ [1.0, 0.5] + rng.normal(size=200) - 0  # no group effect
    y = y - pd.Series(y).groupby(groups).transform("mean").to_numpy() + 1  # group means equal
    beta, _, tau2, _ = analyses.random_intercept(y, x, groups)
    ols = np.linalg.lstsq(x, y, rcond=None)[0]
    assert tau2 < 1e-6
    np.testing.assert_allclose(beta, ols, atol=1e-6)


def test_moderation_needs_its_columns():
    with pytest.raises(InputError, match="home_support"):
        analyses.moderation(
            pd.DataFrame({"knowledge_transfer": [1.0], "perceived_learning": [2.0]})
        )


# --------------------------------------------------------------------------------------------
# Recovery on a large simulated population.
# --------------------------------------------------------------------------------------------

N_RECOVERY = 20_000
MODERATION_VARS = ["perceived_learning", "home_support", "knowledge_transfer"]


@pytest.fixture(scope="module")
def population():
    return simulate_population(N_RECOVERY, np.random.default_rng(20211201))


def _true_interaction() -> float:
    regressions = default_truth()["regressions"]
    return next(
        r["std_all"]
        for r in regressions
        if r["lhs"] == "knowledge_transfer" and r["rhs"] == "perceived_learning:home_support"
    )


def _standardised(frame: pd.DataFrame) -> pd.DataFrame:
    return (frame - frame.mean()) / frame.std()


def test_moderation_recovers_the_true_interaction_from_true_scores(population):
    # Scale: standardised latent scores (TRUTH.yaml's std_all, 0.15). Tolerance 0.02 (about
    # three standard errors at n = 20,000).
    true_scores = pd.DataFrame({v: population[f"true_{v}"] for v in MODERATION_VARS})
    result = analyses.moderation(_standardised(true_scores))
    interaction = result.coefficients.set_index("term").loc["perceived_learning:home_support"]
    assert interaction["est"] == pytest.approx(_true_interaction(), abs=0.02)
    assert interaction["pvalue"] < 0.001
    slopes = result.simple_slopes["slope"].to_numpy()
    assert slopes[0] < slopes[1] < slopes[2]  # more support, stronger link


def test_moderation_on_observed_scale_scores_is_attenuated_as_expected(population, book):
    # Scale: standardised observed scale scores (item means). Measurement error attenuates the
    # product term by the three reliability indices, corr(observed, true) each; the estimate
    # must be positive and within 0.025 of 0.15 x their product (about four standard errors).
    items = {v: population[list(book.constructs[v].items)].mean(axis=1) for v in MODERATION_VARS}
    observed = pd.DataFrame(items)
    attenuation = np.prod(
        [np.corrcoef(observed[v], population[f"true_{v}"])[0, 1] for v in MODERATION_VARS]
    )
    raw = analyses.moderation(observed).coefficients.set_index("term")
    assert raw.loc["perceived_learning:home_support", "est"] > 0
    assert raw.loc["perceived_learning:home_support", "ci_lower"] > 0
    std = analyses.moderation(_standardised(observed)).coefficients.set_index("term")
    assert std.loc["perceived_learning:home_support", "est"] == pytest.approx(
        _true_interaction() * attenuation, abs=0.025
    )


def test_heterogeneity_recovers_the_community_sector_mix(population):
    ours = analyses.community_heterogeneity(population).set_index("community")
    truth = pd.DataFrame(default_truth()["communities"]).set_index("community")
    assert (ours["majority_sector"] == truth["majority_sector"]).all()
    p = truth["share_other_sector"]
    se = np.sqrt(p * (1 - p) / ours["n"])
    assert ((ours["share_other_sector"] - p).abs() < 4 * se).all()


def test_truth_file_states_the_interaction():
    truth = yaml.safe_load((REPO / "data" / "raw" / "TRUTH.yaml").read_text(encoding="utf-8"))
    stated = [
        r["std_all"] for r in truth["regressions"] if r["rhs"] == "perceived_learning:home_support"
    ]
    assert stated == [_true_interaction()]
