"""Writers of the raw exports: a Qualtrics CSV (three header rows, Dutch choice text) and an
SPSS .sav (numeric codes with Dutch value labels, a fixed creation stamp)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from lcsurvey.study.simulate.mess import wave_start
from lcsurvey.study.simulate.questionnaire import instrument, labels_nl, meta_column

# Qualtrics metadata columns in export order: name -> (question-text row, ImportId JSON row).
QUALTRICS_META: dict[str, tuple[str, str]] = {
    "StartDate": ("Start Date", '{"ImportId":"startDate","timeZone":"Europe/Amsterdam"}'),
    "EndDate": ("End Date", '{"ImportId":"endDate","timeZone":"Europe/Amsterdam"}'),
    "Status": ("Response Type", '{"ImportId":"status"}'),
    "IPAddress": ("IP Address", '{"ImportId":"ipAddress"}'),
    "Progress": ("Progress", '{"ImportId":"progress"}'),
    "Duration (in seconds)": ("Duration (in seconds)", '{"ImportId":"duration"}'),
    "Finished": ("Finished", '{"ImportId":"finished"}'),
    "RecordedDate": ("Recorded Date", '{"ImportId":"recordedDate","timeZone":"Europe/Amsterdam"}'),
    "ResponseId": ("Response ID", '{"ImportId":"_recordId"}'),
    "RecipientLastName": ("Recipient Last Name", '{"ImportId":"recipientLastName"}'),
    "RecipientFirstName": ("Recipient First Name", '{"ImportId":"recipientFirstName"}'),
    "RecipientEmail": ("Recipient Email", '{"ImportId":"recipientEmail"}'),
    "ExternalReference": ("External Data Reference", '{"ImportId":"externalDataReference"}'),
    "LocationLatitude": ("Location Latitude", '{"ImportId":"locationLatitude"}'),
    "LocationLongitude": ("Location Longitude", '{"ImportId":"locationLongitude"}'),
    "DistributionChannel": ("Distribution Channel", '{"ImportId":"distributionChannel"}'),
    "UserLanguage": ("User Language", '{"ImportId":"userLanguage"}'),
}
STATUS_CODES = {"IP Address": 0, "Survey Preview": 1}


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _fmt_number(x: Any) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return str(int(x))
    return str(x)


def _column_order(df: pd.DataFrame, codebook: Mapping[str, Any]) -> list[str]:
    qcols = [q.column for q in instrument(codebook)]
    return [c for c in QUALTRICS_META if c in df.columns] + [c for c in qcols if c in df.columns]


def write_qualtrics_csv(df: pd.DataFrame, path: str | Path, codebook: Mapping[str, Any]) -> None:
    """Write a wave as a Qualtrics "choice text" CSV export.

    UTF-8 with BOM, three header rows (column ids, question text, ImportId JSON), Dutch choice
    text for labelled scales, numbers for numeric scales, -99 written as the number, empty for
    no answer, dates as ``YYYY-MM-DD HH:MM:SS``.
    """
    qs = {q.column: q for q in instrument(codebook)}
    cols = _column_order(df, codebook)
    header2, header3 = [], []
    for c in cols:
        if c in QUALTRICS_META:
            header2.append(QUALTRICS_META[c][0])
            header3.append(QUALTRICS_META[c][1])
            continue
        q = qs[c]
        header2.append(q.text)
        m = re.fullmatch(r"Q(\d+)(_\d+)?", c)
        suffix = (
            "_TEXT"
            if q.role == "free_text"
            or (q.scale is not None and labels_nl(codebook, q.scale) is None and q.key != "useful")
            else ""
        )
        qid = f"QID{m.group(1)}{m.group(2) or ''}{suffix}"
        header3.append('{"ImportId":"' + qid + '"}')
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    writer.writerow(header2)
    writer.writerow(header3)
    labels = {c: labels_nl(codebook, qs[c].scale) for c in cols if c in qs}
    for rec in df[cols].itertuples(index=False, name=None):
        out = []
        for c, v in zip(cols, rec, strict=True):
            if isinstance(v, (datetime, pd.Timestamp)):
                out.append(v.strftime("%Y-%m-%d %H:%M:%S"))
            elif labels.get(c) and not (isinstance(v, float) and np.isnan(v)) and v != -99:
                out.append(labels[c].get(int(v), _fmt_number(v)))
            else:
                out.append(_fmt_number(v))
        writer.writerow(out)
    Path(path).write_bytes(buf.getvalue().encode("utf-8-sig"))


def _sav_stamp(wave_id: str) -> bytes:
    """Fixed creation date and time for the .sav header: the wave's first day, midnight."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    d = wave_start(wave_id)
    return f"{d.day:02d} {months[d.month - 1]} {d.year % 100:02d}00:00:00".encode("ascii")


# Byte offset of the creation date (9 bytes, "dd Mon yy") and time (8 bytes, "hh:mm:ss") in the
# .sav header: "$FL2"(4) + product name(60) + layout code(4) + nominal case size(4) +
# compression(4) + weight index(4) + number of cases(4) + bias(8) = 92.
SAV_STAMP_OFFSET = 92
_SAV_STAMP_RE = re.compile(rb"\d\d [A-Z][a-z]{2} \d\d\d\d:\d\d:\d\d")


def write_sav(
    df: pd.DataFrame, path: str | Path, codebook: Mapping[str, Any], wave_id: str
) -> None:
    """Write a wave as an SPSS .sav export (numeric codes, Dutch value labels).

    Columns are renamed to the codebook's ``wave_columns`` for ``wave_id`` (SPSS names:
    ``Duration__in_seconds_``), Status becomes 0 = "IP Address" / 1 = "Survey Preview",
    Finished 0/1, empty answers system-missing, -99 kept as a plain value. readstat stamps the
    file with the current date and time; that stamp is overwritten with a fixed one derived
    from the wave so regenerating gives identical bytes.
    """
    qs = {q.column: q for q in instrument(codebook)}
    cols = _column_order(df, codebook)
    out = pd.DataFrame(index=df.index)
    value_labels: dict[str, dict[int, str]] = {}
    column_labels: dict[str, str] = {}
    measure: dict[str, str] = {}
    rename = {c: q.column_in(wave_id) for c, q in qs.items()}
    rename["Duration (in seconds)"] = meta_column(codebook, "duration", wave_id)
    for c in cols:
        # SPSS names allow no spaces or brackets; Qualtrics replaces them by underscores.
        name = re.sub(r"[^A-Za-z0-9_]", "_", rename.get(c, c))
        v = df[c]
        if c == "Status":
            out[name] = v.map(STATUS_CODES).astype(float)
            value_labels[name] = {code: text for text, code in STATUS_CODES.items()}
        elif c == "Finished":
            out[name] = v.astype(float)
            value_labels[name] = {0: "False", 1: "True"}
        elif c in ("StartDate", "EndDate", "RecordedDate"):
            # pyreadstat 1.3 writes datetime64[s] as 1970-01-01; microseconds are safe.
            out[name] = pd.to_datetime(v).astype("datetime64[us]")
        elif c in ("Progress", "Duration (in seconds)", "LocationLatitude", "LocationLongitude"):
            out[name] = pd.to_numeric(v).astype(float)
        elif c in qs and qs[c].role != "free_text":
            out[name] = pd.to_numeric(v).astype(float)
            lab = labels_nl(codebook, qs[c].scale)
            if lab:
                value_labels[name] = lab
            measure[name] = "nominal" if qs[c].role in ("background", "consent") else "scale"
        else:
            out[name] = v.fillna("").astype(object).astype(str)
        column_labels[name] = qs[c].text if c in qs else QUALTRICS_META[c][0]
    pyreadstat.write_sav(
        out,
        str(path),
        column_labels=column_labels,
        variable_value_labels=value_labels,
        variable_measure=measure,
    )
    data = bytearray(Path(path).read_bytes())
    stamp = _sav_stamp(wave_id)
    # Only overwrite what is certainly the stamp; a changed header layout must fail loudly.
    if data[:4] != b"$FL2" or not _SAV_STAMP_RE.fullmatch(
        bytes(data[SAV_STAMP_OFFSET : SAV_STAMP_OFFSET + len(stamp)])
    ):
        raise RuntimeError(f"{path}: unexpected .sav header, cannot fix its creation stamp")
    data[SAV_STAMP_OFFSET : SAV_STAMP_OFFSET + len(stamp)] = stamp
    Path(path).write_bytes(bytes(data))
