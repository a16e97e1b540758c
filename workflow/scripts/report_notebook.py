"""Execute the two-pager notebook for one wave and language: snakemake.input -> output.notebook."""

import os
from pathlib import Path

from lcsurvey.report import execute_notebook
from lcsurvey.runner import script_log

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    parameters = {
        "wave": sm.params.wave,
        "lang": sm.params.lang,
        # results/{wave}/clean/flow.csv -> results
        "results_dir": str(Path(sm.input.flow).parents[2]),
        "codebook": sm.input.codebook,
        "config": sm.input.config,
        "data_file": sm.input.raw,
        "model": sm.params.model,
        "min_cell": sm.params.min_cell,
    }
    log.info("papermill %s -> %s with %s", sm.input.notebook, sm.output.notebook, parameters)
    execute_notebook(sm.input.notebook, sm.output.notebook, parameters, cwd=os.getcwd())
