"""Multi-group WLSMV and the Wu-Estabrook (2016) threshold invariance levels against lavaan
0.6.14 and semTools 0.5.6's measEq.syntax (fixtures in tests/fixtures/ordinal_groups, made by
make_fixture.R there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from lcsurvey.errors import InputError
from lcsurvey.sem.invariance import COLUMNS
from lcsurvey.sem.wlsmv_groups import (
    EXTRA_COLUMNS,
    LEVELS,
    difference_test,
    estimates_table,
    fit_ordinal_invariance,
    ordinal_invariance,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ordinal_groups"
SETS = {
    "hs": (
        "hs_school.csv",
        "school",
        {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]},
    ),
    "datcat": (
        "datcat.csv",
        "g",
        {"FU1": ["u1", "u2", "u3", "u4"], "FU2": ["u5", "u6", "u7", "u8"]},
    ),
    # Three groups, C5 binary (measEq.syntax's rule for one threshold).
    "bfi": (
        "bfi_age.csv",
        "agegroup",
        {"agree": [f"A{i}" for i in range(1, 6)], "consc": [f"C{i}" for i in range(1, 6)]},
    ),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Small matrices: BLAS threads only contend for the cores (the pipeline runs with one).
    with threadpool_limits(limits=1):
        yield


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / SETS[name][0])


@pytest.fixture(scope="module", params=list(SETS))
def fitted(request):
    name = request.param
    file, group, factors = SETS[name]
    data = _data(name)
    # lavaan orders the groups as they first appear in the data.
    order = list(dict.fromkeys(data[group].dropna()))
    return name, fit_ordinal_invariance(data, factors, group, group_order=order)


def test_fit_measures_match_lavaan(fitted) -> None:
    name, result = fitted
    assert not result.errors
    for level in LEVELS:
        ref = pd.read_csv(FIXTURES / f"{name}_std.lv_{level}_fit.csv")
        ref = dict(zip(ref.measure.str.replace(".", "_"), ref.value, strict=True))
        got = result.fits[level].fit
        for key in ("npar", "df", "df_scaled", "baseline_df"):
            assert got[key] == ref[key], (level, key)
        for key in ("chisq", "chisq_scaled", "baseline_chisq", "baseline_chisq_scaled"):
            assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-4), (level, key)
        for key in ref:
            if key.startswith(("cfi", "tli", "rmsea", "srmr", "pvalue", "chisq_scaling")):
                assert got[key] == pytest.approx(ref[key], abs=1e-6), (level, key)


def test_estimates_and_standard_errors_match_lavaan(fitted) -> None:
    name, result = fitted
    for level in LEVELS:
        ours = estimates_table(result.fits[level])
        ref = pd.read_csv(FIXTURES / f"{name}_std.lv_{level}_estimates.csv")
        ref = ref.rename(columns={"group_value": "group"}).fillna({"rhs": ""})
        both = ref.merge(ours, on=["group", "lhs", "op", "rhs"], suffixes=("_r", ""))
        # Every lavaan row is there (loadings, thresholds, intercepts, scales, means,
        # (co)variances, residual variances), and no other.
        assert len(both) == len(ref) == len(ours), level
        np.testing.assert_allclose(both.est, both.est_r, atol=5e-5, err_msg=level)
        np.testing.assert_allclose(both.se, both.se_r, atol=1e-5, err_msg=level)


def test_difference_tests_match_lavtestlrt(fitted) -> None:
    name, result = fitted
    ref = pd.read_csv(FIXTURES / f"{name}_std.lv_lrt.csv")
    for k, row in enumerate(ref.itertuples()):
        got = difference_test(result.fits[LEVELS[k]], result.fits[LEVELS[k + 1]])
        assert row.level == LEVELS[k + 1]
        assert got["delta_df"] == row.delta_df
        assert got["delta_chisq"] == pytest.approx(row.delta_chisq, abs=1e-5)
        assert got["delta_pvalue"] == pytest.approx(row.delta_pvalue, abs=1e-7)
        assert got["delta_method"] == row.method == "satorra.2000"


def test_equal_labels_hold_equal_values(fitted) -> None:
    name, result = fitted
    est = estimates_table(result.fits["thresholds_loadings"])
    shared = est[(est.label != "") & ~est.label.str.contains(r"\.g\d+$")]
    spread = shared.groupby("label").est.agg(lambda v: v.max() - v.min())
    assert set(shared.op) == {"=~", "|"}
    assert spread.max() < 1e-12


def test_invariance_table_rows_and_decisions() -> None:
    file, group, factors = SETS["hs"]
    data = _data("hs")
    table = ordinal_invariance(
        data, factors, group, order=[("Pasteur", "Pasteur"), ("Grant-White", "Grant-White")]
    )
    assert list(table.columns) == [*COLUMNS, *EXTRA_COLUMNS]
    assert list(table.level) == list(LEVELS)
    assert set(table.estimator) == {"WLSMV"}
    assert (table.ntotal == 301).all()
    lrt = pd.read_csv(FIXTURES / "hs_std.lv_lrt.csv")
    np.testing.assert_allclose(table.delta_chisq[1:], lrt.delta_chisq, atol=1e-5)
    fit = pd.read_csv(FIXTURES / "hs_std.lv_thresholds_loadings_intercepts_fit.csv")
    fit = dict(zip(fit.measure, fit.value, strict=True))
    last = table.iloc[3]
    assert last.cfi_scaled == pytest.approx(fit["cfi.scaled"], abs=1e-6)
    assert last.cfi == pytest.approx(fit["cfi"], abs=1e-6)
    # Chen's verdicts are taken on the scaled CFI and RMSEA.
    assert table.delta_cfi[3] == pytest.approx(table.cfi_scaled[3] - table.cfi_scaled[2])
    assert table.delta_rmsea[1] == pytest.approx(table.rmsea_scaled[1] - table.rmsea_scaled[0])
    # Scaled CFI drops by 0.030 with equal intercepts: rejected; the other two hold.
    assert list(table.decision) == ["", "holds", "holds", "rejected"]
    assert "scaled" in table.rule[1] and table.rule[0] == ""


def test_ordinal_codes_need_not_start_at_one() -> None:
    file, group, factors = SETS["datcat"]
    data = _data("datcat")
    shifted = data.assign(**{c: data[c] * 10 for c in data.columns if c.startswith("u")})
    order = [("male", "male"), ("female", "female")]
    a = ordinal_invariance(data, factors, group, order=order)
    b = ordinal_invariance(shifted, factors, group, order=order)
    np.testing.assert_allclose(a.chisq_scaled, b.chisq_scaled, rtol=1e-12)


def test_category_nobody_chose_in_a_group_is_refused() -> None:
    file, group, factors = SETS["hs"]
    data = _data("hs")
    data.loc[(data.school == "Pasteur") & (data.x5 == 5), "x5"] = 4
    data.loc[(data.school == "Grant-White") & (data.x1 < 3), "x1"] = 3
    with pytest.raises(InputError) as err:
        fit_ordinal_invariance(data, factors, group)
    text = str(err.value)
    # Every empty category at once, with its item and group.
    assert "ordinal item x1: nobody in group Grant-White of school chose 1, 2" in text
    assert "ordinal item x5: nobody in group Pasteur of school chose 5" in text
    assert "collapse" in text
    table = ordinal_invariance(data, factors, group)
    assert len(table) == 1 and table.level[0] == ""
    assert "nobody in group Pasteur of school chose 5" in table.note[0]


def test_small_groups_are_left_out_with_a_note() -> None:
    file, group, factors = SETS["hs"]
    table = ordinal_invariance(_data("hs"), factors, group, min_size=150)
    assert len(table) == 1
    assert "Grant-White left out: 145 respondents" in table.note[0]


def test_study_layer_uses_wlsmv_for_ordinal_items() -> None:
    from lcsurvey.study.invariance import model_invariance_tables

    syntax = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    frames = {"w1": _data("hs")}
    table, scores = model_invariance_tables(frames, syntax, "school", ordered=True)
    assert list(table.level) == list(LEVELS) and scores.empty
    # Sorted groups: Grant-White is the reference here, the fit does not depend on it.
    assert table.group_values[0] == "Grant-White;Pasteur"
    fit = pd.read_csv(FIXTURES / "hs_std.lv_thresholds_fit.csv")
    scaled = fit.value[fit.measure == "chisq.scaled"].item()
    assert table.chisq_scaled[1] == pytest.approx(scaled, rel=1e-6)
    mixed, _ = model_invariance_tables(frames, syntax, "school", ordered=["x1", "x2"])
    assert len(mixed) == 1 and "not ordinal" in mixed.note[0]
    plain, _ = model_invariance_tables(frames, syntax, "school", score=False)
    assert list(plain.level) == ["configural", "metric", "scalar"]


def test_a_level_that_cannot_be_estimated_is_a_row_with_a_note(monkeypatch) -> None:
    from lcsurvey.sem import wlsmv_groups

    file, group, factors = SETS["datcat"]
    real = wlsmv_groups._minimise

    def stuck(model, groups, x, max_iter=300):
        if any(e.kind == "alpha" and e.label for e in model.entries):
            return real(model, groups, x, max_iter=1)
        return real(model, groups, x, max_iter)

    monkeypatch.setattr(wlsmv_groups, "_minimise", stuck)
    table = ordinal_invariance(_data("datcat"), factors, group)
    assert list(table.level) == list(LEVELS)
    last = table.iloc[3]
    assert np.isnan(last.chisq) and last.decision == ""
    assert "cannot be estimated (no convergence in 1 Gauss-Newton steps)" in last.note
    assert table.decision[2] in ("holds", "rejected")


def test_negative_residual_variances_are_named() -> None:
    import dataclasses

    from lcsurvey.sem.wlsmv_groups import negative_variances

    file, group, factors = SETS["datcat"]
    result = fit_ordinal_invariance(_data("datcat"), factors, group, group_order=["male", "female"])
    fit = result.fits["configural"]
    assert negative_variances(fit) == []
    labels = fit.model.labels()
    x = fit.x.copy()
    x[labels.index("lambda.1_1.g2")] = 1.2  # u1's loading in the second group
    assert negative_variances(dataclasses.replace(fit, x=x)) == [
        "negative residual variance of u1 in group female"
    ]


# -- missing = "pairwise" (make_pairwise_fixture.R) ------------------------------------------


def test_pairwise_missing_matches_lavaan() -> None:
    # Every item misses a different set of rows: each group's thresholds come from the item's
    # answers and its polychorics from each pair's, as lavaan's missing = "pairwise".
    file, group, factors = SETS["hs"]
    data = pd.read_csv(FIXTURES / "hs_school_na.csv")
    assert data[list(sum(factors.values(), []))].notna().all(axis=1).sum() < len(data)
    order = list(dict.fromkeys(data[group]))
    result = fit_ordinal_invariance(data, factors, group, group_order=order, missing="pairwise")
    assert not result.errors
    assert [gs.n for gs in result.groups] == [156, 145]  # lavInspect(fit, "nobs")
    for level in LEVELS:
        ref = pd.read_csv(FIXTURES / f"hs_pairwise_{level}_fit.csv")
        ref = dict(zip(ref.measure.str.replace(".", "_"), ref.value, strict=True))
        got = result.fits[level].fit
        for key in ("npar", "df", "baseline_df"):
            assert got[key] == ref[key], (level, key)
        for key in ("chisq", "chisq_scaled", "baseline_chisq", "baseline_chisq_scaled"):
            assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-4), (level, key)
        for key in ("cfi", "tli", "rmsea", "cfi_scaled", "tli_scaled", "rmsea_scaled", "srmr"):
            assert got[key] == pytest.approx(ref[key], abs=1e-6), (level, key)
        ours = estimates_table(result.fits[level])
        est = pd.read_csv(FIXTURES / f"hs_pairwise_{level}_estimates.csv")
        est = est.rename(columns={"group_value": "group"}).fillna({"rhs": ""})
        both = est.merge(ours, on=["group", "lhs", "op", "rhs"], suffixes=("_r", ""))
        assert len(both) == len(est) == len(ours), level
        np.testing.assert_allclose(both.est, both.est_r, atol=5e-5, err_msg=level)
        np.testing.assert_allclose(both.se, both.se_r, atol=1e-5, err_msg=level)
    table = ordinal_invariance(
        data, factors, group, order=[(v, v) for v in order], missing="pairwise"
    )
    assert (table.ntotal == 301).all()
    lrt = pd.read_csv(FIXTURES / "hs_pairwise_lrt.csv")
    np.testing.assert_allclose(table.delta_chisq[1:], lrt.delta_chisq, atol=1e-5)
    np.testing.assert_allclose(table.delta_pvalue[1:], lrt.delta_pvalue, atol=1e-7)
    listwise = ordinal_invariance(data, factors, group, order=[(v, v) for v in order])
    assert (listwise.ntotal < 301).all()
