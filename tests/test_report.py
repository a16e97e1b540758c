"""The two-pager: statistics helpers, and the rendered report (notebook -> HTML -> PDF).

A small results directory is simulated here, so these tests run without the earlier stages.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pypdf
import pytest
import yaml
from scipy import stats

from lcsurvey.digest import sha256_file
from lcsurvey.errors import InputError
from lcsurvey.report import figures, findings, provenance, sections, sentences, wording
from lcsurvey.report import inputs as report_inputs
from lcsurvey.report import numbers as printed
from lcsurvey.report import render as rendering
from lcsurvey.study import analyses
from lcsurvey.survey.codebook import load_codebook

REPO = Path(__file__).resolve().parents[1]
CODEBOOK = REPO / "data" / "codebook.yaml"
NOTEBOOK = REPO / "notebooks" / "two_pager.ipynb"
WAVE = "2099-01"
MIN_CELL = 10
A4 = (595.28, 841.89)
# The configuration digest the workflow passes (SHA-256 of the configuration up to WAVE).
CONFIG_DIGEST = "5e0c" * 16

# Background categories with known sizes; the small ones must never be printed on their own.
SECTOR_SIZES = {1: 80, 2: 90, 3: 59, 4: 6}
ORG_SIZE_SIZES = {1: 4, 2: 3, 3: 110, 4: 113}  # plus 5 missing
MAIN_MOTIVE_SIZES = {1: 120, 2: 80, 3: 8, 4: 20, 5: 7}
SMALL = {"sector": [4], "org_size": [1, 2], "main_motive": [3, 5]}


# --------------------------------------------------------------------------------------------
# Fixture: a simulated results directory with plain numpy/pandas versions of every table.
# --------------------------------------------------------------------------------------------


def _alpha(items: pd.DataFrame) -> float:
    k = items.shape[1]
    return k / (k - 1) * (1 - items.var(ddof=1).sum() / items.sum(axis=1).var(ddof=1))


def _ols_paths(scores: pd.DataFrame, outcome: str, predictors: list[str]) -> list[dict]:
    """Regression of composite scores: est on the raw scale, std_all on z-scores."""
    data = scores[[outcome, *predictors]].dropna()
    y = data[outcome].to_numpy()
    x = np.column_stack([np.ones(len(data)), data[predictors].to_numpy()])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = resid @ resid / (len(y) - x.shape[1])
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    rows = []
    for j, predictor in enumerate(predictors, start=1):
        z = beta[j] / se[j]
        rows.append(
            {
                "lhs": outcome,
                "op": "~",
                "rhs": predictor,
                "label": "",
                "est": beta[j],
                "se": se[j],
                "z": z,
                "pvalue": 2 * stats.norm.sf(abs(z)),
                "ci_lower": beta[j] - 1.96 * se[j],
                "ci_upper": beta[j] + 1.96 * se[j],
                "std_all": beta[j] * data[predictor].std() / data[outcome].std(),
            }
        )
    return rows


def write_results_fixture(root: Path, wave: str = WAVE, seed: int = 7) -> dict[str, Path]:
    """Simulate one wave's results tables (as the clean, scales and models stages write them)."""
    rng = np.random.default_rng(seed)
    codebook = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    book = load_codebook(CODEBOOK)

    def codes(sizes: dict[int, int], n_missing: int = 0) -> np.ndarray:
        values = np.concatenate(
            [np.full(n, float(c)) for c, n in sizes.items()] + [np.full(n_missing, np.nan)]
        )
        return rng.permutation(values)

    n = sum(SECTOR_SIZES.values())
    latent = {"climate": rng.normal(size=n), "support": rng.normal(size=n)}
    latent["safety"] = 0.55 * latent["climate"] + rng.normal(scale=0.85, size=n)
    latent["learning"] = (
        0.45 * latent["safety"] + 0.15 * latent["climate"] + rng.normal(scale=0.85, size=n)
    )
    latent["perceived"] = 0.55 * latent["learning"] + rng.normal(scale=0.85, size=n)
    latent["transfer"] = (
        0.45 * latent["perceived"] + 0.03 * latent["support"] + rng.normal(scale=0.85, size=n)
    )
    source = {  # construct -> (latent, sign, item mean)
        "motive_knowledge": (None, 1, 4.2),
        "motive_network": (None, 1, 3.8),
        "motive_labour": (None, 1, 2.4),
        "motive_societal": (None, 1, 3.05),
        "facilitation": ("climate", 1, 3.9),
        "appreciation": ("climate", 1, 4.0),
        "error_avoidance": ("climate", -1, 2.2),
        "psychological_safety": ("safety", 1, 5.2),
        "learning_behaviour": ("learning", 1, 3.7),
        "perceived_learning": ("perceived", 1, 3.8),
        "network_gain": ("perceived", 1, 3.5),
        "home_support": ("support", 1, 3.3),
        "knowledge_transfer": ("transfer", 1, 3.4),
    }
    responses = pd.DataFrame({"rid": [f"p{i:04d}" for i in range(n)]})
    for construct, (factor, sign, mean) in source.items():
        common = latent[factor] if factor else rng.normal(size=n)
        for item in codebook["constructs"][construct]["items"]:
            low, high = report_inputs.construct_range(book, construct)
            raw = mean + sign * 0.7 * common + rng.normal(scale=0.7, size=n)
            responses[item] = np.clip(np.round(raw), low, high)
    responses["useful"] = np.clip(np.round(rng.normal(7.5, 1.2, size=n)), 1, 10)
    responses.loc[rng.choice(n, 12, replace=False), "tr3"] = np.nan
    responses["community"] = rng.integers(1, 15, size=n).astype(float)
    responses["sector"] = codes(SECTOR_SIZES)
    responses["org_size"] = codes(ORG_SIZE_SIZES, n_missing=n - sum(ORG_SIZE_SIZES.values()))
    responses["role"] = rng.integers(1, 6, size=n).astype(float)
    responses["age"] = rng.integers(22, 64, size=n).astype(float)
    responses["gender"] = rng.integers(1, 4, size=n).astype(float)
    responses["months"] = rng.integers(1, 36, size=n).astype(float)
    responses["main_motive"] = codes(
        MAIN_MOTIVE_SIZES, n_missing=n - sum(MAIN_MOTIVE_SIZES.values())
    )

    scores = pd.DataFrame({"rid": responses["rid"]})
    reliability, items = [], []
    for construct, spec in codebook["constructs"].items():
        block = responses[spec["items"]]
        scores[construct] = block.mean(axis=1)
        alpha = _alpha(block.dropna())
        reliability.append(
            {
                "construct": construct,
                "n_items": len(spec["items"]),
                "n": len(block.dropna()),
                "alpha": alpha,
                "alpha_std": alpha,
                "alpha_ci_lower": alpha - 0.04,
                "alpha_ci_upper": min(alpha + 0.03, 0.99),
                "omega_total": min(alpha + 0.01, 0.99),
            }
        )
        for item in spec["items"]:
            rest = block.drop(columns=item).mean(axis=1)
            items.append(
                {
                    "item": item,
                    "construct": construct,
                    "n": int(block[item].notna().sum()),
                    "mean": block[item].mean(),
                    "sd": block[item].std(),
                    "missing_share": block[item].isna().mean(),
                    "r_drop": block[item].corr(rest),
                    "alpha_if_dropped": _alpha(block.drop(columns=item).dropna()),
                }
            )

    latent_scores = pd.DataFrame(
        {
            "climate": scores[["facilitation", "appreciation"]].mean(axis=1),
            "safety": scores["psychological_safety"],
            "learning": scores["learning_behaviour"],
            "perceived": scores["perceived_learning"],
            "support": scores["home_support"],
            "transfer": scores["knowledge_transfer"],
        }
    )
    estimates = []
    for outcome, predictors in (
        ("safety", ["climate"]),
        ("learning", ["safety", "climate"]),
        ("perceived", ["learning"]),
        ("transfer", ["perceived", "support"]),
    ):
        estimates += _ols_paths(latent_scores, outcome, predictors)
    coef = {(r["lhs"], r["rhs"]): r for r in estimates}
    a, b, c, d, e = (
        coef[k]["est"]
        for k in (
            ("safety", "climate"),
            ("learning", "safety"),
            ("learning", "climate"),
            ("perceived", "learning"),
            ("transfer", "perceived"),
        )
    )
    defined = {
        "indirect": (a * b * d * e + c * d * e, "a*b*d*e+c*d*e"),
        "via_safety": (a * b * d * e, "a*b*d*e"),
    }
    intervals = []
    for name, (value, formula) in defined.items():
        se = abs(value) / 3
        estimates.append(
            {
                "lhs": name,
                "op": ":=",
                "rhs": formula,
                "label": name,
                "est": value,
                "se": se,
                "z": 3.0,
                "pvalue": 0.0027,
                "ci_lower": value - 1.96 * se,
                "ci_upper": value + 1.96 * se,
                "std_all": value * 0.9,
            }
        )
        # bootstrap intervals unlike the delta method's, so that the printed one can be told;
        # via_safety has no BCa interval (the report then prints the percentile interval)
        intervals.append(
            {
                "lhs": name,
                "op": ":=",
                "rhs": formula,
                "label": name,
                "est": value,
                "se": se,
                "ci_lower": value - 1.96 * se,
                "ci_upper": value + 1.96 * se,
                "boot_se": se,
                "boot_ci_lower": 0.45 * value,
                "boot_ci_upper": 1.6 * value,
                "bca_ci_lower": 0.5 * value if name == "indirect" else np.nan,
                "bca_ci_upper": 1.7 * value if name == "indirect" else np.nan,
                "mc_ci_lower": np.nan,
                "mc_ci_upper": np.nan,
            }
        )
    for factor, item_list in (
        ("climate", ["fac1", "fac2", "fac3", "app1", "app2", "app3"]),
        ("safety", [f"ps{i}" for i in range(1, 8)]),
    ):
        for item in item_list:
            estimates.append(
                {
                    "lhs": factor,
                    "op": "=~",
                    "rhs": item,
                    "label": "",
                    "est": 1.0,
                    "se": 0.1,
                    "z": 10.0,
                    "pvalue": 0.0,
                    "ci_lower": 0.8,
                    "ci_upper": 1.2,
                    "std_all": 0.7,
                }
            )

    steps = [
        ("preview", 2),
        ("consent", 3),
        ("progress", 8),
        ("duplicates", 2),
        ("speeders", 4),
        ("attention", 3),
        ("straightlining", 1),
        ("missing", 2),
    ]
    n_before = n + sum(k for _, k in steps)
    flow = []
    for step, removed in steps:
        flow.append(
            {
                "step": step,
                "n_before": n_before,
                "n_removed": removed,
                "n_after": n_before - removed,
            }
        )
        n_before -= removed

    book = load_codebook(CODEBOOK)
    moderation = analyses.moderation(scores)

    paths = {
        **report_inputs.input_paths(
            root / "results",
            wave,
            CODEBOOK,
            "transfer",
            data_file=root / "data" / "raw" / f"wave_{wave}.csv",
        ),
        "config": root / "config.yaml",
    }
    paths["items"] = paths.pop("item_stats")
    for name, path in paths.items():
        if name == "codebook":
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
    responses.to_parquet(paths["responses"], index=False)
    scores.to_parquet(paths["scores"], index=False)
    pd.DataFrame(flow).to_csv(paths["flow"], index=False)
    pd.DataFrame(reliability).to_csv(paths["reliability"], index=False, float_format="%.6f")
    pd.DataFrame(items).to_csv(paths["items"], index=False, float_format="%.6f")
    pd.DataFrame(estimates).to_csv(paths["estimates"], index=False, float_format="%.6f")
    pd.DataFrame(intervals).to_csv(paths["intervals"], index=False, float_format="%.10g")
    analyses_tables = {
        "motives": analyses.motives(scores, book),
        "main_motive": analyses.main_motive(responses, book, min_cell=MIN_CELL),
        "moderation": moderation.coefficients,
        "simple_slopes": moderation.simple_slopes,
        "diversity": analyses.diversity(responses, scores),
    }
    for name, table in analyses_tables.items():  # as the analyses rule writes them
        table.to_csv(paths[name], index=False, float_format="%.10g")
    pd.DataFrame(
        [
            {
                "ntotal": n,
                "estimator": "ML",
                "missing": "fiml",
                "chisq": 512.3,
                "df": 449,
                "pvalue": 0.021,
                "cfi": 0.962,
                "tli": 0.958,
                "rmsea": 0.031,
                "rmsea_ci_lower": 0.017,
                "rmsea_ci_upper": 0.041,
                "srmr": 0.052,
                "aic": 21034.5,
                "bic": 21420.9,
            }
        ]
    ).to_csv(paths["fit"], index=False)
    # Clustered by community: the fit's cluster count, the bootstrap's resampling and the
    # agreement statistics (facilitation and appreciation shared; error avoidance has high
    # r_wg(j) but no difference between communities; safety too little agreement).
    fit = pd.read_csv(paths["fit"]).assign(nclusters=14)
    fit.to_csv(paths["fit"], index=False)
    pd.DataFrame(
        [
            {
                "draws_requested": 2000,
                "draws_ok": 2000,
                "draws_failed": 0,
                "method": "fiml-bfgs",
                "seed": 1,
                "chunk_size": 50,
                "resampling": "clusters",
                "clusters": 14,
            }
        ]
    ).to_csv(paths["bootstrap"], index=False)
    pd.DataFrame(
        [
            (c, n, 14, i1, i2, r, r, share, ad, ad, 5 / 6, 3, "")
            for c, n, i1, i2, r, share, ad in AGREEMENT
        ],
        columns=report_inputs.REQUIRED_COLUMNS["agreement"],
    ).to_csv(paths["agreement"], index=False)
    pd.DataFrame(
        [
            {
                "model": "joint",
                "ntotal": n,
                "chisq": 1301.7,
                "df": 1169,
                "pvalue": 0.004,
                "cfi": 0.968,
                "tli": 0.965,
                "rmsea": 0.022,
                "rmsea_ci_lower": 0.014,
                "rmsea_ci_upper": 0.028,
                "srmr": 0.047,
                "aic": 35830.2,
                "bic": 36679.1,
            }
        ]
    ).to_csv(paths["cfa_fit"], index=False)
    paths["raw"].parent.mkdir(parents=True, exist_ok=True)
    paths["raw"].write_text("ResponseId,Q6_1\nR_1,4\n", encoding="utf-8")
    paths["config"].write_text(
        f'codebook: {CODEBOOK}\nwaves:\n  "{wave}": {paths["raw"]}\n'
        "report:\n  languages: [nl, en]\n  min_cell: 10\n  model: transfer\n",
        encoding="utf-8",
    )
    return paths


# Agreement within communities: (construct, n, ICC(1), ICC(2), r_wg(j), share >= .70, AD_M).
AGREEMENT = [
    ("facilitation", 230, 0.087, 0.61, 0.83, 0.91, 0.64),
    ("appreciation", 231, 0.112, 0.67, 0.79, 0.82, 0.69),
    ("error_avoidance", 229, -0.013, -0.21, 0.81, 0.91, 0.66),
    ("psychological_safety", 232, 0.041, 0.39, 0.52, 0.27, 1.21),
    ("knowledge_transfer", 230, 0.020, 0.22, 0.77, 0.73, 0.70),
]
EARLIER, LATER = "2098-06", "2099-06"  # waves configured before and after WAVE
# Changes from EARLIER to WAVE: (construct, diff, ci half-width, p, comparable, n_from, n_to).
CHANGES = [
    ("facilitation", 0.31, 0.12, 0.0004, "yes", 120, 235),  # higher, comparable
    ("appreciation", -0.22, 0.15, 0.004, "partly (metric)", 118, 235),  # lower, metric only
    ("error_avoidance", 0.05, 0.14, 0.48, "yes", 119, 235),  # no clear change
    ("psychological_safety", 0.40, 0.13, 0.0001, "no", 121, 235),  # not comparable
    ("learning_behaviour", 0.61, 0.30, 0.0002, "yes", 7, 235),  # too few in EARLIER: hidden
    ("perceived_learning", -0.02, 0.12, 0.74, "yes", 120, 235),
    ("home_support", 0.08, 0.13, 0.23, "not tested", 117, 235),
    ("knowledge_transfer", 0.12, 0.14, 0.09, "yes", 120, 235),
]


def write_crosswave_fixture(root: Path) -> dict[str, Path]:
    """Tables across three waves (EARLIER, WAVE, LATER) as the pooled and invariance stages and
    the power analysis write them; the report of WAVE must ignore LATER."""
    everything = report_inputs.input_paths(
        root / "results", WAVE, CODEBOOK, waves=[EARLIER, WAVE], power_note=True
    )
    paths = {name: everything[name] for name in ("means", "changes", "invariance", "power")}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    means, changes = [], []
    for construct, diff, half, p, comparable, n_from, n_to in CHANGES:
        for wave, n, mean in ((EARLIER, n_from, 3.5), (WAVE, n_to, 3.5 + diff), (LATER, 200, 9.87)):
            means.append(
                {
                    "construct": construct,
                    "wave": wave,
                    "n": n,
                    "mean": mean,
                    "sd": 0.8,
                    "se": 0.8 / np.sqrt(n),
                    "ci_lower": mean - 0.1,
                    "ci_upper": mean + 0.1,
                    "suppressed": n < MIN_CELL,
                }
            )
        changes.append(
            {
                "construct": construct,
                "wave_from": EARLIER,
                "wave_to": WAVE,
                "n_from": n_from,
                "n_to": n_to,
                "diff": diff,
                "se": half / 1.96,
                "ci_lower": diff - half,
                "ci_upper": diff + half,
                "pvalue": p,
                "test": "Welch t",
                "comparable": comparable,
                "suppressed": min(n_from, n_to) < MIN_CELL,
            }
        )
        changes.append(
            {
                "construct": construct,
                "wave_from": WAVE,
                "wave_to": LATER,
                "n_from": n_to,
                "n_to": 200,
                "diff": 6.54,
                "se": 0.05,
                "ci_lower": 6.44,
                "ci_upper": 6.64,
                "pvalue": 0.0001,
                "test": "Welch t",
                "comparable": "yes",
                "suppressed": False,
            }
        )
    pd.DataFrame(means).to_csv(paths["means"], index=False, float_format="%.10g")
    pd.DataFrame(changes).to_csv(paths["changes"], index=False, float_format="%.10g")
    fit = {
        "groups": "wave",
        "group_values": f"{EARLIER};{WAVE}",
        "ntotal": 590,
        "pvalue": 0.001,
        "tli": 0.95,
        "rmsea_ci_lower": 0.02,
        "rmsea_ci_upper": 0.04,
        "srmr": 0.05,
        "aic": 40000.0,
        "bic": 41000.0,
        "rule": "Chen (2007)",
    }
    pd.DataFrame(
        [
            {
                **fit,
                "level": "configural",
                "npar": 222,
                "chisq": 1105.5,
                "df": 898,
                "cfi": 0.962,
                "rmsea": 0.029,
                "delta_cfi": np.nan,
                "delta_rmsea": np.nan,
                "delta_srmr": np.nan,
                "decision": "",
            },
            {
                **fit,
                "level": "metric",
                "npar": 196,
                "chisq": 1148.1,
                "df": 924,
                "cfi": 0.958,
                "rmsea": 0.030,
                "delta_cfi": -0.004,
                "delta_rmsea": 0.001,
                "delta_srmr": 0.003,
                "decision": "holds",
            },
            {
                **fit,
                "level": "scalar",
                "npar": 170,
                "chisq": 1290.4,
                "df": 950,
                "cfi": 0.941,
                "rmsea": 0.037,
                "delta_cfi": -0.017,
                "delta_rmsea": 0.007,
                "delta_srmr": 0.006,
                "decision": "rejected",
            },
        ]
    ).to_csv(paths["invariance"], index=False)
    pd.DataFrame(
        [
            {"n": n, "effect": effect, "replications": 200, "power": power}
            for effect, curve in (
                ("indirect", [(150, 0.52), (300, 0.83), (450, 0.95)]),
                ("via_safety", [(150, 0.21), (300, 0.44), (450, 0.63)]),
            )
            for n, power in curve
        ]
    ).to_csv(paths["power"], index=False)
    return paths


def render(
    root: Path,
    lang: str,
    tag: str = "",
    waves: list[str] | None = None,
    power_note: bool = False,
    cluster: str | None = None,
    twolevel_model: str | None = None,
) -> dict[str, Path]:
    """The report stage as rule report_two_pager runs it: papermill, then HTML, then PDF."""
    out = root / "reports" / WAVE
    out.mkdir(parents=True, exist_ok=True)
    executed = root / "results" / WAVE / "report" / f"two_pager_{lang}{tag}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    files = report_inputs.input_paths(
        root / "results",
        WAVE,
        CODEBOOK,
        "transfer",
        data_file=root / "data" / "raw" / f"wave_{WAVE}.csv",
        waves=waves or [WAVE],
        power_note=power_note,
        twolevel_model=twolevel_model,
    )
    parameters = {
        "wave": WAVE,
        "lang": lang,
        "input_files": {k: str(v) for k, v in files.items()},
        "config_digest": CONFIG_DIGEST,
        "model": "transfer",
        "min_cell": MIN_CELL,
        "waves": waves or [WAVE],
        "cluster": cluster,
        "twolevel_model": twolevel_model,
    }
    html = out / f"two_pager_{lang}{tag}.html"
    pdf = out / f"two_pager_{lang}{tag}.pdf"
    rendering.render_report(NOTEBOOK, executed, html, pdf, parameters, cwd=root)
    return {"notebook": executed, "html": html, "pdf": pdf}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    root = tmp_path_factory.mktemp("report")
    try:
        paths = write_results_fixture(root)
        out = {lang: render(root, lang) for lang in ("nl", "en")}
        out["rerun_nl"] = render(root, "nl", tag="_rerun")
        out["crosswave_paths"] = write_crosswave_fixture(root)
        for lang in ("nl", "en"):  # a later wave's report: across waves, and the planning note
            out[f"waves_{lang}"] = render(
                root,
                lang,
                tag="_waves",
                waves=[EARLIER, WAVE, LATER],
                power_note=True,
                cluster="community",
            )
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    out["paths"] = paths
    out["root"] = root
    return out


def load(results: Path, waves: list[str] | None = None, data_file: Path | None = None):
    """The report's inputs from a results root, as rule report_two_pager names them."""
    files = report_inputs.input_paths(results, WAVE, CODEBOOK, data_file=data_file, waves=waves)
    return report_inputs.load_inputs(files, WAVE, waves=waves)


def pdf_text(path: Path, page: int | None = None) -> str:
    reader = pypdf.PdfReader(str(path))
    pages = reader.pages if page is None else [reader.pages[page]]
    return "\n".join(p.extract_text() for p in pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------------------------
# Statistics and wording.
# --------------------------------------------------------------------------------------------


def test_path_sentences_never_overstate():
    sig = pd.Series(
        {
            "lhs": "learning",
            "rhs": "safety",
            "std_all": 0.41,
            "pvalue": 0.0001,
            "stars": "***",
            "significant": True,
        }
    )
    ns = pd.Series(
        {
            "lhs": "transfer",
            "rhs": "support",
            "std_all": 0.04,
            "pvalue": 0.41,
            "stars": "",
            "significant": False,
        }
    )
    assert "gaat samen met meer leergedrag (β = 0,41***)" in sentences.path_sentence(sig, "nl")
    assert "niet aantoonbaar" in sentences.path_sentence(ns, "nl")
    assert "not significant" in sentences.path_sentence(ns, "en")
    for sentence in (sentences.path_sentence(s, lang) for s in (sig, ns) for lang in ("nl", "en")):
        assert not re.search(
            r"bewijs|bewijst|proves?|causes?|veroorzaakt|leidt tot|leads to",
            sentence,
            re.IGNORECASE,
        )


def test_number_format_per_language():
    assert printed.fmt_number(-0.456, "nl") == "\u22120,46"
    assert printed.fmt_number(3.0, "en", 0) == "3"
    assert printed.fmt_number(-0.001, "en") == "0.00"
    assert printed.fmt_p(0.0004, "nl") == "< 0,001"


def test_model_caution_when_few_respondents_or_poor_fit(tmp_path):
    paths = write_results_fixture(tmp_path)
    inputs = load(tmp_path / "results", data_file=paths["raw"])
    assert sentences.model_caution(inputs, "en") is None
    inputs.fit.loc[0, ["ntotal", "cfi"]] = [34, 0.47]
    message = sentences.model_caution(inputs, "en")
    assert "34 of the 235" in message and "poorly" in message
    assert message in sentences.key_messages(inputs, "en")


def test_report_date_is_never_the_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1640995200")
    assert provenance.report_date("2021-12") == "2022-01-01"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert provenance.report_date("2021-12") == "2021-12"


# --------------------------------------------------------------------------------------------
# The rendered report.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_pdf_has_exactly_two_a4_pages(rendered, lang):
    reader = pypdf.PdfReader(str(rendered[lang]["pdf"]))
    assert len(reader.pages) == 2
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) < 1 and abs(height - A4[1]) < 1


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_fonts_are_embedded(rendered, lang):
    reader = pypdf.PdfReader(str(rendered[lang]["pdf"]))
    fonts = {}
    for page in reader.pages:
        for name, ref in page["/Resources"].get("/Font", {}).items():
            fonts[name] = ref.get_object()
    assert fonts
    for name, font in fonts.items():
        descriptors = [font.get("/FontDescriptor")]
        descriptors += [
            d.get_object().get("/FontDescriptor") for d in font.get("/DescendantFonts", [])
        ]
        descriptors = [d.get_object() for d in descriptors if d is not None]
        assert descriptors, f"font {name} has no descriptor"
        assert any(
            k in d for d in descriptors for k in ("/FontFile", "/FontFile2", "/FontFile3")
        ), name


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_pdf_uses_only_the_shipped_fonts(rendered, lang):
    """Every glyph comes from the two shipped faces: no fallback to a system font."""
    reader = pypdf.PdfReader(str(rendered[lang]["pdf"]))
    names = {
        font.get_object()["/BaseFont"].split("+")[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert names == {"LC-Sans", "LC-Sans-Bold"}


def test_shipped_fonts_are_rebuilt_byte_for_byte(tmp_path):
    built = rendering.build_pdf_fonts(tmp_path)
    for weight, name in rendering.PDF_FONTS.items():
        assert built[weight].read_bytes() == (rendering.FONT_DIR / name).read_bytes(), name
    from fontTools.ttLib import TTFont

    cmap = TTFont(rendering.FONT_DIR / rendering.PDF_FONTS["normal"]).getBestCmap()
    words = "".join(str(wording.catalogue(lang)) for lang in wording.LANGUAGES)
    assert {c for c in words if c.isprintable() and not c.isspace()} <= {chr(c) for c in cmap}


def test_both_languages_render_in_their_own_words(rendered):
    nl, en = flat(pdf_text(rendered["nl"]["pdf"])), flat(pdf_text(rendered["en"]["pdf"]))
    for phrase in (
        "Kernboodschappen voor de praktijk",
        "Drijfveren",
        "Leerklimaat",
        "Zo weten we het",
        "Psychologische veiligheid",
        "Kennisbenutting",
    ):
        assert phrase in nl
    for phrase in (
        "Key messages for practice",
        "Motives",
        "Learning climate",
        "How we know",
        "Psychological safety",
    ):
        assert phrase in en
    assert "Kernboodschappen" not in en and "Key messages" not in nl
    assert 'lang="nl"' in rendered["nl"]["html"].read_text(encoding="utf-8")
    assert 'lang="en"' in rendered["en"]["html"].read_text(encoding="utf-8")


def test_no_code_and_nothing_fetched_at_run_time(rendered):
    page = rendered["nl"]["html"].read_text(encoding="utf-8")
    assert "report.load_inputs" not in page and "display(HTML" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert "@import" not in page and "@font-face" not in page


def _key_message_block(pdf: Path, lang: str) -> str:
    page1 = flat(pdf_text(pdf, 0))
    start = page1.index(wording.text(lang, "key_messages")) + len(
        wording.text(lang, "key_messages")
    )
    end = page1.index(wording.text(lang, "why"), start)
    return page1[start:end]


def _parse(number: str) -> float:
    return float(number.replace("\u2212", "-").replace(",", "."))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_key_message_number_comes_from_the_results(rendered, lang):
    paths = rendered["paths"]
    scores = pd.read_parquet(paths["scores"])
    estimates = pd.read_csv(paths["estimates"])
    motives = pd.read_csv(paths["motives"])
    allowed = {95.0, 0.05, 0.01, 0.001}  # "95%-BI" and significance thresholds
    for row in motives.itertuples():  # the analyses stage's motive table, nothing recomputed
        allowed |= {row.scale_min, row.scale_max, row.midpoint}
        allowed |= {round(v, 2) for v in (row.mean, row.ci_lower, row.ci_upper)}
    allowed |= {round(v, 2) for v in estimates.loc[estimates["op"] == "~", "std_all"]}
    fit = pd.read_csv(paths["fit"]).iloc[0]
    allowed |= {float(fit["ntotal"]), float(len(scores))}  # the model-caution message

    block = _key_message_block(rendered[lang]["pdf"], lang)
    numbers = re.findall(r"[\u2212-]?\d+(?:[.,]\d+)?", block)
    assert len(numbers) >= 10, block
    for number in numbers:
        value = _parse(number)
        assert any(abs(value - a) <= 0.0051 for a in allowed), f"{number} in: {block}"
    # and the path coefficients in the messages are the model's, with their stars
    safety = estimates[(estimates["lhs"] == "learning") & (estimates["rhs"] == "safety")].iloc[0]
    expected = printed.fmt_number(safety["std_all"], lang) + printed.significance_stars(
        safety["pvalue"]
    )
    assert expected in block


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_key_messages_never_overstate(rendered, lang):
    block = _key_message_block(rendered[lang]["pdf"], lang)
    assert wording.text(lang, "msg_design") in block  # the one place where 'cause' is denied
    claims = block.replace(wording.text(lang, "msg_design"), "")
    assert not re.search(
        r"bewijs|bewijst|proves?|\bcaus|veroorza|oorzaak|leidt tot|leads to", claims, re.IGNORECASE
    )
    estimates = pd.read_csv(rendered["paths"]["estimates"])
    support = estimates[(estimates["lhs"] == "transfer") & (estimates["rhs"] == "support")].iloc[0]
    if support["pvalue"] >= 0.05:  # the fixture makes this path weak: it must be said so
        assert ("niet significant" if lang == "nl" else "not significant") in block


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_suppressed_cells_are_absent(rendered, lang):
    page = rendered[lang]["html"].read_text(encoding="utf-8")
    codebook = load_codebook(CODEBOOK)
    sizes = {"sector": SECTOR_SIZES, "org_size": ORG_SIZE_SIZES, "main_motive": MAIN_MOTIVE_SIZES}
    tables = re.findall(r'<table class="(?:counts|shares)">.*?</table>', page)
    assert len(tables) == 3  # sector, organisation size, main motive
    rows = re.findall(r'<tr><th scope="row" class="label">(.*?)</th>(.*?)</tr>', "".join(tables))
    shown = {label: re.findall(r'<td class="num">(.*?)</td>', cells) for label, cells in rows}
    assert all(int(cells[0]) >= MIN_CELL for cells in shown.values())
    for variable, small_codes in SMALL.items():
        labels = report_inputs.category_labels(codebook, variable, lang)
        for code in small_codes:
            label = labels[float(code)]
            assert label not in shown and sections._short_label(label) not in shown, label
            assert str(sizes[variable][code]) not in [cells[0] for cells in shown.values()]
    text = flat(pdf_text(rendered[lang]["pdf"]))
    assert re.search(r"(Overige \(samengevoegd\)\*|Other \(merged\)\*) \d+", text)
    for variable, small_codes in SMALL.items():  # the label never stands next to its count
        labels = report_inputs.category_labels(codebook, variable, lang)
        for code in small_codes:
            label = re.escape(sections._short_label(labels[float(code)]))
            assert not re.search(rf"{label} {sizes[variable][code]}\b", text)


def test_rerendering_gives_identical_html(rendered):
    first = rendered["nl"]["html"].read_bytes()
    again = rendered["rerun_nl"]["html"].read_bytes()
    assert first == again


def test_no_wall_clock_date(rendered):
    today = dt.date.today()
    stamps = {today.isoformat(), today.strftime("%d-%m-%Y"), today.strftime("%Y%m%d")}
    for lang in ("nl", "en"):
        page = rendered[lang]["html"].read_text(encoding="utf-8")
        assert not any(stamp in page for stamp in stamps)
        meta = pypdf.PdfReader(str(rendered[lang]["pdf"])).metadata or {}
        assert not any(stamp in str(value) for value in meta.values() for stamp in stamps)
        assert not any(stamp in pdf_text(rendered[lang]["pdf"]) for stamp in stamps)
    assert f"{wording.text('nl', 'prov_date')} {WAVE}" in flat(pdf_text(rendered["nl"]["pdf"], 1))
    assert f"{wording.text('en', 'prov_date')} {WAVE}" in flat(pdf_text(rendered["en"]["pdf"], 1))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_provenance_names_data_config_and_code(rendered, lang):
    text = flat(pdf_text(rendered[lang]["pdf"], 1)).replace(" ", "")
    assert sha256_file(rendered["paths"]["raw"]) in text
    # The configuration as the workflow digests it for this wave, labelled as such; not the
    # checksum of config.yaml, which changes whenever a wave is added.
    assert wording.text(lang, "prov_config").replace(" ", "") + CONFIG_DIGEST in text
    assert sha256_file(rendered["paths"]["config"]) not in text


def test_provenance_without_digest_says_unknown(tmp_path):
    paths = write_results_fixture(tmp_path)
    facts = provenance.provenance(WAVE, paths["raw"])
    assert facts["config_sha256"] == "unknown"
    assert facts["data_sha256"] == sha256_file(paths["raw"])
    assert provenance.provenance(WAVE, None, CONFIG_DIGEST)["config_sha256"] == CONFIG_DIGEST


def test_index_links_every_report(tmp_path):
    entries = [
        {
            "wave": w,
            "lang": lang,
            "html": str(tmp_path / w / f"two_pager_{lang}.html"),
            "pdf": str(tmp_path / w / f"two_pager_{lang}.pdf"),
        }
        for w in ("2021-12", "2022-06")
        for lang in ("nl", "en")
    ]
    rendering.write_index(entries, tmp_path / "index.html")
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    for entry in entries:
        assert f'href="{entry["wave"]}/two_pager_{entry["lang"]}.pdf"' in page
        assert f'href="{entry["wave"]}/two_pager_{entry["lang"]}.html"' in page


# --------------------------------------------------------------------------------------------
# Results of the analyses stage, as the report reads them.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_motive_messages_follow_the_motives_table(rendered, lang):
    motives = pd.read_csv(rendered["paths"]["motives"])
    inputs = load(rendered["root"] / "results")
    messages = sentences.key_messages(inputs, lang)
    codebook = load_codebook(CODEBOOK)
    for row in motives.itertuples():
        label = report_inputs.construct_label(codebook, row.construct, lang)
        value = f"({printed.fmt_number(row.mean, lang)}; "
        message = next(m for m in messages if label.lower() in m.lower() and value in m)
        verdict = findings.VERDICT_KEYS[row.verdict]
        verbs = [wording.text(lang, f"msg_{verdict}_{k}") for k in ("one", "many")]
        assert any(verb in message for verb in verbs), message


def _moderation(pvalue: float, est: float) -> dict:
    slopes = pd.DataFrame({"moderator_level": [-1.0, 0.0, 1.0], "slope": [0.2, 0.3, 0.4]})
    return {"interaction": pd.Series({"est": est, "pvalue": pvalue}), "slopes": slopes}


def test_moderation_sentence_never_overstates():
    ns, sig = _moderation(0.163, 0.09), _moderation(0.0004, 0.12)
    assert "niet significant" in sentences.moderation_sentence(ns, "nl")
    assert "not significant" in sentences.moderation_sentence(ns, "en")
    assert "p = 0.163" in sentences.moderation_sentence(ns, "en")
    assert "sterker" in sentences.moderation_sentence(sig, "nl")
    assert "p < 0.001" in sentences.moderation_sentence(sig, "en")
    assert "less strongly" in sentences.moderation_sentence(_moderation(0.01, -0.1), "en")
    for case in (ns, sig):
        for lang in ("nl", "en"):
            sentence = sentences.moderation_sentence(case, lang)
            assert not re.search(
                r"bewijs|proves?|\\bcaus|veroorza|leidt tot|leads to", sentence, re.IGNORECASE
            )
            if case is ns:
                assert not re.search(r"\bsterker\b|more strongly", sentence)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_moderation_figure_and_sentence_are_printed(rendered, lang):
    page = rendered[lang]["html"].read_text(encoding="utf-8")
    inputs = load(rendered["root"] / "results")
    moderation = findings.home_support_moderation(inputs)
    alt = figures.moderation_alt(
        moderation["slopes"], inputs.codebook, lang, inputs.roles["moderation"]
    )
    assert f'alt="{html.escape(alt)}"' in page
    sentence = sentences.moderation_sentence(findings.home_support_moderation(inputs), lang)
    assert flat(sentence) in flat(pdf_text(rendered[lang]["pdf"], 0))
    slopes = pd.read_csv(rendered["paths"]["simple_slopes"])
    assert printed.fmt_number(slopes["slope"].iloc[-1], lang) in sentence


def test_report_needs_the_motive_table(tmp_path):
    paths = write_results_fixture(tmp_path)
    paths["motives"].unlink()
    with pytest.raises(InputError, match="motives"):
        load(tmp_path / "results")


# --------------------------------------------------------------------------------------------
# Indirect association, diversity, across waves, planning note.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("variant", ["", "waves_"])
def test_two_a4_pages_with_and_without_the_comparison_across_waves(rendered, lang, variant):
    pdf = rendered[f"{variant}{lang}"]["pdf"]
    reader = pypdf.PdfReader(str(pdf))
    assert len(reader.pages) == 2
    across = wording.text(lang, "crosswave") in flat(pdf_text(pdf, 1))
    assert across == (variant == "waves_")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_nesting_and_agreement_are_printed_when_a_cluster_is_set(rendered, lang):
    clustered = flat(pdf_text(rendered[f"waves_{lang}"]["pdf"], 1))
    independent = flat(pdf_text(rendered[lang]["pdf"]))
    heading = wording.text(lang, "agreement")
    assert heading in clustered and heading not in independent
    nested = wording.text(lang, "nest_clustered", k=14, boot=wording.text(lang, "nest_boot"))
    assert flat(nested) + "," in clustered  # after the estimator, before the missing data
    assert wording.text(lang, "nest_clustered", k=14, boot="")[:20] not in independent
    # The table: ICC(1), ICC(2), r_wg(j), AD_M of each climate facet, and the verdict.
    for construct, _, icc1, icc2, rwg, _, ad in AGREEMENT[:4]:
        label = report_inputs.construct_label(load_codebook(CODEBOOK), construct, lang)
        cells = " ".join(printed.fmt_number(v, lang) for v in (icc1, icc2, rwg, ad))
        shared = "agr_yes" if rwg >= 0.70 and icc1 > 0 else "agr_no"
        assert f"{label} {cells} {wording.text(lang, shared)}" in clustered
    # Communities with fewer than min_cell complete members are left out of r_wg(j), AD_M.
    assert flat(wording.text(lang, "agr_note", k="11", g=14, min_cell=MIN_CELL)) in clustered
    # Knowledge use is not a climate facet: not in the climate table.
    assert printed.fmt_number(0.22, lang) + " " not in clustered.split(heading)[1][:400]


@pytest.mark.parametrize(
    "reason", ["not_in_codebook", "not_in_data", "no_values", "one_cluster", "all_alone"]
)
def test_an_unusable_cluster_variable_is_explained_in_both_languages(reason):
    nest = {"configured": True, "clustered": False, "communities": 0, "bootstrap": False}
    for lang in ("nl", "en"):
        line = sentences.nesting_phrase({**nest, "reason": reason}, lang)
        assert wording.text(lang, f"nest_{reason}") in line
    assert sentences.nesting_phrase({**nest, "configured": False, "reason": None}, "en") == ""


def test_report_inputs_resolve_the_cluster_variable(rendered):
    results = rendered["root"] / "results"
    files = report_inputs.input_paths(results, WAVE, CODEBOOK)
    clustered = report_inputs.load_inputs(files, WAVE, cluster="community")
    assert clustered.clustering.active and clustered.clustering.clusters == 14
    assert findings.nesting(clustered)["bootstrap"]
    assert list(findings.agreement_results(clustered)["construct"]) == [
        "facilitation",
        "appreciation",
        "error_avoidance",
        "psychological_safety",
    ]
    alone = report_inputs.load_inputs(files, WAVE, cluster="rid")
    assert findings.nesting(alone)["reason"] == "not_in_codebook"
    assert findings.agreement_results(alone).empty
    assert sections.agreement(alone, "en").macro is None


def _numbers(text: str) -> list[float]:
    return [_parse(n) for n in re.findall(r"[\u2212-]?\d+(?:[.,]\d+)?", text)]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_indirect_association_is_printed_with_its_bootstrap_interval(rendered, lang):
    intervals = pd.read_csv(rendered["paths"]["intervals"]).set_index("lhs")
    page1 = flat(pdf_text(rendered[lang]["pdf"], 0))
    indirect, via = intervals.loc["indirect"], intervals.loc["via_safety"]
    f = printed.fmt_number
    # indirect: BCa; via_safety has none, so its percentile interval
    assert (
        f"B = {f(indirect['est'], lang)} ({wording.text(lang, 'ci')} "
        f"{f(indirect['bca_ci_lower'], lang)}–{f(indirect['bca_ci_upper'], lang)}, "
        f"{wording.text(lang, 'ci_bca')})" in page1
    )
    assert (
        f"B = {f(via['est'], lang)} ({wording.text(lang, 'ci')} "
        f"{f(via['boot_ci_lower'], lang)}–{f(via['boot_ci_upper'], lang)})" in page1
    )
    # the delta-method interval is not the one printed
    assert f"{f(indirect['ci_lower'], lang)}–{f(indirect['ci_upper'], lang)}" not in page1


def _estimates_with_defined() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "lhs": "indirect",
                "op": ":=",
                "rhs": "a*b",
                "est": 0.08,
                "pvalue": 0.2,
                "ci_lower": -0.02,
                "ci_upper": 0.18,
                "std_all": 0.07,
            }
        ]
    )


def test_defined_effects_fall_back_from_bca_to_percentile_to_delta():
    inputs = SimpleNamespace(estimates=_estimates_with_defined(), intervals=None)
    delta = findings.defined_effects(inputs).iloc[0]
    assert (delta["method"], delta["ci_lower"], delta["significant"]) == ("delta", -0.02, False)
    intervals = pd.DataFrame(
        [
            {
                "lhs": "indirect",
                "op": ":=",
                "rhs": "a*b",
                "est": 0.08,
                "ci_lower": -0.02,
                "ci_upper": 0.18,
                "boot_ci_lower": 0.01,
                "boot_ci_upper": 0.2,
                "bca_ci_lower": np.nan,
                "bca_ci_upper": np.nan,
            }
        ]
    )
    inputs.intervals = intervals
    percentile = findings.defined_effects(inputs).iloc[0]
    assert (percentile["method"], percentile["ci_lower"], percentile["significant"]) == (
        "percentile",
        0.01,
        True,
    )
    inputs.intervals = intervals.assign(bca_ci_lower=-0.01, bca_ci_upper=0.19)
    bca = findings.defined_effects(inputs).iloc[0]
    assert (bca["method"], bca["ci_upper"], bca["significant"]) == ("bca", 0.19, False)
    for lang in ("nl", "en"):  # an interval through 0 is said to be not clear
        sentence = sentences.indirect_sentences(findings.defined_effects(inputs), lang)[0]
        assert ("niet aantoonbaar" if lang == "nl" else "not clear") in sentence
        assert not re.search(r"gaat .* ook samen|also goes together", sentence)


def test_defined_effects_use_the_monte_carlo_interval_without_a_bootstrap():
    """A wave above estimation.bootstrap_max_n rows has Monte Carlo intervals and no bootstrap
    ones: the report prints those, and says so in both languages."""
    inputs = SimpleNamespace(estimates=_estimates_with_defined(), intervals=None)
    inputs.intervals = pd.DataFrame(
        [
            {
                "lhs": "indirect",
                "op": ":=",
                "rhs": "a*b",
                "est": 0.08,
                "ci_lower": -0.02,
                "ci_upper": 0.18,
                "boot_ci_lower": np.nan,
                "boot_ci_upper": np.nan,
                "bca_ci_lower": np.nan,
                "bca_ci_upper": np.nan,
                "mc_ci_lower": 0.02,
                "mc_ci_upper": 0.17,
            }
        ]
    )
    effect = findings.defined_effects(inputs).iloc[0]
    assert (effect["method"], effect["ci_lower"], effect["ci_upper"], effect["significant"]) == (
        "monte_carlo",
        0.02,
        0.17,
        True,
    )
    for lang in ("nl", "en"):
        sentence = sentences.indirect_sentences(findings.defined_effects(inputs), lang)[0]
        assert "Monte Carlo" in sentence
        assert "bootstrap" not in sentence
        assert printed.fmt_number(0.02, lang) in sentence
    # With a bootstrap interval the bootstrap one is printed, as before.
    inputs.intervals = inputs.intervals.assign(bca_ci_lower=0.01, bca_ci_upper=0.19)
    assert findings.defined_effects(inputs).iloc[0]["method"] == "bca"


def test_method_box_says_why_the_intervals_are_monte_carlo():
    skipped = pd.DataFrame([{"draws_requested": 0, "draws_ok": 0, "method": ""}])
    skipped["method"] = "none (monte carlo: n = 15346 above 5000)"
    nl, en = (sentences.intervals_note(skipped, lang) for lang in ("nl", "en"))
    for sentence in (nl, en):
        assert "15346" in sentence and "5000" in sentence and "Monte Carlo" in sentence
    bootstrapped = skipped.assign(method="fiml-bfgs", draws_requested=2000, draws_ok=2000)
    for table in (bootstrapped, skipped.iloc[:0], None):
        assert sentences.intervals_note(table, "en") is None


def _diversity(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """(outcome, method, est, pvalue) -> diversity.csv rows (slopes only)."""
    return pd.DataFrame(
        [
            {
                "outcome": o,
                "term": "share_other_sector",
                "est": est,
                "se": 0.2,
                "pvalue": p,
                "ci_lower": est - 0.4,
                "ci_upper": est + 0.4,
                "n": 300,
                "n_clusters": 24,
                "method": m,
            }
            for o, m, est, p in rows
        ]
    )


def test_diversity_verdicts_need_both_analyses():
    table = _diversity(
        [
            ("facilitation", "ols_cluster", 0.5, 0.01),
            ("facilitation", "random_intercept", 0.5, 0.02),
            ("appreciation", "ols_cluster", -0.6, 0.001),
            ("appreciation", "random_intercept", -0.5, 0.01),
            ("error_avoidance", "ols_cluster", 0.4, 0.03),
            ("error_avoidance", "random_intercept", 0.3, 0.08),
            ("psychological_safety", "ols_cluster", 0.1, 0.6),
            ("psychological_safety", "random_intercept", 0.1, 0.5),
        ]
    )
    results = findings.diversity_results(SimpleNamespace(diversity=table)).set_index("outcome")
    assert results["verdict"].to_dict() == {
        "facilitation": "higher",
        "appreciation": "lower",
        "error_avoidance": "unclear",
        "psychological_safety": "none",
    }
    codebook = load_codebook(CODEBOOK)
    en = sentences.diversity_sentence(results.reset_index(), codebook, "en")
    assert "facilitation (b = 0.50; 95% ci 0.10–0.90) is higher" in en.lower()
    assert "appreciation (b = −0.60; 95% ci −1.00–−0.20) lower" in en.lower()
    assert "psychological safety does not differ clearly" in en.lower()
    assert "error avoidance a difference is uncertain" in en.lower()
    nl = sentences.diversity_sentence(results.reset_index(), codebook, "nl")
    assert "verschilt niet aantoonbaar" in nl and "onzeker" in nl
    none = findings.diversity_results(
        SimpleNamespace(
            diversity=_diversity(
                [
                    ("facilitation", "ols_cluster", 0.2, 0.4),
                    ("facilitation", "random_intercept", 0.2, 0.3),
                ]
            )
        )
    )
    for lang in ("nl", "en"):
        sentence = sentences.diversity_sentence(none, codebook, lang)
        assert not re.search(r"hoger|lager|higher|lower|bewijs|proves?|\bcaus|veroorza", sentence)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_diversity_numbers_are_the_analyses_table(rendered, lang):
    table = pd.read_csv(rendered["paths"]["diversity"])
    main = table[(table["term"] == "share_other_sector") & (table["method"] == "ols_cluster")]
    check = table[(table["term"] == "share_other_sector") & (table["method"] == "random_intercept")]
    page2 = flat(pdf_text(rendered[lang]["pdf"], 1))
    assert wording.text(lang, "diversity") in page2
    f = printed.fmt_number
    for row in main.itertuples():
        p_check = check[check["outcome"] == row.outcome]["pvalue"].iloc[0]
        assert (
            f"{f(row.est, lang)} ({f(row.ci_lower, lang)}–{f(row.ci_upper, lang)}) "
            f"{printed.fmt_p(row.pvalue, lang)} {printed.fmt_p(p_check, lang)}"
        ) in page2
    inputs = load(rendered["root"] / "results")
    sentence = sentences.diversity_sentence(
        findings.diversity_results(inputs), inputs.codebook, lang
    )
    assert flat(sentence) in flat(pdf_text(rendered[lang]["pdf"], 0))
    allowed = {round(v, 2) for v in main[["est", "ci_lower", "ci_upper"]].to_numpy().ravel()}
    allowed |= {95.0, float(main["n_clusters"].max())}
    for value in _numbers(sentence):
        assert any(abs(value - a) <= 0.0051 for a in allowed), (value, sentence)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_across_waves_numbers_come_from_the_changes_table(rendered, lang):
    page2 = flat(pdf_text(rendered[f"waves_{lang}"]["pdf"], 1))
    start = page2.index(wording.text(lang, "crosswave"))
    section = page2[start : page2.index(wording.text(lang, "reading"), start)]
    f = printed.fmt_number
    changes = pd.DataFrame(
        CHANGES, columns=["construct", "diff", "half", "p", "comparable", "n_from", "n_to"]
    )
    codebook = load_codebook(CODEBOOK)
    for row in changes.itertuples():
        label = report_inputs.construct_label(codebook, row.construct, lang)
        cell = (
            f"{f(row.diff, lang)} ({f(row.diff - row.half, lang)}–{f(row.diff + row.half, lang)})"
        )
        if row.n_from < MIN_CELL:  # suppressed: neither the row nor its numbers
            assert cell not in section
            assert wording.text(lang, "cw_suppressed", min_cell=MIN_CELL, labels=label) in section
        else:  # the change with its CI
            assert cell in section, label
    # the higher / lower claims: significant and comparable only
    assert (
        wording.text(
            lang,
            "cw_change_up",
            label=report_inputs.construct_label(codebook, "facilitation", lang),
            to=WAVE,
            frm=EARLIER,
            d=f(0.31, lang),
            l=f(0.19, lang),
            u=f(0.43, lang),
        )
        in section
    )
    # metric invariance alone: the change is in the table, named, not interpreted
    appreciation = report_inputs.construct_label(codebook, "appreciation", lang)
    lower = wording.text(
        lang,
        "cw_change_down",
        label=_lower(appreciation),
        to=WAVE,
        frm=EARLIER,
        d=f(-0.22, lang),
        l=f(-0.37, lang),
        u=f(-0.07, lang),
    )
    assert lower not in section and lower[:1].upper() + lower[1:] not in section
    assert re.search(rf"{appreciation}[^.]*(lager|lower)", section, re.IGNORECASE) is None
    assert wording.text(lang, "cw_metric_only", labels=_lower(appreciation)) in section
    safety = report_inputs.construct_label(codebook, "psychological_safety", lang)
    assert re.search(rf"{safety}[^.]*(hoger|higher)", section) is None  # not comparable
    assert wording.text(lang, "cw_not_comparable", labels=_lower(safety)) in section
    assert (
        wording.text(
            lang,
            "cw_inv_metric",
            frm=EARLIER,
            to=WAVE,
            dcfi=f(-0.017, lang, 3),
            drmsea=f(0.007, lang, 3),
        )
        in section
    )  # the test of the two waves compared
    # nothing of the later wave
    for later in (LATER, f(9.87, lang), f(6.54, lang)):
        assert later not in page2


def _lower(label: str) -> str:
    return label[:1].lower() + label[1:]


def test_across_waves_only_with_an_earlier_wave(rendered):
    results = rendered["root"] / "results"
    for waves in ([WAVE], [WAVE, LATER]):  # WAVE first: nothing to compare with
        inputs = load(results, waves=waves)
        assert inputs.means is None and findings.crosswave_results(inputs) is None
        assert sections.across_waves(inputs, "en").html() == ""
    later = load(results, waves=[EARLIER, WAVE, LATER])
    assert later.waves == [EARLIER, WAVE]
    result = findings.crosswave_results(later)
    assert (result["from"], result["to"]) == (EARLIER, WAVE)
    assert set(result["means"]["wave"]) == {EARLIER, WAVE}
    assert result["suppressed"] == ["learning_behaviour"]
    assert "learning_behaviour" not in set(result["changes"]["construct"])


def test_invariance_summary_levels():
    def table(metric: str, scalar: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "level": ["configural", "metric", "scalar"],
                "decision": [np.nan, metric, scalar],
                "delta_cfi": [np.nan, -0.002, -0.02],
                "delta_rmsea": [np.nan, 0.001, 0.01],
            }
        )

    assert findings.invariance_summary(table("holds", "holds"))["level"] == "scalar"
    metric = findings.invariance_summary(table("holds", "rejected"))
    assert metric["level"] == "metric" and metric["delta_cfi"] == -0.02
    none = findings.invariance_summary(table("rejected", np.nan))
    assert none["level"] == "none" and none["delta_cfi"] == -0.002
    assert findings.invariance_summary(None) is None


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_planning_note_only_when_asked(rendered, lang):
    from lcsurvey.study.power import planning_note

    power = pd.read_csv(rendered["crosswave_paths"]["power"])
    note = flat(planning_note(power, lang))
    assert note in flat(pdf_text(rendered[f"waves_{lang}"]["pdf"], 1))
    assert "300" in note  # the smallest n reaching 80% power for the indirect association
    assert note not in flat(pdf_text(rendered[lang]["pdf"], 1))


def test_every_language_has_every_wording_key():
    """A translator's catalogue names the same keys and placeholders as the Dutch one."""
    nl = wording.catalogue("nl")
    for lang in wording.LANGUAGES:
        other = wording.catalogue(lang)
        assert set(other["text"]) == set(nl["text"]), lang
        assert set(other["factors"]) == set(nl["factors"]), lang
        for key, value in nl["text"].items():
            assert set(re.findall(r"\{(\w+)\}", other["text"][key])) == set(
                re.findall(r"\{(\w+)\}", value)
            ), (lang, key)


def test_a_figure_block_shows_its_figure_its_text_alternative_and_caption():
    from matplotlib.figure import Figure

    fig = figures.describe(Figure(figsize=(2, 1)), "Two bars: 1 and 2")
    page = sections.figure_block(fig, "Caption <1>").html()
    assert page.startswith('<div class="figure-block"><figure class="figure-wrap"><img')
    assert 'alt="Two bars: 1 and 2"' in page
    assert 'style="width:2.00in;height:1.00in"' in page
    assert page.endswith(
        '<figcaption class="caption">Caption &lt;1&gt;</figcaption></figure></div>'
    )


def test_a_figure_without_a_text_alternative_is_refused():
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match="'Caption' has no text alternative"):
        sections.figure_block(Figure(figsize=(2, 1)), "Caption")


def test_a_partial_scalar_verdict_has_its_own_words_in_both_languages():
    from lcsurvey.report.findings import COMPARABLE_KEYS, comparable_key
    from lcsurvey.report.wording import text

    assert comparable_key("partial scalar (ps2, ps5 free)") == "partial scalar"
    assert comparable_key("partly (metric)") == "partly (metric)"
    assert comparable_key("something else") == "not tested"
    for lang in ("nl", "en"):
        for key in COMPARABLE_KEYS:
            assert text(lang, f"cw_{key}")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_changes_are_interpreted_only_under_scalar_invariance(lang):
    codebook = load_codebook(CODEBOOK)
    changes = pd.DataFrame(
        {
            "construct": ["facilitation", "appreciation", "error_avoidance", "home_support"],
            "diff": [0.31, -0.22, 0.40, 0.30],
            "ci_lower": [0.19, -0.37, 0.27, 0.10],
            "ci_upper": [0.43, -0.07, 0.53, 0.50],
            "comparable": ["partial scalar", "partly (metric)", "no", "not tested"],
            "comparable_test": ["longitudinal", "longitudinal", "multigroup", ""],
            "significant": [True, True, True, True],
        }
    )
    result = {"changes": changes, "from": EARLIER, "to": WAVE, "invariance": None}
    said = " ".join(sentences.crosswave_sentences(result, codebook, lang))
    label = {c: report_inputs.construct_label(codebook, c, lang) for c in changes["construct"]}
    assert label["facilitation"] in said.split(". ")[0]  # interpreted: partial scalar
    assert label["home_support"].lower() in said.split(". ")[0].lower()  # not tested: with caution
    for construct, key in (
        ("appreciation", "cw_metric_only"),
        ("error_avoidance", "cw_not_comparable"),
    ):
        assert wording.text(lang, key, labels=_lower(label[construct])) in said
        assert re.search(rf"{label[construct]}[^.]*(hoger|higher|lager|lower)", said, re.I) is None
    assert wording.text(lang, "cw_longitudinal") in said
    without = changes.assign(comparable_test="multigroup")
    said = " ".join(sentences.crosswave_sentences({**result, "changes": without}, codebook, lang))
    assert wording.text(lang, "cw_longitudinal") not in said
