"""The returners' longitudinal invariance of the report model's factors: the responses of a
wave and the wave before -> configural, metric and scalar per factor across the two waves."""

import pandas as pd

from lcsurvey.pipeline.runner import round_significant, script_log, warnings_to_log, write_csv
from lcsurvey.study.invariance import longitudinal_invariance
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.codebook import load_codebook

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    frames = {
        wave: pd.read_parquet(path)
        for wave, path in zip(sm.params.waves, sm.input.responses, strict=True)
    }
    clustering = resolve(
        pd.concat(list(frames.values()), ignore_index=True), sm.params.cluster, book
    )
    clustering.log_to(log)
    with warnings_to_log(log):
        table = longitudinal_invariance(
            frames,
            sm.params.syntax,
            model=sm.params.model,
            missing=sm.params.missing,
            min_cell=sm.params.min_cell,
            cluster=clustering.variable if clustering.active else None,
            strict=sm.params.strict,
        )
    for row in table.itertuples(index=False):
        log.info(
            "%s %s %s: n %s, cfi %s, rmsea %s, %s",
            row.factor,
            row.group_values,
            row.level or "-",
            row.ntotal,
            row.cfi,
            row.rmsea,
            row.decision or row.note or "",
        )
    write_csv(round_significant(table), sm.output.table)
