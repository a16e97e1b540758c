"""Another questionnaire: a config that names only its waves, codebook and models runs.

A small made-up questionnaire (ten five-point items of two Big Five scales, 120 respondents in
each of two waves, plain CSV) with a minimal codebook and a config.yaml with nothing but
waves, codebook and one model named bigfive. In a temporary copy of the workflow: cleaning,
scales, measurement, the model and its invariance across the waves run for every wave; the
study's own stages (analyses, two-pagers, panel model, invariance across sector, power
analysis) are skipped, each with one line at start-up saying why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import copy_workflow

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WAVES = ["2024-03", "2024-09"]
ITEMS = {
    "extraversion": ["e1", "e2", "e3", "e4", "e5"],
    "neuroticism": ["n1", "n2", "n3", "n4", "n5"],
}
MODEL = "extraversion =~ e1 + e2 + e3 + e4 + e5\nneuroticism =~ n1 + n2 + n3 + n4 + n5\n"
CODEBOOK = {
    "id": "respondent",
    "scales": {"likert5": {"values": {k: [str(k)] for k in range(1, 6)}, "missing": [-9]}},
    "items": {
        item: {"column": item.upper(), "scale": "likert5"}
        for items in ITEMS.values()
        for item in items
    },
    "constructs": {name: {"items": items} for name, items in ITEMS.items()},
}


def write_wave(path: Path, wave: int, n: int = 120) -> None:
    """Two correlated factors, five items each, answers rounded onto 1..5."""
    rng = np.random.default_rng(wave)
    factors = rng.multivariate_normal([0, 0], [[1, -0.3], [-0.3, 1]], size=n)
    columns = {"respondent": [f"W{wave}R{i:03d}" for i in range(n)]}
    for k, items in enumerate(ITEMS.values()):
        for item in items:
            answer = 3 + 0.9 * factors[:, k] + 0.7 * rng.standard_normal(n)
            columns[item.upper()] = np.clip(np.rint(answer), 1, 5).astype(int)
    pd.DataFrame(columns).to_csv(path, index=False)


def run_project(where: Path, models: dict[str, str]) -> subprocess.CompletedProcess:
    """The workflow, CODEBOOK and two simulated waves in `where`, a config.yaml of the waves,
    the codebook and `models` (none: no models key), and one pipeline run that must succeed."""
    copy_workflow(where)
    (where / "data" / "raw").mkdir(parents=True)
    (where / "data" / "codebook.yaml").write_text(yaml.safe_dump(CODEBOOK), encoding="utf-8")
    for i, wave in enumerate(WAVES):
        write_wave(where / "data" / "raw" / f"{wave}.csv", i + 1)
    config = {
        "codebook": "data/codebook.yaml",
        "waves": {wave: f"data/raw/{wave}.csv" for wave in WAVES},
    } | ({"models": models} if models else {})
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = subprocess.run([SNAKEMAKE, "--cores", "2"], cwd=where, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    where = tmp_path_factory.mktemp("bigfive")
    return where, run_project(where, {"bigfive": MODEL})


def test_every_wave_is_cleaned_scored_and_modelled(project):
    where, _ = project
    for wave in WAVES:
        results = where / "results" / wave
        flow = pd.read_csv(results / "clean" / "flow.csv")
        assert flow["n_before"].iloc[0] == 120
        kept = pd.read_parquet(results / "clean" / "responses.parquet")
        assert 100 <= len(kept) <= 120
        reliability = pd.read_csv(results / "scales" / "reliability.csv").set_index("construct")
        assert set(reliability.index) == set(ITEMS)
        assert (reliability["alpha"] > 0.7).all()
        scores = pd.read_parquet(results / "scales" / "scores.parquet")
        assert scores[list(ITEMS)].notna().all().all()
        assert pd.read_csv(results / "scales" / "cfa_fit.csv")["cfi"].between(0, 1).all()
        estimates = pd.read_csv(results / "models" / "bigfive" / "estimates.csv")
        loadings = estimates[estimates["op"] == "=~"]
        assert len(loadings) == 10 and np.isfinite(loadings["est"]).all()
        assert (loadings["est"] > 0).all()
        fit = pd.read_csv(results / "models" / "bigfive" / "fit.csv").iloc[0]
        assert np.isfinite(fit["chisq"]) and fit["df"] == 34
        assert (results / "models" / "bigfive" / "intervals.csv").exists()
    waves = pd.read_csv(where / "results" / "invariance" / "bigfive.csv")
    assert {"configural", "metric", "scalar"} <= set(waves["level"].dropna())
    means = pd.read_csv(where / "results" / "pooled" / "means.csv")
    assert set(means["construct"]) == set(ITEMS) and means["mean"].between(1, 5).all()


def test_the_study_stages_are_skipped_with_one_line_each(project):
    where, run = project
    log = run.stderr
    lines = {
        line.split(" skipped: ")[0].strip(): line
        for line in log.splitlines()
        if " skipped: " in line
    }
    assert set(lines) == {
        "analyses",
        "report",
        "comparability",
        "panel",
        "invariance sector",
        "power",
    }, log[:3000]
    assert (
        "the codebook has no constructs motive_knowledge, motive_network, motive_labour, "
        "motive_societal (config roles.motives)"
    ) in lines["analyses"]
    assert "report.model 'transfer' is not among the models (bigfive)" in lines["report"]
    assert "no background variable sector (config invariance.groups)" in lines["invariance sector"]
    assert "power.model" in lines["power"]
    assert not (where / "reports").exists()
    assert not (where / "results" / WAVES[0] / "models" / "motives.csv").exists()
    assert not (where / "results" / "pooled" / "panel_fit.csv").exists()


def test_rerun_plans_nothing_and_power_says_why_it_cannot_run(project):
    where, _ = project
    dry = subprocess.run(
        [SNAKEMAKE, "--cores", "2", "-n"], cwd=where, capture_output=True, text=True
    )
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    power = subprocess.run(
        [SNAKEMAKE, "--cores", "1", "-n", "power"], cwd=where, capture_output=True, text=True
    )
    assert power.returncode != 0
    assert (
        "the power analysis cannot run: power.model is not a model of config.yaml"
        in power.stdout + power.stderr
    )
