"""Agreement and reliability of group means against R's multilevel package; the agreement table.

Reference numbers: tests/fixtures/agreement/make_agreement_fixtures.R (multilevel 2.7 on its
public data bh1996, lq2002 and bhr2000; versions.csv beside it). The project promises 1e-6; the
tests hold each quantity to 1e-10 (largest difference seen: 1.0e-14, ICC(2) of WBEING).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.survey.agreement import (
    AGREEMENT_COLUMNS,
    ad_m,
    agreement_table,
    icc1,
    icc2,
    left_out,
    response_options,
    rwg_j,
    uniform_null_variance,
)
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.codebook import Scale, load_codebook
from lcsurvey.survey.scales import composite_items, scale_scores

from .conftest import ROOT, SMALL_CODEBOOK

FIXTURES = ROOT / "tests" / "fixtures" / "agreement"
TOL = 1e-10
LEAD = [f"LEAD{i:02d}" for i in range(1, 12)]
HOSTIL = [f"HOSTIL{i:02d}" for i in range(1, 6)]
BHR = ["AF06", "AF07", "AP12", "AP17", "AP33", "AP34", "AS14", "AS15", "AS16", "AS17", "AS28"]
CASES = {
    ("lq2002", "LEAD"): ("lq2002.csv", LEAD, "COMPID"),
    ("lq2002", "HOSTIL"): ("lq2002.csv", HOSTIL, "COMPID"),
    ("bhr2000", "ALL"): ("bhr2000.csv", BHR, "GRP"),
}


def _reference(name: str, data: str, items: str) -> pd.DataFrame:
    table = pd.read_csv(FIXTURES / name)
    return table[(table["data"] == data) & (table["items"] == items)]


def _same_groups(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    # R sorts the groups as numbers (levels of a numeric factor), and so do we.
    np.testing.assert_array_equal(ours["grpid"].astype(float), ref["grpid"].astype(float))
    np.testing.assert_array_equal(ours["gsize"], ref["gsize"])


@pytest.mark.parametrize("variable", ["COHES", "LEAD", "HRS", "WBEING", "WBEING_NA"])
def test_icc1_and_icc2_match_multilevel_on_bh1996(variable):
    data = pd.read_csv(FIXTURES / "bh1996.csv")
    ref = pd.read_csv(FIXTURES / "icc.csv").set_index("variable").loc[variable]
    assert icc1(data[variable], data["GRP"]) == pytest.approx(ref["icc1"], abs=TOL)
    assert icc2(data[variable], data["GRP"]) == pytest.approx(ref["icc2"], abs=TOL)


def test_icc1_of_wellbeing_is_the_documented_value():
    data = pd.read_csv(FIXTURES / "bh1996.csv")
    assert icc1(data["WBEING"], data["GRP"]) == pytest.approx(0.04336905, abs=5e-9)
    assert icc2(data["WBEING"], data["GRP"]) == pytest.approx(0.7717129, abs=5e-8)


@pytest.mark.parametrize("options", [5, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_rwg_j_matches_multilevel(case, options):
    file, items, group = CASES[case]
    data = pd.read_csv(FIXTURES / file)
    ref = _reference("rwg_j.csv", *case)
    ref = ref[ref["options"] == options]
    ours = rwg_j(data[items], data[group], uniform_null_variance(options))
    _same_groups(ours, ref)
    np.testing.assert_array_equal(ours["rwg_j"].isna(), ref["rwg_j"].isna())
    np.testing.assert_allclose(ours["rwg_j"], ref["rwg_j"], atol=TOL, rtol=0)
    if options == 3:  # the narrow null: many groups are out of range and truncated to 0
        assert (ours["rwg_j"] == 0).sum() == (ref["rwg_j"] == 0).sum() > 0


@pytest.mark.parametrize("case", list(CASES))
def test_ad_m_matches_multilevel(case):
    file, items, group = CASES[case]
    data = pd.read_csv(FIXTURES / file)
    ref = _reference("ad_m.csv", *case)
    ours = ad_m(data[items], data[group])
    _same_groups(ours, ref)
    np.testing.assert_array_equal(ours["ad_m"].isna(), ref["ad_m"].isna())
    np.testing.assert_allclose(ours["ad_m"], ref["ad_m"], atol=TOL, rtol=0)


def test_rwg_j_and_ad_m_by_hand():
    items = pd.DataFrame({"x": [3, 3, 3, 1, 5, 2, 4], "y": [4, 4, 4, 1, 5, 4, np.nan]})
    groups = ["a", "a", "a", "b", "b", "c", "c"]
    rwg = rwg_j(items, groups, ranvar=2.0).set_index("grpid")
    assert rwg.loc["a", "rwg_j"] == 1.0  # identical answers: full agreement
    assert rwg.loc["b", "rwg_j"] == 0.0  # variance 8 > 2: out of range, truncated
    assert np.isnan(rwg.loc["c", "rwg_j"])  # the row with a missing item leaves one member
    assert rwg["gsize"].tolist() == [3, 2, 1]
    ad = ad_m(items, groups).set_index("grpid")
    assert ad.loc["a", "ad_m"] == 0.0
    assert ad.loc["b", "ad_m"] == pytest.approx(2.0)  # |1 - 3| = |5 - 3| = 2 on x and y
    assert np.isnan(ad.loc["c", "ad_m"])


def test_rwg_j_formula_between_the_bounds():
    # Two items, group variances 0.5 and 1.5: s2 = 1, s2/ranvar = .5, r = 2 * .5 / (2 * .5 + .5)
    items = pd.DataFrame({"x": [2.0, 3.0], "y": [1.0, 1.0 + np.sqrt(3.0)]})
    value = rwg_j(items, [1, 1], ranvar=2.0)["rwg_j"].iloc[0]
    assert value == pytest.approx(2 / 3, abs=1e-12)


def test_icc_needs_two_groups_and_within_spread():
    assert np.isnan(icc1([1.0, 2.0, 3.0], ["a", "a", "a"]))
    assert np.isnan(icc2([1.0, 2.0], ["a", "b"]))  # no within-group degrees of freedom


def test_response_options_and_null_variance():
    five = Scale("agree5", labels={float(c): (str(c),) for c in range(1, 6)})
    assert response_options(five) == 5
    assert response_options(Scale("age", min=16, max=80)) == 65
    assert uniform_null_variance(5) == 2.0
    assert uniform_null_variance(7) == 4.0


# ---- the agreement table ---------------------------------------------------------------------

MIN_CELL = 5


def _codebook(tmp_path):
    spec = copy.deepcopy(SMALL_CODEBOOK)
    spec["scales"]["community"] = {"min": 1, "max": 60}
    spec["background"]["community"] = {"column": "Q10", "scale": "community"}
    spec["composites"] = {"gamma": {"of": ["alpha_c", "beta_c"], "reverse": ["beta_c"]}}
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return load_codebook(path)


def _clustered(seed: int = 7) -> pd.DataFrame:
    """Twelve communities, three of them smaller than MIN_CELL; alpha_c shared within a
    community, beta_c not."""
    rng = np.random.default_rng(seed)
    sizes = [3, 4, 2, 8, 9, 10, 11, 12, 8, 7, 9, 10]
    community = np.repeat(np.arange(1, len(sizes) + 1), sizes)
    n = len(community)
    shared = rng.normal(scale=0.9, size=len(sizes))[community - 1]
    alpha = 3 + shared[:, None] + rng.normal(scale=0.5, size=(n, 3))
    beta = 3 + rng.normal(size=(n, 1)) + rng.normal(scale=0.6, size=(n, 3))
    data = np.clip(np.round(np.hstack([alpha, beta])), 1, 5)
    responses = pd.DataFrame(data, columns=["a1", "a2", "a3", "b1", "b2", "b3"])
    responses.loc[[5, 30, 31], "a2"] = np.nan  # incomplete items: still scored (min_items 2)
    responses.insert(0, "rid", [f"p{i:03d}" for i in range(n)])
    responses["community"] = community.astype(float)
    responses["age"] = 40.0
    return responses


def test_table_has_every_construct_and_composite_in_order(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    table = agreement_table(responses, book, resolve(responses, "community", book), MIN_CELL)
    assert list(table.columns) == AGREEMENT_COLUMNS
    assert table["construct"].tolist() == ["alpha_c", "beta_c", "gamma"]
    assert (table["n"] == len(responses)).all()
    assert (table["groups"] == 12).all()
    assert table["ad_cutoff"].tolist() == pytest.approx([5 / 6] * 3)
    assert (table["note"] == "").all()
    row = table.set_index("construct").loc["alpha_c"]
    assert row["icc1"] > 0.3 > table.set_index("construct").loc["beta_c", "icc1"]


def test_table_statistics_are_those_of_the_rated_groups(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    table = agreement_table(responses, book, resolve(responses, "community", book), MIN_CELL)
    row = table.set_index("construct").loc["alpha_c"]
    scores = scale_scores(responses, book)
    # ICC: every community, the small ones included.
    assert row["icc1"] == pytest.approx(icc1(scores["alpha_c"], responses["community"]), abs=1e-12)
    assert row["icc2"] == pytest.approx(icc2(scores["alpha_c"], responses["community"]), abs=1e-12)
    # r_wg(j), AD_M: communities with MIN_CELL members who answered every item. Community 6
    # (rows 26-35, 10 members) keeps 8 of them; communities 1-3 are too small anyway.
    items = responses[["a1", "a2", "a3"]]
    full = rwg_j(items, responses["community"], 2.0).set_index("grpid")
    rated = full[full["gsize"] >= MIN_CELL]
    assert full.loc[[1.0, 2.0, 3.0], "gsize"].tolist() == [3, 3, 2]  # row 5 lacks a2
    assert full.loc[6.0, "gsize"] == 8
    assert row["groups_small"] == 3 == 12 - len(rated)
    assert row["rwg_j_mean"] == pytest.approx(rated["rwg_j"].mean(), abs=1e-12)
    assert row["rwg_j_median"] == pytest.approx(rated["rwg_j"].median(), abs=1e-12)
    assert row["rwg_j_share_70"] == pytest.approx((rated["rwg_j"] >= 0.7).mean(), abs=1e-12)
    ad = ad_m(items, responses["community"]).set_index("grpid").loc[rated.index, "ad_m"]
    assert row["ad_m_mean"] == pytest.approx(ad.mean(), abs=1e-12)
    assert row["ad_m_median"] == pytest.approx(ad.median(), abs=1e-12)


def test_composite_agreement_uses_the_keyed_items_of_its_parts(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    table = agreement_table(responses, book, resolve(responses, "community", book), MIN_CELL)
    row = table.set_index("construct").loc["gamma"]
    keyed = composite_items(responses, book, book.composites["gamma"])
    assert keyed["b1"].tolist() == (6 - responses["b1"]).tolist()
    full = rwg_j(keyed, responses["community"], 2.0)
    rated = full[full["gsize"] >= MIN_CELL]
    assert row["rwg_j_mean"] == pytest.approx(rated["rwg_j"].mean(), abs=1e-12)
    score = scale_scores(responses, book)["gamma"]
    assert row["icc1"] == pytest.approx(icc1(score, responses["community"]), abs=1e-12)


def test_rows_without_a_cluster_are_left_out_and_counted(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    unknown = responses.copy()
    unknown.loc[[40, 41, 42], "community"] = np.nan
    clustering = resolve(unknown, "community", book)
    table = agreement_table(unknown, book, clustering, MIN_CELL)
    known = unknown.drop(index=[40, 41, 42])
    expected = agreement_table(known, book, resolve(known, "community", book), MIN_CELL)
    assert (table["n"] == len(responses) - 3).all()
    pd.testing.assert_frame_equal(table, expected)
    assert left_out(clustering) == "agreement statistics leave out the 3 rows without a community"
    assert left_out(resolve(responses, "community", book)) is None


@pytest.mark.parametrize(
    ("variable", "change", "reason"),
    [
        ("team", None, "'team' is not a variable of the codebook"),
        ("community", 1.0, "'community' has one cluster only"),
        ("community", "alone", "'community' puts every respondent in a cluster of their own"),
        (None, None, "no cluster variable (estimation.cluster: null)"),
    ],
)
def test_unusable_cluster_gives_rows_that_say_why(tmp_path, variable, change, reason):
    book = _codebook(tmp_path)
    responses = _clustered()
    if change == "alone":
        responses["community"] = np.arange(len(responses), dtype=float) + 1
    elif change is not None:
        responses["community"] = change
    table = agreement_table(responses, book, resolve(responses, variable, book), MIN_CELL)
    assert table["construct"].tolist() == ["alpha_c", "beta_c", "gamma"]
    assert (table["n"] == len(responses)).all()
    assert table["note"].str.contains(reason, regex=False).all()
    statistics = [c for c in AGREEMENT_COLUMNS if c.startswith(("icc", "rwg", "ad_m"))]
    assert table[statistics].isna().all().all()
    assert table["groups"].isna().all() and table["groups_small"].isna().all()
    assert table["ad_cutoff"].tolist() == pytest.approx([5 / 6] * 3)


def test_every_cluster_smaller_than_min_cell(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    table = agreement_table(responses, book, resolve(responses, "community", book), min_cell=13)
    assert (table["groups_small"] == 12).all()
    assert table["rwg_j_mean"].isna().all() and table["ad_m_median"].isna().all()
    assert table["note"].str.contains("no cluster has 13 or more members").all()
    assert table["icc1"].notna().all()  # the ICCs use every cluster


def test_a_cluster_smaller_than_min_cell_leaves_the_others_rated(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    table = agreement_table(responses, book, resolve(responses, "community", book), min_cell=11)
    # Of the sizes 3, 4, 2, 8, 9, 10, 11, 12, 8, 7, 9, 10 only 11 and 12 reach min_cell.
    row = table.set_index("construct").loc["beta_c"]
    assert row["groups_small"] == 10
    full = rwg_j(responses[["b1", "b2", "b3"]], responses["community"], 2.0).set_index("grpid")
    assert row["rwg_j_mean"] == pytest.approx(full.loc[[7.0, 8.0], "rwg_j"].mean(), abs=1e-12)
    assert row["note"] == ""


def test_a_construct_scored_in_one_cluster_only_says_so(tmp_path):
    book = _codebook(tmp_path)
    responses = _clustered()
    responses.loc[responses["community"] != 8.0, ["a1", "a2", "a3"]] = np.nan
    table = agreement_table(responses, book, resolve(responses, "community", book), MIN_CELL)
    row = table.set_index("construct").loc["alpha_c"]
    assert row["n"] == 12 and row["groups"] == 1
    assert np.isnan(row["icc1"]) and np.isnan(row["icc2"])
    assert row["note"] == "1 cluster with a score: no ICC"
    assert row["groups_small"] == 0 and row["rwg_j_share_70"] in (0.0, 1.0)
    # one member with a score in each of two clusters: no within-cluster spread to compare
    responses.loc[responses["community"] == 8.0, ["a1", "a2", "a3"]] = np.nan
    responses.loc[[0, 3], ["a1", "a2", "a3"]] = 3.0
    row = agreement_table(responses, book, resolve(responses, "community", book), MIN_CELL)
    row = row.set_index("construct").loc["alpha_c"]
    assert row["groups"] == 2 and np.isnan(row["icc1"])
    assert row["note"].startswith("one respondent with a score per cluster: no ICC")
    assert "no cluster has 5 or more members" in row["note"]
