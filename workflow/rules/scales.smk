# Scales: item statistics, reliability per construct, mean scale scores.


rule scales:
    input:
        responses="results/{wave}/clean/responses.parquet",
        codebook=config["codebook"],
    output:
        reliability="results/{wave}/scales/reliability.csv",
        item_stats="results/{wave}/scales/items.csv",
        scores="results/{wave}/scales/scores.parquet",
    log:
        "logs/{wave}/scales.log",
    conda:
        "../../envs/lcsurvey.yaml"
    script:
        "../scripts/scales.py"
