"""Full-information ML against lavaan's missing = "ml" on HolzingerSwineford and PoliticalDemocracy.

Reference numbers: tests/fixtures/r/make_fiml_fixtures.R (R lavaan 0.6.14; the data with
missing cells are written by that script). One tolerance per quantity, about ten times the
largest difference from lavaan seen over both models (listed beside each).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import semopy

from lcsurvey.sem.fiml import fiml_fit_measures, fiml_gradient, fit_fiml
from lcsurvey.sem.missing import Patterns
from lcsurvey.sem.standardize import standardized_all
from lcsurvey.sem.structure import parameter_names

from .conftest import ROOT
from .test_sem import MODELS

FIXTURES = ROOT / "tests" / "fixtures" / "r"
# Absolute tolerances; largest difference from lavaan seen (lavaan 0.6-14 fixtures) after #.
EST_TOL = 5e-4  # estimates: 4.7e-5 (political_democracy); 7.3e-6 with complete data
SE_TOL = 1e-4  # standard errors: 9.1e-6
STD_TOL = 1e-4  # std.all: 1.1e-5
H1_MEAN_TOL = 1.2e-5  # EM means of the unrestricted model: 1.2e-6
H1_COV_TOL = 1.2e-4  # EM covariances of the unrestricted model: 1.2e-5
FIT_TOL = {  # fit measures and log-likelihoods
    "npar": 0.0,
    "ntotal": 0.0,
    "df": 0.0,
    "baseline_df": 0.0,  # counts: exact
    "chisq": 2e-7,  # 2.1e-8
    "baseline_chisq": 1.5e-7,  # 1.2e-8
    "logl": 1e-7,  # 5.4e-9 (log-likelihoods are about -3500)
    "unrestricted_logl": 1e-7,  # 1.1e-8
    "pvalue": 5e-9,  # 4.0e-10
    "cfi": 3e-10,  # 2.8e-11
    "tli": 5e-10,  # 4.2e-11
    "rmsea": 6e-10,  # 6.1e-11
    "rmsea_ci_lower": 4e-8,  # 3.9e-9
    "rmsea_ci_upper": 4e-10,  # 3.3e-11
    "srmr": 3e-6,  # 3.2e-7
    "aic": 1e-7,  # 1.1e-8
    "bic": 1e-7,  # 1.1e-8
}
FIT_NAMES = [
    "npar",
    "ntotal",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci_lower",
    "rmsea_ci_upper",
    "srmr",
    "aic",
    "bic",
    "logl",
    "unrestricted_logl",
    "baseline_chisq",
    "baseline_df",
]


def table(result, model) -> pd.DataFrame:
    """Our estimates and standard errors as lavaan's (lhs, op, rhs) rows, intercepts included."""
    se = np.sqrt(np.diag(result.vcov))
    rows = [
        (lhs, op, rhs, est, s)
        for (lhs, op, rhs), est, s in zip(parameter_names(model), result.params, se, strict=False)
    ]
    rows += [
        (var, "~1", "", est, s)
        for var, est, s in zip(
            model.vars["observed"], result.means, se[len(result.params) :], strict=True
        )
    ]
    return pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est", "se"])


def key(frame: pd.DataFrame) -> list[str]:
    return [
        " ".join(sorted((lhs, rhs)) if op == "~~" else (lhs, rhs)) + f" {op}"
        for lhs, op, rhs in zip(frame["lhs"], frame["op"], frame["rhs"].fillna(""), strict=True)
    ]


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request):
    name = request.param
    data = pd.read_csv(FIXTURES / f"fiml_{name}.csv")
    model = semopy.Model(MODELS[name])
    result = fit_fiml(model, data)
    ref_est = pd.read_csv(FIXTURES / f"fiml_{name}_estimates.csv")
    ref_fit = pd.read_csv(FIXTURES / f"fiml_{name}_fit.csv").set_index("measure")["value"]
    ref_h1 = pd.read_csv(FIXTURES / f"fiml_{name}_h1.csv").set_index("variable")
    return model, data, result, ref_est, ref_fit, ref_h1


def test_converges(fitted):
    _, data, result, *_ = fitted
    assert result.converged
    assert result.n == len(data)


def test_estimates_and_standard_errors_match_lavaan(fitted):
    model, _, result, ref, _, _ = fitted
    ours = table(result, model)
    ours.index = key(ours)
    ref = ref[ref["se"] > 0]  # free parameters (fixed loadings and latent means have se 0)
    ref.index = key(ref)
    assert set(ours.index) == set(ref.index)
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["est"], ref["est"], atol=EST_TOL)
    np.testing.assert_allclose(ours["se"], ref["se"], atol=SE_TOL)


def test_standardized_estimates_from_the_updated_model(fitted):
    model, _, result, ref, _, _ = fitted
    ours = table(result, model)
    ours = ours[ours["op"] != "~1"].reset_index(drop=True)
    std = standardized_all(ours, model)
    ref.index = key(ref)
    np.testing.assert_allclose(std.to_numpy(), ref.loc[key(ours), "std.all"], atol=STD_TOL)


def test_loglikelihoods_and_chisq_match_lavaan(fitted):
    _, _, result, _, ref, _ = fitted
    assert result.loglik == pytest.approx(ref["logl"], abs=FIT_TOL["logl"])
    assert result.loglik_h1 == pytest.approx(
        ref["unrestricted.logl"], abs=FIT_TOL["unrestricted_logl"]
    )
    assert 2 * (result.loglik_h1 - result.loglik) == pytest.approx(
        ref["chisq"], abs=FIT_TOL["chisq"]
    )
    assert result.npar == ref["npar"]


def test_fit_measures_match_lavaan(fitted):
    model, _, result, _, ref, _ = fitted
    fit = fiml_fit_measures(result, model)
    assert set(fit) == set(FIT_NAMES)
    for name in FIT_NAMES:
        theirs = ref[name.replace("_", ".")]
        assert fit[name] == pytest.approx(theirs, abs=FIT_TOL[name]), name


def test_em_moments_match_lavaan(fitted):
    model, _, result, _, _, ref = fitted
    observed = list(model.vars["observed"])
    np.testing.assert_allclose(result.h1_means, ref.loc[observed, "mean"], atol=H1_MEAN_TOL)
    np.testing.assert_allclose(result.h1_cov, ref.loc[observed, observed], atol=H1_COV_TOL)


def test_gradient_matches_finite_differences(fitted):
    model, data, result, *_ = fitted
    rng = np.random.default_rng(7)
    params = result.params * (1 + 0.05 * rng.standard_normal(len(result.params)))
    means = result.means + 0.05 * rng.standard_normal(len(result.means))
    value, grad = fiml_gradient(model, data, params, means)
    point = np.concatenate([params, means])
    q = len(params)
    numeric = np.empty_like(point)
    for i in range(len(point)):
        h = 1e-5 * max(1.0, abs(point[i]))
        up, down = point.copy(), point.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (
            fiml_gradient(model, data, up[:q], up[q:])[0]
            - fiml_gradient(model, data, down[:q], down[q:])[0]
        ) / (2 * h)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-4)
    # At the optimum the gradient vanishes.
    _, at_optimum = fiml_gradient(model, data, result.params, result.means)
    assert np.abs(at_optimum).max() < 1e-4


def test_hessian_gives_lavaan_standard_errors_with_free_means(fitted):
    """The inverse observed information over (parameters, means): its diagonal gives lavaan's
    standard errors, those of the p intercepts (free means) included."""
    model, _, result, ref, _, _ = fitted
    assert result.vcov.shape == (result.npar, result.npar)
    np.testing.assert_allclose(result.vcov, result.vcov.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(result.vcov) > 0)
    observed = list(model.vars["observed"])
    names = [
        " ".join(sorted((lhs, rhs)) if op == "~~" else (lhs, rhs)) + f" {op}"
        for lhs, op, rhs in parameter_names(model)
    ][: len(result.params)]
    names += [f"{var}  ~1" for var in observed]
    se = pd.Series(np.sqrt(np.diag(result.vcov)), index=names)
    ref = ref[ref["se"] > 0]
    ref = pd.Series(ref["se"].to_numpy(), index=key(ref))
    assert len(se) == result.npar == len(ref)
    np.testing.assert_allclose(se.loc[ref.index], ref, atol=SE_TOL)
    means = ref.index[ref.index.str.endswith("~1")]
    assert len(means) == len(observed)
    np.testing.assert_allclose(se.loc[means], ref.loc[means], atol=SE_TOL)


@pytest.mark.parametrize("name", list(MODELS))
def test_complete_data_gives_the_ml_fit(name):
    data = pd.read_csv(FIXTURES / f"{name}.csv")
    model = semopy.Model(MODELS[name])
    result = fit_fiml(model, data)
    ref_est = pd.read_csv(FIXTURES / f"{name}_estimates.csv")
    ref_fit = pd.read_csv(FIXTURES / f"{name}_fit.csv").set_index("measure")["value"]
    ours = table(result, model)
    ours = ours[ours["op"] != "~1"]
    ours.index = key(ours)
    ref = ref_est[ref_est["se"] > 0]
    ref.index = key(ref)
    np.testing.assert_allclose(ours.loc[ref.index, "est"], ref["est"], atol=EST_TOL)
    observed = list(model.vars["observed"])
    np.testing.assert_allclose(result.means, data[observed].mean(), atol=1e-9)
    fit = fiml_fit_measures(result, model)
    for measure in ["chisq", "cfi", "tli", "rmsea", "logl"]:
        assert fit[measure] == pytest.approx(ref_fit[measure], abs=FIT_TOL[measure]), measure
    assert fit["npar"] == ref_fit["npar"] + len(observed)  # plus the p means


def test_rows_without_answers_are_dropped_and_patterns_add_up():
    data = pd.read_csv(FIXTURES / "fiml_holzinger_swineford.csv")
    padded = pd.concat(
        [data, pd.DataFrame([[np.nan] * data.shape[1]], columns=data.columns)], ignore_index=True
    )
    x = padded.to_numpy(float)
    patterns = Patterns(x)
    assert patterns.n_rows == len(data)
    assert patterns.n.sum() == len(data)
    np.testing.assert_allclose(patterns.sums.sum(axis=0), np.nansum(x, axis=0))
    model = semopy.Model(MODELS["holzinger_swineford"])
    assert fit_fiml(model, padded).n == len(data)


def test_a_variable_without_answers_is_an_error():
    data = pd.read_csv(FIXTURES / "fiml_holzinger_swineford.csv")
    data["x9"] = np.nan
    with pytest.raises(ValueError, match="at least two observed values"):
        fit_fiml(semopy.Model(MODELS["holzinger_swineford"]), data)


def test_six_factor_survey_with_scattered_gaps_converges():
    rng = np.random.default_rng(2)
    factors, items, rows = 6, 5, 300
    eta = rng.multivariate_normal(np.zeros(factors), 0.3 + 0.7 * np.eye(factors), size=rows)
    loadings = rng.uniform(0.5, 0.9, size=factors * items)
    x = eta[:, np.repeat(np.arange(factors), items)] * loadings
    x += rng.normal(size=x.shape) * np.sqrt(1 - loadings**2)
    x[rng.random(x.shape) < 0.10] = np.nan
    data = pd.DataFrame(x, columns=[f"y{i + 1}" for i in range(x.shape[1])])
    syntax = "\n".join(
        f"f{f + 1} =~ " + " + ".join(f"y{f * items + i + 1}" for i in range(items))
        for f in range(factors)
    )
    model = semopy.Model(syntax)
    result = fit_fiml(model, data)
    assert result.converged
    _, grad = fiml_gradient(model, data, result.params, result.means)
    assert np.abs(grad).max() < 1e-4
    fit = fiml_fit_measures(result, model)
    assert fit["df"] == 30 * 31 // 2 + 30 - result.npar
    assert 0.9 < fit["cfi"] <= 1.0
