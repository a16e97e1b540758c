"""Power analysis: power.csv and power.png from the shards."""

import pandas as pd

from lcsurvey.pipeline.runner import _atomic, script_log, write_csv
from lcsurvey.study import power

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    true_values, _ = power.read_population_table(pd.read_csv(sm.input.population))
    results = pd.concat([pd.read_csv(path) for path in sm.input.shards], ignore_index=True)
    table = power.aggregate(results, true_values, alpha=sm.params.alpha)
    write_csv(table, sm.output.table)
    _atomic(sm.output.figure, lambda tmp: power.plot_power(table, tmp))
    for lang in ("en", "nl"):
        log.info("%s", power.planning_note(table, lang))
