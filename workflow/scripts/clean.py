"""Clean one wave: snakemake.input.raw -> responses, quarantine, flow, recodes."""

import sys

from lcsurvey.pipeline.runner import script_log, write_csv, write_parquet
from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.pseudonym import load_key, new_key_notice

with script_log(snakemake.log[0], context=f"wave {snakemake.params.wave}") as log:  # noqa: F821
    sm = snakemake  # noqa: F821
    book = load_codebook(sm.input.codebook)
    key, key_source = load_key(sm.params.key_file, raw=sm.input.raw)
    log.info("pseudonym key: %s", key_source)
    notice = new_key_notice(key_source)
    if notice:
        # Said once, where the analyst looks: the terminal as well as the log.
        log.warning(notice)
        print(f"\n*** {notice} ***\n", file=sys.__stderr__)
    result = clean_file(
        sm.input.raw, book, wave=sm.params.wave, rules=sm.params.rules, key=key, **sm.params.reading
    )
    log.info("kept %d, quarantined %d", len(result.kept), len(result.quarantine))
    write_parquet(result.kept, sm.output.responses)
    write_parquet(result.quarantine, sm.output.quarantine)
    write_csv(result.flow, sm.output.flow)
    write_csv(result.recodes, sm.output.recodes)
