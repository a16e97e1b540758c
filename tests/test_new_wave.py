"""A new wave in an up-to-date project: only what it affects is recomputed.

In temporary copies of the workflow (tests/test_pipeline.make_project): two simulated waves are
run to completion; then a third wave is added as a reviewer would (one raw file, one line in
config.yaml), a codebook or raw file is changed, or a broken wave is added, and Snakemake's
plan (dry run) and results are checked.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lcsurvey.study.waves import add_wave_line

from .test_pipeline import SIMULATE, make_project, snakemake

pytestmark = pytest.mark.slow

OLD = ["2030-01", "2030-07"]
NEW = "2031-01"
# What a new wave must never recompute for the waves already there.
OLD_STAGES = ("clean", "scales", "models")


def simulate(where: Path, wave: str, n: int, previous: str | None = None) -> str:
    command = [
        SIMULATE,
        "--out",
        str(where / "data" / "raw"),
        "--wave",
        wave,
        "--n",
        str(n),
        "--format",
        "csv",
        "--seed",
        "11",
    ]
    if previous:
        command += ["--previous", str(where / "data" / "raw" / f"wave_{previous}.csv")]
    subprocess.run(command, check=True, capture_output=True)
    return f"data/raw/wave_{wave}.csv"


def planned_outputs(where: Path) -> dict[str, str]:
    """Output file -> the reason Snakemake gives, for every job a dry run plans."""
    run = snakemake(where, "--dry-run")
    assert run.returncode == 0, run.stderr[-3000:]
    planned: dict[str, str] = {}
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", run.stdout + run.stderr):
        outputs = re.search(r"^\s+output: (.*)$", block, re.MULTILINE)
        reason = re.search(r"^\s+reason: (.*)$", block, re.MULTILINE)
        if outputs:
            for path in outputs.group(1).split(", "):
                planned[path.strip()] = reason.group(1) if reason else ""
    return planned


def old_stage_outputs(planned: dict[str, str]) -> list[str]:
    return [
        p
        for p in planned
        if any(p.startswith(f"results/{w}/{stage}/") for w in OLD for stage in OLD_STAGES)
    ]


def digests(where: Path, waves: list[str]) -> dict[str, tuple[str, int]]:
    files = [
        p
        for w in waves
        for stage in OLD_STAGES
        for p in (where / "results" / w / stage).rglob("*")
        if p.is_file()
    ]
    return {
        str(p.relative_to(where)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in files
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    where = make_project(
        tmp_path_factory.mktemp("baseline"),
        {OLD[0]: f"data/raw/wave_{OLD[0]}.csv", OLD[1]: f"data/raw/wave_{OLD[1]}.csv"},
    )
    config = yaml.safe_load((where / "config.yaml").read_text(encoding="utf-8"))
    config["estimation"]["bootstrap"] = 100  # the draws do not change what is rerun
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    simulate(where, OLD[0], 240)
    simulate(where, OLD[1], 200, previous=OLD[0])
    run = snakemake(where)
    assert run.returncode == 0, run.stderr[-3000:]
    dry = snakemake(where, "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    return where


@pytest.fixture
def project(baseline, tmp_path) -> Path:
    """A copy of the finished two-wave project, Snakemake's records and file times included."""
    copy = tmp_path / "project"
    shutil.copytree(baseline, copy, symlinks=True)
    return copy


def test_a_new_wave_plans_only_its_own_pooled_and_report_jobs(project):
    path = simulate(project, NEW, 200, previous=OLD[1])
    assert add_wave_line(project / "config.yaml", NEW, path)
    planned = planned_outputs(project)
    assert not old_stage_outputs(planned)
    for output in [
        f"results/{NEW}/clean/responses.parquet",
        f"results/{NEW}/scales/scores.parquet",
        f"results/{NEW}/models/transfer/estimates.csv",
        "results/pooled/means.csv",
        "results/pooled/panel_fit.csv",
        f"results/{NEW}/across/means.csv",
        f"results/{NEW}/across/invariance.csv",
        f"results/{NEW}/across/longitudinal_invariance.csv",
        f"reports/{NEW}/two_pager_nl.pdf",
        "reports/index.html",
    ]:
        assert output in planned, output
    # Nothing of the old waves is planned, their two-pagers included: a report depends on the
    # waves up to and including its own (tables across waves, configuration digest).
    reports = [p for p in planned if p.startswith("reports/")]
    assert sorted(reports) == sorted(
        ["reports/index.html"]
        + [
            f"reports/{NEW}/two_pager_{lang}.{ext}"
            for lang in ("nl", "en")
            for ext in ("html", "pdf")
        ]
    )
    for output in planned:
        for wave in OLD:
            assert f"/{wave}/" not in output, output
    old_reports = {
        p: p.stat().st_mtime_ns for w in OLD for p in (project / "reports" / w).iterdir()
    }

    before = digests(project, OLD)
    run = snakemake(project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert digests(project, OLD) == before
    for wave in [*OLD, NEW]:
        for lang in ("nl", "en"):
            assert (project / "reports" / wave / f"two_pager_{lang}.pdf").stat().st_size > 0
    pooled = pd.read_parquet(project / "results/pooled/responses.parquet")
    assert pooled["wave"].drop_duplicates().tolist() == [*OLD, NEW]
    for wave in [*OLD, NEW]:
        kept = pd.read_parquet(project / "results" / wave / "clean/responses.parquet")
        assert (pooled["wave"] == wave).sum() == len(kept)
    means = pd.read_csv(project / "results/pooled/means.csv")
    assert means.groupby("construct")["wave"].apply(list).map(len).eq(3).all()
    changes = pd.read_csv(project / "results/pooled/changes.csv")
    pairs = changes[["wave_from", "wave_to"]].drop_duplicates().values.tolist()
    assert pairs == [[OLD[0], OLD[1]], [OLD[1], NEW]]
    assert (changes["n_paired"] > 20).all()  # returners of the simulator, linked by rid
    fit = pd.read_csv(project / "results/pooled/panel_fit.csv")
    assert fit[["wave_from", "wave_to"]].values.tolist() == pairs
    attrition = pd.read_csv(project / "results/pooled/attrition.csv")
    assert attrition[["wave_from", "wave_to"]].drop_duplicates().values.tolist() == pairs
    assert {p: p.stat().st_mtime_ns for p in old_reports} == old_reports
    across = project / "results" / NEW / "across"
    means = pd.read_csv(across / "means.csv")
    assert means.groupby("construct")["wave"].apply(list).map(len).eq(3).all()
    changes = pd.read_csv(across / "changes.csv")
    assert changes[["wave_from", "wave_to"]].drop_duplicates().values.tolist() == [[OLD[1], NEW]]
    pooled_changes = pd.read_csv(project / "results/pooled/changes.csv")
    last = pooled_changes[pooled_changes["wave_from"] == OLD[1]].reset_index(drop=True)
    columns = ["construct", "n_from", "n_to", "diff", "se", "pvalue", "n_paired"]
    pd.testing.assert_frame_equal(changes[columns], last[columns])
    invariance = pd.read_csv(across / "invariance.csv")
    assert set(invariance["group_values"].dropna()) == {f"{OLD[1]};{NEW}"}
    assert not (project / "results" / OLD[0] / "across").exists()
    dry = snakemake(project, "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_codebook_changes_rerun_what_they_affect(project):
    path = project / "data" / "codebook.yaml"
    book = yaml.safe_load(path.read_text(encoding="utf-8"))
    # New column names for a wave not yet configured: nothing of the old waves changes.
    book["items"]["pl1"].setdefault("wave_columns", {})[NEW] = "PL_1_NEW"
    path.write_text(yaml.safe_dump(book, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert not old_stage_outputs(planned_outputs(project))
    # A construct rule that every wave uses: scales of every wave, not their cleaning.
    book["constructs"]["perceived_learning"]["min_items"] = 4
    path.write_text(yaml.safe_dump(book, sort_keys=False, allow_unicode=True), encoding="utf-8")
    planned = planned_outputs(project)
    for wave in OLD:
        assert "Params have changed" in planned[f"results/{wave}/scales/scores.parquet"]
        assert f"results/{wave}/clean/responses.parquet" not in planned


def test_a_changed_setting_rerenders_the_reports_it_reaches(project):
    """The reports print the digest of the configuration up to their wave: a setting every wave
    shares changes it for all of them; a change to the last wave's entry leaves the first's."""
    path = project / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["power"]["alpha"] = 0.01  # read by no per-wave stage, yet part of the configuration
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    planned = planned_outputs(project)
    assert not old_stage_outputs(planned)
    for wave in OLD:
        assert "Params have changed" in planned[f"reports/{wave}/two_pager_en.pdf"]
    config["power"]["alpha"] = 0.05
    shutil.copy2(project / config["waves"][OLD[1]], project / "data/raw/second_copy.csv")
    config["waves"][OLD[1]] = "data/raw/second_copy.csv"  # same bytes, another entry
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    reports = [p for p in planned_outputs(project) if p.startswith("reports/")]
    assert f"reports/{OLD[1]}/two_pager_en.pdf" in reports
    assert not [p for p in reports if p.startswith(f"reports/{OLD[0]}/")]


def test_a_replaced_raw_file_is_detected_by_content(project):
    raw = project / "data" / "raw" / f"wave_{OLD[0]}.csv"
    stamp = raw.stat()
    # The same bytes with an old time: nothing to do.
    os.utime(raw, ns=(stamp.st_atime_ns, stamp.st_mtime_ns - 10**12))
    assert not old_stage_outputs(planned_outputs(project))
    # Other bytes with the same old time, as when an older export is copied back.
    lines = raw.read_text(encoding="utf-8-sig").split("\n")
    target = next(i for i, line in enumerate(lines) if i >= 3 and ",Mee eens," in line)
    lines[target] = lines[target].replace(",Mee eens,", ",Helemaal mee eens,", 1)
    raw.write_text("\n".join(lines), encoding="utf-8")
    os.utime(raw, ns=(stamp.st_atime_ns, stamp.st_mtime_ns - 10**12))
    planned = planned_outputs(project)
    assert "Params have changed" in planned[f"results/{OLD[0]}/clean/responses.parquet"]
    assert f"results/{OLD[1]}/clean/responses.parquet" not in planned


def test_a_broken_wave_stops_alone_and_names_itself(project):
    path = simulate(project, NEW, 120, previous=OLD[1])
    raw = project / path
    lines = raw.read_text(encoding="utf-8-sig").split("\n")
    target = next(i for i, line in enumerate(lines) if i >= 3 and ",Mee eens," in line)
    lines[target] = lines[target].replace(",Mee eens,", ",Zeer mee eens,", 1)
    raw.write_text("\n".join(lines), encoding="utf-8")
    assert add_wave_line(project / "config.yaml", NEW, path)
    before = digests(project, OLD)
    pooled_before = {p.name: p.read_bytes() for p in (project / "results/pooled").iterdir()}
    run = snakemake(project, "--keep-going")  # as `make run`
    assert run.returncode != 0
    message = run.stdout + run.stderr
    assert f"ERROR: wave {NEW}: file {path}, row {target + 1}" in message
    assert "Zeer mee eens" in message
    assert not (project / "results" / NEW / "clean" / "responses.parquet").exists()
    assert digests(project, OLD) == before
    assert {p.name: p.read_bytes() for p in (project / "results/pooled").iterdir()} == pooled_before
    for wave in OLD:  # the other waves' reports are still made
        assert (project / "reports" / wave / "two_pager_en.html").stat().st_size > 0


def test_freezing_the_analysis_plan_reruns_only_the_reports(project):
    from lcsurvey.pipeline import cli

    config = str(project / "config.yaml")
    assert cli.main(["plan", "freeze", "--config", config, "--date", "2031-02-01"]) == 0
    planned = planned_outputs(project)
    assert sorted(p for p in planned if p != "all") == sorted(
        ["reports/index.html"]
        + [f"results/{wave}/report/two_pager_{lang}.ipynb" for wave in OLD for lang in ("nl", "en")]
        + [
            f"reports/{wave}/two_pager_{lang}.{ext}"
            for wave in OLD
            for lang in ("nl", "en")
            for ext in ("html", "pdf")
        ]
    )
    assert "Set of input files has changed" in planned[f"reports/{OLD[0]}/two_pager_nl.pdf"]
