# Report: the two-pager per wave and language in one job (papermill -> nbconvert -> WeasyPrint:
# one process start instead of three), and an index. A wave's two-pager depends on the waves
# up to and including it only: adding a wave re-renders the new wave's reports and the index.
# Its inputs are what the report reads (the script passes them on by name); the codebook counts
# as the waves up to this one read it (a digest per wave), so new column names for a later
# wave leave the earlier two-pagers alone.

REPORT_MODEL = config["report"]["model"]


rule report_two_pager:
    input:
        unpack(report_across_waves),
        unpack(report_plan),
        unpack(report_twolevel),
        notebook="notebooks/two_pager.ipynb",
        flow="results/{wave}/clean/flow.csv",
        responses="results/{wave}/clean/responses.parquet",
        reliability="results/{wave}/scales/reliability.csv",
        item_stats="results/{wave}/scales/items.csv",
        scores="results/{wave}/scales/scores.parquet",
        cfa_fit="results/{wave}/scales/cfa_fit.csv",
        estimates=f"results/{{wave}}/models/{REPORT_MODEL}/estimates.csv",
        fit=f"results/{{wave}}/models/{REPORT_MODEL}/fit.csv",
        motives="results/{wave}/models/motives.csv",
        main_motive="results/{wave}/models/main_motive.csv",
        moderation="results/{wave}/models/moderation.csv",
        simple_slopes="results/{wave}/models/simple_slopes.csv",
        intervals=f"results/{{wave}}/models/{REPORT_MODEL}/intervals.csv",
        diversity="results/{wave}/models/diversity.csv",
        agreement="results/{wave}/scales/agreement.csv",
        bootstrap=f"results/{{wave}}/models/{REPORT_MODEL}/bootstrap.csv",
        method_variance=f"results/{{wave}}/models/{REPORT_MODEL}/method_variance.csv",
        status=f"results/{{wave}}/models/{REPORT_MODEL}/status.csv",
        measurement_status="results/{wave}/scales/measurement_status.csv",
        codebook=ancient(config["codebook"]),
        raw=raw_file,
    output:
        notebook="results/{wave}/report/two_pager_{lang}.ipynb",
        html="reports/{wave}/two_pager_{lang}.html",
        pdf=report(
            "reports/{wave}/two_pager_{lang}.pdf",
            caption="../report/two_pager.rst",
            category="Reports",
            subcategory="{wave}",
        ),
    log:
        "logs/{wave}/report_two_pager_{lang}.log",
    benchmark:
        "benchmarks/{wave}/report_two_pager_{lang}.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        wave="{wave}",
        lang="{lang}",
        model=REPORT_MODEL,
        min_cell=config["report"]["min_cell"],
        waves=waves_upto,
        config_digest=report_config_digest,
        # the codebook as each wave up to this one reads it (common.smk's per-wave digest)
        codebook=lambda wc: [_codebook_digest(wave) for wave in waves_upto(wc)],
        roles=config["roles"],
        effects=config["report"]["effects"],
        cluster=config["estimation"]["cluster"],
        twolevel_model=TWOLEVEL_MODEL,
        plan_sha256=report_plan_sha256,
    script:
        "../scripts/report_two_pager.py"


rule report_index:
    input:
        html=expand("reports/{wave}/two_pager_{lang}.html", wave=WAVES, lang=LANGUAGES),
        pdf=expand("reports/{wave}/two_pager_{lang}.pdf", wave=WAVES, lang=LANGUAGES),
    output:
        index="reports/index.html",
    log:
        "logs/report_index.log",
    benchmark:
        "benchmarks/report_index.tsv"
    conda:
        "../../envs/lcsurvey.yaml"
    params:
        entries=[
            {
                "wave": wave,
                "lang": lang,
                "html": f"reports/{wave}/two_pager_{lang}.html",
                "pdf": f"reports/{wave}/two_pager_{lang}.pdf",
            }
            for wave in WAVES
            for lang in LANGUAGES
        ],
    script:
        "../scripts/report_index.py"
