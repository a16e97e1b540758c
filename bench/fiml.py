"""Time full-information ML on a simulated survey against lavaan's cfa(missing = "ml").

Simulates 3,000 respondents x 30 items from a six-factor CFA (five items per factor), blanks
about 4% of the cells at random (every row keeps at least one answer), writes the data to a
temporary CSV and times, each as a whole process (interpreter start, imports, reading the
file, fit, fit measures):
  - lcsurvey.sem.fiml.fit_fiml + fiml_fit_measures,
  - lavaan: cfa(..., missing = "ml") + fitMeasures(), when Rscript is available.
Prints both times, their ratio and the largest differences in chisq, logl and the estimates.
lavaan needs several minutes on the default data (mostly for fitMeasures' robust indices).
Usage: .venv/bin/python bench/fiml.py [--rows 3000] [--missing 0.04] [--seed 1] [--no-lavaan]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FACTORS, ITEMS = 6, 5


def syntax() -> str:
    return "\n".join(
        f"f{f + 1} =~ " + " + ".join(f"y{f * ITEMS + i + 1}" for i in range(ITEMS))
        for f in range(FACTORS)
    )


def simulate(rows: int, missing: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    phi = np.full((FACTORS, FACTORS), 0.3) + 0.7 * np.eye(FACTORS)
    eta = rng.multivariate_normal(np.zeros(FACTORS), phi, size=rows)
    loadings = rng.uniform(0.5, 0.9, size=FACTORS * ITEMS)
    owner = np.repeat(np.arange(FACTORS), ITEMS)
    x = eta[:, owner] * loadings + rng.normal(size=(rows, FACTORS * ITEMS)) * np.sqrt(
        1 - loadings**2
    )
    # Slight misfit: a few cross-loadings the model leaves out.
    x[:, 4] += 0.2 * eta[:, 1]
    x[:, 17] += 0.15 * eta[:, 5]
    x = 3 + x
    hole = rng.random(x.shape) < missing
    empty = hole.all(axis=1)
    hole[empty, rng.integers(0, x.shape[1], size=empty.sum())] = False
    x[hole] = np.nan
    return pd.DataFrame(x, columns=[f"y{i + 1}" for i in range(x.shape[1])])


PYTHON_JOB = """
import json, sys, time
start = time.perf_counter()
import pandas as pd, semopy
from lcsurvey.sem.fiml import fit_fiml, fiml_fit_measures
from lcsurvey.sem.structure import parameter_names
data = pd.read_csv(sys.argv[1])
model = semopy.Model(sys.argv[2])
result = fit_fiml(model, data)
fit = fiml_fit_measures(result, model)
est = {" ".join(k): float(v) for k, v in zip(parameter_names(model), result.params)}
print(json.dumps({"chisq": fit["chisq"], "logl": fit["logl"], "cfi": fit["cfi"], "est": est,
                  "converged": result.converged,
                  "iterations": result.iterations, "inner": time.perf_counter() - start}))
"""

R_JOB = """
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
fit <- cfa(args[2], data = data, missing = "ml")
fm <- fitMeasures(fit)
pe <- parameterEstimates(fit)
pe <- pe[pe$op %in% c("=~", "~~") & !(pe$op == "=~" & pe$se == 0), ]
cat(sprintf('{"chisq": %.10f, "logl": %.10f, "cfi": %.10f}\\n', fm[["chisq"]], fm[["logl"]],
            fm[["cfi"]]))
write.csv(pe[, c("lhs", "op", "rhs", "est")], args[3], row.names = FALSE)
"""


def run(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--missing", type=float, default=0.04)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-lavaan", action="store_true", help="time only fit_fiml")
    args = parser.parse_args()
    data = simulate(args.rows, args.missing, args.seed)
    patterns = len(np.unique(data.isna().to_numpy(), axis=0))
    print(
        f"data: {data.shape[0]} x {data.shape[1]}, {data.isna().to_numpy().mean():.1%} cells "
        f"missing, {data.dropna().shape[0]} complete rows, {patterns} missingness patterns"
    )
    with tempfile.TemporaryDirectory(prefix="lcsurvey-fiml-") as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        ours_time, out = run([sys.executable, "-c", PYTHON_JOB, str(csv), syntax()])
        ours = json.loads(out)
        print(
            f"fit_fiml + fiml_fit_measures: {ours_time:.2f} s whole process "
            f"({ours['inner']:.2f} s after interpreter start; converged={ours['converged']}, "
            f"{ours['iterations']} Newton iterations)"
        )
        rscript = shutil.which("Rscript")
        if rscript is None or args.no_lavaan:
            print("lavaan not timed" + ("" if rscript else ": Rscript not found"))
            return
        script = Path(tmp) / "lavaan.R"
        script.write_text(R_JOB)
        r_time, out = run([rscript, str(script), str(csv), syntax(), str(Path(tmp) / "est.csv")])
        theirs = json.loads(out.strip().splitlines()[-1])
        print(f"lavaan cfa(missing = 'ml') + fitMeasures: {r_time:.2f} s whole process")
        print(f"ratio ours / lavaan: {ours_time / r_time:.3f}")
        est = pd.read_csv(Path(tmp) / "est.csv")
        diffs = []
        for lhs, op, rhs, value in est.itertuples(index=False):
            keys = [f"{lhs} {op} {rhs}", f"{rhs} {op} {lhs}"]
            mine = next((ours["est"][k] for k in keys if k in ours["est"]), None)
            if mine is not None:
                diffs.append(abs(mine - value))
        print(
            f"max |diff| vs lavaan: chisq {abs(ours['chisq'] - theirs['chisq']):.2e}, "
            f"logl {abs(ours['logl'] - theirs['logl']):.2e}, "
            f"cfi {abs(ours['cfi'] - theirs['cfi']):.2e}, "
            f"estimates {max(diffs):.2e} ({len(diffs)} compared)"
        )


if __name__ == "__main__":
    main()
