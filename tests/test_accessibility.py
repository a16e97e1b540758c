"""The accessible publication: a tagged PDF/A-3a and PDF/UA-1 from render_pdf (checked with
tests/pdf_checks.py), and the index of the reports with what each report states about itself.
The same checks on the real two-pagers, in Chromium, run in `make test-browser`."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from lcsurvey.report import render as rendering
from tests.pdf_checks import problems


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>A report · w1</title>
<style>@page {{ size: A4; @bottom-right {{ content: counter(page) " / " counter(pages); }} }}
caption {{ height: 0; overflow: hidden; line-height: 0; }}</style></head>
<body><h1>A report</h1><h2>Motives</h2>
<img alt="Figure: mean 3.94 (3.85–4.03)" src="data:image/png;base64,{_png()}" style="width:1in">
<table><caption>Motives</caption>
<thead><tr><th scope="col">Motive</th><th scope="col">Mean</th></tr></thead>
<tbody><tr><th scope="row">Knowledge</th><td>3.94</td></tr></tbody></table>
<h2>Provenance</h2><p>Made by the pipeline.</p></body></html>
"""


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "report.html"
    path.write_text(PAGE, encoding="utf-8")
    return path


def test_the_pdf_meets_the_checked_pdf_a_3a_and_pdf_ua_1_requirements(page, tmp_path):
    pdf = tmp_path / "report.pdf"
    rendering.render_pdf(page, pdf)
    assert problems(pdf, page, pages=1) == []
    again = tmp_path / "again.pdf"
    rendering.render_pdf(page, again)
    assert again.read_bytes() == pdf.read_bytes()  # a rerender is byte-identical


def test_an_untagged_pdf_fails_the_checks(page, tmp_path):
    import weasyprint

    pdf = tmp_path / "plain.pdf"
    weasyprint.HTML(filename=str(page)).write_pdf(str(pdf))
    found = "\n".join(problems(pdf, page, pages=1))
    assert "PDF/A 6.6.4" in found
    assert "PDF/UA 7.1: no structure tree" in found


def test_the_page_numbers_are_artifacts_not_untagged_content(page, tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "_margin_content_as_artifacts", lambda document, pdf: None)
    pdf = tmp_path / "numbers_tagged.pdf"
    rendering.render_pdf(page, pdf)
    assert any("no structure element refers to" in p for p in problems(pdf, page, pages=1))


def test_a_wrong_language_or_lost_alt_text_is_found(page, tmp_path):
    pdf = tmp_path / "report.pdf"
    rendering.render_pdf(page, pdf)
    other = tmp_path / "other.html"
    other.write_text(
        PAGE.replace('lang="en"', 'lang="nl"').replace("mean 3.94", "mean 3.95"), encoding="utf-8"
    )
    found = "\n".join(problems(pdf, other, pages=1))
    assert "PDF/UA 7.2: document language 'en', the page's is 'nl'" in found
    assert "PDF/UA 7.3 / reading order" in found
    assert "layout: 1 pages, expected 2" in "\n".join(problems(pdf, page))


def _two_pager(path, lang, n, digest):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<!DOCTYPE html><html lang="{lang}"><head><title>t</title></head><body><h1>t</h1>'
        f'<section class="provenance" data-date="2022-06-30" data-n="{n}" '
        f'data-config-sha256="{digest}" data-plan-frozen="2022-01-15" id="provenance">'
        "<h2>Provenance</h2></section></body></html>",
        encoding="utf-8",
    )
    path.with_suffix(".pdf").write_bytes(b"%PDF-1.7 test")
    return path


def test_the_index_lists_date_n_digest_and_plan_of_every_wave_and_language(tmp_path):
    digest = "ab" * 32
    pages = [
        _two_pager(tmp_path / "2022-06" / f"two_pager_{lang}.html", lang, 228, digest)
        for lang in ("nl", "en")
    ]
    assert rendering.report_facts(pages[0]) == {
        "date": "2022-06-30",
        "n": "228",
        "config-sha256": digest,
        "plan-frozen": "2022-01-15",
    }
    entries = [
        {"wave": "2022-06", "lang": p.stem[-2:], "html": p, "pdf": p.with_suffix(".pdf")}
        for p in pages
    ]
    rendering.write_index(entries, tmp_path / "index.html")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    rows = index.split("<tr>")[2:]
    assert len(rows) == 2
    for row, lang in zip(rows, ("en", "nl"), strict=True):
        assert "2022-06-30" in row and ">228<" in row and digest in row and "2022-01-15" in row
        assert f'href="2022-06/two_pager_{lang}.pdf"' in row
        assert f'href="2022-06/two_pager_{lang}.html#provenance"' in row
        assert "datapackage.json" not in row  # reports/ has no data package
    assert '<span lang="en">Learning in learning communities</span>' in index
    assert "a:focus-visible{outline:3px solid" in index


def test_the_published_pages_link_the_pdf_the_data_package_and_the_provenance(tmp_path):
    page = _two_pager(tmp_path / "w1" / "two_pager_nl.html", "nl", 40, "cd" * 32)
    rendering.link_site(tmp_path, [page])
    markup = page.read_text(encoding="utf-8")
    nav = markup[markup.index("<nav") : markup.index("</nav>")]
    for href in (
        "../index.html",
        "two_pager_nl.pdf",
        "../data/datapackage.json",
        "#provenance",
        "../PROVENANCE.txt",
    ):
        assert f'href="{href}"' in nav
    assert "@media print{nav.site{display:none}}" in markup  # the screen's, not the print's
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'href="data/datapackage.json"' in index and 'href="PROVENANCE.txt"' in index


def test_a_table_without_header_cells_is_found(tmp_path):
    page = tmp_path / "plain_table.html"
    page.write_text(
        PAGE.replace('<th scope="col">', "<td>")
        .replace('<th scope="row">', "<td>")
        .replace("</th>", "</td>"),
        encoding="utf-8",
    )
    pdf = tmp_path / "plain_table.pdf"
    rendering.render_pdf(page, pdf)
    found = "\n".join(problems(pdf, page, pages=1))
    assert "PDF/UA 7.5: a table has no header cells (TH)" in found
    assert "PDF/UA 7.5: a data cell (TD) names no header cell" in found
