"""Construct scores as observed variables of two-level models (lcsurvey.survey.model_scores):
which names are scores, the join by rid, and the model rule fitting a model on them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.model_scores import join_scores, score_names

from .conftest import ROOT, run_model_rule
from .test_twolevel import MODELS, _reference
from .test_twolevel_rule import FIXTURES


@pytest.fixture(scope="module")
def book():
    return load_codebook(ROOT / "data" / "codebook.yaml")


def test_the_study_model_names_five_construct_scores(book):
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    assert score_names(config["models"]["transfer_levels"], book, name="transfer_levels") == [
        "psychological_safety",
        "facilitation",
        "appreciation",
        "learning_behaviour",
        "knowledge_transfer",
    ]
    # a single-level model reads items; an item or background variable is never a score
    assert score_names(config["models"]["transfer"], book) == []
    syntax = "level: 1\n  tr1 ~ learning_climate + sector\nlevel: 2\n  tr1 ~ learning_climate\n"
    assert score_names(syntax, book) == ["learning_climate"]
    assert score_names("level: 1\n  y ~\nlevel: 2\n  y ~ x\n", book) == []  # the rule says why


def _split(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Demo.twolevel as responses (no y1, y2) and scores (rid, y1, y2) in another order."""
    data = data.assign(rid=[f"r{i:04d}" for i in range(len(data))])
    responses = data.drop(columns=["y1", "y2"])
    scores = data[["rid", "y1", "y2"]].sample(frac=1.0, random_state=1)
    return responses, scores


def test_scores_are_joined_by_rid_in_the_order_of_the_responses():
    responses, scores = _split(pd.read_csv(FIXTURES / "data.csv"))
    joined = join_scores(responses, scores, ["y1", "y2"], name="m")
    assert joined.index.equals(responses.index)
    assert joined["rid"].tolist() == responses["rid"].tolist()
    original = pd.read_csv(FIXTURES / "data.csv")
    np.testing.assert_array_equal(joined[["y1", "y2"]], original[["y1", "y2"]])


def test_a_respondent_without_scores_gets_missing_values_with_a_warning():
    responses, scores = _split(pd.read_csv(FIXTURES / "data.csv").head(20))
    with pytest.warns(UserWarning, match="model 'm': 2 of 20 respondents have no row"):
        joined = join_scores(responses, scores[~scores["rid"].isin(["r0003", "r0011"])],
                             ["y1"], name="m")  # fmt: skip
    assert joined["y1"].isna().tolist() == [i in (3, 11) for i in range(20)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.drop(columns="y2"), r"model 'm' uses \['y2'\], which are neither columns"),
        (lambda s: s.rename(columns={"rid": "id"}), "the scores have no respondent key 'rid'"),
        (lambda s: pd.concat([s, s.head(1)]), "the scores table has a respondent more than once"),
    ],
)
def test_scores_that_cannot_be_joined_say_why(change, message):
    responses, scores = _split(pd.read_csv(FIXTURES / "data.csv").head(20))
    with pytest.raises(InputError, match=message):
        join_scores(responses, change(scores), ["y1", "y2"], name="m")


def test_the_model_rule_fits_a_two_level_model_on_joined_scores_as_lavaan(tmp_path):
    # lavaan's 2-1-1 mediation of Demo.twolevel, with y1 and y2 coming from the scores table
    responses, scores = _split(pd.read_csv(FIXTURES / "data.csv"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every respondent has scores: no warning
        log = run_model_rule(tmp_path, responses, model="mediation", syntax=MODELS["mediation"],
                             cluster="cluster", missing="listwise", scores=scores)  # fmt: skip
    assert "construct scores joined to the responses by rid: y2, y1" in log
    ours = pd.read_csv(tmp_path / "estimates.csv", keep_default_na=False)
    ours = ours[ours["op"] != ":="].astype({"est": float})
    ref = _reference("mediation_complete")
    merged = ref.merge(ours, on=["level", "lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ours) > 10
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=1e-3)
