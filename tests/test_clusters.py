"""The cluster variable: codes per row, and what makes a configured variable unusable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem.clusters import cluster_codes, sum_within
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.codebook import load_codebook

from .test_report import CODEBOOK


def test_codes_follow_first_appearance_and_a_missing_label_is_its_own_cluster():
    codes = cluster_codes(pd.Series([7.0, np.nan, 7.0, 3.0, None, 3.0]))
    assert codes.tolist() == [0, 2, 0, 1, 3, 1]
    assert cluster_codes(np.array(["b", "a", "b"])).tolist() == [0, 1, 0]


def test_sums_within_clusters():
    values = np.arange(12.0).reshape(6, 2)
    sums = sum_within(values, np.array([0, 1, 0, 2, 1, 0]))
    assert sums.tolist() == [[14.0, 17.0], [10.0, 12.0], [6.0, 7.0]]


@pytest.fixture
def responses() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    community = np.repeat([1.0, 2.0, 3.0, 4.0], 10)
    community[[3, 17]] = np.nan
    return pd.DataFrame(
        {
            "rid": [f"p{i}" for i in range(40)],
            "community": community,
            "fac1": rng.integers(1, 6, 40),
        }
    )


def test_a_usable_cluster_counts_clusters_and_rows_without_one(responses):
    clustering = resolve(responses, "community", load_codebook(CODEBOOK))
    assert clustering.active and clustering.problem is None
    assert (clustering.clusters, clustering.missing) == (4, 2)
    assert "2 rows without a community are kept, each as a cluster of its own" in (
        clustering.describe()
    )


@pytest.mark.parametrize(
    ("variable", "change", "reason", "words"),
    [
        ("district", None, "not_in_codebook", "is not a variable of the codebook"),
        ("community", "drop", "not_in_data", "is not a column of the cleaned data"),
        ("community", "empty", "no_values", "has no value in any row"),
        ("community", "one", "one_cluster", "has one cluster only (1 distinct value in 38 rows"),
        ("community", "alone", "all_alone", "every respondent in a cluster of their own"),
    ],
)
def test_an_unusable_cluster_variable_says_what_was_found(
    responses, variable, change, reason, words
):
    if change == "drop":
        responses = responses.drop(columns="community")
    elif change == "empty":
        responses["community"] = np.nan
    elif change == "one":
        responses.loc[responses["community"].notna(), "community"] = 5.0
    elif change == "alone":
        responses["community"] = np.arange(len(responses), dtype=float)
    clustering = resolve(responses, variable, load_codebook(CODEBOOK))
    assert not clustering.active and clustering.reason == reason
    assert f"estimation.cluster {variable!r}" in clustering.problem and words in clustering.problem
    assert clustering.describe().endswith("respondents are treated as independent")


def test_no_cluster_variable_means_independent_respondents(responses):
    clustering = resolve(responses, None)
    assert not clustering.active and clustering.problem is None
    assert "estimation.cluster: null" in clustering.describe()
