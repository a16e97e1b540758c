"""The rendered reports as a reader gets them: every two-pager and index page (reports/ after
`make run`, publish/ after `make publish`) opened in headless Chromium and checked with
axe-core's WCAG 2.1 A and AA rules, keyboard focus visible on every page with links, and every
two-pager's PDF checked against the machine-checkable requirements of PDF/A-3a and PDF/UA-1
(tests/pdf_checks.py).

Run by `make test-browser` (which renders and publishes first and installs what the checks
need); `make test` leaves these out (marker `rendered`). A missing browser, driver or axe-core
fails with what to run, never skips. Screenshots of every page go to bench/out/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import Browser, MissingTool, describe
from tests.pdf_checks import problems

pytestmark = pytest.mark.rendered

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "bench" / "out" / "screenshots"
TWO_PAGERS = sorted((ROOT / "reports").glob("*/two_pager_*.html"))
PUBLISHED = sorted((ROOT / "publish").glob("*/two_pager_*.html"))
INDEXES = [p for p in (ROOT / "reports" / "index.html", ROOT / "publish" / "index.html")]
PAGES = [*INDEXES, *TWO_PAGERS, *PUBLISHED]
LINKED = [*INDEXES, *PUBLISHED]  # the pages with links to move through with the keyboard


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def browser():
    try:
        with Browser() as session:
            yield session
    except MissingTool as err:
        pytest.fail(str(err), pytrace=False)


def test_the_reports_and_the_published_site_are_there():
    missing = [_name(p) for p in INDEXES if not p.is_file()]
    assert not missing, f"not rendered: {missing}; run 'make publish' (it runs the pipeline)"
    assert TWO_PAGERS, "no two-pagers in reports/; run 'make run'"
    assert len(PUBLISHED) == len(TWO_PAGERS), "publish/ is not the reports'; run 'make publish'"


@pytest.mark.parametrize("page", [p for p in PAGES if p.is_file()], ids=_name)
def test_axe_finds_no_wcag_2_1_a_or_aa_violation(browser, page):
    browser.open(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / (_name(page).replace("/", "_") + ".png"))
    violations = browser.axe()
    assert not violations, f"{_name(page)}:\n{describe(violations)}"


@pytest.mark.parametrize("page", [p for p in LINKED if p.is_file()], ids=_name)
def test_every_link_shows_its_keyboard_focus(browser, page):
    browser.open(page)
    links = browser.run("return document.querySelectorAll('a[href]').length;")
    assert links > 0
    for press in range(links):
        browser.press_tab()
        focus = browser.run(
            "const a = document.activeElement, s = getComputedStyle(a);"
            "return {tag: a.tagName, text: a.textContent, style: s.outlineStyle,"
            " width: parseFloat(s.outlineWidth)};"
        )
        assert focus["tag"] == "A", f"Tab {press + 1} on {_name(page)} reached {focus}"
        assert focus["style"] != "none" and focus["width"] >= 2, (
            f"{_name(page)}: the focus on link {focus['text']!r} is not visible ({focus})"
        )


@pytest.mark.parametrize("page", [p for p in TWO_PAGERS], ids=_name)
def test_the_pdf_is_tagged_archivable_and_two_a4_pages(page):
    found = problems(page.with_suffix(".pdf"), page)
    assert not found, f"{_name(page.with_suffix('.pdf'))}:\n" + "\n".join(found)


@pytest.mark.parametrize("page", [p for p in TWO_PAGERS], ids=_name)
def test_no_figure_number_is_lost_with_images_off(browser, page):
    """Every image has a text alternative, which the browser exposes as the image's name."""
    browser.open(page)
    images = browser.run(
        "return [...document.images].map(i => ({alt: i.alt, shown: i.naturalWidth > 0}));"
    )
    assert images, f"{_name(page)} has no figures"
    for image in images:
        assert image["shown"], f"{_name(page)}: an image did not load"
        assert len(image["alt"]) > 40 and any(c.isdigit() for c in image["alt"]), image["alt"]
