"""The figures' text alternatives: every number a figure shows, in words, in the report's
language, made from the same rows as the drawing (lcsurvey.report.figures *_alt)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.report import figures
from lcsurvey.report.numbers import fmt_number
from lcsurvey.survey.codebook import load_codebook

CODEBOOK = load_codebook(Path(__file__).resolve().parents[1] / "data" / "codebook.yaml")
MODERATION = {
    "outcome": "knowledge_transfer",
    "predictor": "perceived_learning",
    "moderator": "home_support",
}

MOTIVES = pd.DataFrame(
    {
        "construct": ["motive_knowledge", "motive_network", "motive_labour"],
        "mean": [3.94, 3.71, 2.49],
        "ci_lower": [3.85, 3.613, 2.39],
        "ci_upper": [4.03, 3.81, 2.591],
        "scale_min": 1,
        "scale_max": 5,
        "midpoint": 3.0,
        "verdict": ["is", "undecided", "not"],
    }
)
CLIMATE = pd.DataFrame(
    {
        "construct": ["facilitation", "error_avoidance", "psychological_safety"],
        "mean": [3.78, 2.29, 5.35],
        "ci_lower": [3.68, 2.2, 5.23],
        "ci_upper": [3.88, 2.39, 5.46],
        "scale_min": [1, 1, 1],
        "scale_max": [5, 5, 7],
    }
)
PATHS = pd.DataFrame(
    {
        "lhs": ["safety", "learning", "transfer"],
        "rhs": ["climate", "climate", "support"],
        "std_all": [0.351, 0.16, -0.28],
        "stars": ["**", "", "***"],
        "significant": [True, False, True],
    }
)
SLOPES = pd.DataFrame(
    {
        "moderator_level": [-1.0, 0.0, 1.0],
        "intercept": [3.0, 3.2, 3.4],
        "slope": [0.2, 0.3, 0.41],
        "predictor_mean": 3.7,
        "predictor_sd": 0.8,
    }
)


def _numbers(text: str) -> list[str]:
    """The numbers in a text as printed (decimal comma or point, true minus sign)."""
    return re.findall(r"−?\d+(?:[.,]\d+)?", text)


def _drawn_numbers(fig) -> list[str]:
    """Every number the figure draws as text (labels and values), and the first and last tick
    label of each axis (the scale's ends; the ticks between them follow from those)."""
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += ax.texts
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()) if ax.axison else ():
            texts += [ticks[0], ticks[-1]] if ticks else []
    return [n for t in texts for n in _numbers(t.get_text())]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_motives_figure_says_every_mean_interval_and_verdict(lang):
    alt = figures.motives_alt(MOTIVES, CODEBOOK, lang)
    assert alt.startswith({"nl": "Figuur:", "en": "Figure:"}[lang])
    for r in MOTIVES.itertuples():
        numbers = [fmt_number(v, lang) for v in (r.mean, r.ci_lower, r.ci_upper)]
        assert f"{numbers[0]} ({numbers[1]}–{numbers[2]})" in alt
    assert "3,61" in alt if lang == "nl" else "3.61" in alt  # rounded as the page prints it
    verdicts = {"nl": ["drijfveer", "onbeslist", "geen drijfveer"], "en": ["motive", "undecided"]}
    assert all(word in alt for word in verdicts[lang])
    assert {"nl": "schaal van 1 tot 5", "en": "scale of 1 to 5"}[lang] in alt
    fig = figures.motives_figure(MOTIVES, CODEBOOK, lang)
    assert figures.alt_text(fig) == alt
    assert set(_drawn_numbers(fig)) <= set(_numbers(alt))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_climate_figure_says_each_facet_on_its_own_scale(lang):
    alt = figures.climate_alt(CLIMATE, CODEBOOK, lang)
    assert {"nl": "5,35 (5,23–5,46; schaal 1–7)", "en": "5.35 (5.23–5.46; scale 1–7)"}[lang] in alt
    # error avoidance is mirrored in the learning climate: lower is better, said in words
    mirrored = alt.split(";")[2:4]
    assert {"nl": "lager is beter", "en": "lower is better"}[lang] in " ".join(mirrored)
    assert alt.count({"nl": "lager is beter", "en": "lower is better"}[lang]) == 1
    fig = figures.climate_figure(CLIMATE, CODEBOOK, lang)
    assert figures.alt_text(fig) == alt
    assert set(_drawn_numbers(fig)) <= set(_numbers(alt))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_path_diagram_says_every_arrow_and_which_are_not_significant(lang):
    alt = figures.path_alt(PATHS, lang)
    assert alt.count("→") == 3
    assert {"nl": "0,35**", "en": "0.35**"}[lang] in alt
    assert "−0" in alt  # a true minus sign, as printed
    not_significant = {"nl": "niet significant (stippelpijl)", "en": "not significant"}[lang]
    assert alt.count(not_significant) == 1
    assert {"nl": "0,16, niet", "en": "0.16, not"}[lang] in alt
    fig = figures.path_figure(PATHS, lang)
    assert figures.alt_text(fig) == alt
    assert set(_drawn_numbers(fig)) <= set(_numbers(alt))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_simple_slopes_say_where_each_line_starts_and_ends(lang):
    fig = figures.moderation_figure(SLOPES, CODEBOOK, lang, MODERATION)
    alt = figures.alt_text(fig)
    assert alt == figures.moderation_alt(SLOPES, CODEBOOK, lang, MODERATION)
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 2]
    assert len(lines) == 3
    for line in lines:  # the ends the figure draws are the numbers the text gives
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert f"{fmt_number(x[0], lang)}" in alt and f"{fmt_number(x[1], lang)}" in alt
        assert f"{fmt_number(y[0], lang)}" in alt and f"{fmt_number(y[1], lang)}" in alt
    assert "−1 SD" in alt and "+1 SD" in alt
    assert set(_drawn_numbers(fig)) <= set(_numbers(alt))


def test_a_figure_html_carries_its_text_alternative_escaped():
    from matplotlib.figure import Figure

    img = figures.figure_html(Figure(figsize=(1, 1)), 'Means "a" < "b"')
    assert 'alt="Means &quot;a&quot; &lt; &quot;b&quot;"' in img
