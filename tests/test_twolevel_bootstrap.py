"""The cluster bootstrap of two-level models (lcsurvey.sem.twolevel_bootstrap) against lavaan.

Reference: tests/fixtures/twolevel_bootstrap/make_fixtures.R. lavaan 0.6.14 has no bootstrap
for two-level models, so our first 20 draws on Demo.twolevel (200 clusters of 5-20 rows) are
exported (draws.csv, make_draws.py) and lavaan fits the rows of each draw's clusters, a
cluster drawn twice entering as two clusters. Our refits (lean: from the full-sample
estimates, no Hessian) must give lavaan's estimates for the very same draws: the tutorial's
model, a 2-1-1 mediation with := lines (exogenous moments re-fixed at each draw's h1), and the
tutorial's model with 200 values of y1 missing (missing = "ml").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lcsurvey.errors import InputError
from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem import twolevel as tl
from lcsurvey.sem import twolevel_bootstrap as tlb
from lcsurvey.sem.defined import defined_values

from .conftest import ROOT
from .test_cluster_bootstrap import Weights
from .test_twolevel import MODELS

FIXTURES = ROOT / "tests" / "fixtures" / "twolevel_bootstrap"
DATA = ROOT / "tests" / "fixtures" / "twolevel"
SEED = 20211201
CASES = {
    "tutorial_complete": ("tutorial", "data.csv", "listwise"),
    "mediation_complete": ("mediation", "data.csv", "listwise"),
    "tutorial_missing": ("tutorial", "data_missing.csv", "ml"),
}
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def refits():
    return pd.read_csv(FIXTURES / "refits.csv", keep_default_na=False, na_values=[""])


def _job(case: str):
    model, file, missing = CASES[case]
    data = pd.read_csv(DATA / file)
    fit, job = tlb.twolevel_job(MODELS[model], data, "cluster", missing=missing)
    job.prepare()
    return data, fit, job


def _counts(labels: np.ndarray, n_draws: int) -> np.ndarray:
    """(draws, clusters) counts of draws.csv, clusters in the order of the job's codes."""
    draws = pd.read_csv(FIXTURES / "draws.csv")
    counts = draws.pivot(index="draw", columns="cluster", values="count").fillna(0)
    return counts.reindex(columns=labels, fill_value=0).to_numpy(float)[:n_draws]


def _labels(data: pd.DataFrame, job) -> np.ndarray:
    """Each cluster code's label (codes follow first appearance; no cluster is dropped)."""
    return pd.unique(data["cluster"])[: int(job.data.codes.max()) + 1]


def _ours(fit, values: np.ndarray) -> pd.DataFrame:
    """Draws (rows) as columns (level, lhs, op, rhs) of the free and := rows."""
    definitions = list(fit.spec.definitions)
    out = {}
    for par in fit.spec.parameters:
        if par in fit.model.index:
            out[(par.level, par.lhs, par.op, par.rhs)] = values[:, fit.model.index[par]]
    defined = defined_values(definitions, fit.model.names, values)
    for k, d in enumerate(definitions):
        out[(0, d.name, ":=", d.expression.replace(" ", ""))] = defined[:, k]
    return pd.DataFrame(out)


def _lavaan(refits: pd.DataFrame, case: str) -> pd.DataFrame:
    rows = refits[refits["case"] == case].copy()
    rows["rhs"] = rows["rhs"].fillna("").str.replace(" ", "")
    rows["key"] = list(zip(rows["level"], rows["lhs"], rows["op"], rows["rhs"], strict=True))
    return rows.pivot(index="draw", columns="key", values="est")


def test_the_draws_are_the_exported_ones():
    """draws.csv holds the clusters of bootstrap_twolevel's first 20 draws (seed 20211201): the
    counts lcsurvey.sem.bootstrap.draws gives the fit's clusters, 200 clusters a draw."""
    data, _, job = _job("tutorial_complete")
    weights = boot.draws(
        Weights(len(job.data.codes)), 20, SEED, clusters=job.data.codes, progress=False
    )
    counts = weights[:, job._first]
    np.testing.assert_array_equal(counts, _counts(_labels(data, job), 20))
    assert (counts.sum(axis=1) == 200).all()
    # the missing-data fit keeps every cluster, in the same order: the same draws
    data_m, _, job_m = _job("tutorial_missing")
    np.testing.assert_array_equal(_labels(data_m, job_m), _labels(data, job))


@pytest.mark.parametrize("case", list(CASES))
def test_draws_refit_as_lavaan_on_the_drawn_clusters(refits, case):
    data, fit, job = _job(case)
    expected = _lavaan(refits, case)
    full = _ours(fit, fit.theta[None])
    assert set(full.columns) == set(expected.columns)
    columns = list(expected.columns)
    np.testing.assert_allclose(
        full[columns].to_numpy()[0], expected.loc[0].to_numpy(), atol=TOLERANCE, rtol=0
    )
    n_draws = int(expected.index.max())
    counts = _counts(_labels(data, job), n_draws)
    weights = counts[:, job.data.codes]
    ours = _ours(fit, job.run(weights))[columns].to_numpy()
    theirs = expected.loc[1:].to_numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=0)
    # The draws moved well beyond the tolerance: the comparison has teeth.
    assert np.abs(theirs - expected.loc[[0]].to_numpy()).max() > 20 * TOLERANCE


def test_same_intervals_on_one_or_two_threads():
    data = pd.read_csv(DATA / "data.csv")
    one = tlb.bootstrap_twolevel(MODELS["mediation"], data, "cluster", draws=60, threads=1,
                                 seed=5, progress=False)  # fmt: skip
    two = tlb.bootstrap_twolevel(MODELS["mediation"], data, "cluster", draws=60, threads=2,
                                 seed=5, progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(one[0], two[0])
    pd.testing.assert_frame_equal(one[1], two[1])
    other = tlb.bootstrap_twolevel(MODELS["mediation"], data, "cluster", draws=60, seed=6,
                                   bca=False, progress=False)  # fmt: skip
    assert not np.allclose(one[0]["ci_lower"], other[0]["ci_lower"])
    assert other[0]["bca_ci_lower"].isna().all()


def test_intervals_table_and_summary():
    data = pd.read_csv(DATA / "data.csv")
    intervals, summary = tlb.bootstrap_twolevel(
        MODELS["mediation"], data, "cluster", draws=50, seed=3, progress=False
    )
    assert list(intervals.columns) == tlb.INTERVAL_COLUMNS
    assert list(summary.columns) == boot.SUMMARY_COLUMNS
    row = summary.iloc[0]
    assert (row["draws_requested"], row["draws_ok"], row["draws_failed"]) == (50, 50, 0)
    assert (row["resampling"], row["clusters"], row["method"]) == ("clusters", 200, "twolevel-ml")
    defined = intervals[intervals["op"] == ":="]
    assert defined["lhs"].tolist() == ["ind", "total", "contextual"]
    assert (defined["level"] == 0).all()
    # one row per free parameter: not the fixed exogenous moments (w1 ~~ w1, x1 ~~ x1)
    free = intervals[intervals["op"] != ":="]
    assert not ((free["lhs"] == free["rhs"]) & free["lhs"].isin(["w1", "x1"])).any()
    assert {("y2", "~", "y1", 1), ("y2", "~", "y1", 2)} <= set(
        zip(free["lhs"], free["op"], free["rhs"], free["level"], strict=True)
    )
    ok = intervals[["ci_lower", "ci_upper", "bca_ci_lower", "bca_ci_upper", "boot_se"]]
    assert ok.notna().all().all()
    assert (intervals["ci_lower"] < intervals["ci_upper"]).all()


def test_failed_draws_are_counted_and_left_out(monkeypatch):
    """A draw that does not converge, and one that raises, count as failed; the intervals come
    from the others, never from replaced draws."""
    data = pd.read_csv(DATA / "data.csv")
    refit = tlb.TwoLevelJob.refit
    calls = {"n": 0}

    def flaky(self, counts):
        calls["n"] += 1
        if calls["n"] % 5 == 0:
            return None
        if calls["n"] % 7 == 0:
            raise np.linalg.LinAlgError("not positive definite")
        return refit(self, counts)

    monkeypatch.setattr(tlb.TwoLevelJob, "refit", flaky)
    intervals, summary = tlb.bootstrap_twolevel(
        MODELS["mediation"], data, "cluster", draws=35, seed=3, bca=False, progress=False
    )
    row = summary.iloc[0]
    assert (row["draws_ok"], row["draws_failed"]) == (35 - 7 - 4, 11)
    assert intervals["ci_lower"].notna().all()


def test_bad_requests_get_a_clear_message():
    data = pd.read_csv(DATA / "data.csv")
    with pytest.raises(InputError, match="at least one draw"):
        tlb.bootstrap_twolevel(MODELS["mediation"], data, "cluster", draws=0)
    with pytest.raises(InputError, match="confidence level"):
        tlb.bootstrap_twolevel(MODELS["mediation"], data, "cluster", level=95)
    with pytest.raises(InputError, match="'community'"):
        tlb.bootstrap_twolevel(MODELS["mediation"], data, "community", draws=10)


def _simulated(seed: int, n_clusters: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(4, 12, size=n_clusters)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    x_between = rng.normal(size=n_clusters)[cluster]
    x = x_between + rng.normal(size=len(cluster))
    y = 0.5 * x + 0.3 * x_between + rng.normal(0, 0.6, n_clusters)[cluster]
    y = y + rng.normal(size=len(cluster))
    return pd.DataFrame({"cluster": cluster, "x": x, "y": y})


@example(seed=10000, n_clusters=30)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_clusters=st.integers(25, 60))
def test_percentile_intervals_contain_the_estimate(seed, n_clusters):
    """A regression at both levels on simulated clusters: every percentile (and BCa)
    interval holds the full-sample estimate, and few draws fail (a draw fails when the drawn
    clusters' between-level covariance matrix of x and y has no maximum inside the positive
    definite ones: rare, as seed 10000 with 30 clusters shows, 1 draw in 100)."""
    data = _simulated(seed, n_clusters)
    syntax = "level: 1\n y ~ bw*x\nlevel: 2\n y ~ bb*x\ncontextual := bb - bw"
    intervals, summary = tlb.bootstrap_twolevel(
        syntax, data, "cluster", draws=100, seed=seed, progress=False
    )
    assert summary.iloc[0]["draws_failed"] <= 5
    assert (intervals["ci_lower"] <= intervals["est"]).all()
    assert (intervals["est"] <= intervals["ci_upper"]).all()
    assert (intervals["bca_ci_lower"] <= intervals["bca_ci_upper"]).all()


def test_closed_form_exogenous_moments_are_the_unrestricted_models():
    """Exogenous variables named at one level only (x1-x3 within, w1 and w2 between): their
    h1 moments are those of the rows and of the clusters, so a draw needs no h1 fit; with one
    named at both levels (y1 in the mediation) or missing values there is no closed form."""
    data = pd.read_csv(DATA / "data.csv")
    spec = tl.parse_twolevel(MODELS["tutorial"])
    stats = tl.cluster_stats(data, spec, "cluster")
    h1 = tl.fit_unrestricted(stats, spec)
    closed = tl.exogenous_moments(stats, spec)
    within = [spec.within.observed.index(v) for v in ("x1", "x2", "x3")]
    between = [spec.between.observed.index(v) for v in ("w1", "w2")]
    for ours, theirs, idx in (
        (closed.mu_w, h1.mu_w, within),
        (closed.mu_b, h1.mu_b, between),
    ):
        np.testing.assert_allclose(ours[idx], theirs[idx], atol=1e-7)
    for ours, theirs, idx in (
        (closed.sigma_w, h1.sigma_w, within),
        (closed.sigma_b, h1.sigma_b, between),
    ):
        np.testing.assert_allclose(ours[np.ix_(idx, idx)], theirs[np.ix_(idx, idx)], atol=1e-7)
    assert np.isnan(closed.sigma_w[0, 0])  # y1 is not exogenous
    mediation = tl.parse_twolevel(MODELS["mediation"])
    assert tl.exogenous_moments(tl.cluster_stats(data, mediation, "cluster"), mediation) is None
    holes = pd.read_csv(DATA / "data_missing.csv")
    assert tl.exogenous_moments(tl.missing_cluster_data(holes, spec, "cluster"), spec) is None


def test_few_clusters_with_a_degenerate_between_level_count_their_failed_draws():
    """24 clusters, a between level with four variables and residual variances near zero (as
    the study's two-level mediation at the bundled design): the full-sample fit has a
    negative between-level variance (m ~~ m), and some draws (4 of these 40) have no maximum
    inside the positive definite matrices. Those are counted as failed, the others give the
    intervals, and the run still does not depend on the processes."""
    rng = np.random.default_rng(11)
    sizes = rng.integers(2, 20, size=24)
    cluster = np.repeat(np.arange(24), sizes)
    n = len(cluster)
    x_b = rng.normal(0, 0.4, (24, 2))[cluster]
    x_w = rng.normal(0, 0.7, (n, 2))
    m = 0.4 * (x_b + x_w).sum(axis=1) + rng.normal(0, 0.1, 24)[cluster] + rng.normal(0, 0.8, n)
    y = 0.3 * m + rng.normal(0, 0.1, 24)[cluster] + rng.normal(0, 0.8, n)
    data = pd.DataFrame({"c": cluster, "x1": (x_b + x_w)[:, 0], "x2": (x_b + x_w)[:, 1],
                         "m": m, "y": y})  # fmt: skip
    syntax = """
        level: 1
          m ~ a1*x1 + a2*x2
          y ~ b*m + x1 + x2
        level: 2
          m ~ a1b*x1 + a2b*x2
          y ~ bb*m + x1 + x2
        ind_between := (a1b + a2b)*bb"""
    one = tlb.bootstrap_twolevel(syntax, data, "c", draws=40, seed=2, progress=False, bca=False)
    two = tlb.bootstrap_twolevel(syntax, data, "c", draws=40, seed=2, progress=False, bca=False,
                                 threads=2)  # fmt: skip
    pd.testing.assert_frame_equal(one[0], two[0])
    summary = one[1].iloc[0]
    assert summary["draws_ok"] + summary["draws_failed"] == 40
    assert 0 < summary["draws_failed"] < 40
    assert one[0]["ci_lower"].notna().all()
