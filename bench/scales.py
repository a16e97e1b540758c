"""Time scale construction on the bundled waves and on a generated 100,000-respondent wave.

Two parts are timed separately, in this process (imports and reading excluded):
  - scales: reliability + item statistics (alpha, omega, skew, ...), response distribution,
    scale scores (constructs and composites) and their correlations, as rule `scales` runs them;
  - measurement: the one-factor CFAs, the joint CFA of all constructs, loadings, composite
    reliability, AVE and HTMT, as rule `measurement` runs them (FIML unless --missing listwise).
The bundled waves are cleaned first (not timed). The generated wave comes from
lcsurvey.study.simulate.simulate_population (clean, complete, answers keyed as after cleaning).
Usage: .venv/bin/python bench/scales.py [--rows 100000] [--seed 1] [--missing fiml|listwise]
       [--no-measurement-large]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the workflow runs (common.smk)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lcsurvey.study.simulate import simulate_population  # noqa: E402
from lcsurvey.survey.clean import clean_file  # noqa: E402
from lcsurvey.survey.codebook import load_codebook  # noqa: E402
from lcsurvey.survey.measurement import (  # noqa: E402
    cfa_fit_table,
    fit_measurement,
    loadings_table,
    validity_tables,
)
from lcsurvey.survey.scales import (  # noqa: E402
    correlation_table,
    reliability_table,
    response_distribution,
    scale_scores,
)

ROOT = Path(__file__).resolve().parents[1]
WAVES = {"2021-12": "wave_2021-12.csv", "2022-06": "wave_2022-06.sav"}
KEY = b"benchmark-key-not-for-real-data!"


def time_scales(responses: pd.DataFrame, book) -> float:
    start = time.perf_counter()
    reliability_table(responses, book)
    scores = scale_scores(responses, book)
    response_distribution(responses, book)
    correlation_table(scores)
    return time.perf_counter() - start


def time_measurement(responses: pd.DataFrame, book, missing: str) -> tuple[float, float]:
    start = time.perf_counter()
    result = fit_measurement(responses, book, missing=missing)
    cfa_fit_table(result)
    loadings_table(result)
    validity_tables(result)
    joint = result.fits["joint"].fit.iloc[0]
    return time.perf_counter() - start, float(joint["cfi"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--missing", choices=["fiml", "listwise"], default="fiml")
    parser.add_argument(
        "--no-measurement-large", action="store_true", help="skip the CFAs on the generated wave"
    )
    args = parser.parse_args()
    book = load_codebook(ROOT / "data" / "codebook.yaml")

    print(f"{'wave':>12} {'rows':>8} {'scales s':>9} {'measurement s':>14} {'joint CFI':>10}")
    for wave, name in WAVES.items():
        responses = clean_file(
            str(ROOT / "data" / "raw" / name), book, wave=wave, rules=None, key=KEY
        ).kept
        scales = time_scales(responses, book)
        measurement, cfi = time_measurement(responses, book, args.missing)
        print(f"{wave:>12} {len(responses):>8} {scales:>9.2f} {measurement:>14.2f} {cfi:>10.3f}")

    responses = simulate_population(args.rows, np.random.default_rng(args.seed))
    responses.insert(0, "rid", [f"s{i}" for i in range(len(responses))])
    scales = time_scales(responses, book)
    if args.no_measurement_large:
        print(f"{'generated':>12} {len(responses):>8} {scales:>9.2f} {'-':>14} {'-':>10}")
    else:
        measurement, cfi = time_measurement(responses, book, args.missing)
        print(
            f"{'generated':>12} {len(responses):>8} {scales:>9.2f} {measurement:>14.2f} "
            f"{cfi:>10.3f}"
        )


if __name__ == "__main__":
    main()
