"""Parameter recovery of the transfer model's structural paths over many simulated waves.

The larger run behind tests/test_recovery.py: R waves of N respondents from the population
model (lcsurvey.study.simulate), 8% of the answers missing completely at random, the configured
transfer model fitted by FIML; per path the stated truth, the population value of this model
(lcsurvey.study.recovery.population_values), mean std_all, bias with its Monte Carlo SE, SD of the
estimates against the mean delta-method SE, and coverage of the 95% CIs of std_all.
Usage: .venv/bin/python bench/recovery.py [--replications 500] [--n 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from lcsurvey.study.recovery import population_values, replicate, stated_truth, summarise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONSTRUCTS = {
    "climate": "climate",
    "safety": "psychological_safety",
    "learning": "learning_behaviour",
    "perceived": "perceived_learning",
    "support": "home_support",
    "transfer": "knowledge_transfer",
}


def _one(task: tuple[str, int, int]) -> pd.DataFrame:
    syntax, replication, n = task
    return replicate(syntax, replication, n=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=500)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    syntax = yaml.safe_load((ROOT / "config.yaml").read_text())["models"]["transfer"]
    start = time.perf_counter()
    tasks = [(syntax, r, args.n) for r in range(args.replications)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        replications = pd.concat(pool.map(_one, tasks, chunksize=5))
    seconds = time.perf_counter() - start
    table = summarise(replications, population_values(syntax), stated_truth(syntax, CONSTRUCTS))
    print(f"{args.replications} waves of {args.n}, FIML, {args.workers} workers: {seconds:.0f} s")
    print(table.round(4).to_string(index=False))
    covered = (table["coverage"] * table["replications"]).sum() / table["replications"].sum()
    print(f"pooled coverage of the 95% CIs of std_all: {covered:.3f}")


if __name__ == "__main__":
    main()
