"""Analyses of one wave: responses, scale scores -> motives, main motive, moderation, diversity,
and analyses_status.csv (whether the moderation could be estimated; when not, its two tables
hold their header only)."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv
from lcsurvey.sem.estimability import NotEstimated, status_row, status_table
from lcsurvey.study import analyses
from lcsurvey.survey.codebook import load_codebook

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    responses = pd.read_parquet(sm.input.responses)
    scores = pd.read_parquet(sm.input.scores)
    write_csv(analyses.motives(scores, book, constructs=sm.params.motives), sm.output.motives)
    write_csv(
        analyses.main_motive(responses, book, min_cell=sm.params.min_cell), sm.output.main_motive
    )
    try:
        moderation = analyses.moderation(scores, **sm.params.moderation)
    except NotEstimated as err:
        log.warning("%s; its tables are left empty", err.message)
        moderation = analyses.Moderation(
            pd.DataFrame(columns=analyses.MODERATION_COLUMNS),
            pd.DataFrame(columns=analyses.SIMPLE_SLOPE_COLUMNS),
        )
        status = err.status_row()
    else:
        n = int(moderation.coefficients["n"].iloc[0])
        log.info("moderation on %d complete cases", n)
        status = status_row("moderation", True, n=n, needed=analyses.MODERATION_MIN_N)
    write_csv(moderation.coefficients, sm.output.moderation)
    write_csv(moderation.simple_slopes, sm.output.simple_slopes)
    write_csv(
        analyses.diversity(responses, scores, outcomes=sm.params.climate, **sm.params.diversity),
        sm.output.diversity,
    )
    write_csv(status_table([status]), sm.output.status)
