"""Shared fixtures: a small codebook and raw frames built by hand, the repo root."""

from __future__ import annotations

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
