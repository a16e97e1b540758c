"""Score tests of equality constraints (lavaan's lavTestScore) and the likelihood-ratio tests
between invariance levels (lavTestLRT), against lavaan 0.6.14 on HolzingerSwineford1939 with
school as the groups. The fixtures come from tests/fixtures/modindices/make_modindices_fixtures.R.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem import invariance as iv
from lcsurvey.sem import multigroup
from lcsurvey.sem.fit_measures import scaled_difference
from lcsurvey.sem.multigroup import SCORE_COLUMNS, robust_level, score_tests, unshared

HERE = Path(__file__).parent / "fixtures"
HS = pd.read_csv(HERE / "r" / "holzinger_swineford.csv")
SCORE = pd.read_csv(HERE / "modindices" / "score.csv")
LRT = pd.read_csv(HERE / "modindices" / "lrt.csv")
FACTORS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
SCHOOLS = ["Pasteur", "Grant-White"]  # lavaan's group order (first appearance)
TESTS = {"total": "total", "uni": "univariate", "cumulative": "cumulative"}


@pytest.fixture(scope="module")
def school():
    return iv.fit_invariance(HS, FACTORS, "school", group_order=SCHOOLS, missing="listwise")


def _mlr(result) -> dict:
    """The levels' measures with lavaan's MLR scaling factor (no cluster)."""
    measures = {}
    for level, fit in result.fits.items():
        m = dict(result.measures[level])
        m.update(robust_level(fit, result.groups, m["df"])[1])
        measures[level] = m
    return measures


def _with_measures(result, measures):
    return dataclasses.replace(result, measures=measures)


@pytest.fixture(scope="module")
def school_fiml():
    holes = pd.read_csv(HERE / "r" / "invariance_fiml_hs.csv")
    return iv.fit_invariance(holes, FACTORS, "school", group_order=SCHOOLS, missing="fiml")


@pytest.mark.parametrize("case", ["school", "school_fiml"])
@pytest.mark.parametrize("level", ["metric", "scalar"])
def test_score_tests_match_lavaans_lavtestscore(request, case, level):
    """Complete data, and FIML with missing cells (the expected information given the
    missingness patterns, lavaan's default)."""
    result = request.getfixturevalue(case)
    ours = score_tests(result.fits[level], result.groups)
    reference = SCORE[SCORE["case"] == case]
    theirs = reference[reference["level"] == level].assign(test=lambda d: d["kind"].map(TESTS))
    assert list(ours.columns) == SCORE_COLUMNS
    assert list(ours["test"]) == list(theirs["test"])
    named = ours["lhs"] + " " + ours["op"] + " " + ours["rhs"]
    # lavaan names a constraint by its parameter labels; its first parameter is ours.
    expected = theirs["parameter"].fillna("").str.strip()
    assert list(named.str.strip()) == list(expected)
    np.testing.assert_allclose(ours["x2"], theirs["x2"], atol=1e-3)
    np.testing.assert_array_equal(ours["df"], theirs["df"])
    np.testing.assert_allclose(ours["pvalue"], theirs["pvalue"], atol=1e-4)
    assert set(ours.loc[ours["test"] != "total", "group"]) == {"Grant-White"}


def test_every_group_after_the_first_gets_one_constraint_per_shared_parameter(school):
    full, source, constraints = unshared(school.fits["scalar"].layout)
    assert len(constraints) == 6 + 9  # loadings but the markers, and the intercepts
    assert full.q == school.fits["scalar"].layout.q + len(constraints)
    for first, later, _ in constraints:
        assert source[first] == source[later]


def _lrt(case, method="default"):
    return LRT[(LRT["case"] == case) & (LRT["method"] == method)].iloc[0]


def test_the_ml_difference_matches_lavtestlrt_in_the_invariance_table():
    table = iv.invariance_table(HS, FACTORS, "school", missing="listwise")
    metric, scalar = (table[table["level"] == lv].iloc[0] for lv in ("metric", "scalar"))
    assert metric["delta_chisq"] == pytest.approx(8.192, abs=1e-3)
    for row, case in ((metric, "school_ml_metric"), (scalar, "school_ml_scalar")):
        ref = _lrt(case)
        assert row["delta_chisq"] == pytest.approx(ref["delta_chisq"], abs=1e-3)
        assert row["delta_df"] == ref["delta_df"] == 6
        assert row["delta_pvalue"] == pytest.approx(ref["delta_pvalue"], abs=1e-5)
        assert row["delta_method"] == "standard"
    configural = table[table["level"] == "configural"].iloc[0]
    assert pd.isna(configural["delta_chisq"]) and configural["delta_method"] == ""


@pytest.mark.parametrize("level", ["metric", "scalar"])
def test_the_mlr_difference_is_satorra_bentler_2001_as_lavtestlrt(school, level):
    result = _with_measures(school, _mlr(school))
    less = iv.LEVELS[iv.LEVELS.index(level) - 1]
    test = iv.nested_test(result, less, level)
    ref = _lrt(f"school_mlr_{level}")
    assert test["delta_method"] == "satorra.bentler.2001"
    assert test["delta_chisq"] == pytest.approx(ref["delta_chisq"], abs=1e-3)
    assert test["delta_pvalue"] == pytest.approx(ref["delta_pvalue"], abs=1e-4)


@pytest.mark.parametrize("level", ["metric", "scalar"])
def test_a_negative_2001_scaling_falls_back_to_satorra_bentler_2010(school, level):
    """With a less restricted model's scaling factor large enough for cd <= 0 the 2001 test
    is undefined; the 2010 one uses that model at the restricted estimates instead, so its
    value is lavaan's method = "satorra.bentler.2010" on the real fits."""
    measures = _mlr(school)
    less = iv.LEVELS[iv.LEVELS.index(level) - 1]
    m1, m0 = measures[less], measures[level]
    _, cd = scaled_difference(m0["chisq"], m0["df"], m0["chisq_scaling_factor"], 0, m1["df"], 2.0)
    assert cd < 0
    measures[less] = {**m1, "chisq_scaling_factor": 2.0}
    test = iv.nested_test(_with_measures(school, measures), less, level)
    ref = _lrt(f"school_mlr_{level}", "satorra.bentler.2010")
    assert test["delta_method"] == "satorra.bentler.2010"
    assert test["delta_chisq"] > 0
    assert test["delta_chisq"] == pytest.approx(ref["delta_chisq"], abs=1e-3)


def test_invariance_tables_give_the_score_tests_of_the_constrained_levels():
    table, scores = iv.invariance_tables(
        HS, FACTORS, "school", order=[(s, s) for s in SCHOOLS], missing="listwise"
    )
    assert list(scores.columns) == iv.SCORE_TABLE_COLUMNS
    assert set(scores["level"]) == {"metric", "scalar"}
    assert (scores["groups"] == "school").all()
    total = scores[(scores["level"] == "metric") & (scores["test"] == "total")].iloc[0]
    assert total["x2"] == pytest.approx(7.25586, abs=1e-3)
    assert len(table) == 3


def test_no_multi_group_model_gives_an_empty_score_table():
    one = HS[HS["school"] == "Pasteur"]
    table, scores = iv.invariance_tables(one, FACTORS, "school", missing="listwise")
    assert scores.empty and list(scores.columns) == iv.SCORE_TABLE_COLUMNS
    assert "fewer than two groups" in table["note"].iloc[0]


_PARTIAL = pd.read_csv(HERE / "modindices" / "partial.csv")
PARTIAL = _PARTIAL[_PARTIAL["case"] == "school_partial_scalar_x3_x7"].set_index("measure")["value"]
STRICT = _PARTIAL[_PARTIAL["case"] == "school_strict"].set_index("measure")["value"]


def _school_tables(**options):
    order = [(s, s) for s in SCHOOLS]
    return iv.invariance_tables(HS, FACTORS, "school", order=order, missing="listwise", **options)


def test_a_rejected_scalar_level_gets_a_partial_scalar_row_as_lavaans_group_partial():
    """Scalar invariance across schools fails Chen's rule; freeing the intercepts with the
    largest score tests (x3, then x7, as lavTestScore ranks them) makes it hold, and the fit
    is lavaan's cfa(..., group.partial = c("x3~1", "x7~1"))."""
    table, _ = _school_tables(partial_max_share=0.5)
    assert list(table["level"]) == ["configural", "metric", "scalar", "partial_scalar"]
    assert table.loc[2, "decision"] == "rejected"
    row = table.iloc[3]
    assert row["freed"] == "x3 ~1; x7 ~1" and row["decision"] == "holds"
    for measure in ("chisq", "cfi", "rmsea", "srmr", "delta_chisq"):
        assert row[measure] == pytest.approx(PARTIAL[measure], abs=1e-3), measure
    assert row["df"] == PARTIAL["df"] and row["delta_df"] == PARTIAL["delta_df"]
    assert row["delta_method"] == "standard" and row["rule"] == iv.chen_rule("scalar")


def test_no_partial_row_without_a_share_to_free_or_when_the_level_holds():
    table, _ = _school_tables()
    assert "partial_scalar" not in set(table["level"]) and (table["freed"] == "").all()
    table, _ = _school_tables(partial_max_share=0.1)  # floor(0.1 * 9 intercepts) = 0
    assert "partial_scalar" not in set(table["level"])
    assert "partial_metric" not in set(_school_tables(partial_max_share=1.0)[0]["level"])


def test_the_search_stops_at_the_share_and_keeps_one_equal_intercept_per_factor(school):
    metric = school.measures["metric"]
    partial = iv.partial_search(school, "scalar", {**metric, "cfi": 2.0}, max_share=1.0)
    # The rule cannot hold (reference CFI 2): every intercept that may go free goes free,
    # but one per factor stays equal so that the latent means stay identified.
    assert partial.decision == "rejected"
    assert len(partial.freed) == 6
    for items in FACTORS.values():
        assert sum((v, "~1", "") not in partial.free for v in items) == 1
    one = iv.partial_search(school, "scalar", {**metric, "cfi": 2.0}, max_share=0.25)
    assert one.freed == partial.freed[:2]  # floor(0.25 * 9) = 2


def test_a_freed_loading_is_free_in_every_group():
    layout = multigroup.make_layout(
        "metric", FACTORS, sum(FACTORS.values(), []), 3, frozenset({("visual", "=~", "x2")})
    )
    first, *later = layout.groups
    for gl in later:
        assert gl.lam[1, 0] != first.lam[1, 0] and gl.lam[1, 0] >= 0  # x2 on visual: own
        assert gl.lam[2, 0] == first.lam[2, 0]  # x3 on visual: shared
    assert layout.q == multigroup.make_layout("metric", FACTORS, sum(FACTORS.values(), []), 3).q + 2


def test_the_optional_strict_level_is_lavaans_residuals_equal_model():
    table, scores = _school_tables(strict=True)
    assert list(table["level"]) == ["configural", "metric", "scalar", "strict"]
    row = table.iloc[3]
    for measure in ("chisq", "cfi", "rmsea", "srmr", "delta_chisq"):
        assert row[measure] == pytest.approx(STRICT[measure], abs=1e-3), measure
    assert row["df"] == STRICT["df"] and row["delta_df"] == STRICT["delta_df"]
    assert row["rule"] == iv.chen_rule("strict") and row["decision"] in ("holds", "rejected")
    residuals = scores[(scores["level"] == "strict") & (scores["test"] == "univariate")]
    assert (residuals["op"] == "~~").sum() == 9
    assert list(_school_tables()[0]["level"]) == ["configural", "metric", "scalar"]
