# Measurement invariance: the =~ lines of each model as a multi-group CFA (configural, metric,
# scalar) across the waves, and across each background variable of invariance.groups with the
# waves pooled. With a single wave the waves table is one row that says so.

INVARIANCE = config.get("invariance", {})
INVARIANCE_GROUPS = list(INVARIANCE.get("groups", ["sector"]))
_UNKNOWN_GROUPS = [v for v in INVARIANCE_GROUPS if v not in CODEBOOK.background]
if _UNKNOWN_GROUPS:
    raise WorkflowError(
        f"config.yaml, invariance.groups: {_UNKNOWN_GROUPS} are not background variables of "
        f"the codebook; expected some of {sorted(CODEBOOK.background)}"
    )


rule invariance_waves:
    input:
        responses=expand("results/{wave}/clean/responses.parquet", wave=WAVES),
        codebook=config["codebook"],
    output:
        table="results/invariance/{model}.csv",
    log:
        "logs/invariance/{model}.log",
    benchmark:
        "benchmarks/invariance/{model}.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        group="wave",
        waves=WAVES,
        syntax=model_syntax,
        model="{model}",
        missing=config.get("estimation", {}).get("missing", "fiml"),
        min_group_size=INVARIANCE.get("min_group_size", 50),
        min_cell=config.get("report", {}).get("min_cell", 10),
    script:
        "../scripts/invariance.py"


rule invariance_background:
    input:
        responses=expand("results/{wave}/clean/responses.parquet", wave=WAVES),
        codebook=config["codebook"],
    output:
        table="results/invariance/{model}_{variable}.csv",
    log:
        "logs/invariance/{model}_{variable}.log",
    benchmark:
        "benchmarks/invariance/{model}_{variable}.tsv"
    wildcard_constraints:
        variable=one_of(INVARIANCE_GROUPS),
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        group="{variable}",
        waves=WAVES,
        syntax=model_syntax,
        model="{model}",
        missing=config.get("estimation", {}).get("missing", "fiml"),
        min_group_size=INVARIANCE.get("min_group_size", 50),
        min_cell=config.get("report", {}).get("min_cell", 10),
    script:
        "../scripts/invariance.py"
