"""The two-pager for one wave and language in one job: papermill executes the notebook, then
HTML through the two_pager template (no code, no prompts), then the A4 PDF with WeasyPrint."""

import os

from lcsurvey.pipeline.runner import script_log
from lcsurvey.report.render import render_report
from lcsurvey.schema import load_yaml
from lcsurvey.study.plan import plan_summary, read_lock

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    parameters = {
        "wave": sm.params.wave,
        "lang": sm.params.lang,
        # the rule's inputs by name: the report reads these files and no others
        "input_files": {
            name: str(path) for name, path in sm.input.items() if name not in ("notebook", "plan")
        },
        "config_digest": sm.params.config_digest,
        "model": sm.params.model,
        "min_cell": sm.params.min_cell,
        "waves": list(sm.params.waves),
        "roles": dict(sm.params.roles),
        "effects": list(sm.params.effects),
        "cluster": sm.params.cluster,
        "twolevel_model": sm.params.twolevel_model,
    }
    plan_file = dict(sm.input.items()).get("plan")
    if plan_file:  # a frozen analysis plan (analysis_plan.lock): compared with the configuration
        parameters["plan"] = plan_summary(
            read_lock(plan_file), sm.config, load_yaml(sm.input.codebook)
        )
    log.info("papermill %s -> %s with %s", sm.input.notebook, sm.output.notebook, parameters)
    left_out: list[str] = []
    times = render_report(
        sm.input.notebook,
        sm.output.notebook,
        sm.output.html,
        sm.output.pdf,
        parameters,
        cwd=os.getcwd(),
        left_out=left_out,
    )
    for change in left_out:
        log.info("to fit on two pages: %s", change)
    log.info(
        "wrote %s, %s and %s (%s)",
        sm.output.notebook,
        sm.output.html,
        sm.output.pdf,
        ", ".join(f"{step} {seconds:.1f} s" for step, seconds in times.items()),
    )
