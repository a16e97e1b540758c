# Scales: item statistics, reliability per construct, mean scale scores and their correlations;
# agreement within clusters and reliability of cluster means;
# the measurement model (CFAs, composite reliability, AVE, HTMT) in a rule of its own (slower).

# The tables of results/{wave}/scales/ that rule all asks for beside reliability.csv.
SCALE_TABLES = [
    "distribution",
    "agreement",
    "correlations",
    "cfa_fit",
    "loadings",
    "validity",
    "htmt",
]


rule scales:
    input:
        responses="results/{wave}/clean/responses.parquet",
        codebook=ancient(config["codebook"]),
    output:
        reliability=report(
            "results/{wave}/scales/reliability.csv",
            caption="../report/reliability.rst",
            category="Scales",
            subcategory="{wave}",
        ),
        item_stats="results/{wave}/scales/items.csv",
        distribution="results/{wave}/scales/distribution.csv",
        correlations="results/{wave}/scales/correlations.csv",
        scores="results/{wave}/scales/scores.parquet",
    log:
        "logs/{wave}/scales.log",
    benchmark:
        "benchmarks/{wave}/scales.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        codebook=codebook_digest,
    script:
        "../scripts/scales.py"


# A rule of its own: estimation.cluster and report.min_cell rerun this table only, not the scale
# scores (whose new file time would rerun every model of the wave).
rule agreement:
    input:
        responses="results/{wave}/clean/responses.parquet",
        codebook=ancient(config["codebook"]),
    output:
        agreement=report(
            "results/{wave}/scales/agreement.csv",
            caption="../report/agreement.rst",
            category="Scales",
            subcategory="{wave}",
        ),
    log:
        "logs/{wave}/agreement.log",
    benchmark:
        "benchmarks/{wave}/agreement.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        cluster=config["estimation"]["cluster"],
        min_cell=config["report"]["min_cell"],
        codebook=codebook_digest,
    script:
        "../scripts/agreement.py"


rule measurement:
    input:
        responses="results/{wave}/clean/responses.parquet",
        codebook=ancient(config["codebook"]),
    output:
        cfa_fit=report(
            "results/{wave}/scales/cfa_fit.csv",
            caption="../report/cfa_fit.rst",
            category="Scales",
            subcategory="{wave}",
        ),
        loadings="results/{wave}/scales/loadings.csv",
        validity="results/{wave}/scales/validity.csv",
        htmt="results/{wave}/scales/htmt.csv",
        # Each CFA estimated or why not (a CFA the data do not allow is left out above).
        status="results/{wave}/scales/measurement_status.csv",
    log:
        "logs/{wave}/measurement.log",
    benchmark:
        "benchmarks/{wave}/measurement.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        missing=config["estimation"]["missing"],
        cluster=config["estimation"]["cluster"],
        codebook=codebook_digest,
    script:
        "../scripts/measurement.py"
