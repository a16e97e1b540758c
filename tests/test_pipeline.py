"""End to end: the whole Snakemake workflow on a small simulated wave in a temporary copy.

Checks what a new user relies on: every output of DESIGN.md is written, the flow adds up,
no PII reaches any output, a rerun does nothing, and a broken wave stops with a clear message
and no partial outputs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import ROOT, copy_workflow

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SIMULATE = str(Path(sys.executable).with_name("lcsurvey-simulate"))
PII = ["RecipientEmail", "RecipientFirstName", "RecipientLastName", "IPAddress"]


def make_project(where: Path, waves: dict[str, str]) -> Path:
    copy_workflow(where)
    (where / "data" / "raw").mkdir(parents=True)
    shutil.copy2(ROOT / "data" / "codebook.yaml", where / "data" / "codebook.yaml")
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["waves"] = waves
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return where


def simulate(where: Path, wave: str, n: int) -> Path:
    subprocess.run(
        [
            SIMULATE,
            "--out",
            str(where / "data" / "raw"),
            "--wave",
            wave,
            "--n",
            str(n),
            "--format",
            "csv",
            "--seed",
            "7",
        ],
        check=True,
        capture_output=True,
    )
    return where / "data" / "raw" / f"wave_{wave}.csv"


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args], cwd=where, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    where = make_project(
        tmp_path_factory.mktemp("project"), {"2030-01": "data/raw/wave_2030-01.csv"}
    )
    simulate(where, "2030-01", 260)
    run = snakemake(where)
    assert run.returncode == 0, run.stderr[-3000:]
    return where


FLOW_COLUMNS = ["step", "n_before", "n_removed", "n_after", "n_flagged"]
RELIABILITY_COLUMNS = [
    "construct",
    "n_items",
    "n",
    "alpha",
    "alpha_std",
    "alpha_ci_lower",
    "alpha_ci_upper",
    "omega_total",
    "warning",
]
ITEM_COLUMNS = [
    "item",
    "construct",
    "n",
    "mean",
    "sd",
    "missing_share",
    "r_drop",
    "alpha_if_dropped",
    "skew",
    "kurtosis",
    "floor_share",
    "ceiling_share",
    "warning",
]
ESTIMATE_COLUMNS = [
    "lhs",
    "op",
    "rhs",
    "label",
    "est",
    "se",
    "z",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "std_all",
    "std_all_se",
    "std_all_z",
    "std_all_pvalue",
    "std_all_ci_lower",
    "std_all_ci_upper",
]
FIT_COLUMNS = [
    "ntotal",
    "estimator",
    "missing",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci_lower",
    "rmsea_ci_upper",
    "srmr",
    "aic",
    "bic",
    "chisq_scaled",
    "chisq_scaling_factor",
    "pvalue_scaled",
    "cfi_robust",
    "tli_robust",
    "rmsea_robust",
    "rmsea_ci_lower_robust",
    "rmsea_ci_upper_robust",
    "nclusters",
]


def report_text(path: Path) -> str:
    """The visible text of an HTML report, tags and styles removed, whitespace collapsed."""
    import html
    import re

    page = path.read_text(encoding="utf-8")
    page = re.sub(r"(?s)<(style|script)[^>]*>.*?</\1>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_every_output_is_written_with_its_columns_and_counts(project):
    from lcsurvey.survey.codebook import load_codebook

    from .test_known_answers import config_digest, validated_config

    wave = project / "results" / "2030-01"
    book = load_codebook(project / "data" / "codebook.yaml")
    raw = pd.read_csv(project / "data/raw/wave_2030-01.csv", skiprows=[1, 2])

    flow = pd.read_csv(wave / "clean/flow.csv")
    assert list(flow.columns) == FLOW_COLUMNS
    assert flow["n_before"].iloc[0] == len(raw)
    assert (flow["n_after"].iloc[:-1].to_numpy() == flow["n_before"].iloc[1:].to_numpy()).all()
    n_kept = int(flow["n_after"].iloc[-1])
    assert 0 < n_kept < len(raw)

    kept = pd.read_parquet(wave / "clean/responses.parquet")
    assert list(kept.columns[:2]) == ["rid", "wave"] and set(kept["wave"]) == {"2030-01"}
    assert set(book.items) <= set(kept.columns)
    assert len(kept) == n_kept and kept["rid"].is_unique
    quarantine = pd.read_parquet(wave / "clean/quarantine.parquet")
    assert len(quarantine) == flow["n_removed"].sum() and "reasons" in quarantine.columns

    # One row per scale: the codebook's constructs, then its composites (the items of theirs).
    parts = {name: c.items for name, c in book.constructs.items()}
    parts |= {
        name: tuple(i for part in c.parts for i in parts[part])
        for name, c in book.composites.items()
    }
    reliability = pd.read_csv(wave / "scales/reliability.csv")
    assert list(reliability.columns) == RELIABILITY_COLUMNS
    assert list(reliability["construct"]) == list(parts)
    assert reliability["n_items"].tolist() == [len(p) for p in parts.values()]
    assert reliability["n"].between(1, n_kept).all()
    assert (
        reliability["alpha"].between(0, 1).all() and reliability["omega_total"].between(0, 1).all()
    )
    items = pd.read_csv(wave / "scales/items.csv")
    assert list(items.columns) == ITEM_COLUMNS
    assert sorted(zip(items["construct"], items["item"], strict=True)) == sorted(
        (name, item) for name, members in parts.items() for item in members
    )
    scores = pd.read_parquet(wave / "scales/scores.parquet")
    assert list(scores.columns) == ["rid", *parts] and len(scores) == n_kept
    assert list(scores["rid"]) == list(kept["rid"])

    estimates = pd.read_csv(wave / "models/transfer/estimates.csv")
    assert list(estimates.columns) == ESTIMATE_COLUMNS
    free = estimates["se"].notna()
    assert free.sum() > 50 and (estimates.loc[free, "se"] > 0).all()
    assert {"a", "b"} <= set(estimates["label"].dropna())
    fit = pd.read_csv(wave / "models/transfer/fit.csv")
    assert list(fit.columns) == FIT_COLUMNS and len(fit) == 1
    fit = fit.iloc[0]
    assert fit["ntotal"] == n_kept and fit["missing"] == "fiml" and fit["df"] > 0
    assert 0.8 < fit["cfi"] <= 1

    # Respondents nested in communities (estimation.cluster: community): cluster-robust MLR,
    # the bootstrap over communities, the agreement statistics of every construct.
    communities = kept["community"].nunique() + int(kept["community"].isna().sum())
    assert fit["estimator"] == "MLR" and fit["nclusters"] == communities
    assert fit["chisq_scaling_factor"] > 0 and 0.8 < fit["cfi_robust"] <= 1
    boot = pd.read_csv(wave / "models/transfer/bootstrap.csv").iloc[0]
    assert boot["resampling"] == "clusters" and boot["clusters"] == communities
    agreement = pd.read_csv(wave / "scales/agreement.csv")
    assert list(agreement["construct"]) == list(parts)
    assert (agreement["groups"] == kept["community"].nunique()).all()
    assert agreement["icc1"].notna().all() and agreement["note"].isna().all()
    cfa = pd.read_csv(wave / "scales/cfa_fit.csv").set_index("model")
    assert cfa.loc["joint", "nclusters"] == communities

    digest = config_digest(validated_config(project / "config.yaml"), "2030-01")
    for lang in ("nl", "en"):
        assert (project / "reports" / "2030-01" / f"two_pager_{lang}.pdf").stat().st_size > 0
        text = report_text(project / "reports" / "2030-01" / f"two_pager_{lang}.html")
        assert "2030-01" in text and digest in text
        assert f"{len(raw)} " in text and f" {n_kept} " in text
    english = report_text(project / "reports" / "2030-01" / "two_pager_en.html")
    assert f"Response: {len(raw)} returned, {n_kept} usable." in english
    assert (
        f"Estimation: MLR, cluster-robust over {kept['community'].nunique()} communities "
        "(bootstrap: whole communities), missing answers: FIML"
    ) in english
    assert (
        f"scaled χ²({int(fit['df'])}) = {fit['chisq_scaled']:.1f}, CFI = {fit['cfi_robust']:.3f}, "
        f"TLI = {fit['tli_robust']:.3f}, RMSEA = {fit['rmsea_robust']:.3f}"
    ) in english
    assert "Agreement within communities" in english


def test_nothing_is_lost(project):
    raw = pd.read_csv(project / "data/raw/wave_2030-01.csv", skiprows=[1, 2])
    clean = project / "results" / "2030-01" / "clean"
    kept = pd.read_parquet(clean / "responses.parquet")
    quarantine = pd.read_parquet(clean / "quarantine.parquet")
    flow = pd.read_csv(clean / "flow.csv")
    assert len(kept) + len(quarantine) == len(raw)
    assert flow["n_before"].iloc[0] == len(raw)
    assert flow["n_after"].iloc[-1] == len(kept)
    assert (flow["n_before"] - flow["n_removed"] == flow["n_after"]).all()
    assert quarantine["reasons"].str.len().gt(0).all()


def test_no_pii_in_any_output(project):
    raw = pd.read_csv(project / "data/raw/wave_2030-01.csv", skiprows=[1, 2], dtype=str)
    secrets = {v for column in PII for v in raw[column].dropna() if len(v) > 3}
    assert secrets
    texts = []
    for path in [
        *(project / "results").rglob("*"),
        *(project / "reports").rglob("*"),
        *(project / "logs").rglob("*"),
    ]:
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            texts.append(" ".join(frame.columns) + frame.astype(str).to_csv())
        elif path.suffix == ".pdf":
            from pypdf import PdfReader

            texts.append(" ".join(page.extract_text() for page in PdfReader(path).pages))
        else:
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    everything = "\n".join(texts)
    leaked = [s for s in secrets if s in everything]
    assert not leaked, leaked[:3]
    for column in PII:
        assert column not in everything


def test_one_wave_gives_pooled_tables_and_header_only_comparisons(project):
    from lcsurvey.study.waves import ATTRITION_COLUMNS, CHANGE_COLUMNS

    pooled = project / "results" / "pooled"
    kept = pd.read_parquet(project / "results" / "2030-01" / "clean" / "responses.parquet")
    responses = pd.read_parquet(pooled / "responses.parquet")
    assert len(responses) == len(kept) and set(responses["wave"]) == {"2030-01"}
    means = pd.read_csv(pooled / "means.csv")
    assert set(means["wave"]) == {"2030-01"} and means["mean"].notna().all()
    for name, columns in [("changes.csv", CHANGE_COLUMNS), ("attrition.csv", ATTRITION_COLUMNS)]:
        table = pd.read_csv(pooled / name)
        assert table.empty and list(table.columns) == columns, name
    for name in ("panel_estimates.csv", "panel_fit.csv"):
        table = pd.read_csv(pooled / name)
        assert table.empty and list(table.columns)[:2] == ["wave_from", "wave_to"], name


def test_rerun_does_nothing(project):
    run = snakemake(project, "--dry-run")
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_broken_wave_stops_with_a_clear_message_and_no_partial_outputs(tmp_path):
    where = make_project(tmp_path, {"2030-02": "data/raw/wave_2030-02.csv"})
    path = simulate(where, "2030-02", 80)
    lines = path.read_text(encoding="utf-8-sig").split("\n")
    target = next(i for i, line in enumerate(lines) if i >= 3 and ",Mee eens," in line)
    lines[target] = lines[target].replace(",Mee eens,", ",Zeer mee eens,", 1)
    path.write_text("\n".join(lines), encoding="utf-8")
    run = snakemake(where)
    assert run.returncode != 0
    message = run.stdout + run.stderr
    assert (
        f"row {target + 1}" in message
        and "Zeer mee eens" in message
        and "wave_2030-02.csv" in message
    )
    assert not (where / "results" / "2030-02" / "clean").exists() or not any(
        (where / "results" / "2030-02" / "clean").iterdir()
    )


def test_a_config_that_fails_its_schema_names_the_field(tmp_path):
    where = make_project(tmp_path, {"2030-03": "data/raw/wave_2030-03.csv"})
    config = yaml.safe_load((where / "config.yaml").read_text(encoding="utf-8"))
    config["report"]["min_cell"] = "ten"
    (where / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run = snakemake(where, "--dry-run")
    assert run.returncode != 0
    message = run.stdout + run.stderr
    assert "min_cell" in message and "'ten' is not of type 'integer'" in message


def test_snakemake_report_is_built(project):
    run = snakemake(project, "--report", "reports/workflow_report.html")
    assert run.returncode == 0, run.stderr[-2000:]
    report = project / "reports" / "workflow_report.html"
    assert report.stat().st_size > 100_000  # the page embeds the figures, tables and reports


def test_rerun_on_one_core_gives_identical_files(project):
    import hashlib

    def digests() -> dict[str, str]:
        files = [
            *(project / "results").rglob("*.csv"),
            *(project / "results").rglob("*.parquet"),
            *(project / "reports").rglob("*.html"),
            *(project / "results").rglob("*.png"),
        ]
        return {
            str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
        }

    before = digests()
    run = subprocess.run(
        [SNAKEMAKE, "--cores", "1", "--forceall", "--quiet"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    after = digests()
    assert before.keys() == after.keys()
    changed = [name for name in before if before[name] != after[name]]
    assert not changed
