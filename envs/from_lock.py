"""Write envs/lcsurvey.yaml from requirements.lock, so conda users get the same pinned versions."""

import sys
from pathlib import Path

lock, out = Path(sys.argv[1]), Path(sys.argv[2])
pins = [
    line.strip()
    for line in lock.read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
python = f"{sys.version_info.major}.{sys.version_info.minor}"
lines = [
    "# Generated from requirements.lock by 'make lock'; do not edit by hand.",
    "# From the repo root: conda env create -f envs/lcsurvey.yaml && conda activate lcsurvey",
    "name: lcsurvey",
    "channels:",
    "  - conda-forge",
    "dependencies:",
    f"  - python={python}",
    "  - pip",
    "  - pango  # WeasyPrint's text layout library",
    "  - pip:",
    *[f"      - {pin}" for pin in pins],
    # The package itself, editable, so that a --use-conda job imports this checkout's lcsurvey.
    "      # ${PWD}, not '..': conda runs pip in the folder of the environment file, and Snakemake",
    "      # creates --use-conda environments from a copy in .snakemake/conda/, where '..' is not",
    "      # the repo. pip expands ${PWD}: the folder conda or snakemake was started in, the repo",
    "      # root (Snakemake's own working directory when started with --directory).",
    "      - -e ${PWD}",
]
out.write_text("\n".join(lines) + "\n")
