"""Codebook drafting: the bundled waves give the hand-written codebook's structure, every
platform's question stems become constructs, and what cannot be decided is a TODO line."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lcsurvey.survey.anchors import anchor_key
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import Codebook, load_codebook
from lcsurvey.survey.draft import draft_codebook, main
from lcsurvey.survey.io import RawTable, read_raw
from lcsurvey.survey.scales import reliability_table

from .conftest import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
CSV_WAVE = ROOT / "data" / "raw" / "wave_2021-12.csv"
SAV_WAVE = ROOT / "data" / "raw" / "wave_2022-06.sav"
KEY = b"test key of some length"


@pytest.fixture(scope="module")
def hand() -> Codebook:
    return load_codebook(ROOT / "data" / "codebook.yaml")


def load(text: str, tmp_path: Path) -> Codebook:
    path = tmp_path / "draft.yaml"
    path.write_text(text, encoding="utf-8")
    return load_codebook(path)


@pytest.fixture(scope="module")
def drafts(tmp_path_factory) -> dict:
    where = tmp_path_factory.mktemp("drafts")
    out = {}
    for name, sources in (
        ("2021-12", [CSV_WAVE]),
        ("2022-06", [SAV_WAVE]),
        ("both", [CSV_WAVE, SAV_WAVE]),
    ):
        draft = draft_codebook(sources)
        (where / name).mkdir()
        out[name] = (draft, load(draft.yaml_text, where / name))
    return out


def variables(book: Codebook) -> dict:
    return {**book.items, **book.background, **book.attention_checks}


def by_column(book: Codebook, wave: str | None) -> dict:
    return {var.column_in(wave): var for var in variables(book).values()}


def scale_shape(book: Codebook, name: str) -> tuple:
    scale = book.scales[name]
    if scale.labels:
        return ("values", [(code, anchor_key(texts[0])) for code, texts in scale.labels.items()])
    return ("range",)


def todo_scales(draft) -> set[str]:
    return {m.group(1) for t in draft.todos if (m := re.match(r"scale (\S+):", t))}


@pytest.mark.parametrize("wave", ["2021-12", "2022-06"])
def test_a_bundled_wave_drafts_the_hand_written_items_scales_and_constructs(hand, drafts, wave):
    draft, book = drafts[wave]
    column_wave = None if wave == "2021-12" else wave
    hand_columns = by_column(hand, column_wave)
    drafted = by_column(book, None)
    # Items: the same raw columns are read, as items, background or attention checks.
    assert set(drafted) == set(hand_columns)
    assert {v.column_in(column_wave) for v in hand.attention_checks.values()} == {
        v.column for v in book.attention_checks.values()
    }
    for check in book.attention_checks.values():
        assert check.expected == 4  # 'Mee eens'
    # Scales: the same codes with the same labels in the same order; a set no vocabulary
    # orders (nominal text answers) has the same labels and is marked TODO.
    unordered = todo_scales(draft)
    for column, var in hand_columns.items():
        mine = drafted[column]
        expected, got = scale_shape(hand, var.scale), scale_shape(book, mine.scale)
        assert expected[0] == got[0], column
        if mine.scale in unordered:
            assert sorted(t for _, t in got[1]) == sorted(t for _, t in expected[1]), column
        elif got[0] == "values":
            assert got == expected, column
        assert set(book.scales[mine.scale].missing) <= set(hand.scales[var.scale].missing)
    # Constructs by question stem: the hand-written constructs of one stem form one draft.
    stems: dict[str, set[str]] = {}
    for item in hand.items.values():
        column = item.column_in(column_wave)
        found = re.match(r"(.+)_\d+$", column)
        if found:
            stems.setdefault(found.group(1), set()).add(column)
    expected_groups = {frozenset(s) for s in stems.values() if len(s) > 1}
    drafted_groups = {
        frozenset(book.items[i].column for i in c.items) for c in book.constructs.values()
    }
    assert drafted_groups == expected_groups
    for construct in hand.constructs.values():
        columns = {hand.items[i].column_in(column_wave) for i in construct.items}
        assert any(columns <= group for group in drafted_groups), construct.name


@pytest.mark.parametrize("wave", ["2021-12", "2022-06"])
def test_a_bundled_wave_drafts_the_hand_written_survey_tool_pii_and_free_text(hand, drafts, wave):
    _, book = drafts[wave]
    column_wave = None if wave == "2021-12" else wave
    assert book.id == hand.id and book.person == hand.person
    assert set(book.pii) == set(hand.pii)
    assert {s["column"] for s in book.free_text.values()} == {
        s["column"] for s in hand.free_text.values()
    }
    assert all(not s.get("keep") for s in book.free_text.values())
    for role in ("status", "progress", "duration", "finished", "consent"):
        assert book.meta_column(role, None) == hand.meta_column(role, column_wave), role
    assert book.meta["consent"]["yes"] == hand.meta["consent"]["yes"]
    consent = book.scales[book.meta["consent"]["scale"]]
    assert consent.labels[1.0][0] == "Ja, ik doe mee"
    preview = {str(v) for v in book.meta["status"]["preview"]}
    assert {str(v) for v in hand.meta["status"]["preview"]} <= preview


def test_two_waves_draft_the_hand_written_wave_columns(hand, drafts):
    draft, book = drafts["both"]
    hand_columns = by_column(hand, None)
    drafted = by_column(book, None)
    assert set(drafted) == set(hand_columns)
    for column, var in hand_columns.items():
        assert drafted[column].wave_columns == var.wave_columns, column
    assert book.meta["duration"]["wave_columns"] == hand.meta["duration"]["wave_columns"]
    # The SPSS codes give the nominal scales their order: no TODO left for them; what is
    # left are the items worded the other way.
    assert all(t.startswith("item ") and "reverse: true" in t for t in draft.todos)
    for column, var in hand_columns.items():
        expected = scale_shape(hand, var.scale)
        assert scale_shape(book, drafted[column].scale) == expected, column
    # The agreement vocabulary gives the five-point scale its English labels as well.
    assert book.scales["agree5"].labels == hand.scales["agree5"].labels


@pytest.mark.parametrize("wave", ["2021-12", "2022-06", "both"])
def test_items_worded_the_other_way_are_todos(hand, drafts, wave):
    draft, book = drafts[wave]
    flagged = {
        book.items[m.group(1)].column
        for t in draft.todos
        if (m := re.match(r"item (\S+) goes against", t))
    }
    column_wave = "2022-06" if wave == "2022-06" else None
    reversed_items = {v.column_in(column_wave) for v in hand.items.values() if v.reverse}
    # The error-avoidance items count against the learning climate (the composite).
    against_climate = {
        hand.items[i].column_in(column_wave) for i in hand.constructs["error_avoidance"].items
    }
    assert flagged == reversed_items | against_climate
    assert all(f"# TODO {t}" in draft.yaml_text for t in draft.todos)


def test_the_draft_keeps_no_answer_of_pii_or_free_text_columns(drafts):
    text = drafts["2021-12"][0].yaml_text
    raw = pd.read_csv(CSV_WAVE, skiprows=[1, 2], dtype=str, encoding="utf-8-sig")
    for column in ("RecipientEmail", "RecipientLastName", "IPAddress", "Q17"):
        for value in raw[column].dropna().unique():
            if len(value) > 4:
                assert value not in text, column


def qualtrics_csv(path: Path, columns: dict[str, tuple[str, list[str]]]) -> Path:
    """A Qualtrics-like CSV: column ids, question texts, ImportId row, then the answers."""
    names = list(columns)
    rows = [
        names,
        [columns[n][0] for n in names],
        [json.dumps({"ImportId": f"QID{i}"}) for i, _ in enumerate(names)],
    ]
    n = len(next(iter(columns.values()))[1])
    rows += [[columns[name][1][i] for name in names] for i in range(n)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


LIKELY = ["Not at all likely1", "2", "3", "4", "5", "6", "Very likely\n7"]


def test_qualtrics_mixed_end_points_become_a_seven_point_scale_that_cleans(tmp_path):
    answers = [LIKELY[i % 7] for i in range(14)]
    raw = qualtrics_csv(
        tmp_path / "mixed.csv",
        {
            "ResponseId": ("Response ID", [f"R_{i}" for i in range(14)]),
            "Q5_1": ("How likely - to return", answers),
            "Q5_2": ("How likely - to recommend", answers[3:] + answers[:3]),
            "Q6": ("How reasonable", ["Not at all reasonable1", "4", "Extremely reasonable 7"] * 4 + ["2", "3"]),
        },
    )  # fmt: skip
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    scale = book.scales[book.items["q5_1"].scale]
    assert list(scale.labels) == [float(c) for c in range(1, 8)]
    assert scale.labels[1.0] == ("Not at all likely",) and scale.labels[7.0] == ("Very likely",)
    assert scale.labels[4.0] == ("4",)
    reasonable = book.scales[variables(book)["q6"].scale]
    assert reasonable.labels[7.0] == ("Extremely reasonable",)
    assert [c.items for c in book.constructs.values()] == [("q5_1", "q5_2")]
    kept = clean_file(str(raw), book, wave="w", rules=None, key=KEY).kept
    assert kept["q5_1"].tolist() == [float(i % 7 + 1) for i in range(14)]
    assert kept["q6"].tolist()[:3] == [1.0, 4.0, 7.0]


def test_an_answer_set_no_vocabulary_orders_is_a_todo_not_a_guess(tmp_path, capsys):
    n = 12
    raw = qualtrics_csv(
        tmp_path / "fruit.csv",
        {
            "ResponseId": ("Response ID", [f"R_{i}" for i in range(n)]),
            "Q1_1": ("Taste - apples", ["Mee eens", "Neutraal", "Mee oneens"] * 4),
            "Q1_2": ("Taste - pears", ["Neutraal", "Mee eens", "Mee oneens"] * 4),
            "Q2": ("Favourite fruit", ["Peer", "Appel", "Kers"] * 4),
            "Q3_1": ("Tick box", ["1"] + [""] * (n - 1)),
            "Q4": ("Empty question", [""] * n),
        },
    )
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    assert len(draft.todos) == 3
    assert any("no vocabulary orders" in t and "scale favourite_fruit" in t for t in draft.todos)
    assert any("'Q3_1'" in t and "one answer" in t for t in draft.todos)
    assert any("'Q4'" in t and "no answers" in t for t in draft.todos)
    for todo in draft.todos:
        assert f"# TODO {todo}" in draft.yaml_text
    # The unordered set is still usable (alphabetical, marked), the rest is decided.
    assert [t[0] for t in book.scales["favourite_fruit"].labels.values()] == [
        "Appel",
        "Kers",
        "Peer",
    ]
    assert list(book.scales[book.items["q1_1"].scale].labels.values()) == [
        ("Mee oneens", "Disagree"),
        ("Neutraal", "Neutral"),
        ("Mee eens", "Agree"),
    ]
    assert main([str(raw), "--out", str(tmp_path / "out.yaml")]) == 0
    err = capsys.readouterr().err
    assert "3 TODO line(s)" in err
    assert sum(line.strip().startswith("TODO ") for line in err.splitlines()) == 3


def table(columns: dict[str, list], labels: dict[str, str] | None = None, kind="csv") -> RawTable:
    frame = pd.DataFrame(columns).astype("string")
    return RawTable(
        frame=frame,
        source=f"made-up.{kind}",
        rows=list(range(2, len(frame) + 2)),
        value_labels={},
        kind=kind,
        encoding=None,
        column_labels=labels or {},
    )


FREQ = ["Nooit", "Soms", "Vaak", "Altijd", "Zelden"] * 4


@pytest.mark.parametrize(
    ("names", "labels"),
    [
        (["Q5[SQ001]", "Q5[SQ002]", "Q5[SQ003]"], None),  # LimeSurvey codes
        (["Q5.1", "Q5.2", "Q5.3"], None),
        (["Q5_SQ001", "Q5_SQ002", "Q5_SQ003"], None),
        (  # SurveyMonkey matrix: "question - option" as name and label
            ["How often do you - read", "How often do you - write", "How often do you - talk"],
            None,
        ),
        (  # Google / Microsoft Forms matrix
            ["How often do you [read]", "How often do you [write]", "How often do you [talk]"],
            None,
        ),
        (  # only the question texts share a prefix
            ["V1", "V2", "V3"],
            [
                "Work - life balance: how often do you - read",
                "Work - life balance: how often do you - write",
                "Work - life balance: how often do you - talk",
            ],
        ),
    ],
)
def test_matrix_columns_of_every_platform_become_one_construct(tmp_path, names, labels):
    columns = {"Respondent ID": [str(i) for i in range(20)]}
    for k, name in enumerate(names):
        columns[name] = FREQ[k:] + FREQ[:k]
    columns["Other"] = ["Ja", "Nee"] * 10
    raw = table(columns, dict(zip(names, labels, strict=True)) if labels else None)
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    assert book.id == "Respondent ID"
    [construct] = book.constructs.values()
    assert [book.items[i].column for i in construct.items] == names
    scale = book.scales[book.items[construct.items[0]].scale]
    assert [t[0] for t in scale.labels.values()] == ["Nooit", "Zelden", "Soms", "Vaak", "Altijd"]
    assert {v.column for v in book.background.values()} == {"Other"}


def test_pii_tool_and_free_text_columns_of_other_platforms(tmp_path):
    n = 12
    comments = [f"Opmerking nummer {i} over de bijeenkomst en de sfeer" for i in range(n)]
    raw = table(
        {
            "id": [str(i) for i in range(n)],
            "submitdate": ["2024-01-01 10:00"] * n,
            "lastpage": ["3"] * n,
            "ipaddr": [f"10.0.0.{i}" for i in range(n)],
            "E-mailadres": [f"p{i}@voorbeeld.nl" for i in range(n)],
            "Telefoonnummer": [f"06{i:08d}" for i in range(n)],
            "Naam": [f"Persoon {i}" for i in range(n)],
            "Q3_1": ["Vaak", "Soms", "Nooit"] * 4,
            "Q3_2": ["Soms", "Vaak", "Nooit"] * 4,
            "Q4": comments,
            "Q5_other": ["iets anders"] + [""] * (n - 1),
            "Contact": [f"x{i}@example.org" for i in range(n)],
        }
    )
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    assert book.id == "id"
    assert set(book.pii) == {"ipaddr", "E-mailadres", "Telefoonnummer", "Naam", "Contact"}
    assert {s["column"] for s in book.free_text.values()} == {"Q4", "Q5_other"}
    assert "#   submitdate" in draft.yaml_text and "#   lastpage" in draft.yaml_text
    for value in ("p1@voorbeeld.nl", "0600000001", "Persoon 1", "Opmerking nummer"):
        assert value not in draft.yaml_text
    assert draft.todos == ()
    assert [c.items for c in book.constructs.values()] == [("q3_1", "q3_2")]


def test_a_status_column_of_another_tool_gets_no_qualtrics_codes(tmp_path):
    raw = table(
        {
            "id": [str(i) for i in range(6)],
            "status": ["1", "2", "test"] * 2,
            "Q1_1": ["Nooit", "Soms", "Vaak"] * 2,
            "Q1_2": ["Soms", "Vaak", "Nooit"] * 2,
        }
    )
    draft = draft_codebook([raw])
    assert load(draft.yaml_text, tmp_path).meta["status"]["preview"] == ["test"]
    status = yaml.safe_load(draft.yaml_text)["meta"]["status"]
    assert status == {"column": "status", "preview": ["test"]}
    assert any(t.startswith("meta.status:") for t in draft.todos)


def test_an_export_without_closed_questions_says_the_draft_does_not_load():
    raw = table({"id": [str(i) for i in range(4)], "Opmerking": ["a", "b", "c", "d"]})
    draft = draft_codebook([raw])
    assert draft.todos[-1].startswith("the draft does not load as it is")
    assert "field items" in draft.todos[-1] and draft.yaml_text.endswith(draft.todos[-1] + "\n")


def test_qualtrics_own_fields_and_display_orders_are_tool_columns(tmp_path):
    answers = ["Mee eens", "Neutraal", "Mee oneens"] * 2
    raw = table(
        {
            "ResponseId": [f"R_{i}" for i in range(6)],
            "Q_RecaptchaScore": ["0.9", "1", "0.8"] * 2,
            "Q_RelevantIDDuplicate": ["false"] * 6,
            "Q5_DO_1": ["1", "2", "3"] * 2,
            "Q5_DO_2": ["2", "3", "1"] * 2,
            "FL_3_DO": ["Block1|Block2"] * 6,
            "Q5_1": answers,
            "Q5_2": answers[1:] + answers[:1],
        }
    )
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    assert {v.column for v in variables(book).values()} == {"Q5_1", "Q5_2"}
    for name in ("Q_RecaptchaScore", "Q_RelevantIDDuplicate", "Q5_DO_1", "Q5_DO_2", "FL_3_DO"):
        assert f"#   {name}" in draft.yaml_text
    assert draft.todos == ()


def test_spss_value_labels_give_codes_and_missing_codes(tmp_path):
    frame = pd.DataFrame(
        {
            "ResponseId": [f"R{i}" for i in range(10)],
            "S_1": [1.0, 2, 3, 4, 5, -99, 1, 2, 3, 4],
            "S_2": [5.0, 4, 3, 2, 1, 1, 2, 3, -9, 5],
        }
    )
    labels = {
        1.0: "Strongly disagree",
        2.0: "Disagree",
        3.0: "Neutral",
        4.0: "Agree",
        5.0: "Strongly agree",
    }
    raw = RawTable(
        frame=frame,
        source="made-up.sav",
        rows=list(range(1, 11)),
        value_labels={"S_1": labels, "S_2": {**labels, -9.0: "Weet niet"}},
        kind="sav",
        encoding=None,
    )
    book = load(draft_codebook([raw]).yaml_text, tmp_path)
    scale = book.scales[book.items["s_1"].scale]
    assert book.items["s_2"].scale == scale.name == "agree5"
    assert [t[1] for t in scale.labels.values()] == list(labels.values())  # [Dutch, English]
    assert set(scale.missing) == {-99.0, -9.0}


def test_a_drafted_codebook_with_only_waves_cleans_and_gives_item_statistics(tmp_path, drafts):
    """What a config.yaml holding only codebook: and waves: runs: cleaning and the scales."""
    draft, _ = drafts["both"]
    book = load(draft.yaml_text, tmp_path)
    for wave, raw in (("2021-12", CSV_WAVE), ("2022-06", SAV_WAVE)):
        result = clean_file(str(raw), book, wave=wave, rules=None, key=KEY)
        assert len(result.kept) + len(result.quarantine) == (400 if wave == "2021-12" else 300)
        assert result.flow.set_index("step").loc["attention", "n_removed"] > 0
        reliability, items = reliability_table(result.kept, book)
        assert set(reliability["construct"]) == set(book.constructs)
        assert set(items["item"]) == set(book.items)
        assert reliability["alpha"].notna().all()
        assert (items["n"] > 100).all() and items["mean"].between(1, 7).all()


def test_the_command_writes_the_draft_and_a_summary(tmp_path, capsys):
    out = tmp_path / "codebook.yaml"
    assert main([str(SAV_WAVE), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "79 columns" in err and "8 constructs" in err and "7 TODO line(s)" in err
    load_codebook(out)
    assert main([str(SAV_WAVE)]) == 0
    assert capsys.readouterr().out == out.read_text(encoding="utf-8")


def test_an_unreadable_export_is_one_message_and_no_output(tmp_path, capsys):
    out = tmp_path / "codebook.yaml"
    assert main([str(tmp_path / "missing.csv"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "missing.csv" in err and "file not found" in err and "Traceback" not in err
    assert not out.exists()


def test_without_shared_stems_a_placeholder_construct_is_a_todo(tmp_path):
    raw = table({"ResponseId": [str(i) for i in range(9)], "Q3": ["Vaak", "Soms", "Nooit"] * 3})
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    assert [c.items for c in book.constructs.values()] == [("q3",)]
    assert draft.todos == ("no questions share a stem: group the items into constructs",)


def test_python_dash_m_runs_the_command():
    run = subprocess.run(
        [sys.executable, "-m", "lcsurvey.survey.draft", str(SAV_WAVE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("# Codebook drafted from wave_2022-06.sav")
    assert "8 constructs" in run.stderr


ANSWERS = [
    "Mee eens", "Helemaal mee eens", "Mee oneens", "Neutraal", "Very likely\n7",
    "Not at all likely1", "3", "-99", "", "7", "0", "2,5", "Appel", "Peer", "Ja", "Nee",
    "x@y.nl", "Dit is een heel lang antwoord op een open vraag over de bijeenkomsten",
    "Zeer tevreden", "Ontevreden", "Nooit", "Altijd", "\u00a0", "Ééh", "1-9", "250 of meer",
]  # fmt: skip
NAMES = ["Q1_1", "Q1_2", "Q2", "Q3[SQ001]", "Q3[SQ002]", "Vraag - a", "Vraag - b", "Status",
         "Progress", "Email", "Q9_TEXT", "id", "No", "null", "1", "Q#1 'x'", "Vraag [a]",
         "Vraag [b]", "日本"]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=8, unique=True),
    data=st.data(),
)
def test_any_table_drafts_without_a_crash_and_every_todo_is_in_the_text(names, data):
    n = data.draw(st.integers(1, 12))
    columns = {
        name: data.draw(st.lists(st.sampled_from(ANSWERS), min_size=n, max_size=n))
        for name in names
    }
    frame = pd.DataFrame(columns).astype("string").replace("", pd.NA)
    raw = RawTable(frame, "made-up.csv", list(range(2, n + 2)), {}, "csv", None)
    draft = draft_codebook([raw])
    parsed = yaml.safe_load(draft.yaml_text)
    assert isinstance(parsed, dict)
    for todo in draft.todos:
        assert f"# TODO {todo}" in draft.yaml_text
    # It loads, or a TODO says why not (no closed question at all).
    if not any(t.startswith("the draft does not load") for t in draft.todos):
        with tempfile.TemporaryDirectory() as where:
            load(draft.yaml_text, Path(where))


PLATFORMS = ROOT / "tests" / "fixtures" / "platforms"


@pytest.mark.parametrize(
    ("name", "matrix", "pii"),
    [
        ("limesurvey_codes.csv", 3, {"ipaddr", "firstname", "lastname", "email"}),
        ("limesurvey_texts.csv", 3, {"IP address", "Email address"}),
        ("surveymonkey.csv", 3, {"IP Address", "Email Address", "First Name", "Last Name"}),
        ("surveymonkey.xlsx", 3, {"IP Address", "Email Address", "First Name", "Last Name"}),
        ("google_forms.xlsx", 3, {"E-mailadres"}),
        ("microsoft_forms.xlsx", 0, {"Email", "Name"}),
    ],
)
def test_each_platform_export_drafts_a_codebook_that_cleans(tmp_path, name, matrix, pii):
    draft = draft_codebook([PLATFORMS / name])
    book = load(draft.yaml_text, tmp_path)
    assert set(book.pii) == pii
    sizes = sorted(len(c.items) for c in book.constructs.values())
    assert (sizes[-1] if matrix else 0) == matrix
    # The agreement matrix shares one ordered scale (the codes of LimeSurvey by number).
    scale = book.construct_scale(max(book.constructs, key=lambda c: len(book.constructs[c].items)))
    assert len(scale.labels) == 5
    result = clean_file(str(PLATFORMS / name), book, wave="w", rules=None, key=KEY)
    assert len(result.kept) + len(result.quarantine) == 5
    frame = read_raw(PLATFORMS / name).frame
    for column in pii:
        for value in frame[column].dropna().astype(str):
            assert value not in draft.yaml_text, column


@pytest.mark.slow
def test_a_config_of_only_the_drafted_codebook_and_the_waves_runs(tmp_path):
    """The bundled exports, a codebook drafted from them, no models: the workflow runs
    cleaning, the flow and item statistics for the drafted constructs of every wave."""
    copy_workflow(tmp_path)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    for raw in (CSV_WAVE, SAV_WAVE):
        shutil.copy2(raw, tmp_path / "data" / "raw" / raw.name)
    assert (
        main([str(CSV_WAVE), str(SAV_WAVE), "--out", str(tmp_path / "data" / "codebook.yaml")]) == 0
    )
    waves = {"2021-12": f"data/raw/{CSV_WAVE.name}", "2022-06": f"data/raw/{SAV_WAVE.name}"}
    config = {"codebook": "data/codebook.yaml", "waves": waves}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([snakemake, "--cores", "1"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    book = load_codebook(tmp_path / "data" / "codebook.yaml")
    for wave, n in (("2021-12", 400), ("2022-06", 300)):
        results = tmp_path / "results" / wave
        assert pd.read_csv(results / "clean" / "flow.csv")["n_before"].iloc[0] == n
        items = pd.read_csv(results / "scales" / "items.csv")
        assert set(items["item"]) == set(book.items)
        assert set(items["construct"]) == set(book.constructs)


def test_dont_know_answers_are_no_point_of_the_scale(tmp_path):
    labels = {1.0: "Nooit", 2.0: "Soms", 3.0: "Vaak", 4.0: "Altijd", 9.0: "Weet niet"}
    spss = RawTable(
        frame=pd.DataFrame(
            {"ResponseId": [f"R{i}" for i in range(8)], "F_1": [1.0, 2, 3, 4, 9, 1, 2, 3]}
            | {"F_2": [2.0, 3, 4, 9, 1, 2, 3, 4]}
        ),
        source="made-up.sav",
        rows=list(range(1, 9)),
        value_labels={"F_1": labels, "F_2": labels},
        kind="sav",
        encoding=None,
    )
    draft = draft_codebook([spss])
    book = load(draft.yaml_text, tmp_path)
    scale = book.scales[book.items["f_1"].scale]
    assert list(scale.labels) == [1.0, 2.0, 3.0, 4.0] and scale.missing == (9.0,)
    assert "taken as missing: 9 (Weet niet)" in draft.yaml_text
    text = table(
        {
            "ResponseId": [str(i) for i in range(8)],
            "F_1": ["Nooit", "Soms", "Vaak", "Altijd", "Weet  niet", "Soms", "Vaak", "Nooit"],
            "F_2": ["Soms", "Vaak", "Altijd", "Nooit", "Soms", "Vaak", "Nooit", "Altijd"],
        }
    )
    draft = draft_codebook([text])
    book = load(draft.yaml_text, tmp_path)
    scale = book.scales[book.items["f_1"].scale]
    assert [t[0] for t in scale.labels.values()] == ["Nooit", "Soms", "Vaak", "Altijd"]
    [todo] = draft.todos
    assert "'Weet  niet' is no point of the scale" in todo


def test_names_yaml_would_read_as_booleans_stay_text(tmp_path):
    answers = ["Nooit", "Soms", "Vaak"] * 3
    raw = table(
        {"ResponseId": [str(i) for i in range(9)], "Yes": answers, "NO": answers[1:] + answers[:1]}
    )
    book = load(draft_codebook([raw]).yaml_text, tmp_path)
    assert {v.column for v in book.items.values()} == {"Yes", "NO"}


def test_lcsurvey_check_finds_nothing_wrong_with_the_drafted_codebook(tmp_path):
    """`lcsurvey check` on the two bundled exports, their drafted codebook and a config of
    only codebook: and waves: as many respondents kept as with the hand-written codebook."""
    from lcsurvey.pipeline.check import check_project

    main([str(CSV_WAVE), str(SAV_WAVE), "--out", str(tmp_path / "codebook.yaml")])
    waves = {"2021-12": str(CSV_WAVE), "2022-06": str(SAV_WAVE)}
    config = {"codebook": "codebook.yaml", "waves": waves}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    report = check_project(tmp_path / "config.yaml")
    assert report.ok, [p.message for p in report.problems]
    assert any("306 kept" in line for line in report.checked)
    assert any("228 kept" in line for line in report.checked)


def test_a_five_and_a_seven_point_question_under_one_stem_keep_their_codes(tmp_path):
    five = ["Helemaal mee oneens", "Mee oneens", "Neutraal", "Mee eens", "Helemaal mee eens"]
    seven = five[:2] + ["Enigszins mee oneens", "Neutraal", "Enigszins mee eens"] + five[3:]
    raw = table(
        {
            "ResponseId": [str(i) for i in range(14)],
            "Q5_1": (five * 3)[:14],
            "Q5_2": seven * 2,
            "Q5_3": (five[1:] * 4)[:14],  # nobody chose the lowest: 5 or 7 points?
        }
    )
    draft = draft_codebook([raw])
    book = load(draft.yaml_text, tmp_path)
    assert book.scales[book.items["q5_1"].scale].labels[4.0] == ("Mee eens", "Agree")
    assert book.scales[book.items["q5_2"].scale].labels[6.0] == ("Mee eens", "Agree")
    lopsided = book.items["q5_3"].scale
    assert any(t.startswith(f"scale {lopsided}: check the order") for t in draft.todos)


def test_vocabulary_scales_get_dutch_and_english_labels_and_keep_the_exported_text(tmp_path):
    german = ["Stimme überhaupt nicht zu", "Stimme nicht zu", "Weder noch", "Stimme zu"]
    german.append("Stimme voll und ganz zu")
    english = ["Never", "Rarely", "Sometimes", "Often", "Always"]
    raw = table(
        {
            "ResponseId": [str(i) for i in range(10)],
            "D_1": german * 2,
            "D_2": german[::-1] * 2,
            "E_1": english * 2,
            "E_2": english[::-1] * 2,
        }
    )
    book = load(draft_codebook([raw]).yaml_text, tmp_path)
    agree = book.scales[book.items["d_1"].scale]
    assert agree.labels[1.0] == ("Helemaal mee oneens", "Strongly disagree", german[0])
    assert agree.labels[3.0] == ("Neutraal", "Neutral", "Weder noch")
    frequency = book.scales[book.items["e_1"].scale]
    assert frequency.labels[1.0] == ("Nooit", "Never") and frequency.labels[5.0] == (
        "Altijd",
        "Always",
    )
    path = tmp_path / "made-up.csv"
    raw.frame.to_csv(path, index=False)
    kept = clean_file(str(path), book, wave="w", rules=None, key=KEY).kept
    assert kept["d_1"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] * 2


def test_spss_codes_against_the_vocabulary_order_are_a_todo():
    answers = ["Strongly agree", "Agree", "Neutral", "Disagree", "Strongly disagree"]
    frame = pd.DataFrame({"ResponseId": [f"R{i}" for i in range(5)], "S": [1.0, 2, 3, 4, 5]})

    def todos(order: list[str]) -> tuple[str, ...]:
        labels = {"S": {float(code): text for code, text in enumerate(order, start=1)}}
        return draft_codebook(
            [RawTable(frame, "made-up.sav", [1, 2, 3, 4, 5], labels, "sav", None)]
        ).todos

    assert not any("codes do not follow" in t for t in todos(answers))  # reversed is fine
    shuffled = [answers[i] for i in (1, 2, 3, 0, 4)]
    assert any("codes do not follow the order" in t for t in todos(shuffled))
