"""Longitudinal measurement invariance (lcsurvey.sem.longitudinal) against semTools 0.5.6's
measEq.syntax(longFacNames = , longIndNames = , long.equal = ) fitted by lavaan 0.6.14 on
semTools::exLong; the fixtures come from tests/fixtures/longitudinal/make_fixtures.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.errors import InputError
from lcsurvey.sem.longitudinal import (
    column_name,
    fit_longitudinal,
    long_layout,
    longitudinal_table,
)

HERE = Path(__file__).parent / "fixtures" / "longitudinal"
FACTORS = {"FU": ["y1", "y2", "y3"]}
MEASURES = ["npar", "chisq", "df", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper"]
MEASURES += ["srmr", "aic", "bic", "delta_chisq", "delta_df", "delta_pvalue"]


def _wide(data: pd.DataFrame, occasions: list[str]) -> pd.DataFrame:
    wide = pd.DataFrame(
        {column_name(f"y{i}", o): data[f"y{i}t{o}"] for o in occasions for i in (1, 2, 3)}
    )
    if "cl" in data.columns:
        wide["cl"] = data["cl"]
    return wide


@pytest.mark.parametrize("occasions", [["1", "2", "3"], ["1", "2"]])
def test_levels_match_lavaan_on_exlong(occasions):
    data = pd.read_csv(HERE / "exLong.csv")
    result = fit_longitudinal(_wide(data, occasions), FACTORS, occasions, missing="listwise")
    table = longitudinal_table(result).set_index("level")
    expected = pd.read_csv(HERE / "exLong_fit.csv")
    expected = expected[expected["times"] == len(occasions)].set_index("level")
    assert list(table.index) == ["configural", "metric", "scalar"]
    for level, row in expected.iterrows():
        for column in MEASURES:
            want = row[column]
            got = table.loc[level, column]
            if pd.isna(want):
                assert pd.isna(got), (level, column)
            else:
                assert float(got) == pytest.approx(want, abs=1e-3, rel=1e-4), (level, column)
    assert table.loc["metric", "decision"] == "holds"
    assert table.loc["scalar", "decision"] == "rejected"  # exLong's intercepts drift over time
    assert table.loc["scalar", "delta_method"] == "standard"
    assert table.loc["scalar", "group_values"] == ";".join(occasions)


def test_fiml_with_clusters_matches_lavaan_mlr():
    data = pd.read_csv(HERE / "exLong_missing.csv")
    assert data.isna().any().any()
    result = fit_longitudinal(
        _wide(data, ["1", "2"]), FACTORS, ["1", "2"], missing="fiml", cluster="cl"
    )
    table = longitudinal_table(result).set_index("level")
    expected = pd.read_csv(HERE / "exLong_missing_fit.csv").set_index("level")
    columns = ["npar", "chisq", "df", "cfi", "rmsea", "srmr", "chisq_scaled"]
    columns += ["chisq_scaling_factor", "pvalue_scaled", "delta_chisq", "delta_df"]
    for level, row in expected.iterrows():
        for column in columns:
            if pd.isna(row[column]):
                assert pd.isna(table.loc[level, column]), (level, column)
            else:
                got = float(table.loc[level, column])
                assert got == pytest.approx(row[column], abs=1e-3), (level, column)
    assert table.loc["metric", "delta_method"] == "satorra.bentler.2001"
    assert table.loc["scalar", "nclusters"] == 40


def test_layout_shares_loadings_and_intercepts_across_occasions_only():
    factors = {"a": ["x1", "x2"], "b": ["x3", "x4", "x5"]}
    configural, columns, latents = long_layout("configural", factors, ["t1", "t2"])
    metric = long_layout("metric", factors, ["t1", "t2"])[0]
    scalar = long_layout("scalar", factors, ["t1", "t2"])[0]
    assert columns[:2] == ["x1@t1", "x2@t1"] and columns[5] == "x1@t2"
    assert latents == ["a@t1", "b@t1", "a@t2", "b@t2"]
    # configural: 3 free loadings per occasion, 10 residual variances and intercepts, Psi of
    # 4 factors (10), 5 residual covariances across occasions.
    assert configural.q == 2 * 3 + 10 + 10 + 10 + 5
    assert metric.q == configural.q - 3
    assert scalar.q == metric.q - 5 + 2  # intercepts shared, latent means at t2 free
    lam = metric.groups[0].lam
    assert lam[6, 2] == lam[1, 0] >= 0  # x2's loading on a, the same at both occasions
    assert (scalar.groups[0].alpha >= 0).tolist() == [False, False, True, True]
    pairs = {(i, j) for i, j, _ in configural.groups[0].resid_cov}
    assert pairs == {(i, i + 5) for i in range(5)}


def test_strict_level_equal_residual_variances():
    data = pd.read_csv(HERE / "exLong.csv")
    result = fit_longitudinal(
        _wide(data, ["1", "2"]), FACTORS, ["1", "2"], missing="listwise", strict=True
    )
    table = longitudinal_table(result).set_index("level")
    assert table.loc["strict", "df"] == table.loc["scalar", "df"] + 3
    assert table.loc["strict", "chisq"] >= table.loc["scalar", "chisq"] - 1e-8
    assert table.loc["strict", "decision"] in ("holds", "rejected")


def test_missing_columns_and_single_occasion_are_clear_errors():
    data = _wide(pd.read_csv(HERE / "exLong.csv"), ["1", "2"])
    with pytest.raises(InputError, match=r"y3@2"):
        fit_longitudinal(data.drop(columns="y3@2"), FACTORS, ["1", "2"])
    with pytest.raises(InputError, match="at least two occasions"):
        fit_longitudinal(data, FACTORS, ["1"])
    with pytest.raises(InputError, match="fewer than two indicators"):
        fit_longitudinal(data, {"FU": ["y1"]}, ["1", "2"])


def test_fiml_counts_a_person_who_skipped_one_occasion():
    data = _wide(pd.read_csv(HERE / "exLong.csv"), ["1", "2"])
    data.loc[:19, ["y1@2", "y2@2", "y3@2"]] = np.nan
    fiml = fit_longitudinal(data, FACTORS, ["1", "2"], missing="fiml")
    listwise = fit_longitudinal(data, FACTORS, ["1", "2"], missing="listwise")
    assert fiml.measures["configural"]["ntotal"] == 200
    assert listwise.measures["configural"]["ntotal"] == 180


def _waves(shift: float = 0.0, returners: int = 120, seed: int = 7):
    """Two waves of a two-factor questionnaire; `returners` persons answer both (their
    answers at the second wave share their factor scores), the rest are new."""
    rng = np.random.default_rng(seed)
    n = 200
    factor = rng.normal(size=(n, 2))
    loadings = np.array([1.0, 0.8, 0.7, 0.9])

    def answers(f, noise_seed):
        noise = np.random.default_rng(noise_seed).normal(scale=0.6, size=(len(f), 8))
        x = np.hstack([f[:, [0]] * loadings, f[:, [1]] * loadings]) + noise
        return pd.DataFrame(
            x, columns=[f"a{i}" for i in range(1, 5)] + [f"b{i}" for i in range(1, 5)]
        )

    first = answers(factor, 1).assign(rid=[f"p{i}" for i in range(n)], community=np.arange(n) % 20)
    later_factor = 0.7 * factor + 0.5 * rng.normal(size=(n, 2))
    second = answers(later_factor, 2)
    second.iloc[:, 4] += shift  # b1's intercept moves at the second wave
    ids = [f"p{i}" if i < returners else f"new{i}" for i in range(n)]
    second = second.assign(rid=ids, community=np.arange(n) % 20)
    return {"w1": first, "w2": second}


SYNTAX = "fa =~ a1 + a2 + a3 + a4\nfb =~ b1 + b2 + b3 + b4\nfb ~ fa\n"


def test_study_table_per_factor_and_pair_of_waves():
    from lcsurvey.study.invariance import LONGITUDINAL_COLUMNS, longitudinal_invariance

    table = longitudinal_invariance(_waves(), SYNTAX, model="m", cluster="community")
    assert list(table.columns) == LONGITUDINAL_COLUMNS
    assert table["factor"].tolist() == ["fa"] * 3 + ["fb"] * 3
    assert set(table["group_values"]) == {"w1;w2"}
    assert set(table["ntotal"]) == {120}  # the returners only
    assert set(table["nclusters"]) == {20}
    assert set(table.loc[table["level"] != "configural", "decision"]) == {"holds"}
    moved = longitudinal_invariance(_waves(shift=1.5), SYNTAX, model="m")
    fb = moved[moved["factor"] == "fb"].set_index("level")
    assert fb.loc["metric", "decision"] == "holds" and fb.loc["scalar", "decision"] == "rejected"
    assert fb.loc["scalar", "delta_pvalue"] < 0.001
    assert (moved[moved["factor"] == "fa"]["decision"].iloc[1:] == "holds").all()


def test_study_table_says_when_too_few_returned():
    from lcsurvey.study.invariance import longitudinal_invariance

    table = longitudinal_invariance(_waves(returners=8), SYNTAX, model="m", min_cell=10)
    assert table["level"].tolist() == ["", ""]
    assert table["note"].str.contains("8 returners, fewer than 10").all()
    none = longitudinal_invariance(_waves(), "y ~ x\n", model="m")
    assert "no measurement part" in none["note"].iloc[0]
