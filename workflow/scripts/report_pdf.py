"""Two-pager HTML -> A4 PDF with WeasyPrint (system fonts, embedded)."""

from lcsurvey.report import render_pdf
from lcsurvey.runner import script_log

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    render_pdf(sm.input.html, sm.output.pdf)
    log.info("wrote %s", sm.output.pdf)
