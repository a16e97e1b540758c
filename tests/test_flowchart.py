"""The flow diagram: drawn from flow.csv, byte-identical when redrawn."""

from __future__ import annotations

import pandas as pd

from lcsurvey.report.flowchart import flow_figure

FLOW = pd.DataFrame({
    "step": ["previews", "consent", "outliers"],
    "n_before": [100, 98, 90],
    "n_removed": [2, 8, 0],
    "n_after": [98, 90, 90],
    "n_flagged": [2, 8, 3],
})


def test_flow_figure_is_a_png_and_reproducible(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    flow_figure(FLOW, str(first), title="Wave x")
    flow_figure(FLOW, str(second), title="Wave x")
    data = first.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5000
    assert data == second.read_bytes()
    assert b"Matplotlib" not in data
