"""Common-method checks against lavaan 0.6.14 and psych 2.2.9: Harman's single-factor test and
the unmeasured latent method factor (ULMC).

Reference numbers: tests/fixtures/method_variance/make_method_variance_fixtures.R (lavaan's
HolzingerSwineford1939 and psych's bfi; versions.csv beside it). The project promises 1e-3;
largest differences seen: 2.4e-7 (minres share, HS), 5e-6 (ULMC paths, bfi).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.sem.method_variance import (
    METHOD_VARIANCE_COLUMNS,
    first_component_share,
    first_factor_share,
    harman_rows,
    method_factor_syntax,
    method_variance_table,
    pairwise_correlations,
)
from lcsurvey.sem.model import fit_model
from lcsurvey.survey.codebook import load_codebook

from .conftest import ROOT, run_model_rule

FIXTURES = ROOT / "tests" / "fixtures" / "method_variance"
TOL = 1e-3
HS_MODEL = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ a*visual
speed ~ b*visual + c*textual
"""
BFI_MODEL = """
agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
extra =~ E1 + E2 + E3 + E4 + E5
agree ~ a*extra
consc ~ b*agree + c*extra
"""
ITEMS = {"hs": [f"x{i}" for i in range(1, 10)]}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name.removesuffix('_listwise')}.csv")


def _values(table: pd.DataFrame, **where) -> pd.Series:
    keep = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        keep &= table[column] == value
    return table.loc[keep, "value"]


@pytest.mark.parametrize("data", ["hs", "hs_missing", "bfi"])
def test_harman_shares_match_psych_principal_and_minres_fa(data):
    reference = pd.read_csv(FIXTURES / "harman.csv").set_index("data").loc[data]
    corr = pairwise_correlations(_data(data).filter(regex=r"^[xACE]\d$"))
    assert first_component_share(corr) == pytest.approx(reference["first_component_share"], abs=TOL)
    assert first_factor_share(corr) == pytest.approx(reference["first_factor_share"], abs=TOL)
    # One factor takes less than one component: the component also takes unique variance.
    assert first_factor_share(corr) < first_component_share(corr)


def test_harman_rows_count_rows_with_an_answer():
    data = _data("hs")
    data.loc[[0, 1], :] = np.nan
    rows = pd.DataFrame(harman_rows(data)).set_index("statistic")["value"]
    assert rows["items"] == 9
    assert rows["n"] == len(data) - 2


def test_harman_names_the_items_that_cannot_be_correlated():
    data = _data("hs")
    data["x3"] = 1.0
    with pytest.raises(InputError, match="x1 and x3"):
        pairwise_correlations(data)
    rows = pd.DataFrame(harman_rows(data)).set_index("statistic")
    assert np.isnan(rows.loc["first_component_share", "value"])
    assert "x1 and x3" in rows.loc["first_factor_share", "note"]


def test_method_factor_loads_every_indicator_and_is_orthogonal():
    syntax, factor = method_factor_syntax(HS_MODEL)
    assert factor == "method"
    assert "method =~ 1*x1 + 1*x2 + 1*x3 + 1*x4 + 1*x5 + 1*x6 + 1*x7 + 1*x8 + 1*x9" in syntax
    assert "method ~~ 0*visual + 0*textual + 0*speed" in syntax
    # A model that already has a `method` gets another name.
    taken = "method =~ x1 + x2 + x3\nother =~ x4 + x5 + x6\n"
    assert method_factor_syntax(taken)[1] == "method_1"


def test_method_factor_needs_a_measurement_part():
    with pytest.raises(InputError, match="no measurement part"):
        method_factor_syntax("y ~ x", name="regression")


@pytest.mark.parametrize(
    ("data", "syntax", "missing"),
    [
        ("bfi", BFI_MODEL, "fiml"),
        ("bfi_listwise", BFI_MODEL, "listwise"),
        ("hs_missing", HS_MODEL, "fiml"),
    ],
)
def test_ulmc_matches_lavaan(data, syntax, missing):
    frame = _data(data)
    base = fit_model(syntax, frame, missing=missing)
    table = method_variance_table(base, frame, missing=missing)
    assert list(table.columns) == METHOD_VARIANCE_COLUMNS
    assert _values(table, statistic="estimated").iloc[0] == 1
    fits = pd.read_csv(FIXTURES / "fit.csv").set_index(["data", "model"])
    for model, suffix in (("base", "without"), ("ulmc", "with")):
        for statistic in ("chisq", "df"):
            assert _values(table, statistic=f"{statistic}_{suffix}").iloc[0] == pytest.approx(
                fits.loc[(data, model), statistic], abs=TOL
            )
    estimates = pd.read_csv(FIXTURES / "estimates.csv", keep_default_na=False)
    ulmc = estimates[(estimates["data"] == data) & (estimates["model"] == "ulmc")]
    loadings = ulmc[(ulmc["lhs"] == "method") & (ulmc["op"] == "=~")]
    shares = _values(table, statistic="method_share")
    np.testing.assert_allclose(shares, loadings["std_all"].astype(float) ** 2, atol=TOL)
    variance = ulmc[(ulmc["lhs"] == "method") & (ulmc["rhs"] == "method")]["est"].astype(float)
    assert _values(table, statistic="method_variance").iloc[0] == pytest.approx(
        variance.iloc[0], abs=TOL
    )
    if data.startswith("hs"):
        # HS's method model is improper (a negative factor variance, paths on a flat ridge).
        assert _values(table, statistic="admissible").iloc[0] == 0
        assert "negative variance of speed" in table["note"].str.cat()
        return
    assert _values(table, statistic="admissible").iloc[0] == 1
    for model, suffix in (("base", "without"), ("ulmc", "with")):
        reference = estimates[
            (estimates["data"] == data) & (estimates["model"] == model) & (estimates["op"] == "~")
        ]
        assert len(reference) == 3
        for path in reference.itertuples():
            at = {"lhs": path.lhs, "op": "~", "rhs": path.rhs}
            for column in ("est", "std_all"):
                got = _values(table, statistic=f"{column}_{suffix}", **at).iloc[0]
                assert got == pytest.approx(float(getattr(path, column)), abs=TOL)
    change = _values(table, statistic="est_change", lhs="consc", op="~", rhs="agree").iloc[0]
    assert change == pytest.approx(
        _values(table, statistic="est_with", lhs="consc", rhs="agree").iloc[0]
        - _values(table, statistic="est_without", lhs="consc", rhs="agree").iloc[0]
    )


def test_starting_values_do_not_change_the_optimum():
    frame = _data("bfi")
    plain = fit_model(BFI_MODEL, frame)
    start = {("agree", "~", "extra"): 0.9, ("A1", "~~", "A1"): 2.0, ("extra", "~~", "extra"): 0.3}
    started = fit_model(BFI_MODEL, frame, start=start)
    np.testing.assert_allclose(started.estimates["est"], plain.estimates["est"], atol=1e-6)


@pytest.mark.parametrize("markers", [["O2", "O5"], ["O2"]])
def test_marker_technique_matches_lavaan(markers):
    frame = _data("bfi")
    base = fit_model(BFI_MODEL, frame)
    table = method_variance_table(base, frame, markers=markers)
    marker = table[table["check"] == "marker"]
    reference = pd.read_csv(FIXTURES / "marker.csv").set_index(["markers", "model"])
    key = "+".join(markers)
    assert _values(marker, statistic="items").iloc[0] == len(markers)
    for model in ("cfa", "baseline", "method_c"):
        for statistic in ("chisq", "df"):
            got = _values(marker, statistic=f"{statistic}_{model}").iloc[0]
            assert got == pytest.approx(reference.loc[(key, model), statistic], abs=TOL)
    method_c = reference.loc[(key, "method_c")]
    for statistic in ("delta_chisq", "delta_df", "delta_pvalue", "method_loading"):
        got = _values(marker, statistic=statistic).iloc[0]
        assert got == pytest.approx(method_c[statistic], abs=TOL)
    share = _values(marker, statistic="method_share", rhs="A1").iloc[0]
    assert share == pytest.approx(method_c["std_A1"] ** 2, abs=TOL)
    assert len(_values(marker, statistic="method_share")) == 15


def test_without_markers_the_table_says_none_is_marked():
    frame = _data("bfi")
    table = method_variance_table(fit_model(BFI_MODEL, frame), frame)
    marker = table[table["check"] == "marker"]
    assert marker["statistic"].tolist() == ["items"]
    assert marker["value"].iloc[0] == 0
    assert "no item is marked" in marker["note"].iloc[0]


def test_a_marker_item_the_model_uses_is_refused():
    frame = _data("bfi")
    base = fit_model(BFI_MODEL, frame)
    with pytest.raises(InputError, match=r"\['A1'\] are also indicators"):
        method_variance_table(base, frame, markers=["A1"])
    with pytest.raises(InputError, match="not in the data"):
        method_variance_table(base, frame, markers=["O9"])


def test_the_codebook_marks_marker_items(tmp_path):
    document = yaml.safe_load((ROOT / "data" / "codebook.yaml").read_text(encoding="utf-8"))
    assert not any(item.get("marker") for item in document["items"].values())
    document["items"]["ps2"]["marker"] = True
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    book = load_codebook(path)
    assert [name for name, item in book.items.items() if item.marker] == ["ps2"]
    document["items"]["ps2"]["marker"] = "yes"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match="items.ps2.marker"):
        load_codebook(path)


def _sentence_table(admissible: float) -> pd.DataFrame:
    rows = [
        ("harman", "", "", "", "first_component_share", 0.196),
        ("ulmc", "", "", "", "admissible", admissible),
        ("ulmc", "", "", "", "method_share_mean", 0.053),
        ("ulmc", "safety", "~", "climate", "std_all_change", -0.081),
        ("ulmc", "learning", "~", "safety", "std_all_change", 0.02),
        ("ulmc", "indirect", ":=", "a*b", "std_all_change", -0.5),
    ]
    table = pd.DataFrame(rows, columns=METHOD_VARIANCE_COLUMNS[:-1]).assign(note="")
    # As read back from the CSV: empty cells are NaN.
    return table.replace("", np.nan)


def test_method_box_sentence_gives_harman_method_share_and_largest_path_change():
    from lcsurvey.report.sentences import method_check_sentence

    en = method_check_sentence(_sentence_table(1), "en")
    assert "takes 20% of the items' variance" in en
    assert "takes 5% and changes the standardised paths by at most 0.08." in en
    nl = method_check_sentence(_sentence_table(1), "nl")
    assert "verklaart 20%" in nl and "hoogstens 0,08" in nl
    improper = method_check_sentence(_sentence_table(0), "en")
    assert "no proper solution" in improper and "20%" in improper
    assert method_check_sentence(pd.DataFrame(columns=METHOD_VARIANCE_COLUMNS), "en") is None
    assert method_check_sentence(None, "nl") is None


def test_a_method_share_and_path_change_below_the_last_digit_are_not_printed_as_zero():
    from lcsurvey.report.sentences import method_check_sentence

    table = _sentence_table(1)
    table.loc[table["statistic"] == "method_share_mean", "value"] = 0.0004
    table.loc[table["statistic"] == "std_all_change", "value"] = [0.001, -0.003, 0.0]
    en = method_check_sentence(table, "en")
    assert "takes < 1% and changes the standardised paths by at most < 0.01." in en
    assert "hoogstens < 0,01" in method_check_sentence(table, "nl")


@pytest.mark.parametrize(("rows", "estimated"), [(10, False), (600, True)])
def test_the_model_rule_writes_method_variance_or_its_header(tmp_path, rows, estimated):
    """workflow/scripts/model.py: the table with the checks, or its header only (as the other
    tables) when the model is not estimated."""
    run_model_rule(
        tmp_path, _data("bfi").iloc[:rows], syntax=BFI_MODEL, model="bfi", markers=["O2"]
    )
    table = pd.read_csv(tmp_path / "method_variance.csv")
    assert list(table.columns) == METHOD_VARIANCE_COLUMNS
    assert (len(table) > 0) == estimated
    if estimated:
        assert set(table["check"]) == {"harman", "ulmc", "marker"}
        assert (
            "common-method check harman: first_component_share"
            in (tmp_path / "model.log").read_text()
        )


def test_a_path_model_of_observed_variables_gets_harman_only():
    frame = _data("hs")
    path_model = "x4 ~ x1 + x2\nx7 ~ x4\n"
    table = method_variance_table(fit_model(path_model, frame), frame)
    assert _values(table, check="harman", statistic="items").iloc[0] == 4
    ulmc = table[table["check"] == "ulmc"]
    assert ulmc["statistic"].tolist() == ["latent_variables"]
    assert ulmc["value"].tolist() == [0]
    assert "no latent variables" in ulmc["note"].iloc[0]


def test_method_box_sentence_of_a_path_model_gives_harman_only():
    from lcsurvey.report.sentences import method_check_sentence

    rows = [
        ("harman", "", "", "", "first_component_share", 0.31),
        ("ulmc", "", "", "", "latent_variables", 0),
    ]
    table = pd.DataFrame(rows, columns=METHOD_VARIANCE_COLUMNS[:-1]).assign(note="")
    for lang, words in (("en", "takes 31% of the items' variance"), ("nl", "verklaart 31%")):
        sentence = method_check_sentence(table.replace("", np.nan), lang)
        assert words in sentence and "method factor" not in sentence
        assert "methodefactor" not in sentence
