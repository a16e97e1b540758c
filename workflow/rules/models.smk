# Models: the structural equation models of config.yaml, fitted per wave.


rule model:
    input:
        # responses.parquet; scores.parquet too when a two-level model names construct scores
        unpack(model_inputs),
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
        # lavaan's modindices(fit, sort. = TRUE): lcsurvey.sem.modindices
        modindices="results/{wave}/models/{model}/modindices.csv",
        # Harman's single-factor test and the model with an unmeasured method factor
        # (lcsurvey.sem.method_variance); header only when the model is not estimated.
        method_variance="results/{wave}/models/{model}/method_variance.csv",
        # Always written: estimated yes/no and why; when no, the tables above hold their
        # header only, so the jobs that read them still run.
        status="results/{wave}/models/{model}/status.csv",
    log:
        "logs/{wave}/model_{model}.log",
    benchmark:
        "benchmarks/{wave}/model_{model}.tsv"
    # The longest job of a wave: started as soon as its wave is clean, it is not the last to end.
    priority: 10
    conda:
        "../../envs/lcsurvey.yaml"
    # Bootstrap draws run in chunks over this many processes; the CIs do not depend on it.
    threads: bootstrap_threads()
    params:
        syntax=model_syntax,
        model="{model}",
        missing=config["estimation"]["missing"],
        se=config["estimation"]["se"],
        information=config["estimation"]["information"],
        cluster=config["estimation"]["cluster"],
        bootstrap=config["estimation"]["bootstrap"],
        bootstrap_max_n=config["estimation"]["bootstrap_max_n"],
        seed=config["estimation"]["seed"],
        # the codebook's marker items (`marker: true`) for the CFA marker technique
        markers=[name for name, item in CODEBOOK.items.items() if item.marker],
        # ml, or wlsmv / ulsmv for the ordinal items (codebook ordinal: true, estimation.ordered)
        estimator=config["estimation"]["estimator"],
        ordered=ordinal_items(CODEBOOK, config["estimation"]["ordered"]).to_params(),
        ordinal_missing=config["estimation"]["ordinal_missing"],
    script:
        "../scripts/model.py"


# lavTestLRT between the models config nested: declares nested, per wave.
rule nested:
    input:
        unpack(nested_fits),
    output:
        nested="results/{wave}/models/nested.csv",
    log:
        "logs/{wave}/nested.log",
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        pairs=NESTED,
    script:
        "../scripts/nested.py"
