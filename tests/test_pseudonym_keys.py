"""Secure-by-default pseudonym keys: the public key only for the simulator's own files."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from lcsurvey.study import simulate as sim
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.pseudonym import (
    DEVELOPMENT_KEY,
    KEY_ENV,
    load_key,
    new_key_notice,
    project_key,
    simulator_made,
)

from .conftest import ROOT


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A wave the simulator wrote (with its TRUTH file) in a folder of its own."""
    out = tmp_path_factory.mktemp("raw")
    assert sim.main(["--out", str(out), "--wave", "2030-01", "--n", "60", "--seed", "7"]) == 0
    return out / "wave_2030-01.csv"


def test_the_simulator_records_the_sha256_of_what_it_wrote(simulated):
    assert simulator_made(simulated)
    assert simulator_made(ROOT / "data" / "raw" / "wave_2021-12.csv")
    assert simulator_made(ROOT / "data" / "raw" / "wave_2022-06.sav")


def test_a_real_looking_wave_without_a_key_gets_a_generated_key_never_the_public_one(
    simulated, tmp_path
):
    # The same export, but not the simulator's bytes: one answer edited, as a real export differs.
    real = tmp_path / "export" / "wave_2030-01.csv"
    real.parent.mkdir()
    text = simulated.read_text(encoding="utf-8-sig")
    real.write_text(text.replace("LC-", "lc-", 1), encoding="utf-8")
    assert not simulator_made(real)
    store = tmp_path / "project" / ".lcsurvey" / "pseudonym.key"

    key, source = load_key(None, raw=real, project_key_file=store)
    assert key != DEVELOPMENT_KEY
    assert len(bytes.fromhex(key.decode("ascii"))) == 32
    assert source.startswith(f"project key {store}")
    assert "KEEP IT" in new_key_notice(source) and "outside the repository" in source
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    # From then on the same key, without the notice.
    again, source = load_key(None, raw=real, project_key_file=store)
    assert again == key and new_key_notice(source) is None

    book = load_codebook(ROOT / "data" / "codebook.yaml")
    secure = clean_file(str(real), book, wave="2030-01", rules=None, key=key)
    public = clean_file(str(real), book, wave="2030-01", rules=None, key=DEVELOPMENT_KEY)
    assert len(secure.kept) > 20
    assert not set(secure.kept["rid"]) & set(public.kept["rid"])
    assert not set(secure.quarantine["rid"].dropna()) & set(public.quarantine["rid"].dropna())


def test_no_raw_file_named_counts_as_real_data(tmp_path):
    key, source = load_key(None, project_key_file=tmp_path / "k" / "pseudonym.key")
    assert key != DEVELOPMENT_KEY and source.startswith("project key")


def test_the_simulators_wave_keeps_the_public_key_under_any_name(simulated, tmp_path):
    assert load_key(None, raw=simulated) == (DEVELOPMENT_KEY, "development key")
    # A TRUTH file beside another file does not make that file simulated.
    other = simulated.parent / "someone_else.csv"
    other.write_text("ResponseId\nR_1\n", encoding="utf-8")
    assert not simulator_made(other)


def test_a_configured_key_comes_first(simulated, tmp_path, monkeypatch):
    path = tmp_path / "team.key"
    path.write_text("a secret of the research team\n", encoding="utf-8")
    assert load_key(str(path), raw=simulated) == (b"a secret of the research team", str(path))
    monkeypatch.setenv(KEY_ENV, "from the environment, secret")
    assert load_key(str(path), raw=simulated)[1] == "environment"


def test_two_jobs_starting_at_once_share_one_project_key(tmp_path):
    store = tmp_path / ".lcsurvey" / "pseudonym.key"
    first, created = project_key(store)
    second, again = project_key(store)
    assert created and not again and first == second
    assert [p.name for p in store.parent.iterdir()] == ["pseudonym.key"]


def test_lcsurvey_check_says_which_key_a_real_wave_will_get(tmp_path):
    from lcsurvey.pipeline.check import check_project

    from .test_check import write_project

    report = check_project(write_project(tmp_path))
    assert report.problems == []
    note = next(n for n in report.notes if n.startswith("no pseudonym key configured"))
    assert "wave w1 will use a new random key" in note and ".lcsurvey/pseudonym.key" in note
    assert not (tmp_path / ".lcsurvey").exists()  # the check writes nothing
    bundled = check_project(ROOT / "config.yaml")
    assert not any("pseudonym key" in n for n in bundled.notes)
