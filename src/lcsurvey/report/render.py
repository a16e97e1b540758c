"""The two-pager's rendering steps: papermill executes the notebook, nbconvert makes the HTML
through the project's template, WeasyPrint the PDF; and reports/index.html, which links them.

Kept apart from the sections, findings and figures (which make the content, in the notebook's
kernel) so that the process driving these steps imports no pandas, numpy or matplotlib before
it starts the kernel: its start is on the report's critical path.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import lcsurvey.schema  # noqa: F401  (first: nbformat's jsonschema without the slow IRI grammar)
from lcsurvey.errors import InputError
from lcsurvey.report.notice import kept_respondents, notice_html, notice_notebook
from lcsurvey.report.wording import text

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "two_pager"


def _write_atomically(path: str | Path, write) -> None:
    """write(tmp) into a temporary file beside `path`, then rename: no half-written outputs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def execute_notebook(
    notebook: str | Path,
    output: str | Path,
    parameters: dict[str, Any],
    cwd: str | Path | None = None,
) -> None:
    """Run the two-pager notebook with papermill.

    Kernel 'python3': jupyter_client starts it with the running interpreter (sys.executable),
    so the notebook sees the same environment and lcsurvey as the caller. An InputError raised
    in the notebook comes back as an InputError, so scripts can report it without a traceback.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    def run(tmp: Path) -> None:
        papermill.execute_notebook(
            str(notebook),
            str(tmp),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd) if cwd else None,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
        )

    try:
        _write_atomically(output, run)
    except PapermillExecutionError as err:
        if err.ename == "InputError":
            raise InputError(err.evalue) from None
        raise


def render_html(notebook: str | Path, html_path: str | Path) -> str:
    """An executed notebook -> a self-contained HTML page through the two_pager template."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    params = nb.metadata.get("papermill", {}).get("parameters", {})
    lang = params.get("lang", "nl")
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)]
    )
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    resources = {
        "two_pager": {"lang": lang, "title": f"{text(lang, 'title')} · {params.get('wave', '')}"}
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    _write_atomically(html_path, lambda tmp: tmp.write_text(body, encoding="utf-8"))
    return body


# The PDF's fonts: DejaVu Sans (regular and bold) as bundled with matplotlib, cut down to the
# characters a report can contain and without hinting or OpenType layout tables, shipped with the
# template. WeasyPrint subsets every font it embeds; a small font keeps that step fast and makes
# the PDF independent of the fonts installed on the machine. On screen the HTML falls back to
# "DejaVu Sans", then any sans-serif.
FONT_DIR = TEMPLATES_DIR / TEMPLATE_NAME / "fonts"
PDF_FONT_FAMILY = "LC Sans"
PDF_FONTS = {"normal": "lc-sans.ttf", "bold": "lc-sans-bold.ttf"}
FONT_SOURCES = {"normal": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}
# Basic Latin, Latin-1, Latin Extended-A, Greek, spacing modifiers, general punctuation,
# super- and subscripts, the euro sign, letter-like symbols, arrows and mathematical operators.
FONT_RANGES = (
    (0x20, 0x7E),
    (0xA0, 0x17F),
    (0x2C6, 0x2DD),
    (0x370, 0x3FF),
    (0x2010, 0x205E),
    (0x2070, 0x209F),
    (0x20AC, 0x20AC),
    (0x2100, 0x214F),
    (0x2190, 0x21FF),
    (0x2200, 0x22FF),
)


def build_pdf_fonts(target_dir: str | Path = FONT_DIR) -> dict[str, Path]:
    """Write the PDF fonts (PDF_FONTS) from matplotlib's DejaVu Sans; the same bytes each time.

    Kept: the glyphs of FONT_RANGES, names and metrics. Dropped: hinting (PDF viewers do not
    need it) and GSUB/GPOS/GDEF (WeasyPrint drops them from embedded fonts anyway; so lines are
    set without kerning).
    """
    import matplotlib
    from fontTools import subset
    from fontTools.ttLib import TTFont

    source_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    unicodes = [code for low, high in FONT_RANGES for code in range(low, high + 1)]
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for weight, name in PDF_FONTS.items():
        options = subset.Options(
            hinting=False,
            desubroutinize=True,
            notdef_outline=True,
            name_IDs=["*"],
            name_languages=["*"],
            layout_features=[],
        )
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "FFTM"]
        font = TTFont(source_dir / FONT_SOURCES[weight], recalcTimestamp=False)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(font)
        written[weight] = target_dir / name
        _write_atomically(written[weight], lambda tmp, font=font: font.save(str(tmp)))
    return written


def pdf_stylesheet(font_config):
    """The print-only stylesheet: the shipped fonts as PDF_FONT_FAMILY (see two_pager.css)."""
    import weasyprint

    faces = "".join(
        f'@font-face {{ font-family: "{PDF_FONT_FAMILY}"; font-weight: {weight}; '
        f'src: url("{(FONT_DIR / name).as_uri()}"); }}\n'
        for weight, name in PDF_FONTS.items()
    )
    return weasyprint.CSS(string=faces, font_config=font_config)


# The PDF is archivable and tagged: PDF/A-3a (ISO 19005-3, level A: tagged, Unicode text) and
# PDF/UA-1 (ISO 14289-1). WeasyPrint writes one variant at a time; with "pdf/a-3a" it writes the
# structure tree (headings, paragraphs, lists, tables with header cells, figures with the <img>'s
# alt text) in the HTML's order, which is the columns' reading order, the document language
# (html lang), the title (<title>) shown as the window title, the sRGB output intent, XMP
# metadata and a file identifier. PDF/UA-1 adds only its identification in the XMP metadata
# (pdfuaid:part 1), which _declare_pdf_ua writes beside PDF/A's.
PDF_VARIANT = "pdf/a-3a"
PDF_UA_PART = "1"


def _declare_pdf_ua(document) -> None:
    """Add pdfuaid:part to the XMP metadata WeasyPrint writes for `document` (PDF/UA-1, 6.7.11).

    WeasyPrint's metadata object builds the RDF in generate_rdf_metadata; its first
    rdf:Description carries the PDF/A identification, and gets the PDF/UA one beside it.
    """
    from weasyprint.pdf.metadata import NS

    metadata = document.metadata
    build = metadata.generate_rdf_metadata

    def with_pdf_ua(variant, version, conformance):
        from xml.etree.ElementTree import fromstring, register_namespace, tostring

        for prefix, uri in NS.items():
            register_namespace(prefix, uri)
        rdf = fromstring(build(variant, version, conformance))
        description = rdf.find(f"{{{NS['rdf']}}}Description")
        description.attrib[f"{{{NS['pdfuaid']}}}part"] = PDF_UA_PART
        return tostring(rdf)

    metadata.generate_rdf_metadata = with_pdf_ua


def _margin_content_as_artifacts(document, pdf) -> None:
    """A WeasyPrint finisher: the page margins' content (the page numbers) marked as artifacts.

    WeasyPrint tags the text of margin boxes with structure elements it leaves out of the
    structure tree, so that content would be neither real content nor an artifact (PDF/UA-1,
    7.1). Page numbers are pagination artifacts (ISO 32000-1, 14.8.2.2): their marked-content
    sequences become /Artifact ones.
    """
    objects = pdf.objects  # object number n is objects[n]; references are b"n 0 R"

    def target(reference: bytes):
        return objects[int(reference.split()[0])]

    reachable: set[int] = set()
    pending = [target(pdf.catalog["StructTreeRoot"])]
    while pending:
        kids = pending.pop().get("K")
        for kid in kids if isinstance(kids, list) else []:
            if isinstance(kid, bytes) and kid.endswith(b" R") and id(target(kid)) not in reachable:
                reachable.add(id(target(kid)))
                pending.append(target(kid))
    orphans: dict[bytes, set[int]] = {}
    for element in objects:
        structural = isinstance(element, dict) and element.get("Type") == "/StructElem"
        if structural and id(element) not in reachable:
            mcids = [kid for kid in element.get("K", []) if isinstance(kid, int)]
            orphans.setdefault(element["Pg"], set()).update(mcids)
    for page, mcids in orphans.items():
        contents = target(target(page)["Contents"])
        ops, marked = contents.stream, []
        for op in ops:
            if op == b"BDC" and isinstance(marked[-1], dict) and marked[-1].get("MCID") in mcids:
                marked[-2:] = ["/Artifact", b"BMC"]
            else:
                marked.append(op)
        contents.stream = marked


# The two-pager's pages, and what it places where it fits. A section with data-place="N" is
# one of the places of a section the notebook shows in several (sections.twolevel: page 1,
# else page 2): the first place whose pages fit is kept, the others are removed. A figure with
# data-fit="optional" (sections.figure(..., optional=True)) is left out, the last first, when
# its place does not fit with it. The HTML page is written as the PDF shows it.
PAGES = 2
PLACE = re.compile(r'<section[^>]*\bdata-place="(\d+)"[^>]*>.*?</section>', re.DOTALL)
OPTIONAL_BLOCK = re.compile(r'<figure[^>]*\bdata-fit="optional"[^>]*>.*?</figure>', re.DOTALL)
CAPTION = re.compile(r"<figcaption[^>]*>(.*?)</figcaption>", re.DOTALL)


def _at_place(page: str, place: int | None) -> str:
    """The page with the placed sections of `place` kept and those of the other places removed."""
    if place is None:
        return page
    return PLACE.sub(lambda m: m.group(0) if int(m.group(1)) == place else "", page)


def page_candidates(page: str):
    """The page in the order it is tried (PLACE, OPTIONAL_BLOCK): the placed section at each of
    its places with its optional figures, then at each place without its last figure, and so
    on (a figure is shown where paragraph and figure fit together, else the paragraph alone at
    the first place it fits), and last the page without the placed section; yields the page
    and what was changed, in words for the log."""
    places = sorted({int(m.group(1)) for m in PLACE.finditer(page)}) or [None]
    at = {place: _at_place(page, place) for place in places}
    most = max(len(OPTIONAL_BLOCK.findall(kept)) for kept in at.values())
    for dropped in range(most + 1):
        for place, kept in at.items():
            blocks = list(OPTIONAL_BLOCK.finditer(kept))
            if dropped > len(blocks):
                continue
            changes = [f"section placed at its place {place}"] if place and place > 1 else []
            for block in reversed(blocks[len(blocks) - dropped :]):
                caption = CAPTION.search(block.group(0))
                words = html.unescape(caption.group(1)) if caption else "figure"
                kept = kept[: block.start()] + kept[block.end() :]
                changes.append(f"figure left out: {words!r}")
            yield kept, changes
    if places != [None]:
        # Last resort, so that the two-pager never runs to a third page: the placed section
        # left out everywhere (its numbers stay in results/; the log says so).
        yield PLACE.sub("", page), ["placed section left out: it fits at none of its places"]


def render_pdf(
    html_path: str | Path, pdf_path: str | Path, html_text: str | None = None
) -> list[str]:
    """HTML -> PDF with WeasyPrint: tagged PDF/A-3a and PDF/UA-1 (PDF_VARIANT); the shipped
    fonts (FONT_DIR) embedded as subsets.

    html_text: the page itself when the caller has it (saves reading it back); relative links
    are resolved against html_path either way. A page with placed sections or optional
    figures is laid out as page_candidates orders it until one fits on PAGES pages (else the
    last), and html_path is rewritten to match; returns what was changed, for the log.
    """
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    if html_text is None:
        html_text = Path(html_path).read_text(encoding="utf-8")
    base_url = str(Path(html_path).resolve().parent)

    def layout(page: str):
        font_config = FontConfiguration()
        return weasyprint.HTML(string=page, base_url=base_url).render(
            stylesheets=[pdf_stylesheet(font_config)],
            font_config=font_config,
            pdf_variant=PDF_VARIANT,
        )

    for candidate in page_candidates(html_text):
        page, changes = candidate
        document = layout(page)
        if len(document.pages) <= PAGES:
            break
    if page != html_text:
        _write_atomically(html_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    _declare_pdf_ua(document)
    _write_atomically(
        pdf_path,
        lambda tmp: document.write_pdf(
            str(tmp), pdf_variant=PDF_VARIANT, finisher=_margin_content_as_artifacts
        ),
    )
    return changes


def _preload_renderers() -> None:
    """Import nbconvert and WeasyPrint (slow imports) while the notebook kernel works."""
    import nbconvert  # noqa: F401
    import weasyprint  # noqa: F401


def render_report(
    notebook: str | Path,
    executed: str | Path,
    html_path: str | Path,
    pdf_path: str | Path,
    parameters: dict[str, Any],
    cwd: str | Path | None = None,
    left_out: list[str] | None = None,
) -> dict[str, float]:
    """The whole two-pager in one process: papermill, then HTML, then PDF; seconds per step.

    The renderers are imported in a thread while the kernel runs the notebook (the kernel is
    another process), so their import costs no wall-clock time on a machine with two cores.
    left_out: a list that gets what render_pdf changed to fit the pages (a section placed
    further on, a figure left out), in words.
    """
    import threading
    import time

    flow = parameters.get("input_files", {}).get("flow")
    if flow is not None and kept_respondents(flow) == 0:
        return render_notice(flow, executed, html_path, pdf_path, parameters)
    # papermill first, in this thread: it shares jupyter_client and nbformat with nbconvert,
    # and a module imported from two threads at once can be seen half-initialised.
    import papermill  # noqa: F401

    times = {}
    start = time.perf_counter()
    preload = threading.Thread(target=_preload_renderers, daemon=True)
    preload.start()
    execute_notebook(notebook, executed, parameters, cwd=cwd)
    times["notebook"] = time.perf_counter() - start
    preload.join()
    start = time.perf_counter()
    page = render_html(executed, html_path)
    times["html"] = time.perf_counter() - start
    start = time.perf_counter()
    dropped = render_pdf(html_path, pdf_path, html_text=page)
    if left_out is not None:
        left_out.extend(dropped)
    times["pdf"] = time.perf_counter() - start
    return times


def render_notice(
    flow: str | Path,
    executed: str | Path,
    html_path: str | Path,
    pdf_path: str | Path,
    parameters: dict[str, Any],
) -> dict[str, float]:
    """A wave without usable responses: the one-page notice (lcsurvey.report.notice) as the
    executed notebook, the HTML and the A4 PDF a two-pager would be; seconds per step."""
    import time

    import nbformat

    start = time.perf_counter()
    wave, lang = str(parameters.get("wave", "")), str(parameters.get("lang", "nl"))
    page = notice_html(flow, wave, lang)
    nb = notice_notebook(page, parameters)
    _write_atomically(executed, lambda tmp: nbformat.write(nb, str(tmp)))
    _write_atomically(html_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    render_pdf(html_path, pdf_path, html_text=page)
    return {"notice": time.perf_counter() - start}


def report_facts(html_path: str | Path) -> dict[str, str]:
    """What a two-pager states about itself for the index: date, n, config-sha256 and
    plan-frozen, from its provenance section's data attributes (sections.provenance); empty
    for a page without one (the notice of a wave without usable responses) or not (yet)
    written, which the index then shows as '–'."""
    import re

    if not Path(html_path).is_file():
        return {}
    page = Path(html_path).read_text(encoding="utf-8")
    # nbconvert writes the attributes in its own order
    tag = re.search(r'<section\b[^>]*\bid="provenance"[^>]*>', page)
    if tag is None:
        return {}
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z0-9-]+)="([^"]*)"', tag[0])}


# The index's words: Dutch, with the English in a fragment marked lang="en" (WCAG 3.1.2).
_INDEX_WORDS = (
    "index_wave",
    "index_language_column",
    "index_date",
    "n",
    "index_plan",
    "index_report",
)
# Links each published report gets beside its HTML and PDF (lcsurvey.report.publish).
SITE_LINKS = {"data": "data/datapackage.json", "provenance": "PROVENANCE.txt"}
INDEX_STYLE = (
    "body{font-family:'DejaVu Sans',sans-serif;max-width:60em;margin:2em auto;padding:0 1em;"
    "color:#1d2b3a;line-height:1.4}"
    "table{border-collapse:collapse}caption{text-align:left;font-weight:bold;margin-bottom:.4em}"
    "th,td{padding:.3em 1em .3em 0;text-align:left;vertical-align:top;"
    "border-bottom:1px solid #c8ccd0}"
    "td.num{text-align:right}code{font-size:.85em;overflow-wrap:anywhere}"
    "a{color:#1f4e79}a:focus-visible{outline:3px solid #1f4e79;outline-offset:2px}"
)


def _both(key: str) -> str:
    """'nl / en' with the English marked as such."""
    nl, en = _e(text("nl", key)), _e(text("en", key))
    return nl if nl == en else f'{nl} / <span lang="en">{en}</span>'


def write_index(entries: list[dict[str, str]], index_path: str | Path, site: bool = False) -> None:
    """reports/index.html: one row per wave and language: the date, N, the digest of the
    configuration up to that wave and the frozen plan's date (each as the report states it,
    report_facts), and links to the HTML, the PDF and the report's provenance section.

    entries: dicts with wave, lang, html and pdf (paths); links are made relative to the index.
    site: the published folder (lcsurvey.report.publish): each row also links the data package
    and PROVENANCE.txt (SITE_LINKS).
    """
    index_path = Path(index_path)
    base = index_path.parent
    rows = []
    for entry in sorted(entries, key=lambda e: (e["wave"], e["lang"])):
        facts = report_facts(entry["html"])
        lang = entry["lang"]
        page = _e(os.path.relpath(entry["html"], base))
        links = [
            f'<a href="{page}" hreflang="{_e(lang)}">HTML</a>',
            f'<a href="{_e(os.path.relpath(entry["pdf"], base))}" hreflang="{_e(lang)}">PDF</a>',
        ]
        if facts:
            links.append(f'<a href="{page}#provenance">{_e(text(lang, "provenance"))}</a>')
        if site:
            links += [
                f'<a href="{SITE_LINKS["data"]}">{_e(text(lang, "index_data"))}</a>',
                f'<a href="{SITE_LINKS["provenance"]}">PROVENANCE.txt</a>',
            ]
        plan = facts.get("plan-frozen") or "–"
        digest = facts.get("config-sha256", "–")
        rows.append(
            f'<tr><th scope="row">{_e(entry["wave"])}</th>'
            f'<td lang="{_e(lang)}">{_e(text(lang, "index_language"))}</td>'
            f"<td>{_e(facts.get('date', '–'))}</td>"
            f'<td class="num">{_e(facts.get("n", "–"))}</td>'
            f"<td><code>{_e(digest)}</code><br>{_e(plan)}</td>"
            f'<td lang="{_e(lang)}">{" · ".join(links)}</td></tr>'
        )
    title = f'{_e(text("nl", "title"))} / <span lang="en">{_e(text("en", "title"))}</span>'
    plain_title = f"{_e(text('nl', 'title'))} / {_e(text('en', 'title'))}"
    headers = "".join(f'<th scope="col">{_both(key)}</th>' for key in _INDEX_WORDS)
    page = (
        '<!DOCTYPE html>\n<html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{plain_title}</title><style>{INDEX_STYLE}</style></head><body><main>"
        f"<h1>{title}</h1>"
        f"<table><caption>{_both('index_report')}</caption>"
        f"<thead><tr>{headers}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></main></body></html>\n"
    )
    _write_atomically(index_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


def link_site(site: str | Path, pages: list[Path]) -> None:
    """The published folder's pages linked to each other (lcsurvey.report.publish): the index
    rewritten with each report's data package and PROVENANCE.txt (write_index, site=True), and
    each two-pager given a line of links on screen (not in print): the index, its PDF, the data
    package, its provenance section and PROVENANCE.txt.

    pages: the two-pagers' HTML files in `site` (WAVE/two_pager_LANG.html).
    """
    site = Path(site)
    entries = []
    for page in pages:
        lang = page.stem.rsplit("_", 1)[-1]
        pdf = page.with_suffix(".pdf")
        entries.append({"wave": page.parent.name, "lang": lang, "html": page, "pdf": pdf})
        up = os.path.relpath(site, page.parent)
        links = [
            (f"{up}/index.html", text(lang, "index_home")),
            (pdf.name, "PDF"),
            (f"{up}/{SITE_LINKS['data']}", text(lang, "index_data")),
        ]
        if report_facts(page):
            links.append(("#provenance", text(lang, "provenance")))
        links.append((f"{up}/{SITE_LINKS['provenance']}", "PROVENANCE.txt"))
        nav = (
            f'<nav class="site" aria-label="{_e(text(lang, "index_nav"))}" '
            'style="margin:0 0 1em 0;font-size:10pt">'
            + " · ".join(f'<a href="{_e(href)}">{_e(label)}</a>' for href, label in links)
            + "</nav>"
        )
        markup = page.read_text(encoding="utf-8")
        at = markup.find("<body>")
        at = 0 if at < 0 else at + len("<body>")
        markup = markup[:at] + nav + markup[at:]
        head = markup.find("</head>")
        if head >= 0:
            markup = (
                markup[:head]
                + "<style>@media print{nav.site{display:none}}</style>"
                + markup[head:]
            )
        page.write_text(markup, encoding="utf-8")
    write_index(entries, site / "index.html", site=True)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
