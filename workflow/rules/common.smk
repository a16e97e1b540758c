# Helpers for every stage: the configured waves, their raw files and reading options, the targets.
import os
import re

from lcsurvey.codebook import load_codebook
from lcsurvey.errors import InputError

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
LANGUAGES = list(config.get("report", {}).get("languages", ["nl", "en"]))


def one_of(names):
    """A wildcard pattern that matches exactly one of the given names."""
    return "|".join(re.escape(name) for name in names)


def wave_spec(wave):
    """The wave's entry in config.yaml as a dict with at least `path`."""
    spec = config["waves"][wave]
    return {"path": spec} if isinstance(spec, str) else dict(spec)


def raw_file(wildcards):
    return wave_spec(wildcards.wave)["path"]


def reading_options(wildcards):
    spec = wave_spec(wildcards.wave)
    return {"encoding": spec.get("encoding"), "sheet": spec.get("sheet")}


def model_syntax(wildcards):
    return config["models"][wildcards.model]


ANALYSES = ["motives", "main_motive", "moderation", "simple_slopes", "diversity"]


def all_targets():
    targets = ["reports/index.html"]
    for wave in WAVES:
        targets += [
            f"results/{wave}/clean/flow.png",
            f"results/{wave}/scales/reliability.csv",
        ]
        targets += [f"results/{wave}/scales/{name}.csv" for name in SCALE_TABLES]
        targets += [f"results/{wave}/models/{model}/fit.csv" for model in MODELS]
        targets += [f"results/{wave}/models/{name}.csv" for name in ANALYSES]
        for lang in LANGUAGES:
            targets += [
                f"reports/{wave}/two_pager_{lang}.html",
                f"reports/{wave}/two_pager_{lang}.pdf",
            ]
    return targets
