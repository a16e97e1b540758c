"""Time a cold run of the whole pipeline on one simulated wave of N exports, job by job.

For each N, in a temporary copy of the workflow: `lcsurvey-simulate` writes one wave of N
exports (as `make demo-wave`, without returners), config.yaml's waves are replaced by that wave
alone, and the pipeline runs cold with the configuration as it is (so a wave above
estimation.bootstrap_max_n gets Monte Carlo intervals instead of the bootstrap). Prints the
run's wall time, the kept rows, the models' interval method and every job's wall time, CPU time
and peak memory from Snakemake's benchmark files.
Usage: .venv/bin/python bench/scale.py [--n 2000 20000] [--cores 2] [--keep DIR]
(--keep: copy each run's results/, reports/ and logs/ to DIR/N for a look afterwards)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from pipeline import job_cpu_times
from workcopy import copy_workflow

WAVE = "2023-01"


def one_wave_config(config: Path, path: str) -> None:
    """Replace the waves of config.yaml by WAVE alone (the other settings as they are)."""
    text = config.read_text()
    block = re.compile(r"^waves:.*\n(?:[ \t]+.*\n|[ \t]*\n)*", re.MULTILINE)
    if not block.search(text):
        sys.exit(f"{config}: no waves block to replace")
    text = block.sub(f'waves:\n  "{WAVE}": {path}\n\n', text, count=1)
    config.write_text(text)


def peak_memory(folder: Path) -> dict[str, float]:
    """Peak resident memory (MB) per job from the benchmark files (column max_rss)."""
    out = {}
    for path in sorted(folder.rglob("*.tsv")):
        header, values = path.read_text().splitlines()[:2]
        row = dict(zip(header.split("\t"), values.split("\t"), strict=True))
        try:
            out[str(path.relative_to(folder).with_suffix(""))] = float(row["max_rss"])
        except ValueError:  # "NA" for a job too short to sample
            out[str(path.relative_to(folder).with_suffix(""))] = float("nan")
    return out


def run(n: int, cores: str, keep: Path | None = None) -> None:
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="lcsurvey-scale-") as tmp:
        work = Path(tmp)
        copy_workflow(work)
        simulate = [
            str(bin_dir / "lcsurvey-simulate"),
            *("--out", "data/raw", "--wave", WAVE, "--n", str(n), "--format", "csv"),
        ]
        subprocess.run(simulate, cwd=work, check=True, capture_output=True)
        one_wave_config(work / "config.yaml", f"data/raw/wave_{WAVE}.csv")
        start = time.perf_counter()
        done = subprocess.run(
            [str(bin_dir / "snakemake"), "--cores", cores], cwd=work, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"the run on {n} exports failed after {wall:.0f} s:\n{done.stderr[-3000:]}")
        kept = len(pd.read_parquet(work / "results" / WAVE / "clean" / "responses.parquet"))
        methods = {
            p.parent.name: pd.read_csv(p)["method"].iloc[0]
            for p in sorted((work / "results" / WAVE / "models").glob("*/bootstrap.csv"))
        }
        cpu = job_cpu_times(work / "benchmarks")
        memory = peak_memory(work / "benchmarks")
        if keep is not None:
            for name in ("results", "reports", "logs", "benchmarks"):
                shutil.copytree(work / name, keep / str(n) / name)
    total = sum(c for _, c in cpu.values())
    print(f"\n{n} exports ({kept} kept), cold run on {cores} cores: {wall:.1f} s wall")
    for model, method in methods.items():
        print(f"  intervals of {model}: {method}")
    # Snakemake samples each job's process tree: short-lived workers are partly missed, so
    # CPU time is a lower bound.
    print(f"  {len(cpu)} jobs, {total:.1f} s CPU in all (a lower bound); by wall time:")
    print(f"  {'wall s':>8} {'CPU s':>8} {'peak MB':>8}  job")
    for name, (job_wall, seconds) in sorted(cpu.items(), key=lambda item: -item[1][0]):
        print(f"  {job_wall:8.1f} {seconds:8.1f} {memory[name]:8.0f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--cores", default="2")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    for n in args.n:
        run(n, args.cores, args.keep)


if __name__ == "__main__":
    main()
