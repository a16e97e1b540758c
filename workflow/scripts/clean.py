"""Clean one wave: snakemake.input.raw -> responses, quarantine, flow, recodes."""

from lcsurvey.pipeline.runner import script_log, write_csv, write_parquet
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.pseudonym import load_key

with script_log(snakemake.log[0], context=f"wave {snakemake.params.wave}") as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    key, key_source = load_key(sm.params.key_file)
    log.info("pseudonym key: %s", key_source)
    result = clean_file(
        sm.input.raw, book, wave=sm.params.wave, rules=sm.params.rules, key=key, **sm.params.reading
    )
    log.info("kept %d, quarantined %d", len(result.kept), len(result.quarantine))
    write_parquet(result.kept, sm.output.responses)
    write_parquet(result.quarantine, sm.output.quarantine)
    write_csv(result.flow, sm.output.flow)
    write_csv(result.recodes, sm.output.recodes)
