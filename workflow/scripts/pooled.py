"""Pool the waves: per-wave responses and scores -> pooled tables, means, changes, attrition."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv, write_parquet
from lcsurvey.study.waves import (
    attrition,
    means_and_changes,
    measured_items,
    pool,
    read_longitudinal,
)
from lcsurvey.survey.codebook import load_codebook

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    waves = list(sm.params.waves)
    book = load_codebook(sm.input.codebook)
    responses = pool(
        {w: pd.read_parquet(p) for w, p in zip(waves, sm.input.responses, strict=True)}
    )
    scores = pool({w: pd.read_parquet(p) for w, p in zip(waves, sm.input.scores, strict=True)})
    constructs = [c for c in scores.columns if c not in ("rid", "wave")]
    invariance = pd.read_csv(sm.input.invariance) if sm.input.invariance else None
    longitudinal = read_longitudinal(list(sm.input.longitudinal))
    items, measurement = measured_items(book, sm.params.syntax)
    log.info(
        "%d waves, %d respondents, %d constructs; invariance table: %s",
        len(waves),
        len(responses),
        len(constructs),
        sm.input.invariance or "none",
    )
    background = {
        name: book.scales[var.scale]
        for name, var in book.background.items()
        if name not in sm.params.skip and name in responses.columns
    }
    numeric = [name for name, scale in background.items() if not scale.labels]
    categorical = {name: sorted(scale.labels) for name, scale in background.items() if scale.labels}
    write_parquet(responses, sm.output.responses)
    write_parquet(scores, sm.output.scores)
    means, changes = means_and_changes(
        scores,
        waves,
        construct_items=items,
        measurement=measurement,
        invariance=invariance,
        min_cell=sm.params.min_cell,
        longitudinal=longitudinal,
        min_returners=sm.params.min_returners,
    )
    write_csv(means, sm.output.means)
    write_csv(changes, sm.output.changes)
    write_csv(
        attrition(
            responses,
            scores,
            waves,
            constructs=constructs,
            numeric=numeric,
            categorical=categorical,
            min_cell=sm.params.min_cell,
        ),
        sm.output.attrition,
    )
