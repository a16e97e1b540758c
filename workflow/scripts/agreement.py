"""Agreement of one wave: responses -> ICC(1), ICC(2), r_wg(j) and AD_M per construct within the
clusters of estimation.cluster."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv
from lcsurvey.survey.agreement import agreement_table, left_out
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.codebook import load_codebook

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    responses = pd.read_parquet(sm.input.responses)
    clustering = resolve(responses, sm.params.cluster, book)
    clustering.log_to(log)
    if line := left_out(clustering):
        log.info("%s", line)
    table = agreement_table(responses, book, clustering, sm.params.min_cell)
    write_csv(table, sm.output.agreement)
