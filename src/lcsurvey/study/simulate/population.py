"""The population model of the simulated survey and clean respondents drawn from it.

``default_truth()`` / ``TRUTH``: a latent learning climate with a community random effect,
three climate facets, psychological safety, learning behaviour, perceived learning, network
gain, support from the home organisation, knowledge transfer with a latent interaction, four
motives and a main-motive choice, and the background mix of ~25 communities. Every structural
value is standardised (latent variances are 1). ``simulate_population(n, rng)``: clean
respondents (latent-keyed item answers, background and the latent true scores ``true_*``), used
for power analysis and parameter recovery.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

DEFAULT_SEED = 20211201

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

# The between-community part. The climate has a community effect of variance CLIMATE_ICC (its
# share of the climate's variance 1), and every construct's community part follows from it
# through the structural paths above. BETWEEN_RESIDUAL_ICC gives a construct's structural
# disturbance a community part as well (that share of its residual variance, so the construct's
# variance stays 1); BETWEEN_PATHS sets level-2 coefficients (the regression of a construct's
# community part on its causes' community parts) that differ from the within ones. Both empty:
# the community parts of all constructs are proportional to the climate's.
CLIMATE_ICC = 0.10
N_COMMUNITIES = 25
BETWEEN_RESIDUAL_ICC: dict[str, float] = {}
BETWEEN_PATHS: dict[str, dict[str, float]] = {}
BETWEEN_CAUSES = {"climate", *STRUCTURAL}  # the variables that can have a community part
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


def to_plain(x: Any) -> Any:
    """numpy scalars -> Python, recursively, so yaml.safe_dump accepts the dict."""
    if isinstance(x, dict):
        return {to_plain(k): to_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_plain(v) for v in x]
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


def _communities(
    n_communities: int,
    icc: float,
    seed: int,
    residual_sd: Mapping[str, float] | None = None,
    *,
    exact: bool = True,
) -> list[dict[str, Any]]:
    """Community profiles: size weight, majority sector, sector mix, climate effect.

    Two kinds of community: heterogeneous ones (45-70% from other sectors than the majority)
    and mostly single-sector ones (5-25%). With ``exact`` the climate effects are rescaled to
    mean 0 and variance exactly ``icc`` so that the ICC of the latent climate is the documented
    value (fixed communities); without, they are plain N(0, icc) draws (random communities).
    ``residual_sd``: construct -> SD of the community part of its structural disturbance; each
    community then gets ``residual_effects`` drawn the same way from a stream of their own (so
    that the profiles and climate effects do not depend on them).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 25]))
    weights = rng.gamma(4.0, 1.0, n_communities)
    # Four decimals for the bundled ~25 communities; more for thousands, where 4 would round
    # the smallest weights to 0.
    decimals = max(4, int(np.ceil(np.log10(n_communities))) + 2)
    weights = np.round(weights / weights.sum(), decimals)
    majority = rng.choice([1, 2, 3, 4], size=n_communities, p=[0.32, 0.28, 0.24, 0.16])
    heterogeneous = rng.permutation(n_communities) < round(0.4 * n_communities)
    share_other = np.where(
        heterogeneous,
        rng.uniform(0.45, 0.70, n_communities),
        rng.uniform(0.05, 0.25, n_communities),
    )

    def effects(draws: np.ndarray, variance: float) -> np.ndarray:
        if exact:
            return (draws - draws.mean()) / draws.std() * np.sqrt(variance)
        return draws * np.sqrt(variance)

    u = effects(rng.standard_normal(n_communities), icc)
    profiles = [
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
    residual_sd = {k: v for k, v in (residual_sd or {}).items() if v > 0}
    if residual_sd:
        rng_resid = np.random.default_rng(np.random.SeedSequence([seed, 26]))
        draws = rng_resid.standard_normal((n_communities, len(residual_sd)))
        if exact:
            # Exactly uncorrelated with each other and with the climate effects as well, so
            # that the community parts have exactly their population covariance matrix.
            both = np.column_stack([u, draws])
            both = both - both.mean(axis=0)
            white = both @ np.linalg.inv(np.linalg.cholesky(np.cov(both.T, bias=True))).T
            draws = white[:, 1:]
            # u is unchanged up to rounding: the first column is only rescaled
        drawn = {k: draws[:, i] * sd for i, (k, sd) in enumerate(residual_sd.items())}
        for c, profile in enumerate(profiles):
            profile["residual_effects"] = {k: round(float(v[c]), 4) for k, v in drawn.items()}
    return profiles


def _between_spec(
    residual_icc: Mapping[str, float], paths: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """The ``between`` entry of the truth: residual ICCs and the level-2 paths, checked.

    Every construct of the structural model gets a residual ICC (0 unless given) and its full
    set of level-2 paths (the within coefficient unless given) from the variables that can have
    a community part (the climate and the constructs; not the motives and home support, nor a
    product term), so the entry says explicitly what generates the community parts.
    """
    unknown = sorted(set(residual_icc) - set(STRUCTURAL))
    if unknown:
        raise ValueError(f"between residual ICC for unknown constructs {unknown}")
    for lhs, rhs in paths.items():
        linear = {k for k in STRUCTURAL.get(lhs, {}) if k in BETWEEN_CAUSES}
        bad = sorted(set(rhs) - linear)
        if bad:
            raise ValueError(
                f"between path {lhs} ~ {bad}: not a path of the structural model from a "
                f"variable with a community part (those of {lhs}: {sorted(linear)})"
            )
    for k, v in residual_icc.items():
        if not 0 <= v < 1:
            raise ValueError(f"between residual ICC of {k} is {v}; expected 0 <= ICC < 1")
    return {
        "residual_icc": {k: float(residual_icc.get(k, 0.0)) for k in STRUCTURAL},
        "paths": {
            lhs: {
                k: float(paths.get(lhs, {}).get(k, v))
                for k, v in rhs.items()
                if k in BETWEEN_CAUSES
            }
            for lhs, rhs in STRUCTURAL.items()
            if any(k in BETWEEN_CAUSES for k in rhs)
        },
        "note": "construct = community part + member part. The climate's community part is "
        "climate_effect (variance climate_icc); a construct's community part is the sum of "
        "paths x its causes' community parts plus residual_effects (variance residual_icc x "
        "its residual variance), its member part the within paths x the causes' member parts "
        "plus the rest of the disturbance. The product term of knowledge_transfer acts on the "
        "whole scores and has no community part; the motives and home_support have none.",
    }


# The rates at which lcsurvey.study.simulate.mess draws the survey mess; the truth records them
# (data/raw/TRUTH.yaml), so that every rate behind a bundled wave is written down.
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
        "n_communities": N_COMMUNITIES,
        "climate_icc": CLIMATE_ICC,
        "communities": _communities(
            N_COMMUNITIES,
            CLIMATE_ICC,
            seed,
            {k: np.sqrt(v * resid[k]) for k, v in BETWEEN_RESIDUAL_ICC.items()},
        ),
        "between": _between_spec(BETWEEN_RESIDUAL_ICC, BETWEEN_PATHS),
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
    return to_plain(truth)


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


def _between_parts(
    community: np.ndarray, truth: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The community part of every latent variable, and what the member formula misses of it.

    ``_latent_from_innovations`` computes each construct from the whole scores of its causes
    with the within coefficients and the within share of its disturbance, which is the whole
    story when the level-2 paths equal the within ones and no disturbance has a community part
    (then the second dict is empty and the simulator's arithmetic is unchanged). Otherwise a
    construct gets ``sum (path_b - path_w) * cause_b + residual_effect`` on top: its community
    part then is ``sum path_b * cause_b + residual_effect``.
    """
    comms = truth["communities"]
    parts = {"climate": np.array([c["climate_effect"] for c in comms])}
    between = truth.get("between") or {}
    within = _structural_order(truth)
    residual_icc = between.get("residual_icc", {})
    extra_of: dict[str, np.ndarray] = {}
    for lhs, rhs in within.items():
        paths = between.get("paths", {}).get(lhs, {})
        part = np.zeros(len(comms))
        extra = np.zeros(len(comms))
        for term, coef in rhs.items():
            if ":" in term or term not in parts:
                continue  # product terms and causes without a community part
            coef_b = paths.get(term, coef)
            part = part + coef_b * parts[term]
            if coef_b != coef:
                extra = extra + (coef_b - coef) * parts[term]
        if residual_icc.get(lhs, 0.0) > 0:
            effect = np.array([c["residual_effects"][lhs] for c in comms])
            part = part + effect
            extra = extra + effect
        parts[lhs] = part
        if np.any(extra != 0):
            extra_of[lhs] = extra
    index = community - 1
    return {k: v[index] for k, v in parts.items()}, {k: v[index] for k, v in extra_of.items()}


def _within_sd(truth: Mapping[str, Any], lhs: str) -> float:
    """SD of the member part of a construct's disturbance (all of it without a community part)."""
    resid = truth["residual_variances"][lhs]
    icc = (truth.get("between") or {}).get("residual_icc", {}).get(lhs, 0.0)
    return float(np.sqrt(resid * (1 - icc))) if icc > 0 else float(np.sqrt(resid))


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
    _, extra = _between_parts(community, truth)
    for lhs, rhs in _structural_order(truth).items():
        value = _within_sd(truth, lhs) * z[lhs]
        for term, coef in rhs.items():
            parts = term.split(":")
            prod = np.ones_like(value)
            for p in parts:
                prod = prod * lat[p]
            value = value + coef * prod
        if lhs in extra:
            value = value + extra[lhs]
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
    _, extra = _between_parts(community, truth)
    for lhs, rhs in _structural_order(truth).items():
        value = np.asarray(lat[lhs], dtype=float).copy()
        for term, coef in rhs.items():
            prod = np.ones_like(value)
            for p in term.split(":"):
                prod = prod * lat[p]
            value = value - coef * prod
        if lhs in extra:
            value = value - extra[lhs]
        z[lhs] = value / _within_sd(truth, lhs)
    return z


def with_between(
    truth: Mapping[str, Any] | None = None,
    *,
    n_communities: int | None = None,
    climate_icc: float | None = None,
    residual_icc: Mapping[str, float] | None = None,
    paths: Mapping[str, Mapping[str, float]] | None = None,
    seed: int | None = None,
    exact: bool = True,
) -> dict[str, Any]:
    """A copy of the truth with another between-community part and new communities.

    Parameters
    ----------
    truth : dict, optional
        The population model (default: ``default_truth()``).
    n_communities : int, optional
        How many communities (default: as in ``truth``).
    climate_icc : float, optional
        Variance of the climate's community effect (default: as in ``truth``).
    residual_icc : dict, optional
        construct -> share of its structural disturbance's variance between communities
        (default: as in ``truth``; constructs left out get 0).
    paths : dict, optional
        construct -> {cause: level-2 coefficient}, for the paths that differ from the within
        ones (default: as in ``truth``).
    seed : int, optional
        Seed of the community profiles and effects (default: ``truth['seed']``).
    exact : bool
        Rescale the drawn effects to their exact variance (fixed communities, as the bundled
        waves) or keep the plain normal draws (random communities, for replications).

    Returns
    -------
    dict
        The truth with ``n_communities``, ``climate_icc``, ``communities`` and ``between``
        replaced.
    """
    out = default_truth() if truth is None else copy.deepcopy(dict(truth))
    old = out.get("between") or {}
    n = out["n_communities"] if n_communities is None else int(n_communities)
    icc = out["climate_icc"] if climate_icc is None else float(climate_icc)
    if residual_icc is None:
        residual_icc = {k: v for k, v in old.get("residual_icc", {}).items() if v > 0}
    if paths is None:
        paths = old.get("paths", {})
    spec = _between_spec(residual_icc, paths)
    resid = out["residual_variances"]
    sd = {k: float(np.sqrt(v * resid[k])) for k, v in spec["residual_icc"].items() if v > 0}
    out["n_communities"] = n
    out["climate_icc"] = icc
    out["communities"] = _communities(
        n, icc, out["seed"] if seed is None else seed, sd, exact=exact
    )
    out["between"] = spec
    return out


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
