"""Time the cluster bootstrap of two-level models (lcsurvey.sem.twolevel_bootstrap).

1000 draws (and BCa's leave-one-cluster-out jackknife) of bootstrap_twolevel on 1 and on 2
processes, for
  (a) lavaan's tutorial model on Demo.twolevel (tests/fixtures/twolevel: 2,500 rows in 200
      clusters), complete rows, and with 200 values of y1 missing (missing = "ml");
  (b) the study's two-level mediation on the bundled 2022-06 construct scores
      (results/2022-06/scales/scores.parquet joined to clean/responses.parquet's community:
      run `snakemake --cores 1` first), 24 communities;
  (c) the same model on data simulated at the same design (the bundled community sizes) with
      a between-community part, where the between model is estimable.
Prints per case and process count: seconds for the fit, the draws and the jackknife, the
milliseconds a draw (wall), and the draws that converged. The draws on 1 and 2 processes are
checked to be equal. lavaan 0.6.14 has no bootstrap for two-level models, so there is no
ratio; one lavaan fit of (a) takes about 0.5 s (complete) and 9 s (missing) in bench/twolevel.py.
Usage: .venv/bin/python bench/twolevel_bootstrap.py [--draws 1000] [--threads 1 2]
       [--cases tutorial tutorial_missing study study_simulated]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lcsurvey.sem import bootstrap as boot  # noqa: E402
from lcsurvey.sem import twolevel_bootstrap as tlb  # noqa: E402
from lcsurvey.study.simulate.levels import TRANSFER_LEVELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "twolevel"
WAVE = ROOT / "results" / "2022-06"
TUTORIAL = (
    "level: 1\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
    "level: 2\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2"
)
STUDY = TRANSFER_LEVELS  # the study's two-level model (config.yaml transfer_levels)


def study_scores() -> pd.DataFrame:
    scores = pd.read_parquet(WAVE / "scales" / "scores.parquet")
    communities = pd.read_parquet(WAVE / "clean" / "responses.parquet")[["rid", "community"]]
    return scores.merge(communities, on="rid")


def simulated_scores(sizes: np.ndarray, seed: int = 1) -> pd.DataFrame:
    """The study's variables with a between part: the bundled community sizes, climate
    facets with community means (SD 0.4) and an indirect effect at both levels."""
    rng = np.random.default_rng(seed)
    community = np.repeat(np.arange(len(sizes)), sizes)
    n, g = len(community), len(sizes)
    fac_b, app_b = rng.multivariate_normal([0, 0], [[0.16, 0.08], [0.08, 0.16]], g).T
    fac_w, app_w = rng.multivariate_normal([0, 0], [[0.5, 0.25], [0.25, 0.5]], n).T
    ps_b = 0.5 * fac_b + 0.3 * app_b + rng.normal(0, 0.15, g)
    ps_w = 0.25 * fac_w + 0.15 * app_w + rng.normal(0, 0.8, n)
    lb_b = 0.5 * ps_b + 0.1 * fac_b + 0.1 * app_b + rng.normal(0, 0.15, g)
    lb_w = 0.3 * ps_w + 0.05 * fac_w + 0.1 * app_w + rng.normal(0, 0.7, n)
    kt_b = 0.4 * lb_b + rng.normal(0, 0.15, g)
    kt_w = 0.2 * lb_w + rng.normal(0, 0.75, n)
    return pd.DataFrame(
        {
            "community": community,
            "facilitation": 3.5 + fac_b[community] + fac_w,
            "appreciation": 3.6 + app_b[community] + app_w,
            "psychological_safety": 3.4 + ps_b[community] + ps_w,
            "learning_behaviour": 3.3 + lb_b[community] + lb_w,
            "knowledge_transfer": 3.2 + kt_b[community] + kt_w,
        }
    )


def cases(names: list[str]) -> dict:
    out = {}
    for name in names:
        if name == "tutorial":
            out[name] = (TUTORIAL, pd.read_csv(FIXTURES / "data.csv"), "cluster", "listwise")
        elif name == "tutorial_missing":
            data = pd.read_csv(FIXTURES / "data_missing.csv")
            out[name] = (TUTORIAL, data, "cluster", "ml")
        elif name == "study":
            out[name] = (STUDY, study_scores(), "community", "listwise")
        elif name == "study_simulated":
            sizes = study_scores()["community"].value_counts().to_numpy()
            out[name] = (STUDY, simulated_scores(sizes), "community", "listwise")
    return out


def run(syntax, data, cluster, missing, draws: int, threads: int):
    """(fit s, draws s, jackknife s, the draws) of one bootstrap."""
    start = time.perf_counter()
    _, job = tlb.twolevel_job(syntax, data, cluster, missing=missing)
    fitted = time.perf_counter()
    codes = job.data.codes
    values = boot.draws(job, draws, tlb.SEED, workers=threads, clusters=codes, progress=False)
    drawn = time.perf_counter()
    boot.jackknife(job, workers=threads, clusters=codes, progress=False)
    return fitted - start, drawn - fitted, time.perf_counter() - drawn, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", default=["tutorial", "tutorial_missing", "study",
                                                       "study_simulated"])  # fmt: skip
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name, (syntax, data, cluster, missing) in cases(args.cases).items():
        results = []
        for threads in args.threads:
            fit_s, draw_s, jack_s, values = run(syntax, data, cluster, missing, args.draws, threads)
            results.append(values)
            ok = int(np.isfinite(values).all(axis=1).sum())
            print(
                f"{name:16s} threads {threads}: fit {fit_s:5.2f} s, {args.draws} draws "
                f"{draw_s:6.1f} s ({1000 * draw_s / args.draws:5.1f} ms a draw), jackknife "
                f"{jack_s:5.1f} s; {ok} of {args.draws} draws converged",
                flush=True,
            )
        for other in results[1:]:
            np.testing.assert_array_equal(results[0], other)
        if len(results) > 1:
            print(f"{name:16s} the same draws on {args.threads} processes", flush=True)


if __name__ == "__main__":
    main()
