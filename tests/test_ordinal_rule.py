"""Ordinal items through the pipeline: the declarations (codebook `ordinal: true`, config
estimation.ordered and estimator), rule model under WLSMV (workflow/scripts/model.py, by
tests/conftest.run_model_rule) against lavaan 0.6.14 (tests/fixtures/ordinal), its bad input,
and ordinal alpha/omega against psych and semTools (tests/fixtures/ordinal_reliability)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem.model import ESTIMATE_COLUMNS, FIT_COLUMNS, INTERVAL_COLUMNS
from lcsurvey.sem.wlsmv_tables import NO_BOOTSTRAP
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.ordinal import (
    OrdinalDataProblem,
    OrdinalItems,
    declaration_problems,
    empty_cell_pairs,
    ordinal_items,
    recode,
)
from lcsurvey.survey.scales import reliability_table

from .conftest import ROOT, SMALL_CODEBOOK, run_model_rule
from .test_check import messages, write_project

FIXTURES = ROOT / "tests" / "fixtures" / "ordinal"
RELIABILITY = ROOT / "tests" / "fixtures" / "ordinal_reliability"
ITEMS = [f"x{i}" for i in range(1, 10)]
THREE = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
ALL = {"all": True, "items": {}}


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "hs_ordinal.csv")


def _tables(where) -> dict[str, pd.DataFrame]:
    names = ("estimates", "fit", "intervals", "bootstrap", "modindices", "method_variance",
             "status")  # fmt: skip
    tables = {name: pd.read_csv(where / f"{name}.csv") for name in names}
    for table in tables.values():
        for column in {"lhs", "op", "rhs", "label"} & set(table.columns):
            table[column] = table[column].astype(object).where(table[column].notna(), "")
    return tables


def _declared(data: pd.DataFrame, shift: float = 0.0) -> dict:
    """estimation.ordered-style params naming every item with its categories 1..K (+ shift)."""
    return {
        "all": False,
        "items": {
            c: [float(v) + shift for v in range(1, int(data[c].max()) + 1)] for c in data.columns
        },
    }


# -- rule model under WLSMV ------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, -3.0])
def test_the_model_rule_writes_lavaans_wlsmv_cfa(tmp_path, hs, shift):
    # Codes -2..2 (shift -3) are numbered 1..K by the declared categories before the fit.
    data = hs + shift
    log = run_model_rule(tmp_path, data, syntax=THREE, estimator="wlsmv",
                         ordered=_declared(hs, shift), bootstrap=2000)  # fmt: skip
    tables = _tables(tmp_path)
    est = tables["estimates"]
    assert list(est.columns) == ESTIMATE_COLUMNS
    ref = pd.read_csv(FIXTURES / "cfa_three_estimates.csv", keep_default_na=False)
    merged = ref.merge(est, on=["lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ref) == len(est)
    assert (merged["op"] == "|").sum() == 27  # x1 | t1 ... as lavaan's rows
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=1e-5)
    np.testing.assert_allclose(merged["se"].fillna(0), merged["se_lavaan"], atol=1e-5)
    np.testing.assert_allclose(merged["std_all"], merged["std.all"], atol=1e-5)
    free = merged[merged["se_lavaan"] > 0]
    np.testing.assert_allclose(free["ci_lower"], free["est"] - 1.959964 * free["se"], atol=1e-6)
    np.testing.assert_allclose(free["z"], free["est"] / free["se"])

    fit = tables["fit"].iloc[0]
    assert list(tables["fit"].columns[: len(FIT_COLUMNS)]) == FIT_COLUMNS
    assert (fit["estimator"], fit["missing"], fit["ntotal"]) == ("WLSMV", "listwise", 301)
    lavaan = pd.read_csv(FIXTURES / "cfa_three_fit.csv").set_index("measure")["value"]
    for measure, value in lavaan.items():
        assert fit[measure.replace(".", "_")] == pytest.approx(value, abs=1e-4), measure
    assert np.isnan(fit["aic"])

    intervals = tables["intervals"]
    assert list(intervals.columns[: len(INTERVAL_COLUMNS)]) == INTERVAL_COLUMNS
    np.testing.assert_allclose(intervals["ci_upper"], est["ci_upper"])
    assert intervals["boot_ci_lower"].isna().all()
    assert tables["bootstrap"]["method"].tolist() == [NO_BOOTSTRAP]
    assert tables["modindices"].empty and tables["method_variance"].empty
    assert tables["status"][["model", "estimated", "n"]].values.tolist() == [["model", "yes", 301]]
    assert "9 items as ordered categories, fitted by WLSMV on 301 complete rows" in log
    assert "estimation.missing fiml does not apply to WLSMV" in log
    assert "no bootstrap" in log


def test_missing_answers_are_left_out_listwise_and_counted(tmp_path, hs):
    data = hs.astype(float)
    data.loc[[0, 5, 9], "x4"] = np.nan
    log = run_model_rule(tmp_path, data, syntax=THREE, estimator="wlsmv", ordered=ALL,
                         missing="listwise")  # fmt: skip
    assert "on 298 complete rows (3 rows with a missing answer left out" in log
    assert pd.read_csv(tmp_path / "fit.csv")["ntotal"].tolist() == [298]


def test_the_default_estimator_ignores_the_ordinal_declaration(tmp_path, hs):
    run_model_rule(tmp_path, hs.astype(float), syntax=THREE, ordered=ALL, missing="listwise")
    fit = pd.read_csv(tmp_path / "fit.csv")
    assert fit["estimator"].tolist() == ["ML"]
    assert not (pd.read_csv(tmp_path / "estimates.csv")["op"] == "|").any()


def _not_estimated(tmp_path) -> pd.Series:
    tables = _tables(tmp_path)
    for name in ("estimates", "fit", "intervals", "bootstrap", "modindices"):
        assert tables[name].empty, name
    status = tables["status"].iloc[0]
    assert status["estimated"] == "no"
    return status


def test_a_line_the_ordinal_engine_does_not_fit_is_a_status_row_naming_it(tmp_path, hs):
    # The job succeeds (the other models' jobs run): the model's tables are header only.
    # an item regressed on another item: lavaan reads it, the ordinal engine refuses it
    log = run_model_rule(tmp_path, hs, model="paths", syntax=THREE + "x1 ~ x4\n",
                         estimator="wlsmv", ordered=ALL)  # fmt: skip
    status = _not_estimated(tmp_path)
    assert status["reason"] == "a model the ordinal (WLSMV/ULSMV) estimator does not fit"
    assert "x1 ~ x4" in status["detail"]
    assert "model 'paths' not estimated" in log


def test_a_just_identified_model_is_a_status_row(tmp_path, hs):
    run_model_rule(tmp_path, hs, syntax="visual =~ x1 + x2 + x3\n", estimator="wlsmv",
                   ordered=ALL)  # fmt: skip
    status = _tables(tmp_path)["status"].iloc[0]
    if status["estimated"] == "no":  # the engine's fit measures need one degree of freedom
        assert status["detail"].startswith("the model has no degrees of freedom")
    else:
        assert pd.read_csv(tmp_path / "fit.csv")["df"].tolist() == [0]


def test_continuous_variables_beside_ordinal_items_are_not_fitted(tmp_path, hs):
    data = hs.assign(age=np.linspace(20, 60, len(hs)))
    run_model_rule(tmp_path, data, syntax=THREE.replace("x9", "x9 + age"), estimator="wlsmv",
                   ordered={"all": False, "items": {c: None for c in ITEMS}})  # fmt: skip
    status = _not_estimated(tmp_path)
    assert "continuous variables (age) beside ordinal items need polyserial" in status["detail"]


def test_an_observed_covariate_is_passed_to_the_engine_as_it_is(tmp_path, hs):
    # lavaan's conditional.x: a continuous covariate of a factor is no polyserial case; the
    # engine fits it or names the line it does not fit
    data = hs.assign(age=np.linspace(20, 60, len(hs)))
    data.loc[[3, 4], "age"] = np.nan
    log = run_model_rule(tmp_path, data, syntax=THREE + "speed ~ age\n", estimator="wlsmv",
                         ordered={"all": False, "items": {c: None for c in ITEMS}})  # fmt: skip
    status = _tables(tmp_path)["status"].iloc[0]
    if status["estimated"] == "no":
        assert status["reason"] == "a model the ordinal (WLSMV/ULSMV) estimator does not fit"
        assert "speed ~ age" in status["detail"]
    else:
        est = _tables(tmp_path)["estimates"]
        assert ((est["lhs"] == "speed") & (est["op"] == "~") & (est["rhs"] == "age")).sum() == 1
        assert "9 items as ordered categories and the covariates age" in log
        assert "on 299 complete rows (2 rows with a missing answer left out" in log


def test_a_model_without_ordinal_variables_under_wlsmv_is_fitted_by_ml(tmp_path, hs):
    # e.g. a model of scale scores: lavaan's WLSMV of continuous variables is not offered
    log = run_model_rule(tmp_path, hs.astype(float), syntax=THREE, estimator="wlsmv",
                         missing="listwise")  # fmt: skip
    assert "model 'model' has no ordinal variable: fitted by ML as configured, not WLSMV" in log
    assert pd.read_csv(tmp_path / "fit.csv")["estimator"].tolist() == ["ML"]


def test_a_two_level_model_of_ordinal_items_is_not_estimated(tmp_path):
    from .test_twolevel import MODELS

    data = pd.read_csv(ROOT / "tests" / "fixtures" / "twolevel" / "data.csv")
    log = run_model_rule(tmp_path, data, model="climate", syntax=MODELS["tutorial"],
                         cluster="cluster", estimator="wlsmv", ordered=ALL)  # fmt: skip
    status = _not_estimated(tmp_path)
    assert status["detail"].startswith(
        "two-level models are fitted by ML only, and 'climate' has ordinal variables"
    )
    assert "model 'climate' not estimated" in log


def test_an_ordinal_item_with_more_than_15_values_is_named(tmp_path, hs):
    data = hs.assign(x2=np.arange(len(hs)) % 20 + 1)
    run_model_rule(tmp_path, data, syntax=THREE, estimator="wlsmv", ordered=ALL)
    status = _not_estimated(tmp_path)
    assert status["reason"] == "the answers do not allow a fit of the items as ordered categories"
    assert status["detail"].startswith(
        "item x2 is declared ordinal but has 20 distinct values (at most 15 ordered categories)"
    )


def test_a_category_nobody_chose_is_left_out_as_lavaan_and_named(tmp_path, hs):
    # x6 was cut into three categories; declared with four, the fourth was chosen by nobody:
    # lavaan makes its levels from the values found, so the fit is the same.
    ordered = _declared(hs)
    ordered["items"]["x6"] = [1.0, 2.0, 3.0, 4.0]
    log = run_model_rule(tmp_path, hs, syntax=THREE, estimator="wlsmv", ordered=ordered)
    status = _tables(tmp_path)["status"].iloc[0]
    assert status["estimated"] == "yes"
    expected = (
        "categories nobody chose, left out as lavaan does (one threshold fewer): x6 category 4"
    )
    assert status["detail"].startswith(expected)
    assert "merge it with a neighbouring category" in status["detail"]
    assert expected in log
    est = _tables(tmp_path)["estimates"]
    assert est[(est["lhs"] == "x6") & (est["op"] == "|")]["rhs"].tolist() == ["t1", "t2"]
    ref = pd.read_csv(FIXTURES / "cfa_three_estimates.csv", keep_default_na=False)
    merged = ref.merge(est, on=["lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=1e-5)


def test_an_item_everybody_answered_alike_is_named(tmp_path, hs):
    run_model_rule(tmp_path, hs.assign(x5=3), syntax=THREE, estimator="wlsmv", ordered=ALL)
    status = _not_estimated(tmp_path)
    assert status["n"] == 301
    assert "item x5: every complete row has the same answer 3" in status["detail"]


def test_a_category_nobody_chose_in_one_group_names_the_group(hs):
    data = hs.assign(sector=np.where(np.arange(len(hs)) < 150, 1, 2))
    data.loc[(data["sector"] == 2) & (data["x1"] == 1), "x1"] = 2
    ordinal = OrdinalItems.from_params(_declared(hs))
    recode(hs, ITEMS, ordinal)  # fine without groups
    with pytest.raises(OrdinalDataProblem) as err:
        recode(data, ITEMS, ordinal, group="sector")
    assert "item x1: nobody in group sector = 2 chose category 1 (151 complete rows)" in str(
        err.value
    )


def test_empty_cells_of_the_bivariate_tables_are_listed_in_the_log(tmp_path, hs):
    pairs = empty_cell_pairs(hs, ITEMS)
    # as R's sum(table(x, y) == 0) per pair (tests/fixtures/ordinal_reliability: 5 and 2)
    within = {("x5", "x4"): 0, ("x6", "x4"): 0, ("x6", "x5"): 0, ("x8", "x7"): 0,
              ("x9", "x7"): 0, ("x9", "x8"): 0}  # fmt: skip
    for a, b, empty, _ in pairs:
        if (a, b) in within:
            within[a, b] += empty
    assert within[("x5", "x4")] + within[("x6", "x4")] + within[("x6", "x5")] == 5
    assert within[("x8", "x7")] + within[("x9", "x7")] + within[("x9", "x8")] == 2
    log = run_model_rule(tmp_path, hs, syntax=THREE, estimator="wlsmv", ordered=ALL)
    assert f"{len(pairs)} of 36 pairs of ordinal items have empty cells" in log
    a, b, empty, cells = pairs[0]
    assert f"{a} x {b} ({empty} of {cells} cells)" in log
    assert "Nothing is added to empty cells, as lavaan 0.6.14 does" in log


def test_ulsmv_through_the_rule_is_the_engines_ulsmv_fit(tmp_path, hs):
    # The engine's ULSMV is matched to lavaan in tests/test_ordinal.py; the rule must use it.
    from lcsurvey.sem.wlsmv import fit_wlsmv_syntax

    run_model_rule(tmp_path, hs, syntax=THREE, estimator="ulsmv", ordered=ALL)
    status = pd.read_csv(tmp_path / "status.csv").iloc[0]
    assert status["estimated"] == "yes"
    fit = pd.read_csv(tmp_path / "fit.csv").iloc[0]
    assert fit["estimator"] == "ULSMV"
    engine = fit_wlsmv_syntax(hs.dropna(), THREE, estimator="ULSMV")
    est = pd.read_csv(tmp_path / "estimates.csv")
    loadings = est[est["op"] == "=~"]["est"].to_numpy()
    expected = engine.estimates[engine.estimates["op"] == "=~"]["est"].to_numpy()
    assert np.allclose(loadings, expected, atol=1e-6)
    wlsmv = fit_wlsmv_syntax(hs.dropna(), THREE)
    assert not np.allclose(expected, wlsmv.estimates[wlsmv.estimates["op"] == "=~"]["est"])


# -- declarations ------------------------------------------------------------------------------


def _book(tmp_path, **scale_changes):
    book = copy.deepcopy(SMALL_CODEBOOK)
    for scale, changes in scale_changes.items():
        book["scales"][scale].update(changes)
    return book


def test_ordinal_items_are_the_ordinal_scales_items_and_estimation_ordered(small_codebook):
    assert ordinal_items(small_codebook, None).categories == {}
    declared = ordinal_items(small_codebook, ["a1", "age"])
    assert declared.categories["a1"] == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert len(declared.categories["age"]) == 65  # 16..80: refused by the check below
    assert ordinal_items(small_codebook, "all").of_model(["a1", "x"]) == ["a1", "x"]


def test_an_ordinal_codebook_scale_declares_its_items(tmp_path):
    path = tmp_path / "codebook.yaml"
    import yaml

    path.write_text(yaml.safe_dump(_book(tmp_path, agree5={"ordinal": True})), encoding="utf-8")
    book = load_codebook(path)
    assert book.scales["agree5"].ordinal and not book.scales["yesno"].ordinal
    assert list(ordinal_items(book, None).categories) == ["a1", "a2", "a3", "b1", "b2", "b3"]


@pytest.mark.parametrize(
    ("estimation", "expected"),
    [
        ({"estimator": "wlsmv"}, "estimation.estimator: wlsmv fits ordinal items, but no item"),
        ({"estimator": "ml", "ordered": ["a1"]}, "estimation.ordered is set but"),
        ({"ordinal_missing": "pairwise"}, "estimation.ordinal_missing is pairwise but"),
        ({"estimator": "wlsmv", "ordered": ["a9"]}, "'a9' is not an item or background"),
        ({"estimator": "wlsmv", "ordered": ["age"]}, "age is declared ordinal but its scale"),
    ],
)
def test_lcsurvey_check_reads_the_ordinal_declarations(tmp_path, estimation, expected):
    config = write_project(tmp_path, config_changes={"estimation": estimation})
    found = messages(config)
    assert any(expected in m for m in found), found


def test_lcsurvey_check_accepts_an_ordinal_scale_with_wlsmv(tmp_path):
    config = write_project(
        tmp_path,
        book=_book(tmp_path, agree5={"ordinal": True}),
        config_changes={
            "estimation": {"estimator": "wlsmv"},
            "models": {"cfa": "alpha =~ a1 + a2 + a3\nbeta =~ b1 + b2 + b3\n"},
        },
    )
    assert messages(config) == []


def test_lcsurvey_check_names_a_model_the_ordinal_fit_would_skip(tmp_path):
    # age, a continuous background variable, as an indicator beside ordinal items
    config = write_project(
        tmp_path,
        book=_book(tmp_path, agree5={"ordinal": True}),
        config_changes={
            "estimation": {"estimator": "wlsmv"},
            "models": {"small": "alpha =~ a1 + a2 + a3 + age\nbeta =~ b1 + b2 + b3\n"},
        },
    )
    assert messages(config) == [
        f"file {config}, column 'models.small': continuous variables (age) beside ordinal "
        "items need polyserial correlations, which are not fitted here: declare them ordinal, "
        "leave them out of the model, or use estimator ml"
    ]


def test_lavaans_ordered_for_the_invariance_of_a_measurement_part():
    declared = OrdinalItems({"x1": None, "x2": None, "x3": None})
    cfa = "f =~ x1 + x2 + x3\ng =~ x4\n"
    assert declared.lavaan_ordered(cfa, "ml", name="m") is False
    assert declared.lavaan_ordered(cfa, "wlsmv", name="m") == ["x1", "x2", "x3"]
    assert declared.lavaan_ordered("f =~ x1 + x2 + x3\n", "wlsmv", name="m") is True
    assert declared.lavaan_ordered("f =~ x4 + x5 + x6\n", "wlsmv", name="m") is False


def test_declaration_problems_without_a_model_of_ordinal_items(small_codebook):
    problems = declaration_problems(
        small_codebook, {"estimator": "wlsmv", "ordered": ["a1"]}, {"m": ["b1", "b2"]}
    )
    assert problems == ["field estimation.estimator: wlsmv, but no model has an ordinal item"]


# -- ordinal alpha and omega -------------------------------------------------------------------


def test_ordinal_alpha_and_omega_match_psych_and_semtools(tmp_path):
    ref = pd.read_csv(RELIABILITY / "reliability.csv")
    data = {
        "hs": pd.read_csv(FIXTURES / "hs_ordinal.csv"),
        "bfi": pd.read_csv(RELIABILITY / "bfi_keyed.csv"),
    }
    constructs = {
        "visual": ITEMS[:3],
        "textual": ITEMS[3:6],
        "speed": ITEMS[6:],
        "agreeableness": [f"A{i}" for i in range(1, 6)],
        "conscientiousness": [f"C{i}" for i in range(1, 6)],
    }
    for row in ref.itertuples():
        book = copy.deepcopy(SMALL_CODEBOOK)
        items = constructs[row.construct]
        scale = {"values": {k: [str(k)] for k in range(1, 7)}, "ordinal": True}
        book["scales"] = {"ord": scale, "yesno": SMALL_CODEBOOK["scales"]["yesno"]}
        book["background"], book["attention_checks"] = {}, {}
        book["items"] = {i: {"column": i, "scale": "ord"} for i in items}
        book["constructs"] = {row.construct: {"items": items}}
        import yaml

        path = tmp_path / f"{row.construct}.yaml"
        path.write_text(yaml.safe_dump(book), encoding="utf-8")
        table, _ = reliability_table(data[row.data][items], load_codebook(path))
        ours = table.iloc[0]
        # psych's polychoric stops its optimiser earlier than lavaan's (1e-5 in alpha)
        assert ours["ordinal_alpha"] == pytest.approx(row.ordinal_alpha, abs=2e-5)
        assert ours["ordinal_omega"] == pytest.approx(row.ordinal_omega, abs=1e-6)
        assert list(table.columns[-3:]) == ["ordinal_alpha", "ordinal_omega", "warning"]
        if row.empty_cells:  # psych's default adds 0.5 to empty cells: not what is computed
            assert abs(ours["ordinal_alpha"] - row.ordinal_alpha_psych) > 1e-3


def test_without_ordinal_scales_the_reliability_table_is_unchanged(small_codebook):
    rng = np.random.default_rng(1)
    responses = pd.DataFrame(
        rng.integers(1, 6, (60, 6)), columns=["a1", "a2", "a3", "b1", "b2", "b3"]
    )
    table, _ = reliability_table(responses.astype(float), small_codebook)
    assert "ordinal_alpha" not in table.columns


# -- the report's method box -------------------------------------------------------------------


def _wlsmv_fit_row(srmr: float = np.nan) -> pd.DataFrame:
    row = {column: np.nan for column in FIT_COLUMNS} | {
        "ntotal": 301,
        "estimator": "WLSMV",
        "missing": "listwise",
        "chisq": 50.01,
        "df": 24,
        "cfi": 0.9,
        "tli": 0.85,
        "rmsea": 0.2,
        "srmr": srmr,
        "chisq_scaled": 69.75,
        "cfi_scaled": 0.962,
        "tli_scaled": 0.943,
        "rmsea_scaled": 0.0795,
    }
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            "Estimation: WLSMV, items treated as ordered categories (polychoric correlations), "
            "missing answers: only participants with all answers (listwise); n = 301. Model fit "
            "(scaled): χ²(24) = 69.8, CFI = 0.962, TLI = 0.943, RMSEA = 0.080. The fit is "
            "acceptable",
        ),
        (
            "nl",
            "Schatting: WLSMV, items behandeld als geordende categorieën (polychorische "
            "correlaties), ontbrekende antwoorden: alleen deelnemers met alle antwoorden "
            "(listwise); n = 301. Modelfit (geschaald): χ²(24) = 69,8, CFI = 0,962, TLI = 0,943, "
            "RMSEA = 0,080.",
        ),
    ],
)
def test_the_method_box_names_the_ordinal_estimator_and_why(lang, expected):
    from lcsurvey.report.findings import fit_summary
    from lcsurvey.report.sentences import fit_sentence

    fit = fit_summary(_wlsmv_fit_row())
    assert fit["verdict"] == "acceptable"  # scaled CFI 0.962, RMSEA 0.0795; no SRMR
    assert fit_sentence(fit, lang).startswith(expected)
    with_srmr = fit_sentence(fit_summary(_wlsmv_fit_row(0.051)), lang)
    assert ", SRMR = 0" in with_srmr


def test_the_method_box_says_why_an_ordinal_fit_is_not_cluster_robust():
    from lcsurvey.report.sentences import nesting_phrase

    nest = {"configured": True, "clustered": False, "communities": 24, "missing": 0,
            "bootstrap": False, "reason": "ordinal"}  # fmt: skip
    assert nesting_phrase(nest, "en") == (
        "; participants treated as independent (no cluster-robust standard errors for ordered "
        "categories)"
    )


def test_nested_models_fitted_by_wlsmv_get_no_difference_test_from_fit_csv():
    from lcsurvey.study.nested import nested_table

    fits = {"r": _wlsmv_fit_row().assign(df=26), "g": _wlsmv_fit_row()}
    row = nested_table([{"restricted": "r", "general": "g"}], fits).iloc[0]
    assert np.isnan(row["delta_chisq"])
    assert row["note"].startswith("no difference test: r, g fitted by WLSMV/WLSMV")


def test_findings_say_an_ordinal_fit_treats_participants_as_independent():
    from types import SimpleNamespace

    from lcsurvey.report.findings import nesting

    clustering = SimpleNamespace(active=True, variable="community", clusters=24, missing=0,
                                 reason=None)  # fmt: skip
    inputs = SimpleNamespace(clustering=clustering, fit=_wlsmv_fit_row(), bootstrap=None)
    assert nesting(inputs)["reason"] == "ordinal"
    ml = _wlsmv_fit_row().assign(estimator="ML")
    assert nesting(SimpleNamespace(clustering=clustering, fit=ml, bootstrap=None))["reason"] is None


def test_lcsurvey_check_notes_a_model_fitted_by_ml_under_wlsmv(tmp_path):
    from lcsurvey.pipeline.check import check_project

    config = write_project(
        tmp_path,
        book=_book(tmp_path, agree5={"ordinal": True}),
        config_changes={
            "estimation": {"estimator": "wlsmv"},
            "models": {"cfa": "alpha =~ a1 + a2 + a3\n", "scores": "alpha =~ age\n"},
        },
    )
    report = check_project(config)
    assert report.problems == []
    assert "model 'scores' has no ordinal variable: fitted by ML as configured, not WLSMV" in (
        report.notes
    )


# -- estimation.ordinal_missing: pairwise ------------------------------------------------------

PATHS = THREE + "textual ~ a*visual\nspeed ~ b*textual\nx1 ~~ x9\nind := a*b\n"


def test_pairwise_missing_through_the_model_rule_matches_lavaan(tmp_path):
    # hs_ordinal_na.csv: every item misses a different set of rows, 301 rows with an answer
    # (tests/test_ordinal.py matches the engine's pairwise fit to lavaan on the same file).
    holed = pd.read_csv(FIXTURES / "hs_ordinal_na.csv")
    complete = int(holed.notna().all(axis=1).sum())
    log = run_model_rule(tmp_path, holed, syntax=PATHS, estimator="wlsmv",
                         ordered=_declared(holed), ordinal_missing="pairwise")  # fmt: skip
    tables = _tables(tmp_path)
    ref = pd.read_csv(FIXTURES / "sem_paths_pairwise_estimates.csv", keep_default_na=False)
    ref = ref.replace({"NA": np.nan}).astype({"est": float, "se": float})
    merged = ref.merge(tables["estimates"], on=["lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    assert len(merged) == len(ref) == len(tables["estimates"])
    assert merged.loc[merged["op"] == ":=", "rhs"].tolist() == ["a*b"]
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=1e-5)
    free = merged["se_lavaan"] > 0
    np.testing.assert_allclose(merged.loc[free, "se"], merged.loc[free, "se_lavaan"], atol=1e-5)
    fit = tables["fit"].iloc[0]
    assert (fit["missing"], fit["ntotal"]) == ("pairwise", 301)
    lavaan = pd.read_csv(FIXTURES / "sem_paths_pairwise_fit.csv").set_index("measure")["value"]
    for measure in ("chisq", "chisq.scaled", "cfi.scaled", "rmsea.scaled", "srmr"):
        assert fit[measure.replace(".", "_")] == pytest.approx(lavaan[measure], abs=1e-5)
    assert tables["status"][["estimated", "n"]].values.tolist() == [["yes", 301]]
    given = int(holed.notna().to_numpy().sum())
    assert (
        f"fitted by WLSMV on 301 rows with at least one answer, pairwise as lavaan's missing = "
        f'"pairwise" (estimation.ordinal_missing): {given} of {301 * 9} answers given, '
        f"{complete} complete rows" in log
    )
    assert "the answers are used pairwise (estimation.ordinal_missing)" in log
    # the default stays listwise: fewer rows, another fit
    run_model_rule(tmp_path, holed, syntax=PATHS, estimator="wlsmv", ordered=_declared(holed))
    fit = pd.read_csv(tmp_path / "fit.csv").iloc[0]
    assert (fit["missing"], fit["ntotal"]) == ("listwise", complete)


def test_pairwise_checks_categories_on_the_answers_there_are(hs):
    data = hs.astype(float)
    data.loc[data["x5"] == 1, "x5"] = np.nan  # nobody left with category 1 of x5
    data.loc[0, :] = np.nan  # a row without any answer
    ordinal = OrdinalItems.from_params(_declared(hs))
    recoded = recode(data, ITEMS, ordinal, missing="pairwise")
    assert len(recoded.data) == 300 and recoded.dropped == 1
    assert recoded.unused == {"x5": (1.0,)}
    assert recoded.missing_answers == int(data.iloc[1:].isna().to_numpy().sum())
    assert recoded.data["x5"].min() == 1  # numbered 1..K over the categories chosen
    listwise = recode(data, ITEMS, ordinal)
    assert len(listwise.data) == int(data.notna().all(axis=1).sum()) < 300
    data.loc[data["x2"] != 2, "x2"] = np.nan
    with pytest.raises(OrdinalDataProblem, match="item x2: every answer is 2"):
        recode(data, ITEMS, ordinal, missing="pairwise")
    # a pair's table counts the rows that answered both
    codes = recoded.data.copy()
    codes.loc[codes["x1"] == 1, "x4"] = np.nan  # x1 = 1 never meets an answer to x4
    pairs = {(a, b): (e, c) for a, b, e, c in empty_cell_pairs(codes, ITEMS)}
    table = pd.crosstab(codes["x4"], codes["x1"])  # the rows with both answers
    cells = int(codes["x4"].max() * codes["x1"].max())
    assert pairs[("x4", "x1")] == (cells - int((table > 0).to_numpy().sum()), cells)
    assert pairs[("x4", "x1")][0] >= codes["x4"].max()  # the column x1 = 1 at least


# -- the threshold invariance levels as the report and the changes across waves read them ------


def _ordinal_levels(thresholds: str, loadings: str, intercepts: str) -> pd.DataFrame:
    """An invariance table as lcsurvey.sem.wlsmv_groups.ordinal_invariance writes it."""
    return pd.DataFrame(
        {
            "groups": "wave",
            "group_values": "w1;w2",
            "level": [
                "configural",
                "thresholds",
                "thresholds_loadings",
                "thresholds_loadings_intercepts",
            ],  # fmt: skip
            "decision": [np.nan, thresholds, loadings, intercepts],
            "delta_cfi": [np.nan, -0.001, -0.004, -0.03],
            "delta_rmsea": [np.nan, 0.002, 0.003, 0.02],
            "estimator": "WLSMV",
        }
    )


@pytest.mark.parametrize(
    ("decisions", "level", "delta_cfi", "comparable"),
    [
        (("holds", "holds", "holds"), "scalar", -0.03, "yes"),
        (("holds", "holds", "rejected"), "metric", -0.03, "partly (metric)"),
        (("holds", "rejected", np.nan), "none", -0.004, "no"),
        # thresholds that differ: loadings and intercepts are not compared on them
        (("rejected", "holds", "holds"), "none", -0.001, "no"),
    ],
)
def test_the_report_reads_the_ordinal_invariance_levels(decisions, level, delta_cfi, comparable):
    from lcsurvey.report.findings import invariance_summary
    from lcsurvey.study.waves import comparability_tests, interpreted

    table = _ordinal_levels(*decisions)
    summary = invariance_summary(table)
    assert (summary["level"], summary["delta_cfi"]) == (level, delta_cfi)
    verdict = comparability_tests(table, {"f": ["a1", "a2"]}, {"alpha": ["a1", "a2"]},
                                  ["w1", "w2"])[("alpha", "w1", "w2")]  # fmt: skip
    assert verdict == (comparable, "multigroup", "")
    # means are interpreted under equal thresholds, loadings and intercepts only
    assert interpreted(verdict[0]) == (level == "scalar")
    assert list(table["level"])[-1] == "thresholds_loadings_intercepts"  # left as it was
