"""Property-based: messy generated waves always add up, and PII never reaches an output."""

from __future__ import annotations

import csv

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lcsurvey.survey.clean import clean_wave
from lcsurvey.survey.io import read_raw

ANSWERS = [
    "Mee eens",
    "mee EENS ",
    "Neutraal",
    "Helemaal mee oneens",
    "Strongly agree",
    "1",
    "2",
    "3",
    "4",
    "5",
    "",
    "-99",
    "9",
    "0",
]
ITEM_COLUMNS = ["Q2_1", "Q2_2", "Q2_3", "Q3_1", "Q3_2", "Q3_3"]

row_strategy = st.fixed_dictionaries(
    {
        "person": st.integers(0, 12),
        "blank_id": st.booleans(),
        "status": st.sampled_from(["IP Address", "IP Address", "Survey Preview", "1", "0"]),
        "consent": st.sampled_from(["Ja", "Ja", "Ja", "Nee", "", "yes"]),
        "progress": st.integers(0, 100) | st.just(100),
        "duration": st.integers(1, 3000),
        "answers": st.lists(st.sampled_from(ANSWERS), min_size=6, max_size=6),
        "attention": st.sampled_from(["Mee eens", "Mee eens", "Neutraal", ""]),
        "age": st.sampled_from(["25", "41", "67", "", "150"]),
        "name": st.text(alphabet="abcdefghijklmnopqrstuvwxyzéë", min_size=3, max_size=8),
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=40),
    delimiter=st.sampled_from([",", ";"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_flow_adds_up_and_no_pii_leaks(tmp_path_factory, small_codebook, rows, delimiter, encoding):
    path = tmp_path_factory.mktemp("wave") / "wave.csv"
    header = [
        "ResponseId",
        "ExternalReference",
        "Status",
        "Q1",
        "Progress",
        "Duration",
        *ITEM_COLUMNS,
        "Q7",
        "Q8",
        "Q9",
        "RecipientEmail",
        "IPAddress",
    ]
    secrets = []
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for i, row in enumerate(rows):
            email = f"{row['name']}.{i}@secret-mail.example"
            ip = f"10.{i}.77.{row['person']}"
            secrets += [email, ip]
            writer.writerow(
                [
                    "" if row["blank_id"] else f"R_{i:05d}",
                    f"LC-{row['person']:03d}",
                    row["status"],
                    row["consent"],
                    row["progress"],
                    row["duration"],
                    *row["answers"],
                    row["attention"],
                    row["age"],
                    f"opmerking van {row['name']}",
                    email,
                    ip,
                ]
            )
    raw = read_raw(path, pii=small_codebook.pii, drop=small_codebook.dropped_text_columns("w1"))
    result = clean_wave(
        raw.frame,
        small_codebook,
        wave="w1",
        source=str(path),
        rows=raw.rows,
        rules={"outlier_p": 0.01, "exclude_outliers": True},
        key=b"property test key",
    )

    assert len(result.kept) + len(result.quarantine) == len(rows)
    flow = result.flow
    assert flow["n_before"].iloc[0] == len(rows)
    assert flow["n_after"].iloc[-1] == len(result.kept)
    assert (flow["n_before"] - flow["n_removed"] == flow["n_after"]).all()
    assert (flow["n_after"].iloc[:-1].to_numpy() == flow["n_before"].iloc[1:].to_numpy()).all()
    assert result.quarantine["reasons"].str.len().gt(0).all()
    assert set(result.quarantine["file_row"]) <= set(range(2, len(rows) + 2))

    outputs = "\n".join(
        frame.to_csv() for frame in (result.kept, result.quarantine, result.flow, result.recodes)
    )
    assert not [s for s in secrets if s in outputs]
    assert "opmerking" not in outputs  # free text the codebook does not keep
