"""make publish: a self-contained static folder with provenance and a validated data package;
external resources refused, PII and free text never published, small groups coarsened."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import re
import socket

import numpy as np
import pandas as pd
import pytest
import yaml
from frictionless import Package

from lcsurvey.errors import InputError
from lcsurvey.report.datapackage import coarsen_groups, top_bottom_code
from lcsurvey.report.publish import main, publish
from lcsurvey.survey.clean import clean_wave
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.scales import scale_scores
from tests.conftest import SMALL_CODEBOOK

KEY = b"test key of some length"
MIN_CELL = 10

# The small codebook with labelled and numeric background variables, a cluster variable and a
# free-text answer that cleaning keeps (so that the responses hold it and publishing must not).
CODEBOOK = copy.deepcopy(SMALL_CODEBOOK)
CODEBOOK["free_text"] = {"comment": {"column": "Q9", "keep": True}}
CODEBOOK["scales"]["sector"] = {
    "values": {
        1: ["Overheid", "Public sector"],
        2: ["Bedrijfsleven", "Private sector"],
        3: ["Onderwijs", "Education"],
        4: ["Non-profit", "Non-profit"],
    },
    "missing": [-99],
}
CODEBOOK["scales"]["community"] = {"min": 1, "max": 60}
CODEBOOK["background"] = {
    "age": {"column": "Q8", "scale": "age", "label": {"nl": "Leeftijd", "en": "Age"}},
    "sector": {"column": "Q10", "scale": "sector", "label": {"nl": "Sector", "en": "Sector"}},
    "community": {"column": "Q11", "scale": "community"},
}
CODEBOOK["items"]["a1"]["text"] = {"nl": "Ik leer hier veel.", "en": "I learn a lot here."}

# Per wave: respondents per sector (codes 1-4) and per community (3, 7, 9, 11); the last two of
# each below MIN_CELL, together at least MIN_CELL (so no larger group has to join them).
GROUPS = {
    "w1": {"sector": [18, 14, 5, 5], "community": [20, 12, 6, 4]},
    "w2": {"sector": [16, 12, 7, 3], "community": [15, 14, 6, 5]},
}


def raw_wave(wave: str, rng: np.random.Generator) -> pd.DataFrame:
    sectors = np.repeat([1, 2, 3, 4], GROUPS[wave]["sector"])
    communities = rng.permutation(np.repeat([3, 7, 9, 11], GROUPS[wave]["community"]))
    rows = []
    for i in range(len(sectors)):
        answers = rng.integers(1, 6, size=6)
        answers[1] = answers[0] % 5 + 1  # never one answer throughout (straightlining)
        rows.append(
            {
                "ResponseId": f"R_{wave}_{i:04d}",
                "ExternalReference": f"P{i:04d}",
                "RecipientEmail": f"person{i}@example.org",
                "IPAddress": f"10.0.0.{i}",
                "Status": "IP Address",
                "Q1": "Ja",
                "Progress": "100",
                "Duration": "600",
                **{
                    column: str(answer)
                    for column, answer in zip(
                        ["Q2_1", "Q2_2", "Q2_3", "Q3_1", "Q3_2", "Q3_3"], answers, strict=True
                    )
                },
                "Q7": "Mee eens",
                "Q8": str(18 + (i * 7) % 50),
                "Q9": f"free text answer {i} by Jan Jansen",
                "Q10": str(sectors[i]),
                "Q11": str(communities[i]),
            }
        )
    raw = pd.DataFrame(rows).astype("string")
    # wave w2 names item a3's column as the codebook's wave_columns say
    return raw.rename(columns={"Q2_3": "A_3"}) if wave == "w2" else raw


def make_site(root, codebook=CODEBOOK, waves=("w1", "w2")):
    """A checkout after 'make run': config, codebook, raw files, results and reports."""
    (root / "data").mkdir(exist_ok=True)
    book_path = root / "data" / "codebook.yaml"
    book_path.write_text(yaml.safe_dump(codebook, allow_unicode=True), encoding="utf-8")
    book = load_codebook(book_path)
    rng = np.random.default_rng(3)
    for wave in waves:
        raw = raw_wave(wave, rng)
        raw.to_csv(root / "data" / f"{wave}.csv", index=False)
        kept = clean_wave(
            raw.drop(columns=list(book.pii)), book, wave=wave, source=f"{wave}.csv", key=KEY
        ).kept
        (root / "results" / wave / "clean").mkdir(parents=True)
        (root / "results" / wave / "scales").mkdir(parents=True)
        kept.to_parquet(root / "results" / wave / "clean" / "responses.parquet")
        scale_scores(kept, book).to_parquet(root / "results" / wave / "scales" / "scores.parquet")
    config = root / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "codebook": "data/codebook.yaml",
                "waves": {wave: f"data/{wave}.csv" for wave in waves},
                "report": {"min_cell": MIN_CELL},
                "estimation": {"cluster": "community"},
                "publish": {"version": "2.1.0", "contributors": [{"title": "Research group"}]},
            }
        ),
        encoding="utf-8",
    )
    reports = root / "reports"
    (reports / waves[0]).mkdir(parents=True)
    (reports / "index.html").write_text(
        f'<html><body><a href="{waves[0]}/two_pager_nl.html">nl</a></body></html>',
        encoding="utf-8",
    )
    (reports / waves[0] / "two_pager_nl.html").write_text(
        '<img src="data:image/png;base64,AAAA">', encoding="utf-8"
    )
    (reports / waves[0] / "two_pager_nl.pdf").write_bytes(b"%PDF-1.7 test")
    (reports / waves[0] / "notes.txt").write_text("not published", encoding="utf-8")
    return root, reports, config


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


@pytest.fixture
def published(site):
    root, reports, config = site
    out = root / "publish"
    publish(reports, out, config)
    return out


def fields_of(out, resource):
    package = json.loads((out / "data" / "datapackage.json").read_text(encoding="utf-8"))
    found = next(r for r in package["resources"] if r["name"] == resource)
    return {field["name"]: field for field in found["schema"]["fields"]}


def column(out, path, name):
    with (out / "data" / path).open(encoding="utf-8", newline="") as handle:
        return [row[name] for row in csv.DictReader(handle)]


def test_publish_copies_reports_and_writes_provenance(site):
    root, reports, config = site
    out = root / "publish"
    files = publish(reports, out, config)
    assert sorted(p.relative_to(out).as_posix() for p in files) == [
        "data/datapackage.json",
        "data/w1/responses.csv",
        "data/w1/scores.csv",
        "data/w2/responses.csv",
        "data/w2/scores.csv",
        "index.html",
        "w1/two_pager_nl.html",
        "w1/two_pager_nl.pdf",
    ]
    assert not (out / "w1" / "notes.txt").exists()
    provenance = (out / "PROVENANCE.txt").read_text(encoding="utf-8")
    raw_hash = hashlib.sha256((root / "data" / "w1.csv").read_bytes()).hexdigest()
    assert f"raw data of wave w1 (w1.csv) sha256: {raw_hash}" in provenance
    pdf_hash = hashlib.sha256(b"%PDF-1.7 test").hexdigest()
    assert f"{pdf_hash}  w1/two_pager_nl.pdf" in provenance
    package_hash = hashlib.sha256((out / "data" / "datapackage.json").read_bytes()).hexdigest()
    assert f"{package_hash}  data/datapackage.json" in provenance
    # The index links the package; its published copy is the one whose hash is listed.
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index('href="data/datapackage.json"') < index.index("</body>")
    index_hash = hashlib.sha256((out / "index.html").read_bytes()).hexdigest()
    assert f"{index_hash}  index.html" in provenance
    assert not list(root.glob(".publish*"))


def test_a_page_that_loads_from_another_host_is_refused(site):
    root, reports, config = site
    (reports / "w1" / "two_pager_nl.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example.org/x.css">', encoding="utf-8"
    )
    with pytest.raises(InputError, match="loads something from another host"):
        publish(reports, root / "publish", config)
    assert not (root / "publish").exists()


def test_the_package_validates_with_one_resource_per_wave_and_table(published):
    package = Package(str(published / "data" / "datapackage.json"))
    report = package.validate()
    assert report.valid, report.flatten(["type", "message"])
    descriptor = json.loads((published / "data" / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    assert [(r["name"], r["path"]) for r in descriptor["resources"]] == [
        ("responses-w1", "w1/responses.csv"),
        ("scores-w1", "w1/scores.csv"),
        ("responses-w2", "w2/responses.csv"),
        ("scores-w2", "w2/scores.csv"),
    ]
    # Metadata from config `publish:`, the licence from the schema's default.
    assert descriptor["version"] == "2.1.0"
    assert descriptor["contributors"] == [{"title": "Research group"}]
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    scores = descriptor["resources"][1]["schema"]
    assert scores["primaryKey"] == ["rid"]
    assert scores["foreignKeys"] == [
        {"fields": ["rid"], "reference": {"resource": "responses-w1", "fields": ["rid"]}}
    ]
    # Every respondent the clean rule kept, under its pseudonym.
    kept = pd.read_parquet(published.parent / "results" / "w1" / "clean" / "responses.parquet")
    assert column(published, "w1/responses.csv", "rid") == list(kept["rid"])


def test_validation_needs_no_network(published, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert Package(str(published / "data" / "datapackage.json")).validate().valid


def test_no_pii_free_text_id_or_person_column_is_published(published):
    book = load_codebook(published.parent / "data" / "codebook.yaml")
    raw_names = {*book.pii, book.id, book.person}
    for name, spec in book.free_text.items():
        raw_names |= {name, spec["column"]}
    contact = re.compile(r"mail|phone|name|naam|ip_?address|latitude|longitude|comment|text")
    for resource in ("responses-w1", "scores-w1", "responses-w2", "scores-w2"):
        names = set(fields_of(published, resource))
        assert not names & raw_names, resource
        assert not [name for name in names if contact.search(name.lower())], resource
    # Nor any of their values, anywhere in the data folder.
    text = "".join(p.read_text(encoding="utf-8") for p in (published / "data").rglob("*.*"))
    for needle in ("@example.org", "10.0.0.", "R_w1_", "P0001", "free text answer", "Jansen"):
        assert needle not in text


def test_small_groups_are_coarsened_into_missing_per_wave(published):
    for wave, groups in GROUPS.items():
        for variable, sizes in groups.items():
            values = column(published, f"{wave}/responses.csv", variable)
            counts = pd.Series(values).value_counts()
            published_groups = {value: n for value, n in counts.items() if value != ""}
            assert min(published_groups.values()) >= MIN_CELL, (wave, variable)
            assert len(published_groups) == len([n for n in sizes if n >= MIN_CELL])
            assert counts.get("", 0) >= sizes[-1]
    sector = fields_of(published, "responses-w1")["sector"]
    assert "fewer than 10 respondents in this wave are empty" in sector["description"]
    assert "3 (Onderwijs / Education), 4 (Non-profit / Non-profit)." in sector["description"]
    community = fields_of(published, "responses-w1")["community"]
    assert "coarsened into missing): 9, 11." in community["description"]


def test_numeric_background_is_bottom_and_top_coded(published):
    ages = pd.Series(column(published, "w1/responses.csv", "age")).replace("", np.nan).astype(float)
    assert (ages == ages.min()).sum() >= MIN_CELL
    assert (ages == ages.max()).sum() >= MIN_CELL
    described = fields_of(published, "responses-w1")["age"]["description"]
    assert "bottom- and top-coded" in described.lower()


def test_types_categories_and_ranges_follow_the_codebook(published):
    book = load_codebook(published.parent / "data" / "codebook.yaml")
    fields = fields_of(published, "responses-w1")
    agree = book.scales["agree5"]
    for item in book.items:
        spec = fields[item]
        assert spec["type"] == "integer"
        assert [c["value"] for c in spec["categories"]] == [1, 2, 3, 4, 5]
        assert spec["categoriesOrdered"] is True
        assert spec["constraints"] == {"minimum": 1, "maximum": 5, "enum": [1, 2, 3, 4, 5]}
        expected = [" / ".join(agree.labels[code]) for code in sorted(agree.labels)]
        labels = [c["label"] for c in spec["categories"]]
        # a3 is reverse-keyed: its stored 1 was the answer "Strongly agree".
        assert labels == (expected[::-1] if book.items[item].reverse else expected)
    assert fields["a1"]["title"] == "I learn a lot here."
    assert "nl: Ik leer hier veel" in fields["a1"]["description"]
    assert "reverse-keyed" in fields["a3"]["description"].lower()
    assert [c["label"] for c in fields["sector"]["categories"]][2] == "Onderwijs / Education"
    assert fields["age"]["type"] == "integer"
    assert fields["age"]["constraints"] == {"minimum": 16, "maximum": 80}
    assert fields["flag_outlier"]["type"] == "boolean"
    scores = fields_of(published, "scores-w1")
    assert set(scores) == {"rid", *book.constructs}
    assert scores["alpha_c"]["type"] == "number"
    assert scores["alpha_c"]["constraints"] == {"minimum": 1, "maximum": 5}
    assert "a1, a2, a3" in scores["alpha_c"]["description"]


def test_a_package_that_does_not_validate_publishes_nothing(site, capsys):
    root, reports, config = site
    out = root / "publish"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier publish", encoding="utf-8")
    path = root / "results" / "w2" / "scales" / "scores.parquet"
    scores = pd.read_parquet(path)
    scores.loc[0, "alpha_c"] = 7.5  # outside the agree5 range
    scores.to_parquet(path)
    code = main(["--reports", str(reports), "--out", str(out), "--config", str(config)])
    assert code == 1
    err = capsys.readouterr().err
    assert "the data package does not validate" in err
    assert 'constraint "maximum" is "5"' in err
    assert "scores-w2" in err
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    assert not list(root.glob(".publish*"))


def test_package_metadata_frictionless_refuses_are_an_error(site):
    root, reports, config = site
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["publish"]["contributors"] = [{"title": "Research group", "email": "not an address"}]
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    with pytest.raises(InputError, match=r'does not validate.*"contributors\[\]\.email"'):
        publish(reports, root / "publish", config)
    assert not (root / "publish").exists()
    assert not list(root.glob(".publish*"))


def test_missing_results_are_named(site):
    root, reports, config = site
    (root / "results" / "w2" / "scales" / "scores.parquet").unlink()
    with pytest.raises(InputError, match=r"scores.parquet: a result the data package needs"):
        publish(reports, root / "publish", config)
    assert not (root / "publish").exists()


def test_a_variable_named_like_a_contact_detail_is_refused(tmp_path):
    codebook = copy.deepcopy(CODEBOOK)
    codebook["background"]["postcode"] = codebook["background"].pop("community")
    root, reports, config = make_site(tmp_path, codebook)
    with pytest.raises(InputError, match="column 'postcode': a column that may identify"):
        publish(reports, root / "publish", config)
    assert not (root / "publish").exists()


def test_too_few_empty_cells_are_filled_up_from_the_largest_group():
    values = pd.Series([1.0] * 40 + [2.0] * 30 + [3.0] * 3 + [np.nan])
    rid = pd.Series([f"{i:03d}" for i in range(len(values))][::-1])
    coded, changed = coarsen_groups(values, 10, {1.0: ("Man",), 3.0: ("Anders",)}, rid)
    # 3 alone (3) and the unanswered (1) are 4 empty cells: 6 answers of 1 join them, those
    # with the lowest pseudonyms (the last rows here).
    assert coded.isna().sum() == 10
    assert coded[values == 1.0].isna().tolist() == [False] * 34 + [True] * 6
    assert coded.value_counts().to_dict() == {1.0: 34, 2.0: 30}
    assert changed == [
        "3 (Anders)",
        "and, so that at least 10 are empty, 6 answers of 1 (Man) (those with the lowest rid)",
    ]


def test_whole_groups_join_when_the_largest_cannot_spare_the_answers():
    values = pd.Series([1.0] * 12 + [2.0] * 11 + [3.0] * 10 + [4.0] * 2)
    coded, changed = coarsen_groups(values, 10)
    # 4 alone leaves 2 empty cells; 1 (12) cannot give 8 and keep 10: 3, the smallest, joins.
    assert changed == ["3", "4"]
    assert coded.isna().sum() == 12
    assert coded.value_counts().to_dict() == {1.0: 12, 2.0: 11}
    untouched, none = coarsen_groups(values[values < 4], 10)
    assert none == [] and untouched.equals(values[values < 4])


def test_a_variable_with_no_group_large_enough_is_left_out(tmp_path):
    values = pd.Series([1.0] * 6 + [2.0] * 7)
    assert coarsen_groups(values, 10) == (None, [])
    coded, notes = top_bottom_code(pd.Series([float(v) for v in range(25)]), 10)
    assert coded.tolist() == [9.0] * 10 + [float(v) for v in range(10, 15)] + [15.0] * 10
    assert notes == ["values below 9 are given as 9", "values above 15 are given as 15"]
    same, none = top_bottom_code(pd.Series([1.0] * 20), 10)
    assert same.tolist() == [1.0] * 20 and none == []
    assert top_bottom_code(pd.Series(range(19), dtype=float), 10) == (None, [])
