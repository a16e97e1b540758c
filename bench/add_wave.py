"""Time adding a third wave to an up-to-date project against a cold run of the two bundled waves.

In a temporary copy of the workflow: a cold run of the two bundled waves, then a third simulated
wave (returners of 2022-06, as `make demo-wave` writes it) is added with its config line and the
pipeline is run again. Reports both times, their ratio (target: the new wave costs less than 60%
of the cold run) and the jobs each run executed.
Usage: .venv/bin/python bench/add_wave.py [--cores 2] [--n 300]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from workcopy import copy_workflow

from lcsurvey.study.waves import add_wave_line

WAVE = "2023-01"
TARGET = 0.60


def timed(command: list[str], cwd: Path) -> tuple[float, Counter]:
    start = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{run.stderr[-3000:]}")
    jobs = Counter(re.findall(r"^(?:local)?rule (\w+):", run.stdout + run.stderr, re.MULTILINE))
    return elapsed, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", default="2")
    parser.add_argument("--n", default="300", help="rows of the added wave")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    snakemake = [str(bin_dir / "snakemake"), "--cores", args.cores]

    with tempfile.TemporaryDirectory(prefix="lcsurvey-bench-") as tmp:
        work = Path(tmp)
        copy_workflow(work)
        cold, cold_jobs = timed(snakemake, work)
        subprocess.run(
            [
                str(bin_dir / "lcsurvey-simulate"),
                "--out",
                "data/raw",
                "--wave",
                WAVE,
                "--n",
                args.n,
                "--format",
                "csv",
                "--previous",
                "data/raw/wave_2022-06.sav",
            ],
            cwd=work,
            check=True,
            capture_output=True,
        )
        add_wave_line(work / "config.yaml", WAVE, f"data/raw/wave_{WAVE}.csv")
        started = time.time()
        added, added_jobs = timed(snakemake, work)
        # Wall time of each job of the second run, from the rules' benchmark files.
        rerun = {
            str(p.relative_to(work / "benchmarks")): float(
                p.read_text().split("\n")[1].split("\t")[0]
            )
            for p in (work / "benchmarks").rglob("*.tsv")
            if p.stat().st_mtime >= started
        }
    ratio = added / cold
    print(
        f"cold run, two bundled waves ({args.cores} cores): {cold:6.1f} s  "
        f"{sum(cold_jobs.values())} jobs"
    )
    print(
        f"adding wave {WAVE} ({args.n} rows)       : {added:6.1f} s  "
        f"{sum(added_jobs.values())} jobs"
    )
    print(
        f"ratio: {ratio:.0%} of the cold run (target < {TARGET:.0%}): "
        f"{'met' if ratio < TARGET else 'NOT met'}"
    )
    old_reports = sum(
        s for name, s in rerun.items() if not name.startswith(WAVE) and "report_two_pager" in name
    )
    print(
        f"job time of the earlier waves' re-rendered two-pagers: {old_reports:.1f} s of "
        f"{sum(rerun.values()):.1f} s summed over the benchmarked jobs of that run"
    )
    print(
        "jobs of the added wave's run: "
        + ", ".join(f"{name} {count}" for name, count in sorted(added_jobs.items()))
    )


if __name__ == "__main__":
    main()
