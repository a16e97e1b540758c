"""Power analysis: population values of the effects and start values of the fits."""

from lcsurvey.pipeline.runner import script_log, write_csv
from lcsurvey.study import power

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    cfg = sm.params.settings
    study = power.study_from_files(
        cfg, sm.params.syntax, sm.input.codebook, sm.input, roles=sm.params.moderation
    )
    true_values = study.true_values()
    log.info("population %s, true values %s", cfg["population"], true_values)
    write_csv(power.population_table(study, true_values), sm.output[0])
