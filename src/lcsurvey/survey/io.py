"""Reading raw survey exports into one table.

:func:`read_raw` takes whatever export an analyst was given and returns a :class:`RawTable`:
one row per response, the file's own column names (built from both header rows for
SurveyMonkey, numbered by position where the header repeats a name or leaves it empty; see
below), PII columns already dropped, and for every row the number a person would see for it
in a text editor, Excel or SPSS, so that later stages can point at the exact cell that is
wrong.

Formats handled (chosen by file extension):

``.csv``, ``.tsv``, ``.txt``, ``.tab``
    Delimited text. The delimiter (``,`` ``;`` tab ``|``) is sniffed from the first records,
    quote-aware, unless the caller gives one. The encoding is UTF-8 (with or without BOM),
    UTF-16 with BOM (Excel "Unicode text") or else Windows-1252, unless the caller gives one.
    Qualtrics exports with extra header rows are recognised: row 2 holds the question texts
    and row 3 ``{"ImportId": ...}`` cells (or only row 2, in older exports); those rows are
    skipped, the question texts go to :attr:`RawTable.column_labels`, and ``kind`` is
    ``"qualtrics-csv"``. Values are kept as text (pandas ``string`` dtype): the cleaning stage
    maps labels and numbers through the codebook. Numbers written with a decimal comma (Dutch
    Excel) are left as written; :attr:`RawTable.decimal` says which mark the file uses and
    :func:`to_number` converts a column with it.
``.xlsx``, ``.xlsm``
    Excel workbooks, read by pandas with openpyxl (first sheet, or ``sheet=``). The header is
    the first non-empty row; the platforms' header rows are recognised as for CSV. Columns
    have ``object`` dtype: text cells are ``str``, number cells stay ``int``/``float``, date
    cells are timestamps.
``.sav``, ``.zsav``
    SPSS files, read with pyreadstat. Numeric variables stay numeric codes (``float64``) and
    their value labels go to :attr:`RawTable.value_labels`. User-missing values are kept as
    their codes (``-99`` stays ``-99``): the codebook's ``missing`` lists decide what is
    missing, so the same codes mean the same thing whatever format a wave arrives in. String
    variables become ``string`` dtype; variable labels go to ``column_labels``.

Survey platforms are recognised from the header, in a text file or a workbook alike, and
named in :attr:`RawTable.kind` (``"surveymonkey-csv"``, ``"limesurvey-xlsx"``, ...):

Qualtrics
    Row 1 the column ids, row 2 the question texts, row 3 ``{"ImportId": ...}`` cells (or only
    row 2, in older exports), as above.
SurveyMonkey
    Two header rows: row 1 holds the question, written only over the first column of a
    matrix; row 2 the answer option or sub-question of each column, ``"Response"`` or
    ``"Open-Ended Response"`` under a question answered in one column, and nothing under the
    metadata columns (``Respondent ID``, ``Collector ID``, ``Start Date``, ...). Row 2 is
    skipped. A column answered as a whole keeps its row-1 text as its name; any other column
    is named ``"<question> - <option>"``, the question carried forward from row 1 over the
    matrix, so ``"How much do you agree? - I learn a lot"``.
LimeSurvey
    One header row of question codes (``id, submitdate, lastpage, startlanguage, seed, ...,
    Q5[SQ001]``) or of question texts (``Response ID, Date submitted, ..., How much do you
    agree? [I learn a lot]``), names kept as written.
Google Forms
    One header row of question texts after ``Timestamp`` (``Tijdstempel``, ``Zeitstempel``,
    ``Horodateur``, ``Marca temporal``); grid rows as ``"Question [Row]"``.
Microsoft Forms
    One header row ``ID, Start time, Completion time, Email, Name, ...`` (or Dutch
    ``Begintijd``, ``Tijd van voltooien``), then the question texts.

In a workbook the date/time columns of these platforms (``Start Date``, ``submitdate``,
``Timestamp``, ``Start time``, ...) become timestamps whether a cell is a date or only the
Excel serial number behind one (45123.5 is 2023-07-16 12:00). Where the header is the
question text, it is also the column's :attr:`RawTable.column_labels` entry; columns that are
parts of one question (a matrix, an array, a grid) have that question in
:attr:`RawTable.stems`.

A codebook's ``column:`` is the name a column is read under, which for a header whose names
are unique and non-empty is the header text itself. Two cases are named by position instead,
so that nobody has to edit the export:

- a name the header repeats (LimeSurvey writes an unrendered ``{INSERTANS:...}`` placeholder
  once per question that uses it; two SurveyMonkey questions may read alike): every column of
  that name is read as ``"<name> @<position>"``;
- an empty name over a column that holds data: ``"@<position>"``.

The position is the 1-based column number in a text file (``"{INSERTANS:12345X6X7} @14"``,
``"@15"``) and the column letter in a workbook (``"Q1 @N"``, ``"@O"``). Empty names over empty
columns (a trailing separator, an unused Excel column) are left out. :attr:`RawTable.notes`
says which columns were renamed and why, and the cleaning stage writes it to its log;
``pii`` and ``drop`` take either the header name (every column of that name) or the
numbered one.

In every format text is stripped of surrounding whitespace and empty text is missing
(``pd.NA``). Rows in which every cell is empty (blank lines, ``;;;;`` lines) are not responses
and are left out; the numbers in ``rows`` of the rows kept are unaffected.

Anything that cannot be read raises :class:`~lcsurvey.errors.InputError` naming the file, the
row and column where known, and what was expected. Values of PII columns never reach a
message: they are dropped before any check that reports values, and checks on whole rows
report counts and positions, never cell contents.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lcsurvey.digest import sha256_file
from lcsurvey.errors import InputError

__all__ = ["RawTable", "read_raw", "sha256_file", "to_number"]

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SPSS_SUFFIXES = (".sav", ".zsav")

#: Delimiters the sniffer considers, in order of preference when the evidence is equal.
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma (,)", ";": "semicolon (;)", "\t": "tab", "|": "bar (|)"}
_DELIMITER_WORDS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}

_IMPORT_ID = re.compile(r'^\{\s*"ImportId"\s*:')
# Row 2 of a Qualtrics export holds the question text; for its own metadata columns that
# text differs from the column id, which makes it recognisable even without an ImportId row.
_QUALTRICS_ROW2 = {
    "StartDate": "Start Date",
    "EndDate": "End Date",
    "Status": "Response Type",
    "IPAddress": "IP Address",
    "RecordedDate": "Recorded Date",
    "ResponseId": "Response ID",
    "RecipientLastName": "Recipient Last Name",
    "RecipientFirstName": "Recipient First Name",
    "RecipientEmail": "Recipient Email",
    "ExternalReference": "External Data Reference",
    "LocationLatitude": "Location Latitude",
    "LocationLongitude": "Location Longitude",
    "DistributionChannel": "Distribution Channel",
    "UserLanguage": "User Language",
}
# Excel's day 0 for serial dates (1899-12-30, so that day 61 is 1900-03-01 despite Excel's
# phantom 29 February 1900), and the serial numbers of 1900-03-01 and 9999-12-31 + 1 day.
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_EXCEL_SERIAL_RANGE = (61, 2958466)
_COMMA_NUMBER = r"^[-+]?[0-9]*,[0-9]+$"
_POINT_NUMBER = r"^[-+]?[0-9]*\.[0-9]+$"
# Enough rows to see how numbers are written without scanning a whole large file.
_DECIMAL_SAMPLE_ROWS = 5000


@dataclass(frozen=True, eq=False)
class RawTable:
    """One raw export as read, before any cleaning.

    ``frame``: one row per response, original column names, PII and ``drop`` columns removed.
    ``rows[i]``: the file row of ``frame.iloc[i]`` as a person counts it (1-based line of a
    text file including header lines and lines inside quoted cells; Excel row; SPSS case).
    ``value_labels``: SPSS value labels per column (code -> label); ``{}`` for text and Excel.
    ``kind``: the format recognised, ``"<platform>-csv"`` or ``"<platform>-xlsx"`` with
    platform ``qualtrics``, ``surveymonkey``, ``limesurvey``, ``google-forms`` or
    ``microsoft-forms``; ``"csv"`` or ``"xlsx"`` for a plain table; ``"sav"``.
    ``encoding``: the encoding a text file was decoded with (``None`` otherwise).
    ``decimal``: the decimal mark numbers written as text use (``"."`` or ``","``); pass it
    to :func:`to_number`. Always ``"."`` for SPSS.
    ``delimiter``: the field separator of a text file (``None`` otherwise).
    ``column_labels``: question text per column (Qualtrics row 2, SPSS variable labels, the
    header text of SurveyMonkey, LimeSurvey text headers and Forms).
    ``description``: the format in words for a log line, e.g. ``"a SurveyMonkey export (CSV,
    2 header rows, comma-separated, utf-8)"``.
    ``notes``: one sentence per column read under another name than its header (repeated or
    empty names), for the log.
    ``stems``: for columns that are one part of a question spread over several columns (a
    SurveyMonkey matrix, a LimeSurvey array ``Q5[SQ001]``, a Google Forms grid), the
    question they share.
    """

    frame: pd.DataFrame
    source: str
    rows: list[int]
    value_labels: dict[str, dict[float, str]]
    kind: str
    encoding: str | None
    decimal: str = "."
    delimiter: str | None = None
    column_labels: dict[str, str] = field(default_factory=dict)
    description: str = ""
    notes: tuple[str, ...] = ()
    stems: dict[str, str] = field(default_factory=dict)


def to_number(series: pd.Series, decimal: str = ".") -> pd.Series:
    """A column as ``float64``: numbers written as text are parsed, anything else is NaN.

    ``decimal`` is the decimal mark of the file (:attr:`RawTable.decimal`). With ``","``,
    ``"3,5"`` is 3.5 and ``"1.234,5"`` is 1234.5; a value with only a point (``"3.5"``) is
    still read as 3.5, as respondents and tools mix both. Numeric cells (Excel, SPSS) pass
    through. Text that is not a number becomes NaN: callers find such cells as
    ``series.notna() & to_number(series).isna()``.
    """
    if decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ',', not {decimal!r}")
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    text = series.astype("string").str.strip()
    if decimal == ",":
        both = text.str.contains(".", regex=False) & text.str.contains(",", regex=False)
        text = text.mask(both.fillna(False), text.str.replace(".", "", regex=False))
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def read_raw(
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    pii: Iterable[str] = (),
    drop: Iterable[str] = (),
    delimiter: str | None = None,
) -> RawTable:
    """Read one raw survey export (see the module docstring for the formats).

    ``encoding`` forces the encoding of a text file (or is passed to pyreadstat for old SPSS
    files); ``sheet`` names the Excel sheet (or gives its 0-based position); ``delimiter``
    forces the field separator of a text file. ``pii`` columns are dropped as the file is
    read and their values appear nowhere, not even in error messages; ``drop`` columns are
    dropped silently as well. Names in ``pii`` or ``drop`` that the file lacks are ignored,
    so one codebook list serves every wave. Options that do not apply to a format (``sheet``
    for text, ``delimiter`` for Excel) are ignored.

    Raises :class:`InputError` for a missing file, an unknown extension, an empty file, a
    header without data rows, a name numbered by position that another column already has,
    rows with more or fewer fields than the header, a wrong delimiter, undecodable bytes and
    unknown sheets.
    """
    source = str(path)
    p = Path(path)
    pii_set = _names(pii)
    drop_set = _names(drop) | pii_set
    if not p.exists():
        raise InputError("file not found", file=source, hint="Check the path in config.yaml")
    if p.is_dir():
        raise InputError("is a directory, not a file", file=source)
    suffix = p.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return _read_text(p, source, encoding=encoding, delimiter=delimiter, drop=drop_set)
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(p, source, sheet=sheet, drop=drop_set)
    if suffix in SPSS_SUFFIXES:
        return _read_spss(p, source, encoding=encoding, drop=drop_set)
    hint = None
    if suffix == ".xls":
        hint = "Open it in Excel and save it as .xlsx (the old .xls format is not read)"
    elif suffix == ".xlsb":
        hint = "Open it in Excel and save it as .xlsx"
    raise InputError(
        "unknown file type",
        file=source,
        value=suffix or p.name,
        expected="one of " + ", ".join(TEXT_SUFFIXES + EXCEL_SUFFIXES + SPSS_SUFFIXES),
        hint=hint,
    )


def _names(names: Iterable[str]) -> set[str]:
    # A bare string would otherwise be taken letter by letter.
    if isinstance(names, str):
        return {names}
    return {str(name) for name in names}


# --------------------------------------------------------------------------- text files


def _read_text(
    p: Path, source: str, *, encoding: str | None, delimiter: str | None, drop: set[str]
) -> RawTable:
    data = p.read_bytes()
    text, used_encoding = _decode(data, encoding, source)
    if not text.strip():
        raise InputError(
            "the file is empty", file=source, expected="a header row and one row per response"
        )
    # Leading blank lines are skipped but still count for the row numbers.
    leading = re.match(r"(?:[ \t]*\r?\n)*", text).group(0)
    offset = leading.count("\n")
    text = text[len(leading) :]
    if codecs.lookup(used_encoding).name in ("utf-8", "utf-8-sig"):
        # Already valid UTF-8: hand the bytes on as they are rather than encoding them again.
        # The skipped prefix is a BOM and ASCII blank lines, so its byte length is known.
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        utf8 = memoryview(data)[bom + len(leading) :]
    else:
        utf8 = text.encode("utf-8")

    sniffed = _sniff(text)
    if delimiter is None:
        delim = sniffed
    else:
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise InputError(
                "invalid delimiter", file=source, value=delimiter, expected="one character"
            )
        delim = delimiter
    header = _first_record(text, delim)
    if len(header) == 1:
        others = [d for d in DELIMITERS if d != delim and d in header[0]]
        if others:
            raise InputError(
                f"the header has a single column when split on {_DELIMITER_NAMES.get(delim, repr(delim))}",
                file=source,
                row=offset + 1,
                value=_clip(header[0]),
                expected=f"fields separated by {_DELIMITER_NAMES.get(delim, repr(delim))}",
                hint=f"The file looks {_DELIMITER_NAMES[others[0]]}-separated; "
                f"leave the delimiter to be detected or set it to {others[0]!r}",
            )

    table, invalid = _parse(utf8, delim, len(header), source)
    ncols = table.num_columns
    names = [_cell(table.column(i)[0].as_py()) for i in range(ncols)]

    # Every record gets its physical line: one line each, plus the line breaks inside its
    # quoted cells. Rows the parser rejected keep their place through their record number.
    n_records = table.num_rows + len(invalid)
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    if physical == n_records:
        lines = np.arange(1, n_records + 1, dtype=np.int64)
    else:
        breaks = np.zeros(n_records, dtype=np.int64)
        valid = np.ones(n_records, dtype=bool)
        for row in invalid:
            valid[row.number - 1] = False
            breaks[row.number - 1] = row.text.count("\n")
        counted = np.zeros(table.num_rows, dtype=np.int64)
        for column in table.columns:
            if pc.any(pc.match_substring(column, "\n")).as_py():
                counted += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
        breaks[valid] = counted
        lines = 1 + np.arange(n_records) + np.concatenate([[0], np.cumsum(breaks)[:-1]])
    lines += offset

    if text.count('"') % 2:
        _check_last_record_closed(text, int(lines[-1]) - offset, delim, source, int(lines[-1]))
    bad = [row for row in invalid if not (row.actual_columns == 1 and not row.text.strip())]
    if bad:
        raise _ragged_error(bad, names, lines, source, delim, sniffed, forced=delimiter)
    valid_lines = np.delete(lines, [row.number - 1 for row in invalid])

    records = [
        [_cell(table.column(i)[r].as_py()) for i in range(ncols)]
        for r in range(min(3, table.num_rows))
    ]
    header = _recognise(names, records)
    n_header = header.rows

    table = table.slice(n_header)
    row_numbers = valid_lines[n_header:]
    # Column-wise Arrow kernels release the GIL, so the columns are done in parallel.
    with ThreadPoolExecutor() as pool:
        stripped = list(pool.map(pc.utf8_trim_whitespace, table.columns))
        empty = list(pool.map(lambda column: pc.equal(column, ""), stripped))
    # Rows empty in every column (PII included, so a row holding anything is kept) are not
    # responses: blank lines, or separators only.
    empty_row = np.logical_and.reduce([e.to_numpy(zero_copy_only=False) for e in empty])
    keep, final, notes = _column_names(
        header.names,
        drop,
        source,
        header_row=offset + 1,
        has_data=lambda i: not pc.all(empty[i]).as_py(),
        letters=False,
    )
    if empty_row.all():
        raise InputError(
            "the file has a header but no data rows",
            file=source,
            expected="one row per response below the header",
        )
    columns = {}
    for i in keep:
        column = pc.if_else(empty[i], pa.scalar(None, stripped[i].type), stripped[i])
        columns[final[i]] = column.filter(pa.array(~empty_row)) if empty_row.any() else column
    row_numbers = row_numbers[~empty_row]
    decimal = _detect_decimal(columns.values(), delim)
    frame = pa.table(columns).to_pandas(types_mapper=_string_mapper)
    details = [
        f"{n_header} header rows" if n_header > 1 else "1 header row",
        f"{_DELIMITER_WORDS.get(delim, repr(delim))}-separated",
        used_encoding,
    ]
    return RawTable(
        frame=frame,
        source=source,
        rows=row_numbers.tolist(),
        value_labels={},
        kind=f"{header.platform}-csv" if header.platform else "csv",
        encoding=used_encoding,
        decimal=decimal,
        delimiter=delim,
        column_labels={final[i]: header.labels[i] for i in keep if header.labels[i]},
        description=header.describe("CSV", details),
        notes=tuple(notes),
        stems={final[i]: header.stems[i] for i in keep if header.stems[i]},
    )


def _decode(data: bytes, encoding: str | None, source: str) -> tuple[str, str]:
    """The file as text, and the encoding that was used."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(
                "unknown encoding",
                file=source,
                value=encoding,
                expected="an encoding name such as utf-8, utf-8-sig, cp1252 or latin-1",
            ) from None
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as err:
            raise _undecodable(data, err, encoding, source, forced=True) from None
        # A BOM is never part of the first column name, whichever UTF-8 name was given.
        return text.removeprefix("\ufeff"), encoding
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            raise _undecodable(data, err, "utf-16", source, forced=False) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        return text, "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    # Not UTF-8: Excel on Windows writes "CSV" in the ANSI code page, Windows-1252 here.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as err:
        raise _undecodable(
            data, err, "UTF-8 or Windows-1252 (cp1252)", source, forced=False
        ) from None


def _undecodable(
    data: bytes, err: UnicodeDecodeError, encoding: str, source: str, *, forced: bool
) -> InputError:
    line = data.count(b"\n", 0, err.start) + 1
    line_start = data.rfind(b"\n", 0, err.start) + 1
    byte = data[err.start]
    hint = (
        "Pass the file's real encoding (encoding: in config.yaml), e.g. cp1252 or utf-8"
        if forced
        else "Pass the file's encoding (encoding: in config.yaml)"
    )
    return InputError(
        f"byte 0x{byte:02X} at byte {err.start - line_start + 1} of the line cannot be decoded",
        file=source,
        row=line,
        expected=f"text encoded as {encoding}",
        hint=hint,
    )


def _sniff(text: str) -> str:
    """The delimiter that splits the first records into the most, equally long, fields.

    Parsing with the csv module keeps commas and semicolons inside quoted question text from
    counting. Each candidate is scored on whether the header splits at all, the share of
    records with as many fields as the header, and the number of fields.
    """
    size = 1 << 16
    while True:
        sample = text[:size]
        complete = len(sample) == len(text)
        records = _sample_records(sample, ",", complete)
        if complete or len(records) >= 2:
            break
        size *= 4
    best, best_score = DELIMITERS[0], None
    for delim in DELIMITERS:
        records = [r for r in _sample_records(sample, delim, complete) if r]
        if not records:
            continue
        width = len(records[0])
        share = sum(len(r) == width for r in records) / len(records)
        score = (width > 1, share, width)
        if best_score is None or score > best_score:
            best, best_score = delim, score
    return best


def _sample_records(sample: str, delim: str, complete: bool) -> list[list[str]]:
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(sample, newline=""), delimiter=delim):
            records.append(record)
            if len(records) == 50:
                return records
    except csv.Error:
        pass
    # The last record of a cut-off sample may itself be cut off.
    if not complete and records:
        records.pop()
    return records


def _first_record(text: str, delim: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text[: 1 << 20], newline=""), delimiter=delim))
    except (StopIteration, csv.Error):
        return [text.split("\n", 1)[0]]


def _parse(
    utf8: bytes | memoryview, delim: str, width: int, source: str, *, threads: bool = True
) -> tuple[pa.Table, list]:
    """All records as a table of strings; rows of the wrong width are collected, not kept."""
    invalid: list = []

    def on_invalid(row):
        invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(utf8),
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True,
                use_threads=threads,
                block_size=1 << 22,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delim,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.large_string() for i in range(width + 64)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        # The parser's own message may quote cell contents, which could be PII.
        raise InputError(
            "the file cannot be parsed as delimited text",
            file=source,
            expected=f"fields separated by {_DELIMITER_NAMES.get(delim, repr(delim))}, "
            'text with separators or line breaks in double quotes ("...")',
        ) from None
    if threads and any(row.number is None for row in invalid):
        # Only the serial reader numbers rejected rows, which the row numbers depend on;
        # a file with such rows is read once more, serially.
        return _parse(utf8, delim, width, source, threads=False)
    columns = [
        c if c.type == pa.large_string() else c.cast(pa.large_string()) for c in table.columns
    ]
    return pa.table(columns, names=table.column_names), invalid


def _check_last_record_closed(text: str, line: int, delim: str, source: str, row: int) -> None:
    """Raise if the last record opens a quoted field that the file never closes.

    The parser takes the end of the file as the end of such a field, which would silently
    accept an export cut off in the middle of a quoted cell. Only called when the file has
    an odd number of quote characters, so well-formed files pay nothing for it.
    """
    start = -1
    for _ in range(line - 1):
        start = text.find("\n", start + 1)
    try:
        for _ in csv.reader(
            io.StringIO(text[start + 1 :], newline=""), delimiter=delim, strict=True
        ):
            pass
    except csv.Error:
        raise InputError(
            "a quoted field that starts in this row is never closed",
            file=source,
            row=row,
            expected='a closing double quote (")',
            hint="The file may be cut off: was the export complete?",
        ) from None


def _ragged_error(bad, names, lines, source, delim, sniffed, *, forced) -> InputError:
    row = bad[0]
    expected, actual = row.expected_columns, row.actual_columns
    line = int(lines[row.number - 1])
    problem = (
        f"this row has {actual} field{'s' if actual != 1 else ''} but the header has {expected}"
    )
    column = None
    if actual < expected:
        column = names[actual - 1] if actual >= 1 else None
        problem += " (the row stops after this column)"
    if len(bad) > 1:
        problem += f"; {len(bad) - 1} more row(s) have the wrong number of fields"
    hints = []
    if row.text.count('"') % 2:
        hints.append("A quoted field is never closed: the file may be cut off or hand-edited")
    elif actual < expected and row.number == len(lines):
        hints.append("The last line looks cut off: was the export complete?")
    if forced is not None and forced != sniffed:
        hints.append(
            f"The file looks {_DELIMITER_NAMES[sniffed]}-separated, not "
            f"{_DELIMITER_NAMES.get(forced, repr(forced))}-separated"
        )
    return InputError(
        problem,
        file=source,
        row=line,
        column=column,
        expected=f"{expected} fields separated by {_DELIMITER_NAMES.get(delim, repr(delim))}",
        hint=". ".join(hints) or None,
    )


def _string_mapper(dtype: pa.DataType):
    # pandas' "string[pyarrow]" is backed by large_string: reading as that avoids a copy.
    if dtype in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    return None


def _detect_decimal(columns: Iterable[pa.ChunkedArray], delim: str | None) -> str:
    """The decimal mark of numbers written as text: the more common one in the first rows."""
    commas = points = 0
    for column in columns:
        if column.type not in (pa.string(), pa.large_string()):
            continue
        head = column.slice(0, _DECIMAL_SAMPLE_ROWS)
        commas += pc.sum(pc.match_substring_regex(head, _COMMA_NUMBER)).as_py() or 0
        points += pc.sum(pc.match_substring_regex(head, _POINT_NUMBER)).as_py() or 0
    if commas != points:
        return "," if commas > points else "."
    # No evidence either way: Dutch Excel pairs ';' with decimal commas.
    return "," if delim == ";" else "."


def _cell(value: object) -> str:
    # pandas hands an empty Excel cell of a column of mixed cells over as NaN.
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _clip(text: str, size: int = 80) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _column_names(
    names: Sequence[str],
    drop: set[str],
    source: str,
    *,
    header_row: int,
    has_data: Callable[[int], bool],
    letters: bool,
) -> tuple[list[int], dict[int, str], list[str]]:
    """The columns to keep, the name each is read under, and a note per renaming.

    Unnamed columns without data go (a trailing separator on every line, an empty Excel
    column). A column without a name that holds data is read as ``"@<position>"``; every
    column of a name that the header repeats is read as ``"<name> @<position>"``. The position
    is the 1-based column number of a text file, the column letter of a sheet. A column is
    dropped when ``drop`` holds its header name or the name it is read under.
    """

    def where(i: int) -> str:
        return _column_letter(i) if letters else str(i + 1)

    present = [i for i, name in enumerate(names) if name or has_data(i)]
    counts = Counter(names[i] for i in present)
    final = {
        i: (f"{names[i]} @{where(i)}" if counts[names[i]] > 1 else names[i])
        if names[i]
        else f"@{where(i)}"
        for i in present
    }
    keep = [i for i in present if names[i] not in drop and final[i] not in drop]
    taken: dict[str, int] = {}
    for i in present:
        if final[i] in taken:
            raise InputError(
                f"the column at position {where(i)} would be read as {final[i]!r}, the name of "
                f"the column at position {where(taken[final[i]])}",
                file=source,
                row=header_row,
                column=names[i] or None,
                expected="column names that stay unique when repeated or empty names are "
                "numbered by position",
            )
        taken[final[i]] = i

    notes = []
    unnamed = [i for i in keep if not names[i]]
    if unnamed:
        columns = _enumeration([where(i) for i in unnamed])
        read_as = _enumeration([repr(final[i]) for i in unnamed])
        notes.append(
            f"column{'s' if len(unnamed) > 1 else ''} {columns} of row {header_row} "
            f"{'have' if len(unnamed) > 1 else 'has'} no name but "
            f"{'hold' if len(unnamed) > 1 else 'holds'} data: read as {read_as}"
        )
    for name in dict.fromkeys(names[i] for i in keep if names[i] and counts[names[i]] > 1):
        repeated = [i for i in keep if names[i] == name]
        notes.append(
            f"the name {name!r} appears {counts[name]} times in row {header_row} (columns "
            f"{_enumeration([where(i) for i in present if names[i] == name])}): read as "
            f"{_enumeration([repr(final[i]) for i in repeated])}"
        )
    return keep, final, notes


def _enumeration(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _column_letter(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


# --------------------------------------------------------------------------- platforms

# SurveyMonkey: the metadata columns before the questions (empty on row 2), and the row-2
# text of a column that is a whole question rather than one option of it.
_SURVEYMONKEY_META = {
    "respondent id",
    "collector id",
    "start date",
    "end date",
    "ip address",
    "email address",
    "first name",
    "last name",
    "custom data",
}
_SURVEYMONKEY_CUSTOM = re.compile(r"^custom data \d+$")  # Custom Data 1, Custom Data 2, ...
_SURVEYMONKEY_WHOLE = {"response", "open-ended response"}
_SURVEYMONKEY_DATES = {"start date", "end date"}
# LimeSurvey's own columns, as question codes or as texts, at the start of every export.
_LIMESURVEY_CODES = {"id", "submitdate", "lastpage", "startlanguage", "seed", "startdate"}
_LIMESURVEY_TEXTS = {
    "response id",
    "date submitted",
    "last page",
    "start language",
    "seed",
    "date started",
}
_LIMESURVEY_DATES = {
    "submitdate",
    "startdate",
    "datestamp",
    "date submitted",
    "date started",
    "date last action",
}
# The first column of a Google Forms response sheet, in the languages of the form's owner.
_GOOGLE_FORMS_FIRST = {
    "timestamp",
    "tijdstempel",
    "zeitstempel",
    "horodateur",
    "marca temporal",
    "marca de tiempo",
}
# Microsoft Forms: ID, then its time columns (English and Dutch).
_MICROSOFT_FORMS_TIMES = {
    "start time",
    "completion time",
    "last modified time",
    "begintijd",
    "tijd van voltooien",
}
# "Question [Sub-question]": LimeSurvey's text headers, Google Forms' grid rows.
_BRACKETED = re.compile(r"^(?P<stem>.*\S)\s*\[(?P<part>[^\[\]]+)\]$", re.DOTALL)
# "Q5[SQ001]": LimeSurvey's codes of an array's sub-questions.
_CODED = re.compile(r"^(?P<stem>[A-Za-z][A-Za-z0-9_]*)\[(?P<part>[^\[\]]+)\]$")

_PLATFORM_NAMES = {
    "qualtrics": "a Qualtrics export",
    "surveymonkey": "a SurveyMonkey export",
    "limesurvey": "a LimeSurvey export",
    "google-forms": "a Google Forms export",
    "microsoft-forms": "a Microsoft Forms export",
}


@dataclass(frozen=True)
class _Header:
    """What the first records of a file say about its columns, one entry per position."""

    platform: str  # "" for a plain table
    rows: int  # header rows above the first response
    names: list[str]  # the name each column is read under, before repeated names are numbered
    labels: list[str]  # question text ("" where the file has none)
    stems: list[str]  # the question a column is one part of ("" for a question on its own)
    dates: frozenset[int]  # date/time metadata columns
    layout: str = ""  # how the header is written, when the platform has several ways

    def describe(self, container: str, details: Sequence[str]) -> str:
        """E.g. "a SurveyMonkey export (CSV, 2 header rows, comma-separated, utf-8)"."""
        if self.platform:
            what = _PLATFORM_NAMES[self.platform]
            details = [container, *([self.layout] if self.layout else []), *details]
        else:
            what = "a delimited text file" if container == "CSV" else "an Excel workbook"
        return f"{what} ({', '.join(details)})"


def _recognise(names: list[str], records: list[list[str]]) -> _Header:
    """The platform that wrote a file, from its first three records (``records[0]`` is the
    header row itself); a plain table when no platform's layout matches."""
    width = len(names)
    none = [""] * width
    qualtrics = _qualtrics_rows(names, records)
    if qualtrics > 1:
        return _Header("qualtrics", qualtrics, list(names), list(records[1]), none, frozenset())
    folded = [name.casefold() for name in names]
    if len(records) > 1 and _is_surveymonkey(folded, records[1]):
        return _surveymonkey_header(names, records[1])
    opening = set(folded[:12])
    if len(opening & _LIMESURVEY_CODES) >= 3:
        return _Header(
            "limesurvey",
            1,
            list(names),
            none,
            _stems(names, _CODED),
            _positions(folded, _LIMESURVEY_DATES),
            "question codes as column names",
        )
    if len(opening & _LIMESURVEY_TEXTS) >= 3:
        return _Header(
            "limesurvey",
            1,
            list(names),
            list(names),
            _stems(names, _BRACKETED),
            _positions(folded, _LIMESURVEY_DATES),
            "question texts as column names",
        )
    if folded and folded[0] in _GOOGLE_FORMS_FIRST:
        return _Header(
            "google-forms", 1, list(names), list(names), _stems(names, _BRACKETED), frozenset({0})
        )
    if folded and folded[0] == "id" and len(opening & _MICROSOFT_FORMS_TIMES) >= 2:
        return _Header(
            "microsoft-forms",
            1,
            list(names),
            list(names),
            none,
            _positions(folded, _MICROSOFT_FORMS_TIMES),
        )
    return _Header("", 1, list(names), none, none, frozenset())


def _qualtrics_rows(names: list[str], records: list[list[str]]) -> int:
    """How many of the first records are header rows (1, or 2/3 for Qualtrics exports)."""

    def import_ids(record: list[str]) -> bool:
        cells = [c for c in record if c]
        hits = sum(bool(_IMPORT_ID.match(c)) for c in cells)
        return bool(cells) and hits * 2 >= len(cells)

    if len(records) > 2 and import_ids(records[2]):
        return 3
    if len(records) > 1 and import_ids(records[1]):
        return 2
    if len(records) > 1 and any(
        _QUALTRICS_ROW2.get(name) == text for name, text in zip(names, records[1], strict=True)
    ):
        return 2
    return 1


def _is_surveymonkey(folded: list[str], second: list[str]) -> bool:
    """Row 2 of a SurveyMonkey export: empty under the metadata columns (``Respondent ID``
    and others), and ``"Response"`` / ``"Open-Ended Response"`` under single questions.

    A response row never leaves its respondent id empty, so the first data row of another
    file does not look like this. Without the metadata columns, row 2 must also either carry
    a matrix (an option under an empty row-1 cell) or hold nothing but those two words: a
    first response that merely contains the answer "Response" is not a header.
    """
    if not any(second):
        return False
    meta = [
        i
        for i, name in enumerate(folded)
        if name in _SURVEYMONKEY_META or _SURVEYMONKEY_CUSTOM.match(name)
    ]
    if any(second[i] for i in meta):
        return False
    if len(meta) >= 2 and "respondent id" in folded:
        return True
    cells = [cell.casefold() for cell in second]
    if not any(cell in _SURVEYMONKEY_WHOLE for cell in cells):
        return False
    questions = [i for i, name in enumerate(folded) if i not in meta]
    matrix = any(cells[i] and not folded[i] for i in questions)
    return matrix or (
        len(questions) > 1 and all(cells[i] in _SURVEYMONKEY_WHOLE for i in questions)
    )


def _surveymonkey_header(names: list[str], second: list[str]) -> _Header:
    """Names from SurveyMonkey's two header rows.

    Row 1 holds the question over the first column of a matrix only, so it is carried forward
    over the columns whose row-1 cell is empty and whose row-2 cell is not. A column whose
    row 2 says it is the whole answer ("Response", "Open-Ended Response", or nothing) keeps the
    row-1 text; any other column is ``"question - option"``.
    """
    built, stems, group = [], [], []
    question, start = "", -1
    for i, (top, option) in enumerate(zip(names, second, strict=True)):
        whole = option.casefold() in _SURVEYMONKEY_WHOLE | {""}
        # Some exports repeat the question over every column of its matrix: same group.
        if top and not (top == question and not whole):
            question, start = top, i
        elif not top and not option:
            question, start = "", -1
        if top and whole:
            name = top
        elif question and option:
            name = f"{question} - {option}"
        else:
            name = question or option
        built.append(name)
        stems.append(question)
        group.append(start)
    sizes = Counter(g for g in group if g >= 0)
    stems = [stem if g >= 0 and sizes[g] > 1 else "" for stem, g in zip(stems, group, strict=True)]
    folded = [name.casefold() for name in names]
    return _Header(
        "surveymonkey",
        2,
        built,
        list(built),
        stems,
        _positions(folded, _SURVEYMONKEY_DATES),
    )


def _stems(names: list[str], pattern: re.Pattern) -> list[str]:
    """The question before ``[...]`` of every column that shares it with another column."""
    found = [(m.group("stem").strip() if (m := pattern.match(name)) else "") for name in names]
    counts = Counter(found)
    return [stem if stem and counts[stem] > 1 else "" for stem in found]


def _positions(folded: list[str], wanted: set[str]) -> frozenset[int]:
    return frozenset(i for i, name in enumerate(folded) if name in wanted)


# --------------------------------------------------------------------------- Excel


def _read_excel(p: Path, source: str, *, sheet: str | int | None, drop: set[str]) -> RawTable:
    try:
        book = pd.ExcelFile(p, engine="openpyxl")
    except Exception:  # openpyxl raises many kinds for a damaged or mislabelled file
        raise InputError(
            "the file cannot be opened as an Excel workbook",
            file=source,
            expected="an .xlsx workbook saved by Excel or exported by Qualtrics",
        ) from None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        if sheet is None:
            name = sheets[0]
        elif isinstance(sheet, int) and not isinstance(sheet, bool) and 0 <= sheet < len(sheets):
            name = sheets[sheet]
        elif str(sheet) in sheets:
            name = str(sheet)
        else:
            raise InputError(
                "the workbook has no such sheet",
                file=source,
                value=sheet,
                expected="one of the sheets " + ", ".join(repr(s) for s in sheets),
            )
        raw = pd.read_excel(book, sheet_name=name, header=None, dtype=object)
    where = f"{source} [sheet {name}]"
    if raw.empty or raw.isna().all().all():
        raise InputError(
            "the sheet is empty", file=where, expected="a header row and one row per response"
        )
    raw = raw.map(_excel_cell)
    filled = raw.notna().any(axis=1).to_numpy()
    first = int(np.flatnonzero(filled)[0])
    names = [_cell(v) for v in raw.iloc[first]]
    records = [[_cell(v) for v in raw.iloc[r]] for r in range(first, min(first + 3, len(raw)))]
    header = _recognise(names, records)
    n_header = header.rows
    data = raw.iloc[first + n_header :]
    data = data[data.notna().any(axis=1)]
    keep, final, notes = _column_names(
        header.names,
        drop,
        where,
        header_row=first + 1,
        has_data=lambda i: bool(data.iloc[:, i].notna().any()),
        letters=True,
    )
    if data.empty:
        raise InputError(
            "the sheet has a header but no data rows",
            file=where,
            expected="one row per response below the header",
        )
    frame = data.iloc[:, keep].astype(object)
    frame.columns = [final[i] for i in keep]
    rows = (
        data.index.to_numpy() + 1
    ).tolist()  # pandas keeps blank rows: index + 1 is the Excel row
    frame = frame.reset_index(drop=True)
    for i in keep:
        if i in header.dates:
            frame[final[i]] = frame[final[i]].map(_excel_date)
    text_columns = [
        pa.array(frame[c][frame[c].map(lambda v: isinstance(v, str))].tolist(), pa.string())
        for c in frame.columns
    ]
    details = [f"sheet {name!r}"]
    if n_header > 1:
        details.append(f"{n_header} header rows")
    return RawTable(
        frame=frame,
        source=source,
        rows=rows,
        value_labels={},
        kind=f"{header.platform}-xlsx" if header.platform else "xlsx",
        encoding=None,
        decimal=_detect_decimal([pa.chunked_array([c]) for c in text_columns], None),
        delimiter=None,
        column_labels={final[i]: header.labels[i] for i in keep if header.labels[i]},
        description=header.describe("Excel", details),
        notes=tuple(notes),
        stems={final[i]: header.stems[i] for i in keep if header.stems[i]},
    )


def _excel_date(value: object) -> object:
    """A date cell or an Excel serial date number (days since 1899-12-30) as a timestamp.

    Workbooks re-saved or built by other tools often hold the number behind a date without its
    date format; openpyxl then reads 45123.5 where Excel would show 16-07-2023 12:00. Serial
    numbers are rounded to the millisecond, below which the float holds only rounding error.
    Anything else (text, a number outside the years 1900-9999) is left as it is.
    """
    if isinstance(value, datetime.datetime | datetime.date):
        return pd.Timestamp(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and _EXCEL_SERIAL_RANGE[0] <= value < _EXCEL_SERIAL_RANGE[1]:
        return (_EXCEL_EPOCH + pd.Timedelta(days=float(value))).round("ms")
    return value


def _excel_cell(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value if value else pd.NA
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return pd.NA
    return value


# --------------------------------------------------------------------------- SPSS


def _read_spss(p: Path, source: str, *, encoding: str | None, drop: set[str]) -> RawTable:
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sav(str(p), metadataonly=True, encoding=encoding)
        names = list(meta.column_names)
        # PII columns are never loaded at all.
        keep = [n for n in names if n not in drop]
        if keep:
            frame, meta = pyreadstat.read_sav(
                str(p), usecols=keep, user_missing=True, encoding=encoding
            )
    except Exception:  # pyreadstat signals a damaged file in several ways
        raise InputError(
            "the file cannot be read as an SPSS data file",
            file=source,
            expected="a .sav or .zsav file written by SPSS, PSPP or Qualtrics",
        ) from None
    if not keep:
        raise InputError(
            "no variables are left once the PII and dropped columns are removed",
            file=source,
            expected="at least one survey variable",
        )
    frame = frame.loc[:, keep]
    for name in keep:
        column = frame[name]
        text_column = pd.api.types.is_string_dtype(column) and not isinstance(
            column.dtype, pd.CategoricalDtype
        )
        if text_column and column.map(lambda v: isinstance(v, str) or pd.isna(v)).all():
            text = column.astype("string[pyarrow]").str.strip()
            frame[name] = text.mask(text == "")
    filled = frame.notna().any(axis=1).to_numpy() if keep else np.zeros(len(frame), bool)
    rows = (np.flatnonzero(filled) + 1).tolist()
    frame = frame[filled].reset_index(drop=True)
    if frame.empty:
        raise InputError(
            "the file has variables but no cases", file=source, expected="one case per response"
        )
    value_labels = {
        name: {
            (float(code) if isinstance(code, int | float) else code): str(label)
            for code, label in labels.items()
        }
        for name, labels in (meta.variable_value_labels or {}).items()
        if name in frame.columns
    }
    return RawTable(
        frame=frame,
        source=source,
        rows=rows,
        value_labels=value_labels,
        kind="sav",
        encoding=encoding,
        decimal=".",
        delimiter=None,
        column_labels={
            n: str(label)
            for n, label in (meta.column_names_to_labels or {}).items()
            if label and n in frame.columns
        },
        description="an SPSS data file" + (f" ({encoding})" if encoding else ""),
    )
