"""Reading raw exports: formats, encodings, delimiters, Qualtrics headers, errors and PII."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lcsurvey.errors import InputError
from lcsurvey.survey.io import RawTable, read_raw, sha256_file, to_number

EMAIL = "jan.jansen@voorbeeld.nl"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def values(table: RawTable) -> dict[str, list]:
    """The frame as plain lists, missing as None."""
    return {c: [None if pd.isna(v) else v for v in table.frame[c].tolist()] for c in table.frame}


def error(path: Path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_raw(path, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- Qualtrics CSV

QUALTRICS = (
    "StartDate,EndDate,ResponseId,RecipientEmail,Q1,Q2_1,Q3\n"
    '"Start Date","End Date","Response ID","Recipient Email",'
    '"Hoe oud ben je, in jaren?","Ik leer veel; echt - Stelling 1","Toelichting"\n'
    '"{""ImportId"":""startDate"",""timeZone"":""Europe/Amsterdam""}",'
    '"{""ImportId"":""endDate""}","{""ImportId"":""_recordId""}",'
    '"{""ImportId"":""recipientEmail""}","{""ImportId"":""QID1""}",'
    '"{""ImportId"":""QID9_1""}","{""ImportId"":""QID10_TEXT""}"\n'
    f"2021-12-01 10:00:00,2021-12-01 10:09:00,R_1,{EMAIL},34,Mee eens,  café  \n"
    f'2021-12-02 11:00:00,2021-12-02 11:05:00,R_2,a@b.nl,51,Helemaal mee eens,"zeer, goed"\n'
)


def test_qualtrics_three_header_rows(tmp_path):
    table = read_raw(write(tmp_path / "wave.csv", QUALTRICS), pii=["RecipientEmail"])
    assert table.kind == "qualtrics-csv"
    assert table.description == "a Qualtrics export (CSV, 3 header rows, comma-separated, utf-8)"
    assert table.rows == [4, 5]
    assert list(table.frame.columns) == ["StartDate", "EndDate", "ResponseId", "Q1", "Q2_1", "Q3"]
    assert values(table)["Q3"] == ["café", "zeer, goed"]
    assert values(table)["Q1"] == ["34", "51"]
    assert table.column_labels["Q1"] == "Hoe oud ben je, in jaren?"
    assert table.delimiter == ","
    assert table.value_labels == {}


def test_qualtrics_question_text_with_line_breaks_shifts_row_numbers(tmp_path):
    text = (
        "ResponseId,Q1\n"
        '"Response ID","Eerste regel\nTweede regel\nDerde"\n'
        '"{""ImportId"":""_recordId""}","{""ImportId"":""QID1""}"\n'
        "R_1,1\n"
        'R_2,"twee\nregels"\n'
        "R_3,3\n"
    )
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert table.kind == "qualtrics-csv"
    assert table.rows == [6, 7, 9]
    assert values(table)["Q1"] == ["1", "twee\nregels", "3"]


def test_qualtrics_legacy_export_with_two_header_rows(tmp_path):
    text = "StartDate,ResponseId,Q1\nStart Date,Response ID,Vraag 1\n2021-12-01,R_1,4\n"
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert table.kind == "qualtrics-csv"
    assert table.rows == [3]
    assert table.column_labels == {
        "StartDate": "Start Date",
        "ResponseId": "Response ID",
        "Q1": "Vraag 1",
    }


def test_one_header_row(tmp_path):
    text = "ResponseId,Q1,Q2\nR_1,1,2\nR_2,3,4\n"
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert table.kind == "csv"
    assert table.rows == [2, 3]
    assert values(table) == {"ResponseId": ["R_1", "R_2"], "Q1": ["1", "3"], "Q2": ["2", "4"]}
    assert table.column_labels == {}


def test_blank_and_empty_lines_are_skipped_but_keep_row_numbers(tmp_path):
    text = "\n\nid;q\n1;a\n\n;\n   \n2;\n"
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert table.rows == [4, 8]
    assert values(table) == {"id": ["1", "2"], "q": ["a", None]}


def test_whitespace_is_stripped_and_empty_text_is_missing(tmp_path):
    text = 'id,q,r\n 1 ,"  ",\t x y \t\n'
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert values(table) == {"id": ["1"], "q": [None], "r": ["x y"]}
    assert table.frame["q"].isna().all()


def test_a_bare_quote_inside_a_field_is_text(tmp_path):
    table = read_raw(write(tmp_path / "wave.csv", 'id,q\n1,5" scherm\n'))
    assert values(table)["q"] == ['5" scherm']


# --------------------------------------------------------------------------- delimiters, decimals


def test_semicolon_with_decimal_commas_as_dutch_excel_writes(tmp_path):
    text = "id;leeftijd;uren;opmerking\n1;34;2,5;ja, zeker\n2;51;10,25;\n3;28;;nee\n"
    table = read_raw(write(tmp_path / "wave.csv", text, "cp1252"))
    assert table.delimiter == ";"
    assert table.decimal == ","
    assert values(table)["opmerking"] == ["ja, zeker", None, "nee"]
    hours = to_number(table.frame["uren"], decimal=table.decimal)
    assert hours.tolist()[:2] == [2.5, 10.25]
    assert np.isnan(hours.iloc[2])


def test_quoted_commas_in_the_header_do_not_fool_the_sniffer(tmp_path):
    text = (
        'id;"Wat leerde je, en van wie?";"Hoe, waar, wanneer"\n'
        '1;"veel, van collega\'s";"thuis, op het werk"\n'
        '2;"niets";"x, y, z"\n'
    )
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert table.delimiter == ";"
    assert list(table.frame.columns) == ["id", "Wat leerde je, en van wie?", "Hoe, waar, wanneer"]
    assert values(table)["Hoe, waar, wanneer"] == ["thuis, op het werk", "x, y, z"]


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, delim):
    text = delim.join(["id", "q1", "q2"]) + "\n" + delim.join(["1", "3", "x"]) + "\n"
    table = read_raw(write(tmp_path / "wave.tsv", text))
    assert table.delimiter == delim
    assert values(table) == {"id": ["1"], "q1": ["3"], "q2": ["x"]}


def test_comma_file_with_semicolons_in_text(tmp_path):
    text = 'id,opmerking\n1,"a; b; c"\n2,d;e\n'
    table = read_raw(write(tmp_path / "wave.csv", text))
    assert table.delimiter == ","
    assert table.decimal == "."
    assert values(table)["opmerking"] == ["a; b; c", "d;e"]


def test_decimal_point_detected(tmp_path):
    table = read_raw(write(tmp_path / "wave.csv", "id;x\n1;2.5\n2;3.75\n"))
    assert table.decimal == "."
    assert to_number(table.frame["x"], table.decimal).tolist() == [2.5, 3.75]


def test_to_number():
    text = pd.Series(["3,5", " 1.234,5 ", "4", None, "geen", "-0,25", "2.5"], dtype="string")
    got = to_number(text, decimal=",").tolist()
    assert got[:3] == [3.5, 1234.5, 4.0]
    assert np.isnan(got[3]) and np.isnan(got[4])
    assert got[5:] == [-0.25, 2.5]
    points = to_number(pd.Series(["3.5", "x"]), decimal=".")
    assert points.iloc[0] == 3.5 and np.isnan(points.iloc[1])
    assert to_number(pd.Series([1, 2], dtype="int64")).dtype == np.float64
    assert to_number(pd.Series([1, "2,5", pd.NA], dtype=object), ",").tolist()[:2] == [1.0, 2.5]
    with pytest.raises(ValueError):
        to_number(text, decimal=";")


# --------------------------------------------------------------------------- encodings

DUTCH = "naam;reactie\nRené;Het was één grote ëxperience\nZoë;café\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_encodings_are_detected(tmp_path, encoding):
    text = "Één vraag;reactie\nRené;Het was één grote ëxperience\nZoë;café\n"
    table = read_raw(write(tmp_path / "wave.csv", text, encoding))
    assert list(table.frame.columns) == ["Één vraag", "reactie"]
    assert values(table) == {
        "Één vraag": ["René", "Zoë"],
        "reactie": ["Het was één grote ëxperience", "café"],
    }
    expected = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "cp1252": "cp1252", "utf-16": "utf-16"}
    assert table.encoding == expected[encoding]


def test_bom_never_ends_up_in_the_first_column_name(tmp_path):
    path = write(tmp_path / "wave.csv", "ResponseId,Q1\nR_1,1\n", "utf-8-sig")
    for encoding in (None, "utf-8", "utf-8-sig"):
        table = read_raw(path, encoding=encoding)
        assert list(table.frame.columns) == ["ResponseId", "Q1"]


def test_forced_encoding_is_used(tmp_path):
    path = write(tmp_path / "wave.csv", DUTCH, "latin-1")
    table = read_raw(path, encoding="latin-1")
    assert table.encoding == "latin-1"
    assert values(table)["naam"] == ["René", "Zoë"]


def test_undecodable_bytes_with_forced_encoding_name_row_and_byte(tmp_path):
    path = write(tmp_path / "wave.csv", DUTCH, "cp1252")
    message = error(path, encoding="utf-8")
    assert "wave.csv" in message
    assert "row 2" in message
    assert "0xE9" in message
    assert "utf-8" in message


def test_bytes_that_are_neither_utf8_nor_cp1252(tmp_path):
    path = tmp_path / "wave.csv"
    path.write_bytes(b"id,q\n1,a\n2,\x81\x8d\n")
    message = error(path)
    assert "row 3" in message and "0x81" in message and "encoding" in message


def test_unknown_encoding_name(tmp_path):
    path = write(tmp_path / "wave.csv", "id\n1\n")
    assert "unknown encoding" in error(path, encoding="klingon-8")


# --------------------------------------------------------------------------- Excel


def make_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Antwoorden"
    sheet.append(["ResponseId", " Q1 ", "Q2", "RecipientEmail", "Toelichting"])
    sheet.append(["R_1", 4, 2.5, EMAIL, "  café "])
    sheet.append([])
    sheet.append(["R_2", 5, "3,5", "b@c.nl", None])
    other = book.create_sheet("Tweede")
    other.append(["id", "x"])
    other.append([7, "ë"])
    book.save(path)
    return path


def test_xlsx_first_sheet(tmp_path):
    table = read_raw(make_workbook(tmp_path / "wave.xlsx"), pii=["RecipientEmail"])
    assert table.kind == "xlsx"
    assert table.description == "an Excel workbook (sheet 'Antwoorden')"
    assert table.rows == [2, 4]
    assert list(table.frame.columns) == ["ResponseId", "Q1", "Q2", "Toelichting"]
    assert values(table) == {
        "ResponseId": ["R_1", "R_2"],
        "Q1": [4, 5],
        "Q2": [2.5, "3,5"],
        "Toelichting": ["café", None],
    }
    assert table.encoding is None and table.delimiter is None
    assert EMAIL not in repr(table)


def test_xlsx_named_sheet(tmp_path):
    table = read_raw(make_workbook(tmp_path / "wave.xlsx"), sheet="Tweede")
    assert values(table) == {"id": [7], "x": ["ë"]}
    assert table.rows == [2]


def test_xlsx_unknown_sheet_names_the_available_ones(tmp_path):
    message = error(make_workbook(tmp_path / "wave.xlsx"), sheet="Blad1")
    assert "'Blad1'" in message and "'Antwoorden'" in message and "'Tweede'" in message


def test_xlsx_qualtrics_header_rows_and_duplicates(tmp_path):
    path = tmp_path / "q.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ResponseId", "Q1"])
    sheet.append(["Response ID", "Vraag"])
    sheet.append(['{"ImportId":"_recordId"}', '{"ImportId":"QID1"}'])
    sheet.append(["R_1", 3])
    book.save(path)
    table = read_raw(path)
    assert table.kind == "qualtrics-xlsx"
    assert table.rows == [4]
    assert table.column_labels == {"ResponseId": "Response ID", "Q1": "Vraag"}

    # A repeated name is numbered by column letter, the question text kept for each.
    sheet["C1"] = "Q1"
    sheet["C2"] = "Vraag opnieuw"
    sheet["C4"] = 4
    book.save(path)
    table = read_raw(path)
    assert values(table) == {"ResponseId": ["R_1"], "Q1 @B": [3], "Q1 @C": [4]}
    assert table.column_labels["Q1 @C"] == "Vraag opnieuw"
    assert table.notes == (
        "the name 'Q1' appears 2 times in row 1 (columns B and C): read as 'Q1 @B' and 'Q1 @C'",
    )


def test_xlsx_empty_sheet_and_header_only(tmp_path):
    path = tmp_path / "wave.xlsx"
    book = openpyxl.Workbook()
    book.save(path)
    assert "empty" in error(path)
    book.active.append(["id", "q1"])
    book.save(path)
    assert "no data rows" in error(path)


def test_not_really_a_workbook(tmp_path):
    assert "Excel" in error(write(tmp_path / "wave.xlsx", "id,q\n1,2\n"))


# --------------------------------------------------------------------------- SPSS


def make_sav(path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "ResponseId": ["R_1", "R_2", "R_3"],
            "RecipientEmail": [EMAIL, "b@c.nl", ""],
            "Q1": [1.0, 5.0, -99.0],
            "Q2": [2.0, np.nan, 3.0],
            "note": ["  één ", "", "ok"],
        }
    )
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={"Q1": "Ik voel me veilig", "Q2": "Stelling 2"},
        variable_value_labels={
            "Q1": {1: "Helemaal mee oneens", 5: "Helemaal mee eens", -99: "Weet niet"}
        },
        missing_ranges={"Q1": [-99]},
    )
    return path


def test_sav_codes_labels_and_user_missing(tmp_path):
    table = read_raw(make_sav(tmp_path / "wave.sav"), pii=["RecipientEmail"])
    assert table.kind == "sav"
    assert table.description == "an SPSS data file"
    assert table.rows == [1, 2, 3]
    assert list(table.frame.columns) == ["ResponseId", "Q1", "Q2", "note"]
    assert table.frame["Q1"].dtype == np.float64
    assert table.frame["Q1"].tolist() == [1.0, 5.0, -99.0]
    assert np.isnan(table.frame["Q2"].iloc[1])
    assert values(table)["note"] == ["één", None, "ok"]
    assert table.value_labels == {
        "Q1": {1.0: "Helemaal mee oneens", 5.0: "Helemaal mee eens", -99.0: "Weet niet"}
    }
    assert table.column_labels == {"Q1": "Ik voel me veilig", "Q2": "Stelling 2"}
    assert EMAIL not in repr(table.frame.to_dict())


def test_damaged_sav(tmp_path):
    assert "SPSS" in error(write(tmp_path / "wave.sav", "not spss"))


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    message = error(tmp_path / "nope.csv")
    assert "nope.csv" in message and "not found" in message


def test_unknown_extension(tmp_path):
    message = error(write(tmp_path / "wave.json", "{}"))
    assert "'.json'" in message and ".csv" in message and ".sav" in message
    assert ".xlsx" in error(write(tmp_path / "wave.xls", "x"))


@pytest.mark.parametrize("content", ["", "   \n\t\n", "\ufeff"])
def test_empty_file(tmp_path, content):
    message = error(write(tmp_path / "wave.csv", content))
    assert "wave.csv" in message and "empty" in message


def test_header_only(tmp_path):
    assert "no data rows" in error(write(tmp_path / "wave.csv", "id,q1,q2\n"))
    qualtrics_header = "".join(QUALTRICS.splitlines(keepends=True)[:3])
    assert "no data rows" in error(write(tmp_path / "q.csv", qualtrics_header))


def test_repeated_column_names_are_numbered_by_position(tmp_path):
    table = read_raw(write(tmp_path / "wave.csv", "id,Q1,Q2,Q1\n1,2,3,4\n"))
    assert values(table) == {"id": ["1"], "Q1 @2": ["2"], "Q2": ["3"], "Q1 @4": ["4"]}
    assert table.notes == (
        "the name 'Q1' appears 2 times in row 1 (columns 2 and 4): read as 'Q1 @2' and 'Q1 @4'",
    )
    # Either name drops a column; the header name drops every column of that name.
    assert list(read_raw(tmp_path / "wave.csv", drop=["Q1 @4"]).frame) == ["id", "Q1 @2", "Q2"]
    assert list(read_raw(tmp_path / "wave.csv", pii=["Q1"]).frame) == ["id", "Q2"]
    assert read_raw(tmp_path / "wave.csv", pii=["Q1"]).notes == ()


def test_a_numbered_name_that_the_header_already_has_is_an_error(tmp_path):
    message = error(write(tmp_path / "wave.csv", "id,Q1,Q1 @4,Q1\n1,2,3,4\n"))
    assert "row 1" in message and "position 4" in message and "'Q1 @4'" in message
    assert "position 3" in message


def test_unnamed_columns(tmp_path):
    # A trailing separator on every line is harmless ...
    table = read_raw(write(tmp_path / "a.csv", "id;q;\n1;2;\n"))
    assert list(table.frame.columns) == ["id", "q"]
    assert table.notes == ()
    # ... and data under no name is read under its position.
    table = read_raw(write(tmp_path / "b.csv", "id;q;;\n1;2;3;\n"))
    assert values(table) == {"id": ["1"], "q": ["2"], "@3": ["3"]}
    assert table.notes == ("column 3 of row 1 has no name but holds data: read as '@3'",)


def test_truncated_last_line(tmp_path):
    message = error(write(tmp_path / "wave.csv", "id,q1,q2\n1,2,3\n4,5"))
    assert "row 3" in message and "2 fields" in message and "3" in message
    assert "cut off" in message


def test_truncated_inside_a_quoted_field(tmp_path):
    message = error(write(tmp_path / "wave.csv", 'id,q1,q2\n1,2,3\n4,5,"half een zin'))
    assert "row 3" in message and "never closed" in message


def test_row_with_too_many_fields(tmp_path):
    text = 'id,q1,q2\n1,2,3\n"a\nb",5,6\n7,8,9,10\n11,12,13\n'
    message = error(write(tmp_path / "wave.csv", text))
    assert "row 5" in message and "4 fields" in message and "header has 3" in message


def test_row_with_too_few_fields_in_the_middle(tmp_path):
    text = "id;q1;q2\n1;2;3\n4;5\n6;7;8\n"
    message = error(write(tmp_path / "wave.csv", text))
    assert "row 3" in message and "'q1'" in message and "2 fields" in message


def test_forced_wrong_delimiter(tmp_path):
    path = write(tmp_path / "wave.csv", "id;q1;q2\n1;2,5;3\n")
    message = error(path, delimiter=",")
    assert "semicolon" in message and "row 1" in message
    # The detected one reads the same file fine.
    assert read_raw(path).delimiter == ";"


def test_forced_delimiter_that_splits_the_header_but_not_the_rows(tmp_path):
    path = write(tmp_path / "wave.csv", "id,q1;q2\n1,2;3\n4;5;6\n")
    message = error(path, delimiter=",")
    assert "row 3" in message


def test_sniffed_single_column_that_looks_semicolon_separated(tmp_path):
    path = write(tmp_path / "wave.csv", '"id;q1;q2"\n1;2;3\n4;5;6\n')
    message = error(path)
    assert "semicolon" in message and "'id;q1;q2'" in message


# --------------------------------------------------------------------------- PII and drop


def test_pii_values_never_appear_in_errors(tmp_path):
    text = f"ResponseId,RecipientEmail,Q1,Q2\nR_1,a@b.nl,1,2\nR_2,{EMAIL},1,2,extra\n"
    message = error(write(tmp_path / "wave.csv", text), pii=["RecipientEmail"])
    assert "row 3" in message
    assert EMAIL not in message and "jansen" not in message

    short = f"ResponseId,Q1,RecipientEmail,Q2\nR_1,1,{EMAIL}\n"
    message = error(write(tmp_path / "short.csv", short), pii=["RecipientEmail"])
    assert "row 2" in message and EMAIL not in message

    unclosed = f'ResponseId,Q1,RecipientEmail\nR_1,1,"{EMAIL}\n'
    message = error(write(tmp_path / "unclosed.csv", unclosed), pii=["RecipientEmail"])
    assert EMAIL not in message


def test_pii_and_drop_columns_are_gone(tmp_path):
    path = write(tmp_path / "wave.csv", QUALTRICS)
    table = read_raw(path, pii=["RecipientEmail", "IPAddress"], drop=["Q3"])
    assert "RecipientEmail" not in table.frame and "Q3" not in table.frame
    assert "RecipientEmail" not in table.column_labels
    assert EMAIL not in repr(values(table))
    # A single name is one name, not a set of letters.
    assert "RecipientEmail" not in read_raw(path, pii="RecipientEmail").frame


def test_sha256_file(tmp_path):
    path = write(tmp_path / "wave.csv", QUALTRICS)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(InputError):
        sha256_file(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- round trip

ALPHABET = "abzAZ019 éëïöüÉ,;\"'\n\t.-{}:"
cell_text = st.text(alphabet=ALPHABET, max_size=10)


@st.composite
def survey_files(draw):
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(1, 6))
    names = [f"Q{i + 1}" for i in range(n_cols)]
    pii_at = draw(st.integers(0, n_cols))
    names.insert(pii_at, "RecipientEmail")
    rows = []
    for r in range(n_rows):
        row = [draw(cell_text) for _ in range(n_cols)]
        row.insert(pii_at, f"person{r}@mail.example")
        rows.append(row)
    header_rows = draw(st.sampled_from([1, 3]))
    questions = [draw(cell_text) for _ in names]
    return {
        "names": names,
        "rows": rows,
        "header_rows": header_rows,
        "questions": questions,
        "delimiter": draw(st.sampled_from([",", ";", "\t"])),
        "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])),
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
    }


def render(spec: dict, rows: list[list[str]]) -> tuple[bytes, list[int]]:
    """The file's bytes, and the line on which each record starts."""
    records = [spec["names"]]
    if spec["header_rows"] == 3:
        records.append(spec["questions"])
        records.append([json.dumps({"ImportId": f"QID{i}"}) for i in range(len(spec["names"]))])
    records += rows
    out = io.StringIO()
    csv.writer(out, delimiter=spec["delimiter"], lineterminator=spec["newline"]).writerows(records)
    # Each record starts on the line after the previous one's line breaks.
    starts, line = [], 1
    for record in records:
        starts.append(line)
        line += 1 + sum(cell.count("\n") for cell in record)
    return out.getvalue().encode(spec["encoding"]), starts


def read_bytes(content: bytes, **kwargs) -> RawTable:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wave.csv"
        path.write_bytes(content)
        return read_raw(path, **kwargs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(survey_files())
def test_round_trip(spec):
    content, starts = render(spec, spec["rows"])
    table = read_bytes(content, pii=["RecipientEmail"])

    names = spec["names"]
    expected = {
        name: [(row[names.index(name)].strip() or None) for row in spec["rows"]]
        for name in names
        if name != "RecipientEmail"
    }
    assert values(table) == expected
    assert table.rows == starts[spec["header_rows"] :]
    assert table.delimiter == spec["delimiter"]
    assert table.kind == ("qualtrics-csv" if spec["header_rows"] == 3 else "csv")
    if spec["header_rows"] == 3:
        assert table.column_labels == {
            n: q.strip()
            for n, q in zip(names, spec["questions"], strict=True)
            if n != "RecipientEmail" and q.strip()
        }
    emails = [row[names.index("RecipientEmail")] for row in spec["rows"]]
    dump = repr(values(table)) + repr(table.column_labels) + repr(list(table.frame.columns))
    assert not any(email in dump for email in emails)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(survey_files(), st.data())
def test_a_ragged_row_is_named_without_its_pii(spec, data):
    rows = [list(row) for row in spec["rows"]]
    k = data.draw(st.integers(0, len(rows) - 1), label="ragged row")
    pii_at = spec["names"].index("RecipientEmail")
    if data.draw(st.booleans(), label="extra field"):
        rows[k].append(data.draw(cell_text))
    else:
        others = [i for i in range(len(rows[k])) if i != pii_at]
        del rows[k][data.draw(st.sampled_from(others), label="removed field")]
    content, starts = render(spec, rows)
    with pytest.raises(InputError) as info:
        read_bytes(content, pii=["RecipientEmail"])
    message = str(info.value)
    assert f"row {starts[spec['header_rows'] + k]}:" in message or (
        f"row {starts[spec['header_rows'] + k]}," in message
    )
    assert not any(row[pii_at] in message for row in spec["rows"])
