"""`lcsurvey check`: is the project ready to run? config.yaml, the codebook, every wave's raw
export and the models, checked without running anything and without writing a file.

Each problem is an `InputError` (file, row, column, value, what was expected), one line each;
the checks go on after a problem wherever the next one does not depend on it:

1. config.yaml against workflow/schemas/config.schema.yaml (every violation);
2. the codebook against its schema, then the references between its parts (unknown scales,
   items of constructs, columns used twice...);
3. every wave's export, read with its options as the rule `clean` reads it (PII and unkept free
   text dropped): each column the codebook names for that wave present, each item's,
   background variable's and attention check's answers decoded through its scale (one line per
   column with answers that cannot be read, with the first such row); then the whole cleaning
   of the wave in memory (lcsurvey.survey.clean.clean_wave), which checks the rest;
4. every model's lavaan syntax, its observed variables among the codebook's items and
   background variables (the columns of the cleaned responses; a construct's name there is
   said to need `=~` from its items) and its latent variables not named like one of them;
   a two-level model may also name constructs and composites (their scores) and needs
   estimation.cluster.

Stages the roles of config.yaml leave out (lcsurvey.study.roles.skipped_stages) are notes, not
problems: the pipeline runs without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lcsurvey.errors import InputError
from lcsurvey.schema import load_yaml, schema_problems, with_defaults

# Pseudonyms made while checking are thrown away; any key will do.
_CHECK_KEY = b"lcsurvey check: pseudonyms are not written"


@dataclass
class CheckReport:
    """What `check_project` found: the problems, notes, and what was checked (for the summary)."""

    problems: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _resolve(base: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate


def check_config(config_path: Path, report: CheckReport) -> dict[str, Any] | None:
    """config.yaml read and checked against its schema; the document with the schema's
    defaults, or None when it cannot be read at all."""
    try:
        config = load_yaml(config_path)
    except InputError as err:
        report.problems.append(err)
        return None
    if not isinstance(config, dict):
        report.problems.append(
            InputError("the configuration is empty or not a mapping", file=str(config_path))
        )
        return None
    for line in schema_problems(config, "config"):
        report.problems.append(InputError(line, file=str(config_path)))
    return with_defaults(config, "config")


def check_codebook(codebook_path: Path, report: CheckReport):
    """The codebook checked against its schema and its references; the Codebook, or None when
    its problems leave nothing to check the raw files against."""
    from lcsurvey.survey.codebook import load_codebook, reference_problems

    source = str(codebook_path)
    try:
        document = load_yaml(codebook_path)
    except InputError as err:
        report.problems.append(err)
        return None
    if not isinstance(document, dict):
        report.problems.append(InputError("the codebook is empty or not a mapping", file=source))
        return None
    lines = schema_problems(document, "codebook")
    if lines:
        report.problems += [InputError(line, file=source) for line in lines]
        return None
    try:
        book = load_codebook(codebook_path, check_references=False)
    except InputError as err:
        report.problems.append(err)
        return None
    lines = reference_problems(book)
    report.problems += [InputError(line, file=source) for line in lines]
    if lines:
        return None
    report.checked.append(
        f"codebook {source} ({len(book.items)} items, {len(book.constructs)} constructs, "
        f"{len(book.scales)} scales)"
    )
    return book


def _wave_spec(spec: Any) -> dict[str, Any]:
    return {"path": spec} if isinstance(spec, str) else dict(spec or {})


def check_wave(
    wave: str,
    spec: Mapping[str, Any],
    book,
    rules: Mapping[str, Any],
    base: Path,
    report: CheckReport,
) -> None:
    """One wave's export against the codebook, as the rule `clean` reads and decodes it."""
    from lcsurvey.survey.clean import clean_wave, decode
    from lcsurvey.survey.io import read_raw

    path = _resolve(base, str(spec["path"]))
    try:
        raw = read_raw(
            path,
            encoding=spec.get("encoding"),
            sheet=spec.get("sheet"),
            pii=book.pii,
            drop=book.dropped_text_columns(wave),
        )
    except InputError as err:
        report.problems.append(err)
        return
    frame = raw.frame.reset_index(drop=True)
    found = 0

    def missing_column(column: str | None, what: str) -> bool:
        nonlocal found
        if column is None or column in frame.columns:
            return False
        found += 1
        report.problems.append(
            InputError(
                f"the codebook's {what} expects a column that is not in the data of wave {wave!r}",
                file=raw.source,
                column=column,
                expected="one of the file's columns (or set wave_columns for this wave in the "
                "codebook)",
            )
        )
        return True

    missing_column(book.id, "id")
    for role in ("status", "consent", "progress", "duration"):
        missing_column(book.meta_column(role, wave), f"meta.{role}")
    for name, text_spec in book.free_text.items():
        if text_spec.get("keep", False):
            column = text_spec.get("wave_columns", {}).get(wave, text_spec["column"])
            missing_column(column, f"free_text {name}")
    for section, variables in (
        ("item", book.items),
        ("background", book.background),
        ("attention check", book.attention_checks),
    ):
        for var in variables.values():
            column = var.column_in(wave)
            if missing_column(column, f"{section} {var.name}"):
                continue
            try:
                decode(
                    frame[column],
                    var,
                    book.scales[var.scale],
                    source=raw.source,
                    rows=raw.rows,
                    value_labels=raw.value_labels.get(column),
                )
            except InputError as err:
                found += 1
                report.problems.append(err)
    if found:
        return
    # The rest of what cleaning checks (the consent answers, ...), in memory only.
    try:
        result = clean_wave(
            frame,
            book,
            wave=wave,
            source=raw.source,
            rows=raw.rows,
            value_labels=raw.value_labels,
            rules=rules,
            key=_CHECK_KEY,
        )
    except InputError as err:
        report.problems.append(err)
        return
    except Exception as err:  # the check reports it; the rule clean would stop here
        report.problems.append(
            InputError(
                f"the cleaning of wave {wave!r} stops: {type(err).__name__}: {err}",
                file=raw.source,
                hint="The rule clean would stop the same way",
            )
        )
        return
    report.checked.append(
        f"wave {wave}: {raw.source} ({raw.kind}, {len(frame)} rows, {len(result.kept)} kept by "
        "the cleaning rules)"
    )


def check_models(
    models: Mapping[str, str],
    book,
    config_source: str,
    report: CheckReport,
    *,
    cluster: str | None = "",
):
    """Each model's syntax, and its variables against the codebook; a model with `level:`
    blocks is read by the two-level parser (lcsurvey.sem.twolevel_syntax), may name construct
    scores (lcsurvey.survey.model_scores) and needs `cluster` (estimation.cluster; "" when it
    was not read)."""
    from lcsurvey.sem.syntax import parse_model
    from lcsurvey.sem.twolevel_syntax import is_twolevel, parse_twolevel

    known = set(book.items) | set(book.background) if book is not None else None
    for name, syntax in models.items():
        if is_twolevel(str(syntax)) and cluster is None:
            report.problems.append(
                InputError(
                    f"model {name!r} is a two-level model (level: 1 / level: 2 blocks) but "
                    "estimation.cluster is not set; it would not be estimated",
                    file=config_source,
                    column="estimation.cluster",
                    expected="the variable that holds each respondent's cluster (e.g. "
                    "community), or a model without level: blocks",
                )
            )
        try:
            read = parse_twolevel if is_twolevel(str(syntax)) else parse_model
            spec = read(str(syntax), name=name)
        except InputError as err:
            report.problems.append(
                InputError(
                    err.problem,
                    file=config_source,
                    column=f"models.{name}",
                    value=err.value,
                    expected=err.expected,
                )
            )
            continue
        if known is None:
            continue
        scores = (
            set()
            if read is parse_model
            else set(book.constructs) | set(book.composites)  # joined by rid
        )
        unknown = [v for v in spec.observed if v not in known and v not in scores]
        for variable in unknown:
            if variable in book.constructs:
                # single-level models are fitted to the items, not to the scale scores: their
                # measurement model is what the common-method checks and invariance test
                items = " + ".join(book.constructs[variable].items)
                problem = (
                    f"model {name!r} uses the construct {variable!r} as an observed variable; "
                    "models read items"
                )
                expected = f"a latent variable defined from its items ({variable} =~ {items})"
            else:
                problem = (
                    f"model {name!r} uses {variable!r}, which is neither an item nor a "
                    "background variable of the codebook"
                )
                expected = (
                    "an item or background variable name (the codebook's keys), or a latent "
                    "variable defined with =~"
                )
            report.problems.append(
                InputError(
                    problem,
                    file=config_source,
                    column=f"models.{name}",
                    value=variable,
                    expected=expected,
                )
            )
        latents = (
            spec.measurement
            if read is parse_model
            else dict.fromkeys((*spec.within.latent, *spec.between.latent))
        )
        for latent in latents:
            if latent in known:
                report.problems.append(
                    InputError(
                        f"model {name!r} defines the latent variable {latent!r} with the name "
                        "of an observed variable of the codebook",
                        file=config_source,
                        column=f"models.{name}",
                        value=latent,
                        expected="a name that is not an item or background variable",
                    )
                )
        if not unknown:
            report.checked.append(f"model {name} ({len(spec.observed)} observed variables)")


def check_ordinal(config: dict, models: Mapping[str, str], book, config_source: str, report):
    """estimation.estimator and estimation.ordered against the codebook and the models
    (lcsurvey.survey.ordinal.declaration_problems)."""
    from lcsurvey.sem.syntax import parse_model
    from lcsurvey.sem.twolevel_syntax import is_twolevel
    from lcsurvey.survey.ordinal import declaration_problems, ordinal_items, route

    estimation = config.get("estimation") if isinstance(config.get("estimation"), dict) else {}
    estimator = estimation.get("estimator", "ml")
    variables = {}
    for name, syntax in models.items():
        try:
            path, why = route(
                str(syntax), estimator, ordinal_items(book, estimation.get("ordered")), name=name
            )
            if not is_twolevel(str(syntax)):
                variables[name] = parse_model(str(syntax), name=name).observed
        except InputError:
            continue  # check_models has said so
        if path == "not_estimated":
            report.problems.append(InputError(why, file=config_source, column=f"models.{name}"))
        elif why:
            report.notes.append(why)
    for line in declaration_problems(book, estimation, variables):
        report.problems.append(InputError(line, file=config_source))
    if estimation.get("estimator", "ml") != "ml" and not report.problems:
        report.checked.append(f"estimator {estimation['estimator']} with the ordinal items")


def _note_pseudonym_key(config: dict, waves: dict, base: Path, report: CheckReport) -> None:
    """A note on the key a run will use for waves the simulator did not write, when none is
    configured: the project's own key, made on the first run (lcsurvey.survey.pseudonym)."""
    import os

    from lcsurvey.survey.pseudonym import KEY_ENV, PROJECT_KEY_FILE, simulator_made

    if os.environ.get(KEY_ENV) or config.get("pseudonym_key_file"):
        return
    real = []
    for wave, spec in waves.items():
        path = _wave_spec(spec).get("path")
        if path and _resolve(base, path).is_file() and not simulator_made(_resolve(base, path)):
            real.append(str(wave))
    if not real:
        return
    store = base / PROJECT_KEY_FILE
    how = (
        f"the project key {PROJECT_KEY_FILE}"
        if store.exists()
        else f"a new random key that the first run writes to {PROJECT_KEY_FILE}: keep it and "
        "back it up outside the repository (README, 'Privacy')"
    )
    report.notes.append(
        f"no pseudonym key configured ({KEY_ENV} or pseudonym_key_file): "
        f"wave{'s' if len(real) > 1 else ''} {', '.join(real)} will use {how}"
    )


def check_project(config_path: str | Path = "config.yaml") -> CheckReport:
    """Every check of the module docstring; paths in config.yaml are taken relative to its
    folder (the project's root)."""
    config_path = Path(config_path)
    base = config_path.parent
    report = CheckReport()
    config = check_config(config_path, report)
    if config is None:
        return report
    book = None
    codebook = config.get("codebook")
    if isinstance(codebook, str):
        book = check_codebook(_resolve(base, codebook), report)
    waves = config.get("waves") if isinstance(config.get("waves"), dict) else {}
    if book is None:
        if waves:
            report.notes.append("raw files not checked: the codebook has to be right first")
    else:
        rules = config.get("cleaning") if isinstance(config.get("cleaning"), dict) else {}
        for wave, spec in waves.items():
            spec = _wave_spec(spec)
            if "path" not in spec:
                continue  # the schema check has said so
            check_wave(str(wave), spec, book, rules, base, report)
        _note_pseudonym_key(config, waves, base, report)
    models = config.get("models") if isinstance(config.get("models"), dict) else {}
    estimation = config.get("estimation") if isinstance(config.get("estimation"), dict) else {}
    check_models(models, book, str(config_path), report, cluster=estimation.get("cluster"))
    if book is not None:
        check_ordinal(config, models, book, str(config_path), report)
    for i, pair in enumerate(config.get("nested") or []):
        for role in ("restricted", "general") if isinstance(pair, dict) else ():
            name = pair.get(role)
            if isinstance(name, str) and name not in models:
                report.problems.append(
                    InputError(
                        f"nested pair {i + 1} names a model that is not configured",
                        file=str(config_path),
                        column=f"nested[{i}].{role}",
                        value=name,
                        expected="one of the models: " + (", ".join(models) or "none configured"),
                    )
                )
    if book is not None and not report.problems:
        from lcsurvey.study.roles import skipped_stages

        for stage, reason in skipped_stages(config, book).items():
            report.notes.append(f"{stage} skipped: {reason}")
    return report
