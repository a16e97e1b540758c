"""Power analysis: one shard of replications at one sample size."""

import pandas as pd

from lcsurvey.pipeline.runner import script_log, write_csv
from lcsurvey.study import power

with script_log(snakemake.log[0]) as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    cfg = sm.params.settings
    study = power.study_from_files(
        cfg, sm.params.syntax, sm.input.codebook, sm.input, roles=sm.params.moderation
    )
    _, study.start = power.read_population_table(pd.read_csv(sm.input.population))
    n, shard = int(sm.wildcards.n), int(sm.wildcards.shard)
    replications = power.shards(cfg["replications"], cfg["shard_size"])[shard]
    results = study.run(n, replications)
    log.info(
        "n = %d, replications %d-%d: %d of %d fits converged",
        n,
        replications.start,
        replications.stop - 1,
        int(results["converged"].sum()),
        len(results),
    )
    write_csv(results, sm.output[0])
