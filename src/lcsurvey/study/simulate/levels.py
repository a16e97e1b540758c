"""True values of the study's two-level transfer model on the simulated construct scores.

The study's two-level model (config.yaml, ``transfer_levels``) regresses the construct scores
(the mean of each construct's answers, lcsurvey.survey.scales.scale_scores) on each other, once
within communities (level 1) and once between them (level 2); ``TRANSFER_LEVELS`` is its
syntax. The simulator's coefficients are latent and standardised, the model's are on 5- and
7-point score scales with measurement error, so the model's true values are its population
values: what its estimator converges to as the communities multiply. ``population_values``
computes them from one large simulated population (``POPULATION`` communities of ``MEMBERS``
members each, fixed seed, community effects rescaled to exactly their population covariance):

* the pooled within-community covariance matrix of the scores (Sigma_W) and the between-
  community one (Sigma_B, the MANOVA estimator (S_B - Sigma_W) / c with
  c = (N - sum n_j^2 / N) / (G - 1));
* each level's coefficients from its covariance matrix by least squares, equation by
  equation. For a recursive path model on observed variables with uncorrelated disturbances
  this is the maximum-likelihood solution, and the two levels' parameters are separate, so
  these are the values lavaan's (and lcsurvey.sem.twolevel's) two-level ML converges to;
  tests/test_simulate_levels.py checks them against fit_twolevel on a simulated sample.

A level-2 coefficient is not identified when its predictors' community parts are (nearly)
collinear: with the simulator's default between part only the climate has a community effect,
so the community parts of facilitation, appreciation, safety and learning are all proportional
to it (up to the answers' rounding into categories). Such coefficients, and the indirect
effect built from them, are reported as None with the reason.

``TRUTH`` holds the values for the bundled waves' population model (written into TRUTH.yaml
by ``generate``); ``SCENARIO`` is a between part in which every level-2 path is identified
(used by bench/twolevel_recovery.py), with its values in ``SCENARIO_TRUTH``. Both were computed
by ``python -m lcsurvey.study.simulate.levels`` (about 30 s), which prints them.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.study.simulate.population import (
    DEFAULT_SEED,
    default_truth,
    simulate_population,
    with_between,
)
from lcsurvey.study.simulate.questionnaire import DEFAULT_CODEBOOK
from lcsurvey.survey.codebook import Codebook, load_codebook
from lcsurvey.survey.scales import scale_scores

TRANSFER_LEVELS = """
level: 1
  psychological_safety ~ a1*facilitation + a2*appreciation
  learning_behaviour ~ b*psychological_safety + facilitation + appreciation
  knowledge_transfer ~ c*learning_behaviour
level: 2
  psychological_safety ~ a1b*facilitation + a2b*appreciation
  learning_behaviour ~ bb*psychological_safety + facilitation + appreciation
  knowledge_transfer ~ cb*learning_behaviour
indirect_within := (a1 + a2)*b*c
indirect_between := (a1b + a2b)*bb*cb
"""
# The model's equations (the same at both levels) and labels: outcome -> predictors.
EQUATIONS: dict[str, list[str]] = {
    "psychological_safety": ["facilitation", "appreciation"],
    "learning_behaviour": ["psychological_safety", "facilitation", "appreciation"],
    "knowledge_transfer": ["learning_behaviour"],
}
LABELS = {
    ("psychological_safety", "facilitation"): "a1",
    ("psychological_safety", "appreciation"): "a2",
    ("learning_behaviour", "psychological_safety"): "b",
    ("knowledge_transfer", "learning_behaviour"): "c",
}
SCORES = ["facilitation", "appreciation", "psychological_safety", "learning_behaviour",
          "knowledge_transfer"]  # fmt: skip
POPULATION = 2000  # communities of the population behind the true values
MEMBERS = 500  # members per community there (the community means are then nearly exact)
CHUNK = 100  # members per community simulated at a time
# A between part with a community effect in every construct of the chain and stronger level-2
# paths (safety on climate .70, learning on safety .50): every level-2 path is identified.
SCENARIO: dict[str, Any] = {
    "climate_icc": 0.20,
    "residual_icc": {
        "facilitation": 0.10,
        "appreciation": 0.10,
        "psychological_safety": 0.10,
        "learning_behaviour": 0.10,
        "knowledge_transfer": 0.10,
    },
    "paths": {
        "psychological_safety": {"climate": 0.70},
        "learning_behaviour": {"psychological_safety": 0.50},
    },
}
# Smallest eigenvalue of the predictors' correlation matrix below which a regression is not
# identified (the predictors' community parts are collinear but for rounding noise).
COLLINEAR = 0.01


def score_population(population: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """The construct scores of clean simulated respondents, with their community.

    ``simulate_population`` gives the answers in the latent-keyed direction, which is what the
    cleaning stage makes of the raw answers (negatively worded items reversed), so the
    project's scoring (``scale_scores``: the mean of the answered items) applies directly.
    """
    book = load_codebook(DEFAULT_CODEBOOK) if codebook is None else codebook
    frame = population.copy()
    frame["rid"] = np.arange(len(frame))
    scores = scale_scores(frame, book)
    scores["community"] = population["community"].to_numpy()
    return scores


class LevelMoments:
    """Running sums of columns by cluster, for the within and between covariance matrices.

    Rows can be added in chunks (members of the same clusters drawn in turn), so a population
    with many members per community never has to be in memory at once.
    """

    def __init__(self, columns: Sequence[str] = tuple(SCORES), centre: float = 3.0) -> None:
        self.columns = list(columns)
        self.centre = centre  # subtracted first, so that the cross-products stay small
        self.counts: dict[Any, int] = {}
        self.sums: dict[Any, np.ndarray] = {}
        self.cross = np.zeros((len(self.columns), len(self.columns)))
        self.rows = 0

    def add(self, scores: pd.DataFrame, cluster: str = "community") -> None:
        """Add the complete rows of ``scores`` (the columns and the cluster column)."""
        data = scores[[*self.columns, cluster]].dropna()
        x = data[self.columns].to_numpy(dtype=float) - self.centre
        codes, groups = np.unique(data[cluster].to_numpy(), return_inverse=True)
        sums = np.zeros((len(codes), x.shape[1]))
        np.add.at(sums, groups, x)
        for code, n, total in zip(codes, np.bincount(groups), sums, strict=True):
            self.counts[code] = self.counts.get(code, 0) + int(n)
            self.sums[code] = self.sums.get(code, 0.0) + total
        self.cross += x.T @ x
        self.rows += len(x)

    def covariances(self) -> tuple[np.ndarray, np.ndarray]:
        """Pooled within-cluster and between-cluster covariance matrices of the columns.

        Sigma_W = sum of within-cluster cross-products / (N - G); Sigma_B = (S_B - Sigma_W) / c,
        S_B = sum_j n_j (mean_j - mean)(mean_j - mean)' / (G - 1),
        c = (N - sum n_j^2 / N) / (G - 1): the multivariate one-way ANOVA estimators, unbiased
        for unequal cluster sizes.
        """
        sizes = np.array(list(self.counts.values()), dtype=float)
        sums = np.array([self.sums[k] for k in self.counts])
        n, g = self.rows, len(sizes)
        means = sums / sizes[:, None]
        between_cross = (means * sizes[:, None]).T @ means
        sigma_w = (self.cross - between_cross) / (n - g)
        centred = means - sums.sum(axis=0) / n
        s_b = (centred * sizes[:, None]).T @ centred / (g - 1)
        c = (n - np.sum(sizes**2) / n) / (g - 1)
        return sigma_w, (s_b - sigma_w) / c


def level_covariances(
    scores: pd.DataFrame, cluster: str = "community"
) -> tuple[np.ndarray, np.ndarray]:
    """Within and between covariance matrices of ``SCORES`` in one frame (``LevelMoments``)."""
    moments = LevelMoments()
    moments.add(scores, cluster)
    return moments.covariances()


def level_values(sigma: np.ndarray, suffix: str = "") -> dict[str, Any]:
    """The model's labelled coefficients and indirect effect at one level's covariance matrix.

    Returns label -> value, None where the predictors are collinear (smallest eigenvalue of
    their correlation matrix below ``COLLINEAR``), plus ``not_identified``: the reasons.
    """
    index = {v: i for i, v in enumerate(SCORES)}
    out: dict[str, Any] = {}
    reasons: list[str] = []
    for outcome, predictors in EQUATIONS.items():
        p = [index[v] for v in predictors]
        sxx = sigma[np.ix_(p, p)]
        sd = np.sqrt(np.clip(np.diag(sxx), 1e-300, None))
        smallest = float(np.linalg.eigvalsh(sxx / np.outer(sd, sd))[0]) if len(p) > 1 else 1.0
        if np.min(np.diag(sxx)) <= 0 or smallest < COLLINEAR:
            coef = [None] * len(p)
            reasons.append(
                f"{outcome} ~ {' + '.join(predictors)}: the predictors' parts are collinear "
                f"(smallest eigenvalue of their correlation matrix {smallest:.4f})"
            )
        else:
            coef = [float(v) for v in np.linalg.solve(sxx, sigma[p, index[outcome]])]
        for predictor, value in zip(predictors, coef, strict=True):
            label = LABELS.get((outcome, predictor))
            if label is not None:
                out[label + suffix] = None if value is None else round(value, 4)
    parts = [out[f"a1{suffix}"], out[f"a2{suffix}"], out[f"b{suffix}"], out[f"c{suffix}"]]
    name = "indirect_between" if suffix else "indirect_within"
    out[name] = None if None in parts else round((parts[0] + parts[1]) * parts[2] * parts[3], 4)
    if reasons:
        out["not_identified"] = reasons
    return out


def population_values(
    truth: Mapping[str, Any] | None = None,
    *,
    between: Mapping[str, Any] | None = None,
    n_communities: int = POPULATION,
    members: int = MEMBERS,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """The two-level transfer model's within and between values in one large population.

    Parameters
    ----------
    truth : dict, optional
        The population model (default: ``default_truth()``).
    between : dict, optional
        Keyword arguments of ``with_between`` (climate_icc, residual_icc, paths) for another
        between part; None: the truth's own.
    n_communities, members : int
        Size of the population: communities, and members per community on average (the
        communities keep the simulator's unequal size weights).
    seed : int
        Seed of the communities and the members.

    Returns
    -------
    dict
        ``within`` (a1, a2, b, c, indirect_within) and ``between`` (a1b, a2b, bb, cb,
        indirect_between), each label -> value, None when not identified (``not_identified``
        says why).
    """
    truth = with_between(truth, n_communities=n_communities, seed=seed, **dict(between or {}))
    book = load_codebook(DEFAULT_CODEBOOK)
    moments = LevelMoments()
    chunks = max(1, members // CHUNK)
    for chunk in range(chunks):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, chunk]))
        population = simulate_population(n_communities * members // chunks, rng, truth)
        moments.add(score_population(population, book))
    sigma_w, sigma_b = moments.covariances()
    return {"within": level_values(sigma_w), "between": level_values(sigma_b, "b")}


def describe(
    values: Mapping[str, Any], scenario: Mapping[str, Any], *, bundled: bool = True
) -> dict[str, Any]:
    """The ``transfer_levels`` entry of TRUTH.yaml: the values with how they were derived.

    ``values``: those of the waves' population model (``bundled``: the default between part);
    ``scenario``: those with the between part ``SCENARIO`` (the recovery benchmark's
    identified case).
    """
    default_part = (
        "With the bundled between part only the climate has a community effect, so the "
        "community parts of all five scores are proportional to it (up to the rounding into "
        "answer categories): the level-2 regressions of safety and learning have collinear "
        "predictors, and a1b, a2b, bb and indirect_between do not exist; cb (one predictor) "
        "does. "
    )
    return {
        "description": (
            "Population values of the two-level model `model` on the construct scores (the mean "
            "of each construct's answers), not the latent paths: the answers are cut into "
            "categories and each score has measurement error, so the values are derived, not "
            "set. Derivation (lcsurvey.study.simulate.levels): one simulated population of "
            f"{POPULATION} communities with on average {MEMBERS} members (seed {DEFAULT_SEED}; "
            "community effects rescaled to exactly their population covariance), its pooled "
            "within-community (Sigma_W) and between-community (Sigma_B, MANOVA estimator) "
            "covariance matrices of the five scores, and each level's regressions by least "
            "squares on its matrix, which for this recursive path model is the "
            "maximum-likelihood solution that two-level ML converges to. Monte Carlo error "
            "(spread over seeds): about 0.003 within, 0.01 between. None: not identified. "
            + (default_part if bundled else "")
            + "`scenario` gives the values with the between part of "
            "lcsurvey.study.simulate.levels.SCENARIO, where every path is identified."
        ),
        "model": TRANSFER_LEVELS.strip().splitlines(),
        "within": dict(values["within"]),
        "between": dict(values["between"]),
        "scenario": {
            "between_part": dict(SCENARIO),
            "within": dict(scenario["within"]),
            "between": dict(scenario["between"]),
        },
    }


# Computed by `python -m lcsurvey.study.simulate.levels`; checked by tests/test_simulate_levels.py.
TRUTH: dict[str, Any] = {
    "within": {"a1": 0.2661, "a2": 0.2281, "b": 0.2316, "c": 0.1554, "indirect_within": 0.0178},
    "between": {
        "a1b": None,
        "a2b": None,
        "bb": None,
        "cb": 0.1993,
        "indirect_between": None,
        "not_identified": [
            "psychological_safety ~ facilitation + appreciation: the predictors' parts are collinear (smallest eigenvalue of their correlation matrix 0.0001)",
            "learning_behaviour ~ psychological_safety + facilitation + appreciation: the predictors' parts are collinear (smallest eigenvalue of their correlation matrix 0.0001)",
        ],
    },
}
SCENARIO_TRUTH: dict[str, Any] = {
    "within": {"a1": 0.2587, "a2": 0.2226, "b": 0.2278, "c": 0.1531, "indirect_within": 0.0168},
    "between": {
        "a1b": 0.5361,
        "a2b": 0.4618,
        "bb": 0.439,
        "cb": 0.1864,
        "indirect_between": 0.0817,
    },
}


def main(argv: Sequence[str] | None = None) -> int:
    """Print the population values of the bundled between part and of ``SCENARIO``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--communities", type=int, default=POPULATION)
    parser.add_argument("--members", type=int, default=MEMBERS)
    args = parser.parse_args(argv)
    base = default_truth()
    for name, between in (("TRUTH", None), ("SCENARIO_TRUTH", SCENARIO)):
        values = population_values(
            base, between=between, n_communities=args.communities, members=args.members
        )
        print(f"{name} = {values!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
