"""`make notebook WAVE=2022-06 LANG=nl`: one wave's two-pager notebook, its parameters filled in.

papermill's --prepare-only: a copy of notebooks/two_pager.ipynb with the parameters rule
report_two_pager would pass (the inputs by name as `input_paths` builds them from results/, the
configured waves up to the wave, the report's model, min_cell, roles and effects of config.yaml
with the schema's defaults filled in as the workflow's `validate` does, the frozen analysis plan
when analysis_plan.lock is there), written to
results/{wave}/report/notebook_{lang}.ipynb; the pipeline's own executed copy
(two_pager_{lang}.ipynb) is left alone. Paths are absolute, so the kernel may start in any folder.
Prints the notebook's path. No network: nothing is fetched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lcsurvey.errors import InputError
from lcsurvey.report.inputs import input_paths
from lcsurvey.schema import SCHEMA_DIR, load_yaml
from lcsurvey.sem.twolevel_syntax import is_twolevel
from lcsurvey.study.plan import lock_path, plan_summary, read_lock


def notebook_parameters(config_path: str | Path, wave: str | None, lang: str) -> dict:
    """The papermill parameters of one wave's two-pager, as the report rule would pass them."""
    from snakemake.utils import validate

    config_path = Path(config_path).resolve()
    root = config_path.parent
    config = load_yaml(config_path)
    validate(config, str(SCHEMA_DIR / "config.schema.yaml"))  # fills in the defaults
    waves = [str(w) for w in config["waves"]]
    wave = wave or waves[-1]
    if wave not in waves:
        raise InputError(
            f"wave {wave!r} is not configured", file=str(config_path), expected=f"one of {waves}"
        )
    report = config["report"]
    if lang not in report["languages"]:
        raise InputError(
            f"language {lang!r} is not among report.languages",
            file=str(config_path),
            expected=f"one of {report['languages']}",
        )
    upto = waves[: waves.index(wave) + 1]
    spec = config["waves"][wave]
    raw = spec["path"] if isinstance(spec, dict) else spec
    # as rule report_two_pager: the two-level model only when it is one of the models
    twolevel = report.get("twolevel_model")
    models = config.get("models") or {}
    if twolevel not in models or not is_twolevel(models[twolevel]):
        twolevel = None
    files = input_paths(
        root / "results",
        wave,
        root / config["codebook"],
        report["model"],
        data_file=root / raw,
        waves=upto,
        power_note=report["power_note"],
        twolevel_model=twolevel,
    )
    parameters = {
        "wave": wave,
        "lang": lang,
        "input_files": {k: str(v) for k, v in files.items()},
        "config_digest": "",
        "model": report["model"],
        "min_cell": report["min_cell"],
        "waves": upto,
        "roles": config["roles"],
        "effects": report["effects"],
        "cluster": config["estimation"]["cluster"],
        "twolevel_model": twolevel,
    }
    lock = lock_path(config_path)
    if lock.exists():  # a frozen analysis plan, compared as the report rule compares it
        codebook = load_yaml(root / config["codebook"])
        parameters["plan"] = plan_summary(read_lock(lock), config, codebook)
    return parameters


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--wave", default="", help="default: the last configured wave")
    parser.add_argument("--lang", default="nl")
    parser.add_argument("--notebook", default="notebooks/two_pager.ipynb")
    args = parser.parse_args(argv)
    import papermill

    try:
        parameters = notebook_parameters(args.config, args.wave or None, args.lang)
    except InputError as err:
        sys.exit(f"make notebook: {err}")
    root = Path(args.config).resolve().parent
    results = root / "results" / parameters["wave"]
    if not (results / "models").is_dir():
        sys.exit(
            f"make notebook: no results for wave {parameters['wave']} in {results.parent}; "
            "run `make run` first"
        )
    out = results / "report" / f"notebook_{parameters['lang']}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        args.notebook,
        str(out),
        parameters=parameters,
        prepare_only=True,
        kernel_name="python3",
        progress_bar=False,
    )
    print(out)


if __name__ == "__main__":
    main()
