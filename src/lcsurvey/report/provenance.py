"""The two-pager's provenance footer: which data, configuration, code and software made it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from lcsurvey.digest import sha256_file

UNKNOWN = "unknown"
# The software that made the numbers and the report, in the order the footer names it.
SOFTWARE = (
    "pandas",
    "numpy",
    "scipy",
    "semopy",
    "snakemake",
    "matplotlib",
    "papermill",
    "nbconvert",
    "weasyprint",
)


def software_versions() -> dict[str, str]:
    """Versions of the software that made the numbers and the report."""
    versions = {"Python": ".".join(str(v) for v in sys.version_info[:3])}
    for package in SOFTWARE:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "–"
    return versions


def code_version(repo_dir: str | Path | None = None) -> str:
    """The git commit of the code, or 'unknown' outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_dir or None,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return result.stdout.strip() or UNKNOWN


def report_date(wave: str) -> str:
    """SOURCE_DATE_EPOCH as a UTC date when set, else the wave id; never the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if re.fullmatch(r"\d+", epoch):
        return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%d")
    return str(wave)


def provenance(
    wave: str,
    data_file: str | Path | None,
    config_digest: str | None = None,
    repo_dir: str | Path | None = None,
) -> dict[str, str]:
    """The footer's facts: SHA-256 of the raw file ('unknown' without one), the configuration
    digest the workflow computed (waves after this one left out), the git commit (of repo_dir,
    default the working directory) and the report date."""
    has_data = data_file is not None and Path(data_file).is_file()
    return {
        "data_sha256": sha256_file(data_file) if has_data else UNKNOWN,
        "config_sha256": config_digest or UNKNOWN,
        "code_version": code_version(repo_dir),
        "date": report_date(wave),
    }
