"""Exports of other survey platforms: each imitated by a file in tests/fixtures/platforms/.

For each format: the kind recognised, the names the columns are read under (what a codebook's
``column:`` says), the question texts, the file rows, the values, the dates, PII gone; and the
cleaning stage run on the file with a small codebook written for it, the clean log naming the
format. The workbooks are written by ``make_workbooks.py`` beside them; the CSV files by hand.
"""

from __future__ import annotations

import contextlib
import logging
import runpy
import tempfile
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter

from lcsurvey.errors import InputError
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.io import RawTable, read_raw

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "platforms"
KEY = b"test key of some length"
EMAILS = [
    "jan.jansen@voorbeeld.nl",
    "p.devries@example.org",
    "a.bakker@example.com",
    "l.visser@example.net",
    "m.smit@example.com",
]
SURNAMES = ["Jansen", "de Vries", "Bakker", "Visser", "Smit"]
IPS = ["192.0.2.10", "192.0.2.11", "198.51.100.7"]

MATRIX = "How much do you agree with the following statements about your learning community?"
STATEMENTS = [
    "I learn a lot in this community",
    "I can ask questions without fear",
    "Mistakes are discussed openly",
]
ORGANISATION = "What kind of organisation do you work for?"
IMPROVE = "What would you improve, if anything?"
# The same five made-up respondents answer the matrix in every file (None: not answered).
AGREEMENT = [
    ["Agree", "Strongly agree", "Neither agree nor disagree"],
    ["Strongly agree", "Agree", "Agree"],
    ["Disagree", "Neither agree nor disagree", "Disagree"],
    ["Agree", "Agree", "Agree"],
    ["Strongly disagree", None, None],
]
AGREE5 = """\
    values:
      1: [Strongly disagree]
      2: [Disagree]
      3: [Neither agree nor disagree, Neutral]
      4: [Agree]
      5: [Strongly agree]
"""


def values(table: RawTable, column: str) -> list:
    return [None if pd.isna(v) else v for v in table.frame[column]]


def assert_no_pii(table: RawTable) -> None:
    dump = repr(table.frame.to_dict()) + repr(table.column_labels) + repr(table.notes)
    for secret in EMAILS + SURNAMES + IPS:
        assert secret not in dump


@contextlib.contextmanager
def clean_log():
    """The lines the cleaning stage logs (the rule's log file gets the same)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("lcsurvey")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def clean(tmp_path: Path, raw: Path, codebook: str):
    path = tmp_path / "codebook.yaml"
    path.write_text(codebook, encoding="utf-8")
    book = load_codebook(path)
    with clean_log() as lines:
        result = clean_file(str(raw), book, wave="w1", rules=None, key=KEY)
    dump = result.kept.to_csv() + result.quarantine.to_csv()
    for secret in EMAILS + SURNAMES + IPS:
        assert secret not in dump
    return result, lines


def assert_cleaned(result, rows: list[int]) -> None:
    """Four kept; the fifth respondent, who answered one statement of three, is quarantined
    for too many unanswered items at their own file row."""
    assert result.flow["n_before"].iloc[0] == 5
    assert len(result.kept) == 4
    assert result.quarantine["file_row"].tolist() == [rows[4]]
    assert result.quarantine["first_reason"].tolist() == ["missing"]
    items = ["learn", "ask", "mistakes"]
    assert result.kept[items].to_numpy().tolist() == [[4, 5, 3], [5, 4, 4], [2, 3, 2], [4, 4, 4]]
    assert "improve" not in result.kept.columns


# --------------------------------------------------------------------------- SurveyMonkey

SURVEYMONKEY_NAMES = [
    "Respondent ID",
    "Collector ID",
    "Start Date",
    "End Date",
    "Custom Data 1",
    *(f"{MATRIX} - {s}" for s in STATEMENTS),
    ORGANISATION,
    f"{ORGANISATION} - Other (please specify)",
    IMPROVE,
]
SURVEYMONKEY_PII = ["IP Address", "Email Address", "First Name", "Last Name"]

SURVEYMONKEY_CODEBOOK = f"""\
id: Respondent ID
pii: [IP Address, Email Address, First Name, Last Name]
free_text:
  improve: {{column: "{IMPROVE}"}}
  organisation_other: {{column: "{ORGANISATION} - Other (please specify)"}}
scales:
  agree5:
{AGREE5}  organisation:
    values:
      1: [Government]
      2: [SME]
      3: [University of applied sciences]
      4: [Other (please specify)]
background:
  organisation: {{column: "{ORGANISATION}", scale: organisation}}
items:
  learn: {{column: "{MATRIX} - {STATEMENTS[0]}", scale: agree5}}
  ask: {{column: "{MATRIX} - {STATEMENTS[1]}", scale: agree5}}
  mistakes: {{column: "{MATRIX} - {STATEMENTS[2]}", scale: agree5}}
constructs:
  climate: {{items: [learn, ask, mistakes]}}
"""


@pytest.mark.parametrize(
    ("name", "kind", "rows"),
    [
        # Line 4-5 is one response whose free text holds a line break.
        ("surveymonkey.csv", "surveymonkey-csv", [3, 4, 6, 7, 8]),
        ("surveymonkey.xlsx", "surveymonkey-xlsx", [3, 4, 5, 6, 7]),
    ],
)
def test_surveymonkey(name, kind, rows):
    table = read_raw(FIXTURES / name, pii=SURVEYMONKEY_PII)
    assert table.kind == kind
    assert list(table.frame.columns) == SURVEYMONKEY_NAMES
    assert table.rows == rows
    assert table.column_labels[f"{MATRIX} - {STATEMENTS[1]}"] == f"{MATRIX} - {STATEMENTS[1]}"
    assert table.column_labels[ORGANISATION] == ORGANISATION
    assert table.stems == {
        **{f"{MATRIX} - {s}": MATRIX for s in STATEMENTS},
        ORGANISATION: ORGANISATION,
        f"{ORGANISATION} - Other (please specify)": ORGANISATION,
    }
    for k, statement in enumerate(STATEMENTS):
        assert values(table, f"{MATRIX} - {statement}") == [r[k] for r in AGREEMENT]
    assert values(table, f"{ORGANISATION} - Other (please specify)")[1] == "Foundation"
    assert values(table, IMPROVE)[1] == "Shorter meetings.\nMore practice."
    assert values(table, IMPROVE)[3] == "Nothing, it works well"
    assert [str(v) for v in values(table, "Respondent ID")][0] == "114000000001"
    assert table.notes == ()
    assert_no_pii(table)


def test_surveymonkey_dates_in_a_workbook_are_timestamps_even_as_serial_numbers():
    table = read_raw(FIXTURES / "surveymonkey.xlsx", pii=SURVEYMONKEY_PII)
    # The last end date is stored as a bare serial number in the workbook.
    assert values(table, "End Date")[3:] == [
        pd.Timestamp("2026-12-02 13:11:58"),
        pd.Timestamp("2026-12-03 16:50:12"),
    ]
    assert values(table, "Start Date")[0] == pd.Timestamp("2026-12-01 09:58:02")
    # In a text file dates stay as written: the cleaning stage reads no date.
    text = read_raw(FIXTURES / "surveymonkey.csv", pii=SURVEYMONKEY_PII)
    assert values(text, "Start Date")[0] == "12/01/2026 09:58:02 AM"


@pytest.mark.parametrize("name", ["surveymonkey.csv", "surveymonkey.xlsx"])
def test_surveymonkey_cleans_with_a_codebook_of_its_names(tmp_path, name):
    result, lines = clean(tmp_path, FIXTURES / name, SURVEYMONKEY_CODEBOOK)
    assert_cleaned(result, read_raw(FIXTURES / name).rows)
    assert result.kept["organisation"].tolist() == [1, 4, 2, 3]
    container = "CSV" if name.endswith(".csv") else "Excel, sheet 'Sheet'"
    assert (
        f"read {FIXTURES / name} as a SurveyMonkey export ({container}, 2 header rows" in (lines[0])
    )


def test_surveymonkey_header_without_metadata_and_a_repeated_question(tmp_path):
    """Recognised from the "Response" cells alone; two questions that read alike are numbered."""
    path = tmp_path / "export.csv"
    path.write_text(
        "Comments,Rate us,,Comments\n"
        "Open-Ended Response,Speed,Quality,Open-Ended Response\n"
        "fine,4,5,more\n",
        encoding="utf-8",
    )
    table = read_raw(path)
    assert table.kind == "surveymonkey-csv"
    assert table.rows == [3]
    assert list(table.frame.columns) == [
        "Comments @1",
        "Rate us - Speed",
        "Rate us - Quality",
        "Comments @4",
    ]
    assert table.column_labels["Comments @4"] == "Comments"
    assert "'Comments' appears 2 times in row 1 (columns 1 and 4)" in table.notes[0]


def test_surveymonkey_question_repeated_over_its_matrix_is_one_question(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "Respondent ID,Custom Data 2,Rate us,Rate us,Comments,Comments\n"
        ",,Speed,Quality,Open-Ended Response,Open-Ended Response\n"
        "11,21,4,5,ok,fine\n",
        encoding="utf-8",
    )
    table = read_raw(path)
    assert table.kind == "surveymonkey-csv"
    assert list(table.frame.columns) == [
        "Respondent ID",
        "Custom Data 2",
        "Rate us - Speed",
        "Rate us - Quality",
        "Comments @5",
        "Comments @6",
    ]
    assert table.stems == {"Rate us - Speed": "Rate us", "Rate us - Quality": "Rate us"}


def test_a_first_data_row_with_an_answer_called_response_is_not_a_second_header(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,q1\n1,Response\n2,Other\n", encoding="utf-8")
    table = read_raw(path)
    assert table.kind == "csv" and table.rows == [2, 3]


# --------------------------------------------------------------------------- LimeSurvey

LIMESURVEY_CODES_CODEBOOK = """\
id: id
pii: [ipaddr, token, firstname, lastname, email]
free_text:
  improve: {column: Q3}
  organisation_other: {column: "Q2[other]"}
scales:
  agree5:
    values: {1: [A1], 2: [A2], 3: [A3], 4: [A4], 5: [A5]}
  organisation:
    values: {1: [A1], 2: [A2], 3: [A3], 4: [-oth-]}
background:
  organisation: {column: Q2, scale: organisation}
items:
  learn: {column: "Q1[SQ001]", scale: agree5}
  ask: {column: "Q1[SQ002]", scale: agree5}
  mistakes: {column: "Q1[SQ003]", scale: agree5}
constructs:
  climate: {items: [learn, ask, mistakes]}
"""


def test_limesurvey_with_question_codes():
    pii = ["ipaddr", "token", "firstname", "lastname", "email"]
    table = read_raw(FIXTURES / "limesurvey_codes.csv", pii=pii)
    assert table.kind == "limesurvey-csv"
    assert "question codes" in table.description
    assert table.rows == [2, 3, 5, 6, 7]
    assert list(table.frame.columns) == [
        "id",
        "submitdate",
        "lastpage",
        "startlanguage",
        "seed",
        "startdate",
        "datestamp",
        "refurl",
        "Q1[SQ001]",
        "Q1[SQ002]",
        "Q1[SQ003]",
        "Q2",
        "Q2[other]",
        "Q3",
        "interviewtime",
    ]
    # A header of codes holds no question text.
    assert table.column_labels == {}
    assert table.stems == {"Q1[SQ001]": "Q1", "Q1[SQ002]": "Q1", "Q1[SQ003]": "Q1"}
    assert values(table, "Q1[SQ002]") == ["A5", "A4", "A3", "A4", None]
    assert values(table, "Q2") == ["A1", "-oth-", "A2", "A3", "A1"]
    assert values(table, "submitdate")[0] == "2026-12-01 10:04:40"
    assert_no_pii(table)


def test_limesurvey_codes_clean(tmp_path):
    path = FIXTURES / "limesurvey_codes.csv"
    result, lines = clean(tmp_path, path, LIMESURVEY_CODES_CODEBOOK)
    assert_cleaned(result, [2, 3, 5, 6, 7])
    assert result.kept["organisation"].tolist() == [1, 4, 2, 3]
    assert lines[0] == (
        f"read {path} as a LimeSurvey export (CSV, question codes as column names, "
        "1 header row, comma-separated, utf-8)"
    )


SURE = "{INSERTANS:481926X2X5} - how sure are you?"
LIMESURVEY_TEXTS_CODEBOOK = f"""\
id: Response ID
pii: [IP address, Email address]
free_text:
  improve: {{column: "{IMPROVE}"}}
  organisation_other: {{column: "{ORGANISATION} [Other]"}}
scales:
  agree5:
{AGREE5}  organisation:
    values: {{1: [Government], 2: [SME], 3: [University of applied sciences], 4: [Other]}}
  sure3:
    values: {{1: [Not sure], 2: [Quite sure], 3: [Very sure]}}
  score10: {{min: 0, max: 10}}
background:
  organisation: {{column: "{ORGANISATION}", scale: organisation}}
  sure_first: {{column: "{SURE} @16", scale: sure3}}
  sure_second: {{column: "{SURE} @17", scale: sure3}}
  score: {{column: "@18", scale: score10}}
items:
  learn: {{column: "{MATRIX} [{STATEMENTS[0]}]", scale: agree5}}
  ask: {{column: "{MATRIX} [{STATEMENTS[1]}]", scale: agree5}}
  mistakes: {{column: "{MATRIX} [{STATEMENTS[2]}]", scale: agree5}}
constructs:
  climate: {{items: [learn, ask, mistakes]}}
"""


def test_limesurvey_with_question_texts_repeated_and_empty_names():
    table = read_raw(FIXTURES / "limesurvey_texts.csv", pii=["IP address", "Email address"])
    assert table.kind == "limesurvey-csv"
    assert "question texts" in table.description
    assert table.rows == [2, 3, 5, 6, 7]
    names = list(table.frame.columns)
    assert names[:8] == [
        "Response ID",
        "Date submitted",
        "Last page",
        "Start language",
        "Seed",
        "Date started",
        "Date last action",
        "Referrer URL",
    ]
    assert names[8:] == [
        *(f"{MATRIX} [{s}]" for s in STATEMENTS),
        ORGANISATION,
        f"{ORGANISATION} [Other]",
        f"{SURE} @16",
        f"{SURE} @17",
        "@18",
        IMPROVE,
    ]
    assert table.column_labels[f"{SURE} @17"] == SURE
    assert table.column_labels[f"{MATRIX} [{STATEMENTS[0]}]"] == f"{MATRIX} [{STATEMENTS[0]}]"
    assert "@18" not in table.column_labels
    assert table.stems == {f"{MATRIX} [{s}]": MATRIX for s in STATEMENTS}
    assert values(table, f"{SURE} @16") == [
        "Very sure",
        "Quite sure",
        "Not sure",
        "Very sure",
        None,
    ]
    assert values(table, "@18") == ["7", "8", "5", "8", "3"]
    assert table.notes == (
        "column 18 of row 1 has no name but holds data: read as '@18'",
        f"the name {SURE!r} appears 2 times in row 1 (columns 16 and 17): read as "
        f"'{SURE} @16' and '{SURE} @17'",
    )
    assert_no_pii(table)


def test_limesurvey_texts_clean_and_the_log_says_which_columns_were_renamed(tmp_path):
    path = FIXTURES / "limesurvey_texts.csv"
    result, lines = clean(tmp_path, path, LIMESURVEY_TEXTS_CODEBOOK)
    assert_cleaned(result, [2, 3, 5, 6, 7])
    kept = result.kept
    assert kept["organisation"].tolist() == [1, 4, 2, 3]
    assert kept["sure_first"].tolist() == [3, 2, 1, 3]
    assert kept["score"].tolist() == [7, 8, 5, 8]
    assert lines[0].startswith(f"read {path} as a LimeSurvey export (CSV, question texts")
    assert lines[1] == f"{path}: column 18 of row 1 has no name but holds data: read as '@18'"
    assert lines[2].startswith(f"{path}: the name {SURE!r} appears 2 times")


def test_limesurvey_workbook_dates_become_timestamps(tmp_path):
    path = tmp_path / "results-survey481926.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["id", "submitdate", "lastpage", "startlanguage", "seed", "Q1[SQ001]"])
    book.active.append([1, 46357.5, 3, "nl", 123, "A4"])
    book.active.append([2, None, 1, "nl", 456, None])
    book.save(path)
    table = read_raw(path)
    assert table.kind == "limesurvey-xlsx"
    assert values(table, "submitdate") == [pd.Timestamp("2026-12-01 12:00:00"), None]
    assert values(table, "seed") == [123, 456]


def test_the_clean_rule_log_names_the_format_and_the_renamed_columns(tmp_path):
    """workflow/scripts/clean.py, run as rule clean would run it, on the LimeSurvey export."""
    codebook = tmp_path / "codebook.yaml"
    codebook.write_text(LIMESURVEY_TEXTS_CODEBOOK, encoding="utf-8")
    raw = FIXTURES / "limesurvey_texts.csv"
    outputs = {name: tmp_path / f"{name}.out" for name in ["responses", "quarantine"]}
    outputs |= {name: tmp_path / f"{name}.csv" for name in ["flow", "recodes"]}
    snakemake = SimpleNamespace(
        log=[str(tmp_path / "clean.log")],
        input=SimpleNamespace(raw=str(raw), codebook=str(codebook)),
        output=SimpleNamespace(**{name: str(path) for name, path in outputs.items()}),
        params=SimpleNamespace(wave="w1", rules={}, reading={}, key_file=None),
    )
    script = Path(__file__).parents[1] / "workflow" / "scripts" / "clean.py"
    runpy.run_path(str(script), init_globals={"snakemake": snakemake})
    log = (tmp_path / "clean.log").read_text(encoding="utf-8").splitlines()
    assert f"INFO read {raw} as a LimeSurvey export (CSV, question texts as column names, " in (
        "\n".join(log)
    )
    assert f"INFO {raw}: column 18 of row 1 has no name but holds data: read as '@18'" in log
    assert any(f"'{SURE} @16' and '{SURE} @17'" in line for line in log)
    assert "INFO kept 4, quarantined 1" in log
    assert all(path.exists() for path in outputs.values())


# --------------------------------------------------------------------------- Google Forms

GRID = "In hoeverre ben je het eens met de volgende uitspraken?"
GRID_ROWS = [
    "Ik leer veel in deze leergemeenschap",
    "Ik durf vragen te stellen zonder angst",
    "Fouten worden open besproken",
]
GOOGLE_CODEBOOK = f"""\
id: Tijdstempel
person: Deelnemerscode
pii: [E-mailadres]
free_text:
  improve: {{column: Wat zou je verbeteren?}}
scales:
  agree5:
    values:
      1: [Helemaal mee oneens]
      2: [Mee oneens]
      3: [Neutraal]
      4: [Mee eens]
      5: [Helemaal mee eens]
  organisation:
    values: {{1: [Overheid], 2: [MKB], 3: [Hogeschool]}}
background:
  organisation: {{column: Voor wat voor organisatie werk je?, scale: organisation}}
items:
  learn: {{column: "{GRID} [{GRID_ROWS[0]}]", scale: agree5}}
  ask: {{column: "{GRID} [{GRID_ROWS[1]}]", scale: agree5}}
  mistakes: {{column: "{GRID} [{GRID_ROWS[2]}]", scale: agree5}}
constructs:
  climate: {{items: [learn, ask, mistakes]}}
"""


def test_google_forms_workbook_with_serial_dates():
    table = read_raw(FIXTURES / "google_forms.xlsx", pii=["E-mailadres"])
    assert table.kind == "google-forms-xlsx"
    assert table.description == "a Google Forms export (Excel, sheet 'Formulierreacties 1')"
    assert table.rows == [2, 3, 4, 5, 6]
    assert list(table.frame.columns) == [
        "Tijdstempel",
        "Deelnemerscode",
        *(f"{GRID} [{r}]" for r in GRID_ROWS),
        "Voor wat voor organisatie werk je?",
        "Wat zou je verbeteren?",
    ]
    assert table.column_labels["Voor wat voor organisatie werk je?"] == (
        "Voor wat voor organisatie werk je?"
    )
    assert table.stems == {f"{GRID} [{r}]": GRID for r in GRID_ROWS}
    # Rows 3 and 5 hold bare serial numbers (46357.47225... and 46358.54997...).
    assert values(table, "Tijdstempel") == [
        pd.Timestamp("2026-12-01 10:04:40"),
        pd.Timestamp("2026-12-01 11:20:03"),
        pd.Timestamp("2026-12-02 08:37:21"),
        pd.Timestamp("2026-12-02 13:11:58"),
        pd.Timestamp("2026-12-03 16:50:12"),
    ]
    assert values(table, f"{GRID} [{GRID_ROWS[1]}]")[4] is None
    assert_no_pii(table)


def test_google_forms_cleans(tmp_path):
    path = FIXTURES / "google_forms.xlsx"
    result, lines = clean(tmp_path, path, GOOGLE_CODEBOOK)
    assert_cleaned(result, [2, 3, 4, 5, 6])
    assert result.kept["organisation"].tolist() == [1, 3, 2, 3]
    assert lines[0] == (
        f"read {path} as a Google Forms export (Excel, sheet 'Formulierreacties 1')"
    )


def test_google_forms_csv_is_recognised_too(tmp_path):
    path = tmp_path / "responses.csv"
    path.write_text(
        '"Timestamp","Email Address","Rate the sessions [Content]","Rate the sessions [Pace]"\n'
        '"2026/12/01 10:04:40 AM GMT+1","a@b.nl","4","5"\n',
        encoding="utf-8",
    )
    table = read_raw(path, pii=["Email Address"])
    assert table.kind == "google-forms-csv"
    assert table.stems == {
        "Rate the sessions [Content]": "Rate the sessions",
        "Rate the sessions [Pace]": "Rate the sessions",
    }
    assert values(table, "Timestamp") == ["2026/12/01 10:04:40 AM GMT+1"]


# --------------------------------------------------------------------------- Microsoft Forms

MICROSOFT_CODEBOOK = f"""\
id: ID
pii: [Email, Name]
free_text:
  improve: {{column: "{IMPROVE}"}}
scales:
  agree5:
{AGREE5}  organisation:
    values: {{1: [Government], 2: [SME], 3: [University of applied sciences]}}
background:
  organisation: {{column: "{ORGANISATION}", scale: organisation}}
items:
  learn: {{column: "{STATEMENTS[0]}", scale: agree5}}
  ask: {{column: "{STATEMENTS[1]}", scale: agree5}}
  mistakes: {{column: "{STATEMENTS[2]}", scale: agree5}}
constructs:
  climate: {{items: [learn, ask, mistakes]}}
"""


def test_microsoft_forms_workbook_with_serial_start_times():
    table = read_raw(FIXTURES / "microsoft_forms.xlsx", pii=["Email", "Name"])
    assert table.kind == "microsoft-forms-xlsx"
    assert table.rows == [2, 3, 4, 5, 6]
    assert list(table.frame.columns) == [
        "ID",
        "Start time",
        "Completion time",
        "Last modified time",
        *STATEMENTS,
        ORGANISATION,
        IMPROVE,
    ]
    assert table.column_labels[STATEMENTS[2]] == STATEMENTS[2]
    assert values(table, "ID") == [1, 2, 3, 4, 5]
    # Start times are bare serial numbers in the workbook, completion times date cells.
    assert values(table, "Start time")[0] == pd.Timestamp("2026-12-01 09:58:02")
    assert values(table, "Completion time")[4] == pd.Timestamp("2026-12-03 16:50:12")
    durations = pd.Series(values(table, "Completion time")) - pd.Series(values(table, "Start time"))
    assert durations.dt.total_seconds().tolist() == [398, 438, 441, 408, 328]
    assert values(table, "Last modified time") == [None] * 5
    assert values(table, STATEMENTS[2])[3] == "Agree"
    assert_no_pii(table)


def test_microsoft_forms_cleans(tmp_path):
    path = FIXTURES / "microsoft_forms.xlsx"
    result, lines = clean(tmp_path, path, MICROSOFT_CODEBOOK)
    assert_cleaned(result, [2, 3, 4, 5, 6])
    assert result.kept["organisation"].tolist() == [1, 3, 2, 3]
    assert lines[0] == f"read {path} as a Microsoft Forms export (Excel, sheet 'Sheet1')"


# --------------------------------------------------------------------------- serial dates


def test_serial_dates_outside_the_calendar_and_text_stay_as_they_are(tmp_path):
    path = tmp_path / "forms.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ID", "Start time", "Completion time", "Q"])
    sheet.append([1, 45123.5, "not a date", "a"])
    sheet.append([2, -3, 3e7, "b"])
    book.save(path)
    table = read_raw(path)
    assert table.kind == "microsoft-forms-xlsx"
    assert values(table, "Start time") == [pd.Timestamp("2023-07-16 12:00:00"), -3]
    assert values(table, "Completion time") == ["not a date", 3e7]


def test_a_codebook_naming_a_repeated_column_is_told_its_numbered_names(tmp_path):
    codebook = LIMESURVEY_TEXTS_CODEBOOK.replace(f'"{SURE} @16"', f'"{SURE}"')
    with pytest.raises(InputError) as info:
        clean(tmp_path, FIXTURES / "limesurvey_texts.csv", codebook)
    message = str(info.value)
    assert f"column {SURE!r}" in message and "background sure_first" in message
    assert f"'{SURE} @16', '{SURE} @17'" in message


def test_plain_tables_are_described_without_a_platform(tmp_path):
    path = tmp_path / "wave.csv"
    path.write_text("id;q1\n1;2\n", encoding="utf-8")
    assert read_raw(path).description == (
        "a delimited text file (1 header row, semicolon-separated, utf-8)"
    )


# --------------------------------------------------------------------------- any header

# At least one name: a header row of nothing but empty cells is no header row.
header_names = st.lists(
    st.sampled_from(["", "Q1", "Q2", "{INSERTANS:1X2X3}", "a b"]), min_size=1
).filter(any)


@settings(max_examples=100, deadline=None)
@given(names=header_names, excel=st.booleans())
def test_every_column_with_data_gets_a_unique_name_that_says_where_it_is(names, excel):
    """Whatever names the header repeats or leaves empty, no data is lost and every column is
    found under its own name, or under "<name> @<position>" / "@<position>"."""
    with tempfile.TemporaryDirectory() as folder:
        if excel:
            path = Path(folder) / "export.xlsx"
            book = openpyxl.Workbook()
            book.active.append(names)
            book.active.append([f"v{i}" for i in range(len(names))])
            book.save(path)
        else:
            path = Path(folder) / "export.csv"
            lines = [
                ",".join(f'"{n}"' for n in names),
                ",".join(f"v{i}" for i in range(len(names))),
            ]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        table = read_raw(path)
    assert len(table.frame.columns) == len(names) == len(set(table.frame.columns))
    for i, name in enumerate(names):
        where = get_column_letter(i + 1) if excel else str(i + 1)
        expected = name if name and names.count(name) == 1 else f"{name} @{where}".lstrip()
        assert values(table, expected) == [f"v{i}"]
    renamed = sum(1 for n in names if not n or names.count(n) > 1)
    assert bool(table.notes) == bool(renamed)
