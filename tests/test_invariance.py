"""Measurement invariance: lavaan's multi-group CFA (group.equal) and Chen's (2007) decisions."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcsurvey.errors import InputError
from lcsurvey.sem import invariance as iv
from lcsurvey.sem import multigroup
from lcsurvey.study.invariance import model_invariance

FIXTURES = Path(__file__).parent / "fixtures" / "r"
HS_FACTORS = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
}
SCHOOLS = ["Pasteur", "Grant-White"]  # lavaan's group order (first appearance)
FIT = [
    "npar",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea.ci.lower",
    "rmsea.ci.upper",
    "srmr",
    "aic",
    "bic",
    "logl",
    "unrestricted.logl",
    "baseline.chisq",
    "baseline.df",
    "ntotal",
]
# Absolute tolerances: about ten times the largest difference from lavaan seen over both cases
# and the three levels (after #).
EST_TOL = 1.6e-4  # estimates: 1.6e-5
SE_TOL = 5e-5  # standard errors: 5.3e-6
FIT_TOL = {
    "npar": 0.0,
    "df": 0.0,
    "baseline.df": 0.0,
    "ntotal": 0.0,  # counts: exact
    "chisq": 5e-7,  # 5.2e-8
    "baseline.chisq": 4e-7,  # 3.9e-8
    "logl": 1.2e-7,  # 1.2e-8
    "unrestricted.logl": 3e-7,  # 2.7e-8
    "aic": 2.5e-7,
    "bic": 2.5e-7,  # 2.4e-8
    "pvalue": 1e-10,  # 4.0e-14: floor
    "cfi": 6e-10,  # 6.2e-11
    "tli": 8e-10,  # 7.5e-11
    "rmsea": 3e-10,  # 3.1e-11
    "rmsea.ci.lower": 3e-8,  # 2.6e-9
    "rmsea.ci.upper": 1.3e-7,  # 1.3e-8
    "srmr": 6e-6,  # 6.0e-7
}


@pytest.fixture(
    scope="module",
    params=[
        ("hs", "holzinger_swineford.csv", "listwise"),
        ("fiml_hs", "invariance_fiml_hs.csv", "fiml"),
    ],
    ids=["complete_ml", "fiml"],
)
def hs_case(request):
    case, data_file, missing = request.param
    data = pd.read_csv(FIXTURES / data_file)
    result = iv.fit_invariance(data, HS_FACTORS, "school", group_order=SCHOOLS, missing=missing)
    fit = pd.read_csv(FIXTURES / f"invariance_{case}_fit.csv")
    estimates = pd.read_csv(
        FIXTURES / f"invariance_{case}_estimates.csv", keep_default_na=False, na_values=[""]
    )
    estimates["rhs"] = estimates["rhs"].fillna("")
    return result, fit, estimates


@pytest.mark.parametrize("level", iv.LEVELS)
def test_fit_measures_match_lavaan(hs_case, level):
    result, fit, _ = hs_case
    assert not result.errors
    reference = fit[fit["level"] == level].set_index("measure")["value"]
    measures = result.measures[level]
    for name in FIT:
        assert measures[name.replace(".", "_")] == pytest.approx(
            reference[name], abs=FIT_TOL[name]
        ), name


@pytest.mark.parametrize("level", iv.LEVELS)
def test_estimates_and_standard_errors_match_lavaan(hs_case, level):
    result, _, estimates = hs_case
    mine = multigroup.estimates_table(
        result.fits[level], HS_FACTORS, result.items, result.group_names
    )
    reference = estimates[estimates["level"] == level]
    merged = reference.merge(
        mine,
        on=["group", "lhs", "op", "rhs"],
        how="outer",
        suffixes=("_lavaan", ""),
        indicator=True,
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged["est"], merged["est_lavaan"], atol=EST_TOL)
    np.testing.assert_allclose(merged["se"], merged["se_lavaan"], atol=SE_TOL)


def test_levels_nest_and_constrain_as_lavaan(hs_case):
    result, _, _ = hs_case
    tables = {
        level: multigroup.estimates_table(
            result.fits[level], HS_FACTORS, result.items, result.group_names
        ).set_index(["group", "lhs", "op", "rhs"])
        for level in iv.LEVELS
    }
    metric, scalar = tables["metric"]["est"], tables["scalar"]["est"]
    for table in (metric, scalar):
        loadings = table.xs("=~", level="op")
        np.testing.assert_array_equal(
            loadings.loc["Pasteur"].to_numpy(), loadings.loc["Grant-White"].to_numpy()
        )
    intercepts = scalar.xs("~1", level="op").xs("", level="rhs")
    items = [f"x{i}" for i in range(1, 10)]
    np.testing.assert_array_equal(
        intercepts.loc["Pasteur"][items].to_numpy(), intercepts.loc["Grant-White"][items].to_numpy()
    )
    assert (intercepts.loc["Pasteur"][list(HS_FACTORS)] == 0).all()
    assert (intercepts.loc["Grant-White"][list(HS_FACTORS)] != 0).all()
    logliks = [result.measures[level]["logl"] for level in iv.LEVELS]
    assert logliks[0] > logliks[1] > logliks[2]


# --- Analytic derivatives ------------------------------------------------------------------


def _simulate(rng, n, loadings, intercepts, latent_mean=None, missing_share=0.0):
    """Rows from a CFA with unit-variance factors correlated 0.3 and residual variance 0.5."""
    m = loadings.shape[1]
    psi = np.full((m, m), 0.3) + 0.7 * np.eye(m)
    eta = rng.multivariate_normal(np.zeros(m) if latent_mean is None else latent_mean, psi, n)
    x = intercepts + eta @ loadings.T + rng.normal(0, np.sqrt(0.5), (n, loadings.shape[0]))
    if missing_share:
        hole = rng.random(x.shape) < missing_share
        hole[hole.all(axis=1), 0] = False
        x[hole] = np.nan
    return x


LOADINGS = np.kron(np.eye(3), np.array([[1.0], [0.8], [1.2], [0.9]]))  # 12 items, 3 factors
FACTORS = {f"f{k}": [f"y{4 * k + j}" for j in range(4)] for k in range(3)}
ITEMS = [f"y{i}" for i in range(12)]


def _frame(parts):
    return pd.concat(
        [pd.DataFrame(x, columns=ITEMS).assign(g=name) for name, x in parts], ignore_index=True
    )


@pytest.mark.parametrize("level", iv.LEVELS)
def test_gradient_and_hessian_are_the_derivatives_of_the_loglik(level):
    rng = np.random.default_rng(7)
    nu = np.linspace(2, 3, 12)
    data = _frame(
        [
            ("a", _simulate(rng, 150, LOADINGS, nu, missing_share=0.15)),
            ("b", _simulate(rng, 120, LOADINGS, nu + 0.2, missing_share=0.15)),
        ]
    )
    groups = [
        iv.group_data(g, data.loc[data["g"] == g, ITEMS].to_numpy(float), "fiml") for g in "ab"
    ]
    layout = iv.make_layout(level, FACTORS, ITEMS, 2)
    problem = multigroup._Problem(layout, groups)
    theta = iv.configural_start(iv.make_layout("configural", FACTORS, ITEMS, 2), groups)
    theta = iv.nested_start(
        iv.LevelFit(
            "configural",
            iv.make_layout("configural", FACTORS, ITEMS, 2),
            theta,
            0.0,
            np.eye(1),
            True,
            0,
        ),
        layout,
        groups,
    )
    theta = theta + rng.normal(0, 0.05, len(theta))  # away from any stationary point
    _, pieces = problem.loglik(theta, parts=True)
    grad, hess, _ = problem.derivatives(theta, pieces)
    h = 1e-5
    numeric_grad = np.empty_like(grad)
    numeric_hess = np.empty_like(hess)
    for a in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[a] += h
        down[a] -= h
        numeric_grad[a] = (problem.loglik(up) - problem.loglik(down)) / (2 * h)
        g_up = problem.derivatives(up, problem.loglik(up, parts=True)[1], hessian=False)[0]
        g_down = problem.derivatives(down, problem.loglik(down, parts=True)[1], hessian=False)[0]
        numeric_hess[:, a] = (g_up - g_down) / (2 * h)
    np.testing.assert_allclose(grad, numeric_grad, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(hess, numeric_hess, rtol=1e-5, atol=1e-3)


# --- Recovery: invariance that holds, and intercepts that differ ------------------------------


def test_same_population_metric_and_scalar_hold_and_loadings_are_recovered():
    rng = np.random.default_rng(20211201)
    nu = np.linspace(2, 3.5, 12)
    data = _frame(
        [
            ("first", _simulate(rng, 600, LOADINGS, nu, missing_share=0.05)),
            ("second", _simulate(rng, 600, LOADINGS, nu, missing_share=0.05)),
        ]
    )
    table = iv.invariance_table(data, FACTORS, "g", min_size=50)
    assert list(table["level"]) == list(iv.LEVELS)
    assert list(table["decision"]) == ["", "holds", "holds"]
    assert table["group_values"].iloc[0] == "first;second"
    result = iv.fit_invariance(data, FACTORS, "g")
    est = multigroup.estimates_table(
        result.fits["scalar"], FACTORS, result.items, result.group_names
    )
    loadings = est[(est["op"] == "=~") & (est["group"] == "first")]
    true = LOADINGS[LOADINGS != 0]
    np.testing.assert_allclose(loadings["est"], true, atol=0.1)
    latent_means = est[(est["op"] == "~1") & est["lhs"].isin(FACTORS) & (est["group"] == "second")]
    np.testing.assert_allclose(latent_means["est"], 0, atol=0.15)


def test_intercepts_that_differ_reject_scalar_invariance():
    rng = np.random.default_rng(20220601)
    nu = np.linspace(2, 3.5, 12)
    shifted = nu + np.tile([0.0, 0.6, -0.6, 0.0], 3)  # not a latent mean difference
    data = _frame(
        [
            ("first", _simulate(rng, 600, LOADINGS, nu)),
            ("second", _simulate(rng, 600, LOADINGS, shifted)),
        ]
    )
    table = iv.invariance_table(data, FACTORS, "g", min_size=50, missing="listwise")
    assert list(table["decision"]) == ["", "holds", "rejected"]
    scalar = table.set_index("level").loc["scalar"]
    assert scalar["delta_cfi"] < -0.010


def test_a_latent_mean_difference_is_not_a_violation():
    rng = np.random.default_rng(3)
    nu = np.linspace(2, 3.5, 12)
    data = _frame(
        [
            ("first", _simulate(rng, 600, LOADINGS, nu)),
            ("second", _simulate(rng, 600, LOADINGS, nu, latent_mean=[0.5, -0.4, 0.3])),
        ]
    )
    result = iv.fit_invariance(data, FACTORS, "g", missing="listwise")
    est = multigroup.estimates_table(
        result.fits["scalar"], FACTORS, result.items, result.group_names
    )
    means = est[(est["op"] == "~1") & est["lhs"].isin(FACTORS) & (est["group"] == "second")]
    np.testing.assert_allclose(means["est"], [0.5, -0.4, 0.3], atol=0.12)
    table = iv.invariance_table(data, FACTORS, "g", missing="listwise")
    assert table["decision"].iloc[2] == "holds"


def test_fiml_on_complete_data_equals_ml():
    rng = np.random.default_rng(11)
    nu = np.linspace(2, 3.5, 12)
    data = _frame(
        [("a", _simulate(rng, 200, LOADINGS, nu)), ("b", _simulate(rng, 200, LOADINGS, nu))]
    )
    fiml = iv.fit_invariance(data, FACTORS, "g", missing="fiml")
    ml = iv.fit_invariance(data, FACTORS, "g", missing="listwise")
    for level in iv.LEVELS:
        np.testing.assert_allclose(fiml.fits[level].theta, ml.fits[level].theta, atol=1e-6)
        assert fiml.measures[level]["chisq"] == pytest.approx(ml.measures[level]["chisq"])


# --- Chen (2007) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "deltas", "expected"),
    [
        ("metric", (-0.010, 0.015, 0.030), "holds"),  # every cut-off exactly met
        ("metric", (-0.011, 0.000, 0.000), "rejected"),  # CFI drops too far
        ("metric", (-0.005, 0.020, 0.025), "holds"),  # RMSEA fails, SRMR saves it
        ("metric", (-0.005, 0.010, 0.040), "holds"),  # SRMR fails, RMSEA saves it
        ("metric", (-0.005, 0.016, 0.031), "rejected"),  # both fail
        ("scalar", (-0.005, 0.020, 0.025), "rejected"),  # scalar's SRMR cut-off is .010
        ("scalar", (-0.005, 0.020, 0.010), "holds"),
        ("scalar", (-0.010, 0.015, 0.050), "holds"),
        ("scalar", (0.002, -0.001, 0.011), "holds"),  # improving fit
        ("configural", (0.0, 0.0, 0.0), ""),
        ("metric", (np.nan, 0.0, 0.0), ""),
    ],
)
def test_chen_decision(level, deltas, expected):
    assert iv.chen_decision(level, *deltas) == expected


def test_deltas_compare_each_level_with_the_one_before():
    rng = np.random.default_rng(5)
    nu = np.linspace(2, 3.5, 12)
    data = _frame(
        [("a", _simulate(rng, 300, LOADINGS, nu)), ("b", _simulate(rng, 300, LOADINGS, nu))]
    )
    table = iv.invariance_table(data, FACTORS, "g", missing="listwise").set_index("level")
    for index in ("cfi", "rmsea", "srmr"):
        assert np.isnan(table.loc["configural", f"delta_{index}"])
        assert table.loc["metric", f"delta_{index}"] == pytest.approx(
            table.loc["metric", index] - table.loc["configural", index]
        )
        assert table.loc["scalar", f"delta_{index}"] == pytest.approx(
            table.loc["scalar", index] - table.loc["metric", index]
        )
    assert table.loc["configural", "rule"] == ""
    assert "delta SRMR <= 0.030" in table.loc["metric", "rule"]
    assert "delta SRMR <= 0.010" in table.loc["scalar", "rule"]
    assert list(table.columns) == [c for c in iv.COLUMNS if c != "level"]


# --- Groups that cannot enter -----------------------------------------------------------------


def test_small_and_constant_groups_are_left_out_with_a_note():
    rng = np.random.default_rng(9)
    nu = np.linspace(2, 3.5, 12)
    constant = _simulate(rng, 120, LOADINGS, nu)
    constant[:, 5] = 3.0
    data = _frame(
        [
            ("a", _simulate(rng, 200, LOADINGS, nu)),
            ("b", _simulate(rng, 200, LOADINGS, nu)),
            ("tiny", _simulate(rng, 20, LOADINGS, nu)),
            ("flat", constant),
        ]
    )
    table = iv.invariance_table(data, FACTORS, "g", min_size=50)
    assert list(table["level"]) == list(iv.LEVELS)
    assert (table["group_values"] == "a;b").all()
    assert (table["ntotal"] == 400).all()
    note = table["note"].iloc[0]
    assert "g tiny left out: 20 respondents, fewer than 50" in note
    assert "g flat left out: no variance in ['y5']" in note


def test_fewer_than_two_groups_give_one_explanatory_row():
    rng = np.random.default_rng(2)
    nu = np.linspace(2, 3.5, 12)
    data = _frame(
        [("a", _simulate(rng, 200, LOADINGS, nu)), ("b", _simulate(rng, 30, LOADINGS, nu))]
    )
    table = iv.invariance_table(data, FACTORS, "g", min_size=50)
    assert len(table) == 1
    assert table["level"].iloc[0] == ""
    assert table["group_values"].iloc[0] == "a"
    assert "fewer than two groups" in table["note"].iloc[0]
    assert "g b left out: 30 respondents" in table["note"].iloc[0]
    assert table[["chisq", "cfi"]].isna().all(axis=None)


def test_labels_and_order_of_groups():
    rng = np.random.default_rng(4)
    nu = np.linspace(2, 3.5, 12)
    data = _frame(
        [(1.0, _simulate(rng, 100, LOADINGS, nu)), (2.0, _simulate(rng, 100, LOADINGS, nu))]
    )
    table = iv.invariance_table(data, FACTORS, "g", order=[(2.0, "Private"), (1.0, "Public")])
    assert table["group_values"].iloc[0] == "Private;Public"


def test_bad_input_is_an_input_error():
    data = pd.read_csv(FIXTURES / "holzinger_swineford.csv")
    with pytest.raises(InputError, match="estimation.missing"):
        iv.fit_invariance(data, HS_FACTORS, "school", missing="pairwise")
    with pytest.raises(InputError, match="lack the columns"):
        iv.fit_invariance(data, {"visual": ["x1", "x2", "nope"]}, "school")
    with pytest.raises(InputError, match="no column 'wave'"):
        iv.invariance_table(data, HS_FACTORS, "wave")
    with pytest.raises(InputError, match="fewer than two indicators"):
        iv.fit_invariance(data, {"visual": ["x1"]}, "school")


# --- The pipeline's entry point: pooled waves, codebook labels, one wave --------------------

CODEBOOK = Path(__file__).parents[1] / "data" / "codebook.yaml"
SYNTAX = "\n".join(f"{f} =~ {' + '.join(v)}" for f, v in FACTORS.items()) + "\nf1 ~ f0\n"


def _waves(rng, sizes, sector_codes=(1.0, 2.0)):
    nu = np.linspace(2, 3.5, 12)
    frames = {}
    for wave, n in sizes.items():
        frame = pd.DataFrame(_simulate(rng, n, LOADINGS, nu, missing_share=0.05), columns=ITEMS)
        frame["sector"] = np.resize(sector_codes, n)
        frame["wave"] = "stale"  # the wave id comes from the config key
        frames[wave] = frame
    return frames


def test_model_invariance_pools_waves_and_labels_sectors_from_the_codebook():
    from lcsurvey.survey.codebook import load_codebook

    book = load_codebook(CODEBOOK)
    frames = _waves(
        np.random.default_rng(1),
        {"2022-06": 160, "2021-12": 140},
        sector_codes=(2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 4.0),
    )
    by_wave = model_invariance(frames, SYNTAX, "wave", book=book, min_group_size=50)
    assert list(by_wave["level"]) == list(iv.LEVELS)
    assert by_wave["group_values"].iloc[0] == "2022-06;2021-12"  # config order
    assert (by_wave["ntotal"] == 300).all()
    by_sector = model_invariance(frames, SYNTAX, "sector", book=book, min_group_size=50)
    assert by_sector["group_values"].iloc[0] == "Public sector;Private sector"
    assert by_sector["note"][0] == "sector Non-profit left out: 30 respondents, fewer than 50"
    strict = model_invariance(
        frames, SYNTAX, "sector", book=book, min_group_size=50, min_cell=130
    )  # report.min_cell is a floor too
    assert len(strict) == 1
    assert "sector Public sector left out: 120 respondents, fewer than 130" in strict["note"][0]


def test_one_wave_gives_one_explanatory_row():
    frames = _waves(np.random.default_rng(6), {"2021-12": 200})
    table = model_invariance(frames, SYNTAX, "wave")
    assert len(table) == 1
    assert table["group_values"].iloc[0] == "2021-12"
    assert "fewer than two groups of wave" in table["note"].iloc[0]


def test_unknown_grouping_variable_and_model_without_factors():
    from lcsurvey.survey.codebook import load_codebook

    frames = _waves(np.random.default_rng(6), {"2021-12": 100, "2022-06": 100})
    with pytest.raises(InputError, match="invariance.groups names 'region'"):
        model_invariance(frames, SYNTAX, "region", book=load_codebook(CODEBOOK))
    table = model_invariance(frames, "y1 ~ y0\n", "wave", model="paths")
    assert len(table) == 1 and "no measurement part" in table["note"].iloc[0]


def test_the_levels_progress_goes_to_the_log(caplog, monkeypatch):
    """A long invariance job logs each level done (lcsurvey.sem.progress, here without its
    5-second spacing); the estimates do not depend on it."""
    from lcsurvey.sem import progress

    data = pd.read_csv(FIXTURES / "holzinger_swineford.csv")
    monkeypatch.setattr(progress, "SECONDS", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.01)
    with caplog.at_level("INFO", logger="lcsurvey"):
        result = iv.fit_invariance(data, HS_FACTORS, "school", group_order=SCHOOLS)
    lines = [r.getMessage() for r in caplog.records if "invariance by school" in r.getMessage()]
    assert lines[0].startswith("invariance by school: 1 of 3 levels (33%)")
    assert lines[-1].startswith("invariance by school: 3 of 3 levels done in")
    assert set(result.fits) == {"configural", "metric", "scalar"}
