"""Cleaning throughput on a generated wave of 100,000 respondents x 60 items.

Writes a Qualtrics-style CSV (Dutch choice text, metadata, PII, ~5% missing answers) and a
matching codebook to a temporary folder, then times reading + cleaning in a fresh process and
reports its peak memory. Targets: under 20 s and under 2 GB.
Usage: .venv/bin/python bench/clean.py [--rows 100000] [--items 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

LABELS = ["Helemaal mee oneens", "Mee oneens", "Neutraal", "Mee eens", "Helemaal mee eens"]

CHILD = """
import resource, sys, time
start = time.perf_counter()
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
book = load_codebook(sys.argv[1])
result = clean_file(sys.argv[2], book, wave="bench", rules=None, key=b"benchmark key 123456")
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{elapsed:.2f} {peak:.0f} {len(result.kept)} {len(result.quarantine)}")
"""


def write_wave(folder: Path, n_rows: int, n_items: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    trait = rng.normal(size=(n_rows, 1))
    codes = np.clip(np.round(3.4 + 0.9 * trait + rng.normal(size=(n_rows, n_items))), 1, 5)
    text = np.array(LABELS, dtype=object)[codes.astype(int) - 1]
    text[rng.random(text.shape) < 0.05] = ""
    frame = pd.DataFrame(text, columns=[f"Q{j + 1}" for j in range(n_items)])
    people = np.arange(n_rows)
    repeat = rng.random(n_rows) < 0.02  # about 2% submit twice
    people[repeat] = rng.integers(0, n_rows, int(repeat.sum()))
    meta = pd.DataFrame(
        {
            "StartDate": "2022-06-01 10:00:00",
            "Status": np.where(rng.random(n_rows) < 0.01, "Survey Preview", "IP Address"),
            "IPAddress": [f"10.0.{i % 250}.{i % 199}" for i in range(n_rows)],
            "Progress": np.where(rng.random(n_rows) < 0.05, rng.integers(10, 99, n_rows), 100),
            "Duration (in seconds)": rng.gamma(4, 200, n_rows).round(),
            "ResponseId": [f"R_{i:012d}" for i in range(n_rows)],
            "ExternalReference": [f"LC-{p:07d}" for p in people],
            "RecipientEmail": [f"person{p}@example.org" for p in people],
            "Q0": np.where(rng.random(n_rows) < 0.02, "Nee", "Ja"),
        }
    )
    path = folder / "wave.csv"
    pd.concat([meta, frame], axis=1).to_csv(path, index=False)
    codebook = {
        "id": "ResponseId",
        "person": "ExternalReference",
        "pii": ["RecipientEmail", "IPAddress"],
        "meta": {
            "status": {"column": "Status", "preview": ["Survey Preview"]},
            "consent": {"column": "Q0", "scale": "yesno", "yes": 1},
            "progress": {"column": "Progress"},
            "duration": {"column": "Duration (in seconds)"},
        },
        "scales": {
            "agree5": {
                "values": {i + 1: [label] for i, label in enumerate(LABELS)},
                "missing": [-99],
            },
            "yesno": {"values": {1: ["Ja"], 2: ["Nee"]}},
        },
        "items": {f"i{j + 1}": {"column": f"Q{j + 1}", "scale": "agree5"} for j in range(n_items)},
        "constructs": {
            f"c{b}": {"items": [f"i{j + 1}" for j in range(b * 6, b * 6 + 6)]}
            for b in range(n_items // 6)
        },
    }
    book = folder / "codebook.yaml"
    book.write_text(yaml.safe_dump(codebook, allow_unicode=True), encoding="utf-8")
    return path, book


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lcsurvey-bench-clean-") as tmp:
        start = time.perf_counter()
        wave, book = write_wave(Path(tmp), args.rows, args.items)
        made = time.perf_counter() - start
        size = wave.stat().st_size / 1e6
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(book), str(wave)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    seconds, peak_mb, kept, quarantined = float(out[0]), float(out[1]), int(out[2]), int(out[3])
    print(
        f"wave: {args.rows:,} rows x {args.items} items, {size:.0f} MB CSV (made in {made:.1f} s)"
    )
    print(
        f"read + clean: {seconds:.1f} s (target < 20 s), peak memory {peak_mb:,.0f} MB "
        f"(target < 2,048 MB); kept {kept:,}, quarantined {quarantined:,}"
    )


if __name__ == "__main__":
    main()
