"""The bundled questionnaire with its agreement scale (agree5) declared ordinal, the items of
psychological safety (agree7) in estimation.ordered, estimation.estimator wlsmv and
estimation.ordinal_missing pairwise, run by Snakemake in a scratch folder on the bundled wave
2022-06: a CFA of one construct and the bundled structural model (paths and := lines) are
fitted by WLSMV, a model with a continuous indicator gets a status row saying why it is not,
reliability.csv gets ordinal alpha and omega for the agree5 constructs only, and the
invariance across waves takes the threshold invariance route."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import ROOT, copy_workflow

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WAVE = "2022-06"
CFA = "transfer =~ tr1 + tr2 + tr3 + tr4 + tr5\n"
MIXED = "transfer =~ tr1 + tr2 + tr3 + tr4 + tr5 + useful\n"  # useful: a 1-10 mark
SAFETY = [f"ps{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("ordinal")
    copy_workflow(where)
    shutil.copytree(ROOT / "data" / "raw", where / "data" / "raw")
    book = yaml.safe_load((ROOT / "data" / "codebook.yaml").read_text(encoding="utf-8"))
    book["scales"]["agree5"]["ordinal"] = True
    (where / "data" / "codebook.yaml").write_text(
        yaml.safe_dump(book, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["estimation"] |= {"estimator": "wlsmv", "ordered": SAFETY, "ordinal_missing": "pairwise"}
    config["models"] = {"transfer": config["models"]["transfer"], "cfa": CFA, "mixed": MIXED}
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    targets = [
        f"results/{WAVE}/models/{model}/{table}.csv"
        for model in ("cfa", "transfer", "mixed")
        for table in ("status", "estimates", "fit")
    ] + [f"results/{WAVE}/scales/reliability.csv", "results/invariance/cfa.csv"]
    run = subprocess.run([SNAKEMAKE, "--cores", "1", *targets], cwd=where, capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return where


def test_a_cfa_of_the_ordinal_items_is_fitted_by_wlsmv(project):
    models = project / "results" / WAVE / "models"
    status = pd.read_csv(models / "cfa" / "status.csv").iloc[0]
    assert status["estimated"] == "yes"
    fit = pd.read_csv(models / "cfa" / "fit.csv").iloc[0]
    assert fit["estimator"] == "WLSMV" and fit["ntotal"] == status["n"]
    assert 0 < fit["cfi_scaled"] <= 1 and fit["df"] == 5
    est = pd.read_csv(models / "cfa" / "estimates.csv")
    thresholds = est[est["op"] == "|"]
    assert set(thresholds["lhs"]) == {f"tr{i}" for i in range(1, 6)}
    assert len(thresholds) == 20  # five categories each, every one chosen
    loadings = est[est["op"] == "=~"]
    assert np.all((loadings["std_all"] > 0.3) & (loadings["std_all"] < 1))
    log = (project / "logs" / WAVE / "model_cfa.log").read_text()
    assert "5 items as ordered categories, fitted by WLSMV" in log
    assert "the WLSMV standard errors treat respondents as independent" in log


def test_the_structural_model_is_fitted_by_wlsmv_with_every_answer(project):
    models = project / "results" / WAVE / "models" / "transfer"
    status = pd.read_csv(models / "status.csv").iloc[0]
    assert status["estimated"] == "yes"
    responses = pd.read_parquet(project / "results" / WAVE / "clean" / "responses.parquet")
    est = pd.read_csv(models / "estimates.csv")
    items = sorted(set(est.loc[est["op"] == "=~", "rhs"]))
    assert len(items) == 32 and set(SAFETY) <= set(items)
    answered = responses[items].notna()
    # pairwise: every row with an answer, many more than the complete rows
    assert status["n"] == answered.any(axis=1).sum() > 2 * answered.all(axis=1).sum()
    fit = pd.read_csv(models / "fit.csv").iloc[0]
    assert (fit["estimator"], fit["missing"], fit["ntotal"]) == ("WLSMV", "pairwise", status["n"])
    assert set(est.loc[est["op"] == "|", "lhs"]) == set(items)
    assert set(est.loc[est["op"] == "~", "label"]) == set("abcdef")
    defined = est[est["op"] == ":="].set_index("lhs")
    assert list(defined.index) == ["indirect", "via_safety"]
    assert defined["se"].gt(0).all() and defined["ci_lower"].lt(defined["ci_upper"]).all()
    log = (project / "logs" / WAVE / "model_transfer.log").read_text()
    assert "32 items as ordered categories, fitted by WLSMV on" in log
    assert 'pairwise as lavaan\'s missing = "pairwise"' in log


def test_a_model_with_a_continuous_indicator_is_not_estimated_and_says_why(project):
    status = pd.read_csv(project / "results" / WAVE / "models" / "mixed" / "status.csv")
    row = status.iloc[0]
    assert row["estimated"] == "no"
    # the mark 1-10 is neither on an ordinal scale nor in estimation.ordered
    assert "continuous variables (useful)" in row["detail"]


def test_reliability_gets_ordinal_columns_for_the_ordinal_constructs(project):
    table = pd.read_csv(project / "results" / WAVE / "scales" / "reliability.csv")
    table = table.set_index("construct")
    assert list(table.columns[-3:]) == ["ordinal_alpha", "ordinal_omega", "warning"]
    assert np.isnan(table.loc["psychological_safety", "ordinal_alpha"])  # agree7
    ordinal = table.drop(index="psychological_safety")
    assert ordinal["ordinal_alpha"].notna().all() and ordinal["ordinal_omega"].notna().all()
    # polychoric correlations exceed the Pearson ones of the same categories
    assert (ordinal["ordinal_alpha"] > ordinal["alpha_std"]).all()


def test_the_invariance_across_waves_takes_the_ordinal_route(project):
    # estimation.cluster is set (community): the threshold invariance sequence says it has
    # no cluster-robust tests rather than fitting the items as continuous
    table = pd.read_csv(project / "results" / "invariance" / "cfa.csv")
    assert table["note"].tolist() == [
        "cluster-robust invariance tests of ordinal items are not available"
    ]
    log = (project / "logs" / "invariance" / "cfa.log").read_text()
    assert "items as ordered categories (estimation.estimator wlsmv)" in log
