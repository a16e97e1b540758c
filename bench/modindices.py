"""Time the modification indices and the score tests of equality constraints against lavaan.

On the bundled waves' cleaned responses (run the pipeline first, or pass --results): the
modification indices of a model of config.yaml (default: report.model, the 32-indicator
transfer model) fitted as rule `model` fits it on one wave (config estimation.missing and
estimation.cluster), and the score tests of the metric and scalar levels of its measurement
part with the waves as groups, as rule `invariance_waves` computes them. Each is timed in one
process, best of --repeat CPU times, the fits themselves excluded: lcsurvey.sem.modindices and
multigroup.score_tests, against lavaan's modindices() and lavTestScore(cumulative = TRUE)
timed inside one Rscript on the same fits (whose own time is excluded as well). The largest
indices of both are printed side by side as a check that they agree.
Usage: .venv/bin/python bench/modindices.py [--wave 2022-06] [--results results]
       [--model transfer] [--repeat 5] [--no-lavaan]
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
wave <- read.csv(args[1])
pooled <- read.csv(args[2])
model <- paste0(paste(readLines(args[3]), collapse = "\\n"), "\\n")
measurement <- paste0(paste(readLines(args[4]), collapse = "\\n"), "\\n")
missing <- if (args[5] == "fiml") "ml" else "listwise"
cluster <- if (args[6] == "") NULL else args[6]
repeat_n <- as.integer(args[8])
best <- function(f) min(replicate(repeat_n, system.time(f())[["elapsed"]]))
fit <- suppressWarnings(sem(model, data = wave, missing = missing, estimator = "MLR",
                            cluster = cluster))
mi_time <- best(function() modindices(fit, sort. = TRUE))
levels <- list(metric = "loadings", scalar = c("loadings", "intercepts"))
score_time <- 0
for (level in levels) {
  inv <- suppressWarnings(cfa(measurement, data = pooled, group = "wave", missing = missing,
                              estimator = "MLR", cluster = cluster, group.equal = level))
  score_time <- score_time + best(function() suppressWarnings(lavTestScore(inv,
                                                                             cumulative = TRUE)))
}
mi <- modindices(fit, sort. = TRUE)
write.csv(mi[1:10, c("lhs", "op", "rhs", "mi")], args[7], row.names = FALSE)
cat(mi_time, score_time, "\\n")
"""


def _best(job, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.process_time()
        out = job()
        times.append(time.process_time() - start)
    return min(times), out


def main() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wave", default="2022-06")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--model", default=config.get("report", {}).get("model", "transfer"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-lavaan", action="store_true")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from lcsurvey.sem.invariance import fit_invariance
    from lcsurvey.sem.model import fit_model
    from lcsurvey.sem.modindices import modification_indices
    from lcsurvey.sem.multigroup import score_tests
    from lcsurvey.sem.syntax import parse_model

    waves = list(config["waves"])
    paths = {w: args.results / w / "clean" / "responses.parquet" for w in waves}
    absent = [str(p) for p in paths.values() if not p.exists()]
    if absent:
        sys.exit(f"{absent} missing: run the pipeline first or pass --results")
    frames = {w: pd.read_parquet(p) for w, p in paths.items()}
    data = frames[args.wave]
    pooled = pd.concat([f.assign(wave=w) for w, f in frames.items()], ignore_index=True)
    syntax = config["models"][args.model]
    spec = parse_model(syntax, name=args.model)
    missing = config["estimation"]["missing"]
    cluster = config["estimation"]["cluster"]
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few clusters for the free parameters: expected
        fitted = fit_model(syntax, data, missing=missing, cluster=cluster)
        mi_time, mi = _best(lambda: modification_indices(fitted), args.repeat)
        result = fit_invariance(
            pooled, spec.measurement, "wave", group_order=waves, missing=missing, cluster=cluster
        )
        score_time = sum(
            _best(lambda lv=level: score_tests(result.fits[lv], result.groups), args.repeat)[0]
            for level in ("metric", "scalar")
        )
    print(
        f"{args.model} on {args.wave} ({len(data)} rows, {len(spec.observed)} observed); "
        f"waves {', '.join(waves)} pooled ({len(pooled)} rows); best of {args.repeat} (CPU s):"
    )
    print(f"  modification indices ({len(mi)} rows)   {mi_time:7.3f} s")
    print(f"  score tests, metric + scalar         {score_time:7.3f} s")
    if args.no_lavaan or shutil.which("Rscript") is None:
        print(mi.head(10).to_string(index=False))
        return
    measurement = "\n".join(f"{f} =~ {' + '.join(items)}" for f, items in spec.measurement.items())
    with tempfile.TemporaryDirectory() as tmp:
        wave_csv, pooled_csv, model_file, measurement_file, script, out = (
            Path(tmp) / n for n in ("w.csv", "p.csv", "m.txt", "mm.txt", "j.R", "o.csv")
        )
        data.to_csv(wave_csv, index=False)
        pooled.to_csv(pooled_csv, index=False)
        model_file.write_text(syntax)
        measurement_file.write_text(measurement)
        script.write_text(R_JOB)
        run = subprocess.run(
            [
                "Rscript",
                str(script),
                str(wave_csv),
                str(pooled_csv),
                str(model_file),
                str(measurement_file),
                missing,
                cluster or "",
                str(out),
                str(args.repeat),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r_mi, r_score = (float(v) for v in run.stdout.split())
        theirs = pd.read_csv(out)
    print(f"  lavaan modindices()                  {r_mi:7.3f} s  ({r_mi / mi_time:.1f} x ours)")
    print(
        f"  lavaan lavTestScore(), both levels   {r_score:7.3f} s  ({r_score / score_time:.1f} x ours)"
    )
    total, r_total = mi_time + score_time, r_mi + r_score
    print(f"  together: ours {total:.3f} s, lavaan {r_total:.3f} s, ratio {r_total / total:.1f}")
    both = mi.head(10).merge(theirs, on=["lhs", "op", "rhs"], how="left", suffixes=("", "_lavaan"))
    print(both[["lhs", "op", "rhs", "mi", "mi_lavaan"]].to_string(index=False))


if __name__ == "__main__":
    main()
