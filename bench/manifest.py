"""SHA-256 manifest of a run's outputs, to show that a change of code leaves every number alone.

    python bench/manifest.py write [--out FILE]   # after `make run`: record the manifest
    python bench/manifest.py check [--against FILE]   # after `make run`: compare with it

The manifest lists every table under results/ (CSV and parquet, byte for byte) and the text
of every PDF under reports/ (pdftotext -layout, with the code version's commit id masked,
since it names the commit that made the report). `make manifest-check` runs the pipeline and
checks against the committed manifest, bench/results.sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "bench" / "results.sha256"
TABLES = ("*.csv", "*.parquet")
COMMIT = re.compile(r"\b[0-9a-f]{40}(?:\+dirty)?\b")
# The line of the provenance table that holds the commit id: nl "Codeversie", en "Code version".
VERSION_LINE = re.compile(r"^(\s*Code\s*versi\w*.*?)\s+\S+\s*$", re.IGNORECASE)


def pdf_text(path: Path) -> bytes:
    """The PDF's text, with the commit that made it masked."""
    if shutil.which("pdftotext") is None:
        raise SystemExit(
            "bench/manifest.py needs pdftotext for the reports' text: apt-get install poppler-utils"
        )
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    lines = []
    for line in text.splitlines():
        line = COMMIT.sub("<commit>", line)
        match = VERSION_LINE.match(line)
        lines.append(f"{match.group(1)} <version>" if match else line)
    return "\n".join(lines).encode("utf-8")


def manifest(root: Path = ROOT) -> dict[str, str]:
    """Relative path -> SHA-256 (a PDF's entry is that of its text, marked ' (text)')."""
    out = {}
    for pattern in TABLES:
        for path in sorted((root / "results").rglob(pattern)):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted((root / "reports").rglob("*.pdf")):
        out[f"{path.relative_to(root)} (text)"] = hashlib.sha256(pdf_text(path)).hexdigest()
    return dict(sorted(out.items()))


def read(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        entries[name] = digest
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--file", type=Path, default=MANIFEST)
    args = parser.parse_args(argv)
    now = manifest()
    if not now:
        print("no results/ or reports/ to record: run `make run` first", file=sys.stderr)
        return 2
    if args.action == "write":
        args.file.write_text("".join(f"{d}  {n}\n" for n, d in now.items()), encoding="utf-8")
        print(f"{len(now)} entries written to {args.file}")
        return 0
    before = read(args.file)
    changed = sorted(n for n in before.keys() & now.keys() if before[n] != now[n])
    missing = sorted(before.keys() - now.keys())
    extra = sorted(now.keys() - before.keys())
    for label, names in (("changed", changed), ("missing", missing), ("new", extra)):
        for name in names:
            print(f"{label}: {name}")
    if changed or missing or extra:
        print(
            f"manifest differs from {args.file}: {len(changed)} changed, {len(missing)} "
            f"missing, {len(extra)} new",
            file=sys.stderr,
        )
        return 1
    print(f"all {len(now)} entries identical to {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
