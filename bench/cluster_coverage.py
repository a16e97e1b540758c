"""Coverage of the indirect effects' 95% intervals on simulated clustered waves: cluster
bootstrap against row bootstrap and the delta method.

Each replication simulates one wave of N respondents from the population model
(lcsurvey.study.simulate) with NEW community effects: the simulator keeps one fixed set of
climate effects (TRUTH.yaml), so that across waves the same communities recur; here every
replication draws the effects of its ~25 communities afresh from N(0, climate_icc), which makes
the community part of the climate a random effect that an interval has to cover (with fixed
effects the rows of a wave are independent draws, and there is nothing for the cluster
bootstrap to add).

The model is the transfer model's chain of structural paths, on the simulator's latent true
scores (true_climate, ...) as observed variables:
    safety ~ a*climate; learning ~ b*safety + c*climate; perceived ~ d*learning;
    transfer ~ e*perceived + f*support; indirect := a*b*d*e + c*d*e; via_safety := a*b*d*e
Why this model and not the 32-indicator transfer model: (1) its truth is exact. The latent
variables have variance 1 in the population, so the regression weights are the simulator's
standardised coefficients (a = .50, b = .30, c = .25, d = .50, e = .35: indirect = .07,
via_safety = .02625); the omitted causes (motive_knowledge of learning, the perceived x support
interaction of transfer) are uncorrelated with the predictors, so they bias nothing. The
transfer model's unstandardised indirect effect is on the scale of the 5-point answers (marker
items), and its std_all is attenuated by cutting the answers into categories, so neither has
an exact population value. (2) Cost: a replication of the transfer model needs two bootstraps
of 2,000 converged FIML refits, 15-40 s of CPU here (6-9 s a bootstrap with missing answers,
18 s with complete ones), so 500 replications take 2-5 hours on one core; a replication of
this model takes about 0.2 s (batched least squares, exact ML).

In the simulator only the climate has a community part (ICC .10); the structural disturbances
have none, so the design effect of every path, 1 + (m - 1) ICC(x) ICC(residual), is 1: rows are
resampled correctly there, and the cluster bootstrap, which learns the spread from ~25
clusters, can only lose a little coverage. The control line shows the other side: the mean of
true_climate (population value 0), a community-level quantity with design effect about
1 + (m - 1) ICC = 2, where resampling rows falls short.

Printed: per quantity the coverage of the Wald (delta-method) interval, of the percentile and
BCa intervals of the row and the cluster bootstrap, each with its Monte Carlo SE
sqrt(p (1 - p) / R); misses below and above; mean width; the SD of the estimates across
replications against the mean bootstrap SEs. Then the ICC(1) of each variable and of each
equation's residual (one-way ANOVA by community, k = N / G as multilevel::ICC1), and the
design effects: of the slope, 1 + (m - 1) ICC(x) ICC(residual) (Scott & Holt 1982), and
empirically the ratio of the cluster to the row bootstrap variance.
Usage: nice -n 10 .venv/bin/python bench/cluster_coverage.py [--replications 500] [--n 300]
       [--draws 2000] [--seed 20211201] [--workers 1] [--communities 25] [--out coverage.csv]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lcsurvey.sem import bootstrap as boot  # noqa: E402
from lcsurvey.sem.model import bootstrap_estimates, fit_model  # noqa: E402
from lcsurvey.study.simulate import default_truth, simulate_population  # noqa: E402

LATENT = {
    "climate": "true_climate",
    "safety": "true_psychological_safety",
    "learning": "true_learning_behaviour",
    "perceived": "true_perceived_learning",
    "support": "true_home_support",
    "transfer": "true_knowledge_transfer",
}
SYNTAX = """
safety ~ a*climate
learning ~ b*safety + c*climate
perceived ~ d*learning
transfer ~ e*perceived + f*support
indirect := a*b*d*e + c*d*e
via_safety := a*b*d*e
"""
EQUATIONS = {  # outcome -> predictors, for the residual ICCs
    "safety": ["climate"],
    "learning": ["safety", "climate"],
    "perceived": ["learning"],
    "transfer": ["perceived", "support"],
}
INTERVALS = {
    "wald": ("ci_lower", "ci_upper"),
    "rows_perc": ("rows_boot_ci_lower", "rows_boot_ci_upper"),
    "rows_bca": ("rows_bca_ci_lower", "rows_bca_ci_upper"),
    "clusters_perc": ("clusters_boot_ci_lower", "clusters_boot_ci_upper"),
    "clusters_bca": ("clusters_bca_ci_lower", "clusters_bca_ci_upper"),
}


def truths() -> dict[str, float]:
    """The population values of the model's paths and indirect effects (see the docstring)."""
    stated = {(r["lhs"], r["rhs"]): r["std_all"] for r in default_truth()["regressions"]}
    name = {short: long.removeprefix("true_") for short, long in LATENT.items()}
    path = {
        "a": stated[(name["safety"], name["climate"])],
        "b": stated[(name["learning"], name["safety"])],
        "c": stated[(name["learning"], name["climate"])],
        "d": stated[(name["perceived"], name["learning"])],
        "e": stated[(name["transfer"], name["perceived"])],
        "f": stated[(name["transfer"], name["support"])],
    }
    return {
        **path,
        "indirect": path["a"] * path["b"] * path["d"] * path["e"]
        + path["c"] * path["d"] * path["e"],
        "via_safety": path["a"] * path["b"] * path["d"] * path["e"],
    }


def icc1(values: np.ndarray, groups: np.ndarray) -> float:
    """ICC(1) from the one-way ANOVA by group, k = N / G (multilevel::ICC1)."""
    frame = pd.DataFrame({"y": values, "g": groups})
    n, g = len(frame), frame["g"].nunique()
    grand = frame["y"].mean()
    stats = frame.groupby("g")["y"].agg(["mean", "count", "var"])
    msb = (stats["count"] * (stats["mean"] - grand) ** 2).sum() / (g - 1)
    msw = ((stats["count"] - 1) * stats["var"].fillna(0)).sum() / (n - g)
    k = n / g
    return float((msb - msw) / (msb + (k - 1) * msw))


def simulate_wave(n: int, rng: np.random.Generator, communities: int | None = None) -> pd.DataFrame:
    """One wave with fresh community effects: the latent true scores and the community.

    communities: how many communities (None: the simulator's); more than the simulator has
    repeat its community profiles (size, sector mix), each with an effect of its own.
    """
    truth = default_truth()
    icc = truth["climate_icc"]
    if communities is not None:
        profiles = truth["communities"]
        truth["communities"] = [
            {**profiles[i % len(profiles)], "community": i + 1} for i in range(communities)
        ]
    for community in truth["communities"]:
        community["climate_effect"] = float(rng.normal(0.0, np.sqrt(icc)))
    data = simulate_population(n, rng, truth)
    frame = pd.DataFrame({short: data[long] for short, long in LATENT.items()})
    frame["community"] = data["community"].to_numpy()
    return frame


def replicate(task: tuple[int, int, int, int, int | None]) -> pd.DataFrame:
    """One replication: the := rows with Wald, row- and cluster-bootstrap intervals, the
    climate mean's intervals, and the ICCs of the wave."""
    replication, n, n_draws, seed, communities = task
    rng = np.random.default_rng(np.random.SeedSequence([seed, replication]))
    frame = simulate_wave(n, rng, communities)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit_model(SYNTAX, frame, missing="listwise", cluster="community")
    boot_seed = int(np.random.SeedSequence([seed, replication, 1]).generate_state(1)[0])
    clustered, summary = bootstrap_estimates(fitted, n_draws, boot_seed)
    assert summary.iloc[0]["resampling"] == "clusters"
    codes, fitted.clusters = fitted.clusters, None
    rows, _ = bootstrap_estimates(fitted, n_draws, boot_seed)
    keep = clustered["op"].isin([":=", "~"]).to_numpy()
    out = clustered.loc[keep, ["lhs", "op", "label", "est", "se", "ci_lower", "ci_upper"]]
    out["quantity"] = np.where(out["op"] == ":=", out["lhs"], out["label"])
    for prefix, table in (("rows", rows), ("clusters", clustered)):
        for column in ("boot_se", "boot_ci_lower", "boot_ci_upper", "bca_ci_lower", "bca_ci_upper"):
            out[f"{prefix}_{column}"] = table.loc[keep, column].to_numpy()
    # The control: the mean of the climate, a community-level quantity.
    x = frame[["climate"]].to_numpy(float)
    mean_job = boot.PathJob(x=x, variables=["climate"], equations=[], keys=[("climate", "~1", "")])
    mean_job.prepare()
    estimate = x.mean(axis=0)
    se = x.std(ddof=1) / np.sqrt(len(x))
    control = {
        "quantity": "climate_mean",
        "est": estimate[0],
        "se": se,
        "ci_lower": estimate[0] - 1.959963984540054 * se,
        "ci_upper": estimate[0] + 1.959963984540054 * se,
    }
    for prefix, clusters in (("rows", None), ("clusters", codes)):
        values = boot.draws(mean_job, n_draws, boot_seed, clusters=clusters)
        jack = boot.jackknife(mean_job, clusters=clusters)
        lower, upper = boot.percentile_ci(values)
        bca_lower, bca_upper = boot.bca_ci(values, estimate, jack)
        control.update(
            {
                f"{prefix}_boot_se": values.std(ddof=1),
                f"{prefix}_boot_ci_lower": lower[0],
                f"{prefix}_boot_ci_upper": upper[0],
                f"{prefix}_bca_ci_lower": bca_lower[0],
                f"{prefix}_bca_ci_upper": bca_upper[0],
            }
        )
    out = pd.concat([out.drop(columns=["lhs", "op", "label"]), pd.DataFrame([control])])
    # ICC(1) of the variables and of the equations' residuals (least squares).
    groups = frame["community"].to_numpy()
    iccs = {f"icc_{v}": icc1(frame[v].to_numpy(), groups) for v in LATENT}
    for outcome, predictors in EQUATIONS.items():
        design = np.column_stack([np.ones(len(frame)), frame[predictors].to_numpy()])
        y = frame[outcome].to_numpy()
        residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        iccs[f"icc_residual_{outcome}"] = icc1(residual, groups)
    out = out.assign(
        replication=replication,
        communities=int(codes.max()) + 1,
        members=len(frame) / (int(codes.max()) + 1),
        **iccs,
    )
    return out.reset_index(drop=True)


def summarise(results: pd.DataFrame, truth: dict[str, float]) -> pd.DataFrame:
    rows = []
    for quantity, group in results.groupby("quantity", sort=False):
        value = truth[quantity]
        r = len(group)
        for name, (lower, upper) in INTERVALS.items():
            below = (group[upper] < value).mean()
            above = (group[lower] > value).mean()
            covered = 1 - below - above
            rows.append(
                {
                    "quantity": quantity,
                    "truth": value,
                    "interval": name,
                    "coverage": covered,
                    "mc_se": np.sqrt(covered * (1 - covered) / r),
                    "miss_below": below,
                    "miss_above": above,
                    "width": (group[upper] - group[lower]).mean(),
                    "replications": r,
                }
            )
    return pd.DataFrame(rows)


def spread(results: pd.DataFrame, truth: dict[str, float]) -> pd.DataFrame:
    rows = []
    for quantity, group in results.groupby("quantity", sort=False):
        rows.append(
            {
                "quantity": quantity,
                "truth": truth[quantity],
                "mean_est": group["est"].mean(),
                "sd_est": group["est"].std(ddof=1),
                "mean_se_wald": group["se"].mean(),
                "mean_se_rows": group["rows_boot_se"].mean(),
                "mean_se_clusters": group["clusters_boot_se"].mean(),
                "deff_boot": (group["clusters_boot_se"] ** 2 / group["rows_boot_se"] ** 2).mean(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=500)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20211201)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--communities", type=int, help="communities per wave (default: the simulator's 25)"
    )
    parser.add_argument("--out", help="write the per-replication intervals to this CSV file")
    args = parser.parse_args()
    truth = {**truths(), "climate_mean": 0.0}
    start = time.perf_counter()
    tasks = [(r, args.n, args.draws, args.seed, args.communities) for r in range(args.replications)]
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = pd.concat(pool.map(replicate, tasks, chunksize=5), ignore_index=True)
    else:
        results = pd.concat(map(replicate, tasks), ignore_index=True)
    seconds = time.perf_counter() - start
    if args.out:
        results.to_csv(args.out, index=False)
    where = str(args.communities) if args.communities else "the simulator's 25"
    print(
        f"{args.replications} waves of {args.n} respondents in {where} communities "
        f"(new community effects per wave), {args.draws} draws per bootstrap, seed {args.seed}, "
        f"{args.workers} worker(s): {seconds:.0f} s"
    )
    members = results.drop_duplicates("replication")
    print(
        f"communities per wave: mean {members['communities'].mean():.1f} "
        f"(min {members['communities'].min()}, max {members['communities'].max()}); "
        f"respondents per community: mean {members['members'].mean():.1f}"
    )
    pd.set_option("display.width", 200)
    table = summarise(results, truth)
    shown = table[table["quantity"].isin(["indirect", "via_safety", "climate_mean"])]
    print("\nCoverage of the 95% intervals (Monte Carlo SE in mc_se)")
    print(shown.round(4).to_string(index=False))
    # Not what the pipeline does: the cluster draws' deviations from the estimate widened by
    # sqrt(G / (G - 1)), the small-sample factor of cluster-robust variances; percentile and
    # BCa limits move with the draws (BCa's levels do not change).
    widened = []
    for quantity in ("indirect", "via_safety", "climate_mean"):
        group = results[results["quantity"] == quantity]
        factor = np.sqrt(group["communities"] / (group["communities"] - 1))
        for name in ("clusters_perc", "clusters_bca"):
            lower, upper = (
                group["est"] + factor * (group[column] - group["est"]) for column in INTERVALS[name]
            )
            covered = ((lower <= truth[quantity]) & (truth[quantity] <= upper)).mean()
            widened.append(f"{quantity} {name.split('_')[1]} {covered:.3f}")
    print("(what-if) cluster intervals widened by sqrt(G / (G - 1)): " + ", ".join(widened))
    print("\nCoverage of the paths")
    paths = table[~table["quantity"].isin(["indirect", "via_safety", "climate_mean"])]
    print(
        paths.pivot(index="quantity", columns="interval", values="coverage")[list(INTERVALS)]
        .round(3)
        .to_string()
    )
    print("\nSD of the estimates across waves against the mean standard errors")
    print(spread(results, truth).round(4).to_string(index=False))
    iccs = members.filter(like="icc_").mean()
    m = members["members"].mean()
    print(f"\nMean ICC(1) by community (k = N / G = {m:.1f}):")
    print(iccs.round(4).to_string())
    print("Design effect of each slope, 1 + (m - 1) ICC(x) ICC(residual):")
    for outcome, predictors in EQUATIONS.items():
        for x in predictors:
            deff = 1 + (m - 1) * iccs[f"icc_{x}"] * iccs[f"icc_residual_{outcome}"]
            print(f"  {outcome} ~ {x}: {deff:.3f}")
    print(
        f"Design effect of the climate mean, 1 + (m - 1) ICC: {1 + (m - 1) * iccs['icc_climate']:.2f}"
    )


if __name__ == "__main__":
    main()
