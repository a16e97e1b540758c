"""The simulator's between-community part and the true values of the two-level transfer model.

* The default between part is the simulator's original one (only the climate has a community
  effect), so the bundled waves stay as they are (tests/test_simulate.py regenerates them byte
  for byte); ``with_between`` gives other parts.
* A large population's community parts reproduce the configured between variances.
* The population values in TRUTH.yaml (lcsurvey.study.simulate.levels) agree with a two-level
  ML fit (lcsurvey.sem.twolevel.fit_twolevel) on a large simulated sample, and the level-2
  paths that the bundled between part cannot identify come out as not identified.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from lcsurvey.sem.twolevel import fit_twolevel
from lcsurvey.study.simulate import default_truth, levels, simulate_population, with_between
from lcsurvey.study.simulate.population import BETWEEN_CAUSES, STRUCTURAL

ROOT = Path(__file__).resolve().parents[1]
CHAIN = ["climate", "facilitation", "appreciation", "psychological_safety", "learning_behaviour",
         "perceived_learning", "knowledge_transfer"]  # fmt: skip


def between_covariance(truth) -> np.ndarray:
    """Covariance matrix of the community parts of CHAIN implied by truth['between']:
    B_L = sum path * B_cause + residual effect, var(residual effect) = ICC x residual variance."""
    index = {v: i for i, v in enumerate(CHAIN)}
    k = len(CHAIN)
    coef = np.zeros((k, k))
    psi = np.zeros(k)
    psi[0] = truth["climate_icc"]
    spec = truth["between"]
    for lhs in CHAIN[1:]:
        for cause, value in spec["paths"].get(lhs, {}).items():
            coef[index[lhs], index[cause]] = value
        psi[index[lhs]] = spec["residual_icc"][lhs] * truth["residual_variances"][lhs]
    inverse = np.linalg.inv(np.eye(k) - coef)
    return inverse @ np.diag(psi) @ inverse.T


def test_the_default_between_part_is_the_original_one():
    truth = default_truth()
    between = truth["between"]
    assert set(between["residual_icc"].values()) == {0.0}
    # Every level-2 path equals the within path: community parts follow the climate's.
    for lhs, paths in between["paths"].items():
        for cause, value in paths.items():
            assert cause in BETWEEN_CAUSES
            assert value == STRUCTURAL[lhs][cause]
    assert "residual_effects" not in truth["communities"][0]
    # Redrawing with the same seed and size gives the same communities.
    assert with_between(truth)["communities"] == truth["communities"]
    written = yaml.safe_load((ROOT / "data" / "raw" / "TRUTH.yaml").read_text(encoding="utf-8"))
    assert written["between"] == between


def test_a_large_population_reproduces_the_configured_between_variances():
    """400 communities of 50 members with the scenario's between part (exact effects): the
    ANOVA estimate of each latent variable's between variance is within 3 standard errors,
    sqrt(2 / G) (sigma_B^2 + sigma_W^2 / m), of the variance the configuration implies."""
    g, m = 400, 50
    truth = with_between(default_truth(), n_communities=g, seed=11, **levels.SCENARIO)
    assert truth["climate_icc"] == 0.20
    assert truth["between"]["paths"]["psychological_safety"] == {"climate": 0.70}
    people = simulate_population(g * m, np.random.default_rng(12), truth)
    columns = [f"true_{v}" for v in CHAIN]
    moments = levels.LevelMoments(columns, centre=0.0)
    moments.add(people)
    sigma_w, sigma_b = moments.covariances()
    expected = np.diag(between_covariance(truth))
    assert expected[0] == pytest.approx(0.20)
    assert expected[3] == pytest.approx(0.7**2 * 0.2 + 0.1 * 0.75)  # safety: path + residual
    se = np.sqrt(2 / g) * (expected + np.diag(sigma_w) / m)
    assert np.all(np.abs(np.diag(sigma_b) - expected) < 3 * se), (np.diag(sigma_b), expected)
    # The climate's ICC is the configured one; the member part keeps the rest of variance 1.
    icc = sigma_b[0, 0] / (sigma_b[0, 0] + sigma_w[0, 0])
    assert icc == pytest.approx(0.20, abs=3 * se[0])
    # Random (not rescaled) effects: their spread is a draw, not exactly the configured one.
    drawn = with_between(default_truth(), n_communities=g, seed=11, exact=False, **levels.SCENARIO)
    effects = np.array([c["climate_effect"] for c in drawn["communities"]])
    assert effects.var() != pytest.approx(0.20, abs=1e-4)
    assert effects.var() == pytest.approx(0.20, abs=4 * 0.20 * np.sqrt(2 / g))


def test_truth_yaml_holds_the_population_values():
    written = yaml.safe_load((ROOT / "data" / "raw" / "TRUTH.yaml").read_text(encoding="utf-8"))
    entry = written["transfer_levels"]
    assert "\n".join(entry["model"]) == levels.TRANSFER_LEVELS.strip()
    assert entry["within"] == levels.TRUTH["within"]
    assert entry["between"]["indirect_between"] is None
    assert entry["scenario"]["between"] == levels.SCENARIO_TRUTH["between"]
    within = levels.TRUTH["within"]
    assert within["indirect_within"] == pytest.approx(
        (within["a1"] + within["a2"]) * within["b"] * within["c"], abs=1e-4
    )


def test_the_scenario_values_agree_with_a_two_level_fit():
    """One sample of 300 random communities x 40 members from the scenario, fitted by
    two-level ML: every labelled value within 3.5 combined standard errors of the stated
    population value, sqrt(SE^2 + mc^2), mc = the stated Monte Carlo error of the population
    values (0.003 within, 0.01 between). Under the model the probability of a miss per value
    is about 5e-4."""
    truth = with_between(default_truth(), n_communities=300, seed=5, exact=False, **levels.SCENARIO)
    people = simulate_population(300 * 40, np.random.default_rng(6), truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit_twolevel(levels.TRANSFER_LEVELS, levels.score_population(people), "community")
    assert fitted.converged and not fitted.heywood
    est = fitted.estimates.set_index("label")
    for level, mc in (("within", 0.003), ("between", 0.01)):
        for label, value in levels.SCENARIO_TRUTH[level].items():
            se = est.loc[label, "se"]
            assert abs(est.loc[label, "est"] - value) < 3.5 * np.hypot(se, mc), (label, value)


def test_the_bundled_between_part_leaves_level_2_paths_unidentified():
    """A smaller population (300 communities x 100 members) of the bundled model: the same
    verdicts as TRUTH.yaml, and within values within 0.02 of the stated ones (about 3 times
    the spread of the within values between such populations)."""
    values = levels.population_values(default_truth(), n_communities=300, members=100, seed=8)
    between = values["between"]
    assert between["a1b"] is None and between["bb"] is None
    assert between["indirect_between"] is None
    assert between["cb"] is not None
    assert any("collinear" in reason for reason in between["not_identified"])
    for label, value in levels.TRUTH["within"].items():
        assert values["within"][label] == pytest.approx(value, abs=0.02), label


def test_with_between_rejects_what_the_model_does_not_have():
    with pytest.raises(ValueError, match="unknown constructs"):
        with_between(residual_icc={"climate_facet": 0.1})
    with pytest.raises(ValueError, match="network_gain ~ \\['motive_network'\\]"):
        with_between(paths={"network_gain": {"motive_network": 0.5}})
    with pytest.raises(ValueError, match="0 <= ICC < 1"):
        with_between(residual_icc={"learning_behaviour": 1.0})


def test_the_command_names_a_bad_between_file(tmp_path, capsys):
    from lcsurvey.study import simulate as sim

    bad = tmp_path / "between.yaml"
    bad.write_text("climate_icc: 0.2\nresidual_icc: {safety: 0.1}\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        sim.main(["--out", str(tmp_path / "raw"), "--between", str(bad)])
    message = capsys.readouterr().err
    assert str(bad) in message and "unknown constructs ['safety']" in message
    assert not (tmp_path / "raw").exists()  # nothing written


def test_returners_keep_their_innovations_under_another_between_part():
    """The panel inverts the forward model; with community parts of the disturbances and other
    level-2 paths the inversion must take them out again (round trip to machine precision)."""
    from lcsurvey.study.simulate import population

    truth = with_between(default_truth(), **levels.SCENARIO)
    people = simulate_population(300, np.random.default_rng(1), truth)
    community = people["community"].to_numpy()
    latent = {
        c.removeprefix("true_"): people[c].to_numpy() for c in people if c.startswith("true_")
    }
    z = population._innovations_from_latent(latent, community, truth)
    again = population._latent_from_innovations(z, community, truth)
    for name, values in again.items():
        np.testing.assert_allclose(values, latent[name], atol=1e-12, err_msg=name)


def test_the_true_values_are_for_the_configured_model():
    """TRUTH.yaml's values are for config.yaml's transfer_levels: the same statements."""
    models = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))["models"]
    configured = [line.strip() for line in models["transfer_levels"].strip().splitlines()]
    assert configured == [line.strip() for line in levels.TRANSFER_LEVELS.strip().splitlines()]
