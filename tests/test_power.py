"""Monte Carlo power analysis: seeds and shards, fits against the pipeline's, known power,
Wilson CIs, the planning sentence, and a dry run of the power rules with the SLURM profile."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lcsurvey.errors import InputError
from lcsurvey.sem import model as sem
from lcsurvey.study import analyses, power
from lcsurvey.study.simulate import default_truth
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.scales import scale_scores

from .conftest import ROOT, copy_workflow

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
SYNTAX = CONFIG["models"]["transfer"]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def book():
    return load_codebook(ROOT / "data" / "codebook.yaml")


@pytest.fixture(scope="module")
def truth_study(book):
    """Study of the default population with population values from 20,000 respondents."""
    study = power.PowerStudy(
        power.TruthPopulation(default_truth(), list(book.items)),
        SYNTAX,
        book,
        [power.INTERACTION, "indirect", "e"],
        seed=11,
    )
    true_values = study.true_values(reference_n=20_000)
    return study, true_values


def new_study(study: power.PowerStudy, **changes) -> power.PowerStudy:
    """A fresh study with the same settings and start values (as a separate job would be)."""
    fields = dict(
        population=study.population,
        syntax=study.syntax,
        book=study.book,
        effects=list(study.effects),
        alpha=study.alpha,
        seed=study.seed,
        start=dict(study.start),
    )
    fields.update(changes)
    return power.PowerStudy(**fields)


def test_replication_seed_is_a_spawned_child():
    seed, n, r = 20211201, 250, 7
    child = np.random.SeedSequence(seed).spawn(n + 1)[n].spawn(r + 1)[r]
    assert np.array_equal(
        power.replication_seed(seed, n, r).generate_state(4), child.generate_state(4)
    )
    assert not np.array_equal(
        power.replication_seed(seed, n, r).generate_state(4),
        power.replication_seed(seed, n + 1, r).generate_state(4),
    )


def test_shards_cover_every_replication_once():
    parts = power.shards(1000, 300)
    assert [(p.start, p.stop) for p in parts] == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    with pytest.raises(InputError, match="positive"):
        power.shards(10, 0)


def test_one_shard_or_several_give_the_same_aggregate(truth_study):
    study, true_values = truth_study
    whole = new_study(study).run(120, range(6))
    # Three jobs, in another order, each with its own study object (as separate processes).
    parts = [new_study(study).run(120, part) for part in (range(4, 6), range(0, 1), range(1, 4))]
    pieces = pd.concat(parts, ignore_index=True)
    pieces = pieces.sort_values(["replication"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, pieces)
    pd.testing.assert_frame_equal(
        power.aggregate(whole, true_values), power.aggregate(pieces, true_values)
    )
    assert whole["converged"].all()
    assert set(whole["effect"]) == {"interaction", "indirect", "e"}


def test_a_shard_reports_its_replications_and_gives_the_same_rows(truth_study):
    study, _ = truth_study
    calls = []
    counted = new_study(study).run(120, range(10, 14), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    pd.testing.assert_frame_equal(counted, new_study(study).run(120, range(10, 14), progress=False))


def test_fast_fits_match_the_pipeline_fit(truth_study):
    """Complete data (moments) and missing answers (FIML) against lcsurvey.sem.model.fit_model."""
    study, _ = truth_study
    fitter = study.fitter(study.population.sample(50, np.random.default_rng(0)))
    truth = study.population.truth
    for missing in (False, True):
        population = power.TruthPopulation(truth, study.population.items, missing=missing)
        sample = population.sample(350, np.random.default_rng(3))
        assert sample.isna().any().any() == missing
        theta, vcov, converged = fitter.fit(sample)
        assert converged
        fast = fitter.effects(theta, vcov, ["indirect", "e", "a"])
        reference = sem.fit_model(SYNTAX, sample, missing="fiml").estimates
        for label in ("indirect", "e", "a"):
            row = reference[reference["label"] == label].iloc[0]
            assert fast[label][0] == pytest.approx(row["est"], rel=2e-5, abs=1e-7), label
            assert fast[label][1] == pytest.approx(row["se"], rel=2e-4), label


def test_interaction_is_the_pipelines_moderation(truth_study, book):
    study, _ = truth_study
    rows = new_study(study, effects=[power.INTERACTION]).run(150, [3])
    rng = np.random.default_rng(power.replication_seed(study.seed, 150, 3))
    items = study.population.sample(150, rng)
    scores = scale_scores(items.assign(rid=np.arange(150)), book)
    expected = (
        analyses.moderation(scores)
        .coefficients.set_index("term")
        .loc["perceived_learning:home_support"]
    )
    got = rows.iloc[0]
    for column in ("est", "se", "pvalue", "ci_lower", "ci_upper"):
        assert got[column] == pytest.approx(expected[column], rel=1e-12), column


def test_zero_interaction_is_rejected_at_the_nominal_rate(book):
    truth = copy.deepcopy(default_truth())
    for reg in truth["regressions"]:
        if reg["rhs"] == "perceived_learning:home_support":
            reg["std_all"] = 0.0
    study = power.PowerStudy(
        power.TruthPopulation(truth, list(book.items)),
        SYNTAX,
        book,
        [power.INTERACTION],
        alpha=0.05,
        seed=5,
    )
    # Without a latent interaction the observed-score interaction is ~0 (SE 0.0025 here).
    true_values = study.true_values(reference_n=500_000)
    assert abs(true_values[power.INTERACTION]) < 0.01
    results = study.run(100, range(400))
    table = power.aggregate(results, {power.INTERACTION: 0.0})
    row = table.iloc[0]
    assert row["replications"] == 400 and row["converged"] == 400
    # The rejection rate's 95% CI covers alpha, and it is well below the power of a real effect.
    assert row["power_ci_lower"] <= 0.05 <= row["power_ci_upper"]
    assert 0.02 < row["power"] < 0.09
    assert 0.92 <= row["coverage"] <= 0.98
    assert abs(row["bias"]) < 0.01


def test_power_grows_with_n_and_estimates_recover_the_population_value(truth_study):
    study, true_values = truth_study
    results = pd.concat(
        [new_study(study, effects=["indirect"]).run(n, range(30)) for n in (80, 400)],
        ignore_index=True,
    )
    table = power.aggregate(results, true_values).set_index("n")
    assert table.loc[400, "power"] > table.loc[80, "power"]
    assert table.loc[400, "power"] > 0.9
    row = table.loc[400]
    assert abs(row["bias"]) < 3 * row["sd_estimate"] / np.sqrt(30)
    assert row["mean_se"] == pytest.approx(row["sd_estimate"], rel=0.35)


def test_non_converged_fits_are_counted_not_dropped():
    results = pd.DataFrame(
        {
            "n": 100,
            "replication": range(12),
            "effect": "indirect",
            "converged": [True] * 10 + [False] * 2,
            "est": [0.1] * 8 + [0.0] * 2 + [np.nan] * 2,
            "se": [0.02] * 10 + [np.nan] * 2,
            "pvalue": [0.001] * 8 + [0.5] * 2 + [np.nan] * 2,
            "ci_lower": [0.06] * 8 + [-0.04] * 2 + [np.nan] * 2,
            "ci_upper": [0.14] * 8 + [0.04] * 2 + [np.nan] * 2,
        }
    )
    row = power.aggregate(results, {"indirect": 0.08}).iloc[0]
    assert (row["replications"], row["converged"], row["rejections"]) == (12, 10, 8)
    assert row["convergence_rate"] == pytest.approx(10 / 12)
    assert row["power"] == pytest.approx(0.8)
    # R: prop.test(8, 10, correct = FALSE)$conf.int
    assert row["power_ci_lower"] == pytest.approx(0.490162471537, abs=1e-10)
    assert row["power_ci_upper"] == pytest.approx(0.943317848546, abs=1e-10)
    assert row["mean_estimate"] == pytest.approx(0.08)
    assert row["bias"] == pytest.approx(0.0, abs=1e-12)
    assert row["coverage"] == pytest.approx(0.8)
    edges = power.aggregate(results.assign(pvalue=0.001), {"indirect": 0.08}).iloc[0]
    assert (edges["power"], edges["power_ci_upper"]) == (1.0, 1.0)
    assert edges["power_ci_lower"] == pytest.approx(0.722467, abs=1e-6)  # prop.test(10, 10)


def power_table(interaction: list[float], indirect: list[float]) -> pd.DataFrame:
    sizes = [150, 250, 400, 600]
    rows = [
        {"n": n, "effect": effect, "replications": 1000, "power": p}
        for effect, values in (("interaction", interaction), ("indirect", indirect))
        for n, p in zip(sizes, values, strict=True)
    ]
    return pd.DataFrame(rows)


def test_planning_note_names_the_smallest_sufficient_size():
    table = power_table([0.31, 0.52, 0.81, 0.93], [0.55, 0.62, 0.71, 0.78])
    en = power.planning_note(table, "en")
    assert en.startswith("Planning the next wave (80% power, 1000 simulations per sample size): ")
    assert "interaction (home support strengthening" in en
    assert "needs at least 400 respondents" in en
    assert "does not reach 80% within the sizes tried (up to 600)." in en
    nl = power.planning_note(table, "nl")
    assert nl.startswith("Planning van de volgende meting (80% power, 1000 simulaties per ")
    assert "vraagt minstens 400 respondenten" in nl
    assert "haalt 80% niet binnen de onderzochte steekproefgroottes (tot en met 600)" in nl
    # Exactly 0.80 counts as reached; the order of the rows does not matter.
    shuffled = power_table([0.2, 0.8, 0.9, 0.95], [0.81, 0.9, 0.95, 0.99]).iloc[::-1]
    assert "needs at least 250 respondents" in power.planning_note(shuffled, "en")
    assert "needs at least 150 respondents" in power.planning_note(shuffled, "en")
    with pytest.raises(InputError, match="language"):
        power.planning_note(table, "de")


def test_settings_are_checked():
    models = CONFIG["models"]
    ok = power.settings({"effects": ["interaction", "indirect", "e"]}, models)
    assert ok["sizes"] == [150, 250, 400, 600] and ok["population"] == "truth"
    with pytest.raises(InputError, match="not effects of model 'transfer'"):
        power.settings({"effects": ["indirect", "nonsense"]}, models)
    with pytest.raises(InputError, match="power.model"):
        power.settings({"model": "other"}, models)
    with pytest.raises(InputError, match=">= 20"):
        power.settings({"sizes": [10, 100]}, models)
    with pytest.raises(InputError, match="population: truth"):
        power.settings({"population": "fitted", "missing": True}, models)


def test_fitted_population_has_the_fitted_values_as_truth(book):
    truth = default_truth()
    population = power.TruthPopulation(truth, list(book.items))
    wave = population.sample(1500, np.random.default_rng(9))
    estimates = sem.fit_model(SYNTAX, wave, missing="fiml").estimates
    scores = scale_scores(wave.assign(rid=np.arange(len(wave))), book)
    moderation = analyses.moderation(scores).coefficients
    fitted = power.fitted_population(estimates, SYNTAX, scores, moderation)
    study = power.PowerStudy(fitted, SYNTAX, book, ["indirect", power.INTERACTION], seed=2)
    true_values = study.true_values(reference_n=2000)
    indirect = estimates.loc[estimates["label"] == "indirect", "est"].iloc[0]
    assert true_values["indirect"] == pytest.approx(indirect, rel=1e-8)
    interaction = moderation.set_index("term").loc["perceived_learning:home_support", "est"]
    assert true_values[power.INTERACTION] == pytest.approx(interaction, rel=1e-12)
    table = power.aggregate(study.run(600, range(30)), true_values).set_index("effect")
    assert (table["converged"] == 30).all()
    for effect in ("indirect", power.INTERACTION):
        row = table.loc[effect]
        assert abs(row["bias"]) < 3 * row["sd_estimate"] / np.sqrt(30), effect


def test_plot_is_written(tmp_path):
    table = power_table([0.31, 0.52, 0.81, 0.93], [0.55, 0.62, 0.71, 0.78])
    table["power_ci_lower"] = table["power"] - 0.03
    table["power_ci_upper"] = table["power"] + 0.03
    power.plot_power(table, tmp_path / "power.png")
    first = (tmp_path / "power.png").read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    power.plot_power(table, tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == first


def copy_power_workflow(target):
    copy_workflow(target, ("Snakefile", "workflow", "envs", "config.yaml"))
    (target / "data").mkdir()
    shutil.copy2(ROOT / "data" / "codebook.yaml", target / "data" / "codebook.yaml")


def test_slurm_profile_dry_run_lists_the_power_jobs(tmp_path):
    copy_power_workflow(tmp_path)
    run = subprocess.run(
        [SNAKEMAKE, "-n", "--workflow-profile", "workflow/profiles/slurm", "power"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    settings = power.settings(CONFIG.get("power"), CONFIG["models"])
    shards = len(power.shards(settings["replications"], settings["shard_size"]))
    output = run.stdout + run.stderr
    counts = dict(
        line.split()[:2]
        for line in output.splitlines()
        if line.split()[:1] in (["power_shard"], ["power_population"], ["power_aggregate"])
        and len(line.split()) == 2
    )
    assert counts == {
        "power_population": "1",
        "power_shard": str(len(settings["sizes"]) * shards),
        "power_aggregate": "1",
    }
    # The profile was read: its default resources reach every job.
    assert "Using workflow specific profile workflow/profiles/slurm" in output
    jobs = len(settings["sizes"]) * shards + 3  # + population, aggregate, power
    assert output.count("cpus_per_task=1") == jobs


def test_the_workflow_parses_without_a_core_count(tmp_path):
    # A cluster run gives no --cores (a dry run silently sets one): every rule's threads must
    # still be defined. --summary parses the whole workflow the way a real submission does.
    copy_power_workflow(tmp_path)
    run = subprocess.run(
        [SNAKEMAKE, "--workflow-profile", "workflow/profiles/slurm", "--summary", "power"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "results/power/power.csv" in run.stdout


def test_a_sample_the_model_cannot_fit_is_recorded_as_not_converged(truth_study):
    study, _ = truth_study
    fitter = study.fitter(study.population.sample(50, np.random.default_rng(0)))
    sample = study.population.sample(40, np.random.default_rng(1))
    sample[fitter.observed[0]] = 3.0  # an item without variance
    theta, vcov, converged = fitter.fit(sample)
    assert not converged and vcov is None
