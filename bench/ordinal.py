"""Time a WLSMV CFA of ordinal items against lavaan 0.6.14, each as a whole process.

psych's bfi (25 six-point items, 2,800 rows; listwise complete rows) is written to a temporary
CSV by R, then a five-factor CFA (A, C, E, N, O) with ``ordered = TRUE, estimator = "WLSMV"``
is fitted by ``Rscript`` (lavaan) and by a fresh Python process (lcsurvey.sem.wlsmv's
``fit_wlsmv_syntax``, as the pipeline calls it), each
``--repeat`` times; the best times, their ratio (target: lcsurvey at least 3x faster) and the
largest differences in loadings and scaled chi-square are printed. Needs R with lavaan, psych.
Both processes run with one BLAS thread (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS,
MKL_NUM_THREADS = 1 unless set), as the pipeline's rules run the engine. With ``--large N``,
instead times one whole process fitting a simulated wave of N rows and 50 five-category items
(five correlated factors; target for 100,000 rows: under 30 s on 2 cores, BLAS threads as set
in the environment).
With ``--sem``, the model adds ``A ~ age``, ``C ~ A + age`` and ``N1 ~~ N2``.
Usage: .venv/bin/python bench/ordinal.py [--repeat 3] [--sem] [--large 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 3.0
FACTORS = {f: [f"{f}{i}" for i in range(1, 6)] for f in "ACENO"}
SYNTAX = "\n".join(f"{f} =~ {' + '.join(items)}" for f, items in FACTORS.items())
# --sem: regressions among the factors and on age (a continuous covariate, lavaan's
# conditional.x) and a residual covariance between items.
SEM_LINES = "\nA ~ age\nC ~ A + age\nN1 ~~ N2"

R_FIT = """suppressMessages(library(lavaan))
d <- read.csv(commandArgs(TRUE)[1])
items <- grep("^[ACENO][1-5]$", names(d), value = TRUE)
fit <- sem(commandArgs(TRUE)[2], data = d, ordered = items, estimator = "WLSMV")
pe <- parameterEstimates(fit)
l <- pe[pe$op == "=~", ]
cat(sprintf("%s %.8f\\n", paste0(l$lhs, "=~", l$rhs), l$est), sep = "")
cat(sprintf("chisq_scaled %.8f\\n", fitMeasures(fit, "chisq.scaled")))
"""

PY_FIT = """import sys
import pandas as pd
from lcsurvey.sem.wlsmv import fit_wlsmv_syntax
fit = fit_wlsmv_syntax(pd.read_csv(sys.argv[1]), sys.argv[2])
e = fit.estimates[fit.estimates.op == "=~"]
for lhs, rhs, est in zip(e.lhs, e.rhs, e.est):
    print(f"{lhs}=~{rhs} {est:.8f}")
print(f"chisq_scaled {fit.fit['chisq_scaled']:.8f}")
"""


LARGE_FIT = """import sys, time
import numpy as np, pandas as pd
from lcsurvey.sem.wlsmv import fit_wlsmv
n = int(sys.argv[1]); rng = np.random.default_rng(1)
f = rng.standard_normal((n, 5)) @ np.linalg.cholesky(0.3 + 0.7 * np.eye(5)).T
model, cols = {}, {}
for k in range(5):
    model[f"F{k}"] = [f"f{k}i{j}" for j in range(10)]
    for name in model[f"F{k}"]:
        z = 0.7 * f[:, k] + np.sqrt(0.51) * rng.standard_normal(n)
        cols[name] = np.digitize(z, [-1.2, -0.4, 0.3, 1.1]) + 1
fit = fit_wlsmv(pd.DataFrame(cols), model)
print(f"chisq_scaled {fit.fit['chisq_scaled']:.4f}")
"""


def timed(command: list[str]) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{run.stderr[-3000:]}")
    values = dict(line.split() for line in run.stdout.strip().splitlines())
    return elapsed, {k: float(v) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large", type=int, default=0, help="rows of a simulated 50-item wave")
    parser.add_argument("--sem", action="store_true", help="add paths, age and a covariance")
    args = parser.parse_args()
    if args.large:
        t, out = timed([sys.executable, "-c", LARGE_FIT, str(args.large)])
        print(
            f"simulated wave, {args.large} rows, 50 items, five factors, whole process: {t:.1f} s"
        )
        print(f"scaled chi-square {out['chisq_scaled']:.2f} (df 1165); target under 30 s")
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bfi.csv"
        items = [i for its in FACTORS.values() for i in its]
        subprocess.run(
            [
                "Rscript",
                "-e",
                f"d <- na.omit(psych::bfi[, c(1:25, 28)]); write.csv(d, '{csv}', row.names = FALSE)",
            ],
            check=True,
        )
        syntax = SYNTAX + (SEM_LINES if args.sem else "")
        r_times, py_times = [], []
        for _ in range(args.repeat):
            t, r_out = timed(["Rscript", "-e", R_FIT, str(csv), syntax])
            r_times.append(t)
            t, py_out = timed([sys.executable, "-c", PY_FIT, str(csv), syntax])
            py_times.append(t)
    diff = max(abs(r_out[k] - py_out[k]) for k in r_out if k != "chisq_scaled")
    what = "SEM (paths, age, a residual covariance)" if args.sem else "CFA"
    print(f"bfi five-factor WLSMV {what}, {len(items)} items, best of {args.repeat}")
    print(f"lavaan (Rscript, whole process):   {min(r_times):.2f} s")
    print(f"lcsurvey (python, whole process):  {min(py_times):.2f} s")
    print(f"ratio lavaan / lcsurvey: {min(r_times) / min(py_times):.2f} (target {TARGET:.0f})")
    print(f"largest loading difference: {diff:.2e}")
    print(
        f"scaled chi-square: lavaan {r_out['chisq_scaled']:.4f}, "
        f"lcsurvey {py_out['chisq_scaled']:.4f}"
    )


if __name__ == "__main__":
    main()
