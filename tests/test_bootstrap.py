"""Bootstrap, BCa and Monte Carlo CIs: against lavaan's bootstrap, reproducible on any core count.

Reference: tests/fixtures/r/make_sem_fixtures.R, lavaan sem(..., se = "bootstrap",
bootstrap = 2000) on a simulated mediation (N = 120). Two bootstraps with different random
draws agree only up to Monte Carlo error: with 2,000 draws a 2.5% quantile has a standard
error of about 0.1 bootstrap SDs, so limits are compared with a tolerance of 0.35 SDs.

The definitions themselves are checked on common numbers (make_interval_fixtures.R): BCa
against boot::boot.ci(type = "bca") on the very draws and jackknife values R used, Monte Carlo
CIs against semTools::monteCarloCI from lavaan's estimates and covariance matrix, at a
tolerance set by the Monte Carlo error of the two samples of draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import semopy

from lcsurvey.sem import bootstrap as boot
from lcsurvey.sem.defined import defined_values, parse_definition
from lcsurvey.sem.model import BOOTSTRAP_COLUMNS, INTERVAL_COLUMNS, bootstrap_estimates, fit_model

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"
MEDIATION = """
    m ~ a*x
    y ~ b*m + c*x
    ind := a*b
    total := c + a*b
"""


@pytest.fixture(scope="module")
def mediation():
    data = pd.read_csv(FIXTURES / "sem_mediation.csv")
    return data, fit_model(MEDIATION, data)


def _keyed(frame):
    return frame.set_index([frame["lhs"], frame["op"], frame["rhs"].fillna("")])


def test_percentile_and_bca_within_monte_carlo_error_of_lavaan(mediation):
    _, fitted = mediation
    estimates, summary = bootstrap_estimates(fitted, 2000, 20211201)
    assert list(estimates.columns) == INTERVAL_COLUMNS + BOOTSTRAP_COLUMNS
    assert summary.iloc[0][["draws_requested", "draws_ok", "draws_failed"]].tolist() == [
        2000,
        2000,
        0,
    ]
    ref = _keyed(pd.read_csv(FIXTURES / "sem_mediation_bootstrap.csv"))
    ref = ref[ref["se"] > 0]
    ours = _keyed(estimates).loc[ref.index]
    tolerance = 0.35 * ref["se"].to_numpy()
    np.testing.assert_allclose(ours["boot_se"], ref["se"], rtol=0.1)
    assert np.all(np.abs(ours["boot_ci_lower"] - ref["ci.lower"]) < tolerance)
    assert np.all(np.abs(ours["boot_ci_upper"] - ref["ci.upper"]) < tolerance)
    # lavaan's bca.simple has no acceleration; ours has, which moves limits a little more.
    assert np.all(np.abs(ours["bca_ci_lower"] - ref["bca.ci.lower"]) < 2 * tolerance)
    assert np.all(np.abs(ours["bca_ci_upper"] - ref["bca.ci.upper"]) < 2 * tolerance)
    defined = ours[ours["op"] == ":="]
    assert defined["mc_ci_lower"].notna().all()
    assert np.all(defined["mc_ci_lower"] < defined["est"])
    assert np.all(defined["est"] < defined["mc_ci_upper"])
    # The Monte Carlo limits: semTools::monteCarloCI (10^6 draws) within 4 Monte Carlo SEs of
    # a 2.5% quantile of 2,000 draws (about 0.05 SDs of the defined parameter).
    mc = pd.read_csv(FIXTURES / "interval_mc.csv").set_index("quantity")
    defined = defined.set_index("lhs").loc[mc.index]
    inputs = pd.read_csv(FIXTURES / "interval_mc_inputs.csv").set_index("name")
    many = _mc_values(inputs, 200_000)
    for side, column in ((0, "mc_ci_lower"), (1, "mc_ci_upper")):
        tolerance = 4 * _quantile_mc_se(many, LEVELS[side], 2000, mc["draws"].to_numpy())
        assert np.all(np.abs(defined[column] - mc[f"ci_{('lower', 'upper')[side]}"]) < tolerance)


# --- the interval definitions on common numbers (make_interval_fixtures.R) ------------------

LEVELS = (0.025, 0.975)
QUANTITIES = ["a", "b", "c", "ind", "total"]


@pytest.fixture(scope="module")
def r_draws():
    draws = pd.read_csv(FIXTURES / "interval_boot_draws.csv")[QUANTITIES].to_numpy()
    jack = pd.read_csv(FIXTURES / "interval_jackknife.csv")[QUANTITIES].to_numpy()
    ref = pd.read_csv(FIXTURES / "interval_bca.csv").set_index("quantity").loc[QUANTITIES]
    return draws, jack, ref


def _bracket(draws: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the order statistics between which both conventions put a quantile: boot's
    norm.inter interpolates at rank (R + 1) p, numpy's linear rule at rank (R - 1) p + 1."""
    ordered = np.sort(draws, axis=0)
    n = len(draws)
    low = np.floor(np.minimum((n + 1) * levels, (n - 1) * levels + 1)).astype(int) - 1
    high = np.ceil(np.maximum((n + 1) * levels, (n - 1) * levels + 1)).astype(int) - 1
    columns = np.arange(draws.shape[1])
    return ordered[low, columns], ordered[high, columns]


def _within(limits, bracket) -> np.ndarray:
    return (bracket[0] <= limits) & (limits <= bracket[1])


def test_bca_is_boot_ci_bca_on_the_same_draws(r_draws):
    """BCa as boot::boot.ci(type = "bca") with the jackknife influence values: the same bias
    correction z0 and acceleration a give the same adjusted levels (to rounding), and the
    limits differ only by the quantile convention, so each lies between the order statistics
    around boot.ci's limit (0.005-0.04 bootstrap SDs apart here). The percentile interval,
    BCa without acceleration (lavaan's bca.simple) and the Wald interval fall outside."""
    draws, jack, ref = r_draws
    lower, upper = boot.bca_ci(draws, ref["t0"].to_numpy(), jack)
    for limits, side in ((lower, "lower"), (upper, "upper")):
        level = ref[f"level_{side}"].to_numpy()
        at_r_levels = [np.quantile(draws[:, j], level[j]) for j in range(len(QUANTITIES))]
        np.testing.assert_allclose(limits, at_r_levels, rtol=1e-12, atol=0)
        bracket = _bracket(draws, level)
        assert _within(ref[f"bca_{side}"].to_numpy(), bracket).all()  # boot.ci's own limit
        assert _within(limits, bracket).all(), side

    def passes(other_lower, other_upper) -> bool:
        return bool(
            _within(other_lower, _bracket(draws, ref["level_lower"].to_numpy())).all()
            and _within(other_upper, _bracket(draws, ref["level_upper"].to_numpy())).all()
        )

    assert passes(lower, upper)
    assert not passes(*boot.percentile_ci(draws))
    assert not passes(*boot.bca_ci(draws, ref["t0"].to_numpy(), None))
    half = 1.959963984540054 * draws.std(axis=0, ddof=1)
    assert not passes(ref["t0"].to_numpy() - half, ref["t0"].to_numpy() + half)


def test_percentile_ci_is_boot_ci_perc_on_the_same_draws(r_draws):
    draws, _, ref = r_draws
    lower, upper = boot.percentile_ci(draws)
    assert _within(lower, _bracket(draws, np.full(len(QUANTITIES), LEVELS[0]))).all()
    assert _within(upper, _bracket(draws, np.full(len(QUANTITIES), LEVELS[1]))).all()
    assert _within(
        ref["perc_lower"].to_numpy(), _bracket(draws, np.full(len(QUANTITIES), LEVELS[0]))
    ).all()


def test_jackknife_values_are_leave_one_out_refits(mediation):
    """The jackknife behind the acceleration: our leave-one-out path fits equal R's lm()s."""
    from lcsurvey.sem.model import _bootstrap_job

    _, fitted = mediation
    job = _bootstrap_job(fitted)
    assert isinstance(job, boot.PathJob)
    jack = boot.jackknife(job)
    reference = pd.read_csv(FIXTURES / "interval_jackknife.csv")
    columns = [fitted.columns.index(label) for label in ("a", "b", "c")]
    np.testing.assert_allclose(jack[:, columns], reference[["a", "b", "c"]], rtol=0, atol=1e-12)


def _mc_values(inputs: pd.DataFrame, n_draws: int, seed: int = 1) -> np.ndarray:
    """Monte Carlo draws of ind and total from lavaan's estimates and covariance of a, b, c."""
    draws = boot.monte_carlo(
        inputs["est"].to_numpy(), inputs[["a", "b", "c"]].to_numpy(), n_draws, seed
    )
    definitions = [parse_definition("ind", "a*b"), parse_definition("total", "c + a*b")]
    return defined_values(definitions, ["a", "b", "c"], draws)


def _quantile_mc_se(values: np.ndarray, level: float, *draws: float | np.ndarray) -> np.ndarray:
    """Standard error of the difference of two sample quantiles from independent samples of
    the given sizes: sqrt(p (1 - p) / n) / f(q) each, the density f from many draws."""
    step = 0.005
    below, above = np.quantile(values, [level - step, level + step], axis=0)
    density = 2 * step / (above - below)
    variance = sum(level * (1 - level) / np.asarray(n, dtype=float) for n in draws)
    return np.sqrt(variance) / density


def test_monte_carlo_ci_is_semtools_monte_carlo_ci():
    """Percentiles of N(est, ACM) draws pushed through the := expressions, as
    semTools::monteCarloCI: 200,000 draws here, 10^6 in R, so the limits agree within 4 Monte
    Carlo SEs (about 0.01-0.02 SDs of the defined parameter); the Wald interval does not."""
    inputs = pd.read_csv(FIXTURES / "interval_mc_inputs.csv").set_index("name")
    ref = pd.read_csv(FIXTURES / "interval_mc.csv").set_index("quantity").loc[["ind", "total"]]
    n_draws = 200_000
    values = _mc_values(inputs, n_draws)
    lower, upper = boot.percentile_ci(values)
    tolerance = [
        4 * _quantile_mc_se(values, level, n_draws, ref["draws"].to_numpy()) for level in LEVELS
    ]
    assert np.all(np.abs(lower - ref["ci_lower"]) < tolerance[0])
    assert np.all(np.abs(upper - ref["ci_upper"]) < tolerance[1])
    np.testing.assert_allclose(
        ref["est"],
        [
            inputs.loc["a", "est"] * inputs.loc["b", "est"],
            inputs.loc["c", "est"] + inputs.loc["a", "est"] * inputs.loc["b", "est"],
        ],
        rtol=1e-12,
    )
    est, se = ref["est"].to_numpy(), values.std(axis=0, ddof=1)
    wald = (est - 1.959963984540054 * se, est + 1.959963984540054 * se)
    assert not (
        np.all(np.abs(wald[0] - ref["ci_lower"]) < tolerance[0])
        and np.all(np.abs(wald[1] - ref["ci_upper"]) < tolerance[1])
    )


def test_same_cis_on_one_or_two_workers(mediation):
    data, _ = mediation
    gappy = data.copy()
    gappy.iloc[::15, 1] = np.nan  # missing answers: FIML refits, not least squares
    fitted = fit_model(MEDIATION, gappy)
    one, summary = bootstrap_estimates(fitted, 120, 7, workers=1)
    two, _ = bootstrap_estimates(fitted, 120, 7, workers=2)
    assert summary.iloc[0]["method"] == "fiml"
    pd.testing.assert_frame_equal(one, two)


def test_no_draws_leaves_the_columns_empty(mediation):
    _, fitted = mediation
    estimates, summary = bootstrap_estimates(fitted, 0, 1)
    assert estimates[BOOTSTRAP_COLUMNS].isna().all().all()
    assert summary.iloc[0]["draws_requested"] == 0


def test_above_max_n_no_bootstrap_but_the_same_monte_carlo_cis(mediation, monkeypatch):
    """More rows than max_n: no draw is refitted, the summary says why, the defined
    parameters keep exactly the Monte Carlo CIs the bootstrap run computes; at max_n = n the
    bootstrap runs."""
    data, fitted = mediation
    n = len(fitted.data)
    with_boot, summary = bootstrap_estimates(fitted, 200, 7, max_n=n)
    assert summary.iloc[0]["draws_ok"] > 0
    assert np.isfinite(with_boot["bca_ci_lower"]).any()

    def no_refits(*args, **kwargs):
        raise AssertionError("a bootstrap refit above max_n")

    monkeypatch.setattr(boot, "draws", no_refits)
    monkeypatch.setattr(boot, "jackknife", no_refits)
    skipped, summary = bootstrap_estimates(fitted, 200, 7, max_n=n - 1)
    row = summary.iloc[0]
    assert row["method"] == f"none (monte carlo: n = {n} above {n - 1})"
    assert (row["draws_requested"], row["draws_ok"], row["draws_failed"]) == (0, 0, 0)
    assert skipped[BOOTSTRAP_COLUMNS[:5]].isna().all().all()
    defined = skipped["op"] == ":="
    assert defined.sum() == 2
    mc = ["mc_ci_lower", "mc_ci_upper"]
    assert np.isfinite(skipped.loc[defined, mc].to_numpy()).all()
    assert skipped.loc[~defined, mc].isna().all().all()
    pd.testing.assert_frame_equal(skipped[mc], with_boot[mc])
    assert (skipped.loc[defined, "mc_ci_lower"] < skipped.loc[defined, "est"]).all()


def test_least_squares_draws_equal_full_refits(mediation):
    data, fitted = mediation
    listwise = fit_model(MEDIATION, data, missing="listwise")
    paths = bootstrap_estimates(fitted, 60, 3)[0]
    job = boot.MlJob(
        syntax=listwise.spec.semopy_syntax,
        x=data[list(listwise.model.vars["observed"])].to_numpy(float),
        observed=list(listwise.model.vars["observed"]),
        theta=listwise.theta,
    )
    refits = boot.draws(job, 60, 3)
    estimates_ml = boot.percentile_ci(refits)
    ours = paths.set_index("label").loc[["a", "b", "c"]]
    np.testing.assert_allclose(ours["boot_ci_lower"], estimates_ml[0][:3], atol=1e-5)
    np.testing.assert_allclose(ours["boot_ci_upper"], estimates_ml[1][:3], atol=1e-5)


def test_failed_draws_are_counted_not_dropped():
    class Flaky:
        method = "test"
        x = np.zeros((10, 1))

        def prepare(self):
            pass

        def run(self, weights):
            out = weights[:, :1].copy()
            out[weights[:, 0] > 1] = np.nan  # a draw that repeats row 0 "fails"
            return out

    values = boot.draws(Flaky(), 200, 5)
    assert values.shape == (200, 1)
    assert 0 < np.isnan(values).sum() < 200


def test_percentile_ci_covers_the_indirect_effect_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    truth = 0.4 * 0.3
    covered, repeats = 0, 200
    definitions = [parse_definition("ind", "a*b")]
    for i in range(repeats):
        x = rng.normal(size=100)
        m = 0.4 * x + rng.normal(size=100)
        y = 0.3 * m + 0.1 * x + rng.normal(size=100)
        job = boot.PathJob(
            x=np.column_stack([x, m, y]),
            variables=["x", "m", "y"],
            equations=[(1, [0]), (2, [1, 0])],
            keys=[("m", "~", "x"), ("y", "~", "m")],
        )
        job.prepare()
        values = defined_values(definitions, ["a", "b"], boot.draws(job, 500, i))
        lower, upper = boot.percentile_ci(values)
        covered += bool(lower[0] <= truth <= upper[0])
    assert 0.90 <= covered / repeats <= 0.99


@pytest.fixture(scope="module")
def structural():
    """The configured transfer model (32 indicators, six factors) fitted by FIML to a simulated
    sample of 250 with about 8% of the answers missing completely at random."""
    import yaml

    from lcsurvey.study.simulate import simulate_population

    syntax = yaml.safe_load((ROOT / "config.yaml").read_text())["models"]["transfer"]
    rng = np.random.default_rng(20211201)
    data = simulate_population(250, rng).astype(float)
    items = [c for c in data.columns if c[:2] in ("fa", "ap", "ps", "lb", "pl", "su", "tr")]
    values = data[items].to_numpy()
    values[rng.random(values.shape) < 0.08] = np.nan
    data[items] = values
    return fit_model(syntax, data, name="transfer")


def test_structural_draws_are_converged_full_refits(structural):
    """Each draw of a large FIML model is iterated to its optimum: the same estimates as a full
    FIML fit of the resampled rows (max abs difference below 1e-5; at most 6e-7 seen)."""
    from lcsurvey.sem.fiml import fit_fiml
    from lcsurvey.sem.model import _bootstrap_job

    job = _bootstrap_job(structural)
    assert isinstance(job, boot.QuasiNewtonJob)
    job.prepare()
    rng = np.random.default_rng(3)
    n = len(job.x)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=3).astype(float)
    values = job.run(weights)
    assert np.isfinite(values).all()
    # At a returned draw the next Newton-type step is below tol standard errors.
    _, grad = job._evaluate(values, weights[:, job._order])
    step = grad @ job._v / n
    assert (np.abs(step) / job._se).max() < job.tol
    observed = list(structural.model.vars["observed"])
    for w, draw in zip(weights, values, strict=True):
        rows = np.repeat(np.arange(n), w.astype(int))
        refit = fit_fiml(
            semopy.Model(structural.spec.semopy_syntax), pd.DataFrame(job.x[rows], columns=observed)
        )
        assert refit.converged
        full = np.concatenate([refit.params, refit.means])
        assert np.abs(full - draw).max() < 1e-5
        assert np.abs(full - structural.theta).max() > 1e-2  # the draws did move


def test_structural_draws_same_on_one_or_two_workers(structural):
    from lcsurvey.sem.model import _bootstrap_job

    job = _bootstrap_job(structural)
    one = boot.draws(job, 60, 7, workers=1)
    two = boot.draws(job, 60, 7, workers=2)
    np.testing.assert_array_equal(one, two)
    assert np.isfinite(one).all()


def test_sweep_inverse_matches_numpy_and_flags_matrices_that_are_not_positive_definite():
    rng = np.random.default_rng(3)
    for r in (1, 2, 3, 6):
        roots = rng.standard_normal((4, 5, r, r))
        spd = roots @ np.swapaxes(roots, -1, -2) + 0.1 * np.eye(r)
        inverse, logdet, bad = boot._sweep_inverse(spd)
        np.testing.assert_allclose(inverse, np.linalg.inv(spd), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(logdet, np.linalg.slogdet(spd)[1], rtol=1e-12)
        assert not bad.any()
    indefinite = np.array([[[[1.0, 2.0], [2.0, 1.0]]]])  # eigenvalues 3 and -1
    assert boot._sweep_inverse(indefinite)[2].all()


def test_two_loop_step_equals_the_dense_bfgs_inverse_hessian():
    rng = np.random.default_rng(4)
    k, n_pairs = 6, 4
    root = rng.standard_normal((k, k))
    v = root @ root.T + k * np.eye(k)
    hessian = np.diag(rng.uniform(1, 3, k))
    s_all = rng.standard_normal((n_pairs, k))
    y_all = s_all @ hessian  # curvature pairs of a quadratic
    dense = v / 2.0
    for s, y in zip(s_all, y_all, strict=True):
        rho = 1 / (s @ y)
        left = np.eye(k) - rho * np.outer(s, y)
        dense = left @ dense @ left.T + rho * np.outer(s, s)
    grad = rng.standard_normal((1, k))
    slots = 7  # unused slots are no-ops
    pairs_s = np.zeros((1, slots, k))
    pairs_y = np.zeros((1, slots, k))
    rho = np.zeros((1, slots))
    pairs_s[0, :n_pairs], pairs_y[0, :n_pairs] = s_all, y_all
    rho[0, :n_pairs] = 1 / np.einsum("ik,ik->i", s_all, y_all)
    step = boot._two_loop(grad, v, np.array([2.0]), pairs_s, pairs_y, rho, slots)
    np.testing.assert_allclose(step[0], dense @ grad[0], rtol=1e-10)


def test_intervals_of_an_observed_outcome_are_for_its_intercept():
    """The ~1 row of an observed outcome shows its intercept (lavaan's), and so do its
    bootstrap and Monte Carlo draws: the intervals surround the intercept, not the mean."""
    data = pd.read_csv(FIXTURES / "fiml_political_democracy.csv")
    fitted = fit_model("ind60 =~ x1 + x2 + x3\ny1 ~ a*ind60\ny5 ~ b*y1 + c*ind60", data)
    estimates, summary = bootstrap_estimates(fitted, 300, 11)
    assert summary.iloc[0]["draws_failed"] == 0
    row = _keyed(estimates).loc[("y5", "~1", "")]
    mean = fitted.fiml.means[list(fitted.model.vars["observed"]).index("y5")]
    assert abs(row["est"] - 1.934) < 1e-3  # lavaan's intercept; the mean is 5.19
    assert abs(mean - 5.190) < 1e-3
    for lower, upper in [
        ("boot_ci_lower", "boot_ci_upper"),
        ("bca_ci_lower", "bca_ci_upper"),
        ("ci_lower", "ci_upper"),
    ]:
        assert row[lower] < row["est"] < row[upper] < mean
    assert row["boot_se"] == pytest.approx(row["se"], rel=0.25)


def test_fiml_draws_stopped_by_precision_loss_are_at_the_maximum():
    """scipy's BFGS may stop a hair from the maximum ("precision loss"); such draws count
    when the Newton step left is tiny, and they equal exact Newton refits."""
    from lcsurvey.sem.fiml import newton_ascent
    from lcsurvey.sem.model import _bootstrap_job

    data = pd.read_csv(FIXTURES / "fiml_political_democracy.csv")
    fitted = fit_model("ind60 =~ x1 + x2 + x3\ny1 ~ a*ind60\ny5 ~ b*y1 + c*ind60", data)
    job = _bootstrap_job(fitted)
    assert isinstance(job, boot.FimlJob)
    job.prepare()
    rng = np.random.default_rng(11)
    n = len(job.x)
    se = np.sqrt(np.diag(job.vcov))
    rescued = 0
    for _ in range(40):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        z = job.refit(w)
        assert z is not None
        job.step_tol = 0.0  # scipy's own verdict only
        rescued += job.refit(w) is None
        job.step_tol = boot.FimlJob.step_tol
        structure, patterns, q = job._structure, job._patterns(w), job._structure.q
        value, pieces = patterns.loglik(structure.sigma(z[:q]), z[q:], parts=True)
        theta, mu, *_ = newton_ascent(
            structure, patterns, z[:q].copy(), z[q:].copy(), value, pieces, tol=1e-14, max_iter=50
        )
        assert np.max(np.abs(np.concatenate([theta, mu]) - z) / se) < 1e-5
    assert rescued > 0
