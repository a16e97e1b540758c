# Measurement invariance: the =~ lines of each model as a multi-group CFA (configural, metric,
# scalar) across the waves, and across each background variable of invariance.groups with the
# waves pooled. With a single wave the waves table is one row that says so.

# A variable the codebook does not have is skipped (SKIPPED says so at start-up).
INVARIANCE_GROUPS = [
    variable
    for variable in config["invariance"]["groups"]
    if f"invariance {variable}" not in SKIPPED
]


rule invariance_waves:
    input:
        responses=expand("results/{wave}/clean/responses.parquet", wave=WAVES),
        codebook=config["codebook"],
    output:
        table="results/invariance/{model}.csv",
        # lavaan's lavTestScore of the metric and scalar levels' equality constraints
        score="results/invariance/{model}_score.csv",
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
        missing=config["estimation"]["missing"],
        min_group_size=config["invariance"]["min_group_size"],
        partial_max_share=config["invariance"]["partial_max_share"],
        strict=config["invariance"]["strict"],
        min_cell=config["report"]["min_cell"],
        cluster=config["estimation"]["cluster"],
        # the ordinal items' threshold invariance under estimator wlsmv / ulsmv
        estimator=config["estimation"]["estimator"],
        ordered=ordinal_items(CODEBOOK, config["estimation"]["ordered"]).to_params(),
        ordinal_missing=config["estimation"]["ordinal_missing"],
    script:
        "../scripts/invariance.py"


rule invariance_background:
    input:
        responses=expand("results/{wave}/clean/responses.parquet", wave=WAVES),
        codebook=config["codebook"],
    output:
        table="results/invariance/{model}_{variable}.csv",
        score="results/invariance/{model}_{variable}_score.csv",
    log:
        "logs/invariance/{model}_{variable}.log",
    benchmark:
        "benchmarks/invariance/{model}_{variable}.tsv"
    wildcard_constraints:
        variable=one_of(INVARIANCE_GROUPS) if INVARIANCE_GROUPS else "(?!)",
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        group="{variable}",
        waves=WAVES,
        syntax=model_syntax,
        model="{model}",
        missing=config["estimation"]["missing"],
        min_group_size=config["invariance"]["min_group_size"],
        partial_max_share=config["invariance"]["partial_max_share"],
        strict=config["invariance"]["strict"],
        min_cell=config["report"]["min_cell"],
        cluster=config["estimation"]["cluster"],
        # the ordinal items' threshold invariance under estimator wlsmv / ulsmv
        estimator=config["estimation"]["estimator"],
        ordered=ordinal_items(CODEBOOK, config["estimation"]["ordered"]).to_params(),
        ordinal_missing=config["estimation"]["ordinal_missing"],
    script:
        "../scripts/invariance.py"
