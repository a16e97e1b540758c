# The Learning Communities survey pipeline: raw exports -> cleaned data -> scales -> models -> two-pager.
# Analysis choices live in config.yaml (schema: workflow/schemas/config.schema.yaml).
from snakemake.utils import min_version, validate

import lcsurvey.schema  # before validate: jsonschema without its slow IRI checker (see there)

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# Fills in every default of the schema (set_default, nested blocks too): the rules read
# config[...] directly, and a config may name only its waves, codebook and models.
validate(config, schema="workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/common.smk"


wildcard_constraints:
    wave=one_of(WAVES),
    model=one_of(MODELS),
    lang=one_of(LANGUAGES),


include: "workflow/rules/clean.smk"
include: "workflow/rules/scales.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/invariance.smk"
include: "workflow/rules/crosswave.smk"
include: "workflow/rules/power.smk"


rule all:
    default_target: True
    input:
        all_targets(),
