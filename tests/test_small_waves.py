"""End to end: a wave of 25 exports (fewer kept than the structural model needs) and a wave
that cleaning empties get whatever can be computed, and the run succeeds.

The 25-row wave keeps its motives, climate means and flow; the model and the CFAs it cannot
carry say why in their status tables, and its two-pager (still two pages) says so in one
sentence per language. The empty wave gets a one-page notice instead of a two-pager.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lcsurvey.sem.estimability import REASONS, STATUS_COLUMNS

from .test_pipeline import make_project, report_text, simulate, snakemake

pytestmark = pytest.mark.slow

SMALL, EMPTY = "2030-05", "2030-06"


def mark_all_as_previews(path: Path) -> None:
    """Every response of a simulated export becomes a survey preview (the codebook's
    meta.status), so cleaning keeps none."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    column = rows[0].index("Status")
    for row in rows[3:]:  # after Qualtrics' two extra header rows
        row[column] = "Survey Preview"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8-sig")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, object]:
    where = make_project(
        tmp_path_factory.mktemp("small"),
        {SMALL: f"data/raw/wave_{SMALL}.csv", EMPTY: f"data/raw/wave_{EMPTY}.csv"},
    )
    config = yaml.safe_load((where / "config.yaml").read_text(encoding="utf-8"))
    config["estimation"]["bootstrap"] = 20  # the models that are estimated: a short run
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    simulate(where, SMALL, 25)
    mark_all_as_previews(simulate(where, EMPTY, 25))
    run = snakemake(where)
    return where, run


def kept(where: Path, wave: str) -> int:
    return int(pd.read_csv(where / "results" / wave / "clean" / "flow.csv")["n_after"].iloc[-1])


def pdf_pages(path: Path) -> int:
    import pypdf

    return len(pypdf.PdfReader(path).pages)


def test_small_and_empty_waves_run_to_the_end(project):
    where, run = project
    assert run.returncode == 0, run.stderr[-3000:]
    assert 0 < kept(where, SMALL) < 33 and kept(where, EMPTY) == 0


def test_the_model_of_a_small_wave_says_too_few_respondents(project):
    where, _ = project
    models = where / "results" / SMALL / "models"
    status = pd.read_csv(models / "transfer" / "status.csv")
    assert list(status.columns) == STATUS_COLUMNS
    row = status.iloc[0]
    assert (row["model"], row["estimated"], row["reason"]) == (
        "transfer",
        "no",
        REASONS["too_few_respondents"],
    )
    assert (row["n"], row["needed"]) == (kept(where, SMALL), 33)
    for name in ("estimates", "fit", "intervals", "bootstrap", "modindices"):
        table = pd.read_csv(models / "transfer" / f"{name}.csv")
        assert table.empty and len(table.columns) > 3, name
    # What needs no model is still there.
    assert len(pd.read_csv(models / "motives.csv")) == 4
    assert len(pd.read_csv(where / "results" / SMALL / "scales" / "reliability.csv")) > 0
    measurement = pd.read_csv(where / "results" / SMALL / "scales" / "measurement_status.csv")
    joint = measurement[measurement["model"] == "joint"].iloc[0]
    assert joint["estimated"] == "no" and joint["needed"] == 51
    assert set(measurement["estimated"]) <= {"yes", "no"}
    assert pd.read_csv(where / "results" / SMALL / "scales" / "validity.csv").empty
    analyses = pd.read_csv(models / "analyses_status.csv")
    assert analyses["model"].tolist() == ["moderation"]


def test_the_small_waves_two_pager_says_why_in_both_languages_on_two_pages(project):
    where, _ = project
    n = kept(where, SMALL)
    sentences = {
        "en": f"Too few respondents ({n}) for the structural model; at least 33 needed.",
        "nl": f"Te weinig respondenten ({n}) voor het structurele model; minstens 33 nodig.",
    }
    measurement = {
        "en": f"Too few respondents ({n}) for the measurement model; at least 51 needed.",
        "nl": f"Te weinig respondenten ({n}) voor het meetmodel; minstens 51 nodig.",
    }
    for lang, sentence in sentences.items():
        reports = where / "reports" / SMALL
        page = report_text(reports / f"two_pager_{lang}.html")
        assert sentence in page and measurement[lang] in page, lang
        assert pdf_pages(reports / f"two_pager_{lang}.pdf") == 2, lang


def test_an_empty_wave_gets_a_one_page_notice_with_its_flow(project):
    where, _ = project
    titles = {"en": "No usable responses", "nl": "Geen bruikbare antwoorden"}
    flows = {"en": "25 returned, 0 usable", "nl": "25 ingevuld, 0 bruikbaar"}
    for lang in ("en", "nl"):
        reports = where / "reports" / EMPTY
        page = report_text(reports / f"two_pager_{lang}.html")
        assert titles[lang] in page and flows[lang] in page, page
        assert pdf_pages(reports / f"two_pager_{lang}.pdf") == 1, lang
    status = pd.read_csv(where / "results" / EMPTY / "models" / "transfer" / "status.csv")
    assert (status["estimated"].iloc[0], status["n"].iloc[0]) == ("no", 0)
    index = (where / "reports" / "index.html").read_text(encoding="utf-8")
    assert f'href="{EMPTY}/two_pager_en.pdf"' in index


def test_invariance_across_waves_leaves_out_the_waves_too_small_and_says_so(project):
    where, _ = project
    table = pd.read_csv(where / "results" / "invariance" / "transfer.csv")
    note = str(table["note"].iloc[0])
    assert "no invariance test" in note and SMALL in note
