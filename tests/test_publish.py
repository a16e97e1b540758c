"""make publish: a self-contained static folder with provenance; external resources refused."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.report.publish import publish


@pytest.fixture
def site(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "w1.csv").write_text("ResponseId\nR_1\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"waves": {"w1": "data/w1.csv"}}), encoding="utf-8")
    reports = tmp_path / "reports"
    (reports / "w1").mkdir(parents=True)
    (reports / "index.html").write_text('<a href="w1/two_pager_nl.html">nl</a>', encoding="utf-8")
    (reports / "w1" / "two_pager_nl.html").write_text(
        '<img src="data:image/png;base64,AAAA">', encoding="utf-8"
    )
    (reports / "w1" / "two_pager_nl.pdf").write_bytes(b"%PDF-1.7 test")
    (reports / "w1" / "notes.txt").write_text("not published", encoding="utf-8")
    return tmp_path, reports, config


def test_publish_copies_reports_and_writes_provenance(site):
    root, reports, config = site
    out = root / "publish"
    files = publish(reports, out, config)
    assert sorted(p.relative_to(out).as_posix() for p in files) == [
        "index.html",
        "w1/two_pager_nl.html",
        "w1/two_pager_nl.pdf",
    ]
    assert not (out / "w1" / "notes.txt").exists()
    provenance = (out / "PROVENANCE.txt").read_text(encoding="utf-8")
    raw_hash = hashlib.sha256((root / "data" / "w1.csv").read_bytes()).hexdigest()
    assert f"raw data of wave w1 (w1.csv) sha256: {raw_hash}" in provenance
    pdf_hash = hashlib.sha256(b"%PDF-1.7 test").hexdigest()
    assert f"{pdf_hash}  w1/two_pager_nl.pdf" in provenance


def test_a_page_that_loads_from_another_host_is_refused(site):
    root, reports, config = site
    (reports / "w1" / "two_pager_nl.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example.org/x.css">', encoding="utf-8"
    )
    with pytest.raises(InputError, match="loads something from another host"):
        publish(reports, root / "publish", config)
    assert not (root / "publish").exists()
