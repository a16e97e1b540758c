# Across waves: pooled respondents and scores, construct means per wave, changes between
# consecutive waves, attrition (returners against leavers) and a two-wave cross-lagged panel
# model. Always targeted (the panel model when the codebook has the constructs of roles.panel):
# with one wave the comparison tables hold their header only.

POOLED_TABLES = [
    "responses.parquet",
    "scores.parquet",
    "means.csv",
    "changes.csv",
    "attrition.csv",
]
# The panel model (config roles.panel): the earlier score of `cause` on the later score of
# `effect`.
PANEL_TABLES = ["panel_estimates.csv", "panel_fit.csv"]


rule pooled:
    input:
        responses=expand("results/{wave}/clean/responses.parquet", wave=WAVES),
        scores=expand("results/{wave}/scales/scores.parquet", wave=WAVES),
        codebook=config["codebook"],
        invariance=invariance_table,
        # The returners' test of each pair of consecutive waves (rule across_longitudinal).
        longitudinal=expand(
            "results/{wave}/across/longitudinal_invariance.csv", wave=WAVES[1:]
        ),
    output:
        responses="results/pooled/responses.parquet",
        scores="results/pooled/scores.parquet",
        means="results/pooled/means.csv",
        changes="results/pooled/changes.csv",
        attrition="results/pooled/attrition.csv",
    log:
        "logs/pooled/pooled.log",
    benchmark:
        "benchmarks/pooled/pooled.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        waves=WAVES,
        syntax=CROSSWAVE_SYNTAX,
        # Background variables that identify a group rather than describe a person.
        skip=config["roles"]["attrition_skip"],
        min_cell=config["report"]["min_cell"],
        min_returners=config["invariance"]["min_returners"],
    script:
        "../scripts/pooled.py"


rule panel:
    input:
        scores="results/pooled/scores.parquet",
    output:
        estimates="results/pooled/panel_estimates.csv",
        fit="results/pooled/panel_fit.csv",
    log:
        "logs/pooled/panel.log",
    benchmark:
        "benchmarks/pooled/panel.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        waves=WAVES,
        cause=config["roles"]["panel"]["cause"],
        effect=config["roles"]["panel"]["effect"],
        missing=config["estimation"]["missing"],
        min_cell=config["report"]["min_cell"],
    script:
        "../scripts/panel.py"


# One wave's view across waves, for its two-pager: means of the waves up to and including it,
# the change from the previous wave and the invariance test of those two waves. A wave added
# later leaves these tables (and the reports made from them) as they are. Only for waves with
# a previous one.
LATER_WAVES = WAVES[1:]


rule across_invariance:
    input:
        responses=lambda wc: expand(
            "results/{wave}/clean/responses.parquet", wave=wave_and_previous(wc)
        ),
        codebook=ancient(config["codebook"]),
    output:
        table="results/{wave}/across/invariance.csv",
    log:
        "logs/{wave}/across_invariance.log",
    benchmark:
        "benchmarks/{wave}/across_invariance.tsv"
    wildcard_constraints:
        wave=one_of(LATER_WAVES) if LATER_WAVES else "(?!)",
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        group="wave",
        waves=wave_and_previous,
        codebook=lambda wc: [_codebook_digest(wave) for wave in wave_and_previous(wc)],
        syntax=CROSSWAVE_SYNTAX,
        model=CROSSWAVE_MODEL,
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


# The returners' own test of the same two waves (one longitudinal CFA per factor of the
# report's model): comparability of a construct's change when enough people returned.
rule across_longitudinal:
    input:
        responses=lambda wc: expand(
            "results/{wave}/clean/responses.parquet", wave=wave_and_previous(wc)
        ),
        codebook=ancient(config["codebook"]),
    output:
        table="results/{wave}/across/longitudinal_invariance.csv",
    log:
        "logs/{wave}/across_longitudinal.log",
    benchmark:
        "benchmarks/{wave}/across_longitudinal.tsv"
    wildcard_constraints:
        wave=one_of(LATER_WAVES) if LATER_WAVES else "(?!)",
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        waves=wave_and_previous,
        codebook=lambda wc: [_codebook_digest(wave) for wave in wave_and_previous(wc)],
        syntax=CROSSWAVE_SYNTAX,
        model=CROSSWAVE_MODEL,
        missing=config["estimation"]["missing"],
        strict=config["invariance"]["strict"],
        min_cell=config["report"]["min_cell"],
        cluster=config["estimation"]["cluster"],
    script:
        "../scripts/longitudinal.py"


rule across:
    input:
        scores=lambda wc: expand(
            "results/{wave}/scales/scores.parquet", wave=waves_upto(wc)
        ),
        codebook=ancient(config["codebook"]),
        invariance="results/{wave}/across/invariance.csv",
        longitudinal="results/{wave}/across/longitudinal_invariance.csv",
    output:
        means="results/{wave}/across/means.csv",
        changes="results/{wave}/across/changes.csv",
    log:
        "logs/{wave}/across.log",
    benchmark:
        "benchmarks/{wave}/across.tsv"
    wildcard_constraints:
        wave=one_of(LATER_WAVES) if LATER_WAVES else "(?!)",
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        waves=waves_upto,
        codebook=lambda wc: [_codebook_digest(wave) for wave in waves_upto(wc)],
        syntax=CROSSWAVE_SYNTAX,
        min_cell=config["report"]["min_cell"],
        min_returners=config["invariance"]["min_returners"],
    script:
        "../scripts/across.py"
