"""Assemble reports/ into a self-contained static folder that any static web host can serve.

The folder holds index.html (every wave and language with its date, N and digests, linking
each report's HTML, PDF and provenance, the data package and PROVENANCE.txt; render.link_site),
every wave's two-pagers (HTML with embedded figures and fonts from the reader's system, and the
PDFs), data/: a Frictionless Data Package of the cleaned, pseudonymised responses and the scale
scores (lcsurvey.report.datapackage), and PROVENANCE.txt: the SHA-256 of every published file, of each wave's raw data and of
config.yaml, and the code version. Nothing in it points outside the folder; publishing fails
if an HTML page would load anything from the network or the data package does not validate.
The folder is assembled beside `out` and moved into place only when complete, so a failed
publish leaves no half-written folder (and an earlier one as it was).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import yaml

from lcsurvey.errors import InputError
from lcsurvey.report import datapackage, privacy
from lcsurvey.report.provenance import code_version
from lcsurvey.report.render import link_site
from lcsurvey.schema import defaults
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.io import sha256_file

# src= / href= / url() pointing at another host, which a self-contained page must not have.
_EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.IGNORECASE
)


def _settings(config: dict) -> tuple[dict, int, str | None]:
    """config `publish:` with its defaults, report.min_cell and estimation.cluster."""
    fallback = defaults("config")
    settings = {**fallback["publish"], **(config.get("publish") or {})}
    min_cell = (config.get("report") or {}).get("min_cell", fallback["report"]["min_cell"])
    cluster = (config.get("estimation") or {}).get("cluster", fallback["estimation"]["cluster"])
    return settings, int(min_cell), cluster


def publish(reports: Path, out: Path, config_path: Path, results: Path | None = None) -> list[Path]:
    """Assemble `out` (replaced): the reports, checked; the data package, validated; PROVENANCE.txt.

    Parameters
    ----------
    reports
        The rendered reports (reports/).
    out
        The folder to publish into; replaced only when everything is in place.
    config_path
        config.yaml; its `codebook`, `waves`, `report.min_cell`, `estimation.cluster` and
        `publish` are read.
    results
        The pipeline's results/ (default: beside config.yaml).

    Returns
    -------
    The files published, PROVENANCE.txt not among them.
    """
    index = reports / "index.html"
    if not index.is_file():
        raise InputError("no reports to publish", file=str(index), hint="Run 'make run' first")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    results = config_path.parent / "results" if results is None else results
    files = [index]
    for wave in config["waves"]:
        for path in sorted((reports / wave).glob("two_pager_*.*")):
            if path.suffix in (".html", ".pdf"):
                files.append(path)
    for path in files:
        if path.suffix == ".html":
            found = _EXTERNAL.search(path.read_text(encoding="utf-8"))
            if found:
                raise InputError(
                    "the page loads something from another host",
                    file=str(path),
                    value=found.group(0),
                    expected="only embedded resources",
                )
    book = load_codebook(config_path.parent / config.get("codebook", "data/codebook.yaml"))
    settings, min_cell, cluster = _settings(config)
    control = settings.get("disclosure") or {}
    tables = datapackage.package_tables(
        results, book, list(config["waves"]), min_cell, cluster, control
    )
    check = privacy.check_arguments(config_path, config, book)
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        published = _assemble(reports, files, tables, settings, staging, config_path, config)
        # The last door: nothing in the folder identifies a person (file and column named).
        privacy.assert_publishable(staging, **check)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return [out / path.relative_to(staging) for path in published]


def _assemble(
    reports: Path,
    files: list[Path],
    tables: list[datapackage.Table],
    settings: dict,
    staging: Path,
    config_path: Path,
    config: dict,
) -> list[Path]:
    """Copy the reports, write and validate the data package, write PROVENANCE.txt."""
    published = []
    for path in files:
        target = staging / path.relative_to(reports)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        published.append(target)
    package = datapackage.write_package(tables, settings, staging / "data")
    datapackage.validate_package(staging / "data" / "datapackage.json")
    published += package
    # The index lists every report with its date, N and digests and links its PDF, the data
    # package and the provenance; each two-pager links them too (render.link_site).
    link_site(
        staging, [p for p in published if p.name.startswith("two_pager_") and p.suffix == ".html"]
    )
    lines = [
        f"code version (git): {code_version(config_path.parent)}",
        f"config.yaml sha256: {sha256_file(config_path)}",
    ]
    for wave, spec in config["waves"].items():
        raw = config_path.parent / (spec if isinstance(spec, str) else spec["path"])
        lines.append(f"raw data of wave {wave} ({raw.name}) sha256: {sha256_file(raw)}")
    lines.append("")
    lines += [f"{sha256_file(path)}  {path.relative_to(staging)}" for path in published]
    (staging / "PROVENANCE.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", default="reports", type=Path)
    parser.add_argument("--out", default="publish", type=Path)
    parser.add_argument("--config", default="config.yaml", type=Path)
    parser.add_argument(
        "--results", default=None, type=Path, help="results/ (default: beside --config)"
    )
    args = parser.parse_args(argv)
    try:
        files = publish(args.reports, args.out, args.config, args.results)
    except InputError as err:
        print(f"ERROR: {err.message}", file=sys.stderr)
        return 1
    print(f"published {len(files)} files and PROVENANCE.txt to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
