# Analyses on the scale scores: motives, main motive, moderation of transfer, diversity.


rule analyses:
    input:
        responses="results/{wave}/clean/responses.parquet",
        scores="results/{wave}/scales/scores.parquet",
        codebook=ancient(config["codebook"]),
    output:
        motives=report(
            "results/{wave}/models/motives.csv",
            caption="../report/motives.rst",
            category="Models",
            subcategory="{wave}",
        ),
        main_motive="results/{wave}/models/main_motive.csv",
        moderation="results/{wave}/models/moderation.csv",
        simple_slopes="results/{wave}/models/simple_slopes.csv",
        diversity="results/{wave}/models/diversity.csv",
        # Whether the moderation was estimated, or why not (then its tables are header-only).
        status="results/{wave}/models/analyses_status.csv",
    log:
        "logs/{wave}/analyses.log",
    benchmark:
        "benchmarks/{wave}/analyses.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        min_cell=config["report"]["min_cell"],
        motives=config["roles"]["motives"],
        climate=config["roles"]["climate"],
        moderation=config["roles"]["moderation"],
        diversity=config["roles"]["diversity"],
        codebook=codebook_digest,
    script:
        "../scripts/analyses.py"
