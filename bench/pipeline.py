"""Time the whole pipeline: a cold run (results/ empty, environment installed) and a no-op rerun.

Runs in a temporary copy of the workflow so that the analyst's results/ stay untouched.
Usage: .venv/bin/python bench/pipeline.py [--cores 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workcopy import copy_workflow


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory(prefix="lcsurvey-bench-") as tmp:
        work = Path(tmp)
        copy_workflow(work)
        command = [snakemake, "--cores", args.cores]
        cold = timed(command, work)
        noop = timed(command, work)
        jobs = len(list((work / "reports").rglob("*.pdf")))
        cpu = job_cpu_times(work / "benchmarks")
    print(f"cold run  ({args.cores} cores): {cold:6.1f} s   (target < 60 s; {jobs} PDF reports)")
    print(f"no-op rerun           : {noop:6.1f} s   (target < 3 s)")
    total = sum(c for _, c in cpu.values())
    # Snakemake samples the job's process tree: short-lived workers (the bootstrap's) are
    # partly missed, so CPU time is a lower bound.
    print(
        f"jobs, by wall time (Snakemake's benchmark files): {len(cpu)} jobs, "
        f"{total:.1f} s CPU in all (a lower bound)"
    )
    for name, (wall, seconds) in sorted(cpu.items(), key=lambda item: -item[1][0]):
        print(f"  {wall:6.1f} s wall {seconds:6.1f} s CPU  {name}")


def job_cpu_times(folder: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per job from Snakemake's benchmark files (columns s, cpu_time)."""
    out = {}
    for path in sorted(folder.rglob("*.tsv")):
        header, values = path.read_text().splitlines()[:2]
        row = dict(zip(header.split("\t"), values.split("\t"), strict=True))
        out[str(path.relative_to(folder).with_suffix(""))] = (
            float(row["s"]),
            float(row["cpu_time"]),
        )
    return out


if __name__ == "__main__":
    main()
