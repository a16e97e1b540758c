"""Study roles from config: the schema's defaults as Snakemake fills them, the stages a config
and codebook can run, and one Holm adjustment for both of its callers."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from snakemake.utils import validate as snakemake_validate

from lcsurvey.schema import SCHEMA_DIR, defaults
from lcsurvey.study import analyses, power_config, waves
from lcsurvey.study.roles import skipped_stages, study_roles
from lcsurvey.survey import clean
from lcsurvey.survey.codebook import load_codebook

from .conftest import ROOT

CONFIG_SCHEMA = str(SCHEMA_DIR / "config.schema.yaml")
BUNDLED = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def book():
    return load_codebook(ROOT / "data" / "codebook.yaml")


def filled(config: dict) -> dict:
    """config as the Snakefile's validate(config, schema) leaves it."""
    config = copy.deepcopy(config)
    snakemake_validate(config, CONFIG_SCHEMA)
    return config


def minimal() -> dict:
    return {
        "codebook": "data/codebook.yaml",
        "waves": {"w1": "data/raw/w1.csv"},
        "models": {"bigfive": "extraversion =~ e1 + e2 + e3\n"},
    }


def test_validate_fills_nested_defaults_as_lcsurvey_schema_defaults_does():
    config = filled(minimal())
    assert config["roles"]["moderation"] == {
        "outcome": "knowledge_transfer",
        "predictor": "perceived_learning",
        "moderator": "home_support",
    }
    assert config["roles"]["diversity"] == {"cluster": "community", "composition": "sector"}
    assert config["cleaning"]["min_progress"] == 100
    assert config["estimation"]["bootstrap"] == 2000
    expected = defaults("config")
    for key, value in expected.items():
        if key not in ("codebook", "models"):
            assert config[key] == value, key
    assert filled({"codebook": "c.yaml", "waves": {"w": "w.csv"}})["models"] == {}


def test_the_bundled_config_filled_keeps_its_own_values():
    config = filled(BUNDLED)
    assert config["report"]["model"] == "transfer"
    assert config["roles"] == study_roles()
    assert config["report"]["effects"] == ["indirect", "via_safety"]
    # A key the user sets inside a nested block keeps the block's other defaults.
    config = filled({**minimal(), "roles": {"moderation": {"moderator": "agreeableness"}}})
    assert config["roles"]["moderation"]["moderator"] == "agreeableness"
    assert config["roles"]["moderation"]["outcome"] == "knowledge_transfer"
    assert config["roles"]["panel"]["cause"] == "perceived_learning"


def test_code_defaults_are_the_schemas():
    schema = defaults("config")
    assert schema["cleaning"] == clean.DEFAULT_RULES
    assert schema["power"] == power_config.DEFAULTS
    # Fresh copies: a caller's change does not leak into the next call.
    study_roles()["motives"].append("changed")
    assert "changed" not in study_roles()["motives"]


def test_the_bundled_config_and_codebook_run_every_stage(book):
    assert skipped_stages(filled(BUNDLED), book) == {}


def test_another_questionnaire_skips_the_study_stages_with_reasons(book):
    other = dataclasses.replace(
        book,
        constructs={k: v for k, v in book.constructs.items() if k.startswith("motive")},
        composites={},
        background={k: v for k, v in book.background.items() if k != "sector"},
    )
    config = filled(minimal())
    skipped = skipped_stages(config, other)
    assert set(skipped) == {
        "analyses",
        "report",
        "comparability",
        "panel",
        "invariance sector",
        "power",
    }
    assert "motive" not in skipped["analyses"]
    assert (
        "the codebook has no constructs facilitation, appreciation, error_avoidance, "
        "psychological_safety (config roles.climate)"
    ) in skipped["analyses"]
    assert "no background variables sector (config roles.diversity)" in skipped["analyses"]
    assert "report.model 'transfer' is not among the models (bigfive)" in skipped["report"]
    assert "it needs the analyses" in skipped["report"]
    assert "power.model" in skipped["power"]
    # Roles that name what this codebook has: the analyses run.
    config["roles"].update(
        climate=["motive_network"],
        diversity={"cluster": "community", "composition": "org_size"},
        moderation={
            "outcome": "motive_knowledge",
            "predictor": "motive_network",
            "moderator": "motive_labour",
        },
    )
    config["invariance"]["groups"] = ["org_size"]
    assert "analyses" not in skipped_stages(config, other)
    assert "invariance org_size" not in skipped_stages(config, other)


def test_power_is_skipped_when_its_effects_do_not_fit_the_model(book):
    config = filled({**BUNDLED, "power": {"effects": ["nonsense"]}})
    assert set(skipped_stages(config, book)) == {"power"}
    assert "power.effects ['nonsense']" in skipped_stages(config, book)["power"]


# --------------------------------------------------------------------------------------------
# One Holm adjustment: the two it replaced, kept here as they were, give the same numbers.
# --------------------------------------------------------------------------------------------


def holm_of_analyses(pvalues):
    """lcsurvey.study.analyses.holm before the merge (its caller passes no NaN)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def holm_of_waves(pvalues):
    """lcsurvey.study.waves.holm (crosswave) before the merge: NaN stays NaN, not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if not m:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


P_VALUES = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(P_VALUES, max_size=12))
def test_holm_gives_the_motives_the_numbers_of_before(pvalues):
    np.testing.assert_array_equal(analyses.holm(pvalues), holm_of_analyses(pvalues))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(P_VALUES, st.just(float("nan"))), max_size=12))
def test_holm_gives_the_attrition_table_the_numbers_of_before(pvalues):
    np.testing.assert_array_equal(analyses.holm(pvalues), holm_of_waves(pvalues))
    assert waves.holm is analyses.holm


def test_holm_with_ties_and_nan_matches_r():
    # R: p.adjust(c(0.01, NA, 0.04, 0.03, 0.005, 0.04), "holm")
    got = analyses.holm([0.01, np.nan, 0.04, 0.03, 0.005, 0.04])
    np.testing.assert_allclose(got, [0.04, np.nan, 0.09, 0.09, 0.025, 0.09])
