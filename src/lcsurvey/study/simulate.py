"""Seeded simulator of the Learning Communities survey, with known true values.

The repo ships synthetic survey waves so that the pipeline runs out of the box and its
estimates can be checked against the values that generated the data. This module holds

* the population model (``default_truth()`` / ``TRUTH``): a latent learning climate with a
  community random effect, three climate facets, psychological safety, learning behaviour,
  perceived learning, network gain, support from the home organisation, knowledge transfer
  with a latent interaction, four motives and a main-motive choice, and the background mix of
  ~25 communities. Every structural value is standardised (latent variances are 1).
* ``simulate_population(n, rng)``: clean respondents (latent-keyed item answers, background and
  the latent true scores ``true_*``), used for power analysis and parameter recovery.
* ``make_wave(...)``: one raw survey export as a DataFrame, with the real-world mess that the
  cleaning stage must handle (previews, refusals, partials, duplicates, speeders,
  straightliners, random responders, failed attention checks, out-of-range values, missing
  answers, free text and PII).
* writers for a Qualtrics CSV export (three header rows, Dutch choice text) and an SPSS .sav
  export (numeric codes with Dutch value labels), and ``generate()`` / ``main()`` that write the
  bundled waves plus ``TRUTH.yaml``.

The instrument (raw column names, scales, labels, reverse keys) is read from
``data/codebook.yaml`` so that simulator and codebook cannot drift apart. All randomness flows
from ``numpy.random.SeedSequence``; nothing reads the clock, and regenerating gives
byte-identical files (the .sav header's creation stamp is overwritten with a fixed value).
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import io
import re
import string
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import yaml
from scipy import optimize, special, stats

DEFAULT_SEED = 20211201
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CODEBOOK = REPO_ROOT / "data" / "codebook.yaml"

# The two bundled waves: id -> (file name, rows written). Rows include previews and duplicates.
BUNDLED_WAVES: dict[str, tuple[str, int]] = {
    "2021-12": ("wave_2021-12.csv", 400),
    "2022-06": ("wave_2022-06.sav", 300),
}

# Qualtrics metadata columns in export order: name -> (question-text row, ImportId JSON row).
QUALTRICS_META: dict[str, tuple[str, str]] = {
    "StartDate": ("Start Date", '{"ImportId":"startDate","timeZone":"Europe/Amsterdam"}'),
    "EndDate": ("End Date", '{"ImportId":"endDate","timeZone":"Europe/Amsterdam"}'),
    "Status": ("Response Type", '{"ImportId":"status"}'),
    "IPAddress": ("IP Address", '{"ImportId":"ipAddress"}'),
    "Progress": ("Progress", '{"ImportId":"progress"}'),
    "Duration (in seconds)": ("Duration (in seconds)", '{"ImportId":"duration"}'),
    "Finished": ("Finished", '{"ImportId":"finished"}'),
    "RecordedDate": ("Recorded Date", '{"ImportId":"recordedDate","timeZone":"Europe/Amsterdam"}'),
    "ResponseId": ("Response ID", '{"ImportId":"_recordId"}'),
    "RecipientLastName": ("Recipient Last Name", '{"ImportId":"recipientLastName"}'),
    "RecipientFirstName": ("Recipient First Name", '{"ImportId":"recipientFirstName"}'),
    "RecipientEmail": ("Recipient Email", '{"ImportId":"recipientEmail"}'),
    "ExternalReference": ("External Data Reference", '{"ImportId":"externalDataReference"}'),
    "LocationLatitude": ("Location Latitude", '{"ImportId":"locationLatitude"}'),
    "LocationLongitude": ("Location Longitude", '{"ImportId":"locationLongitude"}'),
    "DistributionChannel": ("Distribution Channel", '{"ImportId":"distributionChannel"}'),
    "UserLanguage": ("User Language", '{"ImportId":"userLanguage"}'),
}
STATUS_CODES = {"IP Address": 0, "Survey Preview": 1}

# Item parts of the instrument: construct -> item keys in the codebook (checked on load).
CONSTRUCT_OF_PREFIX = {
    "mot_know": "motive_knowledge",
    "mot_net": "motive_network",
    "mot_lab": "motive_labour",
    "mot_soc": "motive_societal",
    "fac": "facilitation",
    "app": "appreciation",
    "err": "error_avoidance",
    "ps": "psychological_safety",
    "lb": "learning_behaviour",
    "pl": "perceived_learning",
    "ng": "network_gain",
    "sup": "home_support",
    "tr": "knowledge_transfer",
}
MOTIVES = ["motive_knowledge", "motive_network", "motive_labour", "motive_societal"]


# --------------------------------------------------------------------------------------------
# Codebook
# --------------------------------------------------------------------------------------------


def load_codebook(path: str | Path | None = None) -> dict[str, Any]:
    """Read the codebook with plain ``yaml.safe_load`` (default: the repo's data/codebook.yaml)."""
    with open(path or DEFAULT_CODEBOOK, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class Question:
    """One raw question column of the instrument, as the simulator needs it."""

    key: str  # codebook name (item key, background key, att1, consent, comment)
    column: str  # raw column name in the canonical (first) export
    role: str  # item | background | attention | consent | free_text
    scale: str | None
    text: str  # Dutch question text for the CSV's second header row
    reverse: bool = False
    wave_columns: Mapping[str, str] = field(default_factory=dict)

    def column_in(self, wave_id: str | None) -> str:
        """Raw column name in the export of ``wave_id`` (a wave may rename columns)."""
        return self.wave_columns.get(wave_id, self.column) if wave_id else self.column


def _q_sort_key(column: str) -> tuple[int, int]:
    """Order raw columns as the questionnaire does: Q7 before Q10, Q10_2 before Q10_10."""
    m = re.fullmatch(r"Q(\d+)(?:_(\d+))?", column)
    if not m:
        return (10_000, 0)
    return (int(m.group(1)), int(m.group(2) or 0))


def instrument(codebook: Mapping[str, Any]) -> list[Question]:
    """All question columns of the codebook in questionnaire order."""
    qs: list[Question] = []
    consent = codebook["meta"]["consent"]
    qs.append(Question("consent", consent["column"], "consent", consent["scale"], "Toestemming"))
    for key, spec in codebook["background"].items():
        qs.append(
            Question(
                key,
                spec["column"],
                "background",
                spec["scale"],
                spec["label"]["nl"],
                wave_columns=spec.get("wave_columns", {}),
            )
        )
    for key, spec in codebook["items"].items():
        qs.append(
            Question(
                key,
                spec["column"],
                "item",
                spec["scale"],
                spec["text"]["nl"],
                reverse=bool(spec.get("reverse", False)),
                wave_columns=spec.get("wave_columns", {}),
            )
        )
    for key, spec in codebook.get("attention_checks", {}).items():
        qs.append(
            Question(
                key,
                spec["column"],
                "attention",
                spec["scale"],
                spec["text"]["nl"],
                wave_columns=spec.get("wave_columns", {}),
            )
        )
    for key, spec in codebook.get("free_text", {}).items():
        qs.append(
            Question(
                key,
                spec["column"],
                "free_text",
                None,
                "Heeft u nog opmerkingen over de leer-werkgemeenschap?",
            )
        )
    qs.sort(key=lambda q: _q_sort_key(q.column))
    return qs


def _scale_range(codebook: Mapping[str, Any], scale: str) -> tuple[int, int]:
    spec = codebook["scales"][scale]
    if "values" in spec:
        codes = [int(k) for k in spec["values"]]
        return min(codes), max(codes)
    return int(spec["min"]), int(spec["max"])


def _labels_nl(codebook: Mapping[str, Any], scale: str | None) -> dict[int, str] | None:
    if scale is None:
        return None
    spec = codebook["scales"][scale]
    if "values" not in spec:
        return None
    return {int(k): str(v[0]) for k, v in spec["values"].items()}


def _consent_yes(codebook: Mapping[str, Any]) -> int:
    """The consent code meaning "yes". YAML 1.1 (yaml.safe_load) reads the key ``yes:`` as the
    boolean True, so the codebook's ``meta.consent.yes`` arrives under the key True."""
    spec = codebook["meta"]["consent"]
    return int(spec["yes"] if "yes" in spec else spec[True])


def _meta_column(codebook: Mapping[str, Any], name: str, wave_id: str | None) -> str:
    spec = codebook["meta"][name]
    if wave_id and wave_id in spec.get("wave_columns", {}):
        return spec["wave_columns"][wave_id]
    return spec["column"]


# --------------------------------------------------------------------------------------------
# The population model
# --------------------------------------------------------------------------------------------

# Standardised loadings of the continuous latent responses (latent-keyed direction).
LOADINGS: dict[str, list[float]] = {
    "motive_knowledge": [0.80, 0.75, 0.70],
    "motive_network": [0.80, 0.78, 0.70],
    "motive_labour": [0.85, 0.80, 0.75],
    "motive_societal": [0.75, 0.70, 0.65],
    "facilitation": [0.80, 0.78, 0.70],
    "appreciation": [0.78, 0.80, 0.68],
    "error_avoidance": [0.72, 0.75, 0.65],
    "psychological_safety": [0.68, 0.72, 0.65, 0.76, 0.66, 0.70, 0.74],
    "learning_behaviour": [0.72, 0.78, 0.70, 0.75, 0.68, 0.80],
    "perceived_learning": [0.85, 0.80, 0.70, 0.78],
    "network_gain": [0.82, 0.80, 0.68],
    "home_support": [0.80, 0.78, 0.65, 0.74],
    "knowledge_transfer": [0.82, 0.78, 0.72, 0.80, 0.70],
}
# Target mean answer per construct on the response scale, latent-keyed (before any reversal).
TARGET_MEANS: dict[str, float] = {
    "motive_knowledge": 3.9,
    "motive_network": 3.7,
    "motive_labour": 2.5,
    "motive_societal": 3.3,
    "facilitation": 3.8,
    "appreciation": 3.9,
    "error_avoidance": 2.3,
    "psychological_safety": 5.3,
    "learning_behaviour": 3.6,
    "perceived_learning": 3.7,
    "network_gain": 3.4,
    "home_support": 3.3,
    "knowledge_transfer": 3.2,
}
# Spread of the latent response in answer-scale units: how many categories one SD spans.
SPREAD = {"agree5": 0.95, "agree7": 1.30, "grade10": 1.30}
# Small item-specific shifts of the target mean so that items within a construct differ.
ITEM_SHIFTS = [0.10, 0.0, -0.10, 0.05, -0.05, 0.08, -0.08]

# Structural model in lavaan terms; all latent variables have variance 1.
STRUCTURAL: dict[str, dict[str, float]] = {
    "facilitation": {"climate": 0.80},
    "appreciation": {"climate": 0.75},
    "error_avoidance": {"climate": -0.60},
    "psychological_safety": {"climate": 0.50},
    "learning_behaviour": {"climate": 0.25, "psychological_safety": 0.30, "motive_knowledge": 0.20},
    "network_gain": {"motive_network": 0.40},
    "perceived_learning": {"learning_behaviour": 0.50},
    "knowledge_transfer": {
        "perceived_learning": 0.35,
        "home_support": 0.30,
        "perceived_learning:home_support": 0.15,
    },
    "usefulness": {"perceived_learning": 0.60},
}
EXOGENOUS = ["climate", *MOTIVES, "home_support"]
MOTIVE_CORRELATIONS = {
    ("motive_knowledge", "motive_network"): 0.35,
    ("motive_knowledge", "motive_labour"): 0.15,
    ("motive_knowledge", "motive_societal"): 0.30,
    ("motive_network", "motive_labour"): 0.25,
    ("motive_network", "motive_societal"): 0.25,
    ("motive_labour", "motive_societal"): 0.10,
}
MAIN_MOTIVE_TARGET = {1: 0.36, 2: 0.33, 3: 0.06, 4: 0.20, 5: 0.05}
MAIN_MOTIVE_SLOPE = 1.2  # logit slope of the choice on the (standardised) latent motive

SECTORS = {1: "public", 2: "private", 3: "education", 4: "non-profit"}
ORG_SIZE_BY_SECTOR = {  # P(org_size 1..4 | sector): SMEs (MKB) mostly private / non-profit
    1: [0.02, 0.08, 0.25, 0.65],
    2: [0.25, 0.35, 0.22, 0.18],
    3: [0.02, 0.08, 0.30, 0.60],
    4: [0.15, 0.35, 0.35, 0.15],
}
ROLE_BY_SECTOR = {  # P(role 1..5 | sector): lecturers and students only in education
    1: [0.60, 0.30, 0.05, 0.05, 0.00],
    2: [0.45, 0.25, 0.25, 0.05, 0.00],
    3: [0.15, 0.15, 0.02, 0.45, 0.23],
    4: [0.55, 0.30, 0.10, 0.05, 0.00],
}

MESS_RATES = {  # share of the rows of a wave (previews, duplicates) or of its persons (others)
    "preview": 0.01,
    "duplicate": 0.02,
    "no_consent": 0.03,
    "partial": 0.07,
    "speeder": 0.03,
    "straightliner": 0.03,
    "random": 0.02,
    "attention_fail": 0.03,
    "comment": 0.12,
}
MISSING_MODEL = {  # per-respondent probability of skipping an item: logit-linear (MAR)
    "base_rate": 0.06,
    "per_decade_of_age": 0.35,  # logit change per 10 years above 45
    "small_org": 0.60,  # logit change for micro and small organisations (org_size 1-2)
    "minus99_share": 0.12,  # share of skipped answers written as -99 instead of empty
    "background_rate": 0.02,  # age, gender, months skipped (MAR not modelled)
}


def _plain(x: Any) -> Any:
    """numpy scalars -> Python, recursively, so yaml.safe_dump accepts the dict."""
    if isinstance(x, dict):
        return {_plain(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _thresholds(target_mean: float, n_cat: int, spread: float) -> list[float]:
    """Cut-points on the N(0,1) latent response that give ``target_mean`` on 1..n_cat.

    The answer is ``clip(round(m + spread * y*), 1, n_cat)``: a normal response squashed into
    the scale, so means near the ends get the ceiling/floor skew of real Likert data.
    """

    def mean_for(m: float) -> float:
        tau = (np.arange(1, n_cat) + 0.5 - m) / spread
        return 1.0 + float(np.sum(stats.norm.sf(tau)))

    m = optimize.brentq(lambda m: mean_for(m) - target_mean, -n_cat, 2 * n_cat)
    return [round(float(t), 4) for t in (np.arange(1, n_cat) + 0.5 - m) / spread]


def _category_probs(thresholds: Sequence[float]) -> np.ndarray:
    cdf = np.concatenate([[0.0], stats.norm.cdf(thresholds), [1.0]])
    return np.diff(cdf)


def _omega_items(loadings: Sequence[float], thresholds: Sequence[Sequence[float]]) -> float:
    """Reliability of the sum of the discretised items: Var(E[sum | eta]) / Var(sum).

    Items are conditionally independent given the factor eta, so the conditional means and
    variances follow from normal cdfs and the outer expectation from Gauss-Hermite quadrature.
    """
    nodes, weights = special.roots_hermitenorm(80)
    weights = weights / weights.sum()
    cond_mean = np.zeros_like(nodes)
    cond_var = np.zeros_like(nodes)
    for lam, tau in zip(loadings, thresholds, strict=True):
        sd = np.sqrt(1 - lam**2)
        # P(y* > tau_k | eta) per cut-point; category probabilities are successive differences.
        p_exceed = stats.norm.sf((np.asarray(tau)[None, :] - lam * nodes[:, None]) / sd)
        ones, zeros = np.ones((len(nodes), 1)), np.zeros((len(nodes), 1))
        cats = -np.diff(np.concatenate([ones, p_exceed, zeros], axis=1), axis=1)
        values = np.arange(1, len(tau) + 2)
        m = cats @ values
        cond_mean += m
        cond_var += cats @ values**2 - m**2
    true_var = float(np.sum(weights * cond_mean**2) - np.sum(weights * cond_mean) ** 2)
    error_var = float(np.sum(weights * cond_var))
    return true_var / (true_var + error_var)


def _implied_covariance(motive_corr: np.ndarray) -> tuple[dict[str, float], pd.DataFrame]:
    """Residual variances and the implied correlation matrix of the latent variables.

    The only non-linear term is perceived_learning x home_support; its parts are independent
    standard normals, so the product has variance 1 and is uncorrelated with every Gaussian
    latent (odd moments vanish), which keeps the algebra linear.
    """
    names = EXOGENOUS + list(STRUCTURAL)
    idx = {n: i for i, n in enumerate(names)}
    cov = np.zeros((len(names), len(names)))
    cov[0, 0] = 1.0
    for i, a in enumerate(MOTIVES):
        for j, b in enumerate(MOTIVES):
            cov[idx[a], idx[b]] = motive_corr[i, j]
    cov[idx["home_support"], idx["home_support"]] = 1.0
    resid: dict[str, float] = {}
    for lhs, rhs in STRUCTURAL.items():
        lin = {k: v for k, v in rhs.items() if ":" not in k}
        b = np.zeros(len(names))
        for k, v in lin.items():
            b[idx[k]] = v
        explained = float(b @ cov @ b)
        for k, v in rhs.items():
            if ":" in k:
                p, q = k.split(":")
                explained += v**2 * (
                    cov[idx[p], idx[p]] * cov[idx[q], idx[q]] + cov[idx[p], idx[q]] ** 2
                )
        resid[lhs] = round(1.0 - explained, 6)
        i = idx[lhs]
        cov[i, :] = b @ cov
        cov[:, i] = cov[i, :]
        cov[i, i] = 1.0
    return resid, pd.DataFrame(cov, index=names, columns=names)


def _motive_cholesky(truth: Mapping[str, Any]) -> np.ndarray:
    corr = np.eye(len(MOTIVES))
    for pair in truth["motives"]["correlations"]:
        i, j = MOTIVES.index(pair["lhs"]), MOTIVES.index(pair["rhs"])
        corr[i, j] = corr[j, i] = pair["r"]
    return np.linalg.cholesky(corr)


def _main_motive_intercepts(motive_corr: np.ndarray) -> tuple[list[float], list[float]]:
    """Multinomial-logit intercepts that give the target main-motive shares.

    Calibrated by fixed-point iteration on a fixed-seed sample of latent motives (no clock,
    so the rounded intercepts are the same on every run).
    """
    z = (
        np.random.default_rng(7).standard_normal((50_000, len(MOTIVES)))
        @ np.linalg.cholesky(motive_corr).T
    )
    target = np.array(list(MAIN_MOTIVE_TARGET.values()))
    a = np.log(target)
    for _ in range(100):
        util = np.column_stack([a[:4] + MAIN_MOTIVE_SLOPE * z, np.full(len(z), a[4])])
        share = special.softmax(util, axis=1).mean(axis=0)
        a += np.log(target / share)
        a -= a[-1]  # "other" is the reference category
        if np.max(np.abs(share - target)) < 1e-5:
            break
    a = np.round(a, 3)
    util = np.column_stack([a[:4] + MAIN_MOTIVE_SLOPE * z, np.full(len(z), a[4])])
    share = special.softmax(util, axis=1).mean(axis=0)
    return [float(x) for x in a], [round(float(x), 3) for x in share]


def _communities(n_communities: int, icc: float, seed: int) -> list[dict[str, Any]]:
    """Fixed community profiles: size weight, majority sector, sector mix, climate effect.

    Two kinds of community: heterogeneous ones (45-70% from other sectors than the majority)
    and mostly single-sector ones (5-25%). Climate effects are rescaled to mean 0 and variance
    exactly ``icc`` so that the ICC of the latent climate is the documented value.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 25]))
    weights = rng.gamma(4.0, 1.0, n_communities)
    weights = np.round(weights / weights.sum(), 4)
    majority = rng.choice([1, 2, 3, 4], size=n_communities, p=[0.32, 0.28, 0.24, 0.16])
    heterogeneous = rng.permutation(n_communities) < round(0.4 * n_communities)
    share_other = np.where(
        heterogeneous,
        rng.uniform(0.45, 0.70, n_communities),
        rng.uniform(0.05, 0.25, n_communities),
    )
    u = rng.standard_normal(n_communities)
    u = (u - u.mean()) / u.std() * np.sqrt(icc)
    return [
        {
            "community": c + 1,
            "weight": float(weights[c]),
            "majority_sector": int(majority[c]),
            "heterogeneous": bool(heterogeneous[c]),
            "share_other_sector": round(float(share_other[c]), 3),
            "climate_effect": round(float(u[c]), 4),
        }
        for c in range(n_communities)
    ]


@functools.lru_cache(maxsize=4)
def _default_truth_cached(seed: int) -> dict[str, Any]:
    motive_corr = np.eye(len(MOTIVES))
    for (a, b), r in MOTIVE_CORRELATIONS.items():
        i, j = MOTIVES.index(a), MOTIVES.index(b)
        motive_corr[i, j] = motive_corr[j, i] = r
    resid, implied = _implied_covariance(motive_corr)
    intercepts, shares = _main_motive_intercepts(motive_corr)
    scale_of = {"psychological_safety": "agree7"}
    constructs: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for prefix, construct in CONSTRUCT_OF_PREFIX.items():
        scale = scale_of.get(construct, "agree5")
        n_cat = 7 if scale == "agree7" else 5
        lams = LOADINGS[construct]
        taus = []
        for k, lam in enumerate(lams, start=1):
            target = TARGET_MEANS[construct] + ITEM_SHIFTS[k - 1]
            tau = _thresholds(target, n_cat, SPREAD[scale])
            taus.append(tau)
            probs = _category_probs(tau)
            values = np.arange(1, n_cat + 1)
            mean = float(probs @ values)
            items[f"{prefix}{k}"] = {
                "construct": construct,
                "scale": scale,
                "loading": lam,
                "thresholds": tau,
                "mean": round(mean, 3),
                "sd": round(float(np.sqrt(probs @ values**2 - mean**2)), 3),
            }
        s = sum(lams)
        constructs[construct] = {
            "items": [f"{prefix}{k}" for k in range(1, len(lams) + 1)],
            "target_mean": TARGET_MEANS[construct],
            "omega_latent_response": round(s**2 / (s**2 + sum(1 - x**2 for x in lams)), 3),
            "omega_items": round(_omega_items(lams, taus), 3),
        }
    useful_tau = _thresholds(7.3, 10, SPREAD["grade10"])
    useful_probs = _category_probs(useful_tau)
    items["useful"] = {
        "construct": "usefulness",
        "scale": "grade10",
        "loading": 1.0,
        "thresholds": useful_tau,
        "mean": round(float(useful_probs @ np.arange(1, 11)), 3),
    }
    regressions = [
        {"lhs": lhs, "op": "~", "rhs": rhs, "std_all": coef}
        for lhs, spec in STRUCTURAL.items()
        if lhs not in ("facilitation", "appreciation", "error_avoidance")
        for rhs, coef in spec.items()
    ]
    truth = {
        "description": (
            "True population model of the synthetic Learning Communities waves. All latent "
            "variables are standardised (variance 1); coefficients are standardised "
            "(lavaan std_all). Item answers are a standardised continuous response "
            "loading * factor + sqrt(1 - loading^2) * error, cut at the thresholds into the "
            "answer scale in the latent-keyed direction; negatively worded items "
            "(reverse: true in the codebook) are then written reversed (raw = max + 1 - answer)."
        ),
        "seed": seed,
        "n_communities": 25,
        "climate_icc": 0.10,
        "communities": _communities(25, 0.10, seed),
        "second_order": {
            "climate": {"facilitation": 0.80, "appreciation": 0.75, "error_avoidance": -0.60},
        },
        "regressions": regressions,
        "residual_variances": resid,
        "motives": {
            "correlations": [
                {"lhs": a, "rhs": b, "r": r} for (a, b), r in MOTIVE_CORRELATIONS.items()
            ],
            "note": "climate, motives and home_support are mutually independent otherwise; "
            "motive_labour has no effect on any outcome",
        },
        "implied_correlations": {
            a: {b: round(float(implied.loc[a, b]), 4) for b in implied.columns}
            for a in implied.index
        },
        "constructs": constructs,
        "items": items,
        "main_motive": {
            "model": "multinomial logit on the latent motives; 5 (other) is the reference",
            "slope": MAIN_MOTIVE_SLOPE,
            "intercepts": dict(zip(MAIN_MOTIVE_TARGET, intercepts, strict=True)),
            "target_shares": MAIN_MOTIVE_TARGET,
            "expected_shares": dict(zip(MAIN_MOTIVE_TARGET, shares, strict=True)),
        },
        "usefulness": {
            "note": "grade 1-10 = usefulness latent cut at items.useful.thresholds; "
            "usefulness ~ 0.60 * perceived_learning",
        },
        "background": {
            "sectors": SECTORS,
            "org_size_by_sector": ORG_SIZE_BY_SECTOR,
            "role_by_sector": ROLE_BY_SECTOR,
            "age": "students N(22, 2) clipped 17-30; others N(45, 10.5) clipped 21-67",
            "gender": {1: 0.47, 2: 0.51, 3: 0.02},
            "months": "1 + Gamma(2, 8) rounded, at most 60 (returners: +6 per half year)",
            "note": "background affects no latent variable; community shifts climate only",
        },
        "missing": MISSING_MODEL,
        "mess_rates": MESS_RATES,
        "panel": {
            "returner_share": 0.60,
            "stability": 0.60,
            "note": "for returners every standard-normal innovation (exogenous latents, "
            "structural disturbances, the person part of climate) follows "
            "z2 = stability * z1 + sqrt(1 - stability^2) * e; the community effect is "
            "fixed, so the within-wave model is the same in every wave",
            "expected_correlations": {
                "same_construct_w1_w2": 0.60,
                "climate_w1__climate_w2": 0.64,  # .10 + .90 * .60: the community part is fixed
                "perceived_learning_w1__knowledge_transfer_w2": 0.21,  # .35 * .60
            },
        },
    }
    return _plain(truth)


def default_truth(seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The population model as a plain dict (what goes into TRUTH.yaml, minus wave counts).

    Deterministic: derived thresholds and intercepts are computed with fixed seeds and rounded,
    and the simulator uses the rounded values, so the dict describes the generator exactly.
    """
    return copy.deepcopy(_default_truth_cached(seed))


def __getattr__(name: str) -> Any:
    # ``TRUTH`` is computed on first use, not at import: deriving the thresholds and the
    # main-motive intercepts takes about a second.
    if name == "TRUTH":
        return default_truth()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Clean respondents
# --------------------------------------------------------------------------------------------

INNOVATIONS = ["climate", *MOTIVES, "home_support", *STRUCTURAL]


def _structural_order(truth: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    spec: dict[str, dict[str, float]] = {k: dict(v) for k, v in truth["second_order"].items()}
    out = {lhs: {"climate": coef} for lhs, coef in spec["climate"].items()}
    for reg in truth["regressions"]:
        out.setdefault(reg["lhs"], {})[reg["rhs"]] = reg["std_all"]
    return out


def _latent_from_innovations(
    z: Mapping[str, np.ndarray], community: np.ndarray, truth: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Latent scores from standard-normal innovations (forward through the model)."""
    icc = truth["climate_icc"]
    effects = np.array([c["climate_effect"] for c in truth["communities"]])
    lat: dict[str, np.ndarray] = {
        "climate": effects[community - 1] + np.sqrt(1 - icc) * z["climate"]
    }
    motives = np.column_stack([z[m] for m in MOTIVES]) @ _motive_cholesky(truth).T
    for i, m in enumerate(MOTIVES):
        lat[m] = motives[:, i]
    lat["home_support"] = z["home_support"]
    resid = truth["residual_variances"]
    for lhs, rhs in _structural_order(truth).items():
        value = np.sqrt(resid[lhs]) * z[lhs]
        for term, coef in rhs.items():
            parts = term.split(":")
            prod = np.ones_like(value)
            for p in parts:
                prod = prod * lat[p]
            value = value + coef * prod
        lat[lhs] = value
    return lat


def _innovations_from_latent(
    lat: Mapping[str, np.ndarray], community: np.ndarray, truth: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Invert ``_latent_from_innovations``: a previous wave's innovations from its true scores."""
    icc = truth["climate_icc"]
    effects = np.array([c["climate_effect"] for c in truth["communities"]])
    z = {"climate": (lat["climate"] - effects[community - 1]) / np.sqrt(1 - icc)}
    motives = np.column_stack([lat[m] for m in MOTIVES])
    zm = np.linalg.solve(_motive_cholesky(truth), motives.T).T
    for i, m in enumerate(MOTIVES):
        z[m] = zm[:, i]
    z["home_support"] = np.asarray(lat["home_support"], dtype=float)
    resid = truth["residual_variances"]
    for lhs, rhs in _structural_order(truth).items():
        value = np.asarray(lat[lhs], dtype=float).copy()
        for term, coef in rhs.items():
            prod = np.ones_like(value)
            for p in term.split(":"):
                prod = prod * lat[p]
            value = value - coef * prod
        z[lhs] = value / np.sqrt(resid[lhs])
    return z


def _cut(ystar: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    return 1 + np.searchsorted(np.asarray(thresholds), ystar, side="left").astype(np.int64)


def _draw_background(
    n: int, rng: np.random.Generator, truth: Mapping[str, Any], previous: pd.DataFrame | None
) -> pd.DataFrame:
    if previous is not None:
        # Returners keep who they are; half a year later they may have had a birthday and
        # have six more months in the community.
        bg = previous[["community", "sector", "org_size", "role", "age", "gender", "months"]].copy()
        bg = bg.reset_index(drop=True)
        bg["age"] = bg["age"] + (rng.random(n) < 0.5).astype(int)
        bg["months"] = np.minimum(bg["months"] + 6, 120)
        return bg
    comms = truth["communities"]
    w = np.array([c["weight"] for c in comms])
    community = rng.choice(np.arange(1, len(comms) + 1), size=n, p=w / w.sum())
    majority = np.array([c["majority_sector"] for c in comms])[community - 1]
    share = np.array([c["share_other_sector"] for c in comms])[community - 1]
    other = rng.random(n) < share
    # Members from another sector come uniformly from the other three sectors.
    shift = rng.integers(1, 4, size=n)
    sector = np.where(other, (majority - 1 + shift) % 4 + 1, majority)
    org_size = np.empty(n, dtype=int)
    role = np.empty(n, dtype=int)
    for s in (1, 2, 3, 4):
        mask = sector == s
        k = int(mask.sum())
        org_size[mask] = rng.choice(
            [1, 2, 3, 4], size=k, p=truth["background"]["org_size_by_sector"][s]
        )
        role[mask] = rng.choice([1, 2, 3, 4, 5], size=k, p=truth["background"]["role_by_sector"][s])
    student = role == 5
    age = np.where(
        student, np.clip(rng.normal(22, 2, n), 17, 30), np.clip(rng.normal(45, 10.5, n), 21, 67)
    )
    g = truth["background"]["gender"]
    gender = rng.choice(list(g), size=n, p=list(g.values()))
    months = np.minimum(1 + np.round(rng.gamma(2.0, 8.0, n)), 60)
    return pd.DataFrame(
        {
            "community": community.astype(int),
            "sector": sector.astype(int),
            "org_size": org_size,
            "role": role,
            "age": np.round(age).astype(int),
            "gender": gender.astype(int),
            "months": months.astype(int),
        }
    )


def simulate_population(
    n: int,
    rng: np.random.Generator,
    truth: Mapping[str, Any] | None = None,
    *,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Simulate ``n`` clean respondents from the population model (no mess, no missing data).

    Returns one row per respondent with
    * every item of the codebook (``mot_know1`` ... ``tr5``) as integer answers in the
      latent-keyed (true) direction, i.e. negatively worded items are NOT yet reversed, plus
      ``useful`` (grade 1-10);
    * background: community, sector, org_size, role, age, gender, months, main_motive (codes as
      in the codebook);
    * the latent true scores ``true_<construct>`` (plus ``true_climate`` and
      ``true_usefulness``), standardised.

    ``previous`` (optional) is the result of an earlier call for the same people: they keep
    their background and their true scores are carried over with the panel stability in
    ``truth['panel']``; ``n`` is then ignored.
    """
    truth = default_truth() if truth is None else truth
    if previous is not None:
        n = len(previous)
    bg = _draw_background(n, rng, truth, previous)
    community = bg["community"].to_numpy()
    fresh = {k: rng.standard_normal(n) for k in INNOVATIONS}
    if previous is not None:
        rho = truth["panel"]["stability"]
        old_lat = {
            k.removeprefix("true_"): previous[k].to_numpy(dtype=float)
            for k in previous.columns
            if k.startswith("true_")
        }
        old = _innovations_from_latent(old_lat, previous["community"].to_numpy(), truth)
        z = {k: rho * old[k] + np.sqrt(1 - rho**2) * fresh[k] for k in INNOVATIONS}
    else:
        z = fresh
    lat = _latent_from_innovations(z, community, truth)

    out = {}
    for item, spec in truth["items"].items():
        lam = spec["loading"]
        factor = lat[spec["construct"]]
        ystar = lam * factor + np.sqrt(max(1 - lam**2, 0.0)) * rng.standard_normal(n)
        out[item] = _cut(ystar, spec["thresholds"])
    items = pd.DataFrame(out)

    mm = truth["main_motive"]
    a = np.array([mm["intercepts"][k] for k in sorted(mm["intercepts"])])
    util = np.column_stack(
        [a[:4] + mm["slope"] * np.column_stack([lat[m] for m in MOTIVES]), np.full(n, a[4])]
    )
    prob = special.softmax(util, axis=1)
    # Inverse-cdf draw per row keeps the choice a deterministic function of one uniform.
    main = 1 + (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
    bg["main_motive"] = np.minimum(main, 5).astype(int)

    true = pd.DataFrame({f"true_{k}": v for k, v in lat.items()})
    return pd.concat([items, bg, true], axis=1)


# --------------------------------------------------------------------------------------------
# Raw waves with mess
# --------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Anne",
    "Bram",
    "Charlotte",
    "Daan",
    "Eva",
    "Femke",
    "Gijs",
    "Hanna",
    "Iris",
    "Jeroen",
    "Karin",
    "Lars",
    "Marieke",
    "Niels",
    "Olga",
    "Pieter",
    "Renée",
    "Sanne",
    "Thijs",
    "Ursula",
    "Vera",
    "Willem",
    "Yara",
    "Zoë",
    "Anouk",
    "Bas",
    "Chloë",
    "Dirk",
    "Esther",
    "Frank",
    "Ilse",
    "Joost",
    "Lotte",
    "Mohamed",
    "Noor",
    "Priya",
    "Ruud",
    "Sofie",
    "Tim",
    "Wouter",
]
LAST_NAMES = [
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "Kok",
    "Jacobs",
    "Haddou",
    "Yilmaz",
    "van Dijk",
    "Koster",
    "Prins",
    "Huisman",
]
DOMAINS = {
    1: ["gemeente-zwolle.nl", "rws.nl", "provincie-gelderland.nl", "minvenw.nl"],
    2: ["bouwbedrijf-devries.nl", "techniekhuis.nl", "greenpower.com", "kpn.com", "gmail.com"],
    3: ["hanze.nl", "windesheim.nl", "hu.nl", "roc-midden.nl", "student.hva.nl"],
    4: ["humanitas.nl", "natuurmonumenten.nl", "stichting-zorgsaam.nl", "outlook.com"],
}
COMMENTS = [
    "Heel inspirerend, ik heb veel geleerd van de andere deelnemers.",
    "Ideeën van andere organisaties waren erg bruikbaar in mijn eigen team.",
    "Het café na afloop was een goede plek om verder te praten.",
    "Graag meer tijd voor reflectie; de bijeenkomsten waren soms te vol.",
    "Mijn leidinggevende had weinig belangstelling voor wat ik meebracht, jammer.",
    'De samenwerking met het MKB verliep "stroef", maar het werd beter.',
    "Te veel nadruk op theorie.\nMeer praktijkvoorbeelden graag.",
    "Financiële ruimte om het geleerde in te voeren ontbreekt nog.",
    "Geëngageerde begeleider, échte aanrader!",
    "Reünie volgend jaar? Dan kunnen we zien wat er van de plannen terecht is gekomen.",
    "Goed georganiseerd. Coördinatie tussen de hogeschool en de gemeente kan beter.",
    "Ik vond het lastig om in mijn organisatie tijd vrij te maken.",
]


@dataclass
class Wave:
    """One simulated wave: the raw export, the persons behind it, and its mess counts."""

    wave_id: str
    raw: pd.DataFrame  # canonical raw column names, numeric codes, one row per response
    persons: pd.DataFrame  # one row per genuine person: person code, PII, background, true_*
    counts: dict[str, Any]


def _wave_number(wave_id: str) -> int:
    digits = re.sub(r"\D", "", wave_id)
    return int(digits) if digits else sum(map(ord, wave_id))


def _wave_start(wave_id: str) -> datetime:
    m = re.fullmatch(r"(\d{4})-(\d{2})", wave_id)
    if m:
        return datetime(int(m.group(1)), int(m.group(2)), 1, 0, 0, 0)
    return datetime(2023, 1, 1)


def _response_id(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    return ["R_" + "".join(rng.choice(alphabet, 15)) for _ in range(n)]


def _pii(rng: np.random.Generator, sector: np.ndarray) -> pd.DataFrame:
    n = len(sector)
    first = rng.choice(FIRST_NAMES, n)
    last = rng.choice(LAST_NAMES, n)
    emails = []
    for f, ln, s in zip(first, last, sector, strict=True):
        dom = rng.choice(DOMAINS[int(s)])
        local = f"{f}.{ln.replace(' ', '')}".lower()
        local = local.replace("é", "e").replace("ë", "e")
        emails.append(f"{local}@{dom}")
    first_octet = rng.choice([31, 77, 84, 86, 145, 188, 213], n)
    ip = [
        f"{a}.{b}.{c}.{d}"
        for a, b, c, d in zip(
            first_octet,
            rng.integers(0, 256, n),
            rng.integers(0, 256, n),
            rng.integers(1, 255, n),
            strict=True,
        )
    ]
    return pd.DataFrame(
        {
            "RecipientLastName": last,
            "RecipientFirstName": first,
            "RecipientEmail": emails,
            "IPAddress": ip,
            # Around the Netherlands, to four decimals as Qualtrics writes them.
            "LocationLatitude": np.round(rng.uniform(51.35, 53.35, n), 4),
            "LocationLongitude": np.round(rng.uniform(3.7, 7.0, n), 4),
        }
    )


def _blocks(qs: Sequence[Question]) -> list[list[Question]]:
    """Questionnaire blocks: one per question number (Q6_1..Q6_12 is one block)."""
    out: dict[int, list[Question]] = {}
    for q in qs:
        out.setdefault(_q_sort_key(q.column)[0], []).append(q)
    return [out[k] for k in sorted(out)]


def _raw_answer(q: Question, latent_keyed: np.ndarray, codebook: Mapping[str, Any]) -> np.ndarray:
    lo, hi = _scale_range(codebook, q.scale)
    return (lo + hi - latent_keyed) if q.reverse else latent_keyed


def _simulate_wave(
    wave_id: str,
    n: int,
    seed: int,
    codebook: Mapping[str, Any],
    truth: Mapping[str, Any] | None = None,
    previous: pd.DataFrame | None = None,
    first_person: int = 1,
) -> Wave:
    truth = default_truth() if truth is None else truth
    rates = truth["mess_rates"]
    rng = np.random.default_rng(np.random.SeedSequence([seed, _wave_number(wave_id)]))
    qs = instrument(codebook)
    blocks = _blocks(qs)

    n_preview = round(rates["preview"] * n)
    n_dup = round(rates["duplicate"] * n)
    n_persons = n - n_preview - n_dup

    # Persons: returners from the previous wave (same person code and PII) plus newcomers.
    n_return = 0
    if previous is not None and len(previous):
        share = truth["panel"]["returner_share"]
        n_return = min(round(share * len(previous)), round(0.8 * n_persons))
        back = previous.iloc[np.sort(rng.choice(len(previous), n_return, replace=False))]
        has_truth = any(c.startswith("true_") for c in back.columns)
        if has_truth:
            ret = simulate_population(n_return, rng, truth, previous=back)
        else:
            # A previous export without true scores: keep identity and background only.
            ret = simulate_population(n_return, rng, truth)
            for c in ("community", "sector", "org_size", "role", "age", "gender", "months"):
                if c in back.columns:
                    ret[c] = back[c].to_numpy()
        ret["person"] = back["person"].to_numpy()
        pii_cols = [c for c in codebook["pii"] if c in back.columns]
        ret = pd.concat([ret, back[pii_cols].reset_index(drop=True)], axis=1)
        ret["returner"] = True
    new = simulate_population(n_persons - n_return, rng, truth)
    new["person"] = [f"LC-{first_person + i:04d}" for i in range(len(new))]
    new = pd.concat([new, _pii(rng, new["sector"].to_numpy())], axis=1)
    new["returner"] = False
    persons = pd.concat([ret, new], ignore_index=True) if n_return else new
    if n_return:
        # A returner may answer from another network location this time.
        fresh = _pii(rng, persons["sector"].to_numpy())
        for c in ("IPAddress", "LocationLatitude", "LocationLongitude"):
            persons[c] = fresh[c]

    # Mess types are exclusive per person; counts are fixed shares of the persons.
    kinds = ["no_consent", "partial", "speeder", "straightliner", "random", "attention_fail"]
    n_kind = {k: round(rates[k] * n_persons) for k in kinds}
    labels = np.concatenate(
        [
            np.repeat(kinds, [n_kind[k] for k in kinds]),
            np.repeat("clean", n_persons - sum(n_kind.values())),
        ]
    )
    persons["kind"] = rng.permutation(labels)

    # Raw answers (canonical columns, numeric codes); NaN = empty.
    raw = pd.DataFrame(index=range(n_persons))
    for q in qs:
        if q.role == "item":
            raw[q.column] = _raw_answer(q, persons[q.key].to_numpy(), codebook).astype(float)
        elif q.role == "background":
            raw[q.column] = persons[q.key].astype(float)
        elif q.role == "attention":
            raw[q.column] = float(codebook["attention_checks"][q.key]["expected"])
        elif q.role == "consent":
            raw[q.column] = float(_consent_yes(codebook))
        elif q.role == "free_text":
            raw[q.column] = ""
    kind = persons["kind"].to_numpy()
    agree_qs = [
        q for q in qs if q.role in ("item", "attention") and q.scale in ("agree5", "agree7")
    ]
    likert_qs = [q for q in qs if q.role in ("item", "attention")]

    # Random responders and speeders answer uniformly at random (speeders click through).
    rand = np.isin(kind, ["random", "speeder"])
    for q in likert_qs:
        lo, hi = _scale_range(codebook, q.scale)
        raw.loc[rand, q.column] = rng.integers(lo, hi + 1, int(rand.sum())).astype(float)
    # Straightliners give one answer to every agree item, ignoring the wording.
    sl = kind == "straightliner"
    level = rng.choice([3, 4, 5], int(sl.sum()), p=[0.3, 0.45, 0.25])
    for q in agree_qs:
        raw.loc[sl, q.column] = (level if q.scale == "agree5" else level + (level - 3)).astype(
            float
        )
    # Attentive otherwise, but the attention check answered wrongly.
    for q in (q for q in qs if q.role == "attention"):
        af = kind == "attention_fail"
        raw.loc[af, q.column] = rng.choice([2, 3, 5], int(af.sum()), p=[0.2, 0.4, 0.4]).astype(
            float
        )

    # Missing answers, MAR on age and organisation size.
    mm = truth["missing"]
    logit = (
        special.logit(mm["base_rate"])
        + mm["per_decade_of_age"] * (persons["age"] - 45) / 10
        + mm["small_org"] * (persons["org_size"] <= 2)
    )
    p_miss = special.expit(logit.to_numpy())
    item_cols = [q.column for q in qs if q.role == "item"]
    miss = rng.random((n_persons, len(item_cols))) < p_miss[:, None]
    miss[np.isin(kind, ["straightliner", "random", "speeder"])] = False  # they answer everything
    minus99 = miss & (rng.random(miss.shape) < mm["minus99_share"])
    values = raw[item_cols].to_numpy()
    values[miss] = np.nan
    values[minus99] = -99.0
    raw[item_cols] = values
    bg_cols = [codebook["background"][k]["column"] for k in ("age", "gender", "months")]
    bg_miss = rng.random((n_persons, len(bg_cols))) < mm["background_rate"]
    bgv = raw[bg_cols].to_numpy()
    bgv[bg_miss] = np.nan
    raw[bg_cols] = bgv

    # Free-text comments from some completers.
    free_col = next(q.column for q in qs if q.role == "free_text")
    has_comment = (kind != "no_consent") & (rng.random(n_persons) < rates["comment"])
    raw.loc[has_comment, free_col] = rng.choice(COMMENTS, int(has_comment.sum()))

    # Progress, refusals and partials: everything after the consent / drop-off block is empty.
    progress = np.full(n_persons, 100)
    finished = np.ones(n_persons, dtype=bool)
    all_cols = [q.column for q in qs]
    consent_col = codebook["meta"]["consent"]["column"]
    nc = kind == "no_consent"
    raw.loc[nc, [c for c in all_cols if c != consent_col]] = np.nan
    raw.loc[nc, free_col] = ""
    no_code = next(
        k
        for k in _labels_nl(codebook, codebook["meta"]["consent"]["scale"])
        if k != _consent_yes(codebook)
    )
    raw.loc[nc, consent_col] = float(no_code)
    for i in np.flatnonzero(kind == "partial"):
        last = int(rng.integers(1, len(blocks) - 3))  # completed blocks 0..last
        later = [q.column for b in blocks[last + 1 :] for q in b]
        for c in later:
            raw.at[i, c] = "" if c == free_col else np.nan
        progress[i] = round(100 * (last + 1) / len(blocks))
        finished[i] = False

    # Durations (seconds), dates and identifiers.
    median = 780.0
    duration = np.exp(rng.normal(np.log(median), 0.45, n_persons))
    duration[kind == "speeder"] = median * rng.uniform(0.08, 0.22, int((kind == "speeder").sum()))
    duration[nc] = rng.uniform(8, 40, int(nc.sum()))
    part = kind == "partial"
    duration[part] = duration[part] * progress[part] / 100
    start0 = _wave_start(wave_id)
    day = np.minimum(rng.gamma(1.2, 3.5, n_persons), 20.5)
    hour = rng.uniform(7.5, 22.5, n_persons)
    start = [
        start0 + timedelta(seconds=int(d) * 86400 + int(h * 3600))
        for d, h in zip(np.floor(day), hour, strict=True)
    ]
    dur = np.round(duration).astype(int)
    end = [s + timedelta(seconds=int(d)) for s, d in zip(start, dur, strict=True)]
    # Unfinished responses are recorded when Qualtrics closes them, a week after the start.
    recorded = [
        s + timedelta(days=7) if not f else e for s, e, f in zip(start, end, finished, strict=True)
    ]

    meta = pd.DataFrame(
        {
            "StartDate": start,
            "EndDate": end,
            "Status": "IP Address",
            "IPAddress": persons["IPAddress"],
            "Progress": progress,
            "Duration (in seconds)": dur,
            "Finished": finished,
            "RecordedDate": recorded,
            "ResponseId": _response_id(rng, n_persons),
            "RecipientLastName": persons["RecipientLastName"],
            "RecipientFirstName": persons["RecipientFirstName"],
            "RecipientEmail": persons["RecipientEmail"],
            "ExternalReference": persons["person"],
            "LocationLatitude": persons["LocationLatitude"],
            "LocationLongitude": persons["LocationLongitude"],
            "DistributionChannel": "email",
            "UserLanguage": "NL",
        }
    )
    rows = pd.concat([meta, raw], axis=1)

    # Duplicates: a clean completer submits again 1-3 days later with a few answers changed.
    clean_idx = np.flatnonzero(kind == "clean")
    dup_src = np.sort(rng.choice(clean_idx, n_dup, replace=False))
    dups = rows.iloc[dup_src].copy()
    later = rng.uniform(1, 3, n_dup)
    dups["StartDate"] = [
        s + timedelta(seconds=int(x * 86400)) for s, x in zip(dups["StartDate"], later, strict=True)
    ]
    new_dur = np.round(dups["Duration (in seconds)"].to_numpy() * rng.uniform(0.6, 1.1, n_dup))
    dups["Duration (in seconds)"] = new_dur.astype(int)
    dups["EndDate"] = [
        s + timedelta(seconds=int(d)) for s, d in zip(dups["StartDate"], new_dur, strict=True)
    ]
    dups["RecordedDate"] = dups["EndDate"]
    dups["ResponseId"] = _response_id(rng, n_dup)
    for q in likert_qs:
        lo, hi = _scale_range(codebook, q.scale)
        v = dups[q.column].to_numpy()
        change = (rng.random(n_dup) < 0.12) & (v >= lo)
        step = rng.choice([-1, 1], n_dup)
        dups[q.column] = np.where(change, np.clip(v + step, lo, hi), v)

    # Survey previews by the research team: random answers, no identity.
    prev = rows.iloc[:0].copy().reindex(range(n_preview))
    for q in qs:
        if q.role in ("item", "attention", "background"):
            lo, hi = _scale_range(codebook, q.scale)
            prev[q.column] = rng.integers(
                lo, min(hi, 25 if q.key == "community" else hi) + 1, n_preview
            ).astype(float)
    prev[consent_col] = float(_consent_yes(codebook))
    prev[free_col] = ["test" if i == 0 else "" for i in range(n_preview)]
    pstart = [start0 + timedelta(days=-2, hours=10 + 2 * i) for i in range(n_preview)]
    pdur = rng.integers(60, 600, n_preview)
    prev["StartDate"] = pstart
    prev["EndDate"] = [s + timedelta(seconds=int(d)) for s, d in zip(pstart, pdur, strict=True)]
    prev["RecordedDate"] = prev["EndDate"]
    prev["Status"] = "Survey Preview"
    prev["Progress"] = 100
    prev["Duration (in seconds)"] = pdur
    prev["Finished"] = True
    prev["ResponseId"] = _response_id(rng, n_preview)
    for c in (
        "IPAddress",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
    ):
        prev[c] = ""
    prev["LocationLatitude"] = np.nan
    prev["LocationLongitude"] = np.nan
    prev["DistributionChannel"] = "preview"
    prev["UserLanguage"] = "NL"

    rows = pd.concat([rows, dups, prev], ignore_index=True)

    # A few impossible numbers typed into numeric fields (by clean completers).
    oor_plan = [("age", 150.0), ("age", 4.0), ("months", 999.0), ("useful", 11.0)]
    col_of = {q.key: q.column for q in qs}
    kind_full = np.concatenate(
        [kind, np.repeat("duplicate", n_dup), np.repeat("preview", n_preview)]
    )
    candidates = np.setdiff1d(np.flatnonzero(kind_full == "clean"), dup_src)
    targets = rng.choice(candidates, len(oor_plan), replace=False)
    out_of_range = []
    for (key, value), r in zip(oor_plan, targets, strict=True):
        rows.at[r, col_of[key]] = value
        out_of_range.append({"column": col_of[key], "item": key, "value": value})

    # Qualtrics lists responses in the order they were recorded.
    order = np.argsort(np.array(rows["RecordedDate"], dtype="datetime64[s]"), kind="stable")
    rows = rows.iloc[order].reset_index(drop=True)
    kind_full = kind_full[order]

    # Item non-response among finished, consenting, genuine rows (the rate the MAR model sets).
    done = (kind_full != "preview") & rows["Finished"].astype(bool).to_numpy()
    done &= rows[consent_col].to_numpy() == _consent_yes(codebook)
    answered = rows.loc[done, item_cols]
    counts = {
        "rows": int(len(rows)),
        "persons": int(n_persons),
        "returners": int(n_return),
        "newcomers": int(n_persons - n_return),
        "preview": int(n_preview),
        "duplicate": int(n_dup),
        **{k: int(n_kind[k]) for k in kinds},
        "clean": int((kind == "clean").sum()),
        "finished_consented_persons": int(((kind != "no_consent") & finished).sum()),
        "attention_check_wrong_total": int(
            (
                rows.loc[kind_full != "preview", col_of["att1"]].notna()
                & (
                    rows.loc[kind_full != "preview", col_of["att1"]]
                    != codebook["attention_checks"]["att1"]["expected"]
                )
            ).sum()
        ),
        "finished_rows_item_cells": int(answered.size),
        "finished_rows_item_cells_empty": int(answered.isna().sum().sum()),
        "finished_rows_item_cells_minus99": int((answered == -99).sum().sum()),
        "item_missing_share_finished": round(
            float((answered.isna() | (answered == -99)).to_numpy().mean()), 4
        ),
        "comments": int((rows[free_col].fillna("") != "").sum()),
        "out_of_range": out_of_range,
    }
    return Wave(wave_id, rows, persons, counts)


def make_wave(
    wave_id: str,
    n: int,
    seed: int,
    codebook: Mapping[str, Any] | None = None,
    truth: Mapping[str, Any] | None = None,
    previous: pd.DataFrame | None = None,
    first_person: int = 1,
) -> pd.DataFrame:
    """One raw survey wave with real-world mess, ``n`` rows in all.

    Columns are the canonical raw names of the codebook (``column``; the writers apply a
    wave's ``wave_columns``), Qualtrics metadata first. Answers are numeric codes (NaN =
    empty, -99 = the codebook's missing code), negatively worded items as the respondent
    ticked them (reversed). ``previous``: earlier respondents who may return (about
    ``truth['panel']['returner_share']`` of them), a DataFrame with ``person`` (the
    ExternalReference), PII and background columns and, optionally, ``true_*`` scores; newcomers
    are numbered from ``first_person``. The mess counts are in ``df.attrs['counts']``.
    """
    codebook = load_codebook() if codebook is None else codebook
    wave = _simulate_wave(wave_id, n, seed, codebook, truth, previous, first_person)
    wave.raw.attrs["counts"] = wave.counts
    return wave.raw


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _fmt_number(x: Any) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return str(int(x))
    return str(x)


def _column_order(df: pd.DataFrame, codebook: Mapping[str, Any]) -> list[str]:
    qcols = [q.column for q in instrument(codebook)]
    return [c for c in QUALTRICS_META if c in df.columns] + [c for c in qcols if c in df.columns]


def write_qualtrics_csv(df: pd.DataFrame, path: str | Path, codebook: Mapping[str, Any]) -> None:
    """Write a wave as a Qualtrics "choice text" CSV export.

    UTF-8 with BOM, three header rows (column ids, question text, ImportId JSON), Dutch choice
    text for labelled scales, numbers for numeric scales, -99 written as the number, empty for
    no answer, dates as ``YYYY-MM-DD HH:MM:SS``.
    """
    qs = {q.column: q for q in instrument(codebook)}
    cols = _column_order(df, codebook)
    header2, header3 = [], []
    for c in cols:
        if c in QUALTRICS_META:
            header2.append(QUALTRICS_META[c][0])
            header3.append(QUALTRICS_META[c][1])
            continue
        q = qs[c]
        header2.append(q.text)
        m = re.fullmatch(r"Q(\d+)(_\d+)?", c)
        suffix = (
            "_TEXT"
            if q.role == "free_text"
            or (q.scale is not None and _labels_nl(codebook, q.scale) is None and q.key != "useful")
            else ""
        )
        qid = f"QID{m.group(1)}{m.group(2) or ''}{suffix}"
        header3.append('{"ImportId":"' + qid + '"}')
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    writer.writerow(header2)
    writer.writerow(header3)
    labels = {c: _labels_nl(codebook, qs[c].scale) for c in cols if c in qs}
    for rec in df[cols].itertuples(index=False, name=None):
        out = []
        for c, v in zip(cols, rec, strict=True):
            if isinstance(v, (datetime, pd.Timestamp)):
                out.append(v.strftime("%Y-%m-%d %H:%M:%S"))
            elif labels.get(c) and not (isinstance(v, float) and np.isnan(v)) and v != -99:
                out.append(labels[c].get(int(v), _fmt_number(v)))
            else:
                out.append(_fmt_number(v))
        writer.writerow(out)
    Path(path).write_bytes(buf.getvalue().encode("utf-8-sig"))


def _sav_stamp(wave_id: str) -> bytes:
    """Fixed creation date and time for the .sav header: the wave's first day, midnight."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    d = _wave_start(wave_id)
    return f"{d.day:02d} {months[d.month - 1]} {d.year % 100:02d}00:00:00".encode("ascii")


# Byte offset of the creation date (9 bytes, "dd Mon yy") and time (8 bytes, "hh:mm:ss") in the
# .sav header: "$FL2"(4) + product name(60) + layout code(4) + nominal case size(4) +
# compression(4) + weight index(4) + number of cases(4) + bias(8) = 92.
SAV_STAMP_OFFSET = 92
_SAV_STAMP_RE = re.compile(rb"\d\d [A-Z][a-z]{2} \d\d\d\d:\d\d:\d\d")


def write_sav(
    df: pd.DataFrame, path: str | Path, codebook: Mapping[str, Any], wave_id: str
) -> None:
    """Write a wave as an SPSS .sav export (numeric codes, Dutch value labels).

    Columns are renamed to the codebook's ``wave_columns`` for ``wave_id`` (SPSS names:
    ``Duration__in_seconds_``), Status becomes 0 = "IP Address" / 1 = "Survey Preview",
    Finished 0/1, empty answers system-missing, -99 kept as a plain value. readstat stamps the
    file with the current date and time; that stamp is overwritten with a fixed one derived
    from the wave so regenerating gives identical bytes.
    """
    qs = {q.column: q for q in instrument(codebook)}
    cols = _column_order(df, codebook)
    out = pd.DataFrame(index=df.index)
    value_labels: dict[str, dict[int, str]] = {}
    column_labels: dict[str, str] = {}
    measure: dict[str, str] = {}
    rename = {c: q.column_in(wave_id) for c, q in qs.items()}
    rename["Duration (in seconds)"] = _meta_column(codebook, "duration", wave_id)
    for c in cols:
        # SPSS names allow no spaces or brackets; Qualtrics replaces them by underscores.
        name = re.sub(r"[^A-Za-z0-9_]", "_", rename.get(c, c))
        v = df[c]
        if c == "Status":
            out[name] = v.map(STATUS_CODES).astype(float)
            value_labels[name] = {code: text for text, code in STATUS_CODES.items()}
        elif c == "Finished":
            out[name] = v.astype(float)
            value_labels[name] = {0: "False", 1: "True"}
        elif c in ("StartDate", "EndDate", "RecordedDate"):
            # pyreadstat 1.3 writes datetime64[s] as 1970-01-01; microseconds are safe.
            out[name] = pd.to_datetime(v).astype("datetime64[us]")
        elif c in ("Progress", "Duration (in seconds)", "LocationLatitude", "LocationLongitude"):
            out[name] = pd.to_numeric(v).astype(float)
        elif c in qs and qs[c].role != "free_text":
            out[name] = pd.to_numeric(v).astype(float)
            lab = _labels_nl(codebook, qs[c].scale)
            if lab:
                value_labels[name] = lab
            measure[name] = "nominal" if qs[c].role in ("background", "consent") else "scale"
        else:
            out[name] = v.fillna("").astype(object).astype(str)
        column_labels[name] = qs[c].text if c in qs else QUALTRICS_META[c][0]
    pyreadstat.write_sav(
        out,
        str(path),
        column_labels=column_labels,
        variable_value_labels=value_labels,
        variable_measure=measure,
    )
    data = bytearray(Path(path).read_bytes())
    stamp = _sav_stamp(wave_id)
    # Only overwrite what is certainly the stamp; a changed header layout must fail loudly.
    if data[:4] != b"$FL2" or not _SAV_STAMP_RE.fullmatch(
        bytes(data[SAV_STAMP_OFFSET : SAV_STAMP_OFFSET + len(stamp)])
    ):
        raise RuntimeError(f"{path}: unexpected .sav header, cannot fix its creation stamp")
    data[SAV_STAMP_OFFSET : SAV_STAMP_OFFSET + len(stamp)] = stamp
    Path(path).write_bytes(bytes(data))


# --------------------------------------------------------------------------------------------
# Bundled files
# --------------------------------------------------------------------------------------------


def _panel_correlations(w1: pd.DataFrame, w2: pd.DataFrame) -> dict[str, float]:
    link = w1.merge(w2, on="person", suffixes=("_w1", "_w2"))
    pairs = [
        ("perceived_learning", "perceived_learning"),
        ("knowledge_transfer", "knowledge_transfer"),
        ("perceived_learning", "knowledge_transfer"),
        ("climate", "climate"),
        ("psychological_safety", "psychological_safety"),
    ]
    return {
        f"{a}_w1__{b}_w2": round(
            float(np.corrcoef(link[f"true_{a}_w1"], link[f"true_{b}_w2"])[0, 1]), 3
        )
        for a, b in pairs
    }


def generate(
    out_dir: str | Path, seed: int = DEFAULT_SEED, codebook_path: str | Path | None = None
) -> dict[str, Any]:
    """Write the bundled waves (2021-12 as Qualtrics CSV, 2022-06 as SPSS .sav) and TRUTH.yaml.

    Returns the truth dict that was written. Wave 2 re-invites the finished, consenting persons
    of wave 1; about 60% return with the same ExternalReference.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codebook = load_codebook(codebook_path)
    truth = default_truth(seed)
    (id1, (file1, n1)), (id2, (file2, n2)) = BUNDLED_WAVES.items()
    w1 = _simulate_wave(id1, n1, seed, codebook, truth)
    write_qualtrics_csv(w1.raw, out / file1, codebook)
    completers = w1.persons[w1.persons["kind"] != "no_consent"]
    completers = completers[~completers["kind"].eq("partial")]
    next_code = int(w1.persons["person"].str[3:].astype(int).max()) + 1
    w2 = _simulate_wave(id2, n2, seed, codebook, truth, previous=completers, first_person=next_code)
    write_sav(w2.raw, out / file2, codebook, id2)
    truth["waves"] = {
        id1: {"file": file1, "format": "qualtrics csv", **w1.counts},
        id2: {
            "file": file2,
            "format": "spss sav",
            "invited_from_previous": int(len(completers)),
            **w2.counts,
        },
    }
    truth["panel"]["realised_correlations"] = _panel_correlations(w1.persons, w2.persons)
    with open(out / "TRUTH.yaml", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("# True values behind the synthetic waves; written by lcsurvey-simulate.\n")
        yaml.safe_dump(_plain(truth), fh, sort_keys=False, allow_unicode=True, width=100)
    return truth


def _read_previous(path: Path, codebook: Mapping[str, Any]) -> pd.DataFrame:
    """Persons (code, PII, background codes) who finished a previous wave file (.csv or .sav)."""
    if path.suffix.lower() == ".sav":
        df, _ = pyreadstat.read_sav(str(path))
        back = {}
        for q in instrument(codebook):
            for name in q.wave_columns.values():
                if name in df.columns:
                    back[name] = q.column
        df = df.rename(columns=back)
        preview = df["Status"] == STATUS_CODES["Survey Preview"]
        finished = df["Finished"] == 1
    else:
        df = pd.read_csv(
            path, skiprows=[1, 2], dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
        for spec in codebook["background"].values():
            lab = _labels_nl(codebook, spec["scale"])
            col = spec["column"]
            if lab:
                inv = {v: k for k, v in lab.items()}
                df[col] = df[col].map(
                    lambda s, inv=inv: inv.get(s, pd.to_numeric(s, errors="coerce"))
                )
            df[col] = pd.to_numeric(df[col], errors="coerce")
        preview = df["Status"] == "Survey Preview"
        finished = df["Finished"] == "True"
    consent = codebook["meta"]["consent"]["column"]
    yes = _consent_yes(codebook)
    label_yes = _labels_nl(codebook, codebook["meta"]["consent"]["scale"])[yes]
    answer = df[consent].astype(str).replace({label_yes: str(yes)})
    ok = ~preview & finished & (df["ExternalReference"].astype(str) != "")
    ok &= pd.to_numeric(answer, errors="coerce") == yes
    df = df[ok].drop_duplicates("ExternalReference", keep="first")
    persons = pd.DataFrame({"person": df["ExternalReference"].astype(str).to_numpy()})
    for c in codebook["pii"]:
        persons[c] = df[c].to_numpy()
    for key, spec in codebook["background"].items():
        if key == "main_motive":
            continue
        lo, hi = _scale_range(codebook, spec["scale"])
        v = pd.to_numeric(df[spec["column"]], errors="coerce").to_numpy()
        persons[key] = np.where((v >= lo) & (v <= hi), v, np.nan)
    # Fill unknown background with a plausible value so the returners can be simulated.
    fill = {
        "age": 45,
        "gender": 2,
        "months": 12,
        "community": 1,
        "sector": 1,
        "org_size": 3,
        "role": 1,
    }
    for k, v in fill.items():
        persons[k] = persons[k].fillna(v).astype(int)
    return persons


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``lcsurvey-simulate --out data/raw [--seed S]`` writes the bundled files;
    ``--wave ID --n N --format csv|sav [--previous PATH]`` writes one extra wave instead."""
    p = argparse.ArgumentParser(prog="lcsurvey-simulate", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="data/raw", help="output directory (default data/raw)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--codebook", default=None, help="codebook path (default: the repo's)")
    p.add_argument("--wave", help="write one extra wave with this id (e.g. 2023-01)")
    p.add_argument("--n", type=int, default=300, help="rows of the extra wave")
    p.add_argument("--format", choices=["csv", "sav"], default="csv")
    p.add_argument(
        "--previous",
        type=Path,
        default=None,
        help="an earlier wave file whose finished respondents may return",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.wave is None:
        truth = generate(out, args.seed, args.codebook)
        for info in truth["waves"].values():
            print(f"wrote {out / info['file']}: {info['rows']} rows")
        print(f"wrote {out / 'TRUTH.yaml'}")
        return 0
    codebook = load_codebook(args.codebook)
    previous = _read_previous(args.previous, codebook) if args.previous else None
    first = 1
    if previous is not None and len(previous):
        first = int(previous["person"].str.extract(r"(\d+)")[0].astype(int).max()) + 1
    wave = _simulate_wave(
        args.wave, args.n, args.seed, codebook, previous=previous, first_person=first
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"wave_{args.wave}.{args.format}"
    if args.format == "csv":
        write_qualtrics_csv(wave.raw, path, codebook)
    else:
        write_sav(wave.raw, path, codebook, args.wave)
    counts_path = out / f"TRUTH_{args.wave}.yaml"
    with open(counts_path, "w", encoding="utf-8", newline="\n") as fh:
        yaml.safe_dump(
            _plain(
                {
                    "wave": args.wave,
                    "seed": args.seed,
                    "file": path.name,
                    "note": "population model as in TRUTH.yaml; returners get fresh "
                    "true scores when read from a file",
                    **wave.counts,
                }
            ),
            fh,
            sort_keys=False,
            allow_unicode=True,
        )
    print(f"wrote {path}: {wave.counts['rows']} rows; counts in {counts_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
