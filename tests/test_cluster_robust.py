"""Cluster-robust inference (lavaan's cluster = "...", estimator = "MLR") and MLR's scaled
test and robust fit indices, against lavaan 0.6.14 on Demo.twolevel (2,500 rows in 200
clusters) with single-level models. Fixtures: tests/fixtures/cluster_robust (made by
make_cluster_robust_fixtures.R)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem.invariance import COLUMNS as INVARIANCE_COLUMNS
from lcsurvey.sem.invariance import fit_invariance, invariance_table
from lcsurvey.sem.model import FIT_COLUMNS, fit_model
from lcsurvey.sem.multigroup import LEVELS, estimates_table
from lcsurvey.sem.robust import ROBUST_COLUMNS

from .conftest import run_model_rule

FIXTURES = Path(__file__).parent / "fixtures" / "cluster_robust"
MODELS = {
    "cfa": "f =~ y1 + y2 + y3 + y4 + y5 + y6",
    "regression": "fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3",
    "mediation": "y1 ~ a*x1 + x2\n y2 ~ b*y1 + c*x1\n ind := a*b\n total := c + a*b",
    "saturated": "f =~ y1 + y2 + y3",  # df 0
}
# Reached: estimates 5e-6, standard errors 5e-7, std.all standard errors 2e-7, scaling
# factors 4e-6, robust indices 1.5e-6, chisq_scaled 3.3e-6 relative; multi-group standard
# errors 1.7e-6 and scaling factors 1.5e-6.
EST_TOL = 2e-5
SE_TOL = 5e-6
FIT_TOL = 1e-5
FIT_MEASURES = [
    "chisq",
    "df",
    "chisq_scaling_factor",
    "pvalue_scaled",
    "cfi",
    "tli",
    "cfi_robust",
    "tli_robust",
    "rmsea",
    "rmsea_robust",
    "rmsea_ci_lower_robust",
    "rmsea_ci_upper_robust",
    "srmr",
    "nclusters",
]
ESTIMATES = pd.read_csv(FIXTURES / "estimates.csv").assign(
    rhs=lambda d: d["rhs"].fillna(""), label=lambda d: d["label"].fillna("")
)
FITS = pd.read_csv(FIXTURES / "fit.csv")
CASES = list(ESTIMATES["case"].unique())


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / ("data.csv" if name == "complete" else "data_missing.csv"))


def _fit(case: str, **kwargs):
    model, data, missing, kind = case.split("_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rows of `missing` data the regressors lack
        return fit_model(
            MODELS[model],
            _data(data),
            name=model,
            missing="fiml" if missing == "fiml" else "listwise",
            se="robust",
            cluster="cluster" if kind == "cluster" else None,
            **kwargs,
        )


def key(frame: pd.DataFrame) -> pd.Index:
    return pd.Index(frame["lhs"] + " " + frame["op"] + " " + frame["rhs"])


@pytest.fixture(scope="module", params=CASES)
def case_fit(request):
    return request.param, _fit(request.param)


def test_estimates_and_robust_standard_errors_match_lavaan(case_fit):
    case, result = case_fit
    ref = ESTIMATES[ESTIMATES["case"] == case]
    ref = ref.set_index(key(ref))
    ours = result.estimates.set_index(key(result.estimates))
    # lavaan also lists the fixed regressors' (co)variances and, with a cluster, the
    # intercepts under listwise deletion (its mean structure); every row we give is lavaan's.
    assert set(ours.index) <= set(ref.index)
    ref = ref.loc[ours.index]
    np.testing.assert_allclose(ours["est"], ref["est"], atol=EST_TOL)
    np.testing.assert_allclose(ours["se"].fillna(0), ref["se"].fillna(0), atol=SE_TOL)
    np.testing.assert_allclose(ours["std_all"], ref["std.all"], atol=EST_TOL)
    np.testing.assert_allclose(ours["std_all_se"].fillna(0), ref["std.se"].fillna(0), atol=SE_TOL)
    if case.startswith("mediation"):
        defined = ours[ours["op"] == ":="]
        assert list(defined["lhs"]) == ["ind", "total"]
        assert defined["se"].gt(0).all()


def test_scaled_test_and_robust_indices_match_lavaan(case_fit):
    case, result = case_fit
    ref = FITS[FITS["case"] == case].set_index("measure")["value"]
    fit = result.fit.iloc[0]
    assert fit["estimator"] == "MLR"
    for measure in FIT_MEASURES:
        theirs = ref[measure.replace("_", ".")]
        if np.isnan(theirs):
            assert np.isnan(fit[measure]), measure
        else:
            assert fit[measure] == pytest.approx(theirs, abs=FIT_TOL), measure
    scaled = ref["chisq.scaled"]
    if np.isnan(scaled):
        assert np.isnan(fit["chisq_scaled"])
    else:
        assert fit["chisq_scaled"] == pytest.approx(scaled, rel=1e-5, abs=1e-6)
    for measure in ["aic", "bic"]:
        assert fit[measure] == pytest.approx(ref[measure], abs=1e-3), measure


def test_clusters_change_the_standard_errors_not_the_estimates():
    clustered = _fit("regression_missing_fiml_cluster").estimates
    independent = _fit("regression_missing_fiml_mlr").estimates
    np.testing.assert_allclose(clustered["est"], independent["est"], atol=1e-10)
    slopes = clustered["op"] == "~"
    ratio = clustered.loc[slopes, "se"] / independent.loc[slopes, "se"]
    assert (abs(ratio - 1) > 1e-3).all() and abs(ratio - 1).max() > 0.05


def test_negative_trace_gives_nan_as_lavaan():
    """The one-factor model misfits the two-level data so badly that tr(U Gamma) with
    clusters is negative: lavaan reports the scaled test as NA, and so do we."""
    fit = _fit("cfa_complete_listwise_cluster").fit.iloc[0]
    for column in ROBUST_COLUMNS:
        assert np.isnan(fit[column]), column
    assert np.isfinite(fit["chisq"]) and fit["nclusters"] == 200


def test_without_cluster_the_fit_table_keeps_its_columns_and_leaves_the_new_ones_empty():
    data = _data("missing")
    plain = fit_model(MODELS["mediation"], data, name="m", missing="fiml")
    explicit = fit_model(MODELS["mediation"], data, name="m", missing="fiml", cluster=None)
    pd.testing.assert_frame_equal(plain.estimates, explicit.estimates)
    pd.testing.assert_frame_equal(plain.fit, explicit.fit)
    assert list(plain.fit.columns[:14]) == [
        "ntotal",
        "estimator",
        "missing",
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
    ]
    assert list(plain.fit.columns) == FIT_COLUMNS
    assert FIT_COLUMNS[14:] == [*ROBUST_COLUMNS, "nclusters"]
    assert plain.fit[FIT_COLUMNS[14:]].isna().all(axis=None)
    assert plain.fit["estimator"].iloc[0] == "ML" and plain.clusters is None


def test_a_cluster_makes_the_fit_mlr_whatever_se_says():
    data = _data("complete")
    standard = fit_model(MODELS["mediation"], data, se="standard", cluster="cluster")
    robust = fit_model(MODELS["mediation"], data, se="robust", cluster="cluster")
    pd.testing.assert_frame_equal(standard.estimates, robust.estimates)
    assert standard.fit["estimator"].iloc[0] == "MLR"
    assert standard.se == "robust"


def test_fewer_clusters_than_free_parameters_warn_as_lavaan():
    data = _data("complete")
    few = data[data["cluster"] <= 8]
    with pytest.warns(RuntimeWarning, match="18 free parameters and 8 clusters"):
        result = fit_model(MODELS["cfa"], few, name="cfa", missing="fiml", cluster="cluster")
    assert result.estimates["se"].notna().any()  # reported all the same, as lavaan does
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_model(MODELS["cfa"], data, name="cfa", missing="fiml", cluster="cluster")


def test_a_missing_cluster_label_is_a_cluster_of_its_own():
    data = _data("complete").head(400).astype({"cluster": float})
    data.loc[:9, "cluster"] = np.nan
    result = fit_model(MODELS["mediation"], data, missing="listwise", cluster="cluster")
    known = data["cluster"].nunique()
    assert result.fit["nclusters"].iloc[0] == known + 10
    assert len(np.unique(result.clusters)) == known + 10


def _run_model_rule(tmp_path: Path, data: pd.DataFrame, cluster: str, draws: int) -> str:
    """Run workflow/scripts/model.py on `data` (the CFA) as rule `model` would; its log."""
    return run_model_rule(
        tmp_path, data, syntax=MODELS["cfa"], model="cfa", cluster=cluster, bootstrap=draws
    )


def test_the_model_rule_logs_the_too_few_clusters_warning(tmp_path):
    """workflow/scripts/model.py writes the fit's warnings to the rule's log."""
    data = _data("complete")
    log = _run_model_rule(tmp_path, data[data["cluster"] <= 8], "cluster", draws=0)
    assert "WARNING model 'cfa': 18 free parameters and 8 clusters" in log
    fit = pd.read_csv(tmp_path / "fit.csv")
    assert fit["estimator"].iloc[0] == "MLR" and fit["nclusters"].iloc[0] == 8


@pytest.mark.parametrize(
    ("cluster", "found"),
    [
        ("district", "is not a column of the cleaned data"),
        ("row", "puts every respondent in a cluster of their own (80 distinct values in 80 rows)"),
        ("one", "has one cluster only (1 distinct value in 80 rows)"),
    ],
)
def test_an_unusable_cluster_variable_leaves_the_model_rule_unclustered(tmp_path, cluster, found):
    """The model rule says why, in its log, and fits with independent respondents."""
    data = _data("complete").iloc[:80].assign(row=np.arange(80), one=1)
    log = _run_model_rule(tmp_path, data, cluster, draws=20)
    assert f"WARNING estimation.cluster {cluster!r} {found}" in log
    assert "respondents are treated as independent" in log
    fit = pd.read_csv(tmp_path / "fit.csv").iloc[0]
    assert fit["estimator"] == "ML" and pd.isna(fit["nclusters"])
    assert pd.read_csv(tmp_path / "bootstrap.csv")["resampling"].iloc[0] == "rows"


MULTIGROUP_ESTIMATES = pd.read_csv(FIXTURES / "multigroup_estimates.csv").assign(
    rhs=lambda d: d["rhs"].fillna("")
)
MULTIGROUP_FITS = pd.read_csv(FIXTURES / "multigroup_fit.csv")
FACTORS = {"fa": ["y1", "y2", "y3"], "fb": ["y4", "y5", "y6"]}


@pytest.mark.parametrize("dataset", ["complete_fiml", "missing_fiml", "missing_listwise"])
def test_multigroup_cluster_robust_levels_match_lavaan(dataset):
    """cfa(group = "g", cluster = "cluster", estimator = "MLR", group.equal = ...)."""
    data, missing = dataset.split("_")
    frame = _data(data).assign(g=lambda d: np.where(d["cluster"] <= 100, "first", "second"))
    missing = "fiml" if missing == "fiml" else "listwise"
    result = fit_invariance(frame, FACTORS, "g", missing=missing, cluster="cluster")
    assert not result.errors
    for level in LEVELS:
        case = f"{dataset}_{level}"
        ours = estimates_table(result.fits[level], FACTORS, result.items, result.group_names)
        ref = MULTIGROUP_ESTIMATES[MULTIGROUP_ESTIMATES["case"] == case]
        ref = ref.set_index(ref["group"] + " " + key(ref))
        ours = ours.set_index(ours["group"] + " " + key(ours))
        assert set(ours.index) == set(ref.index)
        ref = ref.loc[ours.index]
        np.testing.assert_allclose(ours["est"], ref["est"], atol=EST_TOL)
        np.testing.assert_allclose(ours["se"], ref["se"], atol=SE_TOL)
        fit = MULTIGROUP_FITS[MULTIGROUP_FITS["case"] == case].set_index("measure")["value"]
        measures = result.measures[level]
        for measure in ["chisq", "chisq_scaling_factor", "pvalue_scaled", "cfi", "rmsea"]:
            expected = fit[measure.replace("_", ".")]
            assert measures[measure] == pytest.approx(expected, abs=FIT_TOL), (level, measure)
        assert measures["chisq_scaled"] == pytest.approx(fit["chisq.scaled"], rel=1e-5)
        assert measures["nclusters"] == (199 if missing == "listwise" else 200)


def test_invariance_table_reports_the_scaled_test_with_a_cluster_only():
    frame = _data("complete").assign(g=lambda d: np.where(d["cluster"] <= 100, "a", "b"))
    clustered = invariance_table(frame, FACTORS, "g", cluster="cluster")
    plain = invariance_table(frame, FACTORS, "g")
    assert list(clustered.columns) == list(plain.columns) == INVARIANCE_COLUMNS
    assert clustered["nclusters"].eq(200).all() and clustered["chisq_scaled"].gt(0).all()
    assert plain[["chisq_scaled", "nclusters"]].isna().all(axis=None)
    robust = ["chisq_scaled", "chisq_scaling_factor", "pvalue_scaled", "nclusters"]
    # The likelihood-ratio tests differ too: scaled (MLR) with a cluster, plain without.
    tests = ["delta_chisq", "delta_df", "delta_pvalue", "delta_method"]
    shared = [c for c in INVARIANCE_COLUMNS if c not in robust + tests]
    pd.testing.assert_frame_equal(clustered[shared], plain[shared])
    assert list(plain["delta_method"]) == ["", "standard", "standard"]
    assert list(clustered["delta_method"][1:]) != ["standard"] * 2
    assert (clustered["delta_df"] == plain["delta_df"]).iloc[1:].all()
