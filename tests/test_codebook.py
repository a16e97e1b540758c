"""Codebook and config: the bundled files are valid, and broken ones fail with the field named."""

from __future__ import annotations

import copy

import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.schema import load_yaml, validate
from lcsurvey.survey.codebook import load_codebook

from .conftest import ROOT, SMALL_CODEBOOK


def write(tmp_path, document, name="codebook.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_bundled_codebook_and_config_are_valid():
    book = load_codebook(ROOT / "data" / "codebook.yaml")
    assert book.constructs["psychological_safety"].items[0] == "ps1"
    assert book.items["ps1"].reverse and not book.items["ps2"].reverse
    assert book.scales["agree7"].midpoint == 4
    assert book.items["ps1"].column_in("2022-06") == "PS_1"
    assert book.items["ps1"].column_in("2021-12") == "Q9_1"
    validate(load_yaml(ROOT / "config.yaml"), "config", source="config.yaml")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["items"]["a1"].pop("scale"), "items.a1"),
        (lambda d: d["items"]["a1"].update(reverse="yes"), "items.a1.reverse"),
        (lambda d: d["scales"]["agree5"].update(values={1: ["x"]}), "scales.agree5"),
        (lambda d: d.pop("constructs"), "constructs"),
    ],
)
def test_schema_violations_name_the_field(tmp_path, change, field):
    document = copy.deepcopy(SMALL_CODEBOOK)
    change(document)
    with pytest.raises(InputError) as err:
        load_codebook(write(tmp_path, document))
    assert field in str(err.value)
    assert "codebook.yaml" in str(err.value)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            lambda d: d["items"]["a1"].update(scale="agree9"),
            "items.a1.scale: unknown scale 'agree9'",
        ),
        (lambda d: d["constructs"]["alpha_c"]["items"].append("zz"), "unknown item 'zz'"),
        (lambda d: d["constructs"]["alpha_c"].update(min_items=9), "min_items: 9"),
        (lambda d: d["items"]["a2"].update(column="Q2_1"), "column 'Q2_1' is also used"),
        (lambda d: d["pii"].append("Q2_1"), "field pii"),
    ],
)
def test_inconsistent_codebooks_are_rejected(tmp_path, change, needle):
    document = copy.deepcopy(SMALL_CODEBOOK)
    change(document)
    with pytest.raises(InputError, match="inconsistent") as err:
        load_codebook(write(tmp_path, document))
    assert needle in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text("id: ResponseId\nitems: {a1: [\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"codebook.yaml, row \d+: not valid YAML"):
        load_codebook(path)


def test_config_violation_names_the_field():
    config = load_yaml(ROOT / "config.yaml")
    config["cleaning"]["min_progress"] = "all of it"
    config["report"]["languages"] = ["nl", "fr"]
    with pytest.raises(InputError) as err:
        validate(config, "config", source="config.yaml")
    message = str(err.value)
    assert "field cleaning.min_progress" in message
    assert "field report.languages.1" in message
