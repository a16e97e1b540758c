"""`make run` after a hard stop: a stale lock is released and the run resumes; a live run of the
same project is named and left alone (lcsurvey.pipeline.run)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lcsurvey.pipeline import run

FAKE_SNAKEMAKE = """#!{python}
import sys, pathlib
pathlib.Path("calls.txt").open("a").write(" ".join(sys.argv[1:]) + "\\n")
if "--unlock" in sys.argv:
    for lock in pathlib.Path(".snakemake/locks").glob("*.lock"):
        lock.unlink()
"""

SLEEPER = """#!{python}
import time
time.sleep(60)
"""


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.format(python=sys.executable), encoding="utf-8")
    path.chmod(0o755)
    return path


def stale_lock(project: Path) -> None:
    locks = project / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("", encoding="utf-8")
    (locks / "0.output.lock").write_text("", encoding="utf-8")


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["/p/.venv/bin/python", "/p/.venv/bin/snakemake", "--cores", "2"], True),
        (["snakemake", "--cores", "all", "power"], True),
        (["python3", "-m", "snakemake", "--cores", "1"], True),
        (["/p/.venv/bin/python", "/p/.snakemake/scripts/tmpab12.model.py"], True),
        (["make", "run"], False),
        (["python", "-m", "pytest", "tests/test_snakemake_rules.py"], False),
        (["vim", "Snakefile"], False),
    ],
)
def test_what_counts_as_a_run(cmdline, expected):
    assert run.is_run_command(cmdline) is expected


def test_no_lock_means_nothing_to_do(tmp_path):
    snakemake = script(tmp_path / "bin" / "snakemake", FAKE_SNAKEMAKE)
    assert run.prepare(tmp_path, str(snakemake)) is None
    assert not (tmp_path / "calls.txt").exists()


def test_a_stale_lock_is_released_with_one_line(tmp_path, capsys):
    snakemake = script(tmp_path / "bin" / "snakemake", FAKE_SNAKEMAKE)
    stale_lock(tmp_path)
    assert run.prepare(tmp_path, str(snakemake)) is None
    assert (tmp_path / "calls.txt").read_text() == "--unlock\n"
    assert run.lock_files(tmp_path) == []
    assert capsys.readouterr().out == run.RECOVERED + "\n"


def test_a_live_run_of_the_project_is_named_and_its_lock_kept(tmp_path):
    snakemake = script(tmp_path / "bin" / "snakemake", FAKE_SNAKEMAKE)
    stale_lock(tmp_path)
    # A process called snakemake working in the project, and one working elsewhere.
    sleeper = script(tmp_path / "other" / "snakemake", SLEEPER)
    live = subprocess.Popen([str(sleeper)], cwd=tmp_path)
    elsewhere = subprocess.Popen([str(sleeper)], cwd=tmp_path / "other")
    try:
        for _ in range(50):  # until the interpreter has replaced the fork's command line
            if live.pid in (run.project_processes(tmp_path) or []):
                break
            time.sleep(0.05)
        assert run.project_processes(tmp_path) == [live.pid]
        message = run.prepare(tmp_path, str(snakemake))
        assert message == run.RUNNING.format(pid=live.pid)
        assert "another run of this project is in progress" in message
        assert len(run.lock_files(tmp_path)) == 2
        assert not (tmp_path / "calls.txt").exists()
    finally:
        live.kill()
        elsewhere.kill()
        live.wait()
        elsewhere.wait()
    # Once it has stopped, its lock is stale.
    assert run.project_processes(tmp_path) == []
    assert run.prepare(tmp_path, str(snakemake)) is None


def test_main_refuses_with_a_message_and_exit_1(tmp_path, monkeypatch, capsys):
    stale_lock(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run, "project_processes", lambda project: [4242])
    assert run.main(["--cores", "2"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "ERROR: another run of this project is in progress (pid 4242); wait for it or stop it\n"
    )


def test_without_a_process_list_the_lock_is_kept_and_the_way_out_named(tmp_path, monkeypatch):
    snakemake = script(tmp_path / "bin" / "snakemake", FAKE_SNAKEMAKE)
    stale_lock(tmp_path)
    monkeypatch.setattr(run, "project_processes", lambda project: None)
    message = run.prepare(tmp_path, str(snakemake))
    assert "cannot be listed" in message and "delete .snakemake/locks" in message
    assert len(run.lock_files(tmp_path)) == 2


# --- the real thing: a run killed with SIGKILL, then `make run`'s command again -------------

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
RUN = [sys.executable, "-m", "lcsurvey.pipeline.run", "--cores", "2", "--keep-going"]


def results(project: Path) -> dict[str, str]:
    """SHA-256 of every table under results/ and of the text of every PDF under reports/ (a
    PDF's bytes hold its creation time; bench/manifest.py's text, with the commit masked)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "manifest", Path(__file__).resolve().parents[1] / "bench" / "manifest.py"
    )
    manifest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(manifest)
    if manifest.shutil.which("pdftotext") is None:  # tables only, then
        return {
            str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
            for pattern in manifest.TABLES
            for p in sorted((project / "results").rglob(pattern))
        }
    return manifest.manifest(project)


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_to_the_same_results(tmp_path):
    from .test_pipeline import make_project, simulate

    projects = []
    for name in ("whole", "killed"):
        where = tmp_path / name
        where.mkdir()
        make_project(where, {"2030-01": "data/raw/wave_2030-01.csv"})
        config = (where / "config.yaml").read_text(encoding="utf-8")
        config = config.replace("bootstrap: 2000", "bootstrap: 100")
        assert "bootstrap: 100" in config  # few draws: a short test
        (where / "config.yaml").write_text(config, encoding="utf-8")
        simulate(where, "2030-01", 260)
        projects.append(where)
    whole, killed = projects

    done = subprocess.run(RUN, cwd=whole, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert run.RECOVERED not in done.stdout

    # The same run in its own process group, killed with SIGKILL as soon as a model job runs.
    log = (tmp_path / "killed.log").open("w")
    first = subprocess.Popen(RUN, cwd=killed, stdout=log, stderr=log, start_new_session=True)
    incomplete = killed / ".snakemake" / "incomplete"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if "rule model:" in (tmp_path / "killed.log").read_text() and any(incomplete.glob("*")):
            break
        time.sleep(0.2)
    assert first.poll() is None, "the run ended before a model job started"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    log.close()
    assert run.lock_files(killed), "the killed run left no lock"
    assert not list(killed.glob("reports/**/*.pdf"))  # stopped before the end

    stuck = subprocess.run([SNAKEMAKE, "--cores", "2"], cwd=killed, capture_output=True, text=True)
    assert stuck.returncode != 0 and "--unlock" in stuck.stdout + stuck.stderr  # as before

    again = subprocess.run(RUN, cwd=killed, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(run.RECOVERED) == 1
    assert run.lock_files(killed) == []
    assert results(killed) == results(whole)
