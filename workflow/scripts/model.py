"""Fit one configured model to one wave: responses -> estimates.csv, fit.csv."""

import pandas as pd

from lcsurvey.runner import script_log, write_csv
from lcsurvey.sem import fit_model

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    responses = pd.read_parquet(sm.input.responses)
    fitted = fit_model(sm.params.syntax, responses, name=sm.params.model,
                       missing=sm.params.missing)
    log.info("fitted %s on %d complete cases", sm.params.model, len(fitted.data))
    write_csv(fitted.estimates, sm.output.estimates)
    write_csv(fitted.fit, sm.output.fit)
