# Models: the structural equation models of config.yaml, fitted per wave.


rule model:
    input:
        responses="results/{wave}/clean/responses.parquet",
    output:
        estimates=report(
            "results/{wave}/models/{model}/estimates.csv",
            caption="../report/estimates.rst",
            category="Models",
            subcategory="{wave}",
        ),
        fit=report(
            "results/{wave}/models/{model}/fit.csv",
            caption="../report/fit.rst",
            category="Models",
            subcategory="{wave}",
        ),
        intervals="results/{wave}/models/{model}/intervals.csv",
        bootstrap="results/{wave}/models/{model}/bootstrap.csv",
    log:
        "logs/{wave}/model_{model}.log",
    benchmark:
        "benchmarks/{wave}/model_{model}.tsv"
    # First as soon as a wave is clean: a two-core job started last leaves a core idle while
    # the job before it finishes, and the one-core jobs fill both cores afterwards.
    priority: 10
    conda:
        "../../envs/lcsurvey.yaml"
    # Bootstrap draws run in chunks over this many processes; the CIs do not depend on it.
    threads: 2
    params:
        syntax=model_syntax,
        model="{model}",
        missing=config.get("estimation", {}).get("missing", "fiml"),
        se=config.get("estimation", {}).get("se", "standard"),
        information=config.get("estimation", {}).get("information"),
        bootstrap=config.get("estimation", {}).get("bootstrap", 2000),
        seed=config.get("estimation", {}).get("seed", 20211201),
    script:
        "../scripts/model.py"
