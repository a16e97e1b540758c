"""Time the cluster-robust model fit against the plain one and against lavaan.

A model of config.yaml (default: report.model) on one bundled wave's cleaned responses (run
`snakemake --cores 2` first, or pass --responses), fitted as the model rule does (FIML,
config estimation.missing) three ways in one process: without a cluster, with se = "robust"
and with cluster = estimation.cluster (best of --repeat CPU times each, BLAS on one thread as
in the rule). Then lavaan's sem(..., missing = "ml", estimator = "MLR", cluster = ...) with
parameterEstimates() via Rscript, timed as a whole process, and the standard errors of the
regressions and defined parameters side by side as a check that both fit the same model.
Usage: .venv/bin/python bench/cluster_robust.py [--wave 2022-06] [--responses FILE]
       [--model transfer] [--repeat 7] [--no-lavaan]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

R_JOB = """
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
# The final newline: lavaan 0.6.14 keeps a comment on a last line without one in `rhs`.
model <- paste0(paste(readLines(args[2]), collapse = "\\n"), "\\n")
missing <- if (args[4] == "fiml") "ml" else "listwise"
fit <- suppressWarnings(sem(model, data = data, missing = missing, estimator = "MLR",
                            cluster = args[3]))
pe <- parameterEstimates(fit)
write.csv(pe[, c("lhs", "op", "rhs", "se")], args[5], row.names = FALSE)
"""


def main() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wave", default="2022-06")
    parser.add_argument("--responses", type=Path)
    parser.add_argument("--model", default=config.get("report", {}).get("model", "transfer"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-lavaan", action="store_true")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from lcsurvey.sem.model import fit_model

    responses = args.responses or ROOT / "results" / args.wave / "clean" / "responses.parquet"
    if not responses.exists():
        sys.exit(f"{responses} is missing: run the pipeline first or pass --responses")
    data = pd.read_parquet(responses)
    syntax = config["models"][args.model]
    missing = config["estimation"]["missing"]
    cluster = config["estimation"]["cluster"] or "community"
    ways = {"no cluster": {}, "se = robust": {"se": "robust"}, f"cluster = {cluster}": {}}
    ways[f"cluster = {cluster}"] = {"cluster": cluster}
    best, fitted = {}, {}
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few clusters for the free parameters: expected
        fit_model(syntax, data, missing=missing)  # imports and caches out of the timing
        for way, options in ways.items():
            times = []
            for _ in range(args.repeat):
                start = time.process_time()
                fitted[way] = fit_model(syntax, data, missing=missing, **options)
                times.append(time.process_time() - start)
            best[way] = min(times)
    plain = best["no cluster"]
    print(f"{args.model} on {responses} ({len(data)} rows), best of {args.repeat} (CPU s):")
    for way, seconds in best.items():
        print(f"  {way:24s} {seconds:6.3f} s  ({seconds / plain:.2f} x no cluster)")
    estimates = fitted[f"cluster = {cluster}"].estimates
    shown = estimates[estimates["op"].isin(["~", ":="])]
    if args.no_lavaan or shutil.which("Rscript") is None:
        print(shown[["lhs", "op", "rhs", "est", "se"]].to_string(index=False))
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv, model_file, script, out = (Path(tmp) / n for n in ("d.csv", "m.txt", "j.R", "o.csv"))
        data.to_csv(csv, index=False)
        model_file.write_text(syntax)
        script.write_text(R_JOB)
        start = time.perf_counter()
        subprocess.run(
            ["Rscript", str(script), str(csv), str(model_file), cluster, missing, str(out)],
            check=True,
            capture_output=True,
        )
        lavaan_seconds = time.perf_counter() - start
        theirs = pd.read_csv(out).fillna({"rhs": ""})
    print(f"  lavaan (whole Rscript process) {lavaan_seconds:6.1f} s")
    both = shown.merge(theirs, on=["lhs", "op", "rhs"], how="left", suffixes=("", "_lavaan"))
    print(both[["lhs", "op", "rhs", "est", "se", "se_lavaan"]].to_string(index=False))


if __name__ == "__main__":
    main()
