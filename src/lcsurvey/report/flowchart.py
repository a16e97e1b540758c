"""The CONSORT-style flow diagram of a wave's cleaning, drawn from flow.csv."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from lcsurvey.survey.clean import REASON_TEXT

# Reproducible PNG bytes: no software version or date in the file's metadata.
PNG_METADATA = {"Software": None}


def flow_figure(flow: pd.DataFrame, path: str, *, title: str = "") -> None:
    """Draw the raw -> kept flow: one box per remaining count, a side box per exclusion.

    Steps that removed nobody are left out of the drawing, and rules that only flag (the
    n_flagged column, with n_removed 0) are listed under the final box, so that the picture
    shows what happened to the respondents and nothing else.
    """
    removing = flow[flow["n_removed"] > 0]
    flagged = flow[(flow["n_removed"] == 0) & (flow.get("n_flagged", 0) > 0)]
    n_steps = len(removing)
    height = 1.2 + 0.75 * n_steps
    fig, ax = plt.subplots(figsize=(6.2, height))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6 - 0.3 * len(flagged), height)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "#333333"}
    side = {"boxstyle": "round,pad=0.3", "facecolor": "#eeeeee", "edgecolor": "#777777"}
    y = height - 0.5
    ax.text(
        2.6,
        y,
        f"Raw responses\nn = {int(flow['n_before'].iloc[0])}",
        ha="center",
        va="center",
        bbox=box,
        fontsize=9,
    )
    for row in removing.itertuples(index=False):
        y_next = y - 0.75
        ax.annotate(
            "",
            xy=(2.6, y_next + 0.22),
            xytext=(2.6, y - 0.22),
            arrowprops={"arrowstyle": "->", "color": "#333333"},
        )
        ax.annotate(
            "",
            xy=(5.4, (y + y_next) / 2),
            xytext=(2.6, (y + y_next) / 2),
            arrowprops={"arrowstyle": "->", "color": "#777777"},
        )
        ax.text(
            5.5,
            (y + y_next) / 2,
            f"{REASON_TEXT.get(row.step, row.step)}: {row.n_removed}",
            ha="left",
            va="center",
            bbox=side,
            fontsize=8,
        )
        y = y_next
        ax.text(2.6, y, f"n = {row.n_after}", ha="center", va="center", bbox=box, fontsize=9)
    ax.text(
        2.6, y - 0.45, "kept for analysis", ha="center", va="center", fontsize=8, style="italic"
    )
    for i, row in enumerate(flagged.itertuples(index=False)):
        ax.text(
            0.2,
            y - 0.85 - 0.3 * i,
            f"flagged, kept: {REASON_TEXT.get(row.step, row.step)}: {row.n_flagged}",
            ha="left",
            va="center",
            fontsize=7.5,
            color="#555555",
        )
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    fig.savefig(path, dpi=150, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
