"""Time one two-pager (one wave, one language) as the pipeline renders it, stage by stage.

Each repetition runs in a fresh Python process, as rule `report_two_pager` does, and reports:
  - start: interpreter start and the script's imports (lcsurvey.report.render, lcsurvey.pipeline.runner);
  - notebook: papermill executing notebooks/two_pager.ipynb, kernel start included; split into
    kernel start/shutdown and papermill overhead, and the cells (inputs, then each section);
  - html: nbconvert through the two_pager template;
  - pdf: WeasyPrint;
  - total: the whole process, wall-clock; and its CPU time with the kernel's (user + system),
    which depends less on what else runs on the machine.
With --snakemake, also the rule itself in a temporary copy of the workflow (snakemake start,
DAG and job included): `snakemake --cores 2 --forcerun report_two_pager <pdf>`.
It reads existing results (default: results/ of this checkout; run `make run` first) and writes
into a temporary folder. Timings depend on what else runs on the machine: repeat, take the
minimum. Usage:
  .venv/bin/python bench/report.py [--wave 2021-12] [--lang nl] [--repeat 3] [--snakemake]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from workcopy import ROOT, copy_workflow

from lcsurvey.report.inputs import input_paths

CHILD = r"""
import json, os, sys, time
start = time.perf_counter()
from lcsurvey.report import render  # as workflow/scripts/report_two_pager.py
from lcsurvey.pipeline import runner
imported = time.perf_counter() - start
args = json.loads(sys.argv[1])
times = render.render_report(args["notebook"], args["executed"], args["html"], args["pdf"],
                             args["parameters"], cwd=args["cwd"])
print(json.dumps({"import": imported, **times}))
"""


def cell_times(executed: Path) -> tuple[float, list[tuple[str, float]]]:
    """papermill's own record: notebook duration and (first line, seconds) per code cell."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell["cell_type"] == "code" and duration is not None:
            source = "".join(cell["source"]).strip().splitlines()
            first = next((line for line in source if not line.startswith("#")), source[0])
            cells.append((first[:60], float(duration)))
    return float(nb["metadata"]["papermill"]["duration"]), cells


def run_once(args, work: Path, results: Path, index: int) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    report_config = config.get("report", {})
    raw = config["waves"][args.wave]
    raw = raw["path"] if isinstance(raw, dict) else raw
    executed = work / f"two_pager_{args.lang}_{index}.ipynb"
    waves = list(config["waves"])[: list(config["waves"]).index(args.wave) + 1]
    model = report_config.get("model", "transfer")
    # the inputs rule report_two_pager declares, by name (lcsurvey.report.inputs.input_paths)
    input_files = {
        name: str(path)
        for name, path in input_paths(
            results,
            args.wave,
            config["codebook"],
            model,
            data_file=raw,
            waves=waves,
            power_note=report_config.get("power_note", False),
        ).items()
    }
    spec = {
        "notebook": str(ROOT / "notebooks" / "two_pager.ipynb"),
        "executed": str(executed),
        "html": str(work / f"two_pager_{args.lang}_{index}.html"),
        "pdf": str(work / f"two_pager_{args.lang}_{index}.pdf"),
        "cwd": str(ROOT),
        "parameters": {
            "wave": args.wave,
            "lang": args.lang,
            "input_files": input_files,
            "config_digest": "(benchmark run)",
            "waves": waves,
            "model": model,
            "min_cell": report_config.get("min_cell", 10),
            # None: the config schema's defaults, as the workflow's validate fills them in
            "roles": config.get("roles"),
            "effects": report_config.get("effects"),
        },
    }
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }  # as common.smk sets for every job
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"the two-pager failed:\n{done.stderr[-3000:]}")
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    times = json.loads(done.stdout.strip().splitlines()[-1])
    times["total"] = total
    times["cpu"] = cpu  # the process and its kernel, user + system
    times["start"] = total - times["notebook"] - times["html"] - times["pdf"]
    duration, times["cells"] = cell_times(executed)
    times["cells_total"] = sum(seconds for _, seconds in times["cells"])
    times["kernel"] = times["notebook"] - times["cells_total"]
    times["papermill_duration"] = duration
    return times


def snakemake_once(args, results: Path) -> float:
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory(prefix="lcsurvey-bench-report-") as tmp:
        work = Path(tmp)
        copy_workflow(work)
        shutil.copytree(results, work / "results")
        target = f"reports/{args.wave}/two_pager_{args.lang}.pdf"
        command = [
            snakemake,
            "--cores",
            "2",
            "--forcerun",
            "report_two_pager",
            "--rerun-triggers",
            "mtime",
            "--",
            target,
        ]
        start = time.perf_counter()
        subprocess.run(
            command, cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return time.perf_counter() - start


def main() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wave", default=next(iter(config["waves"])))
    parser.add_argument("--lang", default="nl")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--snakemake", action="store_true")
    args = parser.parse_args()
    results = args.results.resolve()
    if not (results / args.wave / "models").is_dir():
        sys.exit(f"no results for wave {args.wave} in {results}: run `make run` first")
    runs = []
    with tempfile.TemporaryDirectory(prefix="lcsurvey-bench-report-") as tmp:
        for index in range(args.repeat):
            runs.append(run_once(args, Path(tmp), results, index))
    best = min(runs, key=lambda r: r["total"])
    print(
        f"two-pager {args.wave} {args.lang}: {args.repeat} run(s) in fresh processes, "
        f"{os.cpu_count()} cores; the fastest run:"
    )
    print(f"  start (python + the script's imports)  {best['start']:6.2f} s")
    print(f"  notebook (papermill)                   {best['notebook']:6.2f} s")
    print(f"    kernel start/stop, papermill         {best['kernel']:6.2f} s")
    for source, seconds in best["cells"]:
        print(f"    {seconds:6.2f} s  {source}")
    print(f"  html (nbconvert)                       {best['html']:6.2f} s")
    print(f"  pdf (WeasyPrint)                       {best['pdf']:6.2f} s")
    print(f"  total, whole process                   {best['total']:6.2f} s   (target < 10 s)")
    print(
        f"  CPU time, process and kernel           {best['cpu']:6.2f} s   (what a busy machine "
        "pays; wall-clock on 2 idle cores is less, the two processes overlap)"
    )
    print(
        "  all runs: "
        + ", ".join(f"{r['total']:.2f}" for r in runs)
        + " s wall-clock; "
        + ", ".join(f"{r['cpu']:.2f}" for r in runs)
        + " s CPU; load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    if args.snakemake:
        seconds = snakemake_once(args, results)
        print(f"  snakemake, rule report_two_pager alone {seconds:6.2f} s")


if __name__ == "__main__":
    main()
