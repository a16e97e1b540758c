"""The `lcsurvey` command: one entry point for what an analyst does besides `make run`.

    lcsurvey codebook draft RAW... [--out FILE]   a first codebook from raw exports
    lcsurvey add-wave --wave ID --path FILE       add a wave line to config.yaml
    lcsurvey publish                              assemble publish/ from reports/
    lcsurvey simulate                             write synthetic waves (lcsurvey-simulate)
    lcsurvey check                                config, codebook, raw files and models
    lcsurvey plan freeze | status                 the frozen analysis plan
    lcsurvey privacy-check FOLDER                 nothing in FOLDER identifies a person

`codebook draft`, `add-wave`, `publish` and `simulate` hand their arguments to the modules
that already take them (`lcsurvey.survey.draft`, `lcsurvey.study.waves`,
`lcsurvey.report.publish`, `lcsurvey.study.simulate`), whose `--help` lists them. Every module
is imported when its command runs, so `lcsurvey --help` starts without pandas.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# Commands that hand their arguments on: name -> (module with main(argv), fixed leading
# arguments, one line of help).
DELEGATED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "add-wave": (
        "lcsurvey.study.waves",
        ("add-wave",),
        "add a wave line to config.yaml (--config, --wave, --path; idempotent)",
    ),
    "publish": (
        "lcsurvey.report.publish",
        (),
        "assemble reports/ into publish/, a self-contained static folder with provenance",
    ),
    "privacy-check": (
        "lcsurvey.report.privacy",
        (),
        "check a folder before it is shared: no PII, person code, free text, small group",
    ),
    "simulate": (
        "lcsurvey.study.simulate",
        (),
        "write the synthetic waves, or one extra wave (as lcsurvey-simulate)",
    ),
}
DRAFT = ("lcsurvey.survey.draft", (), "draft a codebook from raw exports (RAW... [--out FILE])")


def _delegate(module: str, leading: Sequence[str], argv: Sequence[str]) -> int:
    try:
        main: Callable[[list[str]], int | None] = importlib.import_module(module).main
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        print(f"ERROR: this installation of lcsurvey has no {module}", file=sys.stderr)
        return 1
    return int(main([*leading, *argv]) or 0)


def _print_problems(problems, stream=None) -> None:
    stream = stream or sys.stdout
    for problem in problems:
        print(f"ERROR: {problem.message}", file=stream)


def run_check(args: argparse.Namespace) -> int:
    from lcsurvey.pipeline.check import check_project

    report = check_project(args.config)
    _print_problems(report.problems)
    for note in report.notes:
        print(f"note: {note}")
    if report.problems:
        count = len(report.problems)
        print(
            f"{count} problem{'s' if count != 1 else ''} found in {args.config} and the files "
            "it names; nothing was run or written"
        )
        return 1
    print(f"all fine: {args.config}")
    for line in report.checked:
        print(f"  {line}")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from lcsurvey.errors import InputError
    from lcsurvey.schema import validate
    from lcsurvey.study import plan

    lock_file = plan.lock_path(args.config)
    try:
        config, codebook = plan.read_documents(args.config)
        if args.plan_command == "freeze":
            validate(config, "config", source=str(args.config))
            validate(codebook, "codebook", source=str(config["codebook"]))
            if lock_file.exists() and not args.force:
                old = plan.read_lock(lock_file)
                raise InputError(
                    f"a plan frozen on {old['frozen']} is already there",
                    file=str(lock_file),
                    hint="'lcsurvey plan status' lists what changed since; 'lcsurvey plan "
                    "freeze --force' replaces the plan",
                )
            lock = plan.make_lock(config, codebook, date=args.date)
            plan.write_lock(lock_file, lock)
            seen = ", ".join(lock["waves_seen"]) or "none"
            print(
                f"froze the analysis plan of {lock['frozen']} in {lock_file} "
                f"(waves seen: {seen}; sha256 {lock['sha256'][:12]})"
            )
            return 0
        lock = plan.read_lock(lock_file)
    except InputError as err:
        print(f"ERROR: {err.message}", file=sys.stderr)
        return 1
    deviations = plan.compare(lock, config, codebook)
    seen_then = lock.get("waves_seen") or []
    waves = f"waves seen then: {', '.join(seen_then) or 'none'}"
    since = [str(w) for w in (config.get("waves") or {}) if str(w) not in seen_then]
    if since:
        waves += f"; waves since: {', '.join(since)}"
    if not deviations:
        print(f"as planned (plan of {lock['frozen']}; {waves})")
        return 0
    count = len(deviations)
    print(
        f"{count} deviation{'s' if count != 1 else ''} from the plan of {lock['frozen']} ({waves}):"
    )
    for deviation in deviations:
        print(f"- {plan.describe(deviation)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcsurvey",
        description="The Learning Communities survey pipeline's commands (`make run` runs the "
        "pipeline itself).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    codebook = sub.add_parser("codebook", help="the codebook: draft one from raw exports")
    codebook_sub = codebook.add_subparsers(
        dest="codebook_command", required=True, metavar="SUBCOMMAND"
    )
    # The drafter's own parser reads the arguments (and answers --help).
    codebook_sub.add_parser("draft", help=DRAFT[2], add_help=False)

    for name, (_, _, summary) in DELEGATED.items():
        sub.add_parser(name, help=summary, description=summary, add_help=False)

    check = sub.add_parser(
        "check",
        help="check config.yaml, the codebook, the raw files and the models; run nothing",
        description="Check config.yaml (schema), the codebook (schema and references), every "
        "wave's raw export (readable, the codebook's columns present, answers readable through "
        "the scales) and the models' syntax and variables. One line per problem; exit 1 if "
        "there is any. Nothing is run or written.",
    )
    check.add_argument(
        "--config", default="config.yaml", type=Path, help="the configuration (default config.yaml)"
    )
    check.set_defaults(handler=run_check)

    plan = sub.add_parser(
        "plan",
        help="freeze the analysis plan, or compare the configuration with it",
        description="A frozen analysis plan (analysis_plan.lock, next to config.yaml): the "
        "analysis-relevant parts of config.yaml and the codebook, with the date and the waves "
        "seen. Reports say whether they were analysed as planned.",
    )
    plan_sub = plan.add_subparsers(dest="plan_command", required=True, metavar="SUBCOMMAND")
    freeze = plan_sub.add_parser(
        "freeze",
        help="write analysis_plan.lock",
        description="Write analysis_plan.lock next to config.yaml: the SHA-256 and canonical "
        "JSON of the models, cleaning rules, estimation settings, roles, the report's model and "
        "effects, invariance settings, and the codebook's scales, items, constructs, composites, "
        "attention checks and exclusion values, with the date and the waves already seen.",
    )
    freeze.add_argument("--config", default="config.yaml", type=Path)
    freeze.add_argument(
        "--date", help="the date of the plan (default: today, UTC, or SOURCE_DATE_EPOCH when set)"
    )
    freeze.add_argument(
        "--force", action="store_true", help="replace a plan that is already frozen"
    )
    status = plan_sub.add_parser(
        "status",
        help="compare config.yaml and the codebook with the frozen plan",
        description="Print 'as planned' or each deviation from analysis_plan.lock in plain "
        "words. Exit 0 either way; 1 when there is no readable plan.",
    )
    status.add_argument("--config", default="config.yaml", type=Path)
    for sub_parser in (freeze, status):
        sub_parser.set_defaults(handler=run_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Delegated commands: everything after the command's name goes to its module unparsed
    # (--help included), so its options are defined in one place.
    if argv and argv[0] in DELEGATED:
        module, leading, _ = DELEGATED[argv[0]]
        return _delegate(module, leading, argv[1:])
    if argv[:2] == ["codebook", "draft"]:
        return _delegate(DRAFT[0], DRAFT[1], argv[2:])
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
