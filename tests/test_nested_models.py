"""Likelihood-ratio tests between configured models declared nested (config.yaml nested:).

Against lavaan 0.6.14's lavTestLRT(general, restricted) on HolzingerSwineford1939
(tests/fixtures/nested_models/make_fixtures.R): a covariance fixed at zero (1 df) and equal
loadings (2 df), ML and MLR, both from lavaan's own fit measures and end to end from the
engine's fits. Then the table the rule writes, with the cases where no test is possible.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem.fit_measures import nested_models_test
from lcsurvey.sem.model import fit_model
from lcsurvey.study.nested import NESTED_COLUMNS, nested_table

HERE = Path(__file__).parent / "fixtures"
REFERENCE = pd.read_csv(HERE / "nested_models" / "nested_models.csv")
HS = pd.read_csv(HERE / "r" / "holzinger_swineford.csv")
GENERAL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
RESTRICTED = {
    "covariance": GENERAL + "visual ~~ 0*textual\n",
    "equal": "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + b*x5 + b*x6\nspeed =~ x7 + x8 + x9\n",
}


def _fit(row: pd.Series, which: str) -> dict:
    fit = {"chisq": row[f"chisq_{which}"], "df": row[f"df_{which}"]}
    if row["estimator"] == "MLR":
        fit["chisq_scaling_factor"] = row[f"scaling_{which}"]
    return fit


@pytest.mark.parametrize("index", range(len(REFERENCE)))
def test_the_difference_test_is_lavaans_from_its_fit_measures(index):
    row = REFERENCE.iloc[index]
    got = nested_models_test(_fit(row, "restricted"), _fit(row, "general"))
    assert got["delta_chisq"] == pytest.approx(row["delta_chisq"], rel=1e-10)
    assert got["delta_df"] == row["delta_df"]
    assert got["delta_pvalue"] == pytest.approx(row["delta_pvalue"], rel=1e-8)
    expected = "satorra.bentler.2001" if row["estimator"] == "MLR" else "standard"
    assert got["delta_method"] == expected


@pytest.mark.parametrize(("estimator", "case"), [("ML", "covariance"), ("MLR", "equal")])
def test_the_engines_fits_give_lavaans_difference_test(estimator, case):
    options = {"missing": "listwise", "se": "robust" if estimator == "MLR" else "standard"}
    general = fit_model(GENERAL, HS, **options).fit
    restricted = fit_model(RESTRICTED[case], HS, **options).fit
    table = nested_table([{"restricted": "r", "general": "g"}], {"r": restricted, "g": general})
    row = table.iloc[0]
    expected = REFERENCE[(REFERENCE["estimator"] == estimator) & (REFERENCE["case"] == case)]
    assert row["note"] == ""
    assert row["delta_chisq"] == pytest.approx(expected["delta_chisq"].iloc[0], abs=1e-3)
    assert row["delta_pvalue"] == pytest.approx(expected["delta_pvalue"].iloc[0], rel=1e-3)


def test_a_scaling_that_is_not_positive_gives_no_p_value():
    got = nested_models_test(
        {"chisq": 30.0, "df": 25, "chisq_scaling_factor": 0.9},
        {"chisq": 20.0, "df": 24, "chisq_scaling_factor": 1.2},
    )
    assert got["delta_method"] == "satorra.bentler.2001 (scaling not positive)"
    assert np.isnan(got["delta_pvalue"])


def test_the_table_says_why_a_pair_cannot_be_tested():
    def fit(chisq, df, n):
        return pd.DataFrame([{"chisq": chisq, "df": df, "ntotal": n}])

    pairs = [
        {"restricted": "small", "general": "big"},
        {"restricted": "big", "general": "small"},
        {"restricted": "small", "general": "other_rows"},
        {"restricted": "small", "general": "gone"},
    ]
    fits = {
        "small": fit(30.0, 10, 200),
        "big": fit(20.0, 8, 200),
        "other_rows": fit(20.0, 8, 180),
        "gone": pd.DataFrame(columns=["chisq", "df", "ntotal"]),
    }
    table = nested_table(pairs, fits).set_index(["restricted", "general"])
    assert list(table.reset_index().columns) == NESTED_COLUMNS
    tested = table.loc[("small", "big")]
    assert tested["delta_chisq"] == 10.0 and tested["delta_df"] == 2
    assert tested["delta_method"] == "standard" and tested["note"] == ""
    assert table.loc[("big", "small"), "note"] == (
        "not nested: big has 8 degrees of freedom, not more than small's 10"
    )
    assert (
        "fitted to 200 respondents, other_rows to 180" in table.loc[("small", "other_rows"), "note"]
    )
    assert table.loc[("small", "gone"), "note"] == "not estimated in this wave: gone"
    assert np.isnan(table.loc[("small", "gone"), "delta_chisq"])


def test_a_pair_naming_an_unknown_model_stops_the_workflow_with_its_name(tmp_path):
    from .conftest import ROOT, copy_workflow

    copy_workflow(tmp_path)
    config = (ROOT / "config.yaml").read_text(encoding="utf-8")
    config += "\nnested:\n  - {restricted: no_such_model, general: transfer}\n"
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "data").symlink_to(ROOT / "data")
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run(
        [snakemake, "-n", "--cores", "1"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert (
        "nested: restricted model 'no_such_model' is not among the models (transfer, transfer_levels)"
        in (run.stdout + run.stderr)
    )


def test_lcsurvey_check_names_a_nested_pair_with_an_unknown_model(tmp_path):
    from lcsurvey.pipeline.check import check_project

    from .conftest import ROOT

    config = (ROOT / "config.yaml").read_text(encoding="utf-8")
    config += "\nnested:\n  - {restricted: no_such_model, general: transfer}\n"
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "data").symlink_to(ROOT / "data")
    problems = [str(p) for p in check_project(tmp_path / "config.yaml").problems]
    assert len(problems) == 1, problems
    assert "nested[0].restricted" in problems[0] and "no_such_model" in problems[0]
    assert "one of the models: transfer" in problems[0]
