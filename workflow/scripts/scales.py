"""Scales of one wave: responses -> reliability, item statistics, response distribution,
scale scores and their correlations."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv, write_parquet
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.scales import (
    correlation_table,
    reliability_table,
    response_distribution,
    scale_scores,
)

with script_log(snakemake.log[0]):  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    responses = pd.read_parquet(sm.input.responses)
    reliability, items = reliability_table(responses, book)
    scores = scale_scores(responses, book)
    write_csv(reliability, sm.output.reliability)
    write_csv(items, sm.output.item_stats)
    write_csv(response_distribution(responses, book), sm.output.distribution)
    write_csv(correlation_table(scores), sm.output.correlations)
    write_parquet(scores, sm.output.scores)
