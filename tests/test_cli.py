"""The `lcsurvey` command: its subcommands, their --help, what they hand on, and a light start."""

from __future__ import annotations

import subprocess
import sys
import types
from importlib import metadata

import pytest
import yaml

from lcsurvey.pipeline import cli

from .conftest import ROOT

COMMANDS = ["codebook", "add-wave", "publish", "simulate", "check", "plan"]


def test_the_console_script_is_installed():
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts["lcsurvey"] == "lcsurvey.pipeline.cli:main"
    assert scripts["lcsurvey-simulate"] == "lcsurvey.study.simulate:main"  # still there


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["check", "--help"], "usage: lcsurvey check [-h] [--config CONFIG]"),
        (["plan", "--help"], "freeze write analysis_plan.lock"),
        (["plan", "freeze", "--help"], "--force"),
        (["plan", "status", "--help"], "as planned"),
        (["codebook", "--help"], "draft"),
        (["add-wave", "--help"], "--wave WAVE --path PATH"),
        (["publish", "--help"], "--reports REPORTS"),
        (["simulate", "--help"], "--previous"),
    ],
)
def test_every_command_answers_help(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 0
    assert says in " ".join(capsys.readouterr().out.split())


def test_help_starts_without_pandas():
    code = (
        "import sys\n"
        "from lcsurvey.pipeline import cli\n"
        "try:\n"
        "    cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('pandas', 'numpy', 'scipy', 'snakemake') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip().endswith("heavy: []")


def test_add_wave_is_handed_to_the_waves_module(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        'codebook: data/codebook.yaml\nwaves:\n  "2021-12": data/raw/a.csv\n', encoding="utf-8"
    )
    argv = ["add-wave", "--config", str(config), "--wave", "2023-01", "--path", "data/raw/b.csv"]
    assert cli.main(argv) == 0
    assert '"2023-01": data/raw/b.csv added to' in capsys.readouterr().out
    assert list(yaml.safe_load(config.read_text(encoding="utf-8"))["waves"]) == [
        "2021-12",
        "2023-01",
    ]
    assert cli.main(argv) == 0  # idempotent, as make demo-wave relies on
    assert "already in" in capsys.readouterr().out


def test_publish_is_handed_on_and_says_what_is_missing(tmp_path, capsys):
    argv = ["publish", "--reports", str(tmp_path / "reports"), "--out", str(tmp_path / "pub")]
    assert cli.main([*argv, "--config", str(ROOT / "config.yaml")]) == 1
    assert "no reports to publish" in capsys.readouterr().err
    assert not (tmp_path / "pub").exists()


def test_plan_on_a_config_that_is_not_there(tmp_path, capsys):
    assert cli.main(["plan", "freeze", "--config", str(tmp_path / "nope.yaml")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_an_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["reticulate"])
    assert stop.value.code == 2
    assert "invalid choice: 'reticulate'" in capsys.readouterr().err


# --- codebook draft: lcsurvey.survey.draft.main(argv) receives the arguments -------------------


def test_codebook_draft_hands_every_argument_to_the_drafter(monkeypatch):
    seen = []
    stand_in = types.ModuleType("lcsurvey.survey.draft")
    stand_in.main = lambda argv=None: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "lcsurvey.survey.draft", stand_in)
    assert cli.main(["codebook", "draft", "a.csv", "b.sav", "--out", "book.yaml"]) == 3
    assert seen == [["a.csv", "b.sav", "--out", "book.yaml"]]


def test_codebook_draft_help_is_the_drafters(capsys):
    pytest.importorskip("lcsurvey.survey.draft")
    with pytest.raises(SystemExit) as stop:
        cli.main(["codebook", "draft", "--help"])
    assert stop.value.code == 0
    assert "--out" in capsys.readouterr().out
