"""Fit one configured model to one wave: estimates.csv, fit.csv, intervals.csv, bootstrap.csv."""

import pandas as pd
from threadpoolctl import threadpool_limits

from lcsurvey.pipeline.runner import script_log, warnings_to_log, write_csv
from lcsurvey.sem.model import bootstrap_estimates, fit_model
from lcsurvey.survey.clusters import resolve

# Snakemake gives BLAS the rule's threads, which are meant for the bootstrap's processes;
# threaded BLAS on these small matrices changes the last bits of the estimates between runs.
with script_log(snakemake.log[0]) as log, threadpool_limits(limits=1):  # noqa: F821
    sm = snakemake  # noqa: F821
    responses = pd.read_parquet(sm.input.responses)
    clustering = resolve(responses, sm.params.cluster)
    (log.warning if clustering.problem else log.info)("%s", clustering.describe())
    with warnings_to_log(log):
        fitted = fit_model(
            sm.params.syntax,
            responses,
            name=sm.params.model,
            missing=sm.params.missing,
            se=sm.params.se,
            information=sm.params.information,
            cluster=clustering.variable if clustering.active else None,
        )
    log.info("fitted %s on %d rows", sm.params.model, len(fitted.data))
    intervals, summary = bootstrap_estimates(
        fitted, sm.params.bootstrap, sm.params.seed, workers=sm.threads
    )
    row = summary.iloc[0]
    log.info(
        "bootstrap (%s, resampling %s): %d of %d draws converged, %d failed",
        row["method"],
        f"{row['clusters']} clusters of {clustering.variable}"
        if row["resampling"] == "clusters"
        else "rows",
        row["draws_ok"],
        row["draws_requested"],
        row["draws_failed"],
    )
    write_csv(fitted.estimates, sm.output.estimates)
    write_csv(fitted.fit, sm.output.fit)
    write_csv(intervals, sm.output.intervals)
    write_csv(summary, sm.output.bootstrap)
