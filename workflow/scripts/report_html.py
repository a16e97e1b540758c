"""Executed two-pager notebook -> HTML through the two_pager template (no code, no prompts)."""

from lcsurvey.report import render_html
from lcsurvey.runner import script_log

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    render_html(sm.input.notebook, sm.output.html)
    log.info("wrote %s", sm.output.html)
