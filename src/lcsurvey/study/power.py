"""Monte Carlo power analysis: how many respondents does the next wave need?

For each sample size n and replication r, a sample of n respondents is drawn from the
population model, optionally given the simulator's item missingness (MAR on age and
organisation size), scored and fitted exactly as the pipeline does, and each effect's estimate,
standard error, p-value, CI and convergence are recorded:

* "interaction": lcsurvey.study.analyses.moderation on the scale scores (lcsurvey.survey.scales.scale_scores
  with the codebook; OLS with centred predictors, HC3 standard errors, t with n - 4 df), the
  term predictor:moderator of config roles.moderation (perceived_learning:home_support in the
  bundled study);
* a label of the model (say "e") or a defined parameter (say "indirect"): the model of
  config.yaml fitted by ML with free means, as lcsurvey.sem.model.fit_model does with
  missing = "fiml". Standard errors come from the observed information and defined parameters
  get delta-method standard errors (lcsurvey.sem.defined), as in the pipeline.

Population ("truth"): the simulator's population model (lcsurvey.study.simulate.default_truth,
written to data/raw/TRUTH.yaml). simulate_population returns the answers in the latent-keyed
direction, which is what cleaning produces from a raw export (it reverses the codebook's
negatively worded items back), so the answers are scored as they are. The true value of each
effect is its population value on the scale the pipeline estimates it on (observed scale
scores; unstandardised model parameters with marker-variable scaling of ordinal answers), i.e.
the value its estimator converges to: the estimate on a reference sample of REFERENCE_N
respondents from the same population. Those reference estimates also warm-start every fit.

Population ("fitted"): the fitted model of a wave. Answers are drawn from the normal
distribution with the fitted model's means and implied covariance matrix; the interaction's
population is the wave's moderated regression (predictor and moderator scores resampled from
the wave, normal residuals with the regression's residual variance).

Speed. Complete data are fitted on their moments (covariance matrix with divisor n, means at
the sample means): BFGS from the population values, its first Hessian the observed information
without its second-order term, then Newton steps with the exact observed information (Jacobian
products plus the second-order term of lcsurvey.sem.fiml), which also gives the standard errors.
With missing answers the FIML log-likelihood of lcsurvey.sem.fiml is maximised by Newton steps with
its analytic Hessian, also from the population values.

Seeds: replication r at size n uses numpy.random.SeedSequence(seed, spawn_key=(n, r)), which
is SeedSequence(seed).spawn(n + 1)[n].spawn(r + 1)[r]. The replications do not depend on how
they are grouped into shards, nor on the number of jobs or cores. A fit that does not converge
is recorded as such (converged = False) and counted in the convergence rate; power, bias and
coverage are computed over the converged fits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from lcsurvey.errors import InputError
from lcsurvey.sem.progress import reporter
from lcsurvey.sem.structure import parameter_names
from lcsurvey.sem.syntax import parse_model
from lcsurvey.study import analyses
from lcsurvey.study.power_config import (  # noqa: F401  (the power analysis' settings)
    DEFAULTS,
    INTERACTION,
    check_effects,
    settings,
    shards,
    sizes_from,
)
from lcsurvey.study.power_fit import SemFitter
from lcsurvey.study.roles import study_roles
from lcsurvey.survey.codebook import Codebook, load_codebook
from lcsurvey.survey.scales import scale_scores

REFERENCE_N = 1_000_000
REFERENCE_CHUNK = 100_000
TARGET_POWER = 0.80

REPLICATION_COLUMNS = [
    "n",
    "replication",
    "effect",
    "converged",
    "est",
    "se",
    "pvalue",
    "ci_lower",
    "ci_upper",
]
POWER_COLUMNS = [
    "n",
    "effect",
    "replications",
    "converged",
    "convergence_rate",
    "rejections",
    "power",
    "power_ci_lower",
    "power_ci_upper",
    "mean_estimate",
    "true_value",
    "bias",
    "sd_estimate",
    "mean_se",
    "coverage",
]


# --------------------------------------------------------------------------------------------
# Roles, seeds and shards
# --------------------------------------------------------------------------------------------


def moderation_roles(roles: Mapping[str, str] | None = None) -> dict[str, str]:
    """The interaction's outcome, predictor and moderator: config ``roles.moderation``, or
    the bundled study's (lcsurvey.study.roles.study_roles) when not given."""
    return dict(roles) if roles else study_roles()["moderation"]


def interaction_term(roles: Mapping[str, str]) -> str:
    """The moderation table's term of the interaction, as lcsurvey.study.analyses names it."""
    return f"{roles['predictor']}:{roles['moderator']}"


def replication_seed(seed: int, n: int, replication: int) -> np.random.SeedSequence:
    """The seed of replication r at size n: SeedSequence(seed).spawn(n + 1)[n].spawn(r + 1)[r]."""
    return np.random.SeedSequence(seed, spawn_key=(n, replication))


# --------------------------------------------------------------------------------------------
# Populations
# --------------------------------------------------------------------------------------------


def apply_missingness(
    items: pd.DataFrame,
    background: pd.DataFrame,
    truth: Mapping[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Blank answers as the simulator's item missingness model does (truth["missing"]).

    A respondent skips each item with probability expit(logit(base_rate) +
    per_decade_of_age * (age - 45) / 10 + small_org * [org_size <= 2]): missing at random given
    age and organisation size, which the fitted models do not use.
    """
    mm = truth["missing"]
    logit = (
        special.logit(mm["base_rate"])
        + mm["per_decade_of_age"] * (background["age"].to_numpy(float) - 45) / 10
        + mm["small_org"] * (background["org_size"].to_numpy() <= 2)
    )
    p_miss = special.expit(logit)
    values = items.to_numpy(dtype=float, copy=True)
    values[rng.random(values.shape) < p_miss[:, None]] = np.nan
    return pd.DataFrame(values, columns=items.columns, index=items.index)


@dataclass
class TruthPopulation:
    """The simulator's population model (lcsurvey.study.simulate)."""

    truth: dict
    items: list[str]
    missing: bool = False

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        from lcsurvey.study.simulate import simulate_population

        data = simulate_population(n, rng, self.truth)
        items = data[self.items].astype(float)
        if self.missing:
            items = apply_missingness(items, data, self.truth, rng)
        return items


@dataclass
class FittedPopulation:
    """A wave's fitted model: normal answers with its means and implied covariance matrix,
    and its moderated regression for the scale scores of the interaction.

    mean, cov: the observed variables `variables` of the structural model. moderation:
    (predictor, moderator) score pairs of the wave, the regression coefficients on the centred
    predictors (intercept, predictor, moderator, product) and the residual variance; roles:
    the names of outcome, predictor and moderator (config roles.moderation).
    """

    variables: list[str]
    mean: np.ndarray
    cov: np.ndarray
    pairs: np.ndarray | None = None
    coefficients: np.ndarray | None = None
    residual_variance: float = float("nan")
    start: dict = field(default_factory=dict)
    roles: dict = field(default_factory=moderation_roles)

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        chol = np.linalg.cholesky(self.cov)
        x = self.mean + rng.standard_normal((n, len(self.mean))) @ chol.T
        return pd.DataFrame(x, columns=self.variables)

    def sample_scores(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        rows = rng.integers(0, len(self.pairs), n)
        x, m = self.pairs[rows, 0], self.pairs[rows, 1]
        centre = self.pairs.mean(axis=0)
        xc, mc = x - centre[0], m - centre[1]
        b = self.coefficients
        y = (
            b[0]
            + b[1] * xc
            + b[2] * mc
            + b[3] * xc * mc
            + np.sqrt(self.residual_variance) * rng.standard_normal(n)
        )
        roles = self.roles
        return pd.DataFrame({roles["outcome"]: y, roles["predictor"]: x, roles["moderator"]: m})


def fitted_population(
    estimates: pd.DataFrame,
    syntax: str,
    scores: pd.DataFrame,
    moderation: pd.DataFrame,
    roles: Mapping[str, str] | None = None,
) -> FittedPopulation:
    """The population of a wave's fitted model (results/{wave}/models/...).

    estimates: the wave's estimates.csv of the model (free and fixed parameters, intercepts);
    scores: its scores.parquet; moderation: its moderation.csv; roles: outcome, predictor and
    moderator of that moderation (config roles.moderation; see `moderation_roles`).
    """
    import semopy

    spec = parse_model(syntax)
    model = semopy.Model(spec.semopy_syntax)
    observed = sorted(spec.observed)
    frame = pd.DataFrame(np.eye(len(observed) + 1, len(observed)), columns=observed)
    model.load(data=frame)
    observed = list(model.vars["observed"])
    keys = parameter_names(model)
    values = _estimate_lookup(estimates)
    theta = np.array([_lookup(values, key) for key in keys])
    model.update_matrices(theta)
    sigma = model.calc_sigma()[0]
    means = {
        lhs: est
        for lhs, op, est in estimates[["lhs", "op", "est"]].itertuples(index=False)
        if op == "~1"
    }
    mean = np.array([means.get(v, 0.0) for v in observed])
    roles = moderation_roles(roles)
    outcome, predictor, moderator = roles["outcome"], roles["predictor"], roles["moderator"]
    term = interaction_term(roles)
    pairs = scores[[predictor, moderator, outcome]].dropna()
    terms = moderation.set_index("term")
    coefficients = terms["est"].reindex(["intercept", predictor, moderator, term])
    if coefficients.isna().any() or len(pairs) < 10:
        raise InputError(
            "the wave's moderation table or scale scores cannot define the "
            "population of the interaction",
            expected=f"terms intercept, {predictor}, {moderator}, "
            f"{term} and at least 10 complete score rows",
        )
    r2 = float(terms["r2"].iloc[0])
    residual_variance = (1 - r2) * float(pairs[outcome].var(ddof=1))
    return FittedPopulation(
        variables=observed,
        mean=mean,
        cov=(sigma + sigma.T) / 2,
        pairs=pairs[[predictor, moderator]].to_numpy(float),
        coefficients=coefficients.to_numpy(float),
        residual_variance=residual_variance,
        start={tuple(k): float(v) for k, v in zip(keys, theta, strict=True)},
        roles=roles,
    )


def _estimate_lookup(estimates: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    out = {}
    for lhs, op, rhs, est in estimates[["lhs", "op", "rhs", "est"]].itertuples(index=False):
        out[(lhs, op, str(rhs))] = float(est)
        if op == "~~":
            out[(str(rhs), op, lhs)] = float(est)
    return out


def _lookup(values: dict, key: tuple[str, str, str]) -> float:
    if key not in values:
        raise InputError(
            f"the fitted estimates lack the parameter {' '.join(key)}",
            expected="the estimates.csv of the same model",
        )
    return values[key]


def interaction_fit(
    scores: pd.DataFrame,
    alpha: float,
    roles: Mapping[str, str] | None = None,
) -> tuple[float, float, float, float, float, bool]:
    """est, se, pvalue, ci_lower, ci_upper, converged of the interaction term (roles: see
    `moderation_roles`)."""
    roles = moderation_roles(roles)
    try:
        result = analyses.moderation(
            scores,
            outcome=roles["outcome"],
            predictor=roles["predictor"],
            moderator=roles["moderator"],
            confidence=1 - alpha,
        )
    except InputError:
        return (np.nan,) * 5 + (False,)
    row = result.coefficients.set_index("term").loc[interaction_term(roles)]
    values = (
        float(row["est"]),
        float(row["se"]),
        float(row["pvalue"]),
        float(row["ci_lower"]),
        float(row["ci_upper"]),
    )
    return values + (bool(np.all(np.isfinite(values))),)


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------


@dataclass
class PowerStudy:
    """Everything a shard needs: population, model, effects, scoring and test settings.

    roles: outcome, predictor and moderator of the interaction (config roles.moderation; see
    `moderation_roles`).
    """

    population: TruthPopulation | FittedPopulation
    syntax: str
    book: Codebook | None
    effects: list[str]
    alpha: float = 0.05
    seed: int = 20211201
    start: dict | None = None
    roles: dict = field(default_factory=moderation_roles)
    _fitter: SemFitter | None = field(default=None, repr=False)
    _book: Codebook | None = field(default=None, repr=False)

    @property
    def model_effects(self) -> list[str]:
        return [e for e in self.effects if e != INTERACTION]

    def fitter(self, sample: pd.DataFrame) -> SemFitter:
        if self._fitter is None:
            self._fitter = SemFitter(self.syntax, sample, self.start)
        return self._fitter

    def scores(self, items: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
        if isinstance(self.population, FittedPopulation):
            return self.population.sample_scores(n, rng)
        if self._book is None:
            # Only the three scores of the moderation: the same scoring, a third of the time.
            names = (self.roles["outcome"], self.roles["predictor"], self.roles["moderator"])
            needed = {k: self.book.constructs[k] for k in names}
            self._book = dataclasses.replace(self.book, constructs=needed, composites={})
        responses = items.assign(rid=np.arange(len(items)))
        return scale_scores(responses, self._book)

    def replicate(self, n: int, replication: int) -> list[dict]:
        """One replication at size n: one row per effect (REPLICATION_COLUMNS)."""
        rng = np.random.default_rng(replication_seed(self.seed, n, replication))
        items = self.population.sample(n, rng)
        rows = []
        crit = stats.norm.ppf(1 - self.alpha / 2)
        if self.model_effects:
            fitter = self.fitter(items)
            theta, vcov, converged = fitter.fit(items)
            values = fitter.effects(theta, vcov, self.model_effects) if converged else {}
            for effect in self.model_effects:
                est, se = values.get(effect, (np.nan, np.nan))
                ok = bool(converged and np.isfinite(est) and np.isfinite(se) and se > 0)
                z = est / se if ok else np.nan
                rows.append(
                    {
                        "n": n,
                        "replication": replication,
                        "effect": effect,
                        "converged": ok,
                        "est": est if ok else np.nan,
                        "se": se if ok else np.nan,
                        "pvalue": 2 * stats.norm.sf(abs(z)) if ok else np.nan,
                        "ci_lower": est - crit * se if ok else np.nan,
                        "ci_upper": est + crit * se if ok else np.nan,
                    }
                )
        if INTERACTION in self.effects:
            est, se, p, lower, upper, ok = interaction_fit(
                self.scores(items, n, rng), self.alpha, self.roles
            )
            rows.append(
                {
                    "n": n,
                    "replication": replication,
                    "effect": INTERACTION,
                    "converged": ok,
                    "est": est,
                    "se": se,
                    "pvalue": p,
                    "ci_lower": lower,
                    "ci_upper": upper,
                }
            )
        order = {e: i for i, e in enumerate(self.effects)}
        return sorted(rows, key=lambda r: order[r["effect"]])

    def run(self, n: int, replications: Iterable[int], *, progress=None) -> pd.DataFrame:
        """The replications at size n, one row per replication and effect.

        progress: called as progress(replications done, total) after each; None: logged now
        and then (lcsurvey.sem.progress); False: nothing. The rows do not depend on it.
        """
        replications = list(replications)
        report = reporter(progress, f"power n = {n}", len(replications), "replications")
        rows = []
        for done, r in enumerate(replications, start=1):
            rows += self.replicate(n, r)
            report(done, len(replications))
        frame = pd.DataFrame(rows, columns=REPLICATION_COLUMNS)
        frame["converged"] = frame["converged"].astype(bool)
        return frame

    def true_values(self, reference_n: int = REFERENCE_N) -> dict[str, float]:
        """Population values of the effects: the estimates on a reference sample (see module).

        The reference sample is drawn in chunks of REFERENCE_CHUNK respondents, chunk i from
        SeedSequence(seed, spawn_key=(0, i)) (replications use sizes >= 20 as first key), and
        only the model's answers and the three scores of the moderation are kept.
        """
        population = self.population
        if isinstance(population, TruthPopulation) and population.missing:
            # Population values do not depend on missingness: the complete answers.
            population = TruthPopulation(population.truth, population.items)
        items, scores = [], []
        observed = parse_model(self.syntax).observed
        report = reporter(None, "reference sample", reference_n, "respondents")
        for i, start in enumerate(range(0, reference_n, REFERENCE_CHUNK)):
            size = min(REFERENCE_CHUNK, reference_n - start)
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0, i)))
            chunk = population.sample(size, rng)
            if self.model_effects:
                items.append(chunk[observed])
            if INTERACTION in self.effects and isinstance(population, TruthPopulation):
                scores.append(self.scores(chunk, size, rng))
            report(start + size, reference_n)
        out: dict[str, float] = {}
        if self.model_effects:
            sample = pd.concat(items, ignore_index=True)
            if isinstance(self.population, FittedPopulation):
                # The fitted model is the population: its estimates are the true values.
                fitter = SemFitter(self.syntax, sample, self.population.start)
            else:
                fitter = SemFitter(self.syntax, sample, None)
            self.start = fitter.start_values()
            self._fitter = None
            out.update(fitter.values(fitter.start, self.model_effects))
        if INTERACTION in self.effects:
            if isinstance(self.population, FittedPopulation):
                out[INTERACTION] = float(self.population.coefficients[3])
            else:
                pooled = pd.concat(scores, ignore_index=True)
                out[INTERACTION] = interaction_fit(pooled, self.alpha, self.roles)[0]
        return {e: out[e] for e in self.effects}


def population_table(study: PowerStudy, true_values: Mapping[str, float]) -> pd.DataFrame:
    """The population file: true values of the effects and the start values of the fits."""
    rows = [
        {"kind": "effect", "lhs": e, "op": "", "rhs": "", "value": v}
        for e, v in true_values.items()
    ]
    for (lhs, op, rhs), v in (study.start or {}).items():
        rows.append({"kind": "start", "lhs": lhs, "op": op, "rhs": rhs, "value": v})
    return pd.DataFrame(rows, columns=["kind", "lhs", "op", "rhs", "value"])


def read_population_table(table: pd.DataFrame) -> tuple[dict[str, float], dict]:
    table = table.fillna({"op": "", "rhs": ""})
    effects = table[table["kind"] == "effect"]
    starts = table[table["kind"] == "start"]
    true_values = dict(zip(effects["lhs"], effects["value"].astype(float), strict=True))
    start = {
        (lhs, op, str(rhs)): float(v)
        for lhs, op, rhs, v in starts[["lhs", "op", "rhs", "value"]].itertuples(index=False)
    }
    return true_values, start


# --------------------------------------------------------------------------------------------
# Aggregation, figure, planning sentence
# --------------------------------------------------------------------------------------------


def aggregate(
    results: pd.DataFrame, true_values: Mapping[str, float], alpha: float = 0.05
) -> pd.DataFrame:
    """power.csv: per size and effect, the rejection rate among converged fits and its Wilson
    95% CI, the convergence rate, mean estimate, true value, bias, SD of the estimates, mean
    standard error and the coverage of the (1 - alpha) CIs."""
    rows = []
    order = {e: i for i, e in enumerate(true_values)}
    for (n, effect), group in results.groupby(["n", "effect"], sort=False):
        ok = group[group["converged"].astype(bool)]
        k, m = int((ok["pvalue"] < alpha).sum()), len(ok)
        lower, upper = analyses.wilson_ci(k, m)
        # At k = 0 or k = m the limit is exactly 0 or 1 (not a rounding remainder).
        lower, upper = (0.0 if k == 0 else lower), (1.0 if m and k == m else upper)
        truth = float(true_values.get(effect, np.nan))
        mean = float(ok["est"].mean()) if m else np.nan
        rows.append(
            {
                "n": int(n),
                "effect": effect,
                "replications": len(group),
                "converged": m,
                "convergence_rate": m / len(group),
                "rejections": k,
                "power": k / m if m else np.nan,
                "power_ci_lower": lower,
                "power_ci_upper": upper,
                "mean_estimate": mean,
                "true_value": truth,
                "bias": mean - truth,
                "sd_estimate": float(ok["est"].std(ddof=1)) if m > 1 else np.nan,
                "mean_se": float(ok["se"].mean()) if m else np.nan,
                "coverage": float(((ok["ci_lower"] <= truth) & (truth <= ok["ci_upper"])).mean())
                if m
                else np.nan,
            }
        )
    frame = pd.DataFrame(rows, columns=POWER_COLUMNS)
    frame["_order"] = frame["effect"].map(order).fillna(len(order))
    frame = frame.sort_values(["_order", "n"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)


EFFECT_NAMES = {
    "nl": {
        INTERACTION: "het interactie-effect (steun vanuit de eigen organisatie versterkt het "
        "effect van ervaren leren op kennisbenutting)",
        "indirect": "het indirecte effect van het leerklimaat op kennisbenutting",
        "via_safety": "het indirecte effect via psychologische veiligheid",
    },
    "en": {
        INTERACTION: "the interaction (home support strengthening the effect of perceived "
        "learning on knowledge transfer)",
        "indirect": "the indirect effect of learning climate on knowledge transfer",
        "via_safety": "the indirect effect through psychological safety",
    },
}
SHORT_NAMES = {
    INTERACTION: "interaction",
    "indirect": "indirect effect",
    "via_safety": "via safety",
}


def planning_note(power: pd.DataFrame, lang: str, target: float = TARGET_POWER) -> str:
    """One sentence for the report: per effect the smallest n with power >= target."""
    if lang not in EFFECT_NAMES:
        raise InputError(f"no planning sentence in language {lang!r}", expected="nl or en")
    names = EFFECT_NAMES[lang]
    percent = f"{target:.0%}"
    parts = []
    for effect, group in power.groupby("effect", sort=False):
        name = names.get(effect, f"{'het effect' if lang == 'nl' else 'the effect'} {effect}")
        group = group.sort_values("n")
        reached = group[group["power"] >= target]
        largest = int(group["n"].max())
        if len(reached):
            n = int(reached["n"].iloc[0])
            parts.append(
                f"{name} vraagt minstens {n} respondenten"
                if lang == "nl"
                else f"{name} needs at least {n} respondents"
            )
        elif lang == "nl":
            parts.append(
                f"{name} haalt {percent} niet binnen de onderzochte "
                f"steekproefgroottes (tot en met {largest})"
            )
        else:
            parts.append(
                f"{name} does not reach {percent} within the sizes tried (up to {largest})"
            )
    reps = int(power["replications"].max()) if len(power) else 0
    if lang == "nl":
        head = (
            f"Planning van de volgende meting ({percent} power, {reps} simulaties per "
            "steekproefgrootte): "
        )
    else:
        head = f"Planning the next wave ({percent} power, {reps} simulations per sample size): "
    return head + "; ".join(parts) + "."


def plot_power(power: pd.DataFrame, path, target: float = TARGET_POWER) -> None:
    """Power curves against n, one line style and marker per effect, Wilson CIs as bars and
    the target as a dashed line: readable in black and white."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", "-.", ":"]
    markers = ["o", "s", "^", "D", "v"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    for i, (effect, group) in enumerate(power.groupby("effect", sort=False)):
        group = group.sort_values("n")
        yerr = np.vstack(
            [group["power"] - group["power_ci_lower"], group["power_ci_upper"] - group["power"]]
        ).clip(min=0)
        ax.errorbar(
            group["n"],
            group["power"],
            yerr=yerr,
            color="black",
            linestyle=styles[i % len(styles)],
            marker=markers[i % len(markers)],
            markerfacecolor="white" if i % 2 else "black",
            capsize=3,
            linewidth=1.4,
            label=SHORT_NAMES.get(effect, effect),
        )
    ax.axhline(target, color="0.4", linestyle=(0, (6, 3)), linewidth=1, label=f"{target:.0%} power")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(sorted(power["n"].unique()))
    ax.set_xlabel("respondents (n)")
    ax.set_ylabel("power (share of replications with p < alpha)")
    ax.legend(frameon=False, loc="lower right")
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# From config.yaml
# --------------------------------------------------------------------------------------------


def study_from_files(
    cfg: Mapping[str, Any],
    syntax: str,
    codebook: str,
    inputs: Any,
    *,
    roles: Mapping[str, str] | None = None,
) -> PowerStudy:
    """The PowerStudy of a workflow job: the codebook and, for population "fitted", the
    fitted wave's estimates, scores and moderation tables (inputs.estimates, .scores,
    .moderation: paths); roles: config roles.moderation (see `moderation_roles`)."""
    fitted = None
    if cfg["population"] == "fitted":
        estimates, moderation = pd.read_csv(inputs.estimates), pd.read_csv(inputs.moderation)
        for path, table in ((inputs.estimates, estimates), (inputs.moderation, moderation)):
            if table.empty:  # the wave's model was not estimated (its status table says why)
                raise InputError(
                    "power.population: fitted takes the model fitted to the last wave, "
                    "which was not estimated there",
                    file=str(path),
                    hint="See the status table beside it; use power.population: truth, or "
                    "list a wave with more respondents last",
                )
        fitted = fitted_population(
            estimates, syntax, pd.read_parquet(inputs.scores), moderation, roles
        )
    return study_from_settings(cfg, syntax, load_codebook(codebook), fitted=fitted, roles=roles)


def study_from_settings(
    cfg: Mapping[str, Any],
    syntax: str,
    book: Codebook,
    *,
    fitted: FittedPopulation | None = None,
    truth: dict | None = None,
    roles: Mapping[str, str] | None = None,
) -> PowerStudy:
    """A PowerStudy for checked settings (see settings()); population "fitted" needs fitted;
    roles: config roles.moderation (see `moderation_roles`)."""
    if cfg["population"] == "fitted":
        if fitted is None:
            raise InputError("power.population: fitted needs the fitted model of a wave")
        population: TruthPopulation | FittedPopulation = fitted
    else:
        from lcsurvey.study.simulate import default_truth

        population = TruthPopulation(
            truth if truth is not None else default_truth(),
            list(book.items),
            missing=bool(cfg["missing"]),
        )
    return PowerStudy(
        population=population,
        syntax=syntax,
        book=book,
        effects=list(cfg["effects"]),
        alpha=float(cfg["alpha"]),
        seed=int(cfg["seed"]),
        roles=moderation_roles(roles),
    )
