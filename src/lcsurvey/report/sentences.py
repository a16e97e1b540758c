"""The two-pager's sentences: results in, plain Dutch or English out.

Wording rules: associations, never causes; a non-significant result is said to be not clear,
in words. Every sentence is a template of the language's catalogue (`wording/<lang>.yaml`)
with numbers formatted by `lcsurvey.report.numbers`; the rules that choose a template (which
verdict, significant or not, one or several) live here.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.report.findings import (
    SIGNIFICANCE,
    find_path,
    fit_summary,
    flow_summary,
    motive_results,
    plan_scope,
    structural_paths,
)
from lcsurvey.report.inputs import ReportInputs, construct_label
from lcsurvey.report.numbers import fmt_int, fmt_number, fmt_p, fmt_percent
from lcsurvey.report.wording import factor_words, has_text, join, lower_first, text
from lcsurvey.sem.estimability import REASONS
from lcsurvey.study.plan import ENGLISH, Deviation, describe
from lcsurvey.study.waves import interpreted
from lcsurvey.survey.codebook import Codebook


def path_sentence(path: pd.Series, lang: str) -> str:
    """One sentence for a structural path: 'X is associated with more/less Y (β = .., stars)'."""
    predictor = factor_words(path["rhs"], lang)
    outcome = factor_words(path["lhs"], lang)
    beta = fmt_number(path["std_all"], lang)
    if path["pvalue"] < SIGNIFICANCE:
        direction = outcome["more"] if path["std_all"] > 0 else outcome["less"]
        return text(
            lang, "path_sig", subj=predictor["subj"], obj_dir=direction, b=beta, stars=path["stars"]
        )
    return text(lang, "path_ns", subj=predictor["subj"], obj=outcome["obj"], b=beta)


def climate_links_sentence(paths: list[pd.Series], lang: str) -> str:
    """'Association with learning: A → B β = 0.41***, ...; (n.s.) marks a non-significant path."""
    parts = [
        f"{factor_words(p['rhs'], lang)['box']} → {lower_first(factor_words(p['lhs'], lang)['box'])}"
        f" β = {fmt_number(p['std_all'], lang)}{p['stars'] if p['significant'] else ' (n.s.)'}"
        for p in paths
    ]
    return text(lang, "climate_links", links=text(lang, "sep").join(parts))


def indirect_sentences(effects: pd.DataFrame, lang: str) -> list[str]:
    """The indirect association of climate with knowledge use (and the part through safety),
    each with its CI and the CI's method; 'not clear' when the CI includes 0."""
    sentences = []
    climate, transfer = factor_words("climate", lang), factor_words("transfer", lang)
    for row in effects.itertuples():
        values = {
            "b": fmt_number(row.est, lang),
            "l": fmt_number(row.ci_lower, lang),
            "u": fmt_number(row.ci_upper, lang),
        }
        if row.name == "indirect" and row.significant:
            sentences.append(
                text(
                    lang,
                    "indirect_sig",
                    subj=lower_first(climate["subj"]),
                    obj_dir=transfer["more" if row.est > 0 else "less"],
                    method=text(lang, f"ci_{row.method}"),
                    **values,
                )
            )
        elif row.name == "indirect":
            sentences.append(
                text(
                    lang,
                    "indirect_ns",
                    obj_from=climate["obj"],
                    obj=transfer["obj"],
                    method=text(lang, f"ci_{row.method}"),
                    **values,
                )
            )
        elif row.name == "via_safety":
            key = "via_safety_sig" if row.significant else "via_safety_ns"
            sentences.append(text(lang, key, **values))
    return sentences


def moderation_sentence(moderation: dict[str, Any], lang: str) -> str:
    """One plain sentence on the moderation: stronger / weaker link only when the product term
    is significant, otherwise that it remains open, 'not significant' said in words."""
    term, slopes = moderation["interaction"], moderation["slopes"]
    p_value = fmt_p(term["pvalue"], lang)
    p_text = p_value if p_value.startswith("<") else f"= {p_value}"
    values = {
        "low": fmt_number(slopes["slope"].iloc[0], lang),
        "high": fmt_number(slopes["slope"].iloc[-1], lang),
        "p": p_text,
    }
    if term["pvalue"] < SIGNIFICANCE:
        key = "moderation_sig_pos" if term["est"] > 0 else "moderation_sig_neg"
    else:
        key = "moderation_ns"
    return text(lang, key, **values)


def diversity_sentence(results: pd.DataFrame, codebook: Codebook, lang: str) -> str:
    """Climate by community diversity in one sentence: higher / lower only where both analyses
    agree on a significant slope, 'does not differ clearly' otherwise, uncertainty said."""

    def label(construct: str) -> str:
        return lower_first(construct_label(codebook, construct, lang))

    def value(r) -> str:
        return text(
            lang,
            "div_value",
            label=label(r.outcome),
            b=fmt_number(r.est, lang),
            l=fmt_number(r.ci_lower, lang),
            u=fmt_number(r.ci_upper, lang),
        )

    k = fmt_int(results["n_clusters"].max())
    groups = {v: results[results["verdict"] == v] for v in ("higher", "lower", "none", "unclear")}
    if groups["higher"].empty and groups["lower"].empty and groups["unclear"].empty:
        return text(lang, "div_all_none", k=k)
    clauses = []
    for verdict in ("higher", "lower"):
        rows = groups[verdict]
        if not rows.empty:
            number = "one" if len(rows) == 1 else "many"
            key = f"div_{verdict}_{'then' if clauses else number}"
            clauses.append(
                text(lang, key, values=join([value(r) for r in rows.itertuples()], lang))
            )
    sentence = text(lang, "div_lead")
    if clauses:
        sentence += text(lang, "div_lead_then") + text(lang, "and").join(clauses)
    none = groups["none"]
    if not none.empty:
        number = "one" if len(none) == 1 else "many"
        labels = join([label(c) for c in none["outcome"]], lang)
        sentence += ("; " if clauses else text(lang, "div_lead_then")) + text(
            lang, f"div_none_{number}", labels=labels
        )
    sentence += "."
    if not groups["unclear"].empty:
        sentence += " " + text(
            lang, "div_unclear", labels=join([label(c) for c in groups["unclear"]["outcome"]], lang)
        )
    return sentence


def crosswave_sentences(result: dict[str, Any], codebook: Codebook, lang: str) -> list[str]:
    """What changed from the previous wave: higher / lower only for significant changes of
    comparable scales; scales that are not comparable are named, not interpreted; then the
    invariance decision.

    A change is interpreted only under (partial) scalar invariance, or when invariance was
    not tested (the decision sentence then says so): lcsurvey.study.waves.interpreted.
    Scales with metric invariance alone ("partly (metric)") and scales without it ("no") are
    named in a sentence each, their changes shown in the table only. Where the returners'
    longitudinal test decided a scale's comparability, a last sentence says so."""
    changes, frm, to = result["changes"], result["from"], result["to"]
    comparable = changes[changes["comparable"].map(interpreted)]
    moved = comparable[comparable["significant"]]
    parts = []
    for r in moved.itertuples():
        key = "cw_change_up" if r.diff > 0 else "cw_change_down"
        parts.append(
            text(
                lang,
                key,
                label=construct_label(codebook, r.construct, lang),
                to=to,
                frm=frm,
                d=fmt_number(r.diff, lang),
                l=fmt_number(r.ci_lower, lang),
                u=fmt_number(r.ci_upper, lang),
            )
        )
    parts = parts[:1] + [lower_first(part) for part in parts[1:]]
    sentences = []
    if parts:
        rest = [text(lang, "cw_rest")] if len(moved) < len(comparable) else []
        sentences.append(text(lang, "sep").join(parts + rest) + ".")
    elif not comparable.empty:
        sentences.append(text(lang, "cw_none", frm=frm, to=to))
    for verdict, key in (("partly (metric)", "cw_metric_only"), ("no", "cw_not_comparable")):
        named = changes[changes["comparable"] == verdict]
        if not named.empty:
            labels = join(
                [lower_first(construct_label(codebook, c, lang)) for c in named["construct"]],
                lang,
            )
            sentences.append(text(lang, key, labels=labels))
    inv = result["invariance"]
    if inv is None:
        sentences.append(text(lang, "cw_inv_untested", frm=frm, to=to))
    else:
        sentences.append(
            text(
                lang,
                f"cw_inv_{inv['level']}",
                frm=frm,
                to=to,
                dcfi=fmt_number(inv["delta_cfi"], lang, 3),
                drmsea=fmt_number(inv["delta_rmsea"], lang, 3),
            )
        )
    if (
        "comparable_test" in changes.columns
        and (changes["comparable_test"] == "longitudinal").any()
    ):
        # The returners' own test decided the column: say so, beside the waves-as-groups test.
        sentences.append(text(lang, "cw_longitudinal"))
    return sentences


def _paths_message(
    paths: pd.DataFrame,
    pairs: list[tuple[str, str]],
    hint: tuple[str, str],
    hint_key: str,
    lang: str,
) -> str:
    """One key message: a sentence per path (outcome, predictor) the model has, then the
    practical hint when the `hint` path is a significant positive association; "" without
    any of the paths."""
    found = [find_path(paths, outcome, predictor) for outcome, predictor in pairs]
    found = [p for p in found if p is not None]
    if not found:
        return ""
    message = " ".join(path_sentence(p, lang) for p in found)
    path = find_path(paths, *hint)
    if path is not None and path["significant"] and path["std_all"] > 0:
        message += " " + text(lang, hint_key)
    return message


def key_messages(inputs: ReportInputs, lang: str) -> list[str]:
    """Plain-language messages for practice, each generated from one result.

    Motives: one message per verdict (is / not / undecided) with mean and 95% CI. Climate and
    transfer: the model's paths, worded by `path_sentence`, with a practical hint only when the
    path is significant and positive. Last, what the design does not allow to conclude.
    """
    messages = []
    tests = motive_results(inputs)
    for verdict in ("is", "not", "undecided"):
        rows = tests[tests["verdict"] == verdict] if not tests.empty else tests
        if rows.empty:
            continue
        values = [
            text(
                lang,
                "msg_value",
                label=construct_label(inputs.codebook, r.construct, lang),
                m=fmt_number(r.mean, lang),
                l=fmt_number(r.ci_lower, lang),
                u=fmt_number(r.ci_upper, lang),
            )
            for r in rows.itertuples()
        ]
        values = [values[0]] + [lower_first(v) for v in values[1:]]
        if verdict == "undecided":
            values = [lower_first(v) for v in values]
        verb = text(lang, f"msg_{verdict}_{'one' if len(values) == 1 else 'many'}")
        mid = fmt_number(rows["midpoint"].iloc[0], lang, 0)
        messages.append(
            text(lang, f"msg_motive_{verdict}", values=join(values, lang), verb=verb, mid=mid)
        )

    paths = structural_paths(inputs.estimates)
    for pairs, hint, hint_key in (
        (
            [("safety", "climate"), ("learning", "safety")],
            ("learning", "safety"),
            "msg_safety_hint",
        ),
        (
            [("transfer", "perceived"), ("transfer", "support")],
            ("transfer", "support"),
            "msg_support_hint",
        ),
    ):
        message = _paths_message(paths, pairs, hint, hint_key, lang)
        if message:
            messages.append(message)
    caution = model_caution(inputs, lang)
    if caution:
        messages.append(caution)
    messages.append(text(lang, "msg_design"))
    return messages


def model_caution(inputs: ReportInputs, lang: str) -> str | None:
    """A warning for the key messages when the model rests on few respondents or fits poorly.

    Few: fewer than 80% of the analysed participants (e.g. listwise deletion). Poorly: the
    fit verdict of `fit_summary`. Returns None when neither holds.
    """
    fit = fit_summary(inputs.fit)
    if fit is None:
        return None
    n, n_model = len(inputs.responses), int(fit["ntotal"])
    poor = fit["verdict"] == "poor"
    if n_model >= 0.8 * n and not poor:
        return None
    return text(
        lang,
        "msg_model_caution",
        n_model=n_model,
        n=n,
        fit=text(lang, "msg_model_fit_poor") if poor else "",
    )


def flow_sentence(flow: pd.DataFrame, lang: str) -> str:
    summary = flow_summary(flow)
    line = text(lang, "flow_line", raw=summary["raw"], kept=summary["kept"])
    reasons = [
        f"{n} {text(lang, 'step_' + step) if has_text(lang, 'step_' + step) else step}"
        for step, n in summary["removed"]
    ]
    if reasons:
        return line + " " + text(lang, "flow_reasons", reasons=", ".join(reasons))
    return line + " " + text(lang, "flow_none")


def cfa_line(cfa_fit: pd.DataFrame | None, lang: str) -> str | None:
    """The joint CFA's fit (results/{wave}/scales/cfa_fit.csv, model "joint") as one sentence;
    the scaled test and robust indices of a robust fit (as fit_summary)."""
    if cfa_fit is None or not (cfa_fit["model"] == "joint").any():
        return None
    row = fit_summary(cfa_fit[cfa_fit["model"] == "joint"])
    return text(
        lang,
        "cfa_line_robust" if row["robust"] else "cfa_line",
        df=fmt_int(row["df"]),
        chisq=fmt_number(row["chisq"], lang, 1),
        cfi=fmt_number(row["cfi"], lang, 3),
        tli=fmt_number(row["tli"], lang, 3),
        rmsea=fmt_number(row["rmsea"], lang, 3),
        srmr=fmt_number(row["srmr"], lang, 3),
    )


def planning_note(inputs: ReportInputs, lang: str) -> str | None:
    """The note on planning the next wave (lcsurvey.study.power.planning_note), when asked for."""
    if inputs.power is None or inputs.power.empty:
        return None
    from lcsurvey.study.power import planning_note as power_planning_note

    return power_planning_note(inputs.power, lang)


MONTE_CARLO_ONLY = re.compile(r"none \(monte carlo: n = (\d+) above (\d+)\)")


def intervals_note(bootstrap: pd.DataFrame | None, lang: str) -> str | None:
    """For the method box: the indirect associations have Monte Carlo intervals because the
    model had more rows than estimation.bootstrap_max_n (bootstrap.csv's method, written by
    lcsurvey.sem.model.bootstrap_estimates); None when the model was bootstrapped or not
    estimated."""
    if bootstrap is None or bootstrap.empty or "method" not in bootstrap.columns:
        return None
    match = MONTE_CARLO_ONLY.fullmatch(str(bootstrap["method"].iloc[0]))
    if match is None:
        return None
    n, limit = (int(g) for g in match.groups())
    return text(lang, "intervals_mc", n=fmt_int(n), max=fmt_int(limit))


def method_check_sentence(method_variance: pd.DataFrame | None, lang: str) -> str | None:
    """For the method box: Harman's first unrotated component's share of the items' variance,
    the mean share of a method factor on all items and the largest change it makes in a
    standardised regression path (method_variance.csv, lcsurvey.sem.method_variance); Harman's
    share alone for a model without latent variables; None when the model was not estimated
    (an empty table) or Harman's share is missing."""
    if method_variance is None or method_variance.empty:
        return None
    table = method_variance
    whole = table[table["op"].isna() | (table["op"] == "")].set_index(["check", "statistic"])
    harman = whole["value"].get(("harman", "first_component_share"), float("nan"))
    if not pd.notna(harman):
        return None
    changes = table.loc[
        (table["check"] == "ulmc")
        & (table["op"] == "~")
        & (table["statistic"] == "std_all_change"),
        "value",
    ]
    if ("ulmc", "latent_variables") in whole.index:
        return text(lang, "method_check_harman", harman=fmt_percent(harman, lang))
    admissible = whole["value"].get(("ulmc", "admissible"), 0) == 1
    if not admissible or changes.empty:
        return text(lang, "method_check_improper", harman=fmt_percent(harman, lang))
    share = whole["value"][("ulmc", "method_share_mean")]
    change = changes.abs().max()
    # A share or change that rounds to zero is printed as below the last digit, not as 0.
    return text(
        lang,
        "method_check",
        harman=fmt_percent(harman, lang),
        share=fmt_percent(share, lang) if share >= 0.005 else "< 1",
        change=fmt_number(change, lang) if change >= 0.005 else "< " + fmt_number(0.01, lang),
    )


def who_sentence(n: int, communities: int | None, lang: str) -> str:
    """'235 participants from 14 learning communities gave usable answers.'"""
    if communities:
        return text(lang, "who_text", n=n, k=communities)
    return text(lang, "who_text_nocomm", n=n)


def home_level_sentences(levels: pd.DataFrame, codebook: Codebook, lang: str) -> list[str]:
    """Mean, CI and scale range of each row of `levels` (findings.construct_scores)."""
    return [
        text(
            lang,
            "home_level",
            m=fmt_number(r.mean, lang),
            label=construct_label(codebook, r.construct, lang),
            lo=fmt_int(r.scale_min),
            hi=fmt_int(r.scale_max),
            l=fmt_number(r.ci_lower, lang),
            u=fmt_number(r.ci_upper, lang),
        )
        for r in levels.itertuples()
    ]


def fit_sentence(fit: dict[str, Any], lang: str, nesting: str = "") -> str:
    """Estimator, missing-data handling, n, the fit measures and their verdict (fit_summary);
    `nesting` (nesting_phrase) follows the estimator."""
    missing = str(fit["missing"]).lower()
    missing_text = (
        text(lang, "missing_fiml")
        if missing in ("fiml", "ml")
        else (text(lang, "missing_listwise") if missing == "listwise" else missing)
    )
    if fit.get("ordinal"):
        return ordinal_fit_sentence(fit, lang, nesting, missing_text)
    return (
        text(
            lang,
            "estimator",
            estimator=fit["estimator"],
            nesting=nesting,
            missing=missing_text,
            n=fmt_int(fit["ntotal"]),
        )
        + " "
        + text(
            lang,
            "fit_line_robust" if fit.get("robust") else "fit_line",
            df=fmt_int(fit["df"]),
            chisq=fmt_number(fit["chisq"], lang, 1),
            cfi=fmt_number(fit["cfi"], lang, 3),
            tli=fmt_number(fit["tli"], lang, 3),
            rmsea=fmt_number(fit["rmsea"], lang, 3),
            rl=fmt_number(fit["rmsea_ci_lower"], lang, 3),
            ru=fmt_number(fit["rmsea_ci_upper"], lang, 3),
            srmr=fmt_number(fit["srmr"], lang, 3),
        )
        + " "
        + text(lang, "fit_" + fit["verdict"])
    )


def ordinal_fit_sentence(fit: dict[str, Any], lang: str, nesting: str, missing: str) -> str:
    """fit_sentence for items as ordered categories (WLSMV/ULSMV): the estimator and why
    (polychoric correlations of ordered categories), then the scaled fit measures; SRMR only
    when fit.csv has it."""
    srmr = fit.get("srmr")
    has_srmr = srmr is not None and pd.notna(srmr) and np.isfinite(srmr)
    return (
        text(
            lang,
            "estimator",
            estimator=text(lang, "estimator_ordinal", estimator=fit["estimator"]),
            nesting=nesting,
            missing=missing,
            n=fmt_int(fit["ntotal"]),
        )
        + " "
        + text(
            lang,
            "fit_line_ordinal",
            df=fmt_int(fit["df"]),
            chisq=fmt_number(fit["chisq"], lang, 1),
            cfi=fmt_number(fit["cfi"], lang, 3),
            tli=fmt_number(fit["tli"], lang, 3),
            rmsea=fmt_number(fit["rmsea"], lang, 3),
            srmr=text(lang, "fit_srmr", srmr=fmt_number(srmr, lang, 3)) if has_srmr else "",
        )
        + " "
        + text(lang, "fit_" + fit["verdict"])
    )


def nesting_phrase(nest: dict[str, Any], lang: str) -> str:
    """How the standard errors and intervals treat the nesting in communities
    (findings.nesting), as a phrase after the estimator: cluster-robust over k communities
    (and the bootstrap over whole communities), or why participants are treated as
    independent; empty when no cluster variable is configured."""
    if not nest["configured"]:
        return ""
    if nest["clustered"]:
        boot = text(lang, "nest_boot") if nest["bootstrap"] else ""
        return text(lang, "nest_clustered", k=nest["communities"], boot=boot)
    if nest["reason"] is None:  # configured and usable, but the model is not clustered
        return ""
    if nest["reason"] == "ordinal":  # WLSMV/ULSMV: after the estimator's own parenthesis
        return text(lang, "nest_ordinal")
    return text(lang, "nest_independent", reason=text(lang, f"nest_{nest['reason']}"))


def not_estimated_sentence(inputs: ReportInputs, lang: str) -> str:
    """Why the report's model is missing, in one sentence: too few respondents (n; at least
    `needed`), or the reason of its status.csv (lcsurvey.sem.estimability); without a status
    table the catalogue's missing_model."""
    sentence = status_sentence(inputs.status, "model", lang)
    return sentence or text(lang, "missing_model", model=inputs.model)


def measurement_status_sentence(inputs: ReportInputs, lang: str) -> str | None:
    """Why the joint CFA is missing (measurement_status.csv, model "joint"), or None."""
    status = inputs.measurement_status
    if status is None:
        return None
    return status_sentence(status[status["model"] == "joint"], "cfa", lang)


def status_sentence(status: pd.DataFrame | None, part: str, lang: str) -> str | None:
    """One sentence from the first row of a status table when it says "not estimated":
    `{part}_too_few` with n and the number needed, else `{part}_not_estimated` with the
    reason in words; None when estimated, unknown, or no table."""
    if status is None or status.empty or status["estimated"].iloc[0] != "no":
        return None
    row = status.iloc[0]
    codes = {words: code for code, words in REASONS.items()}
    code = codes.get(str(row["reason"]), "")
    if code == "too_few_respondents" and pd.notna(row["n"]) and pd.notna(row["needed"]):
        return text(
            lang,
            f"{part}_too_few",
            n=fmt_int(int(row["n"])),
            needed=fmt_int(int(row["needed"])),
        )
    if code:
        return text(lang, f"{part}_not_estimated", reason=text(lang, f"reason_{code}"))
    return None


# At most this many deviations are spelled out in the provenance box (page 2 has room for
# about three lines there); `lcsurvey plan status` lists every one.
PLAN_DEVIATIONS_SHOWN = 3
PLAN_DEVIATION_CHARS = 110


def plan_words(lang: str) -> dict[str, Any]:
    """The words of lcsurvey.study.plan.describe in `lang` (the catalogue's plan_* keys)."""
    words: dict[str, Any] = {key: text(lang, f"plan_{key}") for key in ENGLISH if key != "parts"}
    words["parts"] = {part: text(lang, f"plan_part_{part}") for part in ENGLISH["parts"]}
    return words


def plan_deviation_sentences(inputs: ReportInputs, lang: str) -> list[str]:
    """Every deviation from the frozen analysis plan in plain words, in `lang`."""
    if not inputs.plan:
        return []
    words = plan_words(lang)
    return [describe(Deviation.from_dict(d), words) for d in inputs.plan.get("deviations") or []]


def plan_statement(inputs: ReportInputs, lang: str) -> str | None:
    """ "Analysed as planned (plan of DATE)" or the deviations (the first few, each shortened
    to one line) and which results they make exploratory; None without a frozen plan."""
    if not inputs.plan:
        return None
    plan = text(lang, "plan_of", date=inputs.plan["frozen"])
    if inputs.wave in (inputs.plan.get("waves_seen") or []):
        plan += ", " + text(lang, "plan_seen")
    deviations = plan_deviation_sentences(inputs, lang)
    if not deviations:
        return text(lang, "plan_as_planned", plan=plan)
    shown = [
        d if len(d) <= PLAN_DEVIATION_CHARS else d[: PLAN_DEVIATION_CHARS - 1].rstrip() + "…"
        for d in deviations[:PLAN_DEVIATIONS_SHOWN]
    ]
    if len(deviations) > PLAN_DEVIATIONS_SHOWN:
        shown.append(text(lang, "plan_more", n=fmt_int(len(deviations) - PLAN_DEVIATIONS_SHOWN)))
    listed = "; ".join(shown)
    if len(deviations) == 1:
        statement = text(lang, "plan_deviation", plan=plan, list=listed)
    else:
        statement = text(
            lang, "plan_deviations", n=fmt_int(len(deviations)), plan=plan, list=listed
        )
    scope = plan_scope(inputs)
    if scope != "none":
        statement += ". " + text(lang, f"plan_scope_{scope}").rstrip(".")
    return statement


def _variables(names: list[str], codebook: Codebook, lang: str) -> str:
    """'facilitation and appreciation': the variables' construct labels, joined."""
    return join([lower_first(construct_label(codebook, n, lang)) for n in names], lang)


def _links(paths: pd.DataFrame, codebook: Codebook, lang: str) -> str:
    """'facilitation → psychological safety β = 0.41***, ...' ((n.s.) when not significant)."""
    return text(lang, "sep").join(
        f"{lower_first(construct_label(codebook, p.rhs, lang))} → "
        f"{lower_first(construct_label(codebook, p.lhs, lang))} β = {fmt_number(p.std_all, lang)}"
        f"{p.stars if p.significant else ' (n.s.)'}"
        for p in paths.itertuples()
    )


def _twolevel_problem(code: str, result: dict[str, Any], level: str, codebook, lang) -> str:
    """Why a level of the two-level model is not reported, as a clause (tl_why_*); too few
    communities is said beside their number instead (tl_few)."""
    if code == "not_estimated":
        codes = {words: key for key, words in REASONS.items()}
        reason = result["reason"]
        if reason in codes and has_text(lang, f"reason_{codes[reason]}"):
            reason = text(lang, f"reason_{codes[reason]}")
        return text(lang, "tl_why_not_estimated", reason=reason or text(lang, "tl_why_unknown"))
    if code == "heywood":  # which variances: in status.csv; here only how many
        many = "_many" if len(result[level]["heywood"]) > 1 else ""
        return text(lang, f"tl_why_heywood_{level}{many}")
    return text(lang, f"tl_why_{code}")


def _twolevel_reasons(
    codes: list[str], result: dict[str, Any], level_of, codebook: Codebook, lang: str
) -> str:
    """tl_reasons with the clause of the first of `codes` (TWOLEVEL_PROBLEMS' order) other than
    too few communities (said with their number: tl_few), or "". One reason, the most basic:
    the others mostly follow from it (no standard errors at a negative variance or without
    convergence), the paragraph has to fit page 1, and status.csv lists them all."""
    rest = [code for code in codes if code != "few_clusters"]
    if not rest:
        return ""
    clause = _twolevel_problem(rest[0], result, level_of(rest[0]), codebook, lang)
    return text(lang, "tl_reasons", reasons=clause)


def _same_chain(between: dict[str, Any] | None, within: dict[str, Any] | None) -> bool:
    """Both levels' effects significant, in the same direction, along the same chain."""
    return bool(
        between
        and within
        and between["chain"]
        and between["chain"]["mediators"]
        and between["chain"] == within["chain"]
        and between["significant"]
        and within["significant"]
        and (between["est"] > 0) == (within["est"] > 0)
    )


def _twolevel_level(
    part: dict[str, Any], level: str, codebook: Codebook, lang: str, like: dict | None = None
) -> str | None:
    """The sentence on one level of a sound two-level fit: its indirect effect along its chain
    of paths (tl_{level}_sig / _ns: from which variables, through which, to which), or with
    the effect's name when it has no such chain, or the paths alone without an effect. `like`:
    the community level's effect when it was reported; a member level that repeats its
    finding says so in short (tl_within_same)."""
    effect, paths = part["effect"], part["paths"]
    if level == "within" and _same_chain(like, effect):
        return text(
            lang,
            "tl_within_same",
            b=fmt_number(effect["est"], lang),
            l=fmt_number(effect["ci_lower"], lang),
            u=fmt_number(effect["ci_upper"], lang),
        )
    if effect is None:
        if paths.empty:
            return None
        return text(lang, f"tl_{level}_paths", links=_links(paths, codebook, lang))
    values = {
        "b": fmt_number(effect["est"], lang),
        "l": fmt_number(effect["ci_lower"], lang),
        "u": fmt_number(effect["ci_upper"], lang),
        "method": text(lang, f"ci_{effect['method']}"),
    }
    chain = effect["chain"]
    significant = "sig" if effect["significant"] else "ns"
    if chain is None or not chain["mediators"]:
        return text(lang, f"tl_{level}_effect_{significant}", name=effect["name"], **values)
    ends = _variables(chain["ends"], codebook, lang)
    return text(
        lang,
        f"tl_{level}_{significant}",
        starts=_variables(chain["starts"], codebook, lang),
        mediators=_variables(chain["mediators"], codebook, lang),
        ends_dir=text(lang, "tl_more" if effect["est"] > 0 else "tl_less", labels=ends),
        ends=ends,
        **values,
    )


def twolevel_paragraph(result: dict[str, Any] | None, codebook: Codebook, lang: str) -> str | None:
    """The two-level model in one short paragraph (findings.twolevel_results): communities
    with a better climate (level 2), then members within a community (level 1).

    A level with a problem (findings.TWOLEVEL_PROBLEMS) gets no numbers: one sentence says
    which part cannot be estimated reliably and why, with the number of communities (and the
    number needed when they are too few). The member level is still reported when only the
    community level has problems. The community level's paths are left to its figure
    (figures.twolevel_figure). None without a two-level model.
    """
    if result is None:
        return None
    between, within = result["between"], result["within"]
    k = result["clusters"]
    values = {
        "k": fmt_int(k) if k else "",
        "few": text(lang, "tl_few", min=fmt_int(result["min_clusters"]))
        if "few_clusters" in between["problems"]
        else "",
    }
    suffix = "" if k else "_nok"
    sentences = []
    if between["problems"]:
        whole = "all" if within["problems"] else "between"
        codes = list(dict.fromkeys(between["problems"] + within["problems"]))
        if whole == "between":
            codes = between["problems"]

        def level_of(code: str) -> str:
            return "between" if code in between["problems"] else "within"

        reasons = _twolevel_reasons(codes, result, level_of, codebook, lang)
        sentences.append(text(lang, f"tl_{whole}_unstable{suffix}", reasons=reasons, **values))
    else:
        sentences.append(_twolevel_level(between, "between", codebook, lang))
    if not within["problems"]:
        like = None if between["problems"] else between["effect"]
        sentences.append(_twolevel_level(within, "within", codebook, lang, like))
    elif not between["problems"]:
        reasons = _twolevel_reasons(within["problems"], result, lambda _: "within", codebook, lang)
        sentences.append(text(lang, "tl_within_unstable", reasons=reasons))
    return " ".join(s for s in sentences if s) or None
