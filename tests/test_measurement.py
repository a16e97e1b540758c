"""The measurement model against lavaan and semTools, and against the simulator's true values.

Reference numbers: tests/fixtures/r/make_psychometrics_fixtures.R (R 4.2, lavaan 0.6-14,
semTools 0.5-6; psychometrics_versions.csv beside it) on HolzingerSwineford1939, complete and
with the scattered gaps of fiml_holzinger_swineford.csv. One absolute tolerance per quantity,
about ten times the largest difference from lavaan/semTools seen (listed beside each), never
below 1e-10 (below that only the order of floating-point operations would be tested).

Truth recovery on the bundled synthetic waves (305 and 229 clean respondents, ~7% of the
answers missing): the simulator cuts a standardised latent response (loading l) into five
categories at known thresholds, so the loading of an answer (what a CFA of the answers
estimates) is the polyserial attenuation l * sum(phi(tau_k)) / sd(answer), computed here from
TRUTH.yaml; it reproduces TRUTH.yaml's omega_items (the truth for the answers) within 0.01.
Tolerances come from sampling error: 40 simulated samples of n = 280 (simulate_population,
complete data) gave standard deviations of 0.03-0.07 for a standardised loading (the larger
ones in three-item scales with loadings near 0.6) and 0.013-0.031 for omega, with biases
below 0.02. At n = 229 with gaps these grow by about 15%, to at most 0.08 and 0.036. So each
loading must lie within 0.20 (2.5-3 of those SDs for the weakest items, more for the rest) and
each omega within 0.11 (3 SDs); a systematic error (a wrong key, a wrong formula) shows up in
the averages instead, held to 0.03 over all ~50 loadings and 13 omegas of a wave (the SD of
such an average is about 0.01).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from lcsurvey.pipeline.runner import round_significant
from lcsurvey.sem.model import fit_model
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.measurement import (
    JOINT,
    MeasurementResult,
    average_variance_extracted,
    cfa_fit_table,
    cfa_syntax,
    comp_rel_sem,
    composite_reliability,
    fit_measurement,
    htmt,
    loadings_table,
    validity_tables,
)
from lcsurvey.survey.scales import reliability_table

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"
LOADING_TOLS = {"est": 2e-5, "std_all": 1e-5}  # loadings: 1.9e-6, standardised 8.1e-7
LOADING_SE_TOL = 1e-5  # their standard errors: 9.1e-7
CFA_FIT_TOL = {  # fit of the one-factor CFAs and the joint CFA
    "ntotal": 0.0,
    "df": 0.0,
    "chisq": 2.5e-10,  # 2.5e-11
    "cfi": 1e-10,
    "tli": 1e-10,
    "rmsea": 1e-10,  # 3e-14 to 5e-14: floor
    "srmr": 3.5e-7,  # 3.4e-8
    "aic": 3e-10,
    "bic": 3e-10,  # 2.8e-11
    "pvalue": 1e-10,  # 5e-17: floor
    "rmsea_ci_lower": 4e-9,  # 3.7e-10
    "rmsea_ci_upper": 1e-10,  # 3.7e-11: floor
}
VALIDITY_TOL = {  # semTools: compRelSEM, AVE; factor correlations
    "cr": 2.5e-6,  # 2.3e-7
    "comp_rel_sem": 1.5e-5,  # 1.3e-6
    "ave": 7e-6,  # 6.5e-7
    "sqrt_ave": 5e-6,  # 5.0e-7
    "max_factor_correlation": 1e-5,  # 9.5e-7
}
HTMT_TOL = {
    "htmt": 4e-6,
    "htmt_arithmetic": 9e-6,  # 3.6e-7, 8.6e-7
    "factor_correlation": 1e-5,
}  # 9.5e-7
FACTORS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
LOADING_TOL = 0.20
OMEGA_TOL = 0.11
MEAN_TOL = 0.03


def _hs_result(data: pd.DataFrame) -> MeasurementResult:
    """The measurement result for the HS factors, as fit_measurement builds it from a codebook."""
    from lcsurvey.survey.measurement import _fitted_moments

    fits = {name: fit_model(cfa_syntax({name: items}), data) for name, items in FACTORS.items()}
    fits[JOINT] = fit_model(cfa_syntax(FACTORS), data)
    return MeasurementResult(
        factors=FACTORS, fits=fits, sample_cov=_fitted_moments(fits[JOINT], "fiml"), missing="fiml"
    )


@pytest.fixture(scope="module")
def complete() -> MeasurementResult:
    return _hs_result(pd.read_csv(FIXTURES / "holzinger_swineford.csv"))


@pytest.fixture(scope="module")
def gaps() -> MeasurementResult:
    return _hs_result(pd.read_csv(FIXTURES / "fiml_holzinger_swineford.csv"))


def test_loadings_match_lavaan(complete):
    ref = pd.read_csv(FIXTURES / "psychometrics_loadings.csv")
    ours = loadings_table(complete)
    merged = ours.merge(ref, on=["model", "construct", "item"], suffixes=("", "_r"))
    assert len(merged) == len(ref) == 18
    for column, tol in LOADING_TOLS.items():
        np.testing.assert_allclose(merged[column], merged[f"{column}_r"], atol=tol, err_msg=column)
    free = merged["se_r"] > 0  # lavaan gives se = 0 for the fixed marker loadings, we give NaN
    np.testing.assert_allclose(
        merged.loc[free, "se"], merged.loc[free, "se_r"], atol=LOADING_SE_TOL
    )
    assert merged.loc[~free, "se"].isna().all()


def test_cfa_fit_matches_lavaan(complete):
    ref = pd.read_csv(FIXTURES / "psychometrics_cfa_fit.csv").set_index("model")
    ours = cfa_fit_table(complete).set_index("model")
    assert ours.index[0] == JOINT
    for column in ("ntotal", "chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        np.testing.assert_allclose(
            ours.loc[ref.index, column],
            ref[column],
            rtol=0,
            atol=CFA_FIT_TOL[column],
            err_msg=column,
        )
    for column in ("pvalue", "rmsea_ci_lower", "rmsea_ci_upper"):
        assert ours.loc[JOINT, column] == pytest.approx(
            ref.loc[JOINT, column], abs=CFA_FIT_TOL[column]
        )


@pytest.mark.parametrize("case", ["complete", "gaps"])
def test_validity_matches_semtools(request, case):
    result = request.getfixturevalue(case)
    suffix = "" if case == "complete" else "_gaps"
    ref = pd.read_csv(FIXTURES / f"psychometrics_validity{suffix}.csv").set_index("construct")
    validity, _ = validity_tables(result)
    validity = validity.set_index("construct").loc[ref.index]
    np.testing.assert_allclose(validity["cr"], ref["cr"], atol=VALIDITY_TOL["cr"])
    np.testing.assert_allclose(
        validity["comp_rel_sem"], ref["comp_rel_sem"], atol=VALIDITY_TOL["comp_rel_sem"]
    )
    np.testing.assert_allclose(validity["ave"], ref["ave_semtools"], atol=VALIDITY_TOL["ave"])
    np.testing.assert_allclose(
        validity["max_factor_correlation"],
        ref["max_factor_correlation"],
        atol=VALIDITY_TOL["max_factor_correlation"],
    )
    np.testing.assert_allclose(
        validity["sqrt_ave"], np.sqrt(ref["ave_semtools"]), atol=VALIDITY_TOL["sqrt_ave"]
    )
    assert validity["fornell_larcker"].all()


@pytest.mark.parametrize("case", ["complete", "gaps"])
def test_htmt_matches_semtools(request, case):
    result = request.getfixturevalue(case)
    suffix = "" if case == "complete" else "_gaps"
    ref = pd.read_csv(FIXTURES / f"psychometrics_htmt{suffix}.csv")
    _, table = validity_tables(result)
    merged = table.merge(ref, on=["construct_a", "construct_b"], suffixes=("", "_r"))
    assert len(merged) == 3
    for column, tol in HTMT_TOL.items():
        np.testing.assert_allclose(merged[column], merged[f"{column}_r"], atol=tol, err_msg=column)


def test_formulas_on_a_known_factor():
    # Three standardised items with loadings 0.8, 0.7, 0.6: CR by hand, AVE = mean l^2.
    lam = np.array([0.8, 0.7, 0.6])
    sigma = np.outer(lam, lam) + np.diag(1 - lam**2)
    assert composite_reliability(lam) == pytest.approx(2.1**2 / (2.1**2 + 3 - 1.49))
    assert comp_rel_sem(lam, 1.0, sigma) == pytest.approx(composite_reliability(lam))
    assert average_variance_extracted(lam, 1.0, np.diag(sigma)) == pytest.approx(1.49 / 3)
    corr = pd.DataFrame(sigma, index=["a", "b", "c"], columns=["a", "b", "c"])
    with pytest.raises(KeyError):
        htmt(corr, {"f": ["a", "b"], "g": ["d"]})


# --------------------------------------------------------------------------------------------
# Truth recovery on the bundled synthetic waves.
# --------------------------------------------------------------------------------------------


def answer_loading(spec: dict) -> float:
    """Correlation of a cut latent response with its factor: l * sum(phi(tau)) / sd(answer)."""
    tau = np.asarray(spec["thresholds"], dtype=float)
    shares = np.diff(np.concatenate([[0.0], stats.norm.cdf(tau), [1.0]]))
    codes = np.arange(1, len(shares) + 1)
    mean = shares @ codes
    sd = np.sqrt(shares @ (codes - mean) ** 2)
    return spec["loading"] * stats.norm.pdf(tau).sum() / sd


@pytest.fixture(scope="module")
def truth() -> dict:
    return yaml.safe_load((ROOT / "data" / "raw" / "TRUTH.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundled_waves():
    from lcsurvey.survey.clean import clean_file

    book = load_codebook(ROOT / "data" / "codebook.yaml")
    waves = {"2021-12": "wave_2021-12.csv", "2022-06": "wave_2022-06.sav"}
    kept = {
        wave: clean_file(
            str(ROOT / "data" / "raw" / name),
            book,
            wave=wave,
            rules=None,
            key=b"truth-recovery-test-key-32-bytes",
        ).kept
        for wave, name in waves.items()
    }
    return book, kept


def test_omega_recovers_the_truth(bundled_waves, truth):
    book, waves = bundled_waves
    for wave, responses in waves.items():
        reliability = reliability_table(responses, book)[0].set_index("construct")
        deviations = []
        for construct, spec in truth["constructs"].items():
            omega = reliability.loc[construct, "omega_total"]
            assert omega == pytest.approx(spec["omega_items"], abs=OMEGA_TOL), (wave, construct)
            deviations.append(omega - spec["omega_items"])
        assert abs(np.mean(deviations)) < MEAN_TOL, wave


def test_standardised_loadings_recover_the_truth(bundled_waves, truth):
    book, waves = bundled_waves
    for wave, responses in waves.items():
        deviations = []
        for construct, spec in truth["constructs"].items():
            fitted = fit_model(cfa_syntax({construct: spec["items"]}), responses)
            est = fitted.estimates
            loadings = est[est["op"] == "=~"].set_index("rhs")["std_all"]
            for item in spec["items"]:
                expected = answer_loading(truth["items"][item])
                assert loadings[item] == pytest.approx(expected, abs=LOADING_TOL), (wave, item)
                deviations.append(loadings[item] - expected)
        assert abs(np.mean(deviations)) < MEAN_TOL, wave


def test_answer_loadings_reproduce_the_truths_omega(truth):
    # The attenuation formula is the bridge from TRUTH.yaml's latent loadings to the answers.
    for spec in truth["constructs"].values():
        lam = np.array([answer_loading(truth["items"][i]) for i in spec["items"]])
        assert composite_reliability(lam) == pytest.approx(spec["omega_items"], abs=0.015)


def test_fit_measurement_on_a_wave(bundled_waves):
    book, waves = bundled_waves
    result = fit_measurement(waves["2022-06"], book)
    fit = cfa_fit_table(result)
    assert fit["model"].tolist() == [JOINT, *book.constructs]
    joint = fit.set_index("model").loc[JOINT]
    assert joint["cfi"] > 0.95 and joint["rmsea"] < 0.05  # the population model is a CFA
    loadings = loadings_table(result)
    assert len(loadings) == 2 * sum(len(c.items) for c in book.constructs.values())
    validity, pairs = validity_tables(result)
    assert validity["construct"].tolist() == list(book.constructs)
    assert len(pairs) == len(book.constructs) * (len(book.constructs) - 1) // 2
    assert validity["fornell_larcker"].all() and (pairs["htmt"] < 0.85).all()


def test_round_significant_keeps_eight_digits():
    frame = pd.DataFrame(
        {"x": [123456.789123, 0.000123456789, 0.0, np.nan, -2.5e-12], "name": list("abcde")}
    )
    out = round_significant(frame)
    assert out["x"].iloc[0] == 123456.79 and out["x"].iloc[1] == pytest.approx(0.00012345679)
    assert (
        out["x"].iloc[2] == 0.0
        and np.isnan(out["x"].iloc[3])
        and out["name"].tolist() == list("abcde")
    )
