"""Time the measurement-invariance tables against lavaan on the same data and model.

The `=~` lines of a model of config.yaml (default: report.model) on the bundled waves' cleaned
responses, pooled (run `snakemake --cores 2` first, or at least the clean rule of every wave),
with the waves and with `sector` as groups: configural, metric and scalar models with
FIML (config estimation.missing). Each side is timed as a whole process (interpreter start,
imports, reading the data, three fits and the fit measures): lcsurvey.sem.invariance, and
lavaan's cfa(group = ..., group.equal = ..., missing = "ml") with fitMeasures() via Rscript.
The chi-squares of both are printed side by side as a check that they fit the same models.
Usage: .venv/bin/python bench/invariance.py [--model transfer] [--group wave] [--no-lavaan]
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

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

PYTHON_JOB = """
import json, sys
import pandas as pd
from lcsurvey.sem.invariance import LEVELS, fit_invariance
from lcsurvey.sem.model import parse_model
data = pd.read_csv(sys.argv[1])
spec = parse_model(open(sys.argv[2]).read())
order = sorted(data[sys.argv[3]].dropna().unique())
result = fit_invariance(data, spec.measurement, sys.argv[3], group_order=order,
                        missing=sys.argv[4])
print(json.dumps({level: result.measures[level]["chisq"] for level in LEVELS}))
"""

R_JOB = """
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
model <- paste(readLines(args[2]), collapse = "\\n")
group <- args[3]
data[[group]] <- factor(data[[group]], levels = sort(unique(data[[group]])))
missing <- if (args[4] == "fiml") "ml" else "listwise"
equal <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"))
out <- sapply(names(equal), function(level) {
  fit <- cfa(model, data = data, group = group, group.equal = equal[[level]],
             missing = missing)
  fitMeasures(fit, "chisq")
})
cat(sprintf('{"configural": %.10g, "metric": %.10g, "scalar": %.10g}\\n', out[1], out[2], out[3]))
"""


def timed(command: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=config.get("report", {}).get("model", "transfer"))
    parser.add_argument(
        "--group", action="append", help="grouping variable (repeatable); default: wave and sector"
    )
    parser.add_argument("--no-lavaan", action="store_true")
    args = parser.parse_args()
    from lcsurvey.sem.model import parse_model

    spec = parse_model(config["models"][args.model])
    items = [v for indicators in spec.measurement.values() for v in indicators]
    frames = []
    for wave in config["waves"]:
        path = ROOT / "results" / wave / "clean" / "responses.parquet"
        if not path.exists():
            sys.exit(f"{path} is missing: run snakemake first")
        frames.append(pd.read_parquet(path).assign(wave=wave))
    data = pd.concat(frames, ignore_index=True)
    missing = config.get("estimation", {}).get("missing", "fiml")
    measurement = "\n".join(f"{f} =~ {' + '.join(v)}" for f, v in spec.measurement.items())
    rscript = None if args.no_lavaan else shutil.which("Rscript")
    print(
        f"model {args.model}: {len(items)} items, {len(spec.measurement)} factors, "
        f"{len(data)} rows, missing = {missing}, {data[items].isna().mean().mean():.1%} "
        "cells missing"
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(measurement)
        script = Path(tmp) / "job.py"
        script.write_text(PYTHON_JOB)
        r_script = Path(tmp) / "job.R"
        r_script.write_text(R_JOB)
        for group in args.group or ["wave", "sector"]:
            subset = data[[group] + items].dropna(subset=[group])
            csv = Path(tmp) / f"{group}.csv"
            subset.to_csv(csv, index=False)
            sizes = subset[group].value_counts().sort_index().to_dict()
            seconds, chisq = timed(
                [sys.executable, str(script), str(csv), str(model_file), group, missing]
            )
            print(
                f"\n{group} {sizes}\n  lcsurvey {seconds:6.2f} s  chisq "
                + ", ".join(f"{k} {v:.3f}" for k, v in chisq.items())
            )
            if rscript:
                r_seconds, r_chisq = timed(
                    [rscript, str(r_script), str(csv), str(model_file), group, missing]
                )
                print(
                    f"  lavaan   {r_seconds:6.2f} s  chisq "
                    + ", ".join(f"{k} {v:.3f}" for k, v in r_chisq.items())
                )
                print(f"  lavaan / lcsurvey time: {r_seconds / seconds:.2f}")


if __name__ == "__main__":
    main()
