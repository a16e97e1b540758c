"""Scales of one wave: responses -> reliability, item statistics, scale scores."""

import pandas as pd

from lcsurvey.codebook import load_codebook
from lcsurvey.runner import script_log, write_csv, write_parquet
from lcsurvey.scales import reliability_table, scale_scores

with script_log(snakemake.log[0]):  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    responses = pd.read_parquet(sm.input.responses)
    reliability, items = reliability_table(responses, book)
    write_csv(reliability, sm.output.reliability)
    write_csv(items, sm.output.item_stats)
    write_parquet(scale_scores(responses, book), sm.output.scores)
