"""A two-pager depends on the codebook as its waves read it.

A new wave whose export renames one question is told to the codebook as the README says
(`wave_columns: {<new wave>: <new name>}`): the earlier waves read the codebook as before, so
none of their two-pagers is planned again. A change every wave reads (a construct's label) does
re-render them. In a temporary copy of the workflow with two simulated waves run to completion.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from lcsurvey.study.waves import add_wave_line

from .test_new_wave import planned_outputs, simulate
from .test_pipeline import make_project, snakemake

pytestmark = pytest.mark.slow

OLD = ["2030-01", "2030-07"]
NEW = "2031-01"
ITEM, RENAMED = "mot_know1", "Q6_1_NEW"  # an agree5 question, renamed in the new wave only


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    where = make_project(
        tmp_path_factory.mktemp("report_codebook"),
        {wave: f"data/raw/wave_{wave}.csv" for wave in OLD},
    )
    config = yaml.safe_load((where / "config.yaml").read_text(encoding="utf-8"))
    config["estimation"]["bootstrap"] = 100  # the draws do not change what is rerun
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    simulate(where, OLD[0], 240)
    simulate(where, OLD[1], 200, previous=OLD[0])
    run = snakemake(where)
    assert run.returncode == 0, run.stderr[-3000:]
    return where


def rename_column(raw: Path, old: str, new: str) -> None:
    """The export's header row with one column renamed; the answers stay as they are."""
    text = raw.read_text(encoding="utf-8-sig")
    header, rest = text.split("\n", 1)
    names = next(csv.reader([header]))
    assert old in names, names
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([new if n == old else n for n in names])
    raw.write_text("\ufeff" + out.getvalue() + "\n" + rest, encoding="utf-8")


def test_a_renamed_question_of_a_new_wave_leaves_earlier_two_pagers_alone(project):
    codebook_path = project / "data" / "codebook.yaml"
    book = yaml.safe_load(codebook_path.read_text(encoding="utf-8"))
    column = book["items"][ITEM]["column"]
    path = simulate(project, NEW, 200, previous=OLD[1])
    rename_column(project / path, column, RENAMED)
    book["items"][ITEM].setdefault("wave_columns", {})[NEW] = RENAMED
    codebook_path.write_text(
        yaml.safe_dump(book, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    assert add_wave_line(project / "config.yaml", NEW, path)

    planned = planned_outputs(project)
    for lang in ("nl", "en"):
        assert f"reports/{NEW}/two_pager_{lang}.pdf" in planned
    earlier = [p for p in planned if any(p.startswith(f"reports/{wave}/") for wave in OLD)]
    assert not earlier, {p: planned[p] for p in earlier}

    # What every wave reads, a construct's label in the two-pager, re-renders them all.
    book["constructs"]["motive_knowledge"]["label"]["en"] = "Learn something new"
    codebook_path.write_text(
        yaml.safe_dump(book, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    planned = planned_outputs(project)
    for wave in OLD:
        assert f"reports/{wave}/two_pager_en.pdf" in planned
