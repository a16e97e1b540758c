"""The frozen analysis plan (lcsurvey.study.plan, `lcsurvey plan freeze|status`) and the
two-pager's statement: analysed as planned, or the deviations and what they make exploratory."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pypdf
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.pipeline import cli
from lcsurvey.report import inputs as report_inputs
from lcsurvey.report import render as rendering
from lcsurvey.report import sections, sentences
from lcsurvey.study import plan

from .conftest import ROOT
from .test_report import CODEBOOK, CONFIG_DIGEST, MIN_CELL, NOTEBOOK, WAVE, write_results_fixture

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
BOOK = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
LINE = "perceived ~ d*learning"


def changed_model(config: dict, old: str = LINE, new: str = "perceived ~ d*learning + climate"):
    config = copy.deepcopy(config)
    assert old in config["models"]["transfer"]
    config["models"]["transfer"] = config["models"]["transfer"].replace(old, new)
    return config


def test_an_unchanged_configuration_is_as_planned():
    lock = plan.make_lock(CONFIG, BOOK, date="2026-01-15")
    assert lock["frozen"] == "2026-01-15"
    assert lock["waves_seen"] == list(CONFIG["waves"])
    assert plan.compare(lock, CONFIG, BOOK) == []
    # each part keeps its canonical JSON and that JSON's SHA-256
    for part in lock["parts"].values():
        assert plan.sha256_text(part["canonical"]) == part["sha256"]
    assert json.loads(lock["parts"]["cleaning"]["canonical"])["min_progress"] == 100


def test_a_changed_model_line_is_one_deviation_said_in_plain_words():
    lock = plan.make_lock(CONFIG, BOOK, date="2026-01-15")
    deviations = plan.compare(lock, changed_model(CONFIG), BOOK)
    assert deviations == [
        plan.Deviation("models", ("transfer",), LINE, "perceived ~ d*learning + climate")
    ]
    assert plan.describe(deviations[0]) == (
        "model transfer: line 'perceived ~ d*learning' changed to "
        "'perceived ~ d*learning + climate'"
    )


def test_added_and_removed_model_lines_and_whole_models():
    config = copy.deepcopy(CONFIG)
    config["models"]["transfer"] = "".join(
        line
        for line in config["models"]["transfer"].splitlines(keepends=True)
        if not line.strip().startswith("via_safety :=")
    )
    config["models"]["transfer"] += "support ~~ climate\n"
    config["models"]["extra"] = "f =~ fac1 + fac2 + fac3"
    deviations = plan.compare(plan.make_lock(CONFIG, BOOK), config, BOOK)
    said = [plan.describe(d) for d in deviations]
    assert said == [
        "model transfer: line removed: 'via_safety := a*b*d*e'",
        "model transfer: line added: 'support ~~ climate'",
        "model extra added: [f =~ fac1 + fac2 + fac3]",
    ]


def test_spacing_comments_and_what_is_not_the_analysis_are_no_deviation():
    lock = plan.make_lock(CONFIG, BOOK)
    config = copy.deepcopy(CONFIG)
    config["models"]["transfer"] = (
        config["models"]["transfer"].replace("a*climate", "a * climate") + "# a comment\n"
    )
    config["waves"]["2023-01"] = "data/raw/wave_2023-01.csv"  # a new wave
    config["report"]["languages"] = ["en"]
    config["report"]["min_cell"] = 20
    config["power"]["replications"] = 10
    config["estimation"]["seed"] = CONFIG["estimation"]["seed"]
    config["cleaning"]["outlier_p"] = 0.001  # the schema's default, now written out
    book = copy.deepcopy(BOOK)
    first = next(iter(book["items"]))
    book["items"][first]["column"] = "Renamed"
    book["items"][first]["wave_columns"] = {"2023-01": "New"}
    book["constructs"]["psychological_safety"]["label"]["en"] = "Safety"
    book["meta"]["duration"]["column"] = "Seconds"
    book["items"]["ps2"]["reverse"] = False  # the default, now written out
    book["constructs"]["facilitation"].pop("min_items")  # 2 of 3: now all 3, a deviation
    said = [plan.describe(d) for d in plan.compare(lock, config, book)]
    assert said == ["construct facilitation (min_items) changed from 2 to 3"]


def test_cleaning_rules_constructs_and_scales_say_from_what_to_what():
    config = copy.deepcopy(CONFIG)
    config["cleaning"]["min_progress"] = 90
    config["estimation"]["information"] = "expected"
    book = copy.deepcopy(BOOK)
    book["constructs"]["psychological_safety"]["items"].remove("ps7")
    book["scales"]["agree5"]["missing"] = [-99, -98]
    book["items"]["ps2"]["reverse"] = True
    said = [plan.describe(d) for d in plan.compare(plan.make_lock(CONFIG, BOOK), config, book)]
    assert said == [
        "cleaning rule min_progress changed from 100 to 90",
        "estimation setting information changed from none to expected",
        "scale agree5 (missing) changed from [-99] to [-99, -98]",
        "item ps2 (reverse) changed from no to yes",
        "construct psychological_safety (items) changed from "
        "[ps1, ps2, ps3, ps4, ps5, ps6, ps7] to [ps1, ps2, ps3, ps4, ps5, ps6]",
    ]


def test_exploratory_scope_follows_the_documented_rule():
    lock = plan.make_lock(CONFIG, BOOK)
    other = copy.deepcopy(CONFIG)
    other["models"]["extra"] = "f =~ fac1 + fac2 + fac3"
    assert plan.exploratory_scope(plan.compare(lock, other, BOOK), "transfer") == "none"
    model = plan.compare(lock, changed_model(CONFIG), BOOK)
    assert plan.exploratory_scope(model, "transfer") == "model"
    estimation = copy.deepcopy(CONFIG)
    estimation["estimation"]["bootstrap"] = 500
    assert plan.exploratory_scope(plan.compare(lock, estimation, BOOK), "transfer") == "model"
    cleaning = changed_model(CONFIG)
    cleaning["cleaning"]["min_progress"] = 90
    deviations = [d.as_dict() for d in plan.compare(lock, cleaning, BOOK)]  # as a report gets them
    assert plan.exploratory_scope(deviations, "transfer") == "all"


def test_an_edited_or_foreign_lock_is_refused(tmp_path):
    path = tmp_path / plan.LOCK_NAME
    lock = plan.make_lock(CONFIG, BOOK)
    lock["parts"]["models"]["canonical"] = lock["parts"]["models"]["canonical"].replace(
        "d*learning", "d*learning+climate"
    )
    plan.write_lock(path, lock)
    with pytest.raises(InputError, match="part 'models' does not match its SHA-256"):
        plan.read_lock(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read the frozen analysis plan"):
        plan.read_lock(path)
    path.write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(InputError, match="not a frozen analysis plan of this version"):
        plan.read_lock(path)


@pytest.fixture
def project(tmp_path):
    """A copy of the bundled config.yaml and codebook (no raw files needed)."""
    (tmp_path / "data").mkdir()
    shutil.copy2(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copy2(CODEBOOK, tmp_path / "data" / "codebook.yaml")
    return tmp_path


def test_freeze_then_status_round_trip_on_the_command_line(project, capsys):
    config = project / "config.yaml"
    assert cli.main(["plan", "freeze", "--config", str(config), "--date", "2026-01-15"]) == 0
    lock = json.loads((project / plan.LOCK_NAME).read_text(encoding="utf-8"))
    assert lock["frozen"] == "2026-01-15" and lock["waves_seen"] == ["2021-12", "2022-06"]
    capsys.readouterr()
    assert cli.main(["plan", "status", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("as planned (plan of 2026-01-15")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"    {LINE}\n", f"    {LINE} + climate\n"), encoding="utf-8")
    assert cli.main(["plan", "status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "1 deviation from the plan of 2026-01-15" in out
    assert "- model transfer: line 'perceived ~ d*learning' changed to " in out
    # a second freeze does not overwrite the plan unless asked to
    assert cli.main(["plan", "freeze", "--config", str(config)]) == 1
    assert "a plan frozen on 2026-01-15 is already there" in capsys.readouterr().err
    assert cli.main(["plan", "freeze", "--config", str(config), "--force"]) == 0
    capsys.readouterr()
    # a wave added after the freeze is no deviation; status names it
    add = ["add-wave", "--config", str(config), "--wave", "2023-01", "--path", "x.csv"]
    assert cli.main(add) == 0
    capsys.readouterr()
    assert cli.main(["plan", "status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("as planned (plan of ")
    assert out.rstrip().endswith("waves seen then: 2021-12, 2022-06; waves since: 2023-01)")


def test_status_without_a_plan_says_how_to_make_one(project, capsys):
    assert cli.main(["plan", "status", "--config", str(project / "config.yaml")]) == 1
    assert "lcsurvey plan freeze" in capsys.readouterr().err


# --- the two-pager ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan_report")
    write_results_fixture(root)
    return root


def report_inputs_with(results: Path, plan_summary: dict | None):
    files = report_inputs.input_paths(results / "results", WAVE, CODEBOOK, waves=[WAVE])
    return report_inputs.load_inputs(files, WAVE, waves=[WAVE], plan=plan_summary)


def test_the_report_lists_a_changed_model_line_and_marks_the_model_exploratory(results):
    lock = plan.make_lock(CONFIG, BOOK, date="2026-01-15")
    inputs = report_inputs_with(results, plan.plan_summary(lock, changed_model(CONFIG), BOOK))
    en = sentences.plan_statement(inputs, "en")
    assert en == (
        "one deviation from the plan of 2026-01-15: model transfer: line "
        "'perceived ~ d*learning' changed to 'perceived ~ d*learning + climate'. "
        "The model's results are therefore exploratory"
    )
    nl = sentences.plan_statement(inputs, "nl")
    assert "regel 'perceived ~ d*learning' gewijzigd in 'perceived ~ d*learning + climate'" in nl
    assert "De resultaten van het model zijn daarom verkennend" in nl
    # the model's sections say it in their headings; page 1's key messages are not marked
    assert sections.model(inputs, "en", inputs.estimates.iloc[:0]).context["heading"] == (
        "Model and model fit (exploratory)"
    )
    assert sections.key_messages(inputs, "nl", messages=[]).context["heading"] == (
        "Kernboodschappen voor de praktijk"
    )
    facts = dict(sections.provenance(inputs, "en").context["facts"])
    assert facts["Analysis plan"] == en


def test_the_report_says_as_planned_and_nothing_without_a_plan(results):
    book = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    config = copy.deepcopy(CONFIG)
    config["waves"] = {WAVE: "data/raw/x.csv"}  # the plan saw this wave
    lock = plan.make_lock(config, book, date="2026-01-15")
    inputs = report_inputs_with(results, plan.plan_summary(lock, config, book))
    assert sentences.plan_statement(inputs, "en") == (
        "analysed as planned (plan of 2026-01-15, frozen after this wave)"
    )
    assert sentences.plan_statement(inputs, "nl") == (
        "geanalyseerd volgens plan (plan van 2026-01-15, vastgelegd na deze meting)"
    )
    without = report_inputs_with(results, None)
    assert sentences.plan_statement(without, "en") is None
    assert len(sections.provenance(without, "en").context["facts"]) == 4
    assert (
        "exploratory"
        not in sections.model(without, "en", without.estimates.iloc[:0]).context["heading"]
    )


def test_many_deviations_are_cut_short_and_mark_every_result(results):
    config = changed_model(CONFIG)
    config["cleaning"]["min_progress"] = 90
    book = copy.deepcopy(BOOK)
    for scale in book["scales"].values():
        scale["missing"] = [-99, -98]
    summary = plan.plan_summary(plan.make_lock(CONFIG, BOOK, date="2026-01-15"), config, book)
    assert len(summary["deviations"]) > sentences.PLAN_DEVIATIONS_SHOWN + 1
    inputs = report_inputs_with(results, summary)
    en = sentences.plan_statement(inputs, "en")
    hidden = len(summary["deviations"]) - sentences.PLAN_DEVIATIONS_SHOWN
    assert f"and {hidden} more (lcsurvey plan status lists them all)" in en
    assert en.endswith("All results of this wave are therefore exploratory")
    heading = sections.key_messages(inputs, "nl", messages=[]).context["heading"]
    assert heading == "Kernboodschappen voor de praktijk (verkennend)"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_report_with_deviations_keeps_two_a4_pages(results, lang):
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        config = changed_model(
            CONFIG,
            "climate =~ fac1 + fac2 + fac3 + app1 + app2 + app3",
            "climate =~ fac1 + fac2 + fac3 + app1 + app2 + app3 + err1 + err2 + err3 + ps1",
        )
        config["cleaning"]["min_progress"] = 90
        config["cleaning"]["speeder_fraction_of_median"] = 0.25
        config["estimation"]["bootstrap"] = 500
        summary = plan.plan_summary(plan.make_lock(CONFIG, BOOK, date="2026-01-15"), config, BOOK)
        files = report_inputs.input_paths(results / "results", WAVE, CODEBOOK, waves=[WAVE])
        out = results / "reports" / WAVE
        out.mkdir(parents=True, exist_ok=True)
        parameters = {
            "wave": WAVE,
            "lang": lang,
            "input_files": {k: str(v) for k, v in files.items()},
            "config_digest": CONFIG_DIGEST,
            "model": "transfer",
            "min_cell": MIN_CELL,
            "waves": [WAVE],
            "plan": summary,
        }
        pdf = out / f"two_pager_{lang}_plan.pdf"
        rendering.render_report(
            NOTEBOOK,
            results / f"two_pager_{lang}_plan.ipynb",
            out / f"two_pager_{lang}_plan.html",
            pdf,
            parameters,
            cwd=results,
        )
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    reader = pypdf.PdfReader(str(pdf))
    assert len(reader.pages) == 2
    page2 = " ".join(reader.pages[1].extract_text().split())
    word = {"nl": "afwijkingen van het plan", "en": "deviations from the plan"}[lang]
    assert word in page2
    assert {"nl": "verkennend", "en": "exploratory"}[lang] in page2


def test_make_notebook_passes_the_plan_as_the_report_rule_does(project):
    from lcsurvey.report.notebook import notebook_parameters

    config = project / "config.yaml"
    assert "plan" not in notebook_parameters(config, "2022-06", "nl")
    assert cli.main(["plan", "freeze", "--config", str(config), "--date", "2026-01-15"]) == 0
    assert notebook_parameters(config, "2022-06", "nl")["plan"] == {
        "frozen": "2026-01-15",
        "waves_seen": ["2021-12", "2022-06"],
        "deviations": [],
    }
