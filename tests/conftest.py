"""Shared fixtures: a small codebook and raw frames built by hand, the repo root."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from lcsurvey.survey.codebook import load_codebook

ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(where: Path, names=("Snakefile", "workflow", "notebooks", "envs")) -> None:
    """Copy the named files and folders of the repository into `where`, for a pipeline run in a
    scratch folder that leaves this checkout's results/ alone."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, where / name)
        else:
            shutil.copy2(source, where / name)


SMALL_CODEBOOK = {
    "id": "ResponseId",
    "person": "ExternalReference",
    "pii": ["RecipientEmail", "IPAddress"],
    "free_text": {"comment": {"column": "Q9"}},
    "meta": {
        "status": {"column": "Status", "preview": ["Survey Preview", 1]},
        "consent": {"column": "Q1", "scale": "yesno", "yes": 1},
        "progress": {"column": "Progress"},
        "duration": {"column": "Duration"},
    },
    "scales": {
        "agree5": {
            "values": {
                1: ["Helemaal mee oneens", "Strongly disagree"],
                2: ["Mee oneens", "Disagree"],
                3: ["Neutraal", "Neutral"],
                4: ["Mee eens", "Agree"],
                5: ["Helemaal mee eens", "Strongly agree"],
            },
            "missing": [-99],
        },
        "yesno": {"values": {1: ["Ja", "Yes"], 2: ["Nee", "No"]}},
        "age": {"min": 16, "max": 80},
    },
    "background": {"age": {"column": "Q8", "scale": "age"}},
    "attention_checks": {"att": {"column": "Q7", "scale": "agree5", "expected": 4}},
    "items": {
        "a1": {"column": "Q2_1", "scale": "agree5"},
        "a2": {"column": "Q2_2", "scale": "agree5"},
        "a3": {"column": "Q2_3", "scale": "agree5", "reverse": True, "wave_columns": {"w2": "A_3"}},
        "b1": {"column": "Q3_1", "scale": "agree5"},
        "b2": {"column": "Q3_2", "scale": "agree5"},
        "b3": {"column": "Q3_3", "scale": "agree5"},
    },
    "constructs": {
        "alpha_c": {"items": ["a1", "a2", "a3"], "min_items": 2},
        "beta_c": {"items": ["b1", "b2", "b3"], "min_items": 2},
    },
}


@pytest.fixture
def small_codebook_path(tmp_path: Path) -> Path:
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(SMALL_CODEBOOK, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def small_codebook(small_codebook_path: Path):
    return load_codebook(small_codebook_path)


def model_rule_outputs() -> list[str]:
    """The named outputs of rule model, as workflow/rules/models.smk declares them."""
    text = (ROOT / "workflow" / "rules" / "models.smk").read_text(encoding="utf-8")
    block = text.split("rule model:", 1)[1].split("    output:", 1)[1].split("    log:", 1)[0]
    return re.findall(r"^ {8}(\w+)=", block, flags=re.MULTILINE)


def run_model_rule(tmp_path: Path, data, **params) -> str:
    """Run workflow/scripts/model.py on `data` as rule model would, with every output of the
    rule in `tmp_path` (NAME.csv) and `params` over the defaults below; the rule's log.
    `scores=` (a DataFrame) is the rule's scores input, as for a model naming construct scores."""
    import runpy
    from types import SimpleNamespace

    data.to_parquet(tmp_path / "responses.parquet")
    inputs = {"responses": str(tmp_path / "responses.parquet")}
    scores = params.pop("scores", None)
    if scores is not None:
        scores.to_parquet(tmp_path / "scores.parquet")
        inputs["scores"] = str(tmp_path / "scores.parquet")
    settings = {
        "model": "model",
        "missing": "fiml",
        "se": "standard",
        "information": None,
        "cluster": None,
        "bootstrap": 0,
        "bootstrap_max_n": None,
        "seed": 1,
        "markers": [],
        "estimator": "ml",
        "ordered": {"all": False, "items": {}},
        "ordinal_missing": "listwise",
    } | params
    snakemake = SimpleNamespace(
        log=[str(tmp_path / "model.log")],
        input=SimpleNamespace(**inputs),
        params=SimpleNamespace(**settings),
        output=SimpleNamespace(
            **{name: str(tmp_path / f"{name}.csv") for name in model_rule_outputs()}
        ),
        threads=1,
    )
    runpy.run_path(
        str(ROOT / "workflow" / "scripts" / "model.py"), init_globals={"snakemake": snakemake}
    )
    return (tmp_path / "model.log").read_text()
