"""Two-level models through the model rule (workflow/scripts/model.py, by
tests/conftest.run_model_rule): lavaan's Demo.twolevel fits (tests/fixtures/twolevel, see
tests/test_twolevel.py) written as the rule's tables."""

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem.estimability import REASONS
from lcsurvey.sem.model import FIT_COLUMNS, INTERVAL_COLUMNS
from lcsurvey.sem.twolevel_bootstrap import bootstrap_twolevel
from lcsurvey.sem.twolevel_tables import STABILITY_COLUMNS, TWOLEVEL_FIT_COLUMNS

from .conftest import ROOT, run_model_rule
from .test_twolevel import FIT_NAMES, MODELS, _reference

FIXTURES = ROOT / "tests" / "fixtures" / "twolevel"


def _read(path) -> pd.DataFrame:
    table = pd.read_csv(path)
    for column in {"lhs", "op", "rhs", "label"} & set(table.columns):
        table[column] = table[column].astype(object).where(table[column].notna(), "")
    return table


def _tables(tmp_path) -> dict[str, pd.DataFrame]:
    return {
        name: _read(tmp_path / f"{name}.csv")
        for name in ("estimates", "fit", "intervals", "bootstrap", "modindices",
                     "method_variance", "status")
    }  # fmt: skip


def _fit_reference(case: str) -> pd.Series:
    ref = pd.read_csv(FIXTURES / "fit.csv")
    return ref[ref["case"] == case].set_index("measure")["value"]


@pytest.mark.parametrize(
    ("model", "data_file", "missing", "case"),
    [
        ("tutorial", "data.csv", "listwise", "tutorial_complete"),
        ("mediation", "data.csv", "listwise", "mediation_complete"),
        ("tutorial", "data_missing.csv", "fiml", "tutorial_missing"),
    ],
)
def test_the_model_rule_writes_lavaans_two_level_fit(tmp_path, model, data_file, missing, case):
    data = pd.read_csv(FIXTURES / data_file)
    log = run_model_rule(
        tmp_path, data, model=model, syntax=MODELS[model], cluster="cluster", missing=missing
    )
    assert f"fitted two-level model {model} on 2500 rows in 200 clusters of cluster" in log
    tables = _tables(tmp_path)
    ours = tables["estimates"]
    assert list(ours.columns[:2]) == ["level", "lhs"]
    ref = _reference(case)
    merged = ref.merge(ours, on=["level", "lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ref) == len(ours)
    # the engine's tolerances (tests/test_twolevel.py); looser where lavaan's EM h1 fixes the
    # exogenous moments with missing values
    atol = 5e-3 if missing == "fiml" else 1e-3
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=atol)
    np.testing.assert_allclose(merged["se"], merged["se_lavaan"], atol=1e-4)

    fit = tables["fit"]
    srmr = FIT_COLUMNS.index("srmr")
    assert list(fit.columns) == [*FIT_COLUMNS[: srmr + 1], "srmr_within", "srmr_between",
                                 *FIT_COLUMNS[srmr + 1 :], *STABILITY_COLUMNS]  # fmt: skip
    row = fit.iloc[0]
    assert row["converged"] and pd.isna(row["heywood"]) and pd.isna(row["fit_note"])
    assert row["missing"] == missing
    assert row["nclusters"] == 200
    expected = _fit_reference(case)
    for column, theirs in FIT_NAMES.items():
        if column in fit.columns:
            assert row[column] == pytest.approx(expected[theirs], abs=1e-2 if column == "chisq"
                                                else 1e-3), column  # fmt: skip
    assert np.isnan(row["chisq_scaled"])

    intervals = tables["intervals"]
    assert list(intervals.columns[: len(INTERVAL_COLUMNS) + 1]) == ["level", *INTERVAL_COLUMNS]
    np.testing.assert_allclose(intervals["ci_lower"], ours["ci_lower"])
    assert intervals["boot_ci_lower"].isna().all()
    assert tables["bootstrap"]["method"].tolist() == ["none"]  # estimation.bootstrap 0
    assert tables["modindices"].empty and tables["method_variance"].empty
    status = tables["status"]
    assert status[["model", "estimated", "n", "converged"]].values.tolist() == [
        [model, "yes", 2500, True]
    ]
    assert status["detail"].isna().all() and status["heywood"].isna().all()


def test_the_defined_effects_of_a_two_level_model_get_delta_method_intervals(tmp_path):
    data = pd.read_csv(FIXTURES / "data.csv")
    run_model_rule(tmp_path, data, syntax=MODELS["mediation"], cluster="cluster",
                   missing="listwise")  # fmt: skip
    intervals = pd.read_csv(tmp_path / "intervals.csv").set_index("lhs")
    ref = _reference("mediation_complete").set_index("lhs")
    for effect in ("ind", "total", "contextual"):
        row = intervals.loc[effect]
        assert row["level"] == 0 and row["op"] == ":="
        assert row["est"] == pytest.approx(ref.loc[effect, "est"], abs=1e-3)
        assert row["ci_lower"] == pytest.approx(row["est"] - 1.959964 * row["se"], abs=1e-6)
        assert row["ci_upper"] == pytest.approx(row["est"] + 1.959964 * row["se"], abs=1e-6)


def _not_estimated(tmp_path, log: str, model: str, reason: str) -> str:
    """The status detail of a model job that was not estimated, after checking that its job
    succeeded with every table header-only and the log saying why."""
    tables = _tables(tmp_path)
    status = tables["status"]
    assert status[["model", "estimated", "reason"]].values.tolist() == [
        [model, "no", REASONS[reason]]
    ]
    for name in ("estimates", "fit", "intervals", "bootstrap", "modindices", "method_variance"):
        assert tables[name].empty, name
    assert list(tables["fit"].columns) == TWOLEVEL_FIT_COLUMNS
    detail = status["detail"].iloc[0]
    assert f"model {model!r} not estimated: {REASONS[reason]}" in log
    assert detail in " ".join(log.split())
    return detail


@pytest.mark.parametrize(
    ("cluster", "found"),
    [
        (None, "estimation.cluster is not set"),
        ("community", "estimation.cluster 'community' is not a column of the cleaned data"),
        ("one", "estimation.cluster 'one' has one cluster only"),
    ],
)
def test_a_two_level_model_without_a_usable_cluster_is_not_estimated(tmp_path, cluster, found):
    data = pd.read_csv(FIXTURES / "data.csv").assign(one=1)
    log = run_model_rule(tmp_path, data, model="climate", syntax=MODELS["tutorial"],
                         cluster=cluster)  # fmt: skip
    detail = _not_estimated(tmp_path, log, "climate", "no_cluster")
    assert detail.startswith(found)
    assert "set estimation.cluster to the column of the cleaned data" in detail


@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_a_level_2_variable_that_varies_within_clusters_is_not_estimated(tmp_path, missing):
    data = pd.read_csv(FIXTURES / "data.csv")
    data.loc[7, "w2"] += 0.5
    data.loc[7, "y1"] = np.nan  # under fiml the row is used, so it is checked too
    log = run_model_rule(tmp_path, data, model="climate", syntax=MODELS["tutorial"],
                         cluster="cluster", missing=missing)  # fmt: skip
    if missing == "listwise":  # the row is left out: the data allow the model
        assert pd.read_csv(tmp_path / "status.csv")["estimated"].tolist() == ["yes"]
        return
    detail = _not_estimated(tmp_path, log, "climate", "cluster_level_varies")
    assert detail.startswith(
        "'w2' is named only at level 2 (model line 'fb ~ w1 + w2'), so it is a cluster-level "
        f"variable, but it varies within cluster {data.loc[7, 'cluster']!r} of 'cluster' (row 7:"
    )


def test_clusters_of_one_respondent_only_are_not_estimated(tmp_path):
    data = pd.read_csv(FIXTURES / "data.csv")
    # every cluster keeps one complete row: nothing left to tell within from between
    data.loc[data["cluster"].duplicated(), "y1"] = np.nan
    log = run_model_rule(tmp_path, data, model="climate", syntax=MODELS["mediation"],
                         cluster="cluster", missing="listwise")  # fmt: skip
    detail = _not_estimated(tmp_path, log, "climate", "clusters_of_one")
    assert "every cluster of 'cluster' has one complete row at most (200 clusters)" in detail


def test_more_level_2_parameters_than_clusters_are_not_estimated(tmp_path):
    data = pd.read_csv(FIXTURES / "data.csv")
    few = data[data["cluster"] <= 8]
    log = run_model_rule(tmp_path, few, model="climate", syntax=MODELS["tutorial"],
                         cluster="cluster")  # fmt: skip
    detail = _not_estimated(tmp_path, log, "climate", "too_few_clusters")
    assert detail.startswith("11 free parameters at level 2 (intercepts included: ")
    assert "and 8 clusters" in detail


def test_an_unstable_two_level_fit_is_written_and_says_so(tmp_path):
    # y1's cluster means pulled together by 90%: its level-2 residual variance is negative
    # (tests/test_twolevel.py); the estimates are written, fit.csv and status.csv say why
    # they are unstable
    data = pd.read_csv(FIXTURES / "data.csv")
    means = data.groupby("cluster")["y1"].transform("mean")
    data["y1"] = data["y1"] - 0.9 * (means - means.mean())
    log = run_model_rule(tmp_path, data, model="climate", syntax=MODELS["tutorial"],
                         cluster="cluster", missing="listwise")  # fmt: skip
    tables = _tables(tmp_path)
    fit, status = tables["fit"].iloc[0], tables["status"].iloc[0]
    assert fit["heywood"].startswith("level 2: y1 ~~ y1 = -")
    assert status["heywood"] == fit["heywood"]
    assert status["estimated"] == "yes" and bool(status["converged"]) == bool(fit["converged"])
    assert status["detail"].startswith(f"unstable: Heywood case: {fit['heywood']}")
    assert f"two-level model climate is {status['detail']}" in log
    assert len(tables["estimates"]) > 0


def test_the_cluster_bootstrap_of_a_two_level_model_fills_the_intervals(tmp_path):
    data = pd.read_csv(FIXTURES / "data.csv")
    log = run_model_rule(tmp_path, data, model="mediation", syntax=MODELS["mediation"],
                         cluster="cluster", missing="listwise", bootstrap=30,
                         seed=5)  # fmt: skip
    assert (
        "bootstrap (twolevel-ml, resampling 200 clusters of cluster): 30 of 30 draws "
        "converged, 0 failed" in log
    )
    summary = pd.read_csv(tmp_path / "bootstrap.csv")
    assert summary[
        ["draws_requested", "draws_ok", "seed", "resampling", "clusters"]
    ].values.tolist() == [[30, 30, 5, "clusters", 200]]
    intervals = _read(tmp_path / "intervals.csv")
    ours, summary_direct = bootstrap_twolevel(MODELS["mediation"], data, "cluster", draws=30,
                                              seed=5, progress=False)  # fmt: skip
    merged = intervals.merge(ours, on=["level", "lhs", "op", "rhs"], suffixes=("", "_direct"))
    # every free and := row, and nothing else, has its bootstrap interval
    assert len(merged) == len(ours) == intervals["boot_ci_lower"].notna().sum()
    assert {"ind", "total", "contextual"} <= set(merged["lhs"])
    np.testing.assert_allclose(merged["boot_ci_lower"], merged["ci_lower_direct"], rtol=1e-6)
    np.testing.assert_allclose(merged["boot_ci_upper"], merged["ci_upper_direct"], rtol=1e-6)
    np.testing.assert_allclose(merged["bca_ci_upper"], merged["bca_ci_upper_direct"], rtol=1e-6)
    np.testing.assert_allclose(merged["boot_se"], merged["boot_se_direct"], rtol=1e-6)
    # the Wald CIs stay; a fixed row has no bootstrap interval
    assert intervals["ci_lower"].notna().all()
    fixed = intervals[intervals["se"] == 0]
    assert len(fixed) > 0 and fixed["boot_ci_lower"].isna().all()
    assert intervals["mc_ci_lower"].isna().all()


@pytest.mark.parametrize(
    ("settings", "method"),
    [
        ({"bootstrap": 30, "bootstrap_max_n": 1000}, "none (n = 2500 above 1000)"),
        ({"bootstrap": 0}, "none"),
    ],
)
def test_no_cluster_bootstrap_says_why(tmp_path, settings, method):
    data = pd.read_csv(FIXTURES / "data.csv")
    log = run_model_rule(tmp_path, data, syntax=MODELS["mediation"], cluster="cluster",
                         missing="listwise", **settings)  # fmt: skip
    assert f"no cluster bootstrap: {method}" in log
    assert pd.read_csv(tmp_path / "bootstrap.csv")["method"].tolist() == [method]
    assert pd.read_csv(tmp_path / "intervals.csv")["boot_ci_lower"].isna().all()
