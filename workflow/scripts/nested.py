"""Likelihood-ratio tests of the model pairs config.yaml declares nested: nested.csv."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv
from lcsurvey.study.nested import nested_table

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    fits = {name: pd.read_csv(path) for name, path in sm.input.items()}
    table = nested_table(sm.params.pairs, fits)
    for row in table.itertuples():
        log.info(
            "%s in %s: delta chisq %.3f on %s df, p %.4g (%s)%s",
            row.restricted,
            row.general,
            row.delta_chisq,
            row.delta_df,
            row.delta_pvalue,
            row.delta_method,
            f"; {row.note}" if isinstance(row.note, str) and row.note else "",
        )
    write_csv(table, sm.output.nested)
