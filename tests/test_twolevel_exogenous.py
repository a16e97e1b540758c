"""Exogenous observed variables named at both levels (lcsurvey.sem.twolevel) against lavaan 0.6.14.

lavaan's fixed.x for such a variable takes its h1's split of the mean into a within and a
between part and fixes the level-2 mean at the between part (the level-1 mean stays 0).
The fixtures in tests/fixtures/twolevel_exo come from make_exogenous_fixtures.R: the study's
two-level transfer model on a survey simulated at the study's design (430 members of 24
communities), complete and with 8% of the mediators' values missing (missing = "ml"), and a
two-level mediation on Demo.twolevel with y1 exogenous at both levels, complete and with
200 values of y1 missing, and the transfer model on a wave of the project's simulator (80
communities, a Heywood case at level 2). With missing = "ml" lavaan's h1 is a fit that may stop
well short of the maximum (by 1.0 in the log-likelihood on that simulated wave, where its
estimates then differ from ours by up to 0.5): there we match only where it stops close.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from lcsurvey.sem import twolevel as tl

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "twolevel_exo"
_SCRIPT = (FIXTURES / "make_exogenous_fixtures.R").read_text()
MODELS = {
    name: re.search(name + r' = "(.*?)"', _SCRIPT, re.S).group(1) for name in ("study", "demo")
}
CASES = {
    "study_complete": ("study", "study.csv", "community", "listwise"),
    "study_missing": ("study", "study_missing.csv", "community", "ml"),
    "study80_complete": ("study", "study80.csv", "community", "listwise"),
    "demo_complete": ("demo", "../twolevel/data.csv", "cluster", "listwise"),
    "demo_missing": ("demo", "../twolevel/data_missing.csv", "cluster", "ml"),
}
COMPLETE = ["study_complete", "study80_complete", "demo_complete"]
MISSING = ["study_missing", "demo_missing"]


@pytest.fixture(scope="module")
def fits() -> dict:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case, (model, path, cluster, missing) in CASES.items():
            data = pd.read_csv(FIXTURES / path)
            out[case] = tl.fit_twolevel(MODELS[model], data, cluster, name=case, missing=missing)
    return out


def _reference(case: str) -> pd.DataFrame:
    ref = pd.read_csv(FIXTURES / "estimates.csv", keep_default_na=False)
    return ref[ref["case"] == case].reset_index(drop=True)


def _lavaan_fit(case: str) -> pd.Series:
    ref = pd.read_csv(FIXTURES / "fit.csv")
    return ref[ref["case"] == case].set_index("measure")["value"]


@pytest.mark.parametrize("case", list(CASES))
def test_the_rows_are_lavaans_parameter_estimates_rows(fits, case):
    """The same rows in lavaan's order: user rows, variances, the exogenous block, then
    intercepts with the exogenous ones last, a ~1 row at both levels for a variable at both."""
    ref = _reference(case)
    ours = fits[case].estimates
    columns = ["lhs", "op", "rhs", "label"]
    assert ours["level"].astype(int).tolist() == ref["level"].astype(int).tolist()
    assert ours[columns].to_numpy().tolist() == ref[columns].to_numpy().tolist()


@pytest.mark.parametrize("case", COMPLETE)
def test_complete_data_estimates_and_standard_errors_match_lavaan(fits, case):
    ref = _reference(case)
    ours = fits[case].estimates
    np.testing.assert_allclose(ours["est"], ref["est"], atol=1e-4)
    np.testing.assert_allclose(ours["se"], ref["se"], atol=1e-4)


@pytest.mark.parametrize("case", COMPLETE)
def test_complete_data_fit_measures_match_lavaan(fits, case):
    """With complete data lavaan's h1 is its EM, stopped short of the maximum (by 3e-3 in the
    log-likelihood on the study's 24 communities): we take the same, so chisq and all else
    agree to 1e-5."""
    ref = _lavaan_fit(case)
    fit = fits[case].fit.iloc[0]
    for measure, value in ref.items():
        assert fit[measure.replace(".", "_")] == pytest.approx(value, abs=1e-4), measure


def test_the_em_is_lavaans_h1(fits):
    """lavaan's h1 means and covariances per level, step for step (lav_mvnorm_cluster_em_sat),
    including its within part of the mean of a variable at both levels."""
    h1 = pd.read_csv(FIXTURES / "h1.csv")
    for case in COMPLETE:
        fit = fits[case]
        for row in h1[h1["case"] == case].itertuples():
            block = fit.spec.within if row.level == 1 else fit.spec.between
            mu, sigma = (fit.h1.mu_w, fit.h1.sigma_w) if row.level == 1 else (fit.h1.mu_b,
                                                                             fit.h1.sigma_b)  # fmt: skip
            i = block.observed.index(row.lhs)
            ours = mu[i] if row.op == "~1" else sigma[i, block.observed.index(row.rhs)]
            assert ours == pytest.approx(row.value, abs=1e-8), (case, row)


def test_a_both_level_exogenous_mean_is_fixed_at_lavaans_between_part(fits):
    """facilitation's level-1 mean is 0 and its level-2 mean h1's between part (3.472), not
    its mean (3.666): lavaan's model misses the within part (0.194), which costs the fit
    (chisq 25.8 where the ML split would give 13.2)."""
    fit = fits["study_complete"]
    est = fit.estimates.set_index(["level", "lhs", "op"])["est"]
    between = fit.spec.between.observed.index("facilitation")
    within = fit.spec.within.observed.index("facilitation")
    assert est[(1, "facilitation", "~1")] == 0.0
    assert est[(2, "facilitation", "~1")] == pytest.approx(fit.h1.mu_b[between])
    assert fit.h1.mu_w[within] == pytest.approx(0.1939, abs=1e-4)
    assert fit.fit.iloc[0]["chisq"] == pytest.approx(25.7957, abs=1e-4)


@pytest.mark.parametrize("case", MISSING)
def test_missing_values_ml_estimates_match_lavaan(fits, case):
    """With missing = "ml" lavaan's h1 keeps the within mean of a variable at both levels at
    the observed rows' mean, so an exogenous one's level-2 mean is near 0 (the model misses
    its whole mean, chisq 4667). We take the same split from the ML h1; lavaan's own h1 fit
    stops short of the maximum (its fixed exogenous moments differ from the ML ones by up to
    1.2e-3, w1 ~~ w1 in the Demo case), hence the tolerances."""
    ref = _reference(case)
    ours = fits[case].estimates
    fixed = ref["se"] == 0
    np.testing.assert_allclose(ours["est"][~fixed], ref["est"][~fixed], atol=1e-3)
    np.testing.assert_allclose(ours["est"][fixed], ref["est"][fixed], atol=2e-3)
    np.testing.assert_allclose(ours["se"], ref["se"], atol=1e-3)
    level2 = fits[case].estimates.query("level == 2 and op == '~1'")
    lhs = "facilitation" if case == "study_missing" else "y1"
    assert abs(level2.set_index("lhs").loc[lhs, "est"]) < 0.06


@pytest.mark.parametrize("case", MISSING)
def test_missing_values_ml_fit_measures_match_lavaan(fits, case):
    ref = _lavaan_fit(case)
    fit = fits[case].fit.iloc[0]
    assert fit["ntotal"] == ref["ntotal"]
    for measure in ("chisq", "baseline.chisq", "logl", "unrestricted.logl", "aic", "bic"):
        assert fit[measure.replace(".", "_")] == pytest.approx(ref[measure], rel=2e-3), measure
    for measure in ("cfi", "rmsea", "srmr_within"):
        assert fit[measure] == pytest.approx(ref[measure], abs=2e-3), measure


def test_rows_with_a_missing_exogenous_value_are_left_out_as_lavaan_does():
    """y1 is exogenous at both levels: its 200 missing values take their rows out, also with
    missing = "ml" (lavaan: "cases were deleted due to missing values in exogenous
    variable(s), while fixed.x = TRUE")."""
    data = pd.read_csv(FIXTURES / "../twolevel/data_missing.csv")
    with pytest.warns(UserWarning, match=r"200 of 2500 rows have a missing value in an exogenous"):
        stats = tl.missing_cluster_data(data, tl.parse_twolevel(MODELS["demo"]), "cluster")
    assert stats.n_rows == 2300


@pytest.mark.parametrize("case", ["study_complete", "study_missing"])
def test_the_ml_placement_fixes_the_whole_mean_at_level_2(fits, case):
    """exogenous_means="ml": the facets' level-2 means at their ML means (3.666, as the
    rows' mean weighted by the clusters' information), so the model no longer misses them:
    chisq about 13 on 6 df, complete or with missing values, where lavaan's is 25.8 / 4667."""
    model, path, cluster, missing = CASES[case]
    data = pd.read_csv(FIXTURES / path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = tl.fit_twolevel(MODELS[model], data, cluster, missing=missing, exogenous_means="ml")
    est = fit.estimates.set_index(["level", "lhs", "op"])["est"]
    assert est[(2, "facilitation", "~1")] == pytest.approx(3.666, abs=1e-3)
    assert est[(1, "facilitation", "~1")] == 0.0
    assert 12.5 < fit.fit.iloc[0]["chisq"] < 13.5
    assert fit.fit.iloc[0]["chisq"] < fits[case].fit.iloc[0]["chisq"] - 10


@pytest.mark.parametrize("means", ["lavaan", "ml"])
@pytest.mark.parametrize("case", ["study_complete", "study_missing"])
def test_a_bootstrap_draw_of_every_cluster_once_is_the_full_sample_fit(case, means):
    """The bootstrap's refits fix the both-level exogenous moments as the full-sample fit
    does (lavaan's EM or split, or the ML h1's), so the draw that takes each cluster once
    gives back the full-sample estimates."""
    from lcsurvey.sem import twolevel_bootstrap as tlb

    model, path, cluster, missing = CASES[case]
    data = pd.read_csv(FIXTURES / path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = tl.fit_twolevel(MODELS[model], data, cluster, missing=missing, exogenous_means=means)
        _, job = tlb.twolevel_job(MODELS[model], data, cluster, missing=missing, fit=fit)
        job.prepare()
        theta = job.refit(np.ones(fit.fit.iloc[0]["nclusters"]))
    np.testing.assert_allclose(theta, fit.theta, atol=1e-4)


def test_the_rule_uses_ml_moments_unless_configured_as_lavaan(tmp_path):
    """estimation.twolevel_exogenous: lavaan gives lavaan's numbers through rule model; the
    default (ml) fixes the facets' moments at the ML unrestricted model, whose fit is better
    (lavaan's h1 EM stops early and splits the facets' means over the levels)."""
    from .conftest import run_model_rule

    data = pd.read_csv(FIXTURES / "study.csv")
    common = {"syntax": MODELS["study"], "cluster": "community", "missing": "listwise"}
    fits = {}
    for how in ("lavaan", "ml"):
        where = tmp_path / how
        where.mkdir()
        run_model_rule(where, data, twolevel_exogenous=how, **common)
        fits[how] = pd.read_csv(where / "fit.csv").iloc[0]
    reference = _lavaan_fit("study_complete")
    assert fits["lavaan"]["chisq"] == pytest.approx(reference["chisq"], abs=1e-3)
    assert fits["ml"]["chisq"] < fits["lavaan"]["chisq"] - 1
    assert fits["ml"]["aic"] < fits["lavaan"]["aic"]  # same npar: a higher likelihood
