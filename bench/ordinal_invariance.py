"""Time the threshold invariance sequence of ordinal items against lavaan 0.6.14 + semTools.

The bfi fixture of tests/fixtures/ordinal_groups (agreeableness and conscientiousness, ten
items, C5 binary, three age groups, 2,800 rows) is taken through the four levels
(configural, thresholds, thresholds_loadings, thresholds_loadings_intercepts) and the three
difference tests: by ``Rscript`` (measEq.syntax with ID.cat = "Wu.Estabrook.2016", cfa(...,
estimator = "WLSMV"), lavTestLRT) and by a fresh Python process
(lcsurvey.sem.wlsmv_groups.ordinal_invariance), each ``--repeat`` times with one BLAS thread;
the best times, their ratio and the largest differences in the scaled chi-squares and the
difference tests are printed. Needs R with lavaan and semTools.
Usage: .venv/bin/python bench/ordinal_invariance.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).parent.parent / "tests" / "fixtures" / "ordinal_groups" / "bfi_age.csv"
FACTORS = {"agree": [f"A{i}" for i in range(1, 6)], "consc": [f"C{i}" for i in range(1, 6)]}
SYNTAX = "\\n".join(f"{f} =~ {' + '.join(items)}" for f, items in FACTORS.items())
ITEMS = [i for items in FACTORS.values() for i in items]

R_RUN = f"""suppressMessages({{library(lavaan); library(semTools)}})
d <- read.csv(commandArgs(TRUE)[1])
items <- c({", ".join(f'"{i}"' for i in ITEMS)})
levels <- list("configural", "thresholds", c("thresholds", "loadings"),
               c("thresholds", "loadings", "intercepts"))
fits <- lapply(levels, function(ge) {{
  syn <- measEq.syntax("{SYNTAX}", data = d, ordered = items, parameterization = "delta",
                       ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "agegroup",
                       group.equal = ge)
  cfa(as.character(syn), data = d, ordered = items, estimator = "WLSMV", group = "agegroup")
}})
for (k in 1:4) cat(sprintf("chisq_scaled%d %.8f\\n", k, fitMeasures(fits[[k]], "chisq.scaled")))
for (k in 2:4) cat(sprintf("delta%d %.8f\\n", k, lavTestLRT(fits[[k - 1]], fits[[k]])[2, "Chisq diff"]))
"""

PY_RUN = f"""import sys
import pandas as pd
from lcsurvey.sem.wlsmv_groups import ordinal_invariance
d = pd.read_csv(sys.argv[1])
order = list(dict.fromkeys(d["agegroup"].dropna()))
t = ordinal_invariance(d, {FACTORS!r}, "agegroup", order=[(v, v) for v in order])
for k in range(4):
    print(f"chisq_scaled{{k + 1}} {{t.chisq_scaled[k]:.8f}}")
for k in range(1, 4):
    print(f"delta{{k + 1}} {{t.delta_chisq[k]:.8f}}")
"""


def timed(command: list[str]) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{run.stderr[-3000:]}")
    values = dict(line.split() for line in run.stdout.strip().splitlines())
    return elapsed, {k: float(v) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    r_times, py_times = [], []
    for _ in range(args.repeat):
        t, r_out = timed(["Rscript", "-e", R_RUN, str(DATA)])
        r_times.append(t)
        t, py_out = timed([sys.executable, "-c", PY_RUN, str(DATA)])
        py_times.append(t)
    print(f"bfi, 10 ordinal items, 3 age groups, 4 levels + 3 tests, best of {args.repeat}")
    print(f"lavaan + semTools (Rscript, whole process): {min(r_times):.2f} s")
    print(f"lcsurvey (python, whole process):           {min(py_times):.2f} s")
    print(f"ratio: {min(r_times) / min(py_times):.2f}")
    for key in ("chisq_scaled", "delta"):
        diff = max(abs(r_out[k] - py_out[k]) for k in r_out if k.startswith(key))
        print(f"largest difference in {key}: {diff:.2e}")


if __name__ == "__main__":
    main()
