# Cleaning: read a raw export, map it through the codebook, apply the exclusion rules.


rule clean:
    input:
        raw=raw_file,
        codebook=ancient(config["codebook"]),
    output:
        responses="results/{wave}/clean/responses.parquet",
        quarantine="results/{wave}/clean/quarantine.parquet",
        flow="results/{wave}/clean/flow.csv",
        recodes="results/{wave}/clean/recodes.csv",
    log:
        "logs/{wave}/clean.log",
    benchmark:
        "benchmarks/{wave}/clean.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        wave="{wave}",
        rules=config["cleaning"],
        reading=reading_options,
        key_file=config.get("pseudonym_key_file"),
        raw_sha256=raw_sha256,
        codebook=clean_codebook_digest,
    script:
        "../scripts/clean.py"


rule flow_figure:
    input:
        flow="results/{wave}/clean/flow.csv",
    output:
        figure=report(
            "results/{wave}/clean/flow.png",
            caption="../report/flow.rst",
            category="Cleaning",
            subcategory="{wave}",
        ),
    log:
        "logs/{wave}/flow_figure.log",
    benchmark:
        "benchmarks/{wave}/flow_figure.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        title="Wave {wave}: from raw responses to analysis sample",
    script:
        "../scripts/flow_figure.py"
