"""Time bootstrap CIs against lavaan's se = "bootstrap", and check they do not depend on cores.

(1) A simulated mediation (N = 120, x -> m -> y with a direct path, ind := a*b), 2,000 draws,
    each side as a whole process (interpreter start, imports, reading the CSV, estimates and
    percentile CIs): lcsurvey.sem.bootstrap (batched least squares, exact ML for this model) and,
    when Rscript is available, lavaan sem(..., se = "bootstrap", bootstrap = 2000).
(2) The full structural model of config.yaml (`transfer`) on a bundled wave's cleaned
    responses (run `snakemake --cores 2` first): fit, then 2,000 draws on 2 workers, each
    draw a converged FIML estimate (lcsurvey.sem.bootstrap.QuasiNewtonJob), with the CPU time per
    draw and the mean number of iterations.
(3) The same CIs from 1 worker and from 2 workers, for (2) and for a FIML model whose draws are
    full refits (the mediation with some answers missing).
(4) Cluster against row bootstrap in the same run: the transfer model on a wave's cleaned
    responses (--cluster-wave, default 2022-06; --responses to point at another file), fitted
    once with the configured cluster variable (estimation.cluster), then after a warm-up
    bootstrap_estimates (draws, jackknife, Monte Carlo) three times each way, in the order
    rows, clusters, clusters, rows, rows, clusters, on --cluster-workers processes (1: what
    the model rule gets on 2 local cores): CPU and wall seconds, mean iterations a draw, and
    the ratio of the medians, clusters / rows.
Usage: .venv/bin/python bench/bootstrap.py [--draws 2000] [--wave 2021-12] [--no-lavaan]
       [--cluster-wave 2022-06] [--responses PATH] [--cluster-workers 1] [--only-cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

ROOT = Path(__file__).resolve().parents[1]

PYTHON_JOB = """
import json, sys, time
import numpy as np
from lcsurvey.sem.bootstrap import PathJob, draws, percentile_ci
from lcsurvey.sem.defined import defined_values, parse_definition
x = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
job = PathJob(x=x, variables=["x", "m", "y"], equations=[(1, [0]), (2, [1, 0])],
              keys=[("m", "~", "x"), ("y", "~", "m"), ("y", "~", "x")])
job.prepare()
names = ["a", "b", "c"]
definitions = [parse_definition("ind", "a*b"), parse_definition("total", "c + a*b")]
est = job.run(np.ones((1, len(x))))
values = draws(job, int(sys.argv[2]), 20211201)
both = np.hstack([values, defined_values(definitions, names, values)])
lower, upper = percentile_ci(both)
est = np.hstack([est, defined_values(definitions, names, est)])[0]
print(json.dumps({k: [float(e), float(lo), float(hi)] for k, e, lo, hi
                  in zip(names + ["ind", "total"], est, lower, upper)}))
"""

R_JOB = """
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
set.seed(1)
fit <- sem("m ~ a*x\\n y ~ b*m + c*x\\n ind := a*b\\n total := c + a*b", data = data,
           se = "bootstrap", bootstrap = as.integer(args[2]))
pe <- parameterEstimates(fit, boot.ci.type = "perc")
pe <- pe[pe$label != "", ]
cat(paste0("{", paste(sprintf('"%s": [%.10f, %.10f, %.10f]', pe$label, pe$est, pe$ci.lower,
                               pe$ci.upper), collapse = ", "), "}\\n"))
"""


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = 0.4 * x + rng.normal(size=n)
    y = 0.3 * m + 0.2 * x + rng.normal(size=n)
    return pd.DataFrame({"x": x, "m": m, "y": y})


def timed(command: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, json.loads(done.stdout.strip().splitlines()[-1])


def mediation_against_lavaan(draws: int, lavaan: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mediation.csv"
        simulate(120, 5).to_csv(path, index=False)
        seconds, ours = timed([sys.executable, "-c", PYTHON_JOB, str(path), str(draws)])
        print(f"(1) mediation N=120, {draws} draws, whole process: lcsurvey {seconds:.2f} s")
        if lavaan and shutil.which("Rscript"):
            r_seconds, theirs = timed(["Rscript", "-e", R_JOB, str(path), str(draws)])
            print(f"    lavaan se='bootstrap' {r_seconds:.2f} s; ratio {r_seconds / seconds:.1f}x")
        else:
            theirs = {}
        for name, (est, lower, upper) in ours.items():
            line = f"    {name:6s} est {est:.4f}  ours [{lower:.4f}, {upper:.4f}]"
            if name in theirs:
                line += f"  lavaan [{theirs[name][1]:.4f}, {theirs[name][2]:.4f}]"
            print(line)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the bootstrap workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def structural_model(draws: int, wave: str) -> None:
    from lcsurvey.sem.model import bootstrap_estimates, fit_model

    responses = ROOT / "results" / wave / "clean" / "responses.parquet"
    if not responses.exists():
        print(f"(2) skipped: {responses} is missing (run snakemake --cores 2 first)")
        return
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    data = pd.read_parquet(responses)
    start = time.perf_counter()
    fitted = fit_model(config["models"]["transfer"], data, name="transfer")
    fit_seconds = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    two, summary = bootstrap_estimates(fitted, draws, 20211201, workers=2)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    row = summary.iloc[0]
    print(
        f"(2) transfer model, wave {wave} (N={len(fitted.data)}): fit {fit_seconds:.1f} s, "
        f"{draws} draws (+ {len(fitted.data)} jackknife refits) on 2 workers {seconds:.1f} s "
        f"wall, {cpu_seconds:.1f} s CPU in all processes (wall on 2 idle cores is about "
        f"half of that) ({row['method']}, {row['draws_ok']} ok, {row['draws_failed']} failed; "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    from lcsurvey.sem import bootstrap as boot
    from lcsurvey.sem.model import _bootstrap_job

    job = _bootstrap_job(fitted)
    start = time.process_time()
    boot.draws(job, 100, 1)
    cpu = time.process_time() - start
    iterations = getattr(job, "iterations", np.zeros(1)).mean()
    print(
        f"    one worker, 100 draws: {1000 * cpu / 100:.0f} ms CPU a draw, "
        f"{iterations:.1f} iterations a draw (last chunk)"
    )
    defined = two[two["op"] == ":="]
    for _, r in defined.iterrows():
        print(
            f"    {r['lhs']}: est {r['est']:.4f} delta [{r['ci_lower']:.4f}, "
            f"{r['ci_upper']:.4f}] perc [{r['boot_ci_lower']:.4f}, {r['boot_ci_upper']:.4f}] "
            f"bca [{r['bca_ci_lower']:.4f}, {r['bca_ci_upper']:.4f}] "
            f"mc [{r['mc_ci_lower']:.4f}, {r['mc_ci_upper']:.4f}]"
        )
    one, _ = bootstrap_estimates(fitted, draws, 20211201, workers=1)
    print(f"(3) transfer: 1 worker and 2 workers give identical CIs: {one.equals(two)}")


def fiml_refits(draws: int) -> None:
    from lcsurvey.sem.model import bootstrap_estimates, fit_model

    data = simulate(120, 5)
    data.iloc[::12, 1] = np.nan
    fitted = fit_model("m ~ a*x\ny ~ b*m + c*x\nind := a*b", data)
    times, tables = [], []
    for workers in (1, 2):
        start = time.perf_counter()
        table, summary = bootstrap_estimates(fitted, draws, 20211201, workers=workers)
        times.append(time.perf_counter() - start)
        tables.append(table)
    print(
        f"(3) mediation with missing answers ({summary.iloc[0]['method']} refits, {draws} "
        f"draws): 1 worker {times[0]:.1f} s, 2 workers {times[1]:.1f} s, identical CIs: "
        f"{tables[0].equals(tables[1])}"
    )


def cluster_against_rows(draws: int, responses: Path, workers: int) -> None:
    from lcsurvey.sem import bootstrap as boot
    from lcsurvey.sem.model import _bootstrap_job, bootstrap_estimates, fit_model
    from lcsurvey.survey.clusters import resolve

    if not responses.exists():
        print(f"(4) skipped: {responses} is missing (run snakemake --cores 2 first)")
        return
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    data = pd.read_parquet(responses)
    clustering = resolve(data, config["estimation"]["cluster"])
    if not clustering.active:
        print(f"(4) skipped: {clustering.describe()}")
        return
    fitted = fit_model(
        config["models"]["transfer"], data, name="transfer", cluster=clustering.variable
    )
    codes = fitted.clusters
    job = _bootstrap_job(fitted)
    runs = {"rows": [], "clusters": []}
    iterations = {"rows": [], "clusters": []}
    bootstrap_estimates(fitted, 50, 1, workers=workers)  # warm-up: lazy imports, caches
    for resampling in ("rows", "clusters", "clusters", "rows", "rows", "clusters"):
        fitted.clusters = codes if resampling == "clusters" else None
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        _, summary = bootstrap_estimates(fitted, draws, 20211201, workers=workers)
        runs[resampling].append(
            (time.perf_counter() - start, _cpu_seconds() - cpu_start, summary.iloc[0])
        )
        if len(iterations[resampling]) == 0:
            # Iterations a draw (quasi-Newton jobs): the first 200 draws on one worker.
            boot.draws(job, 200, 20211201, clusters=fitted.clusters, chunk_size=200)
            iterations[resampling] = getattr(job, "iterations", np.zeros(1))
    fitted.clusters = codes
    print(
        f"(4) transfer model, {responses} (N={len(fitted.data)}, {clustering.describe()}), "
        f"{draws} draws, {workers} worker(s), load average {os.getloadavg()[0]:.1f}:"
    )
    for resampling in ("rows", "clusters"):
        row = runs[resampling][0][2]
        wall = [r[0] for r in runs[resampling]]
        cpu = [r[1] for r in runs[resampling]]
        refits = len(fitted.data) if resampling == "rows" else int(codes.max()) + 1
        print(
            f"    {resampling:8s} ({row['method']}, {row['draws_ok']} ok, "
            f"{row['draws_failed']} failed, {refits} jackknife refits, "
            f"{np.mean(iterations[resampling]):.1f} iterations a draw): CPU "
            + " / ".join(f"{c:.1f}" for c in cpu)
            + " s, wall "
            + " / ".join(f"{w:.1f}" for w in wall)
            + " s"
        )
    median = {k: np.median([r[1] for r in v]) for k, v in runs.items()}
    median_wall = {k: np.median([r[0] for r in v]) for k, v in runs.items()}
    print(
        f"    clusters / rows, medians: CPU {median['clusters'] / median['rows']:.2f}, "
        f"wall {median_wall['clusters'] / median_wall['rows']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--wave", default="2021-12")
    parser.add_argument("--no-lavaan", action="store_true")
    parser.add_argument("--cluster-wave", default="2022-06")
    parser.add_argument("--responses", type=Path, help="cleaned responses for (4)")
    parser.add_argument("--cluster-workers", type=int, default=1)
    parser.add_argument("--only-cluster", action="store_true", help="run (4) only")
    args = parser.parse_args()
    responses = args.responses or (
        ROOT / "results" / args.cluster_wave / "clean" / "responses.parquet"
    )
    if not args.only_cluster:
        mediation_against_lavaan(args.draws, not args.no_lavaan)
        structural_model(args.draws, args.wave)
        fiml_refits(min(args.draws, 500))
    cluster_against_rows(args.draws, responses, args.cluster_workers)


if __name__ == "__main__":
    main()
