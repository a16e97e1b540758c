"""The privacy check of everything published (lcsurvey.report.privacy) and its place in publish."""

from __future__ import annotations

import copy
import shutil

import pandas as pd
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.report import privacy
from lcsurvey.report.publish import main, publish
from lcsurvey.survey import disclosure
from lcsurvey.survey.codebook import load_codebook

from .test_publish import CODEBOOK, MIN_CELL, make_site

# The publish tests' codebook with its background variables marked as quasi-identifiers.
QUASI = copy.deepcopy(CODEBOOK)
for name in ("age", "sector", "community"):
    QUASI["background"][name]["quasi_identifier"] = True


def secrets_and_book(root):
    config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    book = load_codebook(root / "data" / "codebook.yaml")
    raw = {wave: (root / path, {}) for wave, path in config["waves"].items()}
    return privacy.secrets_of_raw(raw, book), book, list(config["waves"])


def findings(root, folder):
    secrets, book, waves = secrets_and_book(root)
    return privacy.check_folder(folder, book, secrets, waves, MIN_CELL, cluster="community")


@pytest.fixture
def quasi_site(tmp_path):
    root, reports, config = make_site(tmp_path, codebook=QUASI)
    publish(reports, root / "publish", config)
    return root


def test_the_secrets_are_the_raw_codes_ids_and_free_text(quasi_site):
    secrets, _, _ = secrets_and_book(quasi_site)
    assert {"p0003", "r_w1_0003", "r_w2_0003"} <= secrets.codes
    assert "free text answer 3 by jan jansen" in secrets.free_text
    assert not any("@" in code for code in secrets.codes)  # PII columns are never read


def test_what_publish_writes_passes_the_check(quasi_site):
    assert findings(quasi_site, quasi_site / "publish") == []


def test_the_check_finds_the_planted_pii_column_person_code_and_small_cell(quasi_site, tmp_path):
    copy_ = tmp_path / "copy"
    shutil.copytree(quasi_site / "publish", copy_)
    first = copy_ / "data" / "w1" / "responses.csv"
    frame = pd.read_csv(first, dtype=str, keep_default_na=False)
    frame["RecipientEmail"] = "someone"  # a PII column by its codebook name
    frame.loc[4, "a1"] = "P0003"  # a raw person code
    frame.loc[2, "sector"] = "4"  # a sector of one respondent
    frame.to_csv(first, index=False)
    page = copy_ / "w1" / "two_pager_nl.html"
    page.write_text(page.read_text(encoding="utf-8") + "<p>R_w2_0007</p>", encoding="utf-8")

    found = {(f.file, f.column, f.problem) for f in findings(quasi_site, copy_)}
    assert ("data/w1/responses.csv", "RecipientEmail", "a PII, free-text, id or person column") in (
        found
    )
    assert ("data/w1/responses.csv", "a1", "a raw person code or response id") in found
    assert ("data/w1/responses.csv", "sector", "a group below report.min_cell (10)") in found
    assert ("w1/two_pager_nl.html", None, "a raw person code or response id") in found


def test_the_check_finds_a_combination_below_k(quasi_site, tmp_path):
    copy_ = tmp_path / "copy"
    shutil.copytree(quasi_site / "publish", copy_)
    path = copy_ / "data" / "w2" / "responses.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    keys = ["age", "sector", "community"]
    assert disclosure.key_frequencies(frame.replace("", None), keys).min() >= MIN_CELL
    # Undo the protection: every cell filled, 12 combinations among fewer than 40 rows.
    frame["age"] = [str(i % 3 + 1) for i in range(len(frame))]
    frame["sector"] = [str(i % 4 + 1) for i in range(len(frame))]
    frame["community"] = "3"
    frame.to_csv(path, index=False)
    problems = [f for f in findings(quasi_site, copy_) if "quasi-identifiers" in f.problem]
    assert problems and problems[0].file == "data/w2/responses.csv"
    assert sorted(problems[0].column.split(", ")) == sorted(keys)
    assert "fewer than k = 10" in problems[0].problem


def test_publish_stops_naming_the_file_and_leaves_the_earlier_folder(quasi_site, capsys):
    root = quasi_site
    before = sorted(p.name for p in (root / "publish").rglob("*"))
    page = root / "reports" / "w1" / "two_pager_nl.html"
    page.write_text(
        page.read_text(encoding="utf-8") + "<p>Free text answer 5 by Jan Jansen</p>",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as stopped:
        publish(root / "reports", root / "publish", root / "config.yaml")
    assert stopped.value.file == "w1/two_pager_nl.html"
    assert "free-text answer" in stopped.value.message
    assert sorted(p.name for p in (root / "publish").rglob("*")) == before
    assert not (root / ".publish.partial").exists()
    code = main(
        [
            "--reports",
            str(root / "reports"),
            "--out",
            str(root / "publish"),
            "--config",
            str(root / "config.yaml"),
        ]
    )
    assert code == 1 and "w1/two_pager_nl.html" in capsys.readouterr().err


def test_a_count_column_below_min_cell_is_a_small_group(quasi_site, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    pd.DataFrame({"group": ["a", "b"], "n": [25, 3]}).to_csv(folder / "means.csv", index=False)
    found = findings(quasi_site, folder)
    assert [(f.file, f.column, f.value) for f in found] == [("means.csv", "n", "n = 3")]


def test_an_email_address_in_a_page_is_found(quasi_site, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "index.html").write_text(
        '<p>Contact: <a href="x">j.jansen@example.org</a></p><img src="data:image/png;base64,AA">',
        encoding="utf-8",
    )
    assert [f.problem for f in findings(quasi_site, folder)] == ["an e-mail address"]


def test_privacy_check_command_refuses_a_pooled_parquet_and_passes_publish(quasi_site, capsys):
    from lcsurvey.pipeline.cli import main as lcsurvey

    root = quasi_site
    config = str(root / "config.yaml")
    assert lcsurvey(["privacy-check", str(root / "publish"), "--config", config]) == 0
    assert "nothing found" in capsys.readouterr().out
    # The cleaned responses as they are: pseudonymised, but not coarsened.
    shared = root / "shared"
    shared.mkdir()
    shutil.copy2(root / "results" / "w1" / "clean" / "responses.parquet", shared / "pooled.parquet")
    assert lcsurvey(["privacy-check", str(shared), "--config", config]) == 1
    out = capsys.readouterr().out
    assert "pooled.parquet, column comment: a PII, free-text, id or person column" in out
    assert (
        "pooled.parquet, column age, community, sector: a combination of quasi-identifiers" in out
    )


def test_configured_bands_merges_and_k_are_applied_and_listed(tmp_path):
    from .test_publish import fields_of

    root, reports, config = make_site(tmp_path, codebook=QUASI)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["publish"]["disclosure"] = {
        "k": 12,
        "recode": {"age": {"bands": [40]}, "sector": {"merge": [[3, 4]]}},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    out = root / "publish"
    publish(reports, out, config)
    age = fields_of(out, "responses-w1")["age"]
    assert [c["label"] for c in age["categories"]] == ["under 40", "40 or over"]
    assert "Recoded into bands (configured): 1 = under 40; 2 = 40 or over" in age["description"]
    sector = fields_of(out, "responses-w1")["sector"]
    assert "Categories merged (global recoding): 3+4 as 3" in sector["description"]
    assert any(
        c["value"] == 3 and "Education" in c["label"] and "Non-profit" in c["label"]
        for c in sector["categories"]
    )
    control = pd.read_csv(out / "data" / "disclosure.csv").set_index(["wave", "variable"])
    assert control.loc[("w1", "sector"), "recoding"] == "categories merged: 3+4 as 3"
    assert control.loc[("w1", "age"), "recoding"] == "in bands (configured): under 40, 40 or over"
    combined = [i for i in control.index if i[1].startswith("(all quasi-identifiers")]
    assert len(combined) == 3 and (control.loc[combined, "k_after"] >= 12).all()
    for wave in ("w1", "w2"):
        frame = pd.read_csv(out / "data" / wave / "responses.csv")
        assert disclosure.risk_summary(frame, ["age", "sector", "community"], 12).k >= 12
