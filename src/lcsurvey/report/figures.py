"""The two-pager's figures: one function per figure, each returning a matplotlib Figure.

Dot-and-whisker plots (motives, climate) and the simple slopes are drawn with seaborn on
matplotlib axes; the path diagram is boxes and arrows in plain matplotlib. No pyplot (no global
state, no GUI backend). Sizes are in inches and printed at their true size: a figure's height
decides where the text after it falls on the page. Print-friendly: one dark accent and greys,
meaning carried by marker shape and fill or dash pattern, never by colour alone.

A new figure: a function here that returns a Figure; then a cell in notebooks/two_pager.ipynb,
tagged with its page and place (e.g. page-1, left), that draws it and ends in
`sections.figure_block(fig, caption)`. To place it inside an existing section instead, pass it
to that section's builder as the notebook does for the motives, the climate and the paths.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.report.inputs import construct_label, construct_range
from lcsurvey.report.numbers import fmt_int, fmt_number
from lcsurvey.report.wording import factor_words, text
from lcsurvey.survey.codebook import Codebook

# Colours for print: one dark accent and greys, so that nothing depends on colour alone.
INK = "#1d2b3a"
ACCENT = "#1f4e79"
GREY = "#7a7a7a"
LIGHT = "#d9d9d9"


FIGURE_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "axes.edgecolor": GREY,
    "axes.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
}


FIGURE_DPI = 300


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


# The text alternative a figure function gives its figure: every number the figure shows, in
# the report's language, made from the same rows as the drawing (the *_alt functions below).
ALT_ATTRIBUTE = "lcsurvey_alt"


def describe(fig, alt: str):
    """Give `fig` its text alternative (read back by alt_text); returns the figure."""
    setattr(fig, ALT_ATTRIBUTE, alt)
    return fig


def alt_text(fig) -> str | None:
    """The text alternative a figure function gave `fig` (describe), None if it gave none."""
    return getattr(fig, ALT_ATTRIBUTE, None)


def figure_html(fig, alt: str) -> str:
    """The figure as an <img> with a PNG data URI (300 dpi), sized to print at its true size.

    PNG rather than SVG: WeasyPrint draws a text-as-path SVG several times slower. RGB without
    an alpha channel (the figures are drawn on white): WeasyPrint re-encodes every image (so a quick, light compression here), and
    an alpha channel would be a second image to encode. Pillow writes no date or software
    stamp, so a rerender is byte-identical.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    with matplotlib.rc_context(FIGURE_RC):
        fig.set_dpi(FIGURE_DPI)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        size = canvas.get_width_height(physical=True)
        image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", dpi=(FIGURE_DPI, FIGURE_DPI), compress_level=1)
    width, height = fig.get_size_inches()
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img class="figure" alt="{html.escape(alt)}" style="width:{width:.2f}in;'
        f'height:{height:.2f}in" src="data:image/png;base64,{encoded}"/>'
    )


def _wrap(label: str, width: int) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def _dot_whisker(
    rows: list[dict[str, Any]],
    lang: str,
    width: float,
    midline: float,
    xlim: tuple[float, float],
    xticks: list[float],
    xticklabels: list[str],
):
    """Rows of label-above-whisker: each row has label, lo, mean, hi, marker, face, note.

    The label sits above its whisker at full width, the value (and verdict) right of the plot,
    so long Dutch labels never collide; marker shape and fill carry the meaning in grey print.
    """
    import matplotlib
    import seaborn as sns

    row_h, bottom, top = 0.31, 0.26, 0.02
    height = row_h * len(rows) + bottom + top
    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        left, plot_w = 0.06 / width, 2.05 / width
        ax = fig.add_axes((left, bottom / height, plot_w, row_h * len(rows) / height))
        ax.set_xlim(*xlim)
        ax.set_ylim(0, len(rows))
        ax.axvline(midline, color=GREY, linestyle=(0, (3, 2)), linewidth=0.8, zorder=1)
        data = pd.DataFrame(rows)
        data["y"] = [len(rows) - i - 0.72 for i in range(len(rows))]
        data["kind"] = [f"{r['marker']}{r['face']}" for r in rows]  # one marker per meaning
        ax.hlines(
            data["y"], data["lo"], data["hi"], color=INK, linewidth=1.3, zorder=2, capstyle="butt"
        )
        for _kind, group in data.groupby("kind", sort=False):  # filled and hollow markers
            sns.scatterplot(
                data=group,
                x="mean",
                y="y",
                marker=group["marker"].iloc[0],
                s=34,
                color=group["face"].iloc[0],
                edgecolor=INK,
                linewidth=0.9,
                zorder=3,
                legend=False,
                ax=ax,
            )
        for row in data.itertuples():
            ax.text(
                0,
                row.y + 0.19,
                row.label,
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="bottom",
                fontsize=8.5,
                zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.4},
            )
            ax.text(
                1.04,
                row.y,
                row.note,
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize=8.5,
            )
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_yticks([])
        ax.set_xticks(xticks, xticklabels)
        ax.tick_params(axis="x", length=2.5, pad=1.5)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        return fig


VERDICT_MARKERS = {"is": ("o", ACCENT), "not": ("o", "white"), "undecided": ("D", LIGHT)}


def motives_figure(tests: pd.DataFrame, codebook: Codebook, lang: str, width: float = 3.40):
    """Dot-and-whisker of the motives against the midpoint; marker and a word per verdict."""
    low, high = tests["scale_min"].min(), tests["scale_max"].max()
    rows = [
        {
            "label": construct_label(codebook, r.construct, lang),
            "lo": r.ci_lower,
            "hi": r.ci_upper,
            "mean": r.mean,
            "marker": VERDICT_MARKERS[r.verdict][0],
            "face": VERDICT_MARKERS[r.verdict][1],
            "note": f"{fmt_number(r.mean, lang)}  {text(lang, 'verdict_' + r.verdict)}",
        }
        for r in tests.itertuples()
    ]
    ticks = list(np.arange(low, high + 1))
    fig = _dot_whisker(
        rows,
        lang,
        width,
        float(tests["midpoint"].iloc[0]),
        (low - 0.1, high + 0.1),
        ticks,
        [fmt_int(t) for t in ticks],
    )
    return describe(fig, motives_alt(tests, codebook, lang))


def _fmt_scale_point(value: float, lang: str) -> str:
    """A point of a response scale: '3' for a whole number, else one decimal ('3,5')."""
    return fmt_int(value) if float(value).is_integer() else fmt_number(value, lang, 1)


def motives_alt(tests: pd.DataFrame, codebook: Codebook, lang: str) -> str:
    """The motives figure in words: each motive's mean, 95% interval and verdict."""
    items = [
        text(
            lang,
            "alt_motive_item",
            label=construct_label(codebook, r.construct, lang),
            m=fmt_number(r.mean, lang),
            l=fmt_number(r.ci_lower, lang),
            u=fmt_number(r.ci_upper, lang),
            verdict=text(lang, "verdict_" + r.verdict),
        )
        for r in tests.itertuples()
    ]
    return text(
        lang,
        "alt_motives",
        low=fmt_int(tests["scale_min"].min()),
        high=fmt_int(tests["scale_max"].max()),
        mid=_fmt_scale_point(float(tests["midpoint"].iloc[0]), lang),
        items="; ".join(items),
    )


def climate_figure(table: pd.DataFrame, codebook: Codebook, lang: str, width: float = 3.40):
    """Dot-and-whisker of the climate scores, each placed on its own scale (low..high).

    A facet a composite of the codebook mirrors (`reverse`, as error avoidance in the learning
    climate) is marked "lower = better", with a hollow square.
    """
    mirrored = {part for composite in codebook.composites.values() for part in composite.reverse}
    rows = []
    for r in table.itertuples():
        span = r.scale_max - r.scale_min
        negative = r.construct in mirrored
        label = construct_label(codebook, r.construct, lang)
        if negative:
            label += f" ({text(lang, 'lower_is_better')})"
        rows.append(
            {
                "label": label,
                "lo": (r.ci_lower - r.scale_min) / span,
                "hi": (r.ci_upper - r.scale_min) / span,
                "mean": (r.mean - r.scale_min) / span,
                "marker": "s" if negative else "o",
                "face": "white" if negative else ACCENT,
                "note": f"{fmt_number(r.mean, lang)} ({fmt_int(r.scale_min)}–{fmt_int(r.scale_max)})",
            }
        )
    labels = [text(lang, k) for k in ("scale_low", "scale_mid", "scale_high")]
    fig = _dot_whisker(rows, lang, width, 0.5, (-0.03, 1.03), [0, 0.5, 1], labels)
    return describe(fig, climate_alt(table, codebook, lang))


def climate_alt(table: pd.DataFrame, codebook: Codebook, lang: str) -> str:
    """The climate figure in words: each facet's mean, 95% interval and scale; a mirrored facet
    (see climate_figure) says that lower is better."""
    mirrored = {part for composite in codebook.composites.values() for part in composite.reverse}
    items = []
    for r in table.itertuples():
        item = text(
            lang,
            "alt_climate_item",
            label=construct_label(codebook, r.construct, lang),
            m=fmt_number(r.mean, lang),
            l=fmt_number(r.ci_lower, lang),
            u=fmt_number(r.ci_upper, lang),
            lo=fmt_int(r.scale_min),
            hi=fmt_int(r.scale_max),
        )
        if r.construct in mirrored:
            item += f", {text(lang, 'alt_climate_lower')}"
        items.append(item)
    return text(lang, "alt_climate", items="; ".join(items))


# Where each factor sits in the path diagram (centre, inches from the lower left corner), and
# its box (width, height, characters per line).
PATH_LAYOUT = {
    "climate": (0.92, 2.10),
    "safety": (0.92, 1.64),
    "learning": (0.92, 1.18),
    "perceived": (0.92, 0.72),
    "transfer": (0.92, 0.20),
    "support": (2.62, 0.72),
}


PATH_BOXES = {
    "transfer": (1.66, 0.36, 22),
    "support": (1.36, 0.34, 18),
    "default": (1.66, 0.30, 24),
}


def _path_label_and_style(row, lang: str) -> tuple[str, dict]:
    """A path's arrow label (std_all with its stars, or "n.s.") and arrow style (solid when
    significant, dotted when not)."""
    label = fmt_number(row.std_all, lang) + (row.stars if row.significant else " n.s.")
    style = dict(
        arrowstyle="-|>",
        mutation_scale=9,
        color=INK,
        linewidth=1.0,
        linestyle="-" if row.significant else (0, (1.5, 1.5)),
        shrinkA=0,
        shrinkB=0,
    )
    return label, style


def path_figure(paths: pd.DataFrame, lang: str, width: float = 3.40, height: float = 2.30):
    """The structural model as boxes and arrows, each arrow labelled with β and stars.

    Data units are inches, so label offsets are true distances. Non-significant paths are
    dotted and labelled 'n.s.'. Paths down the chain are straight with the label to the
    right; a path that skips a step is an arc on the right; a side input enters from the right.
    """
    import matplotlib
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.set_axis_off()
        factors = list(dict.fromkeys([*paths["rhs"], *paths["lhs"]]))
        layout = {f: PATH_LAYOUT[f] for f in factors if f in PATH_LAYOUT}
        extra = [f for f in factors if f not in layout]
        for i, factor in enumerate(extra):  # factors of another model: a column on the right
            layout[factor] = (2.6, height - 0.3 - i * 0.55)

        def box(factor):
            return PATH_BOXES.get(factor, PATH_BOXES["default"])

        for factor, (x, y) in layout.items():
            w, h, wrap = box(factor)
            outcome = factor == "transfer"
            ax.add_patch(
                FancyBboxPatch(
                    (x - w / 2, y - h / 2),
                    w,
                    h,
                    boxstyle="round,pad=0,rounding_size=0.05",
                    facecolor=ACCENT if outcome else "white",
                    edgecolor=INK,
                    linewidth=0.9,
                )
            )
            ax.text(
                x,
                y,
                _wrap(factor_words(factor, lang)["box"], wrap),
                ha="center",
                va="center",
                color="white" if outcome else INK,
                fontweight="bold" if outcome else "normal",
                linespacing=1.1,
            )

        for row in paths.itertuples():
            if row.rhs not in layout or row.lhs not in layout:
                continue
            (x1, y1), (x2, y2) = layout[row.rhs], layout[row.lhs]
            w1, h1, _ = box(row.rhs)
            w2, h2, _ = box(row.lhs)
            label, style = _path_label_and_style(row, lang)
            same_column = abs(x1 - x2) < 1e-9
            adjacent = same_column and not any(
                abs(x - x1) < 1e-9 and min(y1, y2) < y < max(y1, y2) for x, y in layout.values()
            )
            if adjacent:
                start, end = (x1, y1 - h1 / 2), (x2, y2 + h2 / 2)
                ax.add_patch(FancyArrowPatch(start, end, **style))
                ax.text(x1 + 0.08, (start[1] + end[1]) / 2, label, ha="left", va="center")
            elif same_column:  # skipping a step: an arc on the right of the chain
                start, end = (x1 + w1 / 2, y1), (x2 + w2 / 2, y2)
                rad = -0.45 if y1 > y2 else 0.45
                ax.add_patch(
                    FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}", **style)
                )
                dx, dy = end[0] - start[0], end[1] - start[1]
                apex_x = (start[0] + end[0]) / 2 + 0.5 * rad * dy
                apex_y = (start[1] + end[1]) / 2 - 0.5 * rad * dx
                ax.text(apex_x + 0.06, apex_y, label, ha="left", va="center")
            else:  # a side input: from the bottom of its box to the side of the outcome
                start = (x1, y1 - h1 / 2)
                end = (x2 + w2 / 2, y2) if x1 > x2 else (x2 - w2 / 2, y2)
                ax.add_patch(
                    FancyArrowPatch(
                        start, end, connectionstyle="angle,angleA=-90,angleB=180,rad=0", **style
                    )
                )
                ax.text(x1 + 0.08, (start[1] + end[1]) / 2, label, ha="left", va="center")
        return describe(fig, path_alt(paths, lang))


def path_alt(paths: pd.DataFrame, lang: str) -> str:
    """The path diagram in words: every arrow with its β and stars, or 'not significant'."""
    items = [
        text(
            lang,
            "alt_path_item",
            frm=factor_words(r.rhs, lang)["short"],
            to=factor_words(r.lhs, lang)["short"],
            beta=fmt_number(r.std_all, lang)
            + (r.stars if r.significant else f", {text(lang, 'alt_path_ns')}"),
        )
        for r in paths.itertuples()
    ]
    return text(lang, "alt_path", items="; ".join(items))


# Line styles of the simple slopes: told apart by dash pattern and grey value, not colour.
SLOPE_STYLES = {-1.0: ((0, (1.2, 1.4)), GREY), 0.0: ((0, (4, 2)), INK), 1.0: ("-", ACCENT)}


def _dashes(style) -> str | tuple[float, ...]:
    """A matplotlib line style as seaborn's dashes: "" for solid, else (on, off, ...)."""
    return "" if style == "-" else tuple(style[1])


def moderation_figure(
    slopes: pd.DataFrame,
    codebook: Codebook,
    lang: str,
    moderation: dict[str, str],
    width: float = 3.40,
    height: float = 1.10,
):
    """Simple slopes: the predicted outcome against the predictor at -1, 0 and +1 SD of the
    moderator (config roles.moderation: knowledge use, perceived learning, home support), over
    the mean ± 1.5 SD of the predictor within its scale range."""
    import matplotlib
    import seaborn as sns

    x_low, x_high = construct_range(codebook, moderation["predictor"])
    y_low, y_high = construct_range(codebook, moderation["outcome"])
    centre = slopes["predictor_mean"].iloc[0]
    x = _slope_ends(slopes, codebook, moderation["predictor"])
    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        ax = fig.add_axes((0.42 / width, 0.32 / height, 1.58 / width, (height - 0.38) / height))
        lines = pd.DataFrame(
            [
                {
                    "level": text(lang, f"moderation_level_{int(row.moderator_level)}"),
                    "key": float(row.moderator_level),
                    "x": value,
                    "y": row.intercept + row.slope * (value - centre),
                }
                for row in slopes.itertuples()
                for value in x
            ]
        )
        styles = {
            level: SLOPE_STYLES.get(key, ("-", INK))
            for level, key in zip(lines["level"], lines["key"], strict=True)
        }
        sns.lineplot(
            data=lines,
            x="x",
            y="y",
            hue="level",
            style="level",
            sort=False,
            palette={level: colour for level, (_, colour) in styles.items()},
            dashes={level: _dashes(style) for level, (style, _) in styles.items()},
            linewidth=1.6,
            estimator=None,
            ax=ax,
        )
        ax.get_legend().remove()
        ax.set_xlim(x_low, x_high)
        ax.set_ylim(y_low, y_high)
        ticks_x, ticks_y = np.arange(x_low, x_high + 1), np.arange(y_low, y_high + 1)
        ax.set_xticks(ticks_x, [fmt_int(t) for t in ticks_x])
        ax.set_yticks(ticks_y, [fmt_int(t) for t in ticks_y])
        ax.set_xlabel(factor_words("perceived", lang)["box"], labelpad=1.5)
        ax.set_ylabel(factor_words("transfer", lang)["short"], labelpad=2, fontsize=7.5)
        ax.tick_params(length=2.5, pad=1.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(
            handles[::-1],
            labels[::-1],
            loc="center left",
            frameon=False,
            bbox_to_anchor=(2.12 / width, 0.55),
            handlelength=2.4,
            fontsize=8,
            labelspacing=0.3,
            borderaxespad=0,
        )
        return describe(fig, moderation_alt(slopes, codebook, lang, moderation))


def _slope_ends(slopes: pd.DataFrame, codebook: Codebook, predictor: str) -> np.ndarray:
    """The predictor's values where moderation_figure's lines start and end."""
    x_low, x_high = construct_range(codebook, predictor)
    centre, spread = slopes["predictor_mean"].iloc[0], slopes["predictor_sd"].iloc[0]
    return np.linspace(max(x_low, centre - 1.5 * spread), min(x_high, centre + 1.5 * spread), 2)


def moderation_alt(
    slopes: pd.DataFrame, codebook: Codebook, lang: str, moderation: dict[str, str]
) -> str:
    """The simple slopes in words: per level of the moderator the predicted outcome where its
    line starts and ends (the predictor's values as in moderation_figure)."""
    x = _slope_ends(slopes, codebook, moderation["predictor"])
    centre = slopes["predictor_mean"].iloc[0]
    y_low, y_high = construct_range(codebook, moderation["outcome"])
    items = [
        text(
            lang,
            "alt_moderation_item",
            level=" ".join(text(lang, f"moderation_level_{int(row.moderator_level)}").split()),
            y_1=fmt_number(row.intercept + row.slope * (x[0] - centre), lang),
            y_2=fmt_number(row.intercept + row.slope * (x[1] - centre), lang),
        )
        for row in slopes.itertuples()
    ]
    return text(
        lang,
        "alt_moderation",
        outcome=construct_label(codebook, moderation["outcome"], lang),
        predictor=construct_label(codebook, moderation["predictor"], lang),
        moderator=construct_label(codebook, moderation["moderator"], lang),
        x_1=fmt_number(x[0], lang),
        x_2=fmt_number(x[1], lang),
        y_lo=fmt_int(y_low),
        y_hi=fmt_int(y_high),
        items="; ".join(items),
    )


def _layers(paths: pd.DataFrame) -> list[list[str]]:
    """The variables of a path model in rows: predictors of nothing predicted first, then each
    variable one row below its lowest predictor (the longest chain of paths above it)."""
    names = list(dict.fromkeys([*paths["rhs"], *paths["lhs"]]))
    depth = dict.fromkeys(names, 0)
    for _ in range(len(names)):  # at most one pass per variable for an acyclic model
        changed = False
        for row in paths.itertuples():
            if depth[row.lhs] < depth[row.rhs] + 1 and depth[row.rhs] < len(names):
                depth[row.lhs] = depth[row.rhs] + 1
                changed = True
        if not changed:
            break
    rows = max(depth.values()) + 1
    return [[n for n in names if depth[n] == r] for r in range(rows)]


def twolevel_figure(
    paths: pd.DataFrame,
    codebook: Codebook,
    lang: str,
    width: float = 3.40,
    row_height: float = 0.40,
):
    """The community level (level 2) of a two-level model as boxes and arrows, each arrow
    labelled with β and stars (findings.twolevel_results' between paths).

    Variables are placed in rows by their place in the chain (_layers); an arrow to the next
    row is straight with its label beside it, an arrow that skips a row is an arc on the
    outside (left for a variable on the left half, right otherwise), labelled at its apex.
    Non-significant paths are dotted and labelled 'n.s.', as in path_figure. Data units are
    inches.
    """
    import matplotlib
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    layers = _layers(paths)
    box_h, margin = 0.27, 0.45
    height = row_height * (len(layers) - 1) + box_h + 0.08
    centre = width / 2
    place: dict[str, tuple[float, float, float]] = {}  # name -> x, y, box width
    for r, names in enumerate(layers):
        y = height - 0.04 - box_h / 2 - r * row_height
        slot = (width - 2 * margin) / len(names)
        for i, name in enumerate(names):
            place[name] = (margin + slot * (i + 0.5), y, min(slot - 0.12, 1.5))
    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.set_axis_off()
        outcome = layers[-1]
        for name, (x, y, w) in place.items():
            last = name in outcome
            ax.add_patch(
                FancyBboxPatch(
                    (x - w / 2, y - box_h / 2),
                    w,
                    box_h,
                    boxstyle="round,pad=0,rounding_size=0.05",
                    facecolor=ACCENT if last else "white",
                    edgecolor=INK,
                    linewidth=0.9,
                )
            )
            label = construct_label(codebook, name, lang)
            ax.text(
                x,
                y,
                _wrap(label, max(int(w / 0.062), 8)),
                ha="center",
                va="center",
                color="white" if last else INK,
                fontweight="bold" if last else "normal",
                fontsize=7.5 if len(label) > w / 0.062 else 8.5,
                linespacing=1.0,
            )
        row_of = {n: r for r, names in enumerate(layers) for n in names}
        for row in paths.itertuples():
            (x1, y1, w1), (x2, y2, w2) = place[row.rhs], place[row.lhs]
            label, style = _path_label_and_style(row, lang)
            if row_of[row.lhs] == row_of[row.rhs] + 1:  # the next row: a straight arrow
                # leave and enter each box on the side facing the other, meeting half-way
                # when the boxes overlap sideways (then the arrow is vertical)
                step = np.sign(x2 - x1) * min(abs(x2 - x1) / 2, 0.3 * min(w1, w2))
                start = (x1 + step, y1 - box_h / 2)
                end = (x2 - np.sign(x2 - x1) * min(abs(x2 - x1) / 2, 0.3 * w2), y2 + box_h / 2)
                ax.add_patch(FancyArrowPatch(start, end, **style))
                mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
                left = x1 < x2 - 1e-9  # a source on the left: its label on the left
                ax.text(
                    mid_x + (-0.06 if left else 0.06),
                    mid_y,
                    label,
                    ha="right" if left else "left",
                    va="center",
                )
            else:  # skipping rows: an arc on the outside
                right = x1 >= centre
                side = 1 if right else -1
                start = (x1 + side * w1 / 2, y1)
                end = (x2 + side * w2 / 2, y2)
                rad = 0.35 * side * (1 if y1 > y2 else -1)
                ax.add_patch(
                    FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}", **style)
                )
                dx, dy = end[0] - start[0], end[1] - start[1]
                apex_x = (start[0] + end[0]) / 2 + 0.5 * rad * dy
                apex_y = (start[1] + end[1]) / 2 - 0.5 * rad * dx
                ax.text(
                    apex_x + side * 0.04,
                    apex_y,
                    label,
                    ha="left" if right else "right",
                    va="center",
                )
        return describe(fig, twolevel_alt(paths, codebook, lang))


def twolevel_alt(paths: pd.DataFrame, codebook: Codebook, lang: str) -> str:
    """The community-level path diagram in words: every arrow with its β and stars, or 'not
    significant'."""
    items = [
        text(
            lang,
            "alt_path_item",
            frm=construct_label(codebook, r.rhs, lang),
            to=construct_label(codebook, r.lhs, lang),
            beta=fmt_number(r.std_all, lang)
            + (r.stars if r.significant else f", {text(lang, 'alt_path_ns')}"),
        )
        for r in paths.itertuples()
    ]
    return text(lang, "alt_twolevel", items="; ".join(items))
