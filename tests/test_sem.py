"""The structural-model stage against lavaan on PoliticalDemocracy and HolzingerSwineford1939.

Reference numbers: tests/fixtures/r/make_fixtures.R and make_sem_fixtures.R (labels, equality
through shared labels, defined parameters, MLR standard errors, standardizedSolution(); R
lavaan, versions.csv beside them). One tolerance per quantity, about ten times the largest
difference from lavaan seen over every case of this file (listed beside each): lavaan's own
convergence sets that difference, so a slip of a fraction of a per cent in a formula fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lcsurvey.errors import InputError
from lcsurvey.sem.model import fit_model, parse_model

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"
# Absolute tolerances; largest difference from lavaan seen (lavaan 0.6-14 fixtures) after #.
EST_TOL = 5e-4  # estimates: 4.7e-5 (fiml political_democracy)
SE_TOL = 1e-4  # standard errors: 1.1e-5
CI_TOL = 6e-4  # Wald CI limits: 5.9e-5
PVALUE_TOL = 3e-4  # p-values of estimates and of standardised estimates: 3.2e-5
STD_TOL = 1e-4  # std.all: 1.1e-5
STD_SE_TOL = 2e-5  # standard errors of std.all (delta method): 1.5e-6
STD_CI_TOL = 1.5e-4  # CI limits of std.all: 1.3e-5
STD_Z_TOL = 2e-3  # z of std.all (values up to 59): 1.8e-4
FIT_TOL = {  # fit measures
    "chisq": 2e-7,  # 2.1e-8
    "df": 0.0,  # exact
    "pvalue": 5e-9,  # 4.0e-10
    "cfi": 3e-10,  # 2.8e-11
    "tli": 5e-10,  # 4.2e-11
    "rmsea": 6e-10,  # 6.1e-11
    "rmsea_ci_lower": 3e-6,  # 2.2e-7 (fixed.x path model)
    "rmsea_ci_upper": 3e-6,  # 3.0e-7 (fixed.x path model)
    "srmr": 3e-6,  # 3.2e-7
    "aic": 1e-7,  # 1.1e-8 (AIC and BIC are about 3000)
    "bic": 1e-7,  # 1.1e-8
}

MODELS = {
    "political_democracy": """
        ind60 =~ x1 + x2 + x3
        dem60 =~ y1 + y2 + y3 + y4
        dem65 =~ y5 + y6 + y7 + y8
        dem60 ~ a*ind60
        dem65 ~ ind60 + b*dem60
        y1 ~~ y5
        y2 ~~ y4 + y6
        y3 ~~ y7
        y4 ~~ y8
        y6 ~~ y8
    """,
    "holzinger_swineford": """
        visual  =~ x1 + x2 + x3
        textual =~ x4 + x5 + x6
        speed   =~ x7 + x8 + x9
    """,
}
FIT_NAMES = {
    "chisq": "chisq",
    "df": "df",
    "pvalue": "pvalue",
    "cfi": "cfi",
    "tli": "tli",
    "rmsea": "rmsea",
    "rmsea_ci_lower": "rmsea.ci.lower",
    "rmsea_ci_upper": "rmsea.ci.upper",
    "srmr": "srmr",
    "aic": "aic",
    "bic": "bic",
}


def key(frame: pd.DataFrame) -> pd.Series:
    """(lhs, op, rhs) with the two sides of ~~ sorted, since programs list them either way."""
    sides = [
        tuple(sorted((lhs, rhs))) if op == "~~" else (lhs, rhs)
        for lhs, op, rhs in zip(frame["lhs"], frame["op"], frame["rhs"], strict=True)
    ]
    return pd.Series([f"{a} {o} {b}" for (a, b), o in zip(sides, frame["op"], strict=True)])


CASES = [(name, "listwise", name) for name in MODELS] + [
    (name, "fiml", f"fiml_{name}")
    for name in MODELS  # ~10% of cells blanked, missing = "ml"
]


@pytest.fixture(scope="module", params=CASES, ids=[f"{m}-{f}" for _, m, f in CASES])
def fitted(request):
    name, missing, fixture = request.param
    data = pd.read_csv(FIXTURES / f"{fixture}.csv")
    result = fit_model(MODELS[name], data, name=name, missing=missing)
    ref_est = pd.read_csv(FIXTURES / f"{fixture}_estimates.csv")
    ref_fit = pd.read_csv(FIXTURES / f"{fixture}_fit.csv")
    if "measure" in ref_fit.columns:
        ref_fit = ref_fit.set_index("measure")["value"]
    else:
        ref_fit = ref_fit.iloc[0]
    return result, ref_est, ref_fit, fixture


def test_estimates_match_lavaan(fitted):
    result, ref, _, _ = fitted
    ours = result.estimates.set_index(key(result.estimates))
    ref = ref.assign(rhs=ref["rhs"].fillna(""))
    ref = ref.set_index(key(ref))
    assert set(ours.index) == set(ref.index)
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["est"], ref["est"], atol=EST_TOL)
    np.testing.assert_allclose(ours["se"].fillna(0), ref["se"].fillna(0), atol=SE_TOL)
    np.testing.assert_allclose(ours["std_all"], ref["std.all"], atol=STD_TOL)
    free = ref["se"] > 0
    np.testing.assert_allclose(ours.loc[free, "ci_lower"], ref.loc[free, "ci.lower"], atol=CI_TOL)
    np.testing.assert_allclose(ours.loc[free, "pvalue"], ref.loc[free, "pvalue"], atol=PVALUE_TOL)


def test_fit_measures_match_lavaan(fitted):
    result, _, ref, _ = fitted
    fit = result.fit.iloc[0]
    assert fit["ntotal"] == len(result.data)
    for ours, theirs in FIT_NAMES.items():
        assert fit[ours] == pytest.approx(ref[theirs], abs=FIT_TOL[ours]), ours


def test_labels_land_in_the_table():
    data = pd.read_csv(FIXTURES / "political_democracy.csv")
    result = fit_model(MODELS["political_democracy"], data)
    labelled = result.estimates.set_index(["lhs", "op", "rhs"])["label"]
    assert labelled[("dem60", "~", "ind60")] == "a"
    assert labelled[("dem65", "~", "dem60")] == "b"
    assert labelled[("dem65", "~", "ind60")] == ""


def test_model_errors_are_readable():
    with pytest.raises(InputError, match="cannot read statement 2"):
        parse_model("f =~ x1 + x2\nthis is not lavaan", name="bad")
    with pytest.raises(InputError, match=r"variables that the data do not have: \['x9'\]"):
        fit_model("f =~ x1 + x2 + x9", pd.DataFrame({"x1": [1.0], "x2": [2.0]}))


MEASUREMENT = """
    ind60 =~ x1 + x2 + x3
    y1 ~~ y5
    y2 ~~ y4 + y6
    y3 ~~ y7
    y4 ~~ y8
    y6 ~~ y8
"""
EQUALITY = (
    MEASUREMENT
    + """
    dem60 =~ y1 + a*y2 + b*y3 + c*y4
    dem65 =~ y5 + a*y6 + b*y7 + c*y8
    dem60 ~ ind60
    dem65 ~ ind60 + dem60
"""
)
MEDIATION = (
    MEASUREMENT
    + """
    dem60 =~ y1 + y2 + y3 + y4
    dem65 =~ y5 + y6 + y7 + y8
    dem65 ~ c*ind60 + b*dem60
    dem60 ~ a*ind60
    ind := a*b
    total := c + a*b
    ratio := (a*b) / (c + a*b)
"""
)
# (syntax, data, missing, se, fixture): lavaan sem() with missing = "ml" for fiml and
# estimator = "MLR" for se = robust.
LABEL_CASES = {
    "equality": (EQUALITY, "political_democracy", "listwise", "standard"),
    "equality_fiml": (EQUALITY, "fiml_political_democracy", "fiml", "standard"),
    "defined": (MEDIATION, "political_democracy", "listwise", "standard"),
    "defined_fiml": (MEDIATION, "fiml_political_democracy", "fiml", "standard"),
    "defined_fiml_mlr": (MEDIATION, "fiml_political_democracy", "fiml", "robust"),
    "defined_mlr": (MEDIATION, "political_democracy", "listwise", "robust"),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_labels_equality_defined_and_robust_match_lavaan(case):
    syntax, data_name, missing, se = LABEL_CASES[case]
    result = fit_model(syntax, pd.read_csv(FIXTURES / f"{data_name}.csv"), missing=missing, se=se)
    ref = pd.read_csv(FIXTURES / f"sem_{case}_estimates.csv")
    ref = ref.assign(rhs=ref["rhs"].fillna(""), label=ref["label"].fillna(""))
    ref = ref.set_index(key(ref))
    ours = result.estimates.set_index(key(result.estimates))
    assert set(ref.index) <= set(ours.index)
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["est"], ref["est"], atol=EST_TOL)
    np.testing.assert_allclose(ours["se"].fillna(0), ref["se"].fillna(0), atol=SE_TOL)
    np.testing.assert_allclose(ours["std_all"], ref["std.all"], atol=STD_TOL)
    free = ref["se"] > 0
    np.testing.assert_allclose(ours.loc[free, "ci_upper"], ref.loc[free, "ci.upper"], atol=CI_TOL)
    assert list(ours["label"]) == list(ref["label"])
    if case.startswith("equality"):
        loadings = ours[ours["op"] == "=~"].set_index("rhs")["est"]
        for first, second in [("y2", "y6"), ("y3", "y7"), ("y4", "y8")]:
            assert loadings[first] == loadings[second]
    if case.startswith("defined"):
        defined = ours[ours["op"] == ":="]
        assert list(defined["rhs"]) == ["a*b", "c+a*b", "(a*b)/(c+a*b)"]
    if se == "robust":
        assert result.fit["estimator"].iloc[0] == "MLR"


def test_shared_labels_are_one_free_parameter():
    data = pd.read_csv(FIXTURES / "political_democracy.csv")
    free = fit_model(MODELS["political_democracy"], data, missing="listwise")
    equal = fit_model(EQUALITY, data, missing="listwise")
    assert len(equal.columns) == len(free.columns) - 3
    assert equal.fit["df"].iloc[0] == free.fit["df"].iloc[0] + 3


@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_a_just_identified_model_reports_exact_fit_as_lavaan(missing):
    data = pd.read_csv(FIXTURES / "holzinger_swineford.csv")
    fit = fit_model("v =~ x1 + x2 + x3", data, missing=missing).fit.iloc[0]
    assert fit["df"] == 0
    assert fit["chisq"] == 0.0
    assert (fit["cfi"], fit["tli"], fit["rmsea"]) == (1.0, 1.0, 0.0)
    assert (fit["rmsea_ci_lower"], fit["rmsea_ci_upper"]) == (0.0, 0.0)
    assert fit["srmr"] == pytest.approx(0.0, abs=1e-6)


def _compare_standardized(result, ref: pd.DataFrame) -> None:
    """std_all and its se, z, p and CI against lavaan's standardizedSolution()."""
    ref = ref.assign(rhs=ref["rhs"].fillna(""))
    ref = ref.set_index(key(ref))
    ours = result.estimates.set_index(key(result.estimates))
    assert set(ref.index) == set(ours.index)
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["std_all"], ref["est.std"], atol=STD_TOL)
    np.testing.assert_allclose(ours["std_all_se"], ref["se"], atol=STD_SE_TOL)
    np.testing.assert_allclose(ours["std_all_ci_lower"], ref["ci.lower"], atol=STD_CI_TOL)
    np.testing.assert_allclose(ours["std_all_ci_upper"], ref["ci.upper"], atol=STD_CI_TOL)
    np.testing.assert_allclose(
        ours["std_all_pvalue"].fillna(-1), ref["pvalue"].fillna(-1), atol=PVALUE_TOL
    )
    # Rows whose standardised value is fixed (latent variances, latent means) have se 0, no z.
    assert list(ours["std_all_z"].isna()) == list(ref["z"].isna())
    z = ref["z"].notna()
    np.testing.assert_allclose(ours.loc[z, "std_all_z"], ref.loc[z, "z"], rtol=0, atol=STD_Z_TOL)


def test_standardized_solution_matches_lavaan(fitted):
    result, _, _, fixture = fitted
    _compare_standardized(result, pd.read_csv(FIXTURES / f"sem_std_{fixture}.csv"))
    columns = list(result.estimates.columns)
    assert columns[columns.index("std_all") :] == [
        "std_all",
        "std_all_se",
        "std_all_z",
        "std_all_pvalue",
        "std_all_ci_lower",
        "std_all_ci_upper",
    ]


@pytest.mark.parametrize("case", ["equality_fiml", "defined", "defined_fiml", "defined_fiml_mlr"])
def test_standardized_defined_and_robust_match_lavaan(case):
    syntax, data_name, missing, se = LABEL_CASES[case]
    result = fit_model(syntax, pd.read_csv(FIXTURES / f"{data_name}.csv"), missing=missing, se=se)
    ref = pd.read_csv(FIXTURES / f"sem_std_{case}.csv")
    _compare_standardized(result, ref)
    if case.startswith("defined"):
        # lavaan standardises := parameters by evaluating them on the standardised labels.
        defined = result.estimates[result.estimates["op"] == ":="]
        assert defined["std_all_se"].gt(0).all()


def test_observed_regressors_are_fixed_x_as_in_lavaan():
    """Observed exogenous regressors: moments fixed at the sample values (lavaan's default
    fixed.x = TRUE), so df, the baseline model, CFI/TLI/RMSEA and AIC/BIC are lavaan's."""
    data = pd.read_csv(FIXTURES / "political_democracy.csv")
    result = fit_model("y1 ~ x1 + x2\ny2 ~ y1 + x1", data, missing="listwise")
    ref = pd.read_csv(FIXTURES / "sem_fixed_x_estimates.csv")
    ref = ref.assign(rhs=ref["rhs"].fillna("")).set_index(key(ref))
    ours = result.estimates.set_index(key(result.estimates))
    # lavaan also lists the regressors' fixed (co)variances, with se 0.
    assert set(ref.index) - set(ours.index) == {"x1 ~~ x1", "x1 ~~ x2", "x2 ~~ x2"}
    ref = ref.loc[ours.index]
    for column, theirs, tol in [
        ("est", "est", EST_TOL),
        ("se", "se", SE_TOL),
        ("std_all", "std.all", STD_TOL),
    ]:
        np.testing.assert_allclose(ours[column], ref[theirs], atol=tol)
    fit = result.fit.iloc[0]
    ref_fit = pd.read_csv(FIXTURES / "sem_fixed_x_fit.csv").set_index("measure")["value"]
    assert fit["df"] == ref_fit["df"] == 1
    for ours_name, theirs in FIT_NAMES.items():
        assert fit[ours_name] == pytest.approx(ref_fit[theirs], abs=FIT_TOL[ours_name]), ours_name


# --- FIML intercepts and fixed.x against lavaan (make_fiml_intercepts_fixtures.R) ---------

FIML_INTERCEPT_CASES = [
    "path_fixed_x",
    "mimic_fixed_x",
    "path_free_x",
    "observed_mediator",
    "path_free_x_listwise",
]


def _fixture_model(script: str, name: str) -> str:
    text = (FIXTURES / script).read_text()
    return text.split(f"{name} = '")[1].split("'")[0]


@pytest.mark.parametrize("case", FIML_INTERCEPT_CASES)
def test_fiml_intercepts_and_fixed_x_match_lavaan(case):
    """Under FIML the ~1 rows are lavaan's intercepts (of observed outcomes, of indicators of
    a factor regressed on observed variables), and observed regressors are fixed.x: rows with
    a missing regressor are left out and their moments leave df, npar, logl and the baseline.
    Regressors with declared variances are modelled (lavaan's fixed.x = FALSE), listwise too."""
    syntax = _fixture_model("make_fiml_intercepts_fixtures.R", case.removesuffix("_listwise"))
    if case.endswith("_listwise"):  # regressors with declared variances: modelled variables
        data = pd.read_csv(FIXTURES / "political_democracy.csv")
        result = fit_model(syntax, data, missing="listwise")
    elif case.endswith("fixed_x"):
        data = pd.read_csv(FIXTURES / "fiml_political_democracy.csv")
        with pytest.warns(
            RuntimeWarning, match="9 rows with a missing value in the observed regressors"
        ):
            result = fit_model(syntax, data, missing="fiml")
    else:
        data = pd.read_csv(FIXTURES / "fiml_political_democracy.csv")
        result = fit_model(syntax, data, missing="fiml")
    ref = pd.read_csv(FIXTURES / f"fiml_{case}_estimates.csv")
    ref = ref.assign(rhs=ref["rhs"].fillna(""))
    ref = ref.set_index(key(ref))
    ours = result.estimates.assign(rhs=result.estimates["rhs"].fillna(""))
    ours = ours.set_index(key(ours))
    # lavaan also lists the regressors' fixed (co)variances, with se 0.
    assert set(ref.index) - set(ours.index) == (
        {"x1 ~~ x1", "x1 ~~ x2", "x2 ~~ x2"} if case.endswith("fixed_x") else set()
    )
    ref = ref.loc[ours.index]
    np.testing.assert_allclose(ours["est"], ref["est"], atol=EST_TOL)
    np.testing.assert_allclose(ours["se"].fillna(0.0), ref["se"], atol=SE_TOL)
    np.testing.assert_allclose(ours["std_all"], ref["std.all"], atol=STD_TOL)
    fit = result.fit.iloc[0]
    ref_fit = pd.read_csv(FIXTURES / f"fiml_{case}_fit.csv").set_index("measure")["value"]
    assert fit["ntotal"] == ref_fit["ntotal"] and fit["df"] == ref_fit["df"]
    for ours_name, theirs in FIT_NAMES.items():
        assert fit[ours_name] == pytest.approx(ref_fit[theirs], abs=FIT_TOL[ours_name]), ours_name


def test_intercepts_are_means_when_only_factors_are_regressed():
    """With only latent variables in the structural part the intercepts are the FIML means."""
    data = pd.read_csv(FIXTURES / "fiml_political_democracy.csv")
    result = fit_model(MODELS["political_democracy"], data, missing="fiml")
    q = len(result.model.param_vals)
    shown = result.estimates[(result.estimates["op"] == "~1") & result.estimates["se"].notna()]
    np.testing.assert_array_equal(shown["est"].to_numpy(), result.fiml.means)
    np.testing.assert_array_equal(shown["se"].to_numpy(), np.sqrt(np.diag(result.vcov))[q:])


# --- information = "observed" / "expected" against lavaan (make_information_fixtures.R) ---

# Largest differences from lavaan seen: estimates 9.6e-6, standard errors 2.5e-6.
INFORMATION_EST_TOL = 1e-4
INFORMATION_SE_TOL = 2.5e-5
INFORMATION_HS = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""


def _information_model(name: str) -> str:
    text = (FIXTURES / "make_information_fixtures.R").read_text()
    return text.split(f"{name} <- '")[1].split("'")[0]


def _pairs_sorted(table: pd.DataFrame) -> pd.DataFrame:
    """Covariances keyed by their two variables in sorted order (lavaan and we list either)."""
    table = table.fillna({"rhs": ""}).copy()
    cov = table["op"] == "~~"
    low = table[["lhs", "rhs"]].min(axis=1)
    high = table[["lhs", "rhs"]].max(axis=1)
    table.loc[cov, "lhs"], table.loc[cov, "rhs"] = low[cov], high[cov]
    return table


def _compare_se(fitted, reference: str) -> int:
    ref = _pairs_sorted(pd.read_csv(FIXTURES / reference))
    ours = _pairs_sorted(fitted.estimates)
    merged = ref.merge(ours, on=["lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ref)
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=INFORMATION_EST_TOL)
    free = merged["se_lavaan"] > 0
    np.testing.assert_allclose(
        merged.loc[free, "se"], merged.loc[free, "se_lavaan"], atol=INFORMATION_SE_TOL
    )
    return int(free.sum())


def test_fiml_expected_information_matches_lavaan():
    data = pd.read_csv(FIXTURES / "fiml_holzinger_swineford.csv")
    expected = fit_model(INFORMATION_HS, data, missing="fiml", information="expected")
    assert _compare_se(expected, "information_fiml_expected_estimates.csv") > 20
    observed = fit_model(INFORMATION_HS, data, missing="fiml")
    # The two information matrices differ under missing data: so do the standard errors.
    assert np.nanmax(np.abs(observed.estimates["se"] - expected.estimates["se"])) > 1e-4


def test_listwise_observed_information_matches_lavaan():
    data = pd.read_csv(FIXTURES / "political_democracy.csv")
    fitted = fit_model(
        _information_model("pd_model"), data, missing="listwise", information="observed"
    )
    assert _compare_se(fitted, "information_listwise_observed_estimates.csv") > 20


def test_unknown_information_is_an_input_error():
    data = pd.read_csv(FIXTURES / "fiml_holzinger_swineford.csv")
    with pytest.raises(InputError, match="information"):
        fit_model(INFORMATION_HS, data, information="sandwich")
