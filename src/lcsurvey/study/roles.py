"""Study roles: which constructs, background variables and models play which part in the study.

config.yaml's ``roles:`` names the motives, the climate facets, the outcome, the moderation,
the diversity analysis and the panel model; ``report.model``, ``invariance.groups`` and the
``power:`` section name models, variables and effects. Their defaults (in
workflow/schemas/config.schema.yaml) are the bundled study's, so a config for another
questionnaire may name only its waves, codebook and models: a stage whose roles name
constructs or variables its codebook does not have, or a model that is not configured, is
skipped with a one-line reason (`skipped_stages`), and cleaning, scales, measurement, the
models and their invariance across waves still run for every wave.

Free of numpy and pandas: the workflow calls this at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lcsurvey.errors import InputError
from lcsurvey.schema import defaults
from lcsurvey.survey.codebook import Codebook

# The background variable behind results/{wave}/models/main_motive.csv (a single choice).
MAIN_MOTIVE = "main_motive"


def study_roles() -> dict[str, Any]:
    """The bundled study's roles: the defaults of config.yaml's ``roles:`` (see the schema),
    for a function called without the configured ones (the workflow always passes them)."""
    return defaults("config")["roles"]


def _names(names: Iterable[str]) -> str:
    return ", ".join(names) or "none configured"


def _lacking(names: Iterable[str], have: Iterable[str], what: str, where: str) -> str | None:
    """'the codebook has no <what> a, b (<where>)' for the names it lacks, else None."""
    have = set(have)
    missing = [name for name in names if name not in have]
    if not missing:
        return None
    return f"the codebook has no {what} {_names(missing)} ({where})"


def _scored(book: Codebook) -> set[str]:
    """Names with a scale score: the constructs and the composites."""
    return set(book.constructs) | set(book.composites)


def skipped_stages(config: Mapping[str, Any], book: Codebook) -> dict[str, str]:
    """The stages this config and codebook cannot run, each with the reason, in one line.

    Parameters
    ----------
    config : mapping
        config.yaml as Snakemake's ``validate`` left it (the schema's defaults filled in).
    book : Codebook
        The codebook the config names.

    Returns
    -------
    dict
        Stage -> reason, for the stages that are skipped (an empty dict when all run):
        ``analyses`` (motives, main motive, moderation, diversity), ``report`` (the
        two-pagers and their index), ``panel`` (the cross-lagged panel model),
        ``comparability`` (the invariance test of report.model behind the pooled changes),
        ``invariance <variable>`` for each of invariance.groups, and ``power`` (the power
        analysis, asked for by name), ``twolevel paragraph`` (report.twolevel_model names
        no two-level model).
    """
    roles = config["roles"]
    models = config["models"]
    scored = _scored(book)
    skipped: dict[str, str] = {}

    analyses = [
        _lacking(roles["motives"], scored, "constructs", "config roles.motives"),
        _lacking([MAIN_MOTIVE], book.background, "background variable", "main_motive.csv"),
        _lacking(roles["climate"], scored, "constructs", "config roles.climate"),
        _lacking(roles["moderation"].values(), scored, "constructs", "config roles.moderation"),
        _lacking(
            roles["diversity"].values(),
            book.background,
            "background variables",
            "config roles.diversity",
        ),
    ]
    if any(analyses):
        skipped["analyses"] = "; ".join(reason for reason in analyses if reason)

    report_model = config["report"]["model"]
    report = [
        None
        if report_model in models
        else f"report.model {report_model!r} is not among the models ({_names(models)})",
        "it needs the analyses, which are skipped" if "analyses" in skipped else None,
        _lacking([roles["outcome"]], scored, "construct", "config roles.outcome"),
        _lacking(roles["across"], scored, "constructs", "config roles.across"),
    ]
    if any(report):
        skipped["report"] = "; ".join(reason for reason in report if reason)
    if report_model not in models:
        skipped["comparability"] = (
            f"report.model {report_model!r} is not among the models ({_names(models)}): the "
            f"pooled changes across waves are marked not tested"
        )

    twolevel = config["report"].get("twolevel_model")
    if twolevel:
        from lcsurvey.sem.twolevel_syntax import is_twolevel

        if twolevel not in models:
            why = f"is not among the models ({_names(models)})"
        elif not is_twolevel(models[twolevel]):
            why = "is not a two-level model (it has no level: 1 / level: 2 blocks)"
        else:
            why = ""
        if why:
            skipped["twolevel paragraph"] = (
                f"report.twolevel_model {twolevel!r} {why}: the two-pagers have no paragraph "
                "on the two-level model"
            )

    panel = _lacking(roles["panel"].values(), scored, "constructs", "config roles.panel")
    if panel:
        skipped["panel"] = panel

    for variable in config["invariance"]["groups"]:
        if variable not in book.background:
            skipped[f"invariance {variable}"] = (
                f"the codebook has no background variable {variable} (config invariance.groups)"
            )

    power = power_problem(config, book)
    if power:
        skipped["power"] = power
    return skipped


def power_problem(config: Mapping[str, Any], book: Codebook) -> str | None:
    """Why the power analysis cannot run with this config and codebook, or None."""
    from lcsurvey.study import power_config

    try:
        settings = power_config.settings(config["power"], config["models"])
    except InputError as err:
        return err.message
    if power_config.INTERACTION in settings["effects"]:
        return _lacking(
            config["roles"]["moderation"].values(),
            _scored(book),
            "constructs",
            "config roles.moderation, for power.effects interaction",
        )
    return None
