# Monte Carlo power analysis for the next wave (`make power`, or `snakemake power`). Not part
# of `rule all`: it is asked for by name. Settings: config.yaml `power:` (see the schema). When
# this config or codebook cannot meet them (said at start-up), asking for it stops with why.
from lcsurvey.study import power_config as power_analysis

if "power" in SKIPPED:

    rule power:
        input:
            power_skipped,

else:
    POWER = power_analysis.settings(config["power"], config["models"])
    POWER_SHARDS = range(
        len(power_analysis.shards(POWER["replications"], POWER["shard_size"]))
    )
    # population: fitted takes the model fitted to the last wave listed under `waves`.
    POWER_WAVE = WAVES[-1]
    POWER_WAVE_INPUTS = (
        {
            "estimates": f"results/{POWER_WAVE}/models/{POWER['model']}/estimates.csv",
            "scores": f"results/{POWER_WAVE}/scales/scores.parquet",
            "moderation": f"results/{POWER_WAVE}/models/moderation.csv",
        }
        if POWER["population"] == "fitted"
        else {}
    )

    rule power_population:
        input:
            unpack(lambda wildcards: POWER_WAVE_INPUTS),
            codebook=config["codebook"],
        output:
            "results/power/population.csv",
        log:
            "logs/power/population.log",
        benchmark:
            "benchmarks/power/population.tsv"
        conda:
            "../../envs/lcsurvey.yaml"
        # One process: the reference sample of 1,000,000 respondents (in chunks) takes about
        # 20 s and 1.4 GB. mem_mb in MB, runtime in minutes (what a SLURM job asks for).
        threads: 1
        resources:
            mem_mb=3000,
            runtime=15,
        params:
            settings=POWER,
            syntax=config["models"][POWER["model"]],
            moderation=config["roles"]["moderation"],
        script:
            "../scripts/power_population.py"

    rule power_shard:
        input:
            unpack(lambda wildcards: POWER_WAVE_INPUTS),
            population="results/power/population.csv",
            codebook=config["codebook"],
        output:
            "results/power/shards/n{n}_shard{shard}.csv",
        log:
            "logs/power/n{n}_shard{shard}.log",
        benchmark:
            "benchmarks/power/n{n}_shard{shard}.tsv"
        wildcard_constraints:
            n=r"\d+",
            shard=r"\d+",
        conda:
            "../../envs/lcsurvey.yaml"
        # One process per shard: about 0.1 s a replication with complete data, 0.5 s with
        # missing answers (FIML); 100 replications stay well within the runtime (minutes).
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            settings=POWER,
            syntax=config["models"][POWER["model"]],
            moderation=config["roles"]["moderation"],
        script:
            "../scripts/power_shard.py"

    rule power_aggregate:
        input:
            population="results/power/population.csv",
            shards=expand(
                "results/power/shards/n{n}_shard{shard}.csv",
                n=POWER["sizes"],
                shard=POWER_SHARDS,
            ),
        output:
            table="results/power/power.csv",
            figure="results/power/power.png",
        log:
            "logs/power/aggregate.log",
        benchmark:
            "benchmarks/power/aggregate.tsv"
        conda:
            "../../envs/lcsurvey.yaml"
        # Reads the shards and draws one figure: seconds.
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            alpha=POWER["alpha"],
        script:
            "../scripts/power_aggregate.py"

    rule power:
        input:
            rules.power_aggregate.output,
