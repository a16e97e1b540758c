"""Measurement invariance of one model: every wave's responses -> configural, metric, scalar;
where the rule names a `score` output, also the score tests of the metric and scalar levels'
equality constraints (lavaan's lavTestScore)."""

import pandas as pd

from lcsurvey.pipeline.runner import round_significant, script_log, warnings_to_log, write_csv
from lcsurvey.study.invariance import model_invariance_tables
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.ordinal import OrdinalItems

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    frames = {
        wave: pd.read_parquet(path)
        for wave, path in zip(sm.params.waves, sm.input.responses, strict=True)
    }
    pooled = pd.concat(list(frames.values()), ignore_index=True)
    clustering = resolve(pooled, sm.params.cluster, book)
    clustering.log_to(log)
    wants_score = hasattr(sm.output, "score")
    # estimation.estimator wlsmv / ulsmv: the threshold invariance sequence of ordinal items
    ordered = OrdinalItems.from_params(sm.params.ordered).lavaan_ordered(
        sm.params.syntax, sm.params.estimator, name=sm.params.model
    )
    if ordered is not False:
        log.info(
            "items as ordered categories (estimation.estimator %s), missing answers %s "
            "(estimation.ordinal_missing)",
            sm.params.estimator,
            sm.params.ordinal_missing,
        )
    with warnings_to_log(log):
        table, score = model_invariance_tables(
            frames,
            sm.params.syntax,
            sm.params.group,
            model=sm.params.model,
            book=book,
            missing=sm.params.missing,
            min_group_size=sm.params.min_group_size,
            partial_max_share=sm.params.partial_max_share,
            strict=sm.params.strict,
            min_cell=sm.params.min_cell,
            cluster=clustering.variable if clustering.active else None,
            score=wants_score,
            ordered=ordered,
            ordinal_missing=sm.params.ordinal_missing,
        )
    for row in table.itertuples(index=False):
        log.info(
            "%s %s: cfi %s, rmsea %s, srmr %s, %s",
            row.groups,
            row.level or "-",
            row.cfi,
            row.rmsea,
            row.srmr,
            row.decision or row.note or "",
        )
    write_csv(round_significant(table), sm.output.table)
    if wants_score:
        write_csv(round_significant(score), sm.output.score)
