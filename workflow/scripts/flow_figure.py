"""Draw the cleaning flow of one wave: flow.csv -> flow.png."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log
from lcsurvey.report.flowchart import flow_figure

with script_log(snakemake.log[0]):  # noqa: F821
    sm = snakemake  # noqa: F821
    flow_figure(pd.read_csv(sm.input.flow), sm.output.figure, title=sm.params.title)
