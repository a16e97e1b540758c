"""A first config: only ``codebook:`` and ``waves:``, no models yet.

This is where a new questionnaire starts (a drafted codebook, the exports, no model written):
cleaning, the response flow, item statistics, reliability, scale scores and the measurement
model per construct run for every wave; the stages that need a model are skipped, each with one
line at start-up saying why, and nothing fails.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from .test_other_questionnaire import ITEMS, WAVES, run_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    where = tmp_path_factory.mktemp("nomodels")
    return where, run_project(where, {})


def test_cleaning_flow_and_item_statistics_run_without_models(project):
    where, _ = project
    for wave in WAVES:
        results = where / "results" / wave
        flow = pd.read_csv(results / "clean" / "flow.csv")
        assert flow["n_before"].iloc[0] == 120
        assert (results / "clean" / "flow.png").stat().st_size > 0
        items = pd.read_csv(results / "scales" / "items.csv")
        expected = {item for names in ITEMS.values() for item in names}
        assert expected <= set(items.iloc[:, 0]) | set(items.get("item", []))
        reliability = pd.read_csv(results / "scales" / "reliability.csv")
        assert set(reliability["construct"]) == set(ITEMS)
        assert pd.read_csv(results / "scales" / "cfa_fit.csv")["cfi"].between(0, 1).all()
        assert not (results / "models").exists()
    means = pd.read_csv(where / "results" / "pooled" / "means.csv")
    assert set(means["construct"]) == set(ITEMS)
    assert not (where / "results" / "invariance").exists()


def test_each_stage_that_needs_a_model_says_so(project):
    _, run = project
    lines = [line for line in run.stderr.splitlines() if " skipped: " in line]
    report = next(line for line in lines if line.strip().startswith("report skipped"))
    assert "report.model 'transfer' is not among the models (none configured)" in report
    assert any(line.strip().startswith("comparability skipped") for line in lines)
    assert any(line.strip().startswith("power skipped") for line in lines)
