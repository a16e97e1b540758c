"""Measurement model of one wave: responses -> CFA fit, loadings, validity (CR, AVE), HTMT, and
measurement_status.csv (each CFA estimated or why not: a CFA the data do not allow is left out
of the tables, and without the joint CFA validity and HTMT hold their header only)."""

import pandas as pd

from lcsurvey.pipeline.runner import round_significant, script_log, warnings_to_log, write_csv
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.measurement import (
    cfa_fit_table,
    fit_measurement,
    loadings_table,
    status_frame,
    validity_tables,
)

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    responses = pd.read_parquet(sm.input.responses)
    clustering = resolve(responses, sm.params.cluster, book)
    clustering.log_to(log)
    with warnings_to_log(log):
        result = fit_measurement(
            responses,
            book,
            missing=sm.params.missing,
            cluster=clustering.variable if clustering.active else None,
        )
    status = status_frame(result)
    for row in status[status["estimated"] == "no"].itertuples(index=False):
        log.warning("CFA %s not estimated: %s (n %s) %s", row.model, row.reason, row.n, row.detail)
    validity, htmt = validity_tables(result)
    write_csv(round_significant(cfa_fit_table(result)), sm.output.cfa_fit)
    write_csv(round_significant(loadings_table(result)), sm.output.loadings)
    write_csv(round_significant(validity), sm.output.validity)
    write_csv(round_significant(htmt), sm.output.htmt)
    write_csv(status, sm.output.status)
