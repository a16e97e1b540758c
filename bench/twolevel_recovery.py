"""Recovery of the study's two-level transfer model: bias, RMSE and coverage over simulated waves.

Each replication simulates one wave of clean respondents with NEW communities (profiles and
effects drawn afresh, so the community parts are random effects), scores it with the project's
scoring (mean of the answered items; the simulator's answers are already in the cleaned,
reverse-keyed direction, and a clean wave has no mess for the cleaning stage to remove - the
documented shortcut for the clean -> score stages) and fits
lcsurvey.study.simulate.levels.TRANSFER_LEVELS (config.yaml's transfer_levels) by two-level ML
(lcsurvey.sem.twolevel.fit_twolevel). The truths are the model's population values
(levels.TRUTH, levels.SCENARIO_TRUTH; TRUTH.yaml's transfer_levels).

Designs: the bundled waves' (the simulator's 25 community profiles, 306 and 228 respondents as
in the cleaned waves 2021-12 and 2022-06; 23-25 communities answer) and 80 communities of the
same mean size (980 respondents). Scenarios: "bundled", the simulator's between part (only the
climate has a community effect, so the level-2 paths a1b, a2b, bb and the between indirect
effect are not identified: their rows show what the estimator does then, without a truth), and
"between" (levels.SCENARIO: climate ICC .20, a community part of .10 of every chain construct's
disturbance, stronger level-2 paths), where every path has a population value.

Printed per scenario and design: truth, mean, bias, relative bias, median bias, RMSE, SD of the
estimates against the median SE, coverage of the 95% Wald intervals (converged fits), the
share of fits with no SE, failed fits (an error), non-converged fits and fits with a Heywood
case (all replications). Written: bench/results/twolevel_recovery.csv (the table) and, with
--replications-out, every replication's estimates.
Usage: nice -n 10 .venv/bin/python bench/twolevel_recovery.py [--replications 300]
       [--workers 2] [--scenarios bundled between] [--designs 25:306 25:228 80:980]
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

from lcsurvey.study import recovery_levels as rl  # noqa: E402
from lcsurvey.study.simulate import levels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "bundled": (None, levels.TRUTH),
    "between": (levels.SCENARIO, levels.SCENARIO_TRUTH),
}
CLEAN = ["clean_share", "clean_bias", "clean_median_bias", "clean_rmse", "clean_coverage"]
SHOWN = [
    "label",
    "truth",
    "mean",
    "bias",
    "rel_bias",
    "median_bias",
    "rmse",
    "sd",
    "median_se",
    "coverage",
    "no_se",
    "failed",
    "not_converged",
    "heywood",
]


def _one(task: tuple[str, int, int, int]) -> pd.DataFrame:
    scenario, communities, n, replication = task
    between, _ = SCENARIOS[scenario]
    frame = rl.replicate(replication, n=n, communities=communities, between=between)
    return frame.assign(scenario=scenario, design=f"{communities}:{n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument(
        "--designs",
        nargs="+",
        default=["25:306", "25:228", "80:980"],
        help="communities:respondents per wave",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "twolevel_recovery.csv"))
    parser.add_argument("--replications-out", help="write every replication's estimates here")
    parser.add_argument(
        "--from-replications", help="summarise a --replications-out file instead of simulating"
    )
    args = parser.parse_args()
    if args.from_replications:
        results = pd.read_csv(args.from_replications)
        summarise(results, args.out)
        return
    tasks = [
        (scenario, *map(int, design.split(":")), r)
        for scenario in args.scenarios
        for design in args.designs
        for r in range(args.replications)
    ]
    start = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = pd.concat(pool.map(_one, tasks, chunksize=4), ignore_index=True)
    else:
        results = pd.concat(map(_one, tasks), ignore_index=True)
    seconds = time.perf_counter() - start
    if args.replications_out:
        results.to_csv(args.replications_out, index=False)
    print(
        f"{args.replications} replications per scenario and design, two-level ML, "
        f"{args.workers} worker(s): {seconds:.0f} s ({seconds / len(tasks):.2f} s a fit)"
    )
    summarise(results, args.out)


def summarise(results: pd.DataFrame, out_path: str) -> None:
    """Print the table per scenario and design and write them to ``out_path``."""
    pd.set_option("display.width", 250)
    tables = []
    for (scenario, design), group in results.groupby(["scenario", "design"], sort=False):
        table = rl.summarise(group, rl.true_values(SCENARIOS[scenario][1]))
        members = group.drop_duplicates("replication")
        print(
            f"\n{scenario} between part, {design.split(':')[0]} communities x "
            f"{design.split(':')[1]} respondents (communities answering: mean "
            f"{members['communities'].mean():.1f})"
        )
        print(table[SHOWN].round(4).to_string(index=False))
        print("  over the clean fits (converged, no Heywood case, with an SE):")
        print(table[["label", *CLEAN]].round(4).to_string(index=False))
        tables.append(table.assign(scenario=scenario, design=design))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = pd.concat(tables, ignore_index=True)
    summary[
        ["scenario", "design", *[c for c in summary.columns if c not in ("scenario", "design")]]
    ].to_csv(out, index=False)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
