"""The last check before anything leaves the project: nothing published identifies a person.

`check_folder` reads every file of a folder to be published (``publish/``, its data package
included) and lists each problem with its file and column:

- a column that holds PII, free text, the response id or the person code by its name (the
  codebook's ``pii``, ``free_text``, ``id`` and ``person`` columns, or a name like a contact
  detail: e-mail, phone, name, address, IP, location, postcode, birth date);
- a value that is a raw person code or response id of one of the waves' exports, a free-text
  answer of them, or an e-mail address (in a table cell, or anywhere in a page's text);
- a group below ``report.min_cell``: a category of a data-package table's background variable
  (labelled, a quasi-identifier or the cluster) with fewer answers, or a count column (``n``, ``n_*``) of any table with a value from 1 to
  min_cell - 1;
- a combination of the codebook's quasi-identifiers shared by fewer than k respondents in a
  data-package table (k-anonymity as sdcMicro counts it: lcsurvey.survey.disclosure), or by
  fewer than k persons when the waves' tables are linked by ``rid``.

`secrets_of_raw` collects the person codes, response ids and free-text answers of the raw
exports (read as the pipeline reads them, PII columns dropped unread), which only this check
sees. PDFs are compressed and are not searched; they come from the same pages as the HTML.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from lcsurvey.errors import InputError
from lcsurvey.report.datapackage import PERSONAL_NAME, personal_names
from lcsurvey.schema import defaults
from lcsurvey.survey import disclosure
from lcsurvey.survey.codebook import Codebook, load_codebook
from lcsurvey.survey.io import read_raw

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Words of a text that could be a code: letters, digits and the signs codes use.
TOKEN = re.compile(r"[\w@.+-]+")
# Shorter codes (a "7", an "ab") would match ordinary numbers and words.
SHORTEST_CODE = 4
# A free-text answer shorter than this ("nee", "n.v.t.") says nothing about a person and
# would match ordinary words.
SHORTEST_TEXT = 12
TEXT_SUFFIXES = {".html", ".htm", ".json", ".txt", ".md", ".xml", ".svg"}
COUNT_COLUMN = re.compile(r"^n(_.*)?$", re.IGNORECASE)


def _normal(text: object) -> str:
    return " ".join(str(text).split()).casefold()


@dataclass
class Secrets:
    """What the raw exports hold that must never be published."""

    codes: set[str] = field(default_factory=set)  # person codes and response ids, normalised
    free_text: set[str] = field(default_factory=set)  # free-text answers, normalised


def secrets_of_raw(
    raw_files: Mapping[str, tuple[Path, Mapping[str, Any]]], book: Codebook
) -> Secrets:
    """The person codes, response ids and free-text answers of each wave's raw export.

    Parameters
    ----------
    raw_files
        Wave -> (the export, its reading options of config.yaml: encoding, sheet).
    book
        The codebook: its ``id``, ``person`` and ``free_text`` columns (per wave).
    """
    found = Secrets()
    for wave, (path, options) in raw_files.items():
        table = read_raw(path, pii=book.pii, **{k: v for k, v in options.items() if v})
        frame = table.frame
        for name in (book.id, book.person):
            if name and name in frame:
                found.codes |= {
                    _normal(v) for v in frame[name].dropna() if len(_normal(v)) >= SHORTEST_CODE
                }
        for spec in book.free_text.values():
            column = spec.get("wave_columns", {}).get(wave, spec["column"])
            if column in frame:
                found.free_text |= {
                    _normal(v) for v in frame[column].dropna() if len(_normal(v)) >= SHORTEST_TEXT
                }
    return found


@dataclass(frozen=True)
class Finding:
    """One reason not to publish: where and what."""

    file: str
    column: str | None
    problem: str
    value: str | None = None

    def __str__(self) -> str:
        where = self.file + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.problem}" + (f" ({self.value})" if self.value else "")


def _cell_problem(text: str, secrets: Secrets) -> tuple[str, str] | None:
    normal = _normal(text)
    if normal in secrets.free_text:
        return "a free-text answer", "an answer of the raw export"
    for token in TOKEN.findall(normal):
        if token in secrets.codes:
            return "a raw person code or response id", token
    if EMAIL.search(text):
        return "an e-mail address", None
    return None


def _table_findings(
    path: Path,
    name: str,
    frame: pd.DataFrame,
    book: Codebook,
    secrets: Secrets,
    forbidden: set[str],
    min_cell: int,
) -> list[Finding]:
    found = []
    for column in frame.columns:
        if column.casefold() in forbidden or PERSONAL_NAME.search(column):
            found.append(Finding(name, column, "a PII, free-text, id or person column"))
            continue
        values = frame[column].dropna().astype(str)
        for text in values.unique():
            problem = _cell_problem(text, secrets)
            if problem:
                found.append(Finding(name, column, problem[0], problem[1]))
                break
        if COUNT_COLUMN.match(column):
            counts = pd.to_numeric(frame[column], errors="coerce")
            small = counts[(counts > 0) & (counts < min_cell)]
            if len(small):
                found.append(
                    Finding(
                        name,
                        column,
                        f"a group below report.min_cell ({min_cell})",
                        f"n = {int(small.iloc[0])}",
                    )
                )
    return found


def _k_findings(name: str, frame: pd.DataFrame, quasi: list[str], k: int) -> list[Finding]:
    """A combination of the quasi-identifiers in `frame` shared by fewer than `k` rows."""
    keys = [column for column in quasi if column in frame]
    if not keys or frame.empty:
        return []
    frame = frame.reset_index(drop=True)
    fk = disclosure.key_frequencies(frame, keys)
    if fk.min() >= k:
        return []
    row = int(fk.idxmin())
    combination = ", ".join(f"{key}={frame.at[row, key]}" for key in keys)
    return [
        Finding(
            name,
            ", ".join(keys),
            f"a combination of quasi-identifiers shared by fewer than k = {k} "
            f"respondents ({int((fk < k).sum())} rows)",
            f"row {row + 2}: {combination}, shared by {int(fk.min())}",
        )
    ]


def _package_findings(
    folder: Path, package: Path, book: Codebook, min_cell: int, k: int, cluster: str | None
) -> list[Finding]:
    """Small categories and k-anonymity in the data package's tables of responses."""
    found = []
    descriptor = json.loads(package.read_text(encoding="utf-8"))
    quasi = disclosure.quasi_identifiers(book.background)
    linked: list[pd.DataFrame] = []
    for resource in descriptor.get("resources", []):
        path = package.parent / resource["path"]
        name = str(path.relative_to(folder))
        fields = resource.get("schema", {}).get("fields", [])
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)
        for spec in fields:
            column = spec["name"]
            grouped = spec.get("categories") or column in quasi or column == cluster
            if column in book.background and grouped and column in frame:
                counts = frame[column].value_counts(dropna=True)
                small = counts[counts < min_cell]
                if len(small):
                    found.append(
                        Finding(
                            name,
                            column,
                            f"a group below report.min_cell ({min_cell})",
                            f"{small.index[0]}: n = {int(small.iloc[0])}",
                        )
                    )
        found += _k_findings(name, frame, quasi, k)
        keys = [column for column in quasi if column in frame]
        if keys and "rid" in frame and frame["rid"].notna().all() and frame["rid"].is_unique:
            linked.append(frame.set_index("rid")[keys].add_prefix(f"{resource['name']}:"))
    if len(linked) > 1:
        # The same rid in every wave: a person's rows side by side (absent: any value).
        persons = pd.concat(linked, axis=1).reset_index(drop=True)
        for finding in _k_findings(str(package.relative_to(folder)), persons, list(persons), k):
            found.append(
                Finding(
                    finding.file,
                    finding.column,
                    finding.problem.replace("respondents", "persons over the waves linked by rid"),
                    finding.value,
                )
            )
    return found


def check_folder(
    folder: Path,
    book: Codebook,
    secrets: Secrets,
    waves: Iterable[str],
    min_cell: int,
    k: int | None = None,
    cluster: str | None = None,
) -> list[Finding]:
    """Every reason not to publish `folder` (empty when it may go out), file by file.

    Parameters
    ----------
    folder
        What would be published (e.g. publish/ or its staging copy).
    book
        The codebook (PII, free-text, id and person columns; quasi-identifiers).
    secrets
        What the raw exports hold (`secrets_of_raw`).
    waves
        The waves, for their free-text column names.
    min_cell
        config report.min_cell: the smallest group that may be shown.
    k
        The k of k-anonymity for the quasi-identifiers (default `min_cell`).
    cluster
        config estimation.cluster: its categories are groups, labelled or not.
    """
    k = k or min_cell
    forbidden = {name.casefold() for name in personal_names(book, list(waves))}
    found: list[Finding] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.suffix.lower() in (".csv", ".parquet"):
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)
            else:
                frame = pd.read_parquet(path)
            found += _table_findings(path, name, frame, book, secrets, forbidden, min_cell)
            if path.suffix.lower() == ".parquet":
                # Microdata outside a data package (a pooled or quarantine file): k as well.
                found += _k_findings(name, frame, disclosure.quasi_identifiers(book.background), k)
        elif path.suffix.lower() in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="replace")
            normal = _normal(re.sub(r"<[^>]+>", " ", text))
            token = next((t for t in TOKEN.findall(normal) if t in secrets.codes), None)
            if token:
                found.append(Finding(name, None, "a raw person code or response id", token))
            if any(answer in normal for answer in secrets.free_text):
                found.append(Finding(name, None, "a free-text answer of the raw export"))
            email = EMAIL.search(re.sub(r"data:[^\"')\s]+", " ", text))
            if email:
                found.append(Finding(name, None, "an e-mail address"))
        if path.name == "datapackage.json":
            found += _package_findings(folder, path, book, min_cell, k, cluster)
    return found


def assert_publishable(folder: Path, *args: Any, **kwargs: Any) -> None:
    """`check_folder`, stopping at the first problem with its file and column (and how many)."""
    found = check_folder(folder, *args, **kwargs)
    if found:
        first = found[0]
        more = (
            f"; {len(found) - 1} more: " + "; ".join(map(str, found[1:4])) if len(found) > 1 else ""
        )
        raise InputError(
            f"publishing would disclose {first.problem}",
            file=first.file,
            column=first.column,
            value=first.value,
            expected="no PII, person code, free text, group below report.min_cell or "
            "combination of quasi-identifiers below k in anything published" + more,
        )


def check_arguments(config_path: Path, config: Mapping[str, Any], book: Codebook) -> dict[str, Any]:
    """`check_folder`'s arguments but the folder, from config.yaml: the raw exports' secrets,
    the waves, report.min_cell, publish.disclosure.k and estimation.cluster."""
    fallback = defaults("config")
    min_cell = int((config.get("report") or {}).get("min_cell", fallback["report"]["min_cell"]))
    control = (config.get("publish") or {}).get("disclosure") or {}
    cluster = (config.get("estimation") or {}).get("cluster", fallback["estimation"]["cluster"])
    raw_files = {
        wave: (
            config_path.parent / (spec if isinstance(spec, str) else spec["path"]),
            {} if isinstance(spec, str) else {k: spec.get(k) for k in ("encoding", "sheet")},
        )
        for wave, spec in config["waves"].items()
    }
    return {
        "book": book,
        "secrets": secrets_of_raw(raw_files, book),
        "waves": list(config["waves"]),
        "min_cell": min_cell,
        "k": int(control.get("k") or min_cell),
        "cluster": cluster,
    }


def main(argv: list[str] | None = None) -> int:
    """``lcsurvey privacy-check FOLDER``: check any folder before it is shared."""
    parser = argparse.ArgumentParser(
        prog="lcsurvey privacy-check",
        description="Check a folder before it leaves the project (publish/ is checked by "
        "publish itself): PII columns, raw person codes and response ids, free-text answers, "
        "e-mail addresses, groups below report.min_cell, combinations of quasi-identifiers "
        "below k in CSV, Parquet and text files.",
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--config", default="config.yaml", type=Path)
    args = parser.parse_args(argv)
    try:
        config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        book = load_codebook(args.config.parent / config.get("codebook", "data/codebook.yaml"))
        found = check_folder(args.folder, **check_arguments(args.config, config, book))
    except (InputError, OSError) as err:
        print(f"ERROR: {getattr(err, 'message', err)}", file=sys.stderr)
        return 1
    for finding in found:
        print(f"ERROR: {finding}")
    if found:
        print(f"{len(found)} problem(s): do not share {args.folder}")
        return 1
    print(f"nothing found that identifies a person in {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
