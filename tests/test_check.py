"""`lcsurvey check`: config, codebook, raw files and models checked without running anything;
one line per problem (file, row, column, value, expected), exit 1 if any."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lcsurvey.pipeline import cli
from lcsurvey.pipeline.check import check_project

from .conftest import ROOT, SMALL_CODEBOOK
from .test_clean import good_row

ITEM_COLUMNS = ("Q2_1", "Q2_2", "Q2_3", "Q3_1", "Q3_2", "Q3_3")


def varied_rows(n: int = 20) -> list[dict]:
    """Good rows with answers that vary (codes 1-5), as the cleaning's outlier check needs."""
    rng = np.random.default_rng(5)
    return [
        good_row(i, **{c: str(v) for c, v in zip(ITEM_COLUMNS, rng.integers(1, 6, 6), strict=True)})
        for i in range(1, n + 1)
    ]


MODEL = "alpha =~ a1 + a2 + a3\nbeta =~ b1 + b2 + b3\nbeta ~ alpha + age\n"


def write_project(
    where: Path,
    *,
    book: dict | None = None,
    rows: list[dict] | None = None,
    config_changes: dict | None = None,
) -> Path:
    """A project of the small codebook with one wave "w1" (a CSV of good rows unless given)."""
    (where / "data" / "raw").mkdir(parents=True)
    (where / "data" / "codebook.yaml").write_text(
        yaml.safe_dump(book or SMALL_CODEBOOK, allow_unicode=True), encoding="utf-8"
    )
    rows = rows if rows is not None else varied_rows()
    pd.DataFrame(rows).to_csv(where / "data" / "raw" / "w1.csv", index=False)
    config = {
        "codebook": "data/codebook.yaml",
        "waves": {"w1": "data/raw/w1.csv"},
        "models": {"small": MODEL},
    }
    config.update(config_changes or {})
    path = where / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def messages(config: Path) -> list[str]:
    return [problem.message for problem in check_project(config).problems]


def test_the_bundled_project_is_all_fine(capsys):
    assert cli.main(["check", "--config", str(ROOT / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"all fine: {ROOT / 'config.yaml'}")
    assert "wave 2022-06:" in out and "(sav, 300 rows" in out
    assert "model transfer (32 observed variables)" in out


def test_a_small_project_is_all_fine(tmp_path):
    report = check_project(write_project(tmp_path))
    assert report.problems == []
    assert any(line.startswith("wave w1: ") and "20 rows" in line for line in report.checked)


def test_every_config_schema_violation_is_one_line(tmp_path, capsys):
    config = write_project(
        tmp_path,
        config_changes={"estimation": {"missing": "pairwise", "bootstrap": -1}, "colour": "red"},
    )
    found = messages(config)
    assert len(found) == 3
    assert any("field (top level): Additional properties" in m and "'colour'" in m for m in found)
    assert any("field estimation.missing: 'pairwise' is not one of" in m for m in found)
    assert any("field estimation.bootstrap: -1 is less than the minimum" in m for m in found)
    assert all(m.startswith(f"file {config}: ") for m in found)
    # the codebook, raw files and models are still checked (they are fine here)
    assert cli.main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.count("ERROR: ") == 3
    assert out.rstrip().endswith("nothing was run or written")


def test_codebook_problems_are_listed_each_and_the_raw_files_wait(tmp_path, capsys):
    book = copy.deepcopy(SMALL_CODEBOOK)
    book["items"]["a1"]["scale"] = "agree7"  # no such scale
    book["constructs"]["beta_c"]["items"] = ["b1", "b2", "b9"]  # no such item
    config = write_project(tmp_path, book=book)
    found = messages(config)
    source = tmp_path / "data" / "codebook.yaml"
    assert found == [
        f"file {source}: field items.a1.scale: unknown scale 'agree7'",
        f"file {source}: field constructs.alpha_c.items: items on different scales "
        "['agree5', 'agree7']",
        f"file {source}: field constructs.beta_c.items: unknown item 'b9'",
    ]
    assert cli.main(["check", "--config", str(config)]) == 1
    assert "note: raw files not checked: the codebook has to be right first" in (
        capsys.readouterr().out
    )


def test_a_codebook_against_its_schema(tmp_path):
    book = copy.deepcopy(SMALL_CODEBOOK)
    del book["id"]
    book["constructs"]["alpha_c"]["items"] = "a1"
    found = messages(write_project(tmp_path, book=book))
    assert len(found) == 2
    assert any("'id' is a required property" in m for m in found)
    assert any("field constructs.alpha_c.items: 'a1' is not of type 'array'" in m for m in found)


def test_raw_file_problems_are_collected_per_column(tmp_path):
    rows = varied_rows()
    rows[3]["Q2_2"] = "Zeer mee eens"  # file row 5 (header is row 1)
    rows[7]["Q3_1"] = "veel"
    rows[8]["Q3_1"] = "weinig"
    for row in rows:
        del row["Q8"]  # background age's column
    config = write_project(tmp_path, rows=rows)
    found = messages(config)
    raw = tmp_path / "data" / "raw" / "w1.csv"
    assert len(found) == 3
    assert found[0].startswith(f"file {raw}, row 5, column 'Q2_2': unknown answer for item a2")
    assert "(found 'Zeer mee eens')" in found[0] and "Helemaal mee eens" in found[0]
    assert found[1].startswith(f"file {raw}, row 9, column 'Q3_1': unknown answer for item b1")
    assert "2 cell(s) in this column cannot be read" in found[1]
    assert found[2].startswith(f"file {raw}, column 'Q8': the codebook's background age expects")
    # the model uses age, which the data lack, but the codebook has: not a model problem
    assert not any("model" in m for m in found)


def test_a_raw_file_that_cannot_be_read_and_one_that_is_missing(tmp_path):
    config = write_project(tmp_path)
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    (tmp_path / "data" / "raw" / "w2.csv").write_text("a,b\n1,2,3\n", encoding="utf-8")
    document["waves"] |= {"w2": "data/raw/w2.csv", "w3": {"path": "data/raw/w3.sav"}}
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    found = messages(config)
    assert len(found) == 2
    assert found[0].startswith(f"file {tmp_path / 'data' / 'raw' / 'w2.csv'}")
    assert found[1] == (
        f"file {tmp_path / 'data' / 'raw' / 'w3.sav'}: file not found. Check the path in "
        "config.yaml"
    )


def test_the_rest_of_cleaning_is_checked_in_memory_and_nothing_is_written(tmp_path):
    rows = varied_rows()
    rows[4]["Q1"] = "Misschien"  # the consent answer, decoded only by the cleaning itself
    config = write_project(tmp_path, rows=rows)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    found = messages(config)
    assert len(found) == 1
    assert "row 6, column 'Q1': unknown answer for item consent" in found[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_models_are_checked_against_the_codebook(tmp_path):
    config = write_project(
        tmp_path,
        config_changes={
            "models": {
                "small": MODEL + "beta ~ a9\n",
                "broken": "alpha =~ a1 + + a2\n",
                "clash": "a1 =~ a2 + a3\n",
                "scores": "beta_c ~ alpha_c\n",
            },
        },
    )
    found = sorted(messages(config), key=lambda m: m.split("column 'models.")[1])
    assert len(found) == 5
    assert "column 'models.broken': cannot read the term '' in model 'broken'" in found[0]
    assert "column 'models.clash': model 'clash' defines the latent variable 'a1'" in found[1]
    assert found[2].endswith(
        "model 'scores' uses the construct 'alpha_c' as an observed variable; models read items "
        "(found 'alpha_c'); expected a latent variable defined from its items "
        "(alpha_c =~ a1 + a2 + a3)"
    )
    assert "the construct 'beta_c'" in found[3]
    assert found[4] == (
        f"file {config}, column 'models.small': model 'small' uses 'a9', which is neither an "
        "item nor a background variable of the codebook (found 'a9'); expected an item or "
        "background variable name (the codebook's keys), or a latent variable defined with =~"
    )


def test_an_unreadable_config_is_one_line(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("waves: [unclosed\n", encoding="utf-8")
    assert cli.main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"ERROR: file {config}, row ")
    assert "not valid YAML" in out


def test_stages_the_roles_leave_out_are_notes_not_problems(tmp_path, capsys):
    # the schema's default roles name the bundled study's constructs, which this codebook lacks
    assert cli.main(["check", "--config", str(write_project(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "note: analyses skipped: " in out
    assert "all fine: " in out


TWOLEVEL = "level: 1\n  fw =~ a1 + a2 + a3\nlevel: 2\n  fb =~ a1 + a2 + a3\n  fb ~ age\n"


def test_a_two_level_model_is_read_by_the_two_level_parser(tmp_path):
    config = write_project(
        tmp_path,
        config_changes={
            "models": {
                "small": MODEL,
                "twolevel": TWOLEVEL,
                "twolevel_broken": "level: 1\n  fw =~ a1 + a2\n  fw ~\nlevel: 2\n  fb =~ a1\n",
                "twolevel_unknown": TWOLEVEL.replace("fb ~ age", "fb ~ w9"),
                "twolevel_clash": TWOLEVEL.replace("fb", "b1"),
            },
            "estimation": {"cluster": "age"},
        },
    )
    found = sorted(messages(config), key=lambda m: m.split("column 'models.")[1])
    assert len(found) == 3, found
    assert "column 'models.twolevel_broken'" in found[0]
    assert "cannot read the statement 'fw ~' of model 'twolevel_broken'" in found[0]
    assert "model 'twolevel_clash' defines the latent variable 'b1'" in found[1]
    assert found[2] == (
        f"file {config}, column 'models.twolevel_unknown': model 'twolevel_unknown' uses 'w9', "
        "which is neither an item nor a background variable of the codebook (found 'w9'); "
        "expected an item or background variable name (the codebook's keys), or a latent "
        "variable defined with =~"
    )


def test_a_two_level_model_may_name_construct_scores_but_needs_a_cluster(tmp_path):
    scores = "level: 1\n  beta_c ~ alpha_c + a1\nlevel: 2\n  beta_c ~ alpha_c\n"
    models = {"small": MODEL, "levels": scores, "single": "beta_c ~ alpha_c\n"}
    config = write_project(
        tmp_path, config_changes={"models": models, "estimation": {"cluster": "age"}}
    )
    report = check_project(config)
    # the scores of a two-level model are joined by rid; a single-level model reads items
    assert [p.message.split(": ", 1)[1] for p in report.problems] == [
        "model 'single' uses the construct 'beta_c' as an observed variable; models read items "
        "(found 'beta_c'); expected a latent variable defined from its items "
        "(beta_c =~ b1 + b2 + b3)",
        "model 'single' uses the construct 'alpha_c' as an observed variable; models read items "
        "(found 'alpha_c'); expected a latent variable defined from its items "
        "(alpha_c =~ a1 + a2 + a3)",
    ]
    assert "model levels (3 observed variables)" in report.checked

    config = write_project(tmp_path / "no_cluster", config_changes={"models": models})
    found = [p.message for p in check_project(config).problems]
    assert found[0] == (
        f"file {config}, column 'estimation.cluster': model 'levels' is a two-level model "
        "(level: 1 / level: 2 blocks) but estimation.cluster is not set; it would not be "
        "estimated; expected the variable that holds each respondent's cluster (e.g. "
        "community), or a model without level: blocks"
    )
    assert len(found) == 3
