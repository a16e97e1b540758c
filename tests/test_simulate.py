"""Tests of the survey simulator: structure of the raw files, mess rates, true values, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from lcsurvey.study import simulate as sim
from lcsurvey.study.simulate import mess, questionnaire, writers
from lcsurvey.study.simulate import population as population_model

SEED = 20211201


@pytest.fixture(scope="module")
def codebook():
    return questionnaire.read_codebook()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The bundled files, generated once into a temporary directory."""
    out = tmp_path_factory.mktemp("raw")
    truth = sim.generate(out, seed=SEED)
    return out, truth


@pytest.fixture(scope="module")
def wave1(generated):
    out, _ = generated
    return pd.read_csv(
        out / "wave_2021-12.csv",
        skiprows=[1, 2],
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
    )


@pytest.fixture(scope="module")
def wave2(generated):
    out, _ = generated
    return pyreadstat.read_sav(str(out / "wave_2022-06.sav"))


@pytest.fixture(scope="module")
def population():
    """A large clean population; 200 communities so the ICC estimate is tight."""
    truth = sim.default_truth()
    truth["n_communities"] = 200
    truth["communities"] = population_model._communities(200, truth["climate_icc"], SEED)
    return sim.simulate_population(60_000, np.random.default_rng(1), truth)


# --- the CSV export ----------------------------------------------------------------------


def test_csv_has_bom_and_three_header_rows(generated, codebook):
    out, _ = generated
    raw = (out / "wave_2021-12.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    head = pd.read_csv(out / "wave_2021-12.csv", nrows=2, dtype=str, encoding="utf-8-sig")
    assert head.loc[0, "Duration (in seconds)"] == "Duration (in seconds)"
    assert head.loc[1, "Q9_1"] == '{"ImportId":"QID9_1"}'
    assert head.loc[1, "StartDate"].startswith('{"ImportId":"startDate"')
    assert head.loc[0, "Q9_1"] == codebook["items"]["ps1"]["text"]["nl"]


def test_csv_columns_follow_the_codebook(wave1, codebook):
    expected = {spec["column"] for spec in codebook["items"].values()}
    expected |= {spec["column"] for spec in codebook["background"].values()}
    expected |= set(codebook["pii"]) | {codebook["id"], codebook["person"], "Q1", "Q10_7", "Q17"}
    assert expected <= set(wave1.columns)
    assert len(wave1) == sim.BUNDLED_WAVES["2021-12"][1]
    assert wave1["ResponseId"].str.fullmatch(r"R_[A-Za-z0-9]{15}").all()
    assert wave1["ResponseId"].is_unique


def test_csv_answers_are_dutch_choice_text(wave1, codebook):
    agree5 = {v[0] for v in codebook["scales"]["agree5"]["values"].values()}
    answers = set(wave1["Q6_1"]) - {"", "-99"}
    assert answers == agree5
    assert set(wave1["Q1"]) == {"Ja, ik doe mee", "Nee, ik doe niet mee"}
    assert set(wave1["Status"]) == {"IP Address", "Survey Preview"}
    assert set(wave1["Finished"]) == {"True", "False"}
    # Numeric scales are written as numbers.
    assert pd.to_numeric(wave1["Q18"].replace("", np.nan)).notna().sum() > 300


def test_free_text_keeps_accents(wave1):
    comments = " ".join(wave1["Q17"])
    assert "é" in comments and "ë" in comments
    share = (wave1["Q17"] != "").mean()
    assert 0.05 < share < 0.25


# --- mess rates match TRUTH ---------------------------------------------------------------


def test_counts_match_truth_wave1(wave1, generated):
    _, truth = generated
    t = truth["waves"]["2021-12"]
    real = wave1[wave1["Status"] == "IP Address"]
    assert (wave1["Status"] == "Survey Preview").sum() == t["preview"]
    refs = real["ExternalReference"]
    assert len(refs) - refs.nunique() == t["duplicate"]
    assert t["duplicate"] / t["rows"] == pytest.approx(truth["mess_rates"]["duplicate"], abs=0.005)
    assert (real["Q1"] == "Nee, ik doe niet mee").sum() == t["no_consent"]
    assert (real["Finished"] == "False").sum() == t["partial"]
    assert (pd.to_numeric(real["Progress"]) < 100).sum() == t["partial"]
    wrong = real["Q10_7"].isin(
        ["Helemaal mee oneens", "Mee oneens", "Neutraal", "Helemaal mee eens"]
    )
    assert wrong.sum() == t["attention_check_wrong_total"]
    assert t["attention_check_wrong_total"] >= t["attention_fail"]


def test_duplicates_are_near_copies(wave1):
    real = wave1[wave1["Status"] == "IP Address"]
    dup = real[real["ExternalReference"].duplicated(keep=False)]
    items = [c for c in wave1.columns if c.startswith(("Q6_", "Q8_", "Q9_", "Q11_"))]
    for _, pair in dup.groupby("ExternalReference"):
        assert len(pair) == 2
        a, b = pair.iloc[0], pair.iloc[1]
        assert a["ResponseId"] != b["ResponseId"]
        assert a["RecipientEmail"] == b["RecipientEmail"]
        same = (a[items] == b[items]).mean()
        assert 0.6 < same <= 1.0


def test_refusals_and_partials_leave_later_blocks_empty(wave1):
    refused = wave1[wave1["Q1"] == "Nee, ik doe niet mee"]
    assert (refused[["Q2", "Q6_1", "Q9_1", "Q15_5", "Q18"]] == "").all().all()
    partial = wave1[wave1["Finished"] == "False"]
    # Demographics come last, so no partial respondent reached them.
    assert (partial["Q18"] == "").all()
    assert (partial["Q2"] != "").all()


def test_speeders_are_far_below_the_median(wave1, generated):
    _, truth = generated
    real = wave1[(wave1["Status"] == "IP Address") & (wave1["Finished"] == "True")]
    real = real[real["Q1"] == "Ja, ik doe mee"]
    dur = pd.to_numeric(real["Duration (in seconds)"])
    n_fast = (dur < 0.3 * dur.median()).sum()
    assert n_fast == pytest.approx(truth["waves"]["2021-12"]["speeder"], abs=2)


def test_straightliners_exist(wave1, generated):
    _, truth = generated
    block = wave1[[f"Q8_{i}" for i in range(1, 10)] + [f"Q10_{i}" for i in range(1, 8)]]
    filled = block[(block != "").all(axis=1)]
    constant = filled.nunique(axis=1) == 1
    # Planted straightliners, plus at most a few who happen to give one answer throughout.
    n = truth["waves"]["2021-12"]["straightliner"]
    assert n <= constant.sum() <= n + 3


def test_item_missingness_rate_and_mar(generated, codebook):
    out, truth = generated
    t = truth["waves"]["2021-12"]
    assert 0.05 <= t["item_missing_share_finished"] <= 0.10
    assert t["finished_rows_item_cells_minus99"] > 0
    # MAR: respondents older than 55 skip more items than those younger than 35.
    pop = sim.make_wave("2099-01", 3000, 5, codebook)
    done = pop[(pop["Finished"].astype(bool)) & (pop["Status"] == "IP Address")]
    done = done[done["Q1"] == 1]
    items = [spec["column"] for spec in codebook["items"].values()]
    miss = (done[items].isna() | (done[items] == -99)).mean(axis=1)
    age = done["Q18"]
    assert miss[age > 55].mean() > 1.5 * miss[age < 35].mean()


def test_out_of_range_values_are_planted(wave1, generated):
    _, truth = generated
    planted = truth["waves"]["2021-12"]["out_of_range"]
    assert len(planted) >= 3
    for cell in planted:
        values = pd.to_numeric(wave1[cell["column"]].replace("", np.nan))
        assert (values == cell["value"]).sum() >= 1


def test_pii_looks_real(wave1):
    real = wave1[wave1["Status"] == "IP Address"]
    assert real["RecipientEmail"].str.fullmatch(r"[a-z.]+@[a-z.-]+\.[a-z]+").all()
    assert real["IPAddress"].str.fullmatch(r"\d+\.\d+\.\d+\.\d+").all()
    lat = pd.to_numeric(real["LocationLatitude"])
    assert lat.between(50.7, 53.6).all()
    assert real["ExternalReference"].str.fullmatch(r"LC-\d{4}").all()


# --- the SPSS export and the panel --------------------------------------------------------


def test_sav_has_renamed_columns_and_labels(wave2, codebook):
    df, meta = wave2
    assert {"PS_1", "LB_7", "SUP_3", "TR_5", "Duration__in_seconds_"} <= set(df.columns)
    assert "Q9_1" not in df.columns and "Duration (in seconds)" not in df.columns
    assert meta.variable_value_labels["Q6_1"][4.0] == "Mee eens"
    assert meta.variable_value_labels["Status"] == {0.0: "IP Address", 1.0: "Survey Preview"}
    assert meta.variable_value_labels["Q3"][1.0] == "Overheid"
    assert set(df["Status"].unique()) == {0.0, 1.0}
    assert df["StartDate"].min().year == 2022  # pyreadstat once wrote datetimes as 1970
    assert meta.creation_time.strftime("%Y-%m") == "2022-06"
    assert (df["PS_1"] == -99).sum() > 0
    assert df["PS_1"].isna().sum() > 0
    assert len(df) == sim.BUNDLED_WAVES["2022-06"][1]


def test_returners_link_by_external_reference(wave1, wave2, generated):
    _, truth = generated
    df, _ = wave2
    t = truth["waves"]["2022-06"]
    w1 = wave1[(wave1["Status"] == "IP Address") & (wave1["Finished"] == "True")]
    w1 = w1[w1["Q1"] == "Ja, ik doe mee"]
    both = set(df["ExternalReference"]) & set(w1["ExternalReference"]) - {""}
    assert len(both) == t["returners"]
    assert t["returners"] / t["invited_from_previous"] == pytest.approx(0.6, abs=0.02)
    link = df.drop_duplicates("ExternalReference").merge(
        w1.drop_duplicates("ExternalReference"), on="ExternalReference"
    )
    answered = link["Q2_x"].notna()  # returners who refused at wave 2 left it empty
    assert answered.sum() > 150
    same = link.loc[answered, "Q2_x"] == pd.to_numeric(link.loc[answered, "Q2_y"])
    assert same.all()  # same community
    assert (link["RecipientEmail_x"] == link["RecipientEmail_y"]).all()
    assert (
        truth["panel"]["realised_correlations"]["perceived_learning_w1__knowledge_transfer_w2"]
        > 0.1
    )


def test_reversed_items_are_written_reversed(codebook):
    wave = mess._simulate_wave("2021-12", 300, 11, codebook)
    clean = wave.persons["kind"].eq("clean").to_numpy()
    persons = wave.persons[clean]
    rows = wave.raw[wave.raw["Status"] == "IP Address"].drop_duplicates("ExternalReference")
    rows = rows.set_index("ExternalReference").loc[persons["person"]]
    ps1 = rows["Q9_1"].to_numpy()
    ok = (ps1 > 0) & ~np.isnan(ps1)
    assert np.array_equal(ps1[ok], 8 - persons["ps1"].to_numpy()[ok])
    ps2 = rows["Q9_2"].to_numpy()
    ok2 = (ps2 > 0) & ~np.isnan(ps2)
    assert np.array_equal(ps2[ok2], persons["ps2"].to_numpy()[ok2])


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path, generated):
    out, _ = generated
    sim.generate(tmp_path, seed=SEED)
    for name in ("wave_2021-12.csv", "wave_2022-06.sav", "TRUTH.yaml"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_the_simulator_finds_the_repository_root():
    """REPO_ROOT (parents[N] of the package's files) is the checkout, whose codebook it reads."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert root == questionnaire.REPO_ROOT
    assert root / "data" / "codebook.yaml" == questionnaire.DEFAULT_CODEBOOK
    assert questionnaire.read_codebook() == questionnaire.read_codebook(
        root / "data" / "codebook.yaml"
    )


def test_make_data_regenerates_the_committed_waves_byte_for_byte(tmp_path):
    """`make data` run into a temporary folder writes exactly the files under data/raw (the
    Makefile's own command, with its arguments; about 2 s of CPU, 12 s on a busy machine)."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    dry_run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "data"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    command = shlex.split(dry_run.stdout.strip().splitlines()[-1])
    assert Path(command[0]).name == "lcsurvey-simulate" and command[1:] == ["--out", "data/raw"]
    program = str(Path(sys.executable).with_name("lcsurvey-simulate"))
    subprocess.run([program, "--out", str(tmp_path)], check=True, capture_output=True)
    committed = ["TRUTH.yaml", "wave_2021-12.csv", "wave_2022-06.sav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (root / "data" / "raw" / name).read_bytes(), name


def test_sav_creation_stamp_is_fixed(tmp_path, codebook):
    df = sim.make_wave("2022-06", 60, 9, codebook)
    writers.write_sav(df, tmp_path / "a.sav", codebook, "2022-06")
    header = (tmp_path / "a.sav").read_bytes()[
        writers.SAV_STAMP_OFFSET : writers.SAV_STAMP_OFFSET + 17
    ]
    assert header == b"01 Jun 2200:00:00"


def test_other_seed_gives_other_data(codebook):
    a = sim.make_wave("2021-12", 80, 1, codebook)
    b = sim.make_wave("2021-12", 80, 2, codebook)
    assert not a["Q6_1"].equals(b["Q6_1"])


# --- true values ---------------------------------------------------------------------------


def test_truth_yaml_documents_the_model(generated):
    out, truth = generated
    written = yaml.safe_load((out / "TRUTH.yaml").read_text(encoding="utf-8"))
    assert written["climate_icc"] == 0.10
    assert len(written["communities"]) == 25
    assert all(0 <= c["share_other_sector"] < 1 for c in written["communities"])
    for item in ("ps1", "tr5", "err2"):
        assert 0.65 <= written["items"][item]["loading"] <= 0.85
    for c in written["constructs"].values():
        assert 0.6 < c["omega_items"] < c["omega_latent_response"] < 0.95
    regs = {(r["lhs"], r["rhs"]): r["std_all"] for r in written["regressions"]}
    assert regs[("knowledge_transfer", "perceived_learning:home_support")] == 0.15
    assert ("network_gain", "motive_labour") not in regs
    assert written["waves"]["2022-06"]["rows"] == 300


def test_motive_means_in_the_population(population):
    mean = {
        m: population[[f"mot_{m}{i}" for i in (1, 2, 3)]].to_numpy().mean()
        for m in ("know", "net", "lab", "soc")
    }
    assert mean["know"] > 3.6 and mean["net"] > 3.4
    assert mean["lab"] < 2.8
    assert mean["know"] > mean["lab"] + 1
    assert 3.0 < mean["soc"] < 3.6


def test_motive_means_in_the_bundled_wave(wave1):
    codes = {
        "Helemaal mee oneens": 1,
        "Mee oneens": 2,
        "Neutraal": 3,
        "Mee eens": 4,
        "Helemaal mee eens": 5,
    }

    def mean(cols):
        return (
            wave1[cols]
            .replace(codes)
            .apply(pd.to_numeric, errors="coerce")
            .where(lambda x: x > 0)
            .stack()
            .mean()
        )

    know, net, lab = (
        mean(["Q6_1", "Q6_2", "Q6_3"]),
        mean(["Q6_4", "Q6_5", "Q6_6"]),
        mean(["Q6_7", "Q6_8", "Q6_9"]),
    )
    assert know > 3 and net > 3 and lab < 3 and know > lab


def test_main_motive_shares(population):
    shares = population["main_motive"].value_counts(normalize=True)
    for code, target in population_model.MAIN_MOTIVE_TARGET.items():
        assert shares[code] == pytest.approx(target, abs=0.02)
    # The choice follows the motive scores.
    know = population.groupby("main_motive")["true_motive_knowledge"].mean()
    assert know[1] > know[3] + 0.3


def test_climate_icc_is_plausible(population):
    g = population.groupby("community")["true_climate"]
    k = g.ngroups
    n0 = (len(population) - (g.size() ** 2).sum() / len(population)) / (k - 1)
    msb = (g.size() * (g.mean() - population["true_climate"].mean()) ** 2).sum() / (k - 1)
    msw = ((population["true_climate"] - g.transform("mean")) ** 2).sum() / (len(population) - k)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    assert 0.06 < icc < 0.15


def test_interaction_is_positive_in_ols(population):
    pl = population["true_perceived_learning"].to_numpy()
    sup = population["true_home_support"].to_numpy()
    X = np.column_stack([np.ones_like(pl), pl, sup, pl * sup])
    beta, *_ = np.linalg.lstsq(X, population["true_knowledge_transfer"].to_numpy(), rcond=None)
    assert beta[3] == pytest.approx(0.15, abs=0.03)
    assert beta[1] == pytest.approx(0.35, abs=0.03)


def test_structural_paths_recovered(population):
    """Standardised OLS on true scores matches the regressions in TRUTH."""
    truth = sim.default_truth()
    z = population.filter(like="true_")
    for lhs in ("learning_behaviour", "network_gain", "perceived_learning"):
        regs = {r["rhs"]: r["std_all"] for r in truth["regressions"] if r["lhs"] == lhs}
        X = np.column_stack([np.ones(len(z))] + [z[f"true_{r}"] for r in regs])
        beta, *_ = np.linalg.lstsq(X, z[f"true_{lhs}"].to_numpy(), rcond=None)
        for b, expected in zip(beta[1:], regs.values(), strict=True):
            assert b == pytest.approx(expected, abs=0.03)
    assert abs(np.corrcoef(z["true_motive_labour"], z["true_knowledge_transfer"])[0, 1]) < 0.03
    assert z.std().between(0.95, 1.05).all()


def test_sector_mix_follows_community_profiles(population):
    checked = 0
    for c in population_model._communities(200, 0.1, SEED):
        members = population[population["community"] == c["community"]]
        if len(members) < 150:
            continue
        other = (members["sector"] != c["majority_sector"]).mean()
        assert other == pytest.approx(c["share_other_sector"], abs=0.1)
        checked += 1
    assert checked >= 20


def test_cli_writes_an_extra_wave(tmp_path, generated):
    out, _ = generated
    rc = sim.main(
        [
            "--out",
            str(tmp_path),
            "--wave",
            "2023-01",
            "--n",
            "120",
            "--format",
            "csv",
            "--previous",
            str(out / "wave_2022-06.sav"),
        ]
    )
    assert rc == 0
    df = pd.read_csv(
        tmp_path / "wave_2023-01.csv",
        skiprows=[1, 2],
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
    )
    assert len(df) == 120
    prev, _ = pyreadstat.read_sav(str(out / "wave_2022-06.sav"))
    assert len(set(df["ExternalReference"]) & set(prev["ExternalReference"]) - {""}) > 30
    assert (tmp_path / "TRUTH_2023-01.yaml").exists()
