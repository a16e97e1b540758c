"""A copy of the workflow in a scratch folder, so that a timing run leaves results/ untouched."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "config.yaml", "workflow", "data", "notebooks", "envs")


def copy_workflow(destination: Path, names: Iterable[str] = WORKFLOW) -> None:
    """Copy the named files and folders of the repository root into `destination`."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        elif source.exists():
            shutil.copy2(source, destination / name)
