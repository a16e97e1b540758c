"""Time of the returners' longitudinal invariance (lcsurvey.study.invariance.longitudinal_invariance)
on the bundled waves' cleaned responses (after a `make run`): one longitudinal CFA per factor of
report.model, configural, metric and scalar, cluster-robust as config.yaml says.

    .venv/bin/python bench/longitudinal.py
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import pandas as pd
import yaml

from lcsurvey.study.invariance import longitudinal_invariance

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    waves = list(config["waves"])
    frames = {
        w: pd.read_parquet(ROOT / "results" / w / "clean" / "responses.parquet") for w in waves
    }
    model = config["report"]["model"]
    # The cluster-robust vcov's rank warnings go to the rule's log in a run; not here.
    logging.getLogger("lcsurvey").setLevel(logging.ERROR)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = longitudinal_invariance(
            frames,
            config["models"][model],
            model=model,
            cluster=config["estimation"].get("cluster"),
        )
    seconds = time.perf_counter() - start
    fitted = table[table["level"] != ""]
    print(
        f"{len(waves) - 1} pair(s) of waves, {fitted['factor'].nunique()} factors, "
        f"{len(fitted)} levels fitted in {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
