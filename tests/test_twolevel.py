"""Two-level SEM (lcsurvey.sem.twolevel, lcsurvey.sem.twolevel_syntax) against lavaan 0.6.14.

The fixtures in tests/fixtures/twolevel come from make_twolevel_fixtures.R (lavaan's
Demo.twolevel, 2,500 rows in 200 clusters): the lavaan tutorial's model, the same with loadings
equal across levels, a 2-1-1 mediation with := lines, a model with a residual covariance and
a fixed variance, and the tutorial's model with 200 values of y1 missing. lavaan's h1 (its EM) stops slightly
short of the maximum, so chisq and SRMR differ from ours by about 1e-4; all else by 1e-5.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lcsurvey.errors import InputError
from lcsurvey.sem import twolevel as tl
from lcsurvey.sem.estimability import NotEstimated
from lcsurvey.sem.twolevel_syntax import is_twolevel, parse_twolevel

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "twolevel"
MODELS = {
    "tutorial": """
        level: 1
          fw =~ y1 + y2 + y3
          fw ~ x1 + x2 + x3
        level: 2
          fb =~ y1 + y2 + y3
          fb ~ w1 + w2""",
    "equal_loadings": """
        level: within
          fw =~ y1 + l2*y2 + l3*y3
          fw ~ x1 + x2 + x3
        level: between
          fb =~ y1 + l2*y2 + l3*y3
          fb ~ w1 + w2""",
    "mediation": """
        level: 1
          y2 ~ bw*y1 + x1
        level: 2
          y1 ~ a*w1
          y2 ~ b*y1 + c*w1
        ind := a*b
        total := c + a*b
        contextual := b - bw""",
    "covariances": """
        level: 1
          fw =~ y1 + y2 + y3 + x1
          y1 ~~ x1
        level: 2
          fb =~ y1 + y2 + y3
          y1 ~~ 0.05*y1
          fb ~ w1""",
}
FIT_NAMES = {
    "npar": "npar", "chisq": "chisq", "df": "df", "baseline_chisq": "baseline.chisq",
    "baseline_df": "baseline.df", "cfi": "cfi", "tli": "tli", "rmsea": "rmsea",
    "rmsea_ci_upper": "rmsea.ci.upper", "srmr": "srmr", "srmr_within": "srmr_within",
    "srmr_between": "srmr_between", "aic": "aic", "bic": "bic", "logl": "logl",
}  # fmt: skip


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "data.csv")


@pytest.fixture(scope="module")
def fits(data) -> dict:
    return {name: tl.fit_twolevel(syntax, data, "cluster", name=name)
            for name, syntax in MODELS.items()}  # fmt: skip


def _reference(case: str) -> pd.DataFrame:
    ref = pd.read_csv(FIXTURES / "estimates.csv", keep_default_na=False)
    ref = ref[ref["case"] == case].copy()
    ref["level"] = ref["level"].replace({"within": "1", "between": "2", "": "0"}).astype(int)
    ref["est"] = ref["est"].astype(float)
    ref["se"] = ref["se"].astype(float)
    ref["std.all"] = pd.to_numeric(ref["std.all"])
    return ref


@pytest.mark.parametrize("model", list(MODELS))
def test_estimates_and_standard_errors_match_lavaan(fits, model):
    ref = _reference(f"{model}_complete")
    ours = fits[model].estimates
    merged = ref.merge(ours, on=["level", "lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ref) == len(ours)
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=1e-3)
    np.testing.assert_allclose(merged["se"], merged["se_lavaan"], atol=1e-4)
    np.testing.assert_allclose(merged["std_all"], merged["std.all"], atol=1e-3)


@pytest.mark.parametrize("model", list(MODELS))
def test_fit_measures_match_lavaan(fits, model):
    ref = pd.read_csv(FIXTURES / "fit.csv")
    ref = ref[ref["case"] == f"{model}_complete"].set_index("measure")["value"]
    row = fits[model].fit.iloc[0]
    for ours, theirs in FIT_NAMES.items():
        expected = ref[theirs]
        assert row[ours] == pytest.approx(expected, abs=1e-3), ours


def test_tutorial_chisq_is_8_092_on_10_df(fits):
    fit = fits["tutorial"].fit.iloc[0]
    assert fit["chisq"] == pytest.approx(8.092, abs=1e-3)
    assert fit["df"] == 10
    assert fit["nclusters"] == 200


def test_a_label_shared_across_levels_is_one_parameter(fits):
    est = fits["equal_loadings"].estimates.set_index(["level", "lhs", "op", "rhs"])["est"]
    assert est[(1, "fw", "=~", "y2")] == est[(2, "fb", "=~", "y2")]
    assert len(fits["equal_loadings"].model.names) == len(fits["tutorial"].model.names) - 2


def test_defined_parameters_use_labels_of_both_levels(fits):
    est = fits["mediation"].estimates.set_index("label")["est"]
    assert est["contextual"] == pytest.approx(est["b"] - est["bw"])
    assert est["ind"] == pytest.approx(est["a"] * est["b"])


def test_the_gradient_is_the_derivative_of_the_likelihood(fits, data):
    fit = fits["tutorial"]
    stats = tl.cluster_stats(data, fit.spec, "cluster")
    theta = fit.theta + 0.05
    grad = fit.model.gradient(theta, stats)
    for k in range(len(theta)):
        step = np.zeros_like(theta)
        step[k] = 1e-6
        numeric = (
            fit.model.value(theta + step, stats) - fit.model.value(theta - step, stats)
        ) / 2e-6
        assert grad[k] == pytest.approx(numeric, rel=1e-5, abs=1e-4)


def test_syntax_names_within_between_and_cluster_level_variables():
    spec = parse_twolevel(MODELS["tutorial"])
    assert is_twolevel(MODELS["tutorial"]) and not is_twolevel("f =~ a + b + c")
    assert spec.within_only == ["x1", "x2", "x3"]
    assert spec.between_only == ["w1", "w2"]
    assert spec.both == ["y1", "y2", "y3"]


@pytest.mark.parametrize(
    ("syntax", "message"),
    [
        ("f =~ a + b\nlevel: 1\n a ~ b\nlevel: 2\n a ~ c", "before its first 'level:'"),
        ("level: 1\n a ~ b\nlevel: 1\n a ~ c", "twice"),
        ("level: 1\n a ~ b", "no statements under 'level: 2'"),
        ("level: 3\n a ~ b", "unknown level"),
        ("level: 1\n a ~ x*b\nlevel: 2\n a ~ c\nind := x*y", "does not label"),
    ],
)
def test_bad_two_level_syntax_says_what_to_change(syntax, message):
    with pytest.raises(InputError, match=message):
        parse_twolevel(syntax, name="m")


def test_a_level_2_variable_that_varies_within_a_cluster_is_named(data):
    bad = data.copy()
    bad.loc[5, "w1"] += 1.0
    with pytest.raises(NotEstimated) as err:
        tl.fit_twolevel(MODELS["tutorial"], bad, "cluster", name="m")
    assert err.value.reason == "cluster_level_varies"
    cluster = data.loc[5, "cluster"]
    assert (
        f"'w1' is named only at level 2 (model line 'fb ~ w1 + w2'), so it is a cluster-level "
        f"variable, but it varies within cluster {cluster!r} of 'cluster' (row 5: "
        in err.value.detail
    )
    assert "or name 'w1' in the level-1 block too" in err.value.detail


def test_clusters_of_one_row_only_are_not_estimated(data):
    single = data.copy()
    single["cluster"] = np.arange(len(single))
    with pytest.raises(NotEstimated, match="one complete row at most") as err:
        tl.fit_twolevel(MODELS["mediation"], single, "cluster", name="m")
    assert err.value.reason == "clusters_of_one"


def test_as_many_between_parameters_as_clusters_are_not_estimated(data):
    # the tutorial's between level: 2 loadings, 2 paths, 4 variances, 3 intercepts = 11; the
    # moments of w1 and w2 are fixed (fixed.x) and do not count
    spec = parse_twolevel(MODELS["tutorial"])
    assert len(tl.level2_parameters(tl.build_model(spec))) == 11
    for clusters in (3, 11):
        few = data[data["cluster"] <= clusters]
        with pytest.raises(NotEstimated) as err:
            tl.fit_twolevel(MODELS["tutorial"], few, "cluster", name="m")
        assert err.value.reason == "too_few_clusters"
        assert (
            f"11 free parameters at level 2 (intercepts included: fb =~ y2, fb =~ y3, "
            f"fb ~ w1, fb ~ w2, y1 ~~ y1, y2 ~~ y2, y3 ~~ y3, fb ~~ fb, y1 ~1, y2 ~1, y3 ~1) "
            f"and {clusters} clusters; fewer level-2 paths or variables (level-2 lines: "
            "'fb =~ y1 + y2 + y3'; 'fb ~ w1 + w2')" in err.value.detail
        )
    with pytest.warns(UserWarning, match="negative variance"):  # 12 clusters: a Heywood case
        fitted = tl.fit_twolevel(MODELS["tutorial"], data[data["cluster"] <= 12], "cluster")
    assert fitted.fit.iloc[0]["nclusters"] == 12


def test_a_missing_cluster_column_is_named(data):
    with pytest.raises(InputError, match="which the data do not have"):
        tl.fit_twolevel(MODELS["tutorial"], data, "community", name="m")


@pytest.fixture(scope="module")
def missing_fit() -> tl.TwoLevelFit:
    holes = pd.read_csv(FIXTURES / "data_missing.csv")
    return tl.fit_twolevel(MODELS["tutorial"], holes, "cluster", name="m", missing="ml")


def test_missing_values_ml_estimates_match_lavaan(missing_fit):
    ref = _reference("tutorial_missing")
    ours = missing_fit.estimates
    merged = ref.merge(ours, on=["level", "lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ref) == len(ours)
    # the moments of exogenous covariates are fixed at the h1 estimates; lavaan's EM h1 is
    # short of the maximum by up to 2e-3 there (w1 ~~ w1: lavaan 0.87172, the ML estimate
    # is the sample variance over clusters, 0.87002), so those get a looser tolerance
    fixed = merged["se_lavaan"] == 0
    np.testing.assert_allclose(merged["est"][~fixed], merged["est_lavaan"][~fixed], atol=1e-4)
    np.testing.assert_allclose(merged["est"][fixed], merged["est_lavaan"][fixed], atol=5e-3)
    np.testing.assert_allclose(merged["se"], merged["se_lavaan"], atol=1e-4)
    std, std_lavaan = merged["std_all"], merged["std.all"]
    np.testing.assert_allclose(std[~fixed], std_lavaan[~fixed], atol=1e-3)
    np.testing.assert_allclose(std[fixed], std_lavaan[fixed], atol=5e-3)


def test_missing_values_ml_fit_measures_match_lavaan(missing_fit):
    # lavaan's EM stops its h1 about 2e-3 below the maximum of the log-likelihood (ours is
    # higher by that much), so chisq and the between SRMR differ by a few thousandths
    ref = pd.read_csv(FIXTURES / "fit.csv")
    ref = ref[ref["case"] == "tutorial_missing"].set_index("measure")["value"]
    row = missing_fit.fit.iloc[0]
    loose = {"chisq": 5e-3, "srmr": 5e-4, "srmr_between": 5e-4, "baseline_chisq": 5e-3}
    for ours, theirs in FIT_NAMES.items():
        assert row[ours] == pytest.approx(ref[theirs], abs=loose.get(ours, 1e-3)), ours
    assert row["unrestricted_logl"] >= ref["unrestricted.logl"]


def test_missing_values_ml_equals_complete_data_ml_when_nothing_is_missing(data):
    spec = parse_twolevel(MODELS["tutorial"])
    stats = tl.cluster_stats(data, spec, "cluster")
    rows = tl.missing_cluster_data(data, spec, "cluster")
    rng = np.random.default_rng(3)
    sigma_w = np.cov(rng.normal(size=(50, 6)).T) + np.eye(6)
    sigma_b = np.zeros((8, 8))
    sigma_b[:5, :5] = np.cov(rng.normal(size=(50, 5)).T) + 0.1 * np.eye(5)
    mu = rng.normal(size=8)
    complete = tl.loglik(stats, sigma_w, sigma_b, mu, gradient=True)
    missing = tl.loglik_missing(rows, sigma_w, sigma_b, mu, gradient=True)
    assert missing[0] == pytest.approx(complete[0], rel=1e-12)
    for a, b in zip(complete[1:], missing[1:], strict=True):
        np.testing.assert_allclose(a + a.T, b + b.T, rtol=1e-8, atol=1e-8)


def test_rows_with_missing_values_are_left_out_with_a_warning(data):
    holes = pd.read_csv(FIXTURES / "data_missing.csv")
    with pytest.warns(UserWarning, match="200 of 2500 rows"):
        fit = tl.fit_twolevel(MODELS["mediation"], holes, "cluster", name="m")
    assert fit.fit.iloc[0]["ntotal"] == 2300


def test_negative_variances_are_named_with_a_warning(data):
    # y1's between-level residual variance is near zero (0.058 with se 0.047); a copy of the
    # data where y1's cluster means are pulled together by 90% makes it negative
    squeezed = data.copy()
    means = squeezed.groupby("cluster")["y1"].transform("mean")
    squeezed["y1"] = squeezed["y1"] - 0.9 * (means - means.mean())
    with pytest.warns(UserWarning, match="negative variance estimates: level 2: y1 ~~ y1"):
        fit = tl.fit_twolevel(MODELS["tutorial"], squeezed, "cluster", name="m")
    assert fit.heywood and fit.heywood[0].startswith("level 2: y1 ~~ y1 = -")


def test_the_fit_table_says_how_missing_values_were_handled(fits, missing_fit):
    assert list(fits["tutorial"].fit.columns) == tl.FIT_COLUMNS
    assert fits["tutorial"].fit.iloc[0]["missing"] == "listwise"
    assert missing_fit.fit.iloc[0]["missing"] == "ml"


def test_without_an_unrestricted_model_the_fit_measures_are_missing_not_perfect(data):
    # three clusters and three between-level variables: the cluster means leave the
    # unrestricted between covariance matrix singular (its likelihood unbounded); the model
    # itself has one free level-2 parameter and can be fitted
    syntax = """
        level: 1
          fw =~ y1 + y2 + y3
        level: 2
          fb =~ 1*y1 + 1*y2 + 1*y3
          y1 ~~ 0.05*y1
          y2 ~~ 0.05*y2
          y3 ~~ 0.05*y3
          y1 ~ 0*1
          y2 ~ 0*1
          y3 ~ 0*1"""
    with pytest.warns(UserWarning, match="fit measures that compare with the unrestricted"):
        fitted = tl.fit_twolevel(syntax, data[data["cluster"] <= 3], "cluster", name="m")
    row = fitted.fit.iloc[0]
    assert row["fit_note"] == fitted.fit_note
    assert fitted.fit_note == (
        "the unrestricted two-level model cannot be estimated: 3 between-level variables and "
        "3 clusters (more clusters than variables are needed)"
    )
    for measure in ("chisq", "pvalue", "baseline_chisq", "cfi", "tli", "rmsea",
                    "rmsea_ci_upper", "srmr", "srmr_between", "unrestricted_logl"):  # fmt: skip
        assert np.isnan(row[measure]), measure
    assert np.isfinite(row["logl"]) and np.isfinite(row["aic"]) and row["df"] > 0


def test_an_unrestricted_model_that_did_not_converge_leaves_the_fit_measures_missing(
    data, monkeypatch
):
    fit_h1 = tl.fit_unrestricted

    def not_converged(stats, spec):
        return dataclasses.replace(fit_h1(stats, spec), converged=False)

    monkeypatch.setattr(tl, "fit_unrestricted", not_converged)
    with pytest.warns(UserWarning, match="the unrestricted two-level model did not converge"):
        fitted = tl.fit_twolevel(MODELS["tutorial"], data, "cluster", name="m")
    row = fitted.fit.iloc[0]
    assert row["fit_note"] == "the unrestricted two-level model did not converge"
    assert np.isnan(row["chisq"]) and np.isnan(row["cfi"]) and np.isnan(row["rmsea"])
    assert row["converged"]  # the model itself did


def test_an_unrestricted_model_below_the_model_is_no_reference():
    h1 = tl.Moments(*(np.zeros(1),) * 4, logl=-1693.31)
    assert tl.unrestricted_problem(h1, -1692.49, 5, 24) == (
        "the unrestricted two-level model's maximum was not found (its log-likelihood "
        "-1693.3100 is below the model's -1692.4900)"
    )
    assert tl.unrestricted_problem(h1, -1693.31 - 1e-9, 5, 24) == ""
    assert "cannot be estimated: 5 between-level variables and 5 clusters" in (
        tl.unrestricted_problem(h1, -1700.0, 5, 5)
    )
    assert "no finite likelihood" in tl.unrestricted_problem(
        dataclasses.replace(h1, logl=-np.inf), -1700.0, 5, 24
    )


@pytest.mark.parametrize(
    ("hessian", "words"),
    [
        ([[-2.0, np.nan], [np.nan, -1.0]], "the likelihood is not finite next to the estimates"),
        ([[-1.0, -1.0], [-1.0, -1.0]], "the information matrix is singular"),
        ([[-1.0, 0.0], [0.0, 2.0]], "not positive definite (negative sampling variances of b)"),
    ],
)
def test_standard_errors_that_cannot_be_computed_are_missing_with_the_reason(hessian, words):
    vcov, note = tl._vcov(np.array(hessian), ["a", "b"])
    assert np.isnan(vcov).all()
    assert note.startswith("standard errors not available: ") and words in note
    vcov, note = tl._vcov(np.array([[-4.0, 0.0], [0.0, -1.0]]), ["a", "b"])
    assert note == "" and np.allclose(vcov, [[0.25, 0.0], [0.0, 1.0]])


def test_an_unstable_fit_is_not_bootstrapped(fits):
    from lcsurvey.sem.twolevel_tables import bootstrap_plan

    fitted = fits["mediation"]
    assert bootstrap_plan(fitted, 100, None) == ""
    assert bootstrap_plan(fitted, 0, None) == "none"
    assert bootstrap_plan(fitted, 100, 2000) == "none (n = 2500 above 2000)"
    assert bootstrap_plan(dataclasses.replace(fitted, converged=False), 100, None) == (
        "none (the two-level fit did not converge)"
    )
    no_se = dataclasses.replace(fitted, se_note="standard errors not available: ...")
    assert bootstrap_plan(no_se, 100, None) == "none (the two-level fit has no standard errors)"
    heywood = dataclasses.replace(fitted, heywood=("level 2: y1 ~~ y1 = -0.1",))
    assert bootstrap_plan(heywood, 100, None) == ""
