"""reports/index.html: every wave's two-pager in every language, HTML and PDF."""

from lcsurvey.pipeline.runner import script_log
from lcsurvey.report.render import write_index

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    write_index(sm.params.entries, sm.output.index)
    log.info("wrote %s with %d reports", sm.output.index, len(sm.params.entries))
