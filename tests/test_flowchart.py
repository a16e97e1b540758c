"""The flow diagram: drawn from flow.csv, byte-identical when redrawn."""

from __future__ import annotations

import pandas as pd

from lcsurvey.report.flowchart import flow_figure

FLOW = pd.DataFrame(
    {
        "step": ["previews", "consent", "outliers"],
        "n_before": [100, 98, 90],
        "n_removed": [2, 8, 0],
        "n_after": [98, 90, 90],
        "n_flagged": [2, 8, 3],
    }
)


def test_flow_figure_is_a_png_and_reproducible(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    flow_figure(FLOW, str(first), title="Wave x")
    flow_figure(FLOW, str(second), title="Wave x")
    data = first.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5000
    assert data == second.read_bytes()
    assert b"Matplotlib" not in data


def _drawn_texts(monkeypatch, flow: pd.DataFrame, path) -> list[str]:
    """Every text the figure draws (Axes.text calls and the title), in drawing order."""
    from matplotlib.axes import Axes

    texts: list[str] = []
    text, set_title = Axes.text, Axes.set_title

    def record_text(self, x, y, s, *args, **kwargs):
        texts.append(s)
        return text(self, x, y, s, *args, **kwargs)

    def record_title(self, label, *args, **kwargs):
        texts.append(label)
        return set_title(self, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "text", record_text)
    monkeypatch.setattr(Axes, "set_title", record_title)
    flow_figure(flow, str(path), title="Wave x")
    return texts


def test_flow_figure_draws_the_numbers_of_flow_csv(monkeypatch, tmp_path):
    """Raw n, one box per step that removed someone with the n left, a side box with the
    number removed and why, and the flag-only rules under the last box; nothing else."""
    from lcsurvey.survey.clean import REASON_TEXT

    flow = pd.DataFrame(
        {
            "step": ["previews", "consent", "duplicates", "speeders", "outliers"],
            "n_before": [412, 407, 395, 395, 371],
            "n_removed": [5, 12, 0, 24, 0],
            "n_after": [407, 395, 395, 371, 371],
            "n_flagged": [5, 12, 0, 24, 7],
        }
    )
    texts = _drawn_texts(monkeypatch, flow, tmp_path / "flow.png")
    assert texts == [
        "Raw responses\nn = 412",
        f"{REASON_TEXT['previews']}: 5",
        "n = 407",
        f"{REASON_TEXT['consent']}: 12",
        "n = 395",
        f"{REASON_TEXT['speeders']}: 24",
        "n = 371",
        "kept for analysis",
        f"flagged, kept: {REASON_TEXT['outliers']}: 7",
        "Wave x",
    ]


def test_flow_figure_of_the_small_flow_shows_its_counts(monkeypatch, tmp_path):
    texts = _drawn_texts(monkeypatch, FLOW, tmp_path / "flow.png")
    counts = [t for t in texts if t.startswith(("Raw responses", "n = "))]
    removing = FLOW[FLOW["n_removed"] > 0]
    assert counts == [
        f"Raw responses\nn = {FLOW['n_before'].iloc[0]}",
        *[f"n = {n}" for n in removing["n_after"]],
    ]
    assert [t.rsplit(": ", 1)[1] for t in texts if ": " in t] == ["2", "8", "3"]
