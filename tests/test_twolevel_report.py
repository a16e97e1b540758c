"""The two-pager's paragraph and figure on the two-level model (config report.twolevel_model):
communities (level 2) and members within them (level 1), and the words that replace the
numbers when the community level cannot be estimated reliably."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pypdf
import pytest
import yaml
from scipy import stats

from lcsurvey.report import figures, findings, sections, sentences, wording
from lcsurvey.report.numbers import fmt_number
from lcsurvey.survey.clusters import Clustering
from lcsurvey.survey.codebook import load_codebook
from tests.test_report import CODEBOOK, REPO, flat, pdf_text, render, write_results_fixture

BOOK = load_codebook(CODEBOOK)
MODEL = "transfer_levels"
# The study's two-level model (config.yaml): its labelled regressions per level.
PATHS = {
    1: [
        ("psychological_safety", "facilitation", "a1"),
        ("psychological_safety", "appreciation", "a2"),
        ("learning_behaviour", "psychological_safety", "b"),
        ("learning_behaviour", "facilitation", ""),
        ("learning_behaviour", "appreciation", ""),
        ("knowledge_transfer", "learning_behaviour", "c"),
    ],
    2: [
        ("psychological_safety", "facilitation", "a1b"),
        ("psychological_safety", "appreciation", "a2b"),
        ("learning_behaviour", "psychological_safety", "bb"),
        ("learning_behaviour", "facilitation", ""),
        ("learning_behaviour", "appreciation", ""),
        ("knowledge_transfer", "learning_behaviour", "cb"),
    ],
}
# Estimate, SE and std_all of each path; the level-2 appreciation -> safety path is weak.
VALUES = {
    1: [
        (0.30, 0.05, 0.31),
        (0.20, 0.05, 0.22),
        (0.40, 0.06, 0.38),
        (0.05, 0.05, 0.05),
        (0.04, 0.05, 0.04),
        (0.50, 0.07, 0.45),
    ],  # fmt: skip
    2: [
        (0.60, 0.20, 0.55),
        (0.10, 0.20, 0.09),
        (0.70, 0.25, 0.62),
        (0.10, 0.30, 0.08),
        (0.05, 0.30, 0.04),
        (0.80, 0.30, 0.66),
    ],  # fmt: skip
}
# Bootstrap percentile intervals of the two indirect effects (intervals.csv).
BOOT = {"indirect_within": (0.052, 0.161), "indirect_between": (0.093, 0.812)}


def _row(level, lhs, op, rhs, label, est, se, std_all):
    z = est / se if se else np.nan
    p = 2 * stats.norm.sf(abs(z)) if se else np.nan
    return {
        "level": level,
        "lhs": lhs,
        "op": op,
        "rhs": rhs,
        "label": label,
        "est": est,
        "se": se,
        "z": z,
        "pvalue": p,
        "ci_lower": est - 1.96 * se,
        "ci_upper": est + 1.96 * se,
        "std_all": std_all,
    }


def stable_tables(clusters: int = 60) -> dict[str, pd.DataFrame]:
    """estimates, fit, intervals and status of a two-level fit that is sound at both levels."""
    rows = []
    for level, paths in PATHS.items():
        for (lhs, rhs, label), (est, se, std) in zip(paths, VALUES[level], strict=True):
            rows.append(_row(level, lhs, "~", rhs, label, est, se, std))
        for name in ("psychological_safety", "learning_behaviour", "knowledge_transfer"):
            rows.append(_row(level, name, "~~", name, "", 0.3 if level == 1 else 0.05, 0.02, 0.6))
    within = 0.30 * 0.40 * 0.50 + 0.20 * 0.40 * 0.50
    between = (0.60 + 0.10) * 0.70 * 0.80
    rows.append(_row(0, "indirect_within", ":=", "(a1+a2)*b*c", "indirect_within", within,
                     0.012, 0.1))  # fmt: skip
    rows.append(_row(0, "indirect_between", ":=", "(a1b+a2b)*bb*cb", "indirect_between", between,
                     0.2, 0.2))  # fmt: skip
    estimates = pd.DataFrame(rows)
    intervals = estimates[["level", "lhs", "op", "rhs", "label", "est", "se", "ci_lower",
                           "ci_upper"]].copy()  # fmt: skip
    for column in ("boot_ci_lower", "boot_ci_upper", "bca_ci_lower", "bca_ci_upper"):
        intervals[column] = np.nan
    for name, (lower, upper) in BOOT.items():
        at = intervals["lhs"] == name
        intervals.loc[at, ["boot_ci_lower", "boot_ci_upper"]] = lower, upper
    fit = pd.DataFrame([{"ntotal": 20 * clusters, "nclusters": clusters, "converged": "yes"}])
    status = pd.DataFrame(
        [{"model": MODEL, "estimated": "yes", "reason": "", "n": 20 * clusters, "needed": 6}]
    )
    return {"estimates": estimates, "fit": fit, "intervals": intervals, "status": status}


def inputs_of(tables: dict[str, pd.DataFrame | None], clusters: int | None = None):
    """The report inputs findings.twolevel_results reads."""
    return SimpleNamespace(
        twolevel_model=MODEL,
        twolevel_estimates=tables.get("estimates"),
        twolevel_fit=tables.get("fit"),
        twolevel_intervals=tables.get("intervals"),
        twolevel_status=tables.get("status"),
        clustering=Clustering("community", None, clusters or 0),
        codebook=BOOK,
    )


def paragraph(tables, lang, clusters=None):
    result = findings.twolevel_results(inputs_of(tables, clusters))
    return result, sentences.twolevel_paragraph(result, BOOK, lang)


def numbers(text: str) -> list[str]:
    return re.findall(r"−?\d+[.,]\d+", text)


def test_no_twolevel_model_no_paragraph():
    inputs = inputs_of({})
    inputs.twolevel_model = None
    assert findings.twolevel_results(inputs) is None
    assert sentences.twolevel_paragraph(None, BOOK, "nl") is None
    assert sections.twolevel(SimpleNamespace(codebook=BOOK), "nl", None).html() == ""


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_sound_model_gives_both_levels_with_their_intervals(lang):
    tables = stable_tables()
    result, text = paragraph(tables, lang)
    assert result["between"]["problems"] == [] and result["within"]["problems"] == []
    assert result["between"]["effect"]["name"] == "indirect_between"
    assert result["within"]["effect"]["name"] == "indirect_within"
    assert result["between"]["effect"]["chain"] == {
        "starts": ["facilitation", "appreciation"],
        "mediators": ["psychological_safety", "learning_behaviour"],
        "ends": ["knowledge_transfer"],
    }
    estimates = tables["estimates"].set_index("lhs")
    for name, (lower, upper) in BOOT.items():
        for value in (estimates.loc[name, "est"], lower, upper):
            assert fmt_number(value, lang) in text
    # the bootstrap interval, named as the report names it elsewhere
    assert wording.text(lang, "ci_percentile") in text
    # communities first, then members within a community
    words = {
        "nl": ("Gemeenschappen met meer facilitering en waardering", "Binnen een gemeenschap"),
        "en": ("Communities with more facilitation and appreciation", "Within a community"),
    }
    assert text.startswith(words[lang][0]) and text.index(words[lang][1]) > 0
    # through the mediators of the chain, to the outcome; the members' level, with the same
    # finding, in short
    for name in ("psychological_safety", "learning_behaviour", "knowledge_transfer"):
        assert text.count(wording.lower_first(BOOK.constructs[name].label[lang])) == 1
    lower, upper = BOOT["indirect_within"]
    same = wording.text(
        lang,
        "tl_within_same",
        b=fmt_number(0.1, lang),
        l=fmt_number(lower, lang),
        u=fmt_number(upper, lang),
    )
    assert text.endswith(same)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_members_finding_unlike_the_communities_gets_its_own_sentence(lang):
    tables = stable_tables()
    at = tables["intervals"]["lhs"] == "indirect_within"
    tables["intervals"].loc[at, ["boot_ci_lower", "boot_ci_upper"]] = -0.01, 0.2
    _, text = paragraph(tables, lang)
    within = text[text.index({"nl": "Of leden", "en": "Within a community"}[lang]) :]
    assert {"nl": "niet duidelijk", "en": "not clear"}[lang] in within
    safety = wording.lower_first(BOOK.constructs["psychological_safety"].label[lang])
    assert safety in within and fmt_number(-0.01, lang) in within
    for key in ("tl_why_no_convergence", "tl_why_no_se"):
        assert wording.text(lang, key) not in text


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_an_unclear_indirect_effect_is_said_to_be_unclear(lang):
    tables = stable_tables()
    tables["intervals"].loc[tables["intervals"]["lhs"] == "indirect_between",
                            ["boot_ci_lower", "boot_ci_upper"]] = -0.05, 0.6  # fmt: skip
    _, text = paragraph(tables, lang)
    unclear = {"nl": "is niet duidelijk", "en": "is not clear"}[lang]
    between = text.split({"nl": "Binnen een", "en": "Within a"}[lang])[0]
    assert unclear in between and fmt_number(-0.05, lang) in between


def _unstable(case: str) -> tuple[dict, int | None]:
    tables = stable_tables()
    est = tables["estimates"]
    clusters = None
    if case == "few_clusters":
        tables = stable_tables(clusters=24)
    elif case == "heywood":
        at = (est["level"] == 2) & (est["op"] == "~~") & (est["lhs"] == "psychological_safety")
        est.loc[at, "est"] = -0.012
    elif case == "no_convergence":
        tables["fit"]["converged"] = "no"
    elif case == "no_se":
        est.loc[(est["level"] == 2) & (est["op"] == "~"), "se"] = np.nan
    elif case == "not_estimated":
        tables = {
            "estimates": est.iloc[0:0],
            "fit": tables["fit"].iloc[0:0],
            "intervals": tables["intervals"].iloc[0:0],
            "status": pd.DataFrame([{"model": MODEL, "estimated": "no",
                                     "reason": "no convergence", "n": 306, "needed": 6}]),
        }  # fmt: skip
        clusters = 24
    return tables, clusters


UNSTABLE = ["few_clusters", "heywood", "no_convergence", "no_se", "not_estimated"]


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("case", UNSTABLE)
def test_an_unstable_community_level_is_said_in_words_not_numbers(case, lang):
    tables, clusters = _unstable(case)
    result, text = paragraph(tables, lang, clusters)
    expected = {"not_estimated": "no_convergence"}.get(case, case)
    assert expected in result["between"]["problems"]
    between_effect = tables["estimates"].set_index("lhs")["est"].get("indirect_between")
    lower, upper = BOOT["indirect_between"]
    for value in (between_effect, lower, upper):
        if value is not None:
            assert fmt_number(value, lang) not in text
    reason = {
        "few_clusters": wording.text(lang, "tl_few", min=30),
        "heywood": wording.text(lang, "tl_why_heywood_between"),
        "no_convergence": wording.text(lang, "tl_why_no_convergence"),
        "no_se": wording.text(lang, "tl_why_no_se"),
        "not_estimated": wording.text(lang, "tl_why_no_convergence"),
    }[case]  # fmt: skip
    assert reason in text
    k = result["clusters"]
    assert k == {"few_clusters": 24, "not_estimated": 24}.get(case, 60)
    assert {"nl": f"Met {k} gemeenschappen", "en": f"With {k} communities"}[lang] in text
    # the member level is still reported when only the community level is in trouble
    within_sound = case in ("few_clusters", "heywood", "no_se")
    assert (fmt_number(BOOT["indirect_within"][0], lang) in text) == within_sound
    if not within_sound:
        assert numbers(text) == []


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_too_few_communities_and_the_most_basic_reason_are_named(lang):
    """24 communities, no convergence, a negative level-2 variance: the number of
    communities with the number needed, and the first reason (the others follow from it)."""
    tables = stable_tables(clusters=24)
    est = tables["estimates"]
    at = (est["level"] == 2) & (est["op"] == "~~") & (est["lhs"] == "learning_behaviour")
    est.loc[at, "est"] = -0.004
    tables["fit"]["converged"] = "no"
    result, text = paragraph(tables, lang)
    assert result["between"]["problems"] == ["few_clusters", "no_convergence", "heywood"]
    assert result["within"]["problems"] == ["no_convergence"]
    assert numbers(text) == []
    assert text.count(".") == 2  # what and why, then what it means for the numbers
    assert wording.text(lang, "tl_few", min=30) in text
    assert wording.text(lang, "tl_why_no_convergence") in text
    assert wording.text(lang, "tl_why_heywood_between") not in text


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_bundled_waves_situation(lang):
    """As rule model writes the bundled waves' fit: converged, negative level-2 variances, no
    standard errors at either level, 24 communities."""
    tables = stable_tables(clusters=24)
    est = tables["estimates"]
    est.loc[(est["level"] == 2) & (est["op"] == "~~"), "est"] = -0.01
    est[["se", "z", "pvalue"]] = np.nan
    tables["fit"]["converged"] = "True"
    result, text = paragraph(tables, lang)
    assert result["between"]["problems"] == ["few_clusters", "heywood", "no_se"]
    assert result["within"]["problems"] == ["no_se"]
    expected = wording.text(
        lang,
        "tl_all_unstable",
        k=24,
        few=wording.text(lang, "tl_few", min=30),
        reasons=wording.text(
            lang, "tl_reasons", reasons=wording.text(lang, "tl_why_heywood_between_many")
        ),
    )
    assert text == expected


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_level_one_heywood_case_withholds_the_members_sentence(lang):
    tables = stable_tables()
    est = tables["estimates"]
    at = (est["level"] == 1) & (est["op"] == "~~") & (est["lhs"] == "knowledge_transfer")
    est.loc[at, "est"] = -0.01
    result, text = paragraph(tables, lang)
    assert result["between"]["problems"] == [] and result["within"]["problems"] == ["heywood"]
    assert fmt_number(BOOT["indirect_between"][0], lang) in text
    assert fmt_number(BOOT["indirect_within"][0], lang) not in text
    assert wording.text(lang, "tl_why_heywood_within") in text


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_community_figure_states_every_arrow(lang):
    result = findings.twolevel_results(inputs_of(stable_tables()))
    paths = result["between"]["paths"]
    fig = figures.twolevel_figure(paths, BOOK, lang)
    alt = figures.alt_text(fig)
    assert alt.count("→") == len(PATHS[2]) == len(paths)
    for r in paths.itertuples():
        assert fmt_number(r.std_all, lang) in alt
    assert alt.count(wording.text(lang, "alt_path_ns")) == int((~paths["significant"]).sum())
    assert figures._layers(paths) == [
        ["facilitation", "appreciation"],
        ["psychological_safety"],
        ["learning_behaviour"],
        ["knowledge_transfer"],
    ]
    html = sections.twolevel(
        SimpleNamespace(codebook=BOOK, plan=None, model="transfer"), lang, result, fig
    ).html()
    assert 'alt="' in html and wording.text(lang, "twolevel_caption") in html.replace("&lt;", "<")


# --------------------------------------------------------------------------------------------
# Rendered: the paragraph (and the figure when stable) keep the two-pager at two A4 pages.
# --------------------------------------------------------------------------------------------


def _write(root, tables):
    base = root / "results" / "2099-01" / "models" / MODEL
    base.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(base / f"{name}.csv", index=False)


@pytest.fixture(scope="module")
def rendered_twolevel(tmp_path_factory):
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    out = {}
    try:
        for variant in ("stable", "unstable"):
            root = tmp_path_factory.mktemp(variant)
            write_results_fixture(root)
            tables = stable_tables() if variant == "stable" else _unstable("no_convergence")[0]
            _write(root, tables)
            for lang in ("nl", "en"):
                out[variant, lang] = render(root, lang, twolevel_model=MODEL)
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    return out


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("variant", ["stable", "unstable"])
def test_two_a4_pages_with_the_twolevel_paragraph(rendered_twolevel, variant, lang):
    pdf = rendered_twolevel[variant, lang]["pdf"]
    assert len(pypdf.PdfReader(str(pdf)).pages) == 2
    assert flat(pdf_text(pdf)).count(wording.text(lang, "twolevel")) == 1
    html = rendered_twolevel[variant, lang]["html"].read_text(encoding="utf-8")
    # one place kept; in this fixture page 2 has room for the stable paragraph and its figure
    places = re.findall(r'class="twolevel" data-place="(\d)"', html)
    assert len(places) == 1
    has_figure = wording.text(lang, "twolevel_caption").split(";")[0] in html
    assert not has_figure or variant == "stable"


def test_the_community_figure_is_shown_where_it_fits(rendered_twolevel):
    """This fixture's English two-pager has room for the stable paragraph with its figure on
    page 2; the Dutch one, a line longer, only for the paragraph (the figure left out)."""
    html = rendered_twolevel["stable", "en"]["html"].read_text(encoding="utf-8")
    assert wording.text("en", "twolevel_caption").split(";")[0] in html
    assert 'alt="Figure: the model between communities' in html
    assert re.findall(r'class="twolevel" data-place="(\d)"', html) == ["3"]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_several_negative_variances_are_said_in_the_plural(lang):
    tables = stable_tables()
    est = tables["estimates"]
    at = (est["level"] == 2) & (est["op"] == "~~")
    est.loc[at, "est"] = -0.01
    result, text = paragraph(tables, lang)
    assert result["between"]["heywood"] == [
        "psychological_safety",
        "learning_behaviour",
        "knowledge_transfer",
    ]
    assert wording.text(lang, "tl_why_heywood_between_many") in text
    assert wording.text(lang, "tl_why_heywood_between") not in text


def test_without_convergence_missing_standard_errors_are_not_named_again():
    tables = stable_tables()
    tables["fit"]["converged"] = "False"  # as fit.csv writes it
    tables["estimates"]["se"] = np.nan
    result, text = paragraph(tables, "en")
    assert result["between"]["problems"] == ["no_convergence", "no_se"]
    assert wording.text("en", "tl_why_no_convergence") in text
    assert wording.text("en", "tl_why_no_se") not in text


def test_pages_are_tried_at_each_place_with_the_figure_then_without():
    from lcsurvey.report.render import page_candidates

    figure = (
        '<figure class="figure-wrap" data-fit="optional"><img/><figcaption>F</figcaption></figure>'
    )
    page = (
        f'<section class="twolevel" data-place="1"><p>one</p>{figure}</section><p>middle</p>'
        f'<section class="twolevel" data-place="2"><p>two</p>{figure}</section>'
    )
    tried = list(page_candidates(page))
    assert [("<p>one<" in p, "<p>two<" in p, "<img/>" in p) for p, _ in tried] == [
        (True, False, True),
        (False, True, True),
        (True, False, False),
        (False, True, False),
        (False, False, False),  # last resort: the section nowhere, never a third page
    ]
    assert all("<p>middle</p>" in p for p, _ in tried)
    assert tried[3][1] == ["section placed at its place 2", "figure left out: 'F'"]
    assert tried[4][1] == ["placed section left out: it fits at none of its places"]
    # a page without placed sections or optional figures is laid out once, as it is
    assert list(page_candidates("<p>x</p>")) == [("<p>x</p>", [])]


def test_a_report_twolevel_model_that_is_no_two_level_model_is_skipped_with_the_reason():
    from lcsurvey.study.roles import skipped_stages

    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    from snakemake.utils import validate

    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert "twolevel paragraph" not in skipped_stages(config, BOOK)
    for name, why in (("transfer", "is not a two-level model"), ("nope", "is not among")):
        config["report"]["twolevel_model"] = name
        reason = skipped_stages(config, BOOK)["twolevel paragraph"]
        assert f"report.twolevel_model {name!r} {why}" in reason
    config["report"]["twolevel_model"] = None
    assert "twolevel paragraph" not in skipped_stages(config, BOOK)
