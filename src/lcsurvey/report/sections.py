"""The two-pager's sections: data and sentences in, one HTML <section> out.

Each builder takes the wave's inputs and the language (and, where a section has a table or a
figure, that table or figure, so that the notebook shows it being made and an analyst can swap
it) and returns a `Section`: the context of one macro of `templates/sections/sections.html.j2`.
A Section displays itself in Jupyter (`_repr_html_`); the nbconvert template `two_pager` places
the outputs on the page by the cells' tags (page 1: what we found; page 2: how we know).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lcsurvey.report import figures as figs
from lcsurvey.report import findings, sentences
from lcsurvey.report.inputs import ReportInputs, background_label, construct_label
from lcsurvey.report.numbers import fmt_int, fmt_number, fmt_p, fmt_percent
from lcsurvey.report.provenance import software_versions
from lcsurvey.report.render import TEMPLATES_DIR
from lcsurvey.report.wording import factor_words, text


@functools.cache
def _macros():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "sections"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("sections.html.j2").module


@dataclass
class Section:
    """One section of the two-pager: the macro that lays it out and what it shows.

    macro None: the section has nothing to show (e.g. no earlier wave to compare with).
    """

    macro: str | None
    context: dict[str, Any] = field(default_factory=dict)

    def html(self) -> str:
        if self.macro is None:
            return ""
        markup = str(getattr(_macros(), self.macro)(self.context))
        # Templates are indented for reading; the page keeps no whitespace between tags.
        return re.sub(r">\s+<", "><", markup).strip()

    def _repr_html_(self) -> str:
        return self.html()


def table(
    headers: list[str],
    rows: list[list[str]],
    classes: str = "",
    numeric_from: int = 1,
    caption: str = "",
) -> dict[str, Any]:
    """A table for the `table` macro: columns from `numeric_from` on are right-aligned numbers.

    The first column heads its row (a row header for a screen reader); `caption` names the
    table for a screen reader (the heading the page shows above it) and is not printed.
    """
    return {
        "headers": headers,
        "rows": rows,
        "classes": classes,
        "numeric_from": numeric_from,
        "caption": caption,
    }


def figure(
    fig, caption: str, alt: str | None = None, optional: bool = False
) -> dict[str, Any] | None:
    """A matplotlib figure as the `figure` macro shows it (an <img>, its caption below).

    alt: the text alternative; by default the one the figure function gave the figure
    (figures.describe), which states every number the figure shows. optional: shown only
    where it fits (render.render_pdf leaves it out when the pages would overflow).
    """
    if fig is None:
        return None
    alt = alt or figs.alt_text(fig)
    if not alt:
        raise ValueError(
            f"the figure captioned {caption!r} has no text alternative: give it one with "
            "figures.describe(fig, text) in its figure function, or pass alt= here"
        )
    return {"img": figs.figure_html(fig, alt), "caption": caption, "optional": optional}


def figure_block(fig, caption: str, alt: str | None = None) -> Section:
    """A figure on its own, with its caption: a notebook cell shows it where its tags say.

    The way to add a figure: a function in `figures.py` that returns it and gives it its text
    alternative (`figures.describe`: every number it shows, in words), then one cell in the
    notebook, tagged with its page and place, ending in `sections.figure_block(fig, caption)`.
    """
    return Section("figure_block", {"figure": figure(fig, caption, alt)})


def _short_label(label: str) -> str:
    """'250 of meer medewerkers (groot)' -> '250 of meer medewerkers': fits half a column."""
    return re.sub(r"\s*\([^)]*\)$", "", label) or label


def _merged_note(tables: dict[str, pd.DataFrame], inputs: ReportInputs, lang: str) -> str:
    members = [
        f"{background_label(inputs.codebook, var, lang)}: {row.members}"
        for var, table in tables.items()
        for row in table.itertuples()
        if row.merged
    ]
    if not members:
        return ""
    return text(lang, "suppressed_note", min_cell=inputs.min_cell, members="; ".join(members))


def _ci(value: float, lower: float, upper: float, lang: str) -> str:
    """'0,41 (0,30–0,52)'"""
    return f"{fmt_number(value, lang)} ({fmt_number(lower, lang)}–{fmt_number(upper, lang)})"


# --------------------------------------------------------------------------------------------
# Page 1: what we found.
# --------------------------------------------------------------------------------------------


def _heading(inputs: ReportInputs, lang: str, key: str, marked_by: tuple[str, ...]) -> str:
    """A section's heading, marked exploratory when a deviation from the frozen analysis plan
    of a scope in `marked_by` touches its results (findings.plan_scope)."""
    heading = text(lang, key)
    if findings.plan_scope(inputs) in marked_by:
        heading += " " + text(lang, "exploratory")
    return heading


# Sections whose results a deviation of each scope makes exploratory (lcsurvey.study.plan).
ANY_DEVIATION = ("model", "all")
ALL_RESULTS = ("all",)


def masthead(inputs: ReportInputs, lang: str) -> Section:
    part = findings.participation(inputs, lang)
    who = (
        text(lang, "n_communities", n=part["n"], k=part["communities"])
        if part["communities"]
        else text(lang, "n_respondents", n=part["n"])
    )
    return Section(
        "masthead",
        {
            "kicker": text(lang, "kicker"),
            "wave_word": text(lang, "prov_wave"),
            "wave": inputs.wave,
            "who": who,
            "title": text(lang, "title"),
            "subtitle": text(lang, "subtitle", wave=inputs.wave),
        },
    )


def key_messages(inputs: ReportInputs, lang: str, messages: list[str] | None = None) -> Section:
    """The key messages for practice (sentences.key_messages unless given)."""
    if messages is None:
        messages = sentences.key_messages(inputs, lang)
    heading = _heading(inputs, lang, "key_messages", ALL_RESULTS)
    return Section("key_messages", {"heading": heading, "messages": messages})


def why(
    inputs: ReportInputs, lang: str, tests: pd.DataFrame, shares: pd.DataFrame | None, fig=None
) -> Section:
    """Motives: the figure of the motive tests (findings.motive_results) and the main-motive
    shares (findings.main_motive_table)."""
    context = {
        "heading": text(lang, "why"),
        "figure": figure(fig, text(lang, "motives_caption")) if len(tests) else None,
    }
    if shares is not None and not shares.empty:
        rows = [
            [
                r.label,
                fmt_int(r.n),
                fmt_percent(r.share, lang),
                f"{fmt_percent(r.ci_lower, lang)}–{fmt_percent(r.ci_upper, lang)}",
            ]
            for r in shares.itertuples()
        ]
        context |= {
            "shares_heading": text(lang, "main_motive"),
            "shares": table(
                ["", text(lang, "n"), text(lang, "percent"), text(lang, "ci")],
                rows,
                classes="shares",
                caption=text(lang, "main_motive"),
            ),
            "merged_note": _merged_note({"main_motive": shares}, inputs, lang),
        }
    return Section("why", context)


def climate(inputs: ReportInputs, lang: str, scores: pd.DataFrame, fig=None) -> Section:
    """The climate facets' means (findings.construct_scores) in a figure; then the diversity
    sentence, or without the diversity analysis the model's links of climate and safety."""
    context = {
        "heading": text(lang, "climate"),
        "figure": figure(fig, text(lang, "climate_caption")) if len(scores) else None,
    }
    diversity = findings.diversity_results(inputs)
    if not diversity.empty:  # the model's links are in the path figure beside this column
        context["diversity"] = sentences.diversity_sentence(diversity, inputs.codebook, lang)
    else:
        paths = findings.structural_paths(inputs.estimates)
        links = [
            findings.find_path(paths, o, p)
            for o, p in (("safety", "climate"), ("learning", "safety"), ("learning", "climate"))
        ]
        links = [p for p in links if p is not None]
        if links:
            context["links"] = sentences.climate_links_sentence(links, lang)
    return Section("climate", context)


def home(
    inputs: ReportInputs,
    lang: str,
    paths: pd.DataFrame,
    moderation: dict | None,
    path_fig=None,
    slopes_fig=None,
) -> Section:
    """Back in the home organisation: levels of the moderation's predictor and outcome, the
    model's paths (findings.structural_paths) as a diagram with the indirect association, and
    the moderation (findings.home_support_moderation) as simple slopes."""
    roles = findings.roles(inputs)["moderation"]
    levels = findings.construct_scores(
        inputs.scores, inputs.codebook, (roles["predictor"], roles["outcome"])
    )
    context: dict[str, Any] = {
        "heading": _heading(inputs, lang, "home", ANY_DEVIATION),
        "levels": " ".join(sentences.home_level_sentences(levels, inputs.codebook, lang)),
    }
    if paths.empty:
        context["missing_model"] = sentences.not_estimated_sentence(inputs, lang)
    else:
        context["figure"] = figure(path_fig, text(lang, "path_caption"))
        context["indirect"] = " ".join(
            sentences.indirect_sentences(findings.defined_effects(inputs), lang)
        )
    if moderation is not None:
        context["moderation_figure"] = figure(slopes_fig, text(lang, "moderation_caption"))
        context["moderation"] = sentences.moderation_sentence(moderation, lang)
    return Section("home", context)


def twolevel(
    inputs: ReportInputs, lang: str, result: dict | None, fig=None, place: int = 1
) -> Section:
    """The two-level model (config report.twolevel_model; findings.twolevel_results): one
    paragraph on communities and on members within them (sentences.twolevel_paragraph) and,
    when the community level can be reported, its path diagram (figures.twolevel_figure).
    Nothing without a two-level model.

    place: the notebook shows the section in more than one place (page 1, else page 2); the
    first whose pages fit is kept (render.render_pdf), the figure left out where only the
    paragraph fits."""
    paragraph = sentences.twolevel_paragraph(result, inputs.codebook, lang)
    if paragraph is None:
        return Section(None)
    shown = result is not None and not result["between"]["problems"]
    return Section(
        "twolevel",
        {
            "heading": _heading(inputs, lang, "twolevel", ANY_DEVIATION),
            "place": place,
            "text": paragraph,
            "figure": figure(fig, text(lang, "twolevel_caption"), optional=True) if shown else None,
        },
    )


# --------------------------------------------------------------------------------------------
# Page 2: how we know.
# --------------------------------------------------------------------------------------------


def page2_masthead(inputs: ReportInputs, lang: str) -> Section:
    return Section(
        "page2_masthead",
        {
            "title": text(lang, "page2_title"),
            "subtitle": text(lang, "page2_subtitle", wave=inputs.wave),
        },
    )


def who(inputs: ReportInputs, lang: str) -> Section:
    """Who took part: N and communities, sector and size (small cells merged), the flow."""
    part = findings.participation(inputs, lang)
    tables = []
    for variable, counts in part["tables"].items():
        rows = [
            [
                r.label if r.merged else _short_label(r.label),
                fmt_int(r.n),
                fmt_percent(r.share, lang),
            ]
            for r in counts.itertuples()
        ]
        tables.append(
            table(
                [
                    background_label(inputs.codebook, variable, lang),
                    text(lang, "n"),
                    text(lang, "percent"),
                ],
                rows,
                classes="counts",
                caption=background_label(inputs.codebook, variable, lang),
            )
        )
    return Section(
        "who",
        {
            "heading": text(lang, "who"),
            "lead": sentences.who_sentence(part["n"], part["communities"], lang),
            "tables": tables,
            "merged_note": _merged_note(part["tables"], inputs, lang),
            "flow": sentences.flow_sentence(inputs.flow, lang),
        },
    )


def method(inputs: ReportInputs, lang: str) -> Section:
    return Section(
        "method",
        {
            "heading": text(lang, "method"),
            "design": " ".join(
                part
                for part in (
                    text(lang, "design"),
                    text(lang, "design_n", n=len(inputs.responses)),
                    sentences.intervals_note(inputs.bootstrap, lang),
                    sentences.method_check_sentence(inputs.method_variance, lang),
                )
                if part
            ),
            "planning": sentences.planning_note(inputs, lang),
        },
    )


def measures(inputs: ReportInputs, lang: str) -> Section:
    """Reliability of every construct (reliability.csv) and the joint CFA's fit, or why it was
    not estimated (measurement_status.csv)."""
    rows = [
        [
            construct_label(inputs.codebook, r.construct, lang),
            fmt_int(r.n_items),
            _ci(r.alpha, r.alpha_ci_lower, r.alpha_ci_upper, lang),
            fmt_number(r.omega_total, lang),
        ]
        for r in inputs.reliability.itertuples()
        if r.construct in inputs.codebook.constructs
    ]
    headers = [
        text(lang, "construct"),
        text(lang, "items"),
        f"{text(lang, 'alpha')} ({text(lang, 'ci')})",
        text(lang, "omega"),
    ]
    cfa = sentences.cfa_line(inputs.cfa_fit, lang) or sentences.measurement_status_sentence(
        inputs, lang
    )
    return Section(
        "measures",
        {
            "heading": text(lang, "measures"),
            "table": table(headers, rows, classes="measures-table", caption=text(lang, "measures")),
            "note": text(lang, "measures_note") + (f" {cfa}" if cfa else ""),
        },
    )


def motive_tests(inputs: ReportInputs, lang: str, tests: pd.DataFrame) -> Section:
    """The motive tests (findings.motive_results) as a table."""
    if tests.empty:
        return Section(None)
    rows = [
        [
            construct_label(inputs.codebook, r.construct, lang),
            _ci(r.mean, r.ci_lower, r.ci_upper, lang),
            f"{fmt_number(r.t, lang, 1)} ({fmt_int(r.df)})",
            fmt_p(r.p_holm, lang),
            text(lang, "verdict_" + r.verdict),
        ]
        for r in tests.itertuples()
    ]
    headers = [
        "",
        f"{text(lang, 'mean')} ({text(lang, 'ci')})",
        text(lang, "t"),
        text(lang, "p_holm"),
        text(lang, "verdict"),
    ]
    return Section(
        "tests",
        {
            "css": "motive-tests",
            "heading": text(lang, "motive_tests"),
            "table": table(
                headers, rows, classes="tests-table", caption=text(lang, "motive_tests")
            ),
            "note": text(lang, "motive_tests_note"),
        },
    )


def model(inputs: ReportInputs, lang: str, paths: pd.DataFrame) -> Section:
    """The model's estimator (with how it treats the nesting in communities) and fit, and its
    paths (findings.structural_paths) as a table."""
    context: dict[str, Any] = {"heading": _heading(inputs, lang, "model", ANY_DEVIATION)}
    fit = findings.fit_summary(inputs.fit)
    if fit is None:
        context["missing_model"] = sentences.not_estimated_sentence(inputs, lang)
    else:
        nesting = sentences.nesting_phrase(findings.nesting(inputs), lang)
        context["fit"] = sentences.fit_sentence(fit, lang, nesting)
    if not paths.empty:
        rows = [
            [
                f"{factor_words(r.rhs, lang)['short']} → {factor_words(r.lhs, lang)['short']}",
                fmt_number(r.std_all, lang) + r.stars,
                _ci(r.est, r.ci_lower, r.ci_upper, lang),
                fmt_p(r.pvalue, lang),
            ]
            for r in paths.itertuples()
        ]
        context["paths_heading"] = text(lang, "paths")
        context["paths"] = table(
            [text(lang, "path"), text(lang, "beta"), text(lang, "b_ci"), text(lang, "p")],
            rows,
            classes="paths-table",
            caption=text(lang, "paths"),
        )
    return Section("model", context)


def diversity(inputs: ReportInputs, lang: str) -> Section:
    """The diversity slopes (findings.diversity_results) with the multilevel check's p."""
    results = findings.diversity_results(inputs)
    if results.empty:
        return Section(None)
    rows = [
        [
            construct_label(inputs.codebook, r.outcome, lang),
            _ci(r.est, r.ci_lower, r.ci_upper, lang),
            fmt_p(r.pvalue, lang),
            fmt_p(r.p_check, lang),
        ]
        for r in results.itertuples()
    ]
    k = int(results["n_clusters"].max())
    return Section(
        "tests",
        {
            "css": "diversity-tests",
            "heading": text(lang, "diversity"),
            "table": table(
                ["", text(lang, "b_ci"), text(lang, "p"), text(lang, "div_p_check")],
                rows,
                classes="diversity-table",
                caption=text(lang, "diversity"),
            ),
            "note": text(lang, "div_note", k=k, df=k - 1),
        },
    )


def agreement(inputs: ReportInputs, lang: str) -> Section:
    """Agreement within communities on the climate facets (findings.agreement_results): ICC(1),
    ICC(2), r_wg(j) and AD_M, and whether each can be read as a property of the community.
    Only statistics over communities of at least min_cell participants are shown."""
    results = findings.agreement_results(inputs)
    if results.empty:
        return Section(None)
    rows = [
        [
            construct_label(inputs.codebook, r.construct, lang),
            fmt_number(r.icc1, lang),
            fmt_number(r.icc2, lang),
            fmt_number(r.rwg_j_median, lang),
            fmt_number(r.ad_m_mean, lang),
            text(lang, "agr_yes" if r.shared else "agr_no"),
        ]
        for r in results.itertuples()
    ]
    groups = int(results["groups"].max())
    rated = (results["groups"] - results["groups_small"].fillna(0)).astype(int)
    k = f"{rated.min()}–{rated.max()}" if rated.min() != rated.max() else str(rated.min())
    note = text(lang, "agr_note", k=k, g=groups, min_cell=inputs.min_cell)
    return Section(
        "tests",
        {
            "css": "agreement",
            "heading": text(lang, "agreement"),
            "table": table(
                [
                    "",
                    "ICC(1)",
                    "ICC(2)",
                    text(lang, "agr_rwg"),
                    text(lang, "agr_ad"),
                    text(lang, "agr_shared"),
                ],
                rows,
                classes="agreement-table",
                caption=text(lang, "agreement"),
            ),
            "note": note,
        },
    )


def across_waves(inputs: ReportInputs, lang: str) -> Section:
    """What changed since the previous wave (findings.crosswave_results); nothing without one."""
    result = findings.crosswave_results(inputs)
    if result is None:
        return Section(None)
    rows = [
        [
            construct_label(inputs.codebook, r.construct, lang),
            _ci(r.diff, r.ci_lower, r.ci_upper, lang),
            text(lang, f"cw_{r.comparable}"),
        ]
        for r in result["changes"].itertuples()
    ]
    notes = [text(lang, "cw_note", frm=result["from"], to=result["to"])]
    if result["suppressed"]:
        labels = ", ".join(construct_label(inputs.codebook, c, lang) for c in result["suppressed"])
        notes.append(text(lang, "cw_suppressed", min_cell=inputs.min_cell, labels=labels))
    return Section(
        "tests",
        {
            "css": "crosswave",
            "heading": text(lang, "crosswave"),
            "sentences": " ".join(sentences.crosswave_sentences(result, inputs.codebook, lang)),
            "table": table(
                ["", text(lang, "cw_diff"), text(lang, "cw_comparable")],
                rows,
                classes="crosswave-table",
                caption=text(lang, "crosswave"),
            ),
            "note": " ".join(notes),
        },
    )


def reading(inputs: ReportInputs, lang: str) -> Section:
    return Section(
        "reading",
        {
            "heading": text(lang, "reading"),
            "text": text(lang, "reading_text", min_cell=inputs.min_cell),
        },
    )


def provenance(inputs: ReportInputs, lang: str) -> Section:
    """Which data, configuration, code and software made this report (inputs.provenance)."""
    prov = inputs.provenance
    software = ", ".join(f"{name} {version}" for name, version in software_versions().items())
    facts = [
        (text(lang, "prov_data"), prov.get("data_sha256", "unknown")),
        (text(lang, "prov_config"), prov.get("config_sha256", "unknown")),
        (text(lang, "prov_code"), prov.get("code_version", "unknown")),
        (text(lang, "software"), software),
    ]
    plan = sentences.plan_statement(inputs, lang)
    if plan is not None:  # only with a frozen analysis plan (analysis_plan.lock)
        facts.insert(2, (text(lang, "plan_label"), plan))
    # The same facts for the index of the published reports (render.report_facts reads them).
    listed = {
        "date": prov.get("date", inputs.wave),
        "n": findings.participation(inputs, lang)["n"],
        "config-sha256": prov.get("config_sha256", "unknown"),
        "plan-frozen": (inputs.plan or {}).get("frozen", ""),
    }
    return Section(
        "provenance",
        {
            "listed": listed,
            "heading": text(lang, "provenance"),
            "when": f"{text(lang, 'prov_wave')} {inputs.wave} · {text(lang, 'prov_date')} "
            f"{prov.get('date', inputs.wave)}",
            "facts": facts,
            "generated": text(lang, "generated"),
        },
    )
