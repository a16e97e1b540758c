"""Disclosure risk and protection (lcsurvey.survey.disclosure) against hand-computed cases,
pycanon, and on the bundled waves' data package."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycanon import anonymity

from lcsurvey.report.datapackage import package_tables
from lcsurvey.survey import disclosure
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.pseudonym import DEVELOPMENT_KEY
from lcsurvey.survey.scales import scale_scores

from .conftest import ROOT

# Six records on two keys; the last has `a` missing, which matches any value of `a`.
HAND = pd.DataFrame({"a": [1, 1, 1, 2, 2, np.nan], "b": ["x", "x", "y", "y", "y", "y"]})
# By hand: (1,x) twice; (1,y) with (NaN,y); (2,y) twice with (NaN,y); (NaN,y) with the four y.
HAND_FK = [2, 2, 2, 3, 3, 4]


def test_key_frequencies_count_a_missing_value_as_any_category():
    assert disclosure.key_frequencies(HAND, ["a", "b"]).tolist() == HAND_FK
    # One key only: a's 1 three times plus the missing; the missing matches all six.
    assert disclosure.key_frequencies(HAND, ["a"]).tolist() == [4, 4, 4, 3, 3, 6]
    # No keys: every record is alike.
    assert disclosure.key_frequencies(HAND, []).tolist() == [6] * 6


def test_risk_measures_of_the_hand_case():
    measures = disclosure.risk_measures(HAND, ["a", "b"])
    assert measures["risk"].tolist() == pytest.approx([1 / 2, 1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 4])
    assert not measures["sample_unique"].any()
    risk = disclosure.risk_summary(HAND, ["a", "b"], target=3)
    assert (risk.records, risk.k, risk.below, risk.sample_uniques) == (6, 2, 3, 0)
    assert risk.expected_reidentifications == pytest.approx(1.5 + 2 / 3 + 1 / 4)
    assert risk.max_risk == 0.5
    uniques = disclosure.risk_summary(pd.DataFrame({"a": [1, 2, 2]}), ["a"], target=2)
    assert (uniques.k, uniques.below, uniques.sample_uniques) == (1, 1, 1)
    assert uniques.expected_reidentifications == pytest.approx(2.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from("pq")),
        min_size=1,
        max_size=60,
    )
)
def test_without_missing_values_k_is_pycanons(rows):
    frame = pd.DataFrame(rows, columns=["a", "b", "c"])
    fk = disclosure.key_frequencies(frame, ["a", "b", "c"])
    assert int(fk.min()) == anonymity.k_anonymity(frame, ["a", "b", "c"])
    sizes = frame.groupby(["a", "b", "c"])["a"].transform("size")
    assert fk.tolist() == sizes.tolist()


def test_local_suppression_of_the_hand_case():
    frame = pd.DataFrame({"a": [1, 1, 1, 2, 2, 3], "b": ["x", "x", "x", "y", "y", "y"]})
    # (3,y) is unique. Emptying a makes it (NaN,y), shared with the two (2,y): 3; emptying b
    # leaves (3,NaN) alone: 1. So one cell, a of the last record, and the (2,y) pair then has
    # 3 as well.
    protection = disclosure.protect(frame, ["a", "b"], target=3)
    assert protection.suppressed == {"a": 1, "b": 0}
    assert protection.frame["a"].isna().tolist() == [False] * 5 + [True]
    assert protection.frame["b"].tolist() == frame["b"].tolist()
    assert (protection.before.k, protection.after.k) == (1, 3)
    assert protection.information_loss == pytest.approx(1 / 12)


def test_equal_gains_suppress_the_variable_with_more_categories_first():
    # The last record is unique; emptying either key makes it match one other record (gain
    # 2 both), so c, with three categories against a's two, goes.
    frame = pd.DataFrame({"a": [1, 1, 2, 2], "c": ["p", "q", "r", "q"]})
    protection = disclosure.protect(frame, ["a", "c"], target=2)
    assert protection.frame.loc[0, "c"] is np.nan or pd.isna(protection.frame.loc[0, "c"])
    assert protection.after.k >= 2


def test_fewer_records_than_k_leaves_every_key_empty():
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [1, 1, 2]})
    protection = disclosure.protect(frame, ["a", "b"], target=5)
    assert protection.frame.isna().all().all()
    assert protection.after.k == 3  # all there is


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 2))),
        min_size=5,
        max_size=80,
    ),
    st.integers(2, 5),
)
def test_protection_reaches_k_and_only_empties_cells(rows, target):
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype="float")
    protection = disclosure.protect(frame, ["a", "b", "c"], target)
    assert protection.after.k >= target
    for name in ["a", "b", "c"]:
        kept = protection.frame[name].notna()
        assert (protection.frame.loc[kept, name] == frame.loc[kept, name]).all()
        emptied = int((frame[name].notna() & ~kept).sum())
        assert protection.suppressed[name] == emptied


def test_bands_cut_numbers_at_the_configured_points():
    assert disclosure.band_labels([35, 45, 55]) == ["under 35", "35-44", "45-54", "55 or over"]
    coded = disclosure.recode_bands(pd.Series([20, 35, 44, 45, 70, np.nan]), [35, 45, 55])
    assert coded.tolist()[:5] == [1, 2, 2, 3, 4] and np.isnan(coded.iloc[5])


def test_proposed_bands_hold_about_four_k_each():
    values = pd.Series(np.arange(1, 101))
    assert disclosure.propose_breaks(values, 10) == [51.0]  # two bands of 50
    assert disclosure.propose_breaks(values, 5) == [21.0, 41.0, 61.0, 81.0]  # five of 20
    assert disclosure.propose_breaks(pd.Series(np.arange(15)), 10) == []  # fewer than 2 k


def test_merged_categories_take_the_smallest_code():
    merged, groups = disclosure.merge_categories(pd.Series([1.0, 2, 3, 4, np.nan]), [[4, 3]])
    assert merged.tolist()[:4] == [1, 2, 3, 3] and groups == {3.0: [3.0, 4.0]}


@pytest.fixture(scope="module")
def bundled_results(tmp_path_factory):
    """results/ of the bundled waves as the clean and scales rules write them."""
    results = tmp_path_factory.mktemp("results")
    book = load_codebook(ROOT / "data" / "codebook.yaml")
    for wave, name in (("2021-12", "wave_2021-12.csv"), ("2022-06", "wave_2022-06.sav")):
        kept = clean_file(
            str(ROOT / "data" / "raw" / name), book, wave=wave, rules=None, key=DEVELOPMENT_KEY
        ).kept
        (results / wave / "clean").mkdir(parents=True)
        (results / wave / "scales").mkdir(parents=True)
        kept.to_parquet(results / wave / "clean" / "responses.parquet")
        scale_scores(kept, book).to_parquet(results / wave / "scales" / "scores.parquet")
    return results, book


def test_the_bundled_data_package_is_10_anonymous_with_the_recodes_listed(bundled_results):
    results, book = bundled_results
    quasi = ["community", "sector", "org_size", "role", "age", "gender", "months"]
    assert disclosure.quasi_identifiers(book.background) == quasi
    tables = package_tables(results, book, ["2021-12", "2022-06"], 10, "community")
    control = tables[-1].frame.set_index(["wave", "variable"])
    for table in tables[:-1:2]:
        wave = table.frame["wave"].iloc[0]
        raw = pd.read_parquet(results / wave / "clean" / "responses.parquet")
        # As the issue counts: nearly everyone is unique before, nobody is after.
        before = disclosure.risk_summary(raw, quasi, 10)
        assert before.sample_uniques > 0.95 * before.records
        after = disclosure.risk_summary(table.frame, quasi, 10)
        assert after.k >= 10 and after.sample_uniques == 0
        combined = control.loc[(wave, "(all quasi-identifiers)")]
        assert combined["k_after"] == after.k and combined["k_before"] == before.k
        assert combined["sample_uniques_before"] == before.sample_uniques
        # The recodes are listed: age and months in bands, gender's small category emptied.
        assert control.loc[(wave, "age"), "recoding"].startswith("in bands (proposed): under ")
        assert control.loc[(wave, "months"), "recoding"].startswith("in bands (proposed): under ")
        assert control.loc[(wave, "gender"), "recoding"].startswith(
            "small categories made empty: 3"
        )
        assert control.loc[(wave, "sector"), "recoding"] == "none"
        # The answers made empty add up to the empty cells the table gained.
        for name in quasi:
            lost = int((raw[name].notna() & table.frame[name].isna()).sum())
            assert control.loc[(wave, name), "emptied"] == lost
            assert 0 < control.loc[(wave, name), "suppressed"] <= lost
        assert 0 < combined["information_loss"] < 0.5
        # Every published category of a quasi-identifier has min_cell answers.
        for name in quasi:
            assert table.frame[name].value_counts().min() >= 10
    # Persons linked over the two waves by rid: every combination shared by 10 as well.
    linked = control.loc[("(all waves)", "(all quasi-identifiers, linked by rid)")]
    assert linked["k_after"] >= 10 and linked["sample_uniques_after"] == 0


def test_waves_k_anonymous_alone_are_protected_when_linked_by_rid():
    from lcsurvey.report.datapackage import Table, _link_waves

    rid = pd.Series([f"p{i:02d}" for i in range(20)])
    # Each wave alone: two groups of 10. Linked: four groups of 5.
    first = pd.DataFrame({"rid": rid, "wave": "w1", "g": [1.0] * 10 + [2.0] * 10})
    second = pd.DataFrame({"rid": rid, "wave": "w2", "g": [1.0, 2.0] * 10})
    tables = [
        Table(
            name=f"responses-{frame['wave'][0]}",
            path="",
            frame=frame,
            schema={},
            title="",
            quasi={"g": {"field": {}, "original": frame["g"].copy(), "summary": ""}},
        )
        for frame in (first, second)
    ]
    for table in tables:
        assert disclosure.risk_summary(table.frame, ["g"], 10).k == 10
    row = _link_waves(tables, target=10, min_cell=10)
    assert (row["k_before"], row["sample_uniques_before"]) == (5, 0)
    persons = pd.concat(
        [t.frame.set_index("rid")[["g"]].add_prefix(t.name) for t in tables], axis=1
    )
    linked = disclosure.risk_summary(persons, list(persons), 10).k
    assert linked == row["k_after"] and linked >= 10
    assert row["suppressed"] == int(sum(t.frame["g"].isna().sum() for t in tables)) > 0
