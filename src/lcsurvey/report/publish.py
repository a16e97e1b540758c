"""Assemble reports/ into a self-contained static folder that any static web host can serve.

The folder holds index.html, every wave's two-pagers (HTML with embedded figures and fonts
from the reader's system, and the PDFs) and PROVENANCE.txt: the SHA-256 of every published file,
of each wave's raw data and of config.yaml, and the code version. Nothing in it points outside
the folder; publishing fails if an HTML page would load anything from the network.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import yaml

from lcsurvey.errors import InputError
from lcsurvey.report.provenance import code_version
from lcsurvey.survey.io import sha256_file

# src= / href= / url() pointing at another host, which a self-contained page must not have.
_EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.IGNORECASE
)


def publish(reports: Path, out: Path, config_path: Path) -> list[Path]:
    """Copy the reports into `out` (replaced), check them, write PROVENANCE.txt; return the files."""
    index = reports / "index.html"
    if not index.is_file():
        raise InputError("no reports to publish", file=str(index), hint="Run 'make run' first")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
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
    if out.exists():
        shutil.rmtree(out)
    published = []
    for path in files:
        target = out / path.relative_to(reports)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        published.append(target)
    lines = [
        f"code version (git): {code_version(config_path.parent)}",
        f"config.yaml sha256: {sha256_file(config_path)}",
    ]
    for wave, spec in config["waves"].items():
        raw = config_path.parent / (spec if isinstance(spec, str) else spec["path"])
        lines.append(f"raw data of wave {wave} ({raw.name}) sha256: {sha256_file(raw)}")
    lines.append("")
    lines += [f"{sha256_file(path)}  {path.relative_to(out)}" for path in published]
    (out / "PROVENANCE.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", default="reports", type=Path)
    parser.add_argument("--out", default="publish", type=Path)
    parser.add_argument("--config", default="config.yaml", type=Path)
    args = parser.parse_args(argv)
    try:
        files = publish(args.reports, args.out, args.config)
    except InputError as err:
        print(f"ERROR: {err.message}", file=sys.stderr)
        return 1
    print(f"published {len(files)} files and PROVENANCE.txt to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
