"""Time the Monte Carlo power analysis (lcsurvey.study.power) and project larger runs.

(1) One core, in one process: seconds per replication at each size, split into simulating the
    sample, scoring plus the moderation (the interaction), and the structural model fit (the
    `indirect` effect); fits per second with complete data (ML on the moments) and with the
    simulator's missing answers (FIML).
(2) The power rules as Snakemake runs them (a scratch copy of the repository, a small
    configuration), with --cores 1 and --cores 2: wall time, and whether power.csv is the same.
(3) Projections: 1,000 replications x 4 sizes on 2 local cores; 10,000 replications x 4 sizes
    on a 100-core SLURM cluster, with the per-job overhead measured by `make test-cluster`
    (benchmarks/cluster_test.tsv) when that file exists.
Timings are wall-clock on a shared machine: other processes make them noisy.
Usage: .venv/bin/python bench/power.py [--reps 30] [--sizes 150 600] [--no-workflow]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from workcopy import ROOT, copy_workflow  # noqa: E402

from lcsurvey.study import power  # noqa: E402
from lcsurvey.study.simulate import default_truth  # noqa: E402
from lcsurvey.survey.codebook import load_codebook  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def per_replication(sizes: list[int], reps: int) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    book = load_codebook(ROOT / "data" / "codebook.yaml")
    truth = default_truth()
    syntax = config["models"][config.get("power", {}).get("model", "transfer")]
    study = power.PowerStudy(
        power.TruthPopulation(truth, list(book.items)),
        syntax,
        book,
        [power.INTERACTION, "indirect"],
        seed=1,
    )
    study.true_values(reference_n=20_000)
    out = {}
    for n in sizes:
        fitter = study.fitter(study.population.sample(n, np.random.default_rng(0)))
        simulate = score = fit = 0.0
        converged = 0
        cpu = time.process_time()
        for r in range(reps):
            rng = np.random.default_rng(power.replication_seed(1, n, r))
            start = time.perf_counter()
            items = study.population.sample(n, rng)
            middle = time.perf_counter()
            power.interaction_fit(study.scores(items, n, rng), 0.05)
            after_score = time.perf_counter()
            converged += fitter.fit(items)[2]
            end = time.perf_counter()
            simulate += middle - start
            score += after_score - middle
            fit += end - after_score
        cpu = time.process_time() - cpu
        missing = power.TruthPopulation(truth, list(book.items), missing=True)
        fiml_time = fiml_cpu = 0.0
        fiml_reps = max(3, reps // 5)
        for r in range(fiml_reps):
            items = missing.sample(n, np.random.default_rng(power.replication_seed(2, n, r)))
            start, start_cpu = time.perf_counter(), time.process_time()
            fitter.fit(items)
            fiml_time += time.perf_counter() - start
            fiml_cpu += time.process_time() - start_cpu
        out[n] = {
            "simulate_s": simulate / reps,
            "score_and_moderation_s": score / reps,
            "sem_fit_s": fit / reps,
            "replication_s": (simulate + score + fit) / reps,
            "sem_fits_per_s": reps / fit,
            "converged": converged / reps,
            "fiml_fit_s": fiml_time / fiml_reps,
            # CPU seconds of this process: what a free core would take.
            "replication_cpu_s": cpu / reps,
            "fiml_fit_cpu_s": fiml_cpu / fiml_reps,
        }
    return out


def workflow_runs() -> dict:
    """The power rules with 1 and 2 cores on a small configuration, in a scratch copy."""
    small = {"power": {"sizes": [150, 400], "replications": 100, "shard_size": 25}}
    out = {}
    tables = {}
    with tempfile.TemporaryDirectory(prefix="lcsurvey-power-bench-") as tmp:
        for cores in (1, 2):
            where = Path(tmp) / f"cores{cores}"
            where.mkdir()
            copy_workflow(where, ("Snakefile", "workflow", "envs", "config.yaml"))
            (where / "data").mkdir()
            shutil.copy2(ROOT / "data" / "codebook.yaml", where / "data" / "codebook.yaml")
            (where / "small.yaml").write_text(yaml.safe_dump(small), encoding="utf-8")
            start = time.perf_counter()
            run = subprocess.run(
                [
                    SNAKEMAKE,
                    "--cores",
                    str(cores),
                    "--configfile",
                    "small.yaml",
                    "--quiet",
                    "rules",
                    "--",
                    "power",
                ],
                cwd=where,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - start
            if run.returncode != 0:
                raise SystemExit(run.stderr[-3000:])
            tables[cores] = (where / "results" / "power" / "power.csv").read_bytes()
            bench = pd.concat(
                [
                    pd.read_csv(p, sep="\t")
                    for p in (where / "benchmarks" / "power").glob("n*_shard*.tsv")
                ]
            )
            out[f"cores_{cores}_s"] = seconds
            out["shard_job_mean_s"] = float(bench["s"].mean())
            out["shard_job_mean_cpu_s"] = float(bench["cpu_time"].mean())
        out["replications"] = 2 * 100
        out["jobs"] = 2 * 4 + 2
        out["identical_power_csv"] = tables[1] == tables[2]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 600])
    parser.add_argument("--no-workflow", action="store_true")
    args = parser.parse_args(argv)

    result: dict = {"per_replication": per_replication(args.sizes, args.reps)}
    print("one core, seconds per replication (interaction + indirect effect):")
    print(pd.DataFrame(result["per_replication"]).T.round(4).to_string())
    # Projections from CPU time: the wall time of a free core (the machine may be shared).
    mean_rep = float(np.mean([v["replication_cpu_s"] for v in result["per_replication"].values()]))

    if not args.no_workflow:
        result["workflow"] = wf = workflow_runs()
        print(
            f"\nsnakemake power, {wf['replications']} replications in {wf['jobs']} jobs: "
            f"{wf['cores_1_s']:.1f} s on 1 core, {wf['cores_2_s']:.1f} s on 2 cores "
            f"(a shard job of 25 replications: {wf['shard_job_mean_s']:.1f} s, "
            f"{wf['shard_job_mean_cpu_s']:.1f} s CPU); "
            f"power.csv identical: {wf['identical_power_csv']}"
        )

    cluster = ROOT / "benchmarks" / "cluster_test.tsv"
    overhead = None
    if cluster.exists():
        table = pd.read_csv(cluster, sep="\t").set_index("run")
        jobs = int(table.loc["slurm", "shard_jobs"]) + 2
        overhead = (table.loc["slurm", "seconds"] - table.loc["local", "seconds"]) / jobs
        result["slurm"] = {
            "slurm_s": float(table.loc["slurm", "seconds"]),
            "local_s": float(table.loc["local", "seconds"]),
            "jobs": jobs,
            "overhead_per_job_s": float(overhead),
        }
        print(
            f"\nSLURM (make test-cluster): {table.loc['slurm', 'seconds']:.0f} s against "
            f"{table.loc['local', 'seconds']:.0f} s locally for {jobs} jobs: about "
            f"{overhead:.0f} s more per job (submission and status polling)"
        )

    # Start-up of a job (interpreter, imports, reading the population): measured when the
    # workflow ran, else 4 s.
    startup = 4.0
    if "workflow" in result:
        startup = max(result["workflow"]["shard_job_mean_cpu_s"] - 25 * mean_rep, 0.0)
    result["job_startup_s"] = startup
    local = 4 * 1000 * mean_rep / 2 + 42 * startup / 2
    per_job = 100 * mean_rep + startup + (overhead or 30.0)
    cluster_time = per_job * np.ceil(4 * 10_000 / 100 / 100)
    result["projection"] = {
        "local_1000x4_2cores_s": local,
        "slurm_10000x4_100cores_s": float(cluster_time),
    }
    print(
        f"\nprojection: 1,000 x 4 sizes on 2 local cores about {local / 60:.1f} min; "
        f"10,000 x 4 sizes on 100 SLURM cores (400 jobs of 100) about "
        f"{cluster_time / 60:.1f} min"
    )
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "power.json").write_text(
        json.dumps(result, indent=2, default=float), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
