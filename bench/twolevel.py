"""Time the two-level fit against lavaan's sem(cluster =), each as a whole process.

Fits the lavaan tutorial's two-level model on Demo.twolevel (tests/fixtures/twolevel: 2,500
rows in 200 clusters), with complete data and with 200 values of y1 missing
(missing = "ml"), as whole processes (interpreter start, imports, reading the file, fit and
fit measures): lcsurvey.sem.twolevel.fit_twolevel, and lavaan's sem() + fitMeasures() when
Rscript is available. Prints the times, their ratio and chisq from both.
Usage: .venv/bin/python bench/twolevel.py [--repeats 3] [--no-lavaan]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "twolevel"
MODEL = (
    "level: 1\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
    "level: 2\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2"
)
PYTHON_JOB = """
import sys, warnings
import pandas as pd
from lcsurvey.sem.twolevel import fit_twolevel
warnings.simplefilter("ignore")
data = pd.read_csv(sys.argv[1])
fit = fit_twolevel(sys.argv[2], data, "cluster", missing=sys.argv[3])
print(float(fit.fit["chisq"].iloc[0]))
"""
R_JOB = """
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
fit <- sem(args[2], data = data, cluster = "cluster", missing = args[3])
cat(fitMeasures(fit, "chisq"), "\\n")
"""
CASES = {"complete": ("data.csv", "listwise"), "missing": ("data_missing.csv", "ml")}


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-lavaan", action="store_true")
    args = parser.parse_args()
    rscript = None if args.no_lavaan else shutil.which("Rscript")
    for case, (file, missing) in CASES.items():
        path = str(FIXTURES / file)
        ours = [timed([sys.executable, "-c", PYTHON_JOB, path, MODEL, missing])
                for _ in range(args.repeats)]  # fmt: skip
        best = min(t for t, _ in ours)
        line = f"{case:9s} lcsurvey {best:6.2f} s (chisq {float(ours[0][1]):.4f})"
        if rscript:
            theirs = [timed([rscript, "-e", R_JOB, path, MODEL, missing])
                      for _ in range(args.repeats)]  # fmt: skip
            r_best = min(t for t, _ in theirs)
            line += (f"  lavaan {r_best:6.2f} s (chisq {float(theirs[0][1]):.4f})"
                     f"  ratio {r_best / best:4.1f}x")  # fmt: skip
        print(line, flush=True)


if __name__ == "__main__":
    main()
