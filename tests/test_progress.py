"""Progress of long work: lines in the rule's log at an interval, a bar only on a terminal,
and results that do not depend on either."""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pandas as pd
import pytest

from lcsurvey.pipeline.runner import script_log
from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem import progress
from lcsurvey.sem.model import _bootstrap_job, bootstrap_estimates, fit_model

from .conftest import ROOT

MEDIATION = """
    m ~ a*x
    y ~ b*m + c*x
    ind := a*b
"""


@pytest.fixture(scope="module")
def fitted():
    data = pd.read_csv(ROOT / "tests" / "fixtures" / "r" / "sem_mediation.csv")
    return fit_model(MEDIATION, data)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Lines(logging.Handler):
    """The messages logged to "lcsurvey" while in use."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        progress.log.addHandler(self)
        self._level = progress.log.level
        progress.log.setLevel(logging.INFO)
        return self.lines

    def __exit__(self, *exc):
        progress.log.removeHandler(self)
        progress.log.setLevel(self._level)


def test_lines_come_every_tenth_and_never_within_five_seconds():
    clock = Clock()
    report = progress.Progress("bootstrap", 2000, "draws", clock=clock, bar=False)
    # 50 draws a chunk, 2 s a chunk: 10% (200 draws) takes 8 s, so a line per 200 draws.
    with Lines() as lines:
        for done in range(50, 2001, 50):
            clock.now += 2.0
            report(done, 2000)
    assert len(lines) == 10
    assert lines[0] == "bootstrap: 200 of 2000 draws (10%), 8 s elapsed, about 1 min 12 s left"
    assert lines[3].startswith("bootstrap: 800 of 2000 draws (40%), 32 s elapsed")
    assert lines[-1] == "bootstrap: 2000 of 2000 draws done in 1 min 20 s"

    # Fast chunks: 10% in 1.25 s, so the 5 s rule sets the pace.
    clock.now = 0.0
    report = progress.Progress("jackknife", 1000, "refits", clock=clock, bar=False)
    with Lines() as lines:
        for done in range(10, 1001, 10):
            clock.now += 0.125
            report(done, 1000)
    assert [line.split(" (")[0] for line in lines[:-1]] == [
        "jackknife: 400 of 1000 refits",
        "jackknife: 800 of 1000 refits",
    ]
    assert lines[0].endswith("5 s elapsed, about 8 s left")
    assert lines[-1] == "jackknife: 1000 of 1000 refits done in 12 s"

    # A job shorter than the interval logs nothing at all.
    clock.now = 0.0
    report = progress.Progress("bootstrap", 200, clock=clock, bar=False)
    with Lines() as lines:
        for done in (50, 100, 150, 200):
            clock.now += 0.5
            report(done, 200)
    assert lines == []


def test_durations_read_as_words():
    assert progress.duration(4.4) == "4 s"
    assert progress.duration(185) == "3 min 05 s"
    assert progress.duration(3720) == "1 h 02 min"


def test_draws_are_the_same_with_and_without_progress(fitted):
    job = _bootstrap_job(fitted)
    calls = []
    with_progress = boot.draws(
        job, 230, 7, chunk_size=50, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(50, 230), (100, 230), (150, 230), (200, 230), (230, 230)]
    silent = boot.draws(job, 230, 7, chunk_size=50, progress=False)
    logged = boot.draws(job, 230, 7, chunk_size=50)
    pooled = boot.draws(job, 230, 7, chunk_size=50, workers=2, progress=lambda d, t: None)
    for other in (silent, logged, pooled):
        assert np.array_equal(with_progress, other, equal_nan=True)
    clusters = np.arange(len(job.x)) % 20
    counted = []
    a = boot.draws(job, 120, 3, clusters=clusters, progress=lambda d, t: counted.append(d))
    b = boot.draws(job, 120, 3, clusters=clusters, progress=False)
    assert counted == [50, 100, 120]
    assert np.array_equal(a, b, equal_nan=True)
    refits = []
    jack = boot.jackknife(
        job, clusters=clusters, chunk_size=8, progress=lambda d, t: refits.append((d, t))
    )
    assert refits == [(8, 20), (16, 20), (20, 20)]
    assert np.array_equal(
        jack, boot.jackknife(job, clusters=clusters, progress=False), equal_nan=True
    )


def test_the_rule_log_has_the_progress_lines_with_their_counts(fitted, tmp_path, monkeypatch):
    """As the model rule runs it: script_log, then bootstrap_estimates without a callback."""
    monkeypatch.setattr(progress, "SECONDS", 0.0)
    log_path = tmp_path / "model.log"
    with script_log(log_path):
        _, summary = bootstrap_estimates(fitted, 200, 20211201, workers=2)
    text = log_path.read_text(encoding="utf-8")
    draws = re.findall(
        r"^INFO bootstrap: (\d+) of (\d+) draws \((\d+)%\), \S+ s elapsed, about .+ left$",
        text,
        re.M,
    )
    assert draws == [("50", "200", "25"), ("100", "200", "50"), ("150", "200", "75")]
    assert re.search(r"^INFO bootstrap: 200 of 200 draws done in \d+ s$", text, re.M)
    n_rows = len(fitted.data)
    jack = re.findall(r"^INFO jackknife: (\d+) of (\d+) refits", text, re.M)
    # Leave-one-out refits in blocks of 50 rows; the last line is the closing one.
    assert [(int(d), int(t)) for d, t in jack] == [
        *((done, n_rows) for done in range(50, n_rows, 50)),
        (n_rows, n_rows),
    ]
    assert "\r" not in text  # no progress bar in a rule's log
    assert summary.iloc[0]["draws_ok"] == 200


def test_a_bar_only_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    report = progress.Progress("bootstrap", 200)
    for done in (50, 100, 150, 200):
        report(done, 200)
    # tqdm draws the bar (at most ten times a second) and clears it when done.
    assert "bootstrap:" in screen.getvalue() and "/200 [" in screen.getvalue()

    not_a_terminal = io.StringIO()
    monkeypatch.setattr("sys.stderr", not_a_terminal)
    report = progress.Progress("bootstrap", 200)
    for done in (50, 100, 150, 200):
        report(done, 200)
    assert not_a_terminal.getvalue() == ""
