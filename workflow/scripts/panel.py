"""Cross-lagged panel model on the pooled scores of returners: -> panel estimates and fit."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, warnings_to_log, write_csv
from lcsurvey.study.waves import panel_model

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    scores = pd.read_parquet(sm.input.scores)
    with warnings_to_log(log):  # a pair of waves left out, and why
        estimates, fit = panel_model(
            scores,
            list(sm.params.waves),
            cause=sm.params.cause,
            effect=sm.params.effect,
            missing=sm.params.missing,
            min_cell=sm.params.min_cell,
        )
    log.info("%s -> %s: %d pairs of waves fitted", sm.params.cause, sm.params.effect, len(fit))
    write_csv(estimates, sm.output.estimates)
    write_csv(fit, sm.output.fit)
