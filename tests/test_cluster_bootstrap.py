"""The cluster bootstrap: whole clusters resampled, BCa's acceleration from the cluster jackknife.

Reference: tests/fixtures/cluster_bootstrap/make_fixtures.R. lavaan 0.6.14 has no cluster
bootstrap, so our first 40 cluster draws on lavaan's Demo.twolevel (200 clusters of 5-20 rows)
are exported (draws.csv) and refitted by lavaan on the rows of the drawn clusters; each job
(batched least squares, FIML and ML refits, batched quasi-Newton) must give lavaan's estimates
for the very same draws to 1e-4, although the draws' total weights differ from N = 2,500
(2,355 to 2,695 here). The same for the leave-one-cluster-out jackknife, and BCa's adjusted
levels against boot.ci's with the 200 cluster influence values. The largest differences seen:
1e-14 (least squares), 4e-5 (FIML; lavaan's own fits stop about that far from the maximum).

Without clusters nothing changes: row_bootstrap_regression.csv holds intervals and draws made
by the code before cluster resampling existed (row_bootstrap_cases below, at commit 1d5f399).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lcsurvey.errors import InputError
from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem.clusters import cluster_codes
from lcsurvey.sem.defined import defined_values
from lcsurvey.sem.model import (
    BOOTSTRAP_SUMMARY_COLUMNS,
    _bootstrap_job,
    _quasi_newton_job,
    bootstrap_estimates,
    fit_model,
)
from lcsurvey.sem.vcov import observed_information

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "cluster_bootstrap"
R_FIXTURES = ROOT / "tests" / "fixtures" / "r"
MODELS = {
    "path": ("y1 ~ a*x1 + x2\ny2 ~ b*y1 + c*x1\nind := a*b\ntotal := c + a*b", "listwise"),
    "cfa_fiml": ("f =~ y3m + y4m + y5m + y6m", "fiml"),
    "cfa_ml": ("f =~ y3 + y4 + y5 + y6", "listwise"),
}
TOLERANCE = 1e-4


class Weights:
    """A job whose values are the draw's row weights."""

    method = "weights"

    def __init__(self, n_rows: int) -> None:
        self.x = np.zeros((n_rows, 1))

    def prepare(self) -> None:
        pass

    def run(self, weights: np.ndarray) -> np.ndarray:
        return weights


@pytest.fixture(scope="module")
def demo():
    data = pd.read_csv(FIXTURES / "demo_twolevel.csv")
    fits = {
        name: fit_model(syntax, data, name=name, missing=missing, cluster="cluster")
        for name, (syntax, missing) in MODELS.items()
    }
    refits = pd.read_csv(FIXTURES / "refits.csv", keep_default_na=False, na_values=[""])
    jack = pd.read_csv(FIXTURES / "jackknife.csv", keep_default_na=False, na_values=[""])
    return data, fits, refits, jack


def _draw_weights(data: pd.DataFrame, rows: pd.Index) -> np.ndarray:
    """(40, rows) weights of draws.csv: each row weighted by its cluster's count."""
    draws = pd.read_csv(FIXTURES / "draws.csv")
    counts = draws.pivot(index="draw", columns="cluster", values="count").fillna(0)
    counts = counts.reindex(columns=sorted(data["cluster"].unique()), fill_value=0)
    return counts[data.loc[rows, "cluster"].to_numpy()].to_numpy(dtype=float)


def _shown(fitted, values: np.ndarray) -> pd.DataFrame:
    """Draws (rows) of the job's quantities as the estimates table shows them: one column per
    (lhs, op, rhs) of a free or defined row (intercepts as reported, := evaluated)."""
    shown = fitted.intercepts.reported(values) if fitted.intercepts is not None else values
    definitions = list(fitted.spec.definitions)
    out = {}
    for row, column in zip(fitted.estimates.itertuples(), fitted.row_columns, strict=True):
        if column is not None:
            out[(row.lhs, row.op, row.rhs)] = shown[:, fitted.columns.index(column)]
    for d, value in zip(
        definitions, defined_values(definitions, fitted.columns, values).T, strict=True
    ):
        out[(d.name, ":=", d.expression)] = value
    return pd.DataFrame(out)


def _lavaan(frame: pd.DataFrame, model: str, by: str) -> pd.DataFrame:
    """lavaan's free and defined estimates: one row per draw (or left-out cluster), one column
    per (lhs, op, rhs)."""
    rows = frame[(frame["model"] == model) & (frame["free"] > 0)].copy()
    rows["rhs"] = rows["rhs"].fillna("")
    rows["key"] = list(zip(rows["lhs"], rows["op"], rows["rhs"], strict=True))
    return rows.pivot(index=by, columns="key", values="est")


def _jobs(fitted):
    """Every refit job that serves this fit: the one chosen, and the quasi-Newton one."""
    chosen = _bootstrap_job(fitted)
    if isinstance(chosen, boot.PathJob):
        return [chosen]
    return [chosen, _quasi_newton_job(fitted)]


def test_cluster_draws_are_the_exported_ones(demo):
    """draws.csv holds the first 40 draws of draws(..., clusters=codes), seed 20211201: the
    weights of a row are its cluster's count, and each draw holds G = 200 clusters."""
    data, *_ = demo
    codes = cluster_codes(data["cluster"])
    weights = boot.draws(Weights(len(data)), 40, 20211201, clusters=codes)
    np.testing.assert_array_equal(weights, _draw_weights(data, data.index))
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    assert (weights[:, first].sum(axis=1) == 200).all()
    totals = weights.sum(axis=1)
    assert totals.min() < len(data) < totals.max()  # the total weight is not N


@pytest.mark.parametrize("model", list(MODELS))
def test_cluster_draws_refit_as_lavaan_on_the_drawn_clusters(demo, model):
    data, fits, refits, _ = demo
    fitted = fits[model]
    expected = _lavaan(refits, model, "draw")
    weights = _draw_weights(data, fitted.data.index)
    full = _shown(fitted, fitted.theta[None])
    assert set(full.columns) == set(expected.columns)
    np.testing.assert_allclose(
        full[expected.columns].to_numpy()[0], expected.loc[0].to_numpy(), atol=TOLERANCE, rtol=0
    )
    jobs = _jobs(fitted)
    assert [job.method for job in jobs] == {
        "path": ["paths"],
        "cfa_fiml": ["fiml", "fiml-bfgs"],
        "cfa_ml": ["ml", "fiml-bfgs"],
    }[model]
    for job in jobs:
        job.prepare()
        ours = _shown(fitted, job.run(weights))[expected.columns].to_numpy()
        theirs = expected.loc[1:].to_numpy()
        assert np.isfinite(ours).all(), job.method
        np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=0, err_msg=job.method)
        # The draws moved well beyond the tolerance: the comparison has teeth.
        assert np.abs(theirs - expected.loc[[0]].to_numpy()).max() > 100 * TOLERANCE


@pytest.mark.parametrize("model", list(MODELS))
def test_cluster_jackknife_leaves_out_one_cluster_at_a_time(demo, model):
    data, fits, _, jack = demo
    fitted = fits[model]
    expected = _lavaan(jack, model, "cluster")
    # Codes follow first appearance; Demo.twolevel's clusters 1..200 come in order.
    labels = data.loc[fitted.data.index, "cluster"].to_numpy()
    order = pd.Series(labels).groupby(fitted.clusters).first().to_numpy()
    for job in _jobs(fitted):
        ours = _shown(fitted, boot.jackknife(job, clusters=fitted.clusters))
        assert len(ours) == 200
        ours.index = order
        np.testing.assert_allclose(
            ours.loc[expected.index, expected.columns].to_numpy(),
            expected.to_numpy(),
            atol=TOLERANCE,
            rtol=0,
            err_msg=job.method,
        )


def test_bca_acceleration_from_the_cluster_jackknife_is_boot_ci_with_cluster_influence(demo):
    """boot.ci's BCa with L = (G - 1) (mean - leave-one-cluster-out values), G = 200, on lavaan's
    40 cluster draws: bca_ci with our cluster jackknife lands on the same adjusted levels
    (limits equal to the quantiles at R's levels). The row jackknife's acceleration, or none,
    gives other levels."""
    data, fits, refits, _ = demo
    reference = pd.read_csv(FIXTURES / "bca.csv", keep_default_na=False, na_values=[""])
    checked = 0
    for model in ("path", "cfa_fiml"):
        fitted = fits[model]
        ref = reference[reference["model"] == model]
        keys = list(zip(ref["lhs"], ref["op"], ref["rhs"].fillna(""), strict=True))
        draws = _lavaan(refits, model, "draw").loc[1:, keys].to_numpy()
        job = _bootstrap_job(fitted)
        estimate = _shown(fitted, fitted.theta[None])[keys].to_numpy()[0]
        jack = _shown(fitted, boot.jackknife(job, clusters=fitted.clusters))[keys].to_numpy()
        lower, upper = boot.bca_ci(draws, estimate, jack)
        for limits, side in ((lower, "lower"), (upper, "upper")):
            level = ref[f"level_{side}"].to_numpy()
            at_r_levels = [np.quantile(draws[:, j], level[j]) for j in range(len(keys))]
            np.testing.assert_allclose(limits, at_r_levels, atol=1e-6, rtol=0)
        accelerated = np.abs(ref["acceleration"].to_numpy()) > 0.02
        if model == "path":
            rows = _shown(fitted, boot.jackknife(job))[keys].to_numpy()
            for other in (None, rows):
                other_lower, _ = boot.bca_ci(draws, estimate, other)
                assert np.all(np.abs(other_lower - lower)[accelerated] > 1e-6)
        checked += accelerated.sum()
    assert checked > 0


def test_cluster_draws_same_on_one_or_two_workers(demo):
    _, fits, _, _ = demo
    fitted = fits["cfa_fiml"]
    job = _bootstrap_job(fitted)
    one = boot.draws(job, 60, 7, workers=1, clusters=fitted.clusters, chunk_size=20)
    two = boot.draws(job, 60, 7, workers=2, clusters=fitted.clusters, chunk_size=20)
    np.testing.assert_array_equal(one, two)
    assert np.isfinite(one).all()
    rows = boot.draws(job, 60, 7, workers=1, chunk_size=20)
    assert not np.allclose(one, rows)
    table_one, summary = bootstrap_estimates(fitted, 100, 7, workers=1)
    table_two, _ = bootstrap_estimates(fitted, 100, 7, workers=2)
    pd.testing.assert_frame_equal(table_one, table_two)
    assert summary.iloc[0][["resampling", "clusters"]].tolist() == ["clusters", 200]


def test_cluster_intervals_are_wider_where_the_clusters_matter(demo):
    """Demo.twolevel's y variables have between-cluster variance; the cluster bootstrap SE of
    their means exceeds the row bootstrap's by about the square root of the design effect."""
    data, fits, _, _ = demo
    fitted = fits["cfa_fiml"]
    clustered, _ = bootstrap_estimates(fitted, 300, 3)
    fitted.clusters, codes = None, fitted.clusters
    try:
        rows, summary = bootstrap_estimates(fitted, 300, 3)
    finally:
        fitted.clusters = codes
    assert summary.iloc[0]["resampling"] == "rows"
    assert pd.isna(summary.iloc[0]["clusters"])
    means = clustered["op"] == "~1"
    means &= clustered["boot_se"].notna()
    ratio = clustered.loc[means, "boot_se"] / rows.loc[means, "boot_se"]
    assert (ratio > 1.3).all()


def test_singleton_clusters_give_the_row_draws():
    """Every row a cluster of its own, in order: the cluster draws are the row draws."""
    job = Weights(57)
    codes = np.arange(57)
    np.testing.assert_array_equal(boot.draws(job, 130, 4, clusters=codes), boot.draws(job, 130, 4))
    np.testing.assert_array_equal(boot.jackknife(job, clusters=codes), boot.jackknife(job))


def test_bad_cluster_codes_get_a_clear_message():
    job = Weights(6)
    with pytest.raises(InputError, match="6 rows"):
        boot.draws(job, 10, 1, clusters=np.array([0, 0, 1, 1]))
    with pytest.raises(InputError, match="at least two clusters"):
        boot.draws(job, 10, 1, clusters=np.zeros(6, dtype=int))
    with pytest.raises(InputError, match="without gaps"):
        boot.jackknife(job, clusters=np.array([0, 0, 2, 2, 3, 3]))
    with pytest.raises(InputError, match="integers"):
        boot.draws(job, 10, 1, clusters=np.array([0.0, 0, 1, 1, 1, 1]))


# --- without clusters, the draws are those of the code before cluster resampling -------------


def row_bootstrap_cases() -> pd.DataFrame:
    """Row-bootstrap intervals and raw draws of every kind of job, long format (case, row,
    column, value), rows and columns named (semopy's parameter order follows Python's string
    hashes). row_bootstrap_regression.csv is this function's output at commit 1d5f399, written
    with float_format "%.17g"."""
    frames = []

    def key(lhs: str, op: str, rhs) -> str:
        rhs = "" if pd.isna(rhs) else rhs
        if op == "~~":  # semopy writes a covariance either way round
            lhs, rhs = sorted((lhs, rhs))
        return f"{lhs} {op} {rhs}"

    def add(case: str, values: pd.DataFrame) -> None:
        values = values.set_axis(values.index.astype(str)).sort_index().sort_index(axis=1)
        long = values.stack(future_stack=True).rename("value").reset_index()
        long.columns = ["row", "column", "value"]
        frames.append(long.assign(case=case)[["case", "row", "column", "value"]])

    mediation = pd.read_csv(R_FIXTURES / "sem_mediation.csv")
    syntax = "m ~ a*x\ny ~ b*m + c*x\nind := a*b\ntotal := c + a*b"
    gappy = mediation.copy()
    gappy.iloc[::15, 1] = np.nan
    hs = pd.read_csv(R_FIXTURES / "holzinger_swineford.csv")
    demo = pd.read_csv(FIXTURES / "demo_twolevel.csv")
    cases = {
        "paths": (fit_model(syntax, mediation), 200),
        "fiml": (fit_model(syntax, gappy), 60),
        "ml": (fit_model("v =~ x1 + x2 + x3\nt =~ x4 + x5 + x6", hs, missing="listwise"), 40),
    }
    numeric = ["est", "se", "boot_se", "boot_ci_lower", "boot_ci_upper", "bca_ci_lower"]
    numeric += ["bca_ci_upper", "mc_ci_lower", "mc_ci_upper"]
    for case, (fitted, n_draws) in cases.items():
        table, _ = bootstrap_estimates(fitted, n_draws, 20211201)
        table.index = [key(*k) for k in zip(table["lhs"], table["op"], table["rhs"], strict=True)]
        add(f"{case}_intervals", table[numeric])
    fitted = fit_model("f =~ y3m + y4m + y5m + y6m", demo)
    observed = list(fitted.model.vars["observed"])
    params = np.asarray(fitted.model.param_vals, dtype=float)
    job = boot.QuasiNewtonJob(
        syntax=fitted.spec.semopy_syntax,
        x=fitted.data[observed].to_numpy(dtype=float),
        observed=observed,
        theta=fitted.theta,
        information=observed_information(
            fitted.model, fitted.data, params, fitted.theta[len(params) :]
        ),
        n_out=len(fitted.theta),
    )
    keys = {
        column: key(lhs, op, rhs)
        for lhs, op, rhs, column in zip(
            fitted.estimates["lhs"],
            fitted.estimates["op"],
            fitted.estimates["rhs"],
            fitted.row_columns,
            strict=True,
        )
        if column is not None
    }
    names = [keys[column] for column in fitted.columns]
    add("fiml-bfgs_draws", pd.DataFrame(boot.draws(job, 20, 5), columns=names))
    add("fiml-bfgs_jackknife", pd.DataFrame(boot.jackknife(job)[:80], columns=names))
    return pd.concat(frames, ignore_index=True)


def test_row_bootstrap_is_unchanged():
    """The same draws give the same numbers: up to the last digits, which semopy's parameter
    order (Python's string hashes, different in each process) moves, hence rtol 1e-7; another
    draw moves them by 1e-3 or more."""
    expected = pd.read_csv(
        FIXTURES / "row_bootstrap_regression.csv",
        dtype={"case": str, "row": str, "column": str},
        keep_default_na=False,
        na_values={"value": [""]},
    )
    ours = row_bootstrap_cases()
    pd.testing.assert_frame_equal(
        ours[["case", "row", "column"]], expected[["case", "row", "column"]]
    )
    np.testing.assert_allclose(ours["value"], expected["value"], rtol=1e-7, atol=1e-10)


def test_summary_columns_end_with_resampling_and_clusters():
    assert BOOTSTRAP_SUMMARY_COLUMNS[-2:] == ["resampling", "clusters"]
    mediation = pd.read_csv(R_FIXTURES / "sem_mediation.csv")
    _, summary = bootstrap_estimates(fit_model("m ~ x\ny ~ m + x", mediation), 0, 1)
    assert list(summary.columns) == BOOTSTRAP_SUMMARY_COLUMNS
    assert summary.iloc[0]["resampling"] == "rows"
