"""The machine-checkable requirements of PDF/A-3a (ISO 19005-3) and PDF/UA-1 (ISO 14289-1) that a
two-pager must meet, read with pikepdf.

`problems(pdf_path, html_path)` returns one line per requirement not met (empty: all met). The
requirements are named by their clause; the HTML page the PDF was made from tells what the PDF
must contain (language, title, headings in order, the figures' text alternatives in order).

Not checked here (no validator for them on the machine): the full rule sets of veraPDF (PDF/A's
and PDF/UA's Matterhorn protocol), e.g. glyph widths against the embedded font programs and the
semantic appropriateness of each tag; what a machine can check of them is below.
"""

from __future__ import annotations

import html.parser
from collections import Counter
from pathlib import Path

import pikepdf

PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"
PDFUAID = "{http://www.aiim.org/pdfua/ns/id/}"
DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"


class _Page(html.parser.HTMLParser):
    """What the HTML page says the PDF must carry: lang, title, headings and img alts in order."""

    def __init__(self):
        super().__init__()
        self.lang = None
        self.title = ""
        self.headings: list[str] = []
        self.alts: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "title":
            self._in_title = True
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(tag.upper())
        elif tag == "img":
            self.alts.append(attrs.get("alt") or "")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def read_page(html_path: str | Path) -> _Page:
    page = _Page()
    page.feed(Path(html_path).read_text(encoding="utf-8"))
    page.title = " ".join(page.title.split())
    return page


def structure(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    """The structure elements in document (reading) order, depth first."""
    found = []

    def walk(kids):
        if isinstance(kids, pikepdf.Dictionary):
            kids = [kids]
        elif not isinstance(kids, pikepdf.Array):
            return
        for kid in kids:
            if isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
                found.append(kid)
                walk(kid.get("/K"))

    walk(pdf.Root.StructTreeRoot.get("/K"))
    return found


def _fonts(pdf: pikepdf.Pdf):
    """Every font the pages use (Type0 fonts with their descendant), once each."""
    seen = set()
    for page in pdf.pages:
        fonts = page.Resources.get("/Font", {})
        for font in fonts.values():
            parts = [font, *font.get("/DescendantFonts", [])]
            for part in parts:
                if part.objgen in seen:
                    continue
                seen.add(part.objgen)
                yield font, part


def _marked_content_ids(page) -> tuple[set[int], int]:
    """The MCIDs of the page's marked content, and how many text-showing operators lie outside
    any marked-content sequence (neither tagged nor an artifact)."""
    mcids, untagged, depth = set(), 0, 0
    for operands, operator in pikepdf.parse_content_stream(page):
        op = str(operator)
        if op in ("BDC", "BMC"):
            depth += 1
            if op == "BDC" and isinstance(operands[1], pikepdf.Dictionary):
                mcid = operands[1].get("/MCID")
                if mcid is not None:
                    mcids.add(int(mcid))
        elif op == "EMC":
            depth -= 1
        elif op in ("Tj", "TJ", "'", '"', "Do") and depth == 0:
            untagged += 1
    return mcids, untagged


def _referenced_mcids(elements) -> Counter:
    """(page object, MCID) pairs the structure elements refer to."""
    referenced = Counter()
    for element in elements:
        kids = element.get("/K")
        kids = [kids] if not isinstance(kids, pikepdf.Array) else kids
        page = element.get("/Pg")
        for kid in kids:
            if isinstance(kid, int):
                referenced[(page.objgen if page is not None else None, int(kid))] += 1
            elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/MCR":
                kid_page = kid.get("/Pg", page)
                referenced[(kid_page.objgen, int(kid.MCID))] += 1
    return referenced


def problems(pdf_path: str | Path, html_path: str | Path, pages: int | None = 2) -> list[str]:
    """The PDF/A-3a and PDF/UA-1 requirements `pdf_path` does not meet, one line each.

    pages: the number of A4 pages the PDF must have (None: any).
    """
    page = read_page(html_path)
    found = []
    with pikepdf.open(pdf_path) as pdf:
        root = pdf.Root
        with pdf.open_metadata() as xmp:
            meta = dict(xmp)
        # -- PDF/A-3a ---------------------------------------------------------------------------
        if meta.get(PDFAID + "part") != "3" or meta.get(PDFAID + "conformance") != "A":
            found.append("PDF/A 6.6.4: XMP metadata does not identify PDF/A-3a (pdfaid:part 3, A)")
        intents = root.get("/OutputIntents", [])
        if not any(i.get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in i for i in intents):
            found.append("PDF/A 6.2.3: no PDF/A output intent with an ICC profile")
        if pdf.is_encrypted:
            found.append("PDF/A 6.1.4: the file is encrypted")
        if "/ID" not in pdf.trailer:
            found.append("PDF/A 6.1.3: the trailer has no file identifier (ID)")
        if "/JavaScript" in root.get("/Names", {}) or "/OpenAction" in root:
            found.append("PDF/A 6.6.1: JavaScript or an open action")
        info_title = str(pdf.docinfo.get("/Title", ""))
        if info_title != meta.get(DC_TITLE, ""):
            found.append(
                f"PDF/A 6.6.3: Info title {info_title!r} differs from XMP dc:title "
                f"{meta.get(DC_TITLE)!r}"
            )
        for font, part in _fonts(pdf):
            name = str(part.get("/BaseFont", "?"))
            descriptor = part.get("/FontDescriptor")
            if part.get("/Subtype") != "/Type0" and not (
                descriptor is not None
                and any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            ):
                found.append(f"PDF/A 6.2.11.4: font {name} is not embedded")
            if "/ToUnicode" not in font:
                found.append(f"PDF/A 6.2.11.7 (level A): font {name} has no ToUnicode map")
        for number, pdf_page in enumerate(pdf.pages, 1):
            for annotation in pdf_page.get("/Annots", []):
                if not int(annotation.get("/F", 0)) & 4:
                    found.append(f"PDF/A 6.3.2: an annotation on page {number} is not printed")
        # -- PDF/UA-1 (and PDF/A level A: tagged) -----------------------------------------------
        if meta.get(PDFUAID + "part") != "1":
            found.append("PDF/UA 5: XMP metadata does not identify PDF/UA-1 (pdfuaid:part 1)")
        if not bool(root.get("/MarkInfo", {}).get("/Marked", False)):
            found.append("PDF/UA 7.1: MarkInfo Marked is not true")
        if "/StructTreeRoot" not in root:
            found.append("PDF/UA 7.1: no structure tree")
            return found
        if not meta.get(DC_TITLE):
            found.append("PDF/UA 7.1: no dc:title in the XMP metadata")
        elif meta[DC_TITLE] != page.title:
            found.append(f"PDF/UA 7.1: title {meta[DC_TITLE]!r} is not the page's {page.title!r}")
        if not bool(root.get("/ViewerPreferences", {}).get("/DisplayDocTitle", False)):
            found.append("PDF/UA 7.1: ViewerPreferences DisplayDocTitle is not true")
        lang = str(root.get("/Lang", ""))
        if not lang or lang != page.lang:
            found.append(f"PDF/UA 7.2: document language {lang!r}, the page's is {page.lang!r}")
        elements = structure(pdf)
        kinds = [str(e.S)[1:] for e in elements]
        headings = [k for k in kinds if k in ("H1", "H2", "H3", "H4", "H5", "H6")]
        if headings != page.headings:
            found.append(
                f"PDF/UA 7.4 / reading order: headings {headings} differ from the page's "
                f"{page.headings}"
            )
        level = 0
        for heading in headings:
            if int(heading[1]) > level + 1:
                found.append(f"PDF/UA 7.4.2: heading {heading} follows H{level}, skipping a level")
            level = int(heading[1])
        alts = [str(e.get("/Alt", "")) for e in elements if e.S == "/Figure"]
        if any(not alt.strip() for alt in alts):
            found.append("PDF/UA 7.3: a Figure has no alternative text (Alt)")
        if alts != page.alts:
            found.append(
                "PDF/UA 7.3 / reading order: the figures' Alt texts differ from the page's img "
                "alts, or come in another order"
            )
        for element in elements:
            if element.S == "/Table":
                rows = [e for e in _children(element) if e.S in ("/THead", "/TBody", "/TR")]
                cells = [str(c.S) for r in rows for c in _descendants(r)]
                if "/TH" not in cells:
                    found.append("PDF/UA 7.5: a table has no header cells (TH)")
                ids = {str(c.get("/ID")) for r in rows for c in _descendants(r) if c.S == "/TH"}
                for cell in (c for r in rows for c in _descendants(r) if c.S == "/TD"):
                    headers = {str(h) for h in cell.get("/A", {}).get("/Headers", [])}
                    if not headers or not headers <= ids:
                        found.append(
                            "PDF/UA 7.5: a data cell (TD) names no header cell of its table "
                            "(Headers and IDs)"
                        )
                        break
        referenced = _referenced_mcids(elements)
        for number, pdf_page in enumerate(pdf.pages, 1):
            mcids, untagged = _marked_content_ids(pdf_page)
            if untagged:
                found.append(
                    f"PDF/UA 7.1: page {number} has {untagged} drawing operators that are "
                    "neither tagged nor an artifact"
                )
            orphans = [m for m in mcids if referenced[(pdf_page.objgen, m)] == 0]
            if orphans:
                found.append(
                    f"PDF/UA 7.1: page {number} has marked content no structure element refers "
                    f"to (MCIDs {sorted(orphans)[:5]})"
                )
            if "/Annots" in pdf_page and pdf_page.get("/Tabs") != "/S":
                found.append(f"PDF/UA 7.18.3: page {number} has annotations but Tabs is not /S")
        if pages is not None:
            if len(pdf.pages) != pages:
                found.append(f"layout: {len(pdf.pages)} pages, expected {pages}")
            for number, pdf_page in enumerate(pdf.pages, 1):
                width, height = (float(v) for v in list(pdf_page.MediaBox)[2:])
                if abs(width - 595.28) > 1 or abs(height - 841.89) > 1:
                    found.append(f"layout: page {number} is {width:.0f} x {height:.0f} pt, not A4")
    return found


def _children(element):
    kids = element.get("/K")
    kids = [kids] if isinstance(kids, pikepdf.Dictionary) else (kids or [])
    return [k for k in kids if isinstance(k, pikepdf.Dictionary) and "/S" in k]


def _descendants(element):
    for kid in _children(element):
        yield kid
        yield from _descendants(kid)
