"""The one-page notice of a wave without usable responses, in place of its two-pager.

When cleaning keeps no respondent there is nothing to estimate or describe: the wave gets the
same files as a two-pager (executed notebook, HTML, A4 PDF) holding one page that says there
are no usable responses and how the returned questionnaires were removed (the response flow).
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from lcsurvey.report.wording import text

NOTICE_CSS = """
@page { size: A4; margin: 2.5cm 2.2cm; }
body { font-family: "LC Sans", "DejaVu Sans", sans-serif; font-size: 11pt; line-height: 1.45;
       color: #1a1a1a; max-width: 42em; }
h1 { font-size: 18pt; margin: 0 0 0.3em 0; }
p.subtitle { color: #555; margin-top: 0; }
"""


def kept_respondents(flow_path: str | Path) -> int | None:
    """Respondents left after cleaning (n_after of the flow's last step); None without a flow."""
    path = Path(flow_path)
    if not path.exists():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "n_after" not in rows[-1]:
        return None
    return int(float(rows[-1]["n_after"]))


def notice_html(flow_path: str | Path, wave: str, lang: str) -> str:
    """The notice page: title, the wave, one sentence that there are no usable responses and
    the response flow in words (lcsurvey.report.sentences.flow_sentence)."""
    import pandas as pd

    from lcsurvey.report.sentences import flow_sentence

    flow = pd.read_csv(flow_path)
    paragraphs = [text(lang, "notice_body", wave=wave), flow_sentence(flow, lang)]
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    title = html.escape(text(lang, "notice_title"))
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title} · {html.escape(wave)}</title>\n<style>{NOTICE_CSS}</style>\n</head>\n"
        f'<body>\n<h1>{title}</h1>\n<p class="subtitle">'
        f"{html.escape(text(lang, 'notice_subtitle', wave=wave))}</p>\n{body}\n</body>\n</html>\n"
    )


def notice_notebook(page: str, parameters: dict) -> object:
    """The executed notebook of a notice: the parameters (as papermill records them) and the
    page as one markdown cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": parameters}
    nb.cells.append(nbformat.v4.new_markdown_cell(page))
    return nb
