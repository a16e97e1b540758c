# Helpers for every stage: the configured waves, their raw files and reading options, the stages
# the config and codebook can run, the targets.
import functools
import hashlib
import json
import os
import re

from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.model_scores import score_names
from lcsurvey.sem.twolevel_syntax import is_twolevel
from lcsurvey.survey.ordinal import ordinal_items
from lcsurvey.errors import InputError
from lcsurvey.digest import sha256_file
from lcsurvey.schema import load_yaml
from lcsurvey.study.roles import skipped_stages
from lcsurvey.study.plan import LOCK_NAME as PLAN_LOCK
from snakemake.logging import logger

# Small matrices: threaded BLAS only adds overhead and last-bit differences between reruns.
# semopy orders model variables through sets of strings: a fixed hash seed gives every job the
# same order, hence the same floating-point sums and byte-identical tables on every rerun.
JOB_ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}
os.environ.update(JOB_ENVIRONMENT)

try:
    CODEBOOK = load_codebook(config["codebook"])
except InputError as err:
    raise WorkflowError(err.message) from None

WAVES = list(config["waves"])
MODELS = list(config["models"])
# Measurement invariance is tested on the =~ lines of single-level models; a two-level model
# (level: blocks, lcsurvey.sem.twolevel_syntax) has none of the single-level kind.
SINGLE_LEVEL_MODELS = [m for m in MODELS if not is_twolevel(config["models"][m])]
# Pairs of models declared nested (config nested:), each named model configured.
NESTED = list(config.get("nested", []))
for _pair in NESTED:
    for _role in ("restricted", "general"):
        if _pair[_role] not in MODELS:
            raise WorkflowError(
                f"config.yaml nested: {_role} model {_pair[_role]!r} is not among the models "
                f"({', '.join(MODELS) or 'none configured'})"
            )
LANGUAGES = list(config["report"]["languages"])

# Stages whose roles (config roles:, report.model, invariance.groups, power:) name constructs,
# variables or models this codebook and config do not have: not targeted, one line each.
SKIPPED = skipped_stages(config, CODEBOOK)
for _stage, _reason in SKIPPED.items():
    logger.info(f"{_stage} skipped: {_reason}")
# The model whose invariance across waves tells which changes of construct means are comparable.
CROSSWAVE_MODEL = config["report"]["model"]
CROSSWAVE_SYNTAX = (
    "" if "comparability" in SKIPPED else config["models"][CROSSWAVE_MODEL]
)


def one_of(names):
    """A wildcard pattern that matches exactly one of the given names (none: nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def wave_spec(wave):
    """The wave's entry in config.yaml as a dict with at least `path`."""
    spec = config["waves"][wave]
    return {"path": spec} if isinstance(spec, str) else dict(spec)


def raw_file(wildcards):
    return wave_spec(wildcards.wave)["path"]


def reading_options(wildcards):
    spec = wave_spec(wildcards.wave)
    return {"encoding": spec.get("encoding"), "sheet": spec.get("sheet")}


def bootstrap_threads():
    """Processes for a model's bootstrap draws: half the local cores (at least one).

    On two cores a two-core job would leave one idle while it imports and fits, and would wait
    for both cores to be free before it could start. A cluster run (--executor) sets no total
    number of cores; each model job then asks its scheduler for two.
    """
    cores = workflow.resource_settings.cores
    return max(1, cores // 2) if cores else 2


def model_syntax(wildcards):
    return config["models"][wildcards.model]


def model_scores(wildcards):
    """The construct scores a two-level model names (lcsurvey.survey.model_scores)."""
    return score_names(model_syntax(wildcards), CODEBOOK, name=wildcards.model)


def model_inputs(wildcards):
    """The cleaned responses, and the scale scores when the model names construct scores
    (only then: the other models start as soon as their wave is clean)."""
    inputs = {"responses": f"results/{wildcards.wave}/clean/responses.parquet"}
    if model_scores(wildcards):
        inputs["scores"] = f"results/{wildcards.wave}/scales/scores.parquet"
    return inputs


def nested_fits(wildcards):
    """fit.csv of every model config nested: names, by model name."""
    names = {pair[role] for pair in NESTED for role in ("restricted", "general")}
    return {
        name: f"results/{wildcards.wave}/models/{name}/fit.csv"
        for name in sorted(names)
    }


# Rerun triggers by content. A raw file's SHA-256 is a params entry of the rules that read it,
# so a replaced export reruns its wave even when its modification time is older than the
# results. The codebook is an input by age only (ancient) plus a params entry with a digest of
# what the wave uses: new column names for another wave leave the digest of this one unchanged.
@functools.lru_cache
def _file_sha256(path, stamp):
    return sha256_file(path)


def raw_sha256(wildcards):
    path = wave_spec(wildcards.wave)["path"]
    try:
        stamp = os.stat(path)
    except OSError:
        return "missing"
    return _file_sha256(path, (stamp.st_mtime_ns, stamp.st_size))


def _wave_view(node, wave):
    """The codebook as one wave sees it: wave_columns for other waves left out."""
    if isinstance(node, dict):
        view = {}
        for key, value in node.items():
            if key == "wave_columns" and isinstance(value, dict):
                if wave in value:
                    view[key] = {wave: value[wave]}
            else:
                view[key] = _wave_view(value, wave)
        return view
    if isinstance(node, list):
        return [_wave_view(value, wave) for value in node]
    return node


@functools.lru_cache
def _codebook_document():
    return load_yaml(config["codebook"])


@functools.lru_cache
def _codebook_digest(wave, skip=()):
    book = _codebook_document()
    view = {k: v for k, v in _wave_view(book, wave).items() if k not in skip}
    text = json.dumps(view, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def codebook_digest(wildcards):
    return _codebook_digest(wildcards.wave)


def clean_codebook_digest(wildcards):
    """As codebook_digest, without the sections cleaning does not read."""
    return _codebook_digest(wildcards.wave, skip=("constructs", "composites"))


def invariance_table(wildcards):
    """The invariance test (waves as groups) of the report's model, when a rule makes it."""
    if "comparability" in SKIPPED:
        return []
    target = f"results/invariance/{CROSSWAVE_MODEL}.csv"
    for other in workflow.rules:
        # Output patterns as written, without the wildcard constraints Snakemake adds.
        patterns = [
            re.sub(r"\{(\w+),[^}]*\}", r"{\1}", str(out)) for out in other.output
        ]
        if target in patterns or "results/invariance/{model}.csv" in patterns:
            return target
    return []


ANALYSES = ["motives", "main_motive", "moderation", "simple_slopes", "diversity"]


def all_targets():
    """Every output of the stages that run (see SKIPPED)."""
    reports = "report" not in SKIPPED
    targets = ["reports/index.html"] if reports else []
    for wave in WAVES:
        targets += [
            f"results/{wave}/clean/flow.png",
            f"results/{wave}/scales/reliability.csv",
        ]
        targets += [f"results/{wave}/scales/{name}.csv" for name in SCALE_TABLES]
        targets += [f"results/{wave}/models/{model}/fit.csv" for model in MODELS]
        if NESTED:
            targets.append(f"results/{wave}/models/nested.csv")
        if "analyses" not in SKIPPED:
            targets += [f"results/{wave}/models/{name}.csv" for name in ANALYSES]
        for lang in LANGUAGES if reports else []:
            targets += [
                f"reports/{wave}/two_pager_{lang}.html",
                f"reports/{wave}/two_pager_{lang}.pdf",
            ]
    targets += [f"results/pooled/{name}" for name in POOLED_TABLES]
    if "panel" not in SKIPPED:
        targets += [f"results/pooled/{name}" for name in PANEL_TABLES]
    targets += [f"results/invariance/{model}.csv" for model in SINGLE_LEVEL_MODELS]
    targets += [
        f"results/invariance/{model}_{variable}.csv"
        for model in SINGLE_LEVEL_MODELS
        for variable in INVARIANCE_GROUPS
    ]
    return targets


def waves_upto(wildcards):
    """The configured waves up to and including the wave of the job, in config order."""
    return WAVES[: WAVES.index(wildcards.wave) + 1]


def wave_and_previous(wildcards):
    """The wave of the job and the configured wave before it."""
    return waves_upto(wildcards)[-2:]


@functools.lru_cache
def _config_digest(wave):
    # publish: only describes the data package of `make publish`; no result depends on it.
    view = {
        key: value for key, value in config.items() if key not in ("waves", "publish")
    }
    # A list of pairs, not a mapping: canonical JSON sorts keys, the order of waves counts.
    view["waves"] = [[w, config["waves"][w]] for w in WAVES[: WAVES.index(wave) + 1]]
    text = json.dumps(view, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def report_config_digest(wildcards):
    """SHA-256 of the canonical JSON of the configuration as the wave's report sees it (the
    waves after it left out): a rerun trigger and the checksum the report prints, unchanged
    when a wave is added."""
    return _config_digest(wildcards.wave)


def report_across_waves(wildcards):
    """Two-pager inputs beyond its own wave: for a wave with an earlier one, its tables across
    the waves up to and including it (means, the change from the previous wave, the invariance
    test of those two waves); with report.power_note, the power analysis. Each only when a rule
    of the workflow makes it."""
    wanted = {}
    if WAVES.index(wildcards.wave) > 0:
        across = f"results/{wildcards.wave}/across"
        wanted["means"] = f"{across}/means.csv"
        wanted["changes"] = f"{across}/changes.csv"
        wanted["invariance"] = f"{across}/invariance.csv"
    if config["report"]["power_note"]:
        wanted["power"] = "results/power/power.csv"
    return {
        name: path
        for name, path in wanted.items()
        if any(rule.is_producer(path) for rule in workflow.rules)
    }


# The two-level model of the two-pager's community paragraph: read only when it is one
# (common.smk's SKIPPED says why not).
TWOLEVEL_MODEL = (
    None if "twolevel paragraph" in SKIPPED else config["report"]["twolevel_model"]
)


def report_twolevel(wildcards):
    """The two-level model's tables (report.twolevel_model) as inputs of the two-pager."""
    if TWOLEVEL_MODEL is None:
        return {}
    base = f"results/{wildcards.wave}/models/{TWOLEVEL_MODEL}"
    return {
        "twolevel_estimates": f"{base}/estimates.csv",
        "twolevel_fit": f"{base}/fit.csv",
        "twolevel_intervals": f"{base}/intervals.csv",
        "twolevel_status": f"{base}/status.csv",
    }


def report_plan(wildcards):
    """The frozen analysis plan (analysis_plan.lock next to config.yaml, `lcsurvey plan
    freeze`), when there is one: a two-pager input, so that freezing the plan reruns the
    reports and nothing else. By age only (ancient): report_plan_sha256 reruns them when its
    content changes, and a plan frozen again with the same content changes nothing."""
    return {"plan": ancient(PLAN_LOCK)} if os.path.exists(PLAN_LOCK) else {}


def report_plan_sha256(wildcards):
    """SHA-256 of analysis_plan.lock ("none" without one): a rerun trigger of the reports."""
    try:
        stamp = os.stat(PLAN_LOCK)
    except OSError:
        return "none"
    return _file_sha256(PLAN_LOCK, (stamp.st_mtime_ns, stamp.st_size))


def power_skipped(wildcards):
    """Input of the target power when the power analysis cannot run: stops with the reason."""
    raise WorkflowError(f"the power analysis cannot run: {SKIPPED['power']}")
