"""Analyses on the scale scores of one wave: motives, main motive, moderation, diversity.

Each public function returns tidy DataFrames whose columns are those of the CSV files in
results/{wave}/models/; the report reads those files and computes no statistics itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special  # t and normal quantiles and tails, as scipy.stats computes them

from lcsurvey.errors import InputError
from lcsurvey.sem.estimability import NotEstimated
from lcsurvey.study.roles import MAIN_MOTIVE, study_roles
from lcsurvey.survey.codebook import Codebook

SIGNIFICANCE = 0.05
CONFIDENCE = 0.95

VERDICT_MOTIVE = "motive"
VERDICT_NOT = "not a motive"
VERDICT_UNDECIDED = "undecided"

MOTIVE_COLUMNS = [
    "construct",
    "n",
    "mean",
    "sd",
    "ci_lower",
    "ci_upper",
    "scale_min",
    "scale_max",
    "midpoint",
    "t",
    "df",
    "pvalue",
    "p_holm",
    "verdict",
]
MAIN_MOTIVE_COLUMNS = [
    "category",
    "n",
    "n_total",
    "share",
    "ci_lower",
    "ci_upper",
    "merged",
    "members",
]
MODERATION_COLUMNS = ["term", "est", "se", "t", "df", "pvalue", "ci_lower", "ci_upper", "n", "r2"]
SIMPLE_SLOPE_COLUMNS = [
    "moderator_level",
    "moderator_value",
    "slope",
    "se",
    "ci_lower",
    "ci_upper",
    "pvalue",
    "intercept",
    "predictor_mean",
    "predictor_sd",
]
DIVERSITY_COLUMNS = [
    "outcome",
    "term",
    "est",
    "se",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "n",
    "n_clusters",
    "method",
]
HETEROGENEITY_COLUMNS = ["community", "n", "majority_sector", "share_other_sector"]


# --------------------------------------------------------------------------------------------
# Small building blocks.
# --------------------------------------------------------------------------------------------


def mean_ci(values: pd.Series, confidence: float = CONFIDENCE) -> dict[str, float]:
    """Mean with a t-based confidence interval, ignoring missing values.

    mean ± t(1 - (1 - confidence) / 2, n - 1) · sd / √n; matches R's t.test(x)$conf.int.
    """
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    n = len(x)
    if n < 2:
        return {
            "n": n,
            "mean": float(np.mean(x)) if n else np.nan,
            "sd": np.nan,
            "ci_lower": np.nan,
            "ci_upper": np.nan,
        }
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    half = special.stdtrit(n - 1, (1 + confidence) / 2) * sd / np.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci_lower": mean - half, "ci_upper": mean + half}


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (Holm, 1979); a missing p-value stays missing and is not counted.

    Parameters
    ----------
    pvalues : sequence of float
        The family's p-values; NaN for a test that was not done.

    Returns
    -------
    numpy.ndarray
        The adjusted p-values in the input order, NaN where the input is NaN.

    Notes
    -----
    With the m p-values present sorted, p_(1) ≤ ... ≤ p_(m), the i-th smallest becomes
    min(1, max_{j≤i} (m - j + 1) p_(j)); ties keep their input order. Matches R's
    ``p.adjust(p, method = "holm")``, which also leaves NA out of m.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    order = present[np.argsort(p[present], kind="stable")]
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def wilson_ci(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (Wilson, 1927).

    (p + z²/2n ± z √(p(1-p)/n + z²/4n²)) / (1 + z²/n); matches R's
    prop.test(k, n, correct = FALSE)$conf.int and binom::binom.wilson.
    """
    if n == 0:
        return np.nan, np.nan
    z = special.ndtri((1 + confidence) / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def merge_small_cells(counts: pd.Series, min_cell: int) -> pd.DataFrame:
    """Category counts safe to print: every category below `min_cell` is merged into one row.

    If the merged row is itself below `min_cell` (or only one category would be merged, so its
    count could be read off), the smallest remaining categories join it until neither is the
    case. Returns label, n, merged, members; a suppressed count never appears on its own.
    """
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    small = [label for label, n in counts.items() if n < min_cell]
    if not small:
        return pd.DataFrame(
            {"label": counts.index, "n": counts.to_numpy(dtype=int), "merged": False, "members": ""}
        )
    keep = [label for label in counts.index if label not in small]
    merged = list(small)
    while keep and (counts[merged].sum() < min_cell or len(merged) < 2):
        merged.append(keep.pop())  # the smallest remaining category
    rows = [
        {"label": label, "n": int(counts[label]), "merged": False, "members": ""} for label in keep
    ]
    rows.append(
        {
            "label": None,
            "n": int(counts[merged].sum()),
            "merged": True,
            "members": ", ".join(str(m) for m in merged),
        }
    )
    return pd.DataFrame(rows)


def _require(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"the {what} lack the column(s) {missing}", expected=f"columns {list(columns)}"
        )


# --------------------------------------------------------------------------------------------
# Motives.
# --------------------------------------------------------------------------------------------


def motives(
    scores: pd.DataFrame,
    codebook: Codebook,
    constructs: Sequence[str] | None = None,
    alpha: float = SIGNIFICANCE,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Each motive's mean against its scale midpoint: one-sample t-test, Holm over the motives.

    `constructs` are the motives (config ``roles.motives``; by default the bundled study's,
    see `study_roles`).

    t = (mean - midpoint) / (sd / √n) with n - 1 df, the midpoint being (lowest + highest) / 2
    of the construct's codebook scale (3 on agree5); matches R's t.test(x, mu = midpoint),
    with p.adjust(method = "holm") over the motives present. The verdict is "motive" when the
    CI lies above the midpoint and the Holm p < alpha, "not a motive" when it lies below under
    the same condition, otherwise "undecided": both conditions, so that the verdict never
    claims more than the corrected test supports.
    """
    if constructs is None:
        constructs = study_roles()["motives"]
    rows = []
    for construct in constructs:
        if construct not in scores.columns:
            continue
        scale = codebook.construct_scale(construct)
        summary = mean_ci(scores[construct], confidence)
        if summary["n"] >= 2 and summary["sd"] > 0:
            t = (summary["mean"] - scale.midpoint) / (summary["sd"] / np.sqrt(summary["n"]))
            pvalue = 2 * special.stdtr(summary["n"] - 1, -abs(t))
        else:
            t, pvalue = np.nan, np.nan
        rows.append(
            {
                "construct": construct,
                **summary,
                "scale_min": scale.lowest,
                "scale_max": scale.highest,
                "midpoint": scale.midpoint,
                "t": t,
                "df": summary["n"] - 1,
                "pvalue": pvalue,
            }
        )
    table = pd.DataFrame(rows, columns=MOTIVE_COLUMNS[:-2])
    if table.empty:
        return pd.DataFrame(columns=MOTIVE_COLUMNS)
    tested = table["pvalue"].notna()
    table["p_holm"] = np.nan
    table.loc[tested, "p_holm"] = holm(table.loc[tested, "pvalue"].to_numpy())
    significant = table["p_holm"] < alpha
    above = (table["ci_lower"] > table["midpoint"]) & significant
    below = (table["ci_upper"] < table["midpoint"]) & significant
    table["verdict"] = np.select(
        [above, below], [VERDICT_MOTIVE, VERDICT_NOT], default=VERDICT_UNDECIDED
    )
    return table[MOTIVE_COLUMNS]


def main_motive(
    responses: pd.DataFrame,
    codebook: Codebook,
    min_cell: int = 10,
    variable: str = MAIN_MOTIVE,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Shares of the main motive (single choice) among those who answered, with Wilson CIs.

    Categories are the codes of the codebook scale of `variable`. Categories with fewer than
    `min_cell` answers are merged (see `merge_small_cells`), so that the table can be printed
    as it is: `category` is the code, empty on the merged row, whose `members` lists the
    merged codes. share = n / n_total; the CI is `wilson_ci` (R: prop.test(n, n_total,
    correct = FALSE)$conf.int).
    """
    _require(responses, [variable], "responses")
    scale = codebook.scales[codebook.background[variable].scale]
    values = pd.to_numeric(responses[variable], errors="coerce")
    values = values[values.isin(list(scale.labels))]
    codes = [int(code) for code in scale.labels]
    counts = values.astype(int).value_counts().reindex(codes, fill_value=0)
    table = merge_small_cells(counts, min_cell)
    total = int(len(values))
    table["category"] = pd.array(table["label"], dtype="Int64")
    table["n_total"] = total
    table["share"] = table["n"] / total if total else np.nan
    cis = [wilson_ci(int(n), total, confidence) for n in table["n"]]
    table["ci_lower"] = [lo for lo, _ in cis]
    table["ci_upper"] = [hi for _, hi in cis]
    table["members"] = table["members"].str.replace(", ", "; ", regex=False)
    return table[MAIN_MOTIVE_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Moderation.
# --------------------------------------------------------------------------------------------


# The moderation's floor of complete cases: four coefficients with HC3 errors (leverages of
# 1 make its weights infinite), so more than the respondents_needed of its three variables.
MODERATION_MIN_N = 10


class Moderation(NamedTuple):
    """The moderated regression (one row per term) and the simple slopes (one row per level)."""

    coefficients: pd.DataFrame
    simple_slopes: pd.DataFrame


def moderation(
    scores: pd.DataFrame,
    outcome: str | None = None,
    predictor: str | None = None,
    moderator: str | None = None,
    levels: tuple[float, ...] = (-1.0, 0.0, 1.0),
    confidence: float = CONFIDENCE,
) -> Moderation:
    """Does the moderator strengthen the predictor's association with the outcome?

    The three constructs are config ``roles.moderation``; one not given is the bundled study's
    (see `study_roles`).

    OLS of y on x_c, m_c and x_c·m_c, with x_c and m_c centred at their means in the complete
    cases (Aiken & West, 1991), and HC3 standard errors (MacKinnon & White, 1985):
    V = (X'X)⁻¹ X' diag(e_i² / (1 - h_ii)²) X (X'X)⁻¹. Tests and CIs use t with n - 4 df.
    Matches R's lm(y ~ x_c * m_c) with lmtest::coeftest(fit, sandwich::vcovHC(fit, "HC3")).

    Simple slopes of x at m_c = level · sd(m) (sd with n - 1): b_x + b_xm · m_c, with
    se² = V_xx + m_c² V_xm,xm + 2 m_c V_x,xm from the same HC3 covariance. `intercept` is the
    predicted outcome at the mean of x for that moderator value, so that
    y = intercept + slope · (x - predictor_mean) draws the line on the original scale.

    Raises NotEstimated (too few respondents) with fewer than MODERATION_MIN_N complete cases.
    """
    if None in (outcome, predictor, moderator):
        roles = study_roles()["moderation"]
        outcome = outcome or roles["outcome"]
        predictor = predictor or roles["predictor"]
        moderator = moderator or roles["moderator"]
    _require(scores, [outcome, predictor, moderator], "scale scores")
    data = scores[[outcome, predictor, moderator]].apply(pd.to_numeric, errors="coerce").dropna()
    n = len(data)
    if n < MODERATION_MIN_N:
        raise NotEstimated(
            "moderation",
            "too_few_respondents",
            n=n,
            needed=MODERATION_MIN_N,
            detail=f"complete cases of {predictor}, {moderator} and {outcome}",
        )
    x_mean, m_mean = data[predictor].mean(), data[moderator].mean()
    x_sd, m_sd = data[predictor].std(ddof=1), data[moderator].std(ddof=1)
    product = f"{predictor}:{moderator}"
    design = pd.DataFrame(
        {
            "intercept": 1.0,
            predictor: data[predictor] - x_mean,
            moderator: data[moderator] - m_mean,
        }
    )
    design[product] = design[predictor] * design[moderator]
    import statsmodels.api as sm  # here, not at the top: the report imports this module

    fit = sm.OLS(data[outcome], design).fit(cov_type="HC3", use_t=True)
    ci = fit.conf_int(1 - confidence)
    coefficients = pd.DataFrame(
        {
            "term": list(design.columns),
            "est": fit.params.to_numpy(),
            "se": fit.bse.to_numpy(),
            "t": fit.tvalues.to_numpy(),
            "df": fit.df_resid,
            "pvalue": fit.pvalues.to_numpy(),
            "ci_lower": ci[0].to_numpy(),
            "ci_upper": ci[1].to_numpy(),
            "n": n,
            "r2": fit.rsquared,
        }
    )[MODERATION_COLUMNS]

    cov = fit.cov_params().to_numpy()
    b = fit.params.to_numpy()
    crit = special.stdtrit(fit.df_resid, (1 + confidence) / 2)
    rows = []
    for level in levels:
        m_c = level * m_sd
        gradient = np.array([0.0, 1.0, 0.0, m_c])
        slope = float(gradient @ b)
        se = float(np.sqrt(gradient @ cov @ gradient))
        rows.append(
            {
                "moderator_level": level,
                "moderator_value": m_mean + m_c,
                "slope": slope,
                "se": se,
                "ci_lower": slope - crit * se,
                "ci_upper": slope + crit * se,
                "pvalue": 2 * special.stdtr(fit.df_resid, -abs(slope / se)),
                "intercept": b[0] + b[2] * m_c,
                "predictor_mean": x_mean,
                "predictor_sd": x_sd,
            }
        )
    return Moderation(coefficients, pd.DataFrame(rows, columns=SIMPLE_SLOPE_COLUMNS))


# --------------------------------------------------------------------------------------------
# Diversity of the communities and their learning climate.
# --------------------------------------------------------------------------------------------


def community_heterogeneity(
    responses: pd.DataFrame, community: str | None = None, sector: str | None = None
) -> pd.DataFrame:
    """Per community: members with a known sector, the majority sector and the share of members
    from another sector than the majority.

    `community` and `sector` are the background variables of config ``roles.diversity``
    (cluster and composition; by default the bundled study's, see `study_roles`); the table's
    columns keep the names community, majority_sector and share_other_sector whatever they are.
    The majority sector is the most frequent sector among the community's respondents (on a
    tie, the lowest code, so that the result never depends on row order).
    """
    if community is None or sector is None:
        roles = study_roles()["diversity"]
        community = community or roles["cluster"]
        sector = sector or roles["composition"]
    _require(responses, [community, sector], "responses")
    data = pd.DataFrame(
        {
            "community": pd.to_numeric(responses[community], errors="coerce"),
            "sector": pd.to_numeric(responses[sector], errors="coerce"),
        }
    ).dropna()
    rows = []
    for code, group in data.groupby("community", sort=True):
        counts = group["sector"].value_counts()
        majority = min(counts.index[counts == counts.max()])
        rows.append(
            {
                "community": code,
                "n": len(group),
                "majority_sector": majority,
                "share_other_sector": float((group["sector"] != majority).mean()),
            }
        )
    return pd.DataFrame(rows, columns=HETEROGENEITY_COLUMNS)


def diversity(
    responses: pd.DataFrame,
    scores: pd.DataFrame,
    outcomes: Sequence[str] | None = None,
    mixed: bool = True,
    confidence: float = CONFIDENCE,
    *,
    cluster: str | None = None,
    composition: str | None = None,
) -> pd.DataFrame:
    """Does the learning climate differ between more and less heterogeneous communities?

    `outcomes` are the climate facets (config ``roles.climate``), `cluster` and `composition`
    the background variables of ``roles.diversity`` (the communities and what makes them
    diverse); each not given is the bundled study's (see `study_roles`).

    Each person gets their community's `share_other_sector` (see `community_heterogeneity`).
    Per climate score: OLS of the score on that share with cluster-robust standard errors by
    community, V = c · (X'X)⁻¹ (Σ_g X_g' e_g e_g' X_g) (X'X)⁻¹, c = G/(G-1) · (n-1)/(n-k), and
    t tests with G - 1 df (method "ols_cluster"; R: sandwich::vcovCL(fit, cluster =
    ~community, type = "HC1") with lmtest::coeftest(..., df = G - 1)). As a check, a random-
    intercept model fitted by REML with Wald z tests (method "random_intercept", see
    `random_intercept`; R: lme4::lmer(y ~ share + (1 | community))).
    """
    roles = study_roles()
    outcomes = roles["climate"] if outcomes is None else outcomes
    cluster = cluster or roles["diversity"]["cluster"]
    composition = composition or roles["diversity"]["composition"]
    _require(responses, ["rid", cluster, composition], "responses")
    _require(scores, ["rid"], "scale scores")
    if responses.empty:  # a wave without usable responses: nothing to compare
        return pd.DataFrame(columns=DIVERSITY_COLUMNS)
    shares = community_heterogeneity(responses, cluster, composition)
    people = responses[["rid"]].assign(community=pd.to_numeric(responses[cluster], errors="coerce"))
    people = people.merge(shares[["community", "share_other_sector"]], on="community", how="left")
    outcomes = [o for o in outcomes if o in scores.columns]
    data = people.merge(scores[["rid", *outcomes]], on="rid", how="inner")
    import statsmodels.api as sm  # here, not at the top: the report imports this module

    rows = []
    for outcome in outcomes:
        sample = data[["community", "share_other_sector", outcome]].dropna()
        n, groups = len(sample), sample["community"].nunique()
        # Too few communities, or all equally heterogeneous (a small wave: one member each):
        # no slope to estimate.
        if groups < 3 or sample["share_other_sector"].nunique() < 2:
            continue
        design = sm.add_constant(sample[["share_other_sector"]], has_constant="add")
        fit = sm.OLS(sample[outcome], design).fit(
            cov_type="cluster", cov_kwds={"groups": sample["community"].to_numpy()}, use_t=True
        )
        rows += _diversity_rows(fit, outcome, n, groups, "ols_cluster", confidence)
        if mixed:
            rows += _mixed_rows(sample, outcome, n, groups, confidence)
    return pd.DataFrame(rows, columns=DIVERSITY_COLUMNS)


def _diversity_rows(
    fit, outcome: str, n: int, groups: int, method: str, confidence: float
) -> list[dict]:
    ci = np.asarray(fit.conf_int(1 - confidence))
    names = {"const": "intercept", "Intercept": "intercept"}
    out = []
    for i, term in enumerate(["const", "share_other_sector"]):
        out.append(
            {
                "outcome": outcome,
                "term": names.get(term, term),
                "est": float(np.asarray(fit.params)[i]),
                "se": float(np.asarray(fit.bse)[i]),
                "pvalue": float(np.asarray(fit.pvalues)[i]),
                "ci_lower": float(ci[i, 0]),
                "ci_upper": float(ci[i, 1]),
                "n": n,
                "n_clusters": groups,
                "method": method,
            }
        )
    return out


def random_intercept(
    y: np.ndarray, x: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Linear model with a random intercept per group, fitted by REML.

    y = Xβ + u_g + e, u_g ~ N(0, τ²), e ~ N(0, σ²). With λ = τ²/σ², V_g = σ²(I + λ11'), so
    V_g⁻¹ = (I - λ/(1 + λn_g) 11')/σ²; the REML log-likelihood profiled over β and σ² is
    -½[(n-p) log(Q/(n-p)) + Σ_g log(1 + λn_g) + log|X'W X|], Q = (y - Xβ̂)'W(y - Xβ̂), maximised
    over λ ≥ 0 (a bounded one-dimensional search, so a fit on the boundary τ² = 0 is found,
    not failed). Returns β̂, Cov(β̂) = σ̂²(X'W X)⁻¹ (conditional on λ̂), τ̂² and σ̂². Matches R's
    lme4::lmer(y ~ x + (1 | g), REML = TRUE): fixef, vcov and VarCorr. Used instead of
    statsmodels' MixedLM, whose optimiser does not converge on small waves.
    """
    from scipy import optimize

    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    _, index = np.unique(groups, return_inverse=True)
    sizes = np.bincount(index)
    n, p = x.shape
    # Group sums of X, y and their products: everything the GLS needs, computed once.
    sx = np.zeros((len(sizes), p))
    np.add.at(sx, index, x)
    sy = np.bincount(index, weights=y)
    xtx, xty, yty = x.T @ x, x.T @ y, y @ y

    def gls(lam: float):
        w = lam / (1 + lam * sizes)
        xwx = xtx - (sx * w[:, None]).T @ sx
        xwy = xty - (sx * w[:, None]).T @ sy
        beta = np.linalg.solve(xwx, xwy)
        q = yty - np.sum(w * sy**2) - 2 * beta @ xwy + beta @ xwx @ beta
        return beta, xwx, q

    def deviance(log_lam: float) -> float:
        lam = np.exp(log_lam)
        _, xwx, q = gls(lam)
        return (
            (n - p) * np.log(q / (n - p))
            + np.sum(np.log1p(lam * sizes))
            + np.linalg.slogdet(xwx)[1]
        )

    best = optimize.minimize_scalar(
        deviance, bounds=(-20.0, 8.0), method="bounded", options={"xatol": 1e-10}
    )
    lam = float(np.exp(best.x)) if deviance(best.x) < deviance(-20.0) else 0.0
    beta, xwx, q = gls(lam)
    sigma2 = q / (n - p)
    return beta, sigma2 * np.linalg.inv(xwx), lam * sigma2, sigma2


def _mixed_rows(
    sample: pd.DataFrame, outcome: str, n: int, groups: int, confidence: float
) -> list[dict]:
    x = np.column_stack([np.ones(n), sample["share_other_sector"].to_numpy(dtype=float)])
    beta, cov, _, _ = random_intercept(
        sample[outcome].to_numpy(), x, sample["community"].to_numpy()
    )
    bse = np.sqrt(np.diag(cov))
    z = special.ndtri((1 + confidence) / 2)
    out = []
    for i, term in enumerate(["intercept", "share_other_sector"]):
        out.append(
            {
                "outcome": outcome,
                "term": term,
                "est": float(beta[i]),
                "se": float(bse[i]),
                "pvalue": float(2 * special.ndtr(-abs(beta[i] / bse[i]))),
                "ci_lower": float(beta[i] - z * bse[i]),
                "ci_upper": float(beta[i] + z * bse[i]),
                "n": n,
                "n_clusters": groups,
                "method": "random_intercept",
            }
        )
    return out
