"""Thresholds, polychoric correlations and WLSMV CFAs against lavaan 0.6.14 (fixtures in
tests/fixtures/ordinal, made by make_fixture.R there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special
from scipy.stats import multivariate_normal

from lcsurvey.errors import InputError
from lcsurvey.sem.conditional_polychoric import conditional_polychoric
from lcsurvey.sem.polychoric import bivariate_cdf, polychoric
from lcsurvey.sem.wlsmv import fit_wlsmv, fit_wlsmv_syntax

FIXTURES = Path(__file__).parent / "fixtures" / "ordinal"
ITEMS = [f"x{i}" for i in range(1, 10)]
MODELS = {
    "one": {"g": ITEMS},
    "three": {"visual": ITEMS[:3], "textual": ITEMS[3:6], "speed": ITEMS[6:]},
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "hs_ordinal.csv")


@pytest.mark.parametrize("r", [-0.99, -0.95, -0.6, 0.0, 0.2, 0.8, 0.93, 0.999])
def test_bivariate_cdf_matches_scipy(r: float) -> None:
    h = np.array([-2.1, -0.4, 0.0, 0.7, 1.9])
    k = np.array([0.3, -1.5, 0.0, 0.7, -0.2])
    ref = [multivariate_normal(cov=[[1, r], [r, 1]]).cdf([a, b]) for a, b in zip(h, k, strict=True)]
    np.testing.assert_allclose(bivariate_cdf(h, k, r), ref, atol=1e-7)


def test_thresholds_and_polychoric_match_lavcor(data: pd.DataFrame) -> None:
    res = polychoric(data.to_numpy(), list(data.columns), acov=False)
    ref = pd.read_csv(FIXTURES / "lavcor.csv")
    cor = ref[ref.op == "~~"]
    got = [
        res.correlation[ITEMS.index(a), ITEMS.index(b)]
        for a, b in zip(cor.lhs, cor.rhs, strict=True)
    ]
    np.testing.assert_allclose(got, cor.est, atol=1e-6)
    th = ref[ref.op == "|"]
    got = [
        res.thresholds[ITEMS.index(a)][int(t[1:]) - 1] for a, t in zip(th.lhs, th.rhs, strict=True)
    ]
    np.testing.assert_allclose(got, th.est, atol=1e-8)
    # The fixture has empty cells in some pair tables: lavaan's WLSMV adds nothing to them
    # (its zero-cell correction is off by default), and neither does the engine.
    x = data.to_numpy()
    k = x.max(axis=0)
    empty = sum(
        int(np.sum(np.bincount((x[:, i] - 1) * k[j] + x[:, j] - 1, minlength=k[i] * k[j]) == 0))
        for i in range(9)
        for j in range(i)
    )
    assert empty > 0


@pytest.mark.parametrize("model", ["one", "three"])
def test_wlsmv_cfa_matches_lavaan(data: pd.DataFrame, model: str) -> None:
    fit = fit_wlsmv(data, MODELS[model])
    ref = pd.read_csv(FIXTURES / f"cfa_{model}_estimates.csv").fillna({"rhs": ""})
    merged = ref.merge(fit.estimates, on=["lhs", "op", "rhs"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged.est_x, merged.est_y, atol=1e-4)
    np.testing.assert_allclose(merged.se_x, merged.se_y, atol=1e-4)
    np.testing.assert_allclose(merged["std.all"], merged.std_all, atol=1e-4)
    assert set(fit.estimates.op) >= {"=~", "|", "~~", "~1", "~*~"}
    measures = pd.read_csv(FIXTURES / f"cfa_{model}_fit.csv")
    for name, value in zip(measures.measure, measures.value, strict=True):
        key = name.replace(".", "_")
        tol = 1e-3 * max(1.0, abs(value)) if "chisq" in key else 1e-5
        assert fit.fit[key] == pytest.approx(value, abs=tol), key


def test_scaled_test_differs_from_standard(data: pd.DataFrame) -> None:
    fit = fit_wlsmv(data, MODELS["three"])
    assert fit.fit["chisq_scaled"] > fit.fit["chisq"] + 10
    assert fit.fit["cfi_scaled"] < fit.fit["cfi"]


def test_listwise_drops_incomplete_rows(data: pd.DataFrame) -> None:
    holed = data.astype(float).copy()
    holed.loc[[0, 5, 9], "x4"] = np.nan
    res = polychoric(holed.to_numpy(), ITEMS, acov=False)
    full = polychoric(data.drop(index=[0, 5, 9]).to_numpy(), ITEMS, acov=False)
    assert res.n == len(data) - 3
    np.testing.assert_allclose(res.correlation, full.correlation)


def test_pairwise_uses_each_pair_of_answers(data: pd.DataFrame) -> None:
    holed = pd.read_csv(FIXTURES / "hs_ordinal_na.csv")
    res = polychoric(holed.to_numpy(), ITEMS, missing="pairwise", acov=False)
    assert res.n == len(holed)
    for i, j in [(0, 1), (3, 8)]:
        both = holed[[ITEMS[i], ITEMS[j]]].dropna()
        pair = polychoric(both.to_numpy(), [ITEMS[i], ITEMS[j]], acov=False)
        # The pair's correlation is its own, given the thresholds of all answers to each item.
        assert res.correlation[i, j] != pytest.approx(pair.correlation[0, 1], abs=1e-8)
        assert abs(res.correlation[i, j] - pair.correlation[0, 1]) < 0.02
    x4 = holed["x4"].dropna()
    share = np.cumsum(x4.value_counts().sort_index().to_numpy())[:-1] / len(x4)
    np.testing.assert_allclose(res.thresholds[3], special.ndtri(share))
    listwise = polychoric(holed.to_numpy(), ITEMS, acov=False)
    assert listwise.n == len(holed.dropna()) < res.n


def test_empty_category_is_named(data: pd.DataFrame) -> None:
    bad = data.copy()
    bad.loc[bad.x2 == 2, "x2"] = 3
    with pytest.raises(InputError, match="x2: nobody chose category 2"):
        polychoric(bad.to_numpy(), ITEMS)


def test_too_many_categories_is_refused(data: pd.DataFrame) -> None:
    bad = data.copy()
    bad["x1"] = np.arange(len(bad)) % 20 + 1
    with pytest.raises(InputError, match="x1 has 20 categories"):
        polychoric(bad.to_numpy(), ITEMS)


def test_unknown_item_is_named(data: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="not in the data: y1"):
        fit_wlsmv(data, {"f": ["x1", "x2", "y1"]}, name="m")


def test_syntax_entry_point_matches_measurement_dict(data: pd.DataFrame) -> None:
    syntax = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6  # verbal\nspeed =~ x7 + x8 + x9\n"
    by_syntax = fit_wlsmv_syntax(data, syntax)
    by_dict = fit_wlsmv(data, MODELS["three"])
    pd.testing.assert_frame_equal(by_syntax.estimates, by_dict.estimates)


SEM_MODELS = {
    "paths": """visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ a*visual
speed ~ b*textual
x1 ~~ x9
ind := a*b""",
    "labels": """visual =~ x1 + l*x2 + l*x3
textual =~ NA*x4 + x5 + x6
speed =~ x7 + 0.8*x8 + x9
textual ~~ 1*textual
visual ~~ c*textual
visual ~~ c*speed
x3 ~~ x5
x7 ~~ x8
r := c / 2 + l""",
    "second": """visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
g =~ visual + textual + speed""",
    "covariates": """visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
visual ~ a*age
textual ~ b*visual + age
speed ~ sex
ind := a*b""",
}
SEM_RUNS = {
    "paths": ("paths", {}),
    "labels": ("labels", {}),
    "second": ("second", {}),
    "paths_ulsmv": ("paths", {"estimator": "ULSMV"}),
    "paths_theta": ("paths", {"parameterization": "theta"}),
    "labels_theta": ("labels", {"parameterization": "theta"}),
    "paths_pairwise": ("paths", {"missing": "pairwise"}),
    "cfa_pairwise": ("second", {"missing": "pairwise"}),
    "covariates": ("covariates", {}),
    "covariates_theta": ("covariates", {"parameterization": "theta"}),
    "covariates_pairwise": ("covariates", {"missing": "pairwise"}),
    "covariates_ulsmv": ("covariates", {"estimator": "ulsmv"}),
}


def compare_with_lavaan(fit, run: str, tol: float = 1e-5) -> None:
    """Every row of lavaan's parameterEstimates (est, se, std.all) and every fit measure."""
    ref = pd.read_csv(FIXTURES / f"sem_{run}_estimates.csv", keep_default_na=False)
    ref = ref.replace({"NA": np.nan}).astype({"est": float, "se": float, "std.all": float})
    merged = ref.merge(fit.estimates, on=["lhs", "op", "rhs"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (merged.label_x == merged.label_y).all()
    # lavaan's own convergence limits the agreement of the theta parameterisation's larger
    # latent variances; everything else agrees to 1e-6.
    scale = np.maximum(1.0, np.abs(merged.est_x))
    np.testing.assert_allclose(merged.est_x / scale, merged.est_y / scale, atol=tol)
    np.testing.assert_allclose(merged.se_x / scale, merged.se_y / scale, atol=tol)
    np.testing.assert_allclose(merged["std.all"], merged.std_all, atol=tol)
    measures = pd.read_csv(FIXTURES / f"sem_{run}_fit.csv")
    for name, value in zip(measures.measure, measures.value, strict=True):
        key = name.replace(".", "_")
        got = fit.polychoric.n if key == "ntotal" else fit.fit[key]
        if np.isnan(value):
            assert np.isnan(got), key
        else:
            assert got == pytest.approx(value, abs=1e-6 * max(1.0, abs(value))), key


@pytest.mark.parametrize("run", list(SEM_RUNS))
def test_wlsmv_sem_matches_lavaan(data: pd.DataFrame, run: str) -> None:
    model, options = SEM_RUNS[run]
    if "pairwise" in run:  # every item misses a different set of rows (make_sem_fixture.R)
        data = pd.read_csv(FIXTURES / "hs_ordinal_na.csv")
    if model == "covariates":  # age and sex added (make_covariate_fixture.R)
        covariates = pd.read_csv(FIXTURES / "hs_ordinal_x.csv")
        data = data.assign(age=covariates["age"], sex=covariates["sex"])
    fit = fit_wlsmv_syntax(data, SEM_MODELS[model], **options)
    # With covariates under theta, the thresholds (at covariates zero, far from the data) weigh
    # little in lavaan's objective and its optimiser stops 1e-3 short of the minimum: its own
    # std.all of them differs from its delta fit's by 5e-4, while the engine's agree exactly.
    tol = {"covariates_theta": 1e-3}.get(run, 2e-5 if "theta" in run else 2e-6)
    compare_with_lavaan(fit, run, tol=tol)


def test_statistics_given_covariates_match_lavaan() -> None:
    data = pd.read_csv(FIXTURES / "hs_ordinal_x.csv")
    res = conditional_polychoric(
        data[ITEMS].to_numpy(float), data[["age", "sex"]].to_numpy(float), ITEMS, ["age", "sex"]
    )
    th = pd.read_csv(FIXTURES / "covariates_th.csv")["th"].to_numpy()
    np.testing.assert_allclose(np.concatenate(res.thresholds), th, atol=1e-7)
    slopes = pd.read_csv(FIXTURES / "covariates_slopes.csv", index_col=0).to_numpy()
    np.testing.assert_allclose(res.slopes, slopes, atol=1e-7)
    cor = pd.read_csv(FIXTURES / "covariates_rescor.csv", index_col=0).to_numpy()
    np.testing.assert_allclose(res.correlation, cor, atol=1e-7)
    gamma = pd.read_csv(FIXTURES / "covariates_gamma.csv").to_numpy()
    np.testing.assert_allclose(res.nacov, gamma, atol=1e-8 * np.abs(gamma).max())


def test_covariates_theta_matches_delta() -> None:
    data = pd.read_csv(FIXTURES / "hs_ordinal_x.csv")
    delta = fit_wlsmv_syntax(data, SEM_MODELS["covariates"]).estimates
    theta = fit_wlsmv_syntax(data, SEM_MODELS["covariates"], parameterization="theta").estimates
    np.testing.assert_allclose(theta.std_all, delta.std_all, atol=1e-8)


def test_covariate_lines_are_refused() -> None:
    data = pd.read_csv(FIXTURES / "hs_ordinal_x.csv")
    syntax = "f =~ x1 + x2 + x3\nf ~ age + sex\nage ~~ sex"
    with pytest.raises(InputError, match="'age ~~ sex': an observed predictor"):
        fit_wlsmv_syntax(data, syntax, name="m")
    data["sex"] = data["sex"].map({0: "m", 1: "f"})
    with pytest.raises(InputError, match="covariate sex is not numeric"):
        fit_wlsmv_syntax(data, "f =~ x1 + x2 + x3\nf ~ age + sex", name="m")


def test_sem_rows_follow_the_model(data: pd.DataFrame) -> None:
    est = fit_wlsmv_syntax(data, SEM_MODELS["labels"]).estimates.set_index(["lhs", "op", "rhs"])
    # Shared labels are one parameter; a fixed value stays fixed with no SE; NA* frees the
    # first loading; the := row uses the labelled estimates.
    assert est.loc[("visual", "=~", "x2"), "est"] == est.loc[("visual", "=~", "x3"), "est"]
    assert est.loc[("speed", "=~", "x8"), ["est", "se"]].tolist() == [0.8, 0.0]
    assert est.loc[("textual", "=~", "x4"), "se"] > 0
    cov = est.loc[("visual", "~~", "textual"), "est"]
    load = est.loc[("visual", "=~", "x2"), "est"]
    assert est.loc[("r", ":=", "c/2+l"), "est"] == pytest.approx(cov / 2 + load)
    # Dependent factors that predict nothing get a residual covariance, as in lavaan.
    paths = fit_wlsmv_syntax(
        data, SEM_MODELS["paths"].replace("speed ~ b*textual", "speed ~ b*visual")
    ).estimates
    assert ((paths.lhs == "textual") & (paths.op == "~~") & (paths.rhs == "speed")).any()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x1 ~ visual", "x1 is an observed variable"),
        ("x2 ~~ x2", "residual variance of the ordinal item x2"),
        ("visual ~~ x4", "between two factors or two items"),
        ("visual ~ 1", "cannot read the term '1'"),
        ("x1 | t1", "cannot read statement"),
        ("a == b", "cannot read statement"),
    ],
)
def test_lines_the_estimator_does_not_fit_are_refused(
    data: pd.DataFrame, line: str, message: str
) -> None:
    syntax = f"visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n{line}"
    with pytest.raises(InputError, match=message) as err:
        fit_wlsmv_syntax(data, syntax, name="m")
    assert line in str(err.value)


def test_unknown_option_is_refused(data: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="parameterization 'gamma'"):
        fit_wlsmv_syntax(data, SEM_MODELS["second"], parameterization="gamma")


@pytest.mark.parametrize(
    ("syntax", "named"),
    [
        ("f =~ NA*x1 + x2 + x3 + x4", "f =~ x1"),
        ("v =~ x1 + x2 + x3\nt =~ x4 + x5 + x6\nt ~ v\nv ~ t", "t ~ v"),
    ],
)
def test_unidentified_model_is_refused(data: pd.DataFrame, syntax: str, named: str) -> None:
    with pytest.raises(InputError, match="model m is not identified") as err:
        fit_wlsmv_syntax(data, syntax, name="m")
    assert named in str(err.value)


def test_too_many_parameters_is_refused(data: pd.DataFrame) -> None:
    syntax = "f =~ x1 + x2 + x3\nx1 ~~ x2\nx1 ~~ x3\nx2 ~~ x3"
    with pytest.raises(InputError, match="not identified"):
        fit_wlsmv_syntax(data, syntax, name="m")
