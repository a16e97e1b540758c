"""The numbers the two-pager prints, read from the results tables of the earlier stages.

Nothing is estimated here that a stage already estimated: the motive tests, main-motive shares,
moderation, diversity slopes, defined effects and changes across waves are read from their
tables; what is computed (a mean with its CI, shares of a background variable with Wilson CIs,
small cells merged) uses the study layer's own functions (`lcsurvey.study.analyses.mean_ci`,
`wilson_ci`, `merge_small_cells`). Which constructs play which role comes from
config["roles"] and config["report"]["effects"] (`ReportInputs.roles`, `.effects`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.report.inputs import (
    ReportInputs,
    category_labels,
    config_defaults,
    construct_range,
)
from lcsurvey.report.numbers import significance_stars
from lcsurvey.report.wording import text
from lcsurvey.study.analyses import mean_ci, merge_small_cells, wilson_ci
from lcsurvey.study.plan import exploratory_scope
from lcsurvey.study.waves import continuous_levels
from lcsurvey.survey.codebook import Codebook

SIGNIFICANCE = 0.05
# The verdicts of results/{wave}/models/motives.csv -> the keys of the verdict texts.
VERDICT_KEYS = {"motive": "is", "not a motive": "not", "undecided": "undecided"}
BACKGROUND_TABLES = ("sector", "org_size")


def roles(inputs: Any) -> dict[str, Any]:
    """config["roles"] of the inputs; the schema's defaults for inputs that carry none."""
    given = getattr(inputs, "roles", None)
    return given if given else config_defaults()[0]


def effects(inputs: Any) -> tuple[str, ...]:
    """config["report"]["effects"] of the inputs; the schema's default for inputs without."""
    given = getattr(inputs, "effects", None)
    return tuple(given) if given else config_defaults()[1]


def interaction_term(inputs: Any) -> str:
    """The product term of the moderation (moderation.csv): "predictor:moderator"."""
    moderation = roles(inputs)["moderation"]
    return f"{moderation['predictor']}:{moderation['moderator']}"


def construct_scores(
    scores: pd.DataFrame, codebook: Codebook, constructs: tuple[str, ...] | list[str]
) -> pd.DataFrame:
    """Mean score with 95% CI per construct, with the construct's scale range and midpoint."""
    rows = []
    for construct in constructs:
        if construct not in scores.columns:
            continue
        low, high = construct_range(codebook, construct)
        rows.append(
            {
                "construct": construct,
                **mean_ci(scores[construct]),
                "scale_min": low,
                "scale_max": high,
                "midpoint": (low + high) / 2,
            }
        )
    return pd.DataFrame(rows)


def motive_results(inputs: ReportInputs) -> pd.DataFrame:
    """The motive tests of the analyses stage (motives.csv), with the verdict as a text key.

    The statistics (one-sample t-tests against the midpoint, Holm, the verdict rule) are
    computed by `lcsurvey.study.analyses.motives`; the report only reads them.
    """
    table = inputs.motives
    if table is None or table.empty:
        return pd.DataFrame(columns=["construct", "verdict"])
    table = table[table["construct"].isin(inputs.codebook.constructs)].copy()
    unknown = sorted(set(table["verdict"]) - set(VERDICT_KEYS))
    if unknown:
        raise InputError(
            f"the motives table has unknown verdicts {unknown}",
            expected=f"one of {list(VERDICT_KEYS)}",
        )
    table["verdict"] = table["verdict"].map(VERDICT_KEYS)
    return table.reset_index(drop=True)


def category_table(
    responses: pd.DataFrame, codebook: Codebook, variable: str, lang: str, min_cell: int
) -> pd.DataFrame:
    """Counts and shares (with Wilson CIs) of a labelled background variable, small cells merged.

    Missing answers count as a category "unknown", which is merged like any other small cell.
    """
    labels = category_labels(codebook, variable, lang)
    values = pd.to_numeric(responses[variable], errors="coerce")
    named = values.map(labels).astype(object)
    named[values.isna() | named.isna()] = text(lang, "unknown")
    order = [*labels.values(), text(lang, "unknown")]
    counts = named.value_counts().reindex(order, fill_value=0)
    table = merge_small_cells(counts, min_cell)
    total = int(len(values))
    table["label"] = table["label"].fillna(text(lang, "merged"))
    table["share"] = table["n"] / total
    cis = [wilson_ci(int(n), total) for n in table["n"]]
    table["ci_lower"] = [lo for lo, _ in cis]
    table["ci_upper"] = [hi for _, hi in cis]
    return table


def participation(inputs: ReportInputs, lang: str) -> dict[str, Any]:
    """Who took part: N, number of communities, and the sector and size tables."""
    responses = inputs.responses
    out: dict[str, Any] = {"n": int(len(responses)), "communities": None, "tables": {}}
    if "community" in responses.columns:
        communities = pd.to_numeric(responses["community"], errors="coerce").dropna()
        out["communities"] = int(communities.nunique())
    for variable in BACKGROUND_TABLES:
        if variable in responses.columns and variable in inputs.codebook.background:
            out["tables"][variable] = category_table(
                responses, inputs.codebook, variable, lang, inputs.min_cell
            )
    return out


def flow_summary(flow: pd.DataFrame) -> dict[str, Any]:
    """Raw rows, kept respondents and the exclusions per step (steps removing nobody left out)."""
    return {
        "raw": int(flow["n_before"].iloc[0]),
        "kept": int(flow["n_after"].iloc[-1]),
        "removed": [
            (str(row.step), int(row.n_removed)) for row in flow.itertuples() if row.n_removed > 0
        ],
    }


def structural_paths(estimates: pd.DataFrame | None) -> pd.DataFrame:
    """The regressions (op '~') of the model: outcome, predictor, estimates and stars."""
    columns = ["lhs", "rhs", "label", "est", "se", "pvalue", "ci_lower", "ci_upper", "std_all"]
    if estimates is None:
        return pd.DataFrame(columns=[*columns, "stars", "significant"])
    paths = estimates.loc[estimates["op"] == "~"].reindex(columns=columns).reset_index(drop=True)
    paths["stars"] = [significance_stars(p) for p in paths["pvalue"]]
    paths["significant"] = paths["pvalue"] < SIGNIFICANCE
    return paths


def find_path(paths: pd.DataFrame, outcome: str, predictor: str) -> pd.Series | None:
    match = paths[(paths["lhs"] == outcome) & (paths["rhs"] == predictor)]
    return None if match.empty else match.iloc[0]


def home_support_moderation(inputs: ReportInputs) -> dict[str, Any] | None:
    """The moderation of config roles.moderation (perceived learning -> knowledge transfer by
    home support).

    Reads the analyses stage's moderation.csv (the product term) and simple_slopes.csv (the
    slopes at -1, 0 and +1 SD of support); returns None when either is absent, so that
    nothing is printed.
    """
    table, slopes = inputs.moderation, inputs.simple_slopes
    if table is None or slopes is None or slopes.empty:
        return None
    term = table[table["term"] == interaction_term(inputs)]
    if term.empty:
        return None
    slopes = slopes.sort_values("moderator_level").reset_index(drop=True)
    return {"interaction": term.iloc[0], "slopes": slopes}


# The robust versions of the fit measures a robust (MLR) fit has (fit.csv), lavaan's
# cfi.robust, ...: printed, and judged, in place of the normal-theory ones when present.
ROBUST_MEASURES = ("cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper")
# Estimators of items as ordered categories (estimation.estimator wlsmv / ulsmv): their fit
# is reported by lavaan's scaled measures (cfi.scaled, tli.scaled, rmsea.scaled).
ORDINAL_ESTIMATORS = ("WLSMV", "ULSMV")
SCALED_MEASURES = ("cfi", "tli", "rmsea")


def fit_summary(fit: pd.DataFrame | None) -> dict[str, Any] | None:
    """The fit row as a dict, with a verdict from the usual cut-offs (Hu & Bentler, 1999).

    For a robust fit (a finite chisq_scaled: lavaan's MLR, cluster-robust or not) `robust` is
    True, chisq is the Yuan-Bentler scaled statistic and CFI, TLI and RMSEA (with its CI) are
    the robust ones wherever fit.csv has them (lavaan's cfi.robust, ...). For items as
    ordered categories (`ordinal`: estimator WLSMV or ULSMV) chisq is the scaled-shifted
    statistic and CFI, TLI and RMSEA the scaled ones (lavaan's cfi.scaled, ...); a fit without
    SRMR is judged on CFI and RMSEA.
    """
    if fit is None or fit.empty:
        return None
    row = fit.iloc[0].to_dict()
    scaled = row.get("chisq_scaled", np.nan)
    row["robust"] = bool(pd.notna(scaled) and np.isfinite(scaled))
    row["ordinal"] = str(row.get("estimator", "")).upper() in ORDINAL_ESTIMATORS
    if row["robust"]:
        row["chisq"] = scaled
        for name in ROBUST_MEASURES:
            value = row.get(f"{name}_robust", np.nan)
            if pd.notna(value) and np.isfinite(value):
                row[name] = value
        for name in SCALED_MEASURES if row["ordinal"] else ():
            value = row.get(f"{name}_scaled", np.nan)
            if pd.notna(value) and np.isfinite(value):
                row[name] = value
    cfi, rmsea, srmr = row["cfi"], row["rmsea"], row["srmr"]
    srmr = srmr if pd.notna(srmr) and np.isfinite(srmr) else 0.0  # no SRMR: CFI and RMSEA
    if cfi >= 0.95 and rmsea <= 0.06 and srmr <= 0.08:
        row["verdict"] = "good"
    elif cfi >= 0.90 and rmsea <= 0.08 and srmr <= 0.10:
        row["verdict"] = "acceptable"
    else:
        row["verdict"] = "poor"
    return row


CI_METHODS = (
    ("bca", "bca_ci_lower", "bca_ci_upper"),
    ("percentile", "boot_ci_lower", "boot_ci_upper"),
    # Filled without bootstrap intervals only when the bootstrap was skipped for a large n
    # (estimation.bootstrap_max_n; lcsurvey.sem.model.bootstrap_estimates).
    ("monte_carlo", "mc_ci_lower", "mc_ci_upper"),
)


def defined_effects(inputs: ReportInputs) -> pd.DataFrame:
    """The model's defined (:=) parameters the report prints (config report.effects: the
    headline indirect association, then the part through safety), with the 95% CI printed.

    The CI is the bootstrap BCa interval of intervals.csv when there is one, else its
    percentile interval, else its Monte Carlo interval (a wave above
    estimation.bootstrap_max_n rows has no bootstrap), else the delta-method interval of
    estimates.csv (method: bca, percentile, monte_carlo or delta). significant: the CI
    excludes 0.
    """
    columns = ["name", "est", "ci_lower", "ci_upper", "method", "pvalue", "std_all", "significant"]
    rows = []
    estimates, intervals = inputs.estimates, inputs.intervals
    if estimates is None:
        return pd.DataFrame(columns=columns)
    for name in effects(inputs):
        match = estimates[(estimates["op"] == ":=") & (estimates["lhs"] == name)]
        if match.empty:
            continue
        row = match.iloc[0]
        lower, upper, method = _effect_interval(name, row, intervals)
        rows.append(
            {
                "name": name,
                "est": float(row["est"]),
                "ci_lower": float(lower),
                "ci_upper": float(upper),
                "method": method,
                "pvalue": row.get("pvalue"),
                "std_all": row.get("std_all"),
                "significant": bool(lower > 0 or upper < 0),
            }
        )
    return pd.DataFrame(rows, columns=columns)


DIVERSITY_TERM = "share_other_sector"


DIVERSITY_METHOD, DIVERSITY_CHECK = "ols_cluster", "random_intercept"


def diversity_results(inputs: ReportInputs) -> pd.DataFrame:
    """Climate and psychological safety by the community's share of members from another
    sector than its majority (diversity.csv of the analyses stage), one row per scale.

    The main analysis is the regression with community-clustered standard errors; the random-
    intercept model is the check. verdict: "higher" / "lower" when both find the slope
    significant with the same sign (or the check is absent), "unclear" when they disagree,
    "none" when neither does.
    """
    columns = [
        "outcome",
        "est",
        "ci_lower",
        "ci_upper",
        "pvalue",
        "n",
        "n_clusters",
        "p_check",
        "verdict",
    ]
    table = inputs.diversity
    if table is None or table.empty:
        return pd.DataFrame(columns=columns)
    slopes = table[table["term"] == DIVERSITY_TERM]
    rows = []
    for outcome in roles(inputs)["climate"]:
        main = slopes[(slopes["outcome"] == outcome) & (slopes["method"] == DIVERSITY_METHOD)]
        if main.empty:
            continue
        main = main.iloc[0]
        check = slopes[(slopes["outcome"] == outcome) & (slopes["method"] == DIVERSITY_CHECK)]
        check = check.iloc[0] if not check.empty else None
        significant = main["pvalue"] < SIGNIFICANCE
        agrees = check is None or (
            (check["pvalue"] < SIGNIFICANCE) == significant
            and (not significant or np.sign(check["est"]) == np.sign(main["est"]))
        )
        if not agrees:
            verdict = "unclear"
        elif significant:
            verdict = "higher" if main["est"] > 0 else "lower"
        else:
            verdict = "none"
        rows.append(
            {
                "outcome": outcome,
                "est": main["est"],
                "ci_lower": main["ci_lower"],
                "ci_upper": main["ci_upper"],
                "pvalue": main["pvalue"],
                "n": main["n"],
                "n_clusters": main["n_clusters"],
                "p_check": np.nan if check is None else check["pvalue"],
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows, columns=columns)


# "partial scalar (x3, x7 free)" of lcsurvey.study.waves.comparability shows as "partial scalar".
COMPARABLE_KEYS = ("yes", "partial scalar", "partly (metric)", "no", "not tested")


def comparable_key(comparable: str) -> str:
    """The COMPARABLE_KEYS entry (wording key cw_...) of a `comparable` value of changes.csv."""
    if comparable in COMPARABLE_KEYS:
        return comparable
    return "partial scalar" if comparable.startswith("partial scalar") else "not tested"


def _suppressed(table: pd.DataFrame, n_columns: list[str], min_cell: int) -> pd.Series:
    """Rows to hide: marked suppressed by the stage that wrote them, or with any n < min_cell."""
    hidden = pd.Series(False, index=table.index)
    if "suppressed" in table.columns:
        hidden |= table["suppressed"].astype(str).str.lower().isin(["true", "1", "yes"])
    for column in n_columns:
        hidden |= pd.to_numeric(table[column], errors="coerce").fillna(0) < min_cell
    return hidden


def crosswave_results(inputs: ReportInputs) -> dict[str, Any] | None:
    """What changed between the previous wave and this one, per scale, and how comparable.

    Only the waves up to and including the report's wave count (inputs.waves); None with a
    single wave or without the wave's tables across waves (results/{wave}/across). Returns the
    means per wave (scale x wave, rows with fewer than min_cell respondents removed), the
    changes of the last pair of waves (comparable mapped to COMPARABLE_KEYS), the scales left
    out for small numbers, and the invariance decision of the test of those two waves.
    """
    waves, across = inputs.waves, list(roles(inputs)["across"])
    if len(waves) < 2 or inputs.means is None or inputs.changes is None:
        return None
    frm, to = waves[-2], waves[-1]
    means = inputs.means.assign(wave=inputs.means["wave"].astype(str))
    means = means[means["wave"].isin(waves) & means["construct"].isin(across)]
    hidden_means = _suppressed(means, ["n"], inputs.min_cell)
    changes = inputs.changes.assign(
        wave_from=inputs.changes["wave_from"].astype(str),
        wave_to=inputs.changes["wave_to"].astype(str),
    )
    changes = changes[
        (changes["wave_from"] == frm)
        & (changes["wave_to"] == to)
        & changes["construct"].isin(across)
    ]
    hidden_changes = _suppressed(changes, ["n_from", "n_to"], inputs.min_cell)
    order = {c: i for i, c in enumerate(across)}
    suppressed = sorted(
        set(means.loc[hidden_means, "construct"]) | set(changes.loc[hidden_changes, "construct"]),
        key=order.get,
    )
    means = means[~hidden_means]
    changes = changes[~hidden_changes & ~changes["construct"].isin(suppressed)].copy()
    changes["comparable"] = [
        comparable_key(c) for c in changes["comparable"].fillna("not tested").astype(str)
    ]
    changes["significant"] = changes["pvalue"] < SIGNIFICANCE
    changes = changes.sort_values("construct", key=lambda c: c.map(order)).reset_index(drop=True)
    if changes.empty:
        return None
    return {
        "from": frm,
        "to": to,
        "waves": waves,
        "means": means,
        "changes": changes,
        "suppressed": suppressed,
        "invariance": invariance_summary(inputs.invariance),
    }


def invariance_summary(table: pd.DataFrame | None) -> dict[str, Any] | None:
    """The invariance decision of a test with waves as groups: "scalar" (metric and scalar hold), "metric" (only
    metric holds) or "none" (metric rejected), with the fit changes of the step that decided;
    None when the table is absent or holds no decision. The threshold invariance levels of
    ordinal items count as metric (thresholds_loadings) and scalar
    (thresholds_loadings_intercepts), lcsurvey.study.waves.continuous_levels."""
    if table is None or table.empty:
        return None
    table = continuous_levels(table)
    rows = {str(r["level"]): r for _, r in table.iterrows()}
    decision = {
        level: str(r["decision"])
        for level, r in rows.items()
        if isinstance(r["decision"], str) and r["decision"]
    }
    if decision.get("metric") == "holds" and decision.get("scalar") == "holds":
        level, row = "scalar", rows["scalar"]
    elif decision.get("metric") == "holds" and "scalar" in decision:
        level, row = "metric", rows["scalar"]
    elif decision.get("metric") == "rejected":
        level, row = "none", rows["metric"]
    else:
        return None
    return {
        "level": level,
        "delta_cfi": row["delta_cfi"],
        "delta_rmsea": row["delta_rmsea"],
        "rule": row.get("rule", ""),
    }


def main_motive_table(inputs: ReportInputs, lang: str) -> pd.DataFrame | None:
    """The main-motive shares of the analyses stage (main_motive.csv), labelled in `lang`.

    Shares, Wilson CIs and the merging of small categories come from
    `lcsurvey.study.analyses.main_motive`; here codes only become labels.
    """
    table = inputs.main_motive
    if table is None or table.empty:
        return None
    labels = category_labels(inputs.codebook, "main_motive", lang)

    def label(code: Any) -> str:
        return labels.get(float(code), str(code))

    table = table.copy()
    table["merged"] = table["merged"].astype(str).str.lower().isin(["true", "1"])
    table["label"] = [
        text(lang, "merged") if merged else label(code)
        for code, merged in zip(table["category"], table["merged"], strict=True)
    ]
    table["members"] = [
        ", ".join(label(code) for code in str(members).split(";") if code.strip()) if merged else ""
        for members, merged in zip(table["members"].fillna(""), table["merged"], strict=True)
    ]
    return table


# Agreement within communities: when a construct can be read as a property of the community.
# The usual rule (LeBreton & Senter 2008; Bliese 2000): most communities agree (median r_wg(j)
# of at least .70) and the communities differ (ICC(1) above 0).
RWG_SHARED = 0.70


def agreement_results(inputs: ReportInputs) -> pd.DataFrame:
    """The climate facets' agreement statistics (agreement.csv, config roles.climate), with
    `shared`: the facet can be read as a property of the community (RWG_SHARED rule).

    Empty when there is no agreement table or it has no statistics (no usable cluster).
    """
    table = inputs.agreement
    columns = [
        "construct",
        "n",
        "groups",
        "icc1",
        "icc2",
        "rwg_j_median",
        "rwg_j_share_70",
        "ad_m_mean",
        "ad_cutoff",
        "groups_small",
        "shared",
    ]
    if table is None or table.empty or not inputs.clustering.active:
        return pd.DataFrame(columns=columns)
    facets = list(roles(inputs)["climate"])
    rows = table[table["construct"].isin(facets)].copy()
    rows = rows[rows["icc1"].notna()]
    rows["_order"] = rows["construct"].map(facets.index)
    rows = rows.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    rows["shared"] = (rows["rwg_j_median"] >= RWG_SHARED) & (rows["icc1"] > 0)
    return rows.reindex(columns=columns)


def nesting(inputs: ReportInputs) -> dict[str, Any]:
    """How the analyses treat the nesting of participants in communities.

    clustered: the models' standard errors are cluster-robust (fit.csv's nclusters);
    communities: the number of communities; bootstrap: True when the bootstrap resampled
    whole communities (bootstrap.csv); reason: why a configured cluster variable was not
    used (lcsurvey.survey.clusters.Clustering.reason), else None; configured: a cluster
    variable is configured at all.
    """
    clustering = inputs.clustering
    fit = inputs.fit
    clustered = bool(
        clustering.active
        and fit is not None
        and not fit.empty
        and "nclusters" in fit.columns
        and pd.notna(fit["nclusters"].iloc[0])
    )
    boot = inputs.bootstrap
    resampled = bool(
        clustered
        and boot is not None
        and not boot.empty
        and "resampling" in boot.columns
        and boot["resampling"].iloc[0] == "clusters"
        and boot["draws_ok"].iloc[0] > 0
    )
    reason = clustering.reason
    if reason is None and clustering.active and not clustered and fit is not None:
        # the ordinal estimators' standard errors treat respondents as independent
        estimators = fit["estimator"].astype(str).str.upper() if "estimator" in fit else []
        if any(e in ORDINAL_ESTIMATORS for e in estimators):
            reason = "ordinal"
    return {
        "configured": clustering.variable is not None,
        "clustered": clustered,
        "communities": clustering.clusters,
        "missing": clustering.missing,
        "bootstrap": resampled,
        "reason": reason,
    }


def plan_scope(inputs: ReportInputs) -> str:
    """Which results the deviations from the frozen analysis plan make exploratory: "all",
    "model" (the report model's results) or "none" (also without a plan); the rule is
    lcsurvey.study.plan.exploratory_scope."""
    if not inputs.plan:
        return "none"
    return exploratory_scope(inputs.plan.get("deviations") or [], inputs.model)


# --------------------------------------------------------------------------------------------
# The two-level model (config report.twolevel_model): the climate as a property of the
# community (level 2) and of each member within it (level 1).
# --------------------------------------------------------------------------------------------

# Fewer communities than this: the community-level part of a two-level model is not reported.
# With about 30 groups or more, level-2 regression coefficients are estimated without bias and
# their standard errors nearly so; below it those standard errors are too small and
# between-level variances often come out at or below zero (Kreft 1996, the "30/30 rule"; Maas
# & Hox 2005, Methodology 1(3), 86-92; Hox, Maas & Brinkhuis 2010, Statistica Neerlandica 64,
# 157-170, for two-level SEM). A floor, not a guarantee: above it the fit's own checks
# (convergence, Heywood cases, standard errors) still decide.
TWOLEVEL_MIN_CLUSTERS = 30

# Why a level of the two-level model is not reported, in the order the report names them.
TWOLEVEL_PROBLEMS = ("not_estimated", "few_clusters", "no_convergence", "heywood", "no_se")

_LABEL = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")
_TRUE = {"yes", "true", "1", "1.0"}
_FALSE = {"no", "false", "0", "0.0"}


def _flag(tables: list[pd.DataFrame | None], column: str) -> bool | None:
    """A yes/no column (converged) of the first table that has it; None when none has."""
    for table in tables:
        if table is not None and not table.empty and column in table.columns:
            value = str(table[column].iloc[0]).strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
    return None


def _effect_interval(name: str, row: pd.Series, intervals: pd.DataFrame | None, level=None):
    """(lower, upper, method) of a defined effect: bootstrap BCa, percentile or Monte Carlo
    interval of intervals.csv when there is one (CI_METHODS, in that order), else the
    delta-method interval of its estimates row."""
    lower, upper, method = row["ci_lower"], row["ci_upper"], "delta"
    if intervals is None:
        return float(lower), float(upper), method
    boot = intervals[(intervals["op"] == ":=") & (intervals["lhs"] == name)]
    if level is not None and "level" in boot.columns:
        boot = boot[pd.to_numeric(boot["level"], errors="coerce").isin([level, 0])]
    for key, low_col, high_col in CI_METHODS:
        if (
            not boot.empty
            and low_col in boot.columns
            and np.isfinite(boot.iloc[0][[low_col, high_col]].astype(float)).all()
        ):
            return float(boot.iloc[0][low_col]), float(boot.iloc[0][high_col]), key
    return float(lower), float(upper), method


def _chain(paths: pd.DataFrame, labels: set[str]) -> dict[str, list[str]] | None:
    """Where a product-of-paths effect starts, runs through and ends: the regressions whose
    labels it uses, as predictors (not predicted by another of them), mediators (in order)
    and outcomes (predicting none of them); None when its labels name no regression."""
    used = paths[paths["label"].isin(labels)]
    if used.empty:
        return None
    lhs, rhs = list(dict.fromkeys(used["lhs"])), list(dict.fromkeys(used["rhs"]))
    starts = [v for v in rhs if v not in lhs]
    ends = [v for v in lhs if v not in rhs]
    if not starts or not ends:
        return None
    depth = {v: 0 for v in starts}
    for _ in range(len(lhs) + 1):  # longest distance from a start, for the mediators' order
        for row in used.itertuples():
            if row.rhs in depth:
                depth[row.lhs] = max(depth.get(row.lhs, 0), depth[row.rhs] + 1)
    middle = sorted((v for v in lhs if v in rhs), key=lambda v: depth.get(v, 0))
    return {"starts": starts, "mediators": middle, "ends": ends}


def _level_effect(
    estimates: pd.DataFrame, intervals: pd.DataFrame | None, paths: pd.DataFrame, level: int
) -> dict[str, Any] | None:
    """The first defined (:=) effect built from labels of `level` only, with its interval and
    the chain of paths it runs through (_chain); None when the model defines none."""
    labelled = estimates[(estimates["op"] != ":=") & estimates["label"].fillna("").ne("")]
    levels = labelled.groupby("label")["level"].agg(lambda s: set(s.astype(int)))
    for row in estimates[estimates["op"] == ":="].itertuples():
        names = {n for n in _LABEL.findall(str(row.rhs)) if n in levels.index}
        if not names or any(levels[n] != {level} for n in names):
            continue
        series = estimates.loc[row.Index]
        lower, upper, method = _effect_interval(row.lhs, series, intervals, level)
        return {
            "name": row.lhs,
            "est": float(row.est),
            "se": float(row.se) if pd.notna(row.se) else np.nan,
            "ci_lower": lower,
            "ci_upper": upper,
            "method": method,
            "significant": bool(lower > 0 or upper < 0),
            "chain": _chain(paths, names),
        }
    return None


def twolevel_results(inputs: ReportInputs) -> dict[str, Any] | None:
    """The two-level model of config report.twolevel_model, per level: its regressions, its
    defined indirect effect (the := built from that level's labels) and whether the level
    can be reported, or why not.

    The community level (2) is not reported when the model was not estimated
    (status.csv), did not converge (a `converged` column of fit.csv or status.csv saying no,
    or status reason "no convergence"), has fewer than TWOLEVEL_MIN_CLUSTERS clusters, a
    negative level-2 variance (Heywood case, from estimates.csv) or a level-2 path or effect
    without a finite standard error. The member level (1) is reported whenever the fit is
    estimated and converged and level 1 itself has no Heywood case and finite standard
    errors: its estimates rest on the members' deviations from their community's mean, which
    the community level's trouble (a between variance near zero) leaves as they are.

    Returns
    -------
    dict or None
        None without a two-level model. Else ``model``, ``clusters`` (number of clusters),
        ``min_clusters``, and per level (keys ``between``, ``within``): ``paths``
        (structural_paths of that level), ``effect`` (_level_effect or None), ``problems``
        (codes of TWOLEVEL_PROBLEMS, in that order) and ``heywood`` (the variables with a
        negative variance at that level).
    """
    model = getattr(inputs, "twolevel_model", None)
    if not model:
        return None
    status, fit = inputs.twolevel_status, inputs.twolevel_fit
    estimates, intervals = inputs.twolevel_estimates, inputs.twolevel_intervals
    clusters = None
    if fit is not None and not fit.empty and "nclusters" in fit.columns:
        value = pd.to_numeric(fit["nclusters"], errors="coerce").iloc[0]
        clusters = int(value) if pd.notna(value) else None
    if clusters is None:
        clusters = inputs.clustering.clusters or None
    estimated = not (
        (status is not None and not status.empty and str(status["estimated"].iloc[0]) == "no")
        or estimates is None
        or estimates.empty
        or "level" not in estimates.columns
    )
    reason = ""
    if status is not None and not status.empty and pd.notna(status["reason"].iloc[0]):
        reason = str(status["reason"].iloc[0])
    converged = _flag([fit, status], "converged")
    out: dict[str, Any] = {
        "model": model,
        "clusters": clusters,
        "min_clusters": TWOLEVEL_MIN_CLUSTERS,
        "reason": reason,
    }
    for key, level in (("between", 2), ("within", 1)):
        problems: list[str] = []
        paths, effect, heywood = structural_paths(None), None, []
        if level == 2 and clusters is not None and clusters < TWOLEVEL_MIN_CLUSTERS:
            problems.append("few_clusters")
        if not estimated:
            problems.append("no_convergence" if reason == "no convergence" else "not_estimated")
        else:
            rows = estimates[pd.to_numeric(estimates["level"], errors="coerce") == level]
            paths = structural_paths(rows)
            variances = rows[(rows["op"] == "~~") & (rows["lhs"] == rows["rhs"])]
            heywood = list(variances.loc[variances["est"] < 0, "lhs"])
            effect = _level_effect(estimates, intervals, paths, level)
            ses = [*paths["se"], *([effect["se"]] if effect else [])]
            if converged is False:
                problems.append("no_convergence")
            if heywood:
                problems.append("heywood")
            if not np.isfinite(pd.to_numeric(pd.Series(ses, dtype=float))).all():
                problems.append("no_se")
        problems = sorted(problems, key=TWOLEVEL_PROBLEMS.index)
        out[key] = {"paths": paths, "effect": effect, "problems": problems, "heywood": heywood}
    return out
