# Models: the structural equation models of config.yaml, fitted per wave.


rule model:
    input:
        responses="results/{wave}/clean/responses.parquet",
    output:
        estimates="results/{wave}/models/{model}/estimates.csv",
        fit="results/{wave}/models/{model}/fit.csv",
    log:
        "logs/{wave}/model_{model}.log",
    benchmark:
        "benchmarks/{wave}/model_{model}.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        syntax=model_syntax,
        model="{model}",
        missing=config.get("estimation", {}).get("missing", "fiml"),
    script:
        "../scripts/model.py"
