"""Power analysis: population values of the effects and start values of the fits."""

import pandas as pd

from lcsurvey import power
from lcsurvey.codebook import load_codebook
from lcsurvey.runner import script_log, write_csv

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    cfg = sm.params.settings
    fitted = None
    if cfg["population"] == "fitted":
        fitted = power.fitted_population(pd.read_csv(sm.input.estimates), sm.params.syntax,
                                         pd.read_parquet(sm.input.scores),
                                         pd.read_csv(sm.input.moderation))
    study = power.study_from_settings(cfg, sm.params.syntax, load_codebook(sm.input.codebook),
                                      fitted=fitted)
    true_values = study.true_values()
    log.info("population %s, true values %s", cfg["population"], true_values)
    write_csv(power.population_table(study, true_values), sm.output[0])
