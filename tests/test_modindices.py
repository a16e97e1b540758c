"""Modification indices and expected parameter changes against lavaan 0.6.14's modindices().

The fixtures (tests/fixtures/modindices/) come from make_modindices_fixtures.R beside them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem import modindices
from lcsurvey.sem.model import fit_model
from lcsurvey.sem.modindices import MODINDICES_COLUMNS, candidates, modification_indices

HERE = Path(__file__).parent / "fixtures"
REFERENCE = pd.read_csv(HERE / "modindices" / "modindices.csv")
HS = pd.read_csv(HERE / "r" / "holzinger_swineford.csv")
HS_MISSING = pd.read_csv(HERE / "r" / "fiml_holzinger_swineford.csv").assign(
    team=lambda d: np.arange(len(d)) // 10
)
POLITICAL_DEMOCRACY = pd.read_csv(HERE / "modindices" / "political_democracy.csv")

HS_MODEL = "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
PD_MODEL = """
  ind60 =~ x1 + x2 + x3
  dem60 =~ y1 + y2 + y3 + y4
  dem65 =~ y5 + y6 + y7 + y8
  dem60 ~ ind60
  dem65 ~ ind60 + dem60
  y1 ~~ y5
  y2 ~~ y4 + y6
"""
HS_X_MODEL = (
    "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n visual ~ ageyr + sex\n textual ~ visual"
)
CASES = {
    "hs_listwise": (HS_MODEL, HS, {"missing": "listwise"}),
    "hs_fiml": (HS_MODEL, HS_MISSING, {"missing": "fiml"}),
    "hs_fiml_mlr_cluster": (HS_MODEL, HS_MISSING, {"missing": "fiml", "cluster": "team"}),
    "hs_listwise_mlr": (HS_MODEL, HS, {"missing": "listwise", "se": "robust"}),
    "pd_listwise": (PD_MODEL, POLITICAL_DEMOCRACY, {"missing": "listwise"}),
    "hs_observed_x": (HS_X_MODEL, HS, {"missing": "listwise"}),
}


def _indices(case: str) -> pd.DataFrame:
    syntax, data, options = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 31 clusters for 30 parameters: lavaan warns too
        return modification_indices(fit_model(syntax, data, **options))


@pytest.mark.parametrize("case", list(CASES))
def test_modification_indices_match_lavaan(case):
    ours = _indices(case)
    theirs = REFERENCE[REFERENCE["case"] == case].drop(columns="case")
    assert list(ours.columns) == MODINDICES_COLUMNS
    # The same candidates, as lavaan keeps them (identified once freed).
    assert sorted(map(tuple, ours[["lhs", "op", "rhs"]].to_numpy())) == sorted(
        map(tuple, theirs[["lhs", "op", "rhs"]].to_numpy())
    )
    both = theirs.merge(ours, on=["lhs", "op", "rhs"], suffixes=("_lavaan", ""))
    for column in MODINDICES_COLUMNS[3:]:
        np.testing.assert_allclose(
            both[column], both[f"{column}_lavaan"], atol=1e-3, err_msg=column
        )
    assert ours["mi"].is_monotonic_decreasing


def test_visual_on_x9_is_the_largest_index_of_the_holzinger_swineford_cfa():
    top = _indices("hs_listwise").iloc[0]
    assert (top["lhs"], top["op"], top["rhs"]) == ("visual", "=~", "x9")
    assert top["mi"] == pytest.approx(36.411, abs=1e-3)
    assert top["epc"] == pytest.approx(0.577, abs=1e-3)


def test_robust_and_cluster_fits_give_the_indices_of_the_plain_fit():
    """lavaan's modindices uses the expected information, not the robust one."""
    plain, clustered = _indices("hs_fiml"), _indices("hs_fiml_mlr_cluster")
    pd.testing.assert_frame_equal(plain, clustered, atol=1e-8)


def test_candidates_leave_out_the_free_parameters_and_the_observed_regressors():
    fitted = fit_model(HS_X_MODEL, HS, missing="listwise")
    keys = candidates(fitted)
    assert ("visual", "~", "ageyr") not in keys  # a free parameter
    assert ("visual", "=~", "ageyr") not in keys  # an observed regressor
    assert ("ageyr", "~", "sex") not in keys  # two fixed observed regressors
    assert ("x1", "~~", "ageyr") not in keys  # a covariance with a variable that is no indicator
    assert ("textual", "~", "ageyr") in keys and ("x1", "~~", "x4") in keys


def test_a_singular_information_matrix_gives_an_empty_table_and_a_warning(monkeypatch):
    fitted = fit_model(HS_MODEL, HS, missing="listwise")

    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(modindices, "_efficient_information", singular)
    with pytest.warns(RuntimeWarning, match="information matrix is singular"):
        table = modification_indices(fitted)
    assert table.empty and list(table.columns) == MODINDICES_COLUMNS
