"""One wave's tables across waves: the construct means of the waves up to and including it and
the changes from the previous wave, comparable as the invariance test of those two waves says."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv
from lcsurvey.study.waves import means_and_changes, measured_items, pool, read_longitudinal
from lcsurvey.survey.codebook import load_codebook

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    waves = list(sm.params.waves)
    book = load_codebook(sm.input.codebook)
    scores = pool({w: pd.read_parquet(p) for w, p in zip(waves, sm.input.scores, strict=True)})
    invariance = pd.read_csv(sm.input.invariance) if sm.input.invariance else None
    longitudinal = read_longitudinal([sm.input.longitudinal])
    items, measurement = measured_items(book, sm.params.syntax)
    means, changes = means_and_changes(
        scores,
        waves,
        construct_items=items,
        measurement=measurement,
        invariance=invariance,
        change_waves=waves[-2:],
        min_cell=sm.params.min_cell,
        longitudinal=longitudinal,
        min_returners=sm.params.min_returners,
    )
    log.info(
        "wave %s: means of %d waves, changes %s -> %s; invariance table: %s",
        waves[-1],
        len(waves),
        *waves[-2:],
        sm.input.invariance or "none",
    )
    write_csv(means, sm.output.means)
    write_csv(changes, sm.output.changes)
