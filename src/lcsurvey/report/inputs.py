"""What one wave's two-pager is made from: the results tables named by the report rule's
inputs, the codebook, the study's roles and the provenance facts.

The pipeline passes `snakemake.input` (name -> path, as `workflow/rules/report.smk` declares
them) to `load_inputs`; the report keeps no map of the results folder of its own.
`input_paths` builds the same mapping from a results root for the tests, the benchmark and an
analyst's notebook outside the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.report.provenance import provenance
from lcsurvey.report.wording import LANGUAGES
from lcsurvey.schema import SCHEMA_DIR, load_yaml
from lcsurvey.survey.agreement import AGREEMENT_COLUMNS
from lcsurvey.survey.clusters import Clustering, resolve
from lcsurvey.survey.codebook import Codebook, load_codebook


def _default(spec: Mapping[str, Any]) -> Any:
    """A schema property's default, objects built from their properties' defaults."""
    if spec.get("type") == "object" and "properties" in spec:
        return {name: _default(sub) for name, sub in spec["properties"].items()}
    return spec.get("default")


def config_defaults() -> tuple[dict[str, Any], tuple[str, ...]]:
    """config["roles"] and config["report"]["effects"] as the config schema defaults them.

    The pipeline always passes both (Snakemake's `validate` fills the defaults in); these serve
    calls outside it (tests, the benchmark, a notebook opened by hand), read from the schema so
    that each default is written once.
    """
    schema = load_yaml(SCHEMA_DIR / "config.schema.yaml")["properties"]
    roles = _default(schema["roles"])
    effects = _default(schema["report"]["properties"]["effects"])
    return roles, tuple(effects)


@dataclass
class ReportInputs:
    """Everything one wave's report is made from (language-independent)."""

    wave: str
    codebook: Codebook
    flow: pd.DataFrame
    responses: pd.DataFrame
    reliability: pd.DataFrame
    items: pd.DataFrame
    scores: pd.DataFrame
    estimates: pd.DataFrame | None
    fit: pd.DataFrame | None
    model: str
    min_cell: int
    provenance: dict[str, str] = field(default_factory=dict)
    cfa_fit: pd.DataFrame | None = None
    motives: pd.DataFrame | None = None
    main_motive: pd.DataFrame | None = None
    moderation: pd.DataFrame | None = None
    simple_slopes: pd.DataFrame | None = None
    intervals: pd.DataFrame | None = None
    diversity: pd.DataFrame | None = None
    # Across waves: the configured waves up to and including this one, in config order, and
    # the wave's tables across waves (None when absent or with one wave).
    waves: list[str] = field(default_factory=list)
    means: pd.DataFrame | None = None
    changes: pd.DataFrame | None = None
    invariance: pd.DataFrame | None = None
    power: pd.DataFrame | None = None
    # config["roles"] and config["report"]["effects"] (load_inputs fills in the schema's
    # defaults when they are not given)
    roles: dict[str, Any] = field(default_factory=dict)
    effects: tuple[str, ...] = ()
    # Nesting: the agreement statistics per construct (agreement.csv), the bootstrap's summary
    # (how it resampled) and the configured cluster variable as the models saw it.
    agreement: pd.DataFrame | None = None
    bootstrap: pd.DataFrame | None = None
    # The report model's common-method checks (lcsurvey.sem.method_variance).
    method_variance: pd.DataFrame | None = None
    # The report model's status.csv (lcsurvey.sem.estimability): estimated, or why not.
    status: pd.DataFrame | None = None
    # measurement_status.csv: each CFA of the measurement model estimated, or why not.
    measurement_status: pd.DataFrame | None = None
    clustering: Clustering = field(default_factory=lambda: Clustering(None, None))
    # The frozen analysis plan compared with the configuration (lcsurvey.study.plan.plan_summary:
    # frozen, waves_seen, deviations); None without analysis_plan.lock.
    plan: dict[str, Any] | None = None
    # The two-level model of config report.twolevel_model (None: none) and its tables from
    # rule model (estimates and intervals with their `level` column); None when absent.
    twolevel_model: str | None = None
    twolevel_estimates: pd.DataFrame | None = None
    twolevel_fit: pd.DataFrame | None = None
    twolevel_intervals: pd.DataFrame | None = None
    twolevel_status: pd.DataFrame | None = None


REQUIRED_COLUMNS = {
    "flow": ["step", "n_before", "n_removed", "n_after"],
    "responses": ["rid"],
    "reliability": [
        "construct",
        "n_items",
        "n",
        "alpha",
        "alpha_ci_lower",
        "alpha_ci_upper",
        "omega_total",
    ],
    "items": ["item", "construct", "n", "mean", "sd"],
    "scores": ["rid"],
    "cfa_fit": ["model", "ntotal", "chisq", "df", "cfi", "tli", "rmsea", "srmr"],
    "estimates": ["lhs", "op", "rhs", "est", "pvalue", "ci_lower", "ci_upper", "std_all"],
    "fit": [
        "ntotal",
        "estimator",
        "missing",
        "chisq",
        "df",
        "cfi",
        "tli",
        "rmsea",
        "rmsea_ci_lower",
        "rmsea_ci_upper",
        "srmr",
    ],
    "motives": [
        "construct",
        "n",
        "mean",
        "ci_lower",
        "ci_upper",
        "scale_min",
        "scale_max",
        "midpoint",
        "t",
        "df",
        "p_holm",
        "verdict",
    ],
    "main_motive": ["category", "n", "share", "ci_lower", "ci_upper", "merged", "members"],
    "moderation": ["term", "est", "se", "pvalue", "ci_lower", "ci_upper", "n"],
    "simple_slopes": [
        "moderator_level",
        "moderator_value",
        "slope",
        "se",
        "pvalue",
        "intercept",
        "predictor_mean",
        "predictor_sd",
    ],
    "intervals": [
        "lhs",
        "op",
        "rhs",
        "est",
        "ci_lower",
        "ci_upper",
        "boot_ci_lower",
        "boot_ci_upper",
        "bca_ci_lower",
        "bca_ci_upper",
    ],
    "diversity": [
        "outcome",
        "term",
        "est",
        "se",
        "pvalue",
        "ci_lower",
        "ci_upper",
        "n",
        "n_clusters",
        "method",
    ],
    "means": ["construct", "wave", "n", "mean", "sd", "se", "ci_lower", "ci_upper"],
    "changes": [
        "construct",
        "wave_from",
        "wave_to",
        "n_from",
        "n_to",
        "diff",
        "se",
        "ci_lower",
        "ci_upper",
        "pvalue",
        "test",
        "comparable",
    ],
    "invariance": [
        "groups",
        "group_values",
        "level",
        "ntotal",
        "npar",
        "chisq",
        "df",
        "pvalue",
        "cfi",
        "tli",
        "rmsea",
        "rmsea_ci_lower",
        "rmsea_ci_upper",
        "srmr",
        "aic",
        "bic",
        "delta_cfi",
        "delta_rmsea",
        "delta_srmr",
        "decision",
        "rule",
    ],
    "power": ["effect", "n", "power", "replications"],
    "agreement": AGREEMENT_COLUMNS,
    "bootstrap": ["draws_requested", "draws_ok", "method"],
    "method_variance": ["check", "lhs", "op", "rhs", "statistic", "value", "note"],
    "status": ["model", "estimated", "reason", "n", "needed"],
    "measurement_status": ["model", "estimated", "reason", "n", "needed"],
    "twolevel_estimates": [
        "level",
        "lhs",
        "op",
        "rhs",
        "label",
        "est",
        "se",
        "pvalue",
        "ci_lower",
        "ci_upper",
        "std_all",
    ],  # fmt: skip
    "twolevel_fit": ["ntotal", "nclusters"],
    "twolevel_intervals": ["level", "lhs", "op", "rhs", "est", "ci_lower", "ci_upper"],
    "twolevel_status": ["model", "estimated", "reason", "n", "needed"],
}
# The two-level model's tables (report.twolevel_model), all optional: name -> its file.
TWOLEVEL_TABLES = {
    "twolevel_estimates": "estimates.csv",
    "twolevel_fit": "fit.csv",
    "twolevel_intervals": "intervals.csv",
    "twolevel_status": "status.csv",
}
# Tables a report can do without (a section is then left out); the others must be there.
OPTIONAL_TABLES = (
    "cfa_fit",
    "estimates",
    "fit",
    "moderation",
    "simple_slopes",
    "intervals",
    "diversity",
    "agreement",
    "bootstrap",
    "method_variance",
    "status",
    "measurement_status",
)
ACROSS_TABLES = ("means", "changes", "invariance")


def input_paths(
    results_dir: str | Path,
    wave: str,
    codebook: str | Path,
    model: str = "transfer",
    data_file: str | Path | None = None,
    waves: list[str] | tuple[str, ...] | None = None,
    power_note: bool = False,
    twolevel_model: str | None = None,
) -> dict[str, Path]:
    """The mapping rule report_two_pager passes as its inputs, built from a results root.

    For the tests, the benchmark and a notebook run outside the pipeline; the pipeline itself
    uses the paths the rule declares. Tables across waves only when `waves` has one before
    `wave`; the power analysis only with `power_note`; the two-level model's tables
    (TWOLEVEL_TABLES) only with `twolevel_model`.
    """
    base = Path(results_dir) / wave
    paths = {
        "flow": base / "clean" / "flow.csv",
        "responses": base / "clean" / "responses.parquet",
        "reliability": base / "scales" / "reliability.csv",
        "item_stats": base / "scales" / "items.csv",
        "scores": base / "scales" / "scores.parquet",
        "cfa_fit": base / "scales" / "cfa_fit.csv",
        "estimates": base / "models" / model / "estimates.csv",
        "fit": base / "models" / model / "fit.csv",
        "motives": base / "models" / "motives.csv",
        "main_motive": base / "models" / "main_motive.csv",
        "moderation": base / "models" / "moderation.csv",
        "simple_slopes": base / "models" / "simple_slopes.csv",
        "intervals": base / "models" / model / "intervals.csv",
        "diversity": base / "models" / "diversity.csv",
        "agreement": base / "scales" / "agreement.csv",
        "bootstrap": base / "models" / model / "bootstrap.csv",
        "method_variance": base / "models" / model / "method_variance.csv",
        "status": base / "models" / model / "status.csv",
        "measurement_status": base / "scales" / "measurement_status.csv",
        "codebook": Path(codebook),
    }
    if data_file is not None:
        paths["raw"] = Path(data_file)
    waves = [str(w) for w in waves or []]
    if str(wave) in waves and waves.index(str(wave)) > 0:
        paths |= {name: base / "across" / f"{name}.csv" for name in ACROSS_TABLES}
    if power_note:
        paths["power"] = Path(results_dir) / "power" / "power.csv"
    if twolevel_model:
        paths |= {
            name: base / "models" / twolevel_model / file for name, file in TWOLEVEL_TABLES.items()
        }
    return paths


def read_table(path: str | Path | None, name: str, optional: bool = False) -> pd.DataFrame | None:
    """A results table, its columns checked; None for a missing optional one."""
    if path is None or not Path(path).exists():
        if optional:
            return None
        raise InputError(
            f"the {name} table the report needs is missing",
            file=str(path),
            hint="Run the earlier pipeline stages first (snakemake builds them in order)",
        )
    path = Path(path)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in table.columns]
    if missing:
        raise InputError(
            f"the {name} table lacks the column(s) {missing}",
            file=str(path),
            expected=f"columns {REQUIRED_COLUMNS[name]}",
        )
    return table


# The rule's input names that differ from the table names (`items` is also the codebook's).
INPUT_NAMES = {"items": "item_stats"}


def load_inputs(
    paths: Mapping[str, str | Path],
    wave: str,
    config_digest: str | None = None,
    model: str = "transfer",
    min_cell: int = 10,
    waves: list[str] | tuple[str, ...] | None = None,
    roles: Mapping[str, Any] | None = None,
    effects: list[str] | tuple[str, ...] | None = None,
    cluster: str | None = None,
    plan: Mapping[str, Any] | None = None,
    twolevel_model: str | None = None,
) -> ReportInputs:
    """Read a wave's results tables, the codebook and the provenance facts.

    paths: name -> path as rule report_two_pager declares its inputs (`snakemake.input`), or
    as `input_paths` builds them: the tables, `codebook` and `raw` (the wave's export, for its
    SHA-256); `means`, `changes`, `invariance` and `power` when the rule asks for them.
    waves: the configured waves in order; the report looks back over those up to and including
    `wave`. config_digest: the SHA-256 of the configuration as this wave's report sees it (the
    provenance footer). roles, effects: config["roles"], config["report"]["effects"].
    cluster: config["estimation"]["cluster"], resolved on the wave's responses as the models
    resolve it (lcsurvey.survey.clusters). plan: the frozen analysis plan compared with the
    configuration (lcsurvey.study.plan.plan_summary), None without one. twolevel_model:
    config["report"]["twolevel_model"]; its tables are read from the inputs of TWOLEVEL_TABLES
    (each optional: the two-pager then says the model is not available).
    """
    paths = dict(paths)
    if "codebook" not in paths:
        raise InputError("the report's inputs name no codebook", expected="an input 'codebook'")
    tables = {
        name: read_table(
            paths.get(INPUT_NAMES.get(name, name)), name, optional=name in OPTIONAL_TABLES
        )
        for name in (
            "flow",
            "responses",
            "reliability",
            "items",
            "scores",
            "cfa_fit",
            "estimates",
            "fit",
            "motives",
            "main_motive",
            "moderation",
            "simple_slopes",
            "intervals",
            "diversity",
            "agreement",
            "bootstrap",
            "method_variance",
            "status",
            "measurement_status",
        )
    }
    default_roles, default_effects = (
        config_defaults() if roles is None or effects is None else ({}, ())
    )
    earlier = [str(w) for w in (waves or [])]
    earlier = earlier[: earlier.index(str(wave)) + 1] if str(wave) in earlier else [str(wave)]
    if len(earlier) > 1:
        tables |= {name: read_table(paths.get(name), name, optional=True) for name in ACROSS_TABLES}
    if "power" in paths:
        tables["power"] = read_table(paths["power"], "power", optional=True)
    if twolevel_model:
        tables |= {
            name: read_table(paths.get(name), name, optional=True) for name in TWOLEVEL_TABLES
        }
    codebook = load_codebook(paths["codebook"])
    return ReportInputs(
        wave=str(wave),
        codebook=codebook,
        model=model,
        min_cell=int(min_cell),
        provenance=provenance(wave, paths.get("raw"), config_digest),
        waves=earlier,
        roles=dict(default_roles if roles is None else roles),
        effects=tuple(default_effects if effects is None else effects),
        clustering=resolve(tables["responses"], cluster, codebook),
        plan=dict(plan) if plan is not None else None,
        twolevel_model=twolevel_model or None,
        **tables,
    )


# --------------------------------------------------------------------------------------------
# Codebook look-ups (lcsurvey.survey.codebook.Codebook).
# --------------------------------------------------------------------------------------------


def construct_label(codebook: Codebook, construct: str, lang: str) -> str:
    spec = codebook.constructs.get(construct)
    return (spec.label if spec else {}).get(lang, construct.replace("_", " "))


def scale_range(codebook: Codebook, scale: str) -> tuple[float, float]:
    """Lowest and highest value of a codebook scale (labelled codes or min/max)."""
    spec = codebook.scales[scale]
    return float(spec.lowest), float(spec.highest)


def construct_range(codebook: Codebook, construct: str) -> tuple[float, float]:
    """Scale range of a construct: the scale of its items (the codebook keeps them equal)."""
    return scale_range(codebook, codebook.construct_scale(construct).name)


def category_labels(codebook: Codebook, variable: str, lang: str) -> dict[float, str]:
    """Code -> label of a labelled background variable, in `lang`."""
    scale = codebook.scales[codebook.background[variable].scale]
    position = LANGUAGES.index(lang)
    return {float(code): labels[position] for code, labels in scale.labels.items()}


def background_label(codebook: Codebook, variable: str, lang: str) -> str:
    return codebook.background[variable].label.get(lang, variable)
