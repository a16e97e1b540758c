"""Cross-wave statistics: means, changes with returners, attrition, the panel model, config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests

from lcsurvey.errors import InputError
from lcsurvey.study import waves as cw

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"


def long_scores(
    rng: np.random.Generator, n1: int, n2: int, n_paired: int, r: float, shift: float = 0.0
) -> pd.DataFrame:
    """Two waves of one score; n_paired people in both, their scores correlated r."""
    cov = [[1.0, r], [r, 1.0]]
    both = rng.multivariate_normal([3.0, 3.0 + shift], cov, size=n_paired)
    only1 = rng.normal(3.0, 1.0, n1 - n_paired)
    only2 = rng.normal(3.0 + shift, 1.0, n2 - n_paired)
    ids1 = [f"p{i}" for i in range(n_paired)] + [f"a{i}" for i in range(n1 - n_paired)]
    ids2 = [f"p{i}" for i in range(n_paired)] + [f"b{i}" for i in range(n2 - n_paired)]
    return pd.concat(
        [
            pd.DataFrame({"rid": ids1, "wave": "w1", "score": np.r_[both[:, 0], only1]}),
            pd.DataFrame({"rid": ids2, "wave": "w2", "score": np.r_[both[:, 1], only2]}),
        ],
        ignore_index=True,
    )


# --------------------------------------------------------------------------- pooling


def test_pool_stacks_waves_with_the_union_of_columns():
    first = pd.DataFrame({"rid": ["a", "b"], "x": [1.0, 2.0]})
    second = pd.DataFrame({"rid": ["a"], "wave": ["w2"], "y": [5.0], "x": [3.0]})
    pooled = cw.pool({"w1": first, "w2": second})
    assert list(pooled.columns) == ["rid", "wave", "x", "y"]
    assert pooled["wave"].tolist() == ["w1", "w1", "w2"]
    assert pooled["x"].tolist() == [1.0, 2.0, 3.0]
    assert pooled["y"].isna().tolist() == [True, True, False]


def test_pool_refuses_a_table_holding_another_wave():
    frame = pd.DataFrame({"rid": ["a"], "wave": ["w9"]})
    with pytest.raises(InputError, match="w9"):
        cw.pool({"w1": frame})


# --------------------------------------------------------------------------- means


def test_wave_means_match_scipy():
    rng = np.random.default_rng(1)
    scores = long_scores(rng, 60, 45, 20, 0.5)
    means = cw.wave_means(scores, ["score"], ["w1", "w2"])
    assert list(means.columns) == cw.MEAN_COLUMNS
    for wave, row in means.set_index("wave").iterrows():
        values = scores.loc[scores["wave"] == wave, "score"]
        lower, upper = stats.t.interval(
            0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values)
        )
        assert row["n"] == len(values)
        assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert row["sd"] == pytest.approx(values.std(ddof=1), rel=1e-12)
        assert row["se"] == pytest.approx(stats.sem(values), rel=1e-12)
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((lower, upper), rel=1e-12)


def test_a_wave_smaller_than_min_cell_is_suppressed():
    rng = np.random.default_rng(2)
    scores = long_scores(rng, 30, 8, 5, 0.5)
    means = cw.wave_means(scores, ["score"], ["w1", "w2"], min_cell=10).set_index("wave")
    assert not means.loc["w1", "suppressed"] and np.isfinite(means.loc["w1", "mean"])
    assert means.loc["w2", "suppressed"] and means.loc["w2", "n"] == 8
    assert means.loc["w2", ["mean", "sd", "ci_lower"]].isna().all()
    changes = cw.wave_changes(scores, ["score"], ["w1", "w2"], min_cell=10)
    assert changes.loc[0, "suppressed"] and np.isnan(changes.loc[0, "diff"])


# --------------------------------------------------------------------------- changes


def _split(scores: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return tuple(scores.loc[scores["wave"] == w].set_index("rid")["score"] for w in ("w1", "w2"))


def test_without_returners_the_change_test_is_welchs():
    rng = np.random.default_rng(3)
    first, second = _split(long_scores(rng, 50, 80, 0, 0.0, shift=0.3))
    second = second * 1.7  # unequal variances
    result = cw.overlap_t_test(first, second)
    welch = stats.ttest_ind(second, first, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert result["n_paired"] == 0
    assert result["diff"] == pytest.approx(second.mean() - first.mean(), rel=1e-12)
    assert result["pvalue"] == pytest.approx(welch.pvalue, rel=1e-10)
    assert result["df"] == pytest.approx(welch.df, rel=1e-10)
    assert (result["ci_lower"], result["ci_upper"]) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_with_only_returners_the_change_test_is_the_paired_t_test():
    rng = np.random.default_rng(4)
    first, second = _split(long_scores(rng, 40, 40, 40, 0.7, shift=0.2))
    result = cw.overlap_t_test(first, second)
    paired = stats.ttest_rel(second.loc[first.index], first)
    ci = paired.confidence_interval(0.95)
    assert result["n_paired"] == 40
    assert result["df"] == pytest.approx(39, rel=1e-12)
    assert result["pvalue"] == pytest.approx(paired.pvalue, rel=1e-9)
    assert (result["ci_lower"], result["ci_upper"]) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_partially_overlapping_samples_by_hand():
    # Wave 1: a b c d e; wave 2: a b c f g h (a, b, c return).
    first = pd.Series([3.0, 4.0, 5.0, 2.0, 4.0], index=list("abcde"))
    second = pd.Series([3.5, 4.0, 5.5, 4.0, 3.0, 5.0], index=list("abcfgh"))
    result = cw.overlap_t_test(first, second)
    v1, v2 = first.var(), second.var()
    r = np.corrcoef([3.0, 4.0, 5.0], [3.5, 4.0, 5.5])[0, 1]
    se = np.sqrt(v1 / 5 + v2 / 6 - 2 * r * np.sqrt(v1 * v2) * 3 / (5 * 6))
    gamma = (v1 / 5 + v2 / 6) ** 2 / ((v1 / 5) ** 2 / 4 + (v2 / 6) ** 2 / 5)
    df = 2 + (gamma - 3 + 1) / (2 + 3 + 2 * 3) * (2 + 3)
    diff = second.mean() - first.mean()
    assert result["r_paired"] == pytest.approx(r)
    assert result["se"] == pytest.approx(se, rel=1e-12)
    assert result["df"] == pytest.approx(df, rel=1e-12)
    assert result["pvalue"] == pytest.approx(2 * stats.t.sf(abs(diff / se), df), rel=1e-12)


def test_returners_make_the_change_more_precise_and_the_se_is_right():
    """Across many simulated pairs of waves the SE matches the spread of the differences."""
    rng = np.random.default_rng(5)
    diffs, ses, welch_ses = [], [], []
    for _ in range(250):
        first, second = _split(long_scores(rng, 120, 100, 60, 0.8))
        result = cw.overlap_t_test(first, second)
        diffs.append(result["diff"])
        ses.append(result["se"])
        welch_ses.append(np.sqrt(first.var() / len(first) + second.var() / len(second)))
    spread = np.std(diffs, ddof=1)
    assert np.mean(ses) == pytest.approx(spread, rel=0.1)
    assert np.mean(welch_ses) > 1.15 * spread  # ignoring the returners overstates the SE


def test_wave_changes_compares_consecutive_waves_and_says_how():
    rng = np.random.default_rng(6)
    scores = long_scores(rng, 50, 50, 30, 0.5)
    third = scores[scores["wave"] == "w2"].assign(wave="w3")
    scores = pd.concat([scores, third], ignore_index=True)
    changes = cw.wave_changes(
        scores, ["score"], ["w1", "w2", "w3"], comparable={("score", "w2", "w3"): "yes"}
    )
    assert list(changes.columns) == cw.CHANGE_COLUMNS
    assert changes[["wave_from", "wave_to"]].values.tolist() == [["w1", "w2"], ["w2", "w3"]]
    assert changes["comparable"].tolist() == ["not tested", "yes"]
    assert (
        changes.loc[0, "n_paired"] == 30 and "30 returners paired by rid" in changes.loc[0, "test"]
    )
    assert changes.loc[1, "diff"] == pytest.approx(0, abs=1e-12)  # identical waves


def test_one_wave_gives_header_only_comparisons():
    scores = pd.DataFrame({"rid": ["a", "b"], "wave": ["w1", "w1"], "score": [1.0, 2.0]})
    responses = scores.assign(age=[30.0, 40.0])
    assert cw.wave_changes(scores, ["score"], ["w1"]).empty
    assert list(cw.wave_changes(scores, ["score"], ["w1"]).columns) == cw.CHANGE_COLUMNS
    table = cw.attrition(responses, scores, ["w1"], constructs=["score"], numeric=["age"])
    assert table.empty and list(table.columns) == cw.ATTRITION_COLUMNS
    estimates, fit = cw.panel_model(
        scores.assign(other=[1.0, 2.0]), ["w1"], cause="score", effect="other"
    )
    assert estimates.empty and fit.empty and list(fit.columns)[:2] == ["wave_from", "wave_to"]


# --------------------------------------------------------------------------- invariance


def test_comparability_follows_the_invariance_decisions():
    measurement = {"f": ["a1", "a2", "a3", "b1"]}
    items = {"alpha": ["a1", "a2", "a3"], "beta": ["b1", "b2"]}

    def table(metric: str, scalar: str, groups: str = "w1;w2;w3") -> pd.DataFrame:
        return pd.DataFrame(
            {
                "groups": "wave",
                "group_values": groups,
                "level": ["configural", "metric", "scalar"],
                "decision": [np.nan, metric, scalar],
            }
        )

    waves = ["w1", "w2", "w3"]
    yes = cw.comparability(table("holds", "holds"), measurement, items, waves)
    assert yes[("alpha", "w1", "w2")] == "yes" and yes[("alpha", "w2", "w3")] == "yes"
    assert yes[("beta", "w1", "w2")] == "not tested"  # b2 is not in the model
    partly = cw.comparability(table("holds", "rejected"), measurement, items, waves)
    assert partly[("alpha", "w1", "w2")] == "partly (metric)"
    no = cw.comparability(table("rejected", "rejected"), measurement, items, waves)
    assert no[("alpha", "w1", "w2")] == "no"
    left_out = cw.comparability(table("holds", "holds", "w1;w2"), measurement, items, waves)
    assert left_out[("alpha", "w1", "w2")] == "yes"
    assert left_out[("alpha", "w2", "w3")] == "not tested"
    absent = cw.comparability(None, measurement, items, waves)
    assert set(absent.values()) == {"not tested"}


def test_comparability_under_partial_scalar_invariance_names_the_free_items():
    measurement = {"f": ["a1", "a2", "a3"], "g": ["b1", "b2"]}
    items = {"alpha": ["a1", "a2", "a3"], "beta": ["b1", "b2"]}

    def table(metric: str, partial_metric: str | None, scalar: str, partial_scalar: str):
        levels = ["configural", "metric"] + (["partial_metric"] if partial_metric else [])
        levels += ["scalar", "partial_scalar"]
        decisions = [np.nan, metric] + ([partial_metric] if partial_metric else [])
        freed = ["", ""] + (["f =~ a2"] if partial_metric else [])
        return pd.DataFrame(
            {
                "groups": "wave",
                "group_values": "w1;w2",
                "level": levels,
                "decision": decisions + [scalar, partial_scalar],
                "freed": freed + ["", "f =~ a2; a3 ~1" if partial_metric else "a3 ~1"],
            }
        )

    waves = ["w1", "w2"]
    partial = cw.comparability(table("holds", None, "rejected", "holds"), measurement, items, waves)
    assert partial[("alpha", "w1", "w2")] == "partial scalar (a3 free)"
    assert partial[("beta", "w1", "w2")] == "yes"  # none of its items is free
    both = cw.comparability(table("rejected", "holds", "holds", "holds"), measurement, items, waves)
    assert both[("alpha", "w1", "w2")] == "partial scalar (a2, a3 free)"
    only_metric = cw.comparability(
        table("rejected", "holds", "rejected", "rejected"), measurement, items, waves
    )
    assert only_metric[("alpha", "w1", "w2")] == "partly (metric)"
    neither = cw.comparability(
        table("rejected", "rejected", "rejected", "rejected"), measurement, items, waves
    )
    assert neither[("beta", "w1", "w2")] == "no"


def test_a_waves_own_tables_are_the_pooled_ones_restricted_to_it():
    rng = np.random.default_rng(8)
    scores = long_scores(rng, 60, 55, 25, 0.4, shift=0.3)
    third = long_scores(rng, 55, 50, 20, 0.4)
    third = third[third["wave"] == "w2"].assign(wave="w3")
    scores = pd.concat([scores, third], ignore_index=True)
    measurement = {"f": ["a1", "a2"]}
    items = {"score": ["a1", "a2"]}
    pair = pd.DataFrame(
        {
            "groups": "wave",
            "group_values": "w1;w2",
            "level": ["configural", "metric", "scalar"],
            "decision": [np.nan, "holds", "rejected"],
        }
    )
    all_means, all_changes = cw.means_and_changes(
        scores, ["w1", "w2", "w3"], construct_items=items, measurement=measurement, invariance=pair
    )
    means, changes = cw.means_and_changes(
        scores,
        ["w1", "w2"],
        construct_items=items,
        measurement=measurement,
        invariance=pair,
        change_waves=["w1", "w2"],
    )
    assert list(means.columns) == cw.MEAN_COLUMNS and list(changes.columns) == cw.CHANGE_COLUMNS
    assert means["wave"].tolist() == ["w1", "w2"]
    pd.testing.assert_frame_equal(means, all_means[all_means["wave"] != "w3"])
    pd.testing.assert_frame_equal(changes, all_changes.iloc[:1])
    assert changes["comparable"].tolist() == ["partly (metric)"]
    assert all_changes["comparable"].tolist() == ["partly (metric)", "not tested"]  # w3 untested
    # The change from the previous wave only, with the means of every wave up to it.
    means, changes = cw.means_and_changes(
        scores,
        ["w1", "w2", "w3"],
        construct_items=items,
        measurement=measurement,
        change_waves=["w2", "w3"],
    )
    assert means["wave"].tolist() == ["w1", "w2", "w3"]
    assert changes[["wave_from", "wave_to"]].values.tolist() == [["w2", "w3"]]
    pd.testing.assert_frame_equal(
        changes.drop(columns="comparable"),
        all_changes.iloc[1:].reset_index(drop=True).drop(columns="comparable"),
    )
    assert changes["comparable"].tolist() == ["not tested"]


# --------------------------------------------------------------------------- attrition


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.5, np.nan, 0.001]
    adjusted = cw.holm(p)
    expected = multipletests([x for x in p if not np.isnan(x)], method="holm")[1]
    assert np.isnan(adjusted[4])
    assert np.delete(adjusted, 4) == pytest.approx(expected, rel=1e-12)


def test_attrition_compares_returners_and_leavers():
    rng = np.random.default_rng(7)
    n = 300
    rid = [f"r{i}" for i in range(n)]
    returned = rng.random(n) < 0.5
    score = rng.normal(3.0, 0.8, n) + 0.4 * returned  # returners were more positive
    gender = rng.choice([1.0, 2.0], n, p=[0.5, 0.5])
    gender[returned & (rng.random(n) < 0.3)] = 2.0
    age = rng.normal(45, 10, n)
    age[::25] = np.nan
    responses = pd.concat(
        [
            pd.DataFrame({"rid": rid, "wave": "w1", "gender": gender, "age": age}),
            pd.DataFrame(
                {"rid": np.array(rid)[returned], "wave": "w2", "gender": 1.0, "age": 50.0}
            ),
        ],
        ignore_index=True,
    )
    scores = pd.concat(
        [
            pd.DataFrame({"rid": rid, "wave": "w1", "score": score}),
            pd.DataFrame({"rid": np.array(rid)[returned], "wave": "w2", "score": 0.0}),
        ],
        ignore_index=True,
    )
    table = cw.attrition(
        responses,
        scores,
        ["w1", "w2"],
        constructs=["score"],
        numeric=["age"],
        categorical={"gender": [1.0, 2.0, 3.0]},
        min_cell=10,
    )
    assert list(table.columns) == cw.ATTRITION_COLUMNS
    rows = table.set_index(["variable", "level"])
    score_row = rows.loc[("score", "")]
    welch = stats.ttest_ind(score[returned], score[~returned], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert score_row["returners"] == pytest.approx(score[returned].mean())
    assert score_row["diff"] == pytest.approx(score[returned].mean() - score[~returned].mean())
    assert score_row["pvalue"] == pytest.approx(welch.pvalue, rel=1e-10)
    assert (score_row["ci_lower"], score_row["ci_upper"]) == pytest.approx((ci.low, ci.high))
    assert score_row["n_returners"] == returned.sum()
    age_row = rows.loc[("age", "")]
    assert age_row["n_returners"] + age_row["n_leavers"] == np.isfinite(age).sum()
    woman = rows.loc[("gender", "2")]
    counts = [
        [(gender[returned] == 2).sum(), (gender[returned] != 2).sum()],
        [(gender[~returned] == 2).sum(), (gender[~returned] != 2).sum()],
    ]
    chi2 = stats.chi2_contingency(counts, correction=False)
    assert woman["pvalue"] == pytest.approx(chi2.pvalue, rel=1e-10)
    assert woman["returners"] == pytest.approx((gender[returned] == 2).mean())
    assert rows.loc[("gender", "3"), "suppressed"]  # nobody: a cell below min_cell
    assert np.isnan(rows.loc[("gender", "3"), "pvalue"])
    tested = table["pvalue"].notna()
    assert table.loc[tested, "pvalue_holm"].to_numpy() == pytest.approx(
        multipletests(table.loc[tested, "pvalue"], method="holm")[1]
    )
    assert score_row["pvalue_holm"] < 0.05


# --------------------------------------------------------------------------- panel model


def _fixture_scores() -> pd.DataFrame:
    panel = pd.read_csv(FIXTURES / "crosswave_panel.csv")
    rid = [f"p{i:03d}" for i in range(len(panel))]
    waves = []
    for time, wave in ((1, "w1"), (2, "w2")):
        waves.append(
            pd.DataFrame(
                {
                    "rid": rid,
                    "wave": wave,
                    "perceived_learning": panel[f"perceived_learning_score_t{time}"],
                    "knowledge_transfer": panel[f"knowledge_transfer_score_t{time}"],
                }
            )
        )
    # Someone who answered only the first wave does not enter the panel model.
    waves.append(
        pd.DataFrame(
            {
                "rid": ["only1"],
                "wave": "w1",
                "perceived_learning": [9.0],
                "knowledge_transfer": [9.0],
            }
        )
    )
    return pd.concat(waves, ignore_index=True)


def test_panel_model_matches_lavaan():
    estimates, fit = cw.panel_model(
        _fixture_scores(), ["w1", "w2"], cause="perceived_learning", effect="knowledge_transfer"
    )
    lavaan = pd.read_csv(
        FIXTURES / "crosswave_panel_estimates.csv", keep_default_na=False, na_values=["NA"]
    )
    lavaan_fit = pd.read_csv(FIXTURES / "crosswave_panel_fit.csv").iloc[0]
    assert (estimates["wave_from"] == "w1").all() and (estimates["wave_to"] == "w2").all()
    ours = estimates.set_index(["lhs", "op", "rhs"])
    free = lavaan[lavaan["se"] > 0]
    assert len(free) == 14
    for _, row in free.iterrows():
        mine = ours.loc[(row["lhs"], row["op"], row["rhs"])]
        # About ten times the largest difference from lavaan seen: est 1.0e-6 (absolute),
        # se 5.3e-6 (relative), std.all 2.8e-6 (absolute).
        assert mine["est"] == pytest.approx(row["est"], abs=1e-5), (
            row["lhs"] + row["op"] + row["rhs"]
        )
        assert mine["se"] == pytest.approx(row["se"], rel=5e-5), row["lhs"] + row["op"] + row["rhs"]
        assert mine["std_all"] == pytest.approx(row["std.all"], abs=3e-5)
        assert mine["label"] == (row["label"] or "") or pd.isna(mine["label"]) and not row["label"]
    assert fit.loc[0, "ntotal"] == lavaan_fit["ntotal"] == 180
    assert fit.loc[0, "df"] == lavaan_fit["df"] == 0
    assert fit.loc[0, "chisq"] == pytest.approx(0, abs=1e-6)
    assert fit.loc[0, "aic"] == pytest.approx(lavaan_fit["aic"], abs=2.5e-8)  # seen: 2.5e-9
    assert fit.loc[0, "bic"] == pytest.approx(lavaan_fit["bic"], abs=2.5e-8)


def test_panel_model_recovers_a_known_cross_lag():
    rng = np.random.default_rng(10)
    n = 2000
    x1 = rng.normal(0, 1, n)
    y1 = 0.4 * x1 + rng.normal(0, 0.9, n)
    x2 = 0.5 * x1 + rng.normal(0, 0.8, n)
    y2 = 0.3 * x1 + 0.4 * y1 + rng.normal(0, 0.8, n)
    rid = [f"r{i}" for i in range(n)]
    scores = pd.concat(
        [
            pd.DataFrame({"rid": rid, "wave": "a", "x": x1, "y": y1}),
            pd.DataFrame({"rid": rid, "wave": "b", "x": x2, "y": y2}),
        ],
        ignore_index=True,
    )
    estimates, _ = cw.panel_model(scores, ["a", "b"], cause="x", effect="y")
    paths = estimates[estimates["op"] == "~"].set_index("label")
    for label, truth in {"cl_xy": 0.3, "ar_y": 0.4, "ar_x": 0.5, "cl_yx": 0.0}.items():
        assert abs(paths.loc[label, "est"] - truth) < 4 * paths.loc[label, "se"], label
        assert 0.015 < paths.loc[label, "se"] < 0.025, label


# --------------------------------------------------------------------------- config


CONFIG = """\
# analysis choices
codebook: data/codebook.yaml

waves:                        # wave id -> raw export
  "2021-12": data/raw/wave_2021-12.csv
  "2022-06": data/raw/wave_2022-06.sav
  # later waves below

cleaning:
  min_progress: 100
"""


def test_add_wave_line_adds_once_and_keeps_everything_else(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    assert cw.add_wave_line(path, "2023-01", "data/raw/wave_2023-01.csv") is True
    text = path.read_text(encoding="utf-8")
    assert (
        '  "2022-06": data/raw/wave_2022-06.sav\n  "2023-01": data/raw/wave_2023-01.csv\n' in text
    )
    assert text.replace('  "2023-01": data/raw/wave_2023-01.csv\n', "") == CONFIG
    config = yaml.safe_load(text)
    assert list(config["waves"]) == ["2021-12", "2022-06", "2023-01"]
    assert cw.add_wave_line(path, "2023-01", "data/raw/wave_2023-01.csv") is False
    assert path.read_text(encoding="utf-8") == text
    with pytest.raises(InputError, match="another file"):
        cw.add_wave_line(path, "2023-01", "data/raw/other.csv")


def test_add_wave_command_line(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    args = ["add-wave", "--config", str(path), "--wave", "2023-01", "--path", "x.csv"]
    assert cw.main(args) == 0 and "added to" in capsys.readouterr().out
    assert cw.main(args) == 0 and "already in" in capsys.readouterr().out
    assert cw.main([*args[:-1], "y.csv"]) == 1 and "another file" in capsys.readouterr().err


def _longitudinal(
    factor: str, pair: str, n: int, metric: str, scalar: str, cfi: float = 0.97
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "factor": factor,
            "groups": "returners",
            "group_values": pair,
            "level": ["configural", "metric", "scalar"],
            "ntotal": n,
            "cfi": [cfi, cfi - 0.005, cfi - 0.01],
            "decision": [np.nan, metric, scalar],
        }
    )


def test_comparability_takes_the_returners_test_when_enough_returned():
    measurement = {"f": ["a1", "a2", "a3"], "g": ["b1", "b2"]}
    items = {"alpha": ["a1", "a2", "a3"], "beta": ["b1", "b2"], "mixed": ["a1", "b1"]}
    waves = ["w1", "w2", "w3"]
    groups = pd.DataFrame(
        {
            "groups": "wave",
            "group_values": "w1;w2;w3",
            "level": ["configural", "metric", "scalar"],
            "decision": [np.nan, "holds", "holds"],
        }
    )
    longitudinal = pd.concat(
        [
            _longitudinal("f", "w1;w2", 150, "holds", "rejected"),  # enough: metric only
            _longitudinal("g", "w1;w2", 150, "rejected", "holds"),  # enough: no
            _longitudinal("f", "w2;w3", 60, "rejected", "rejected"),  # too few returners
        ],
        ignore_index=True,
    )
    tests = cw.comparability_tests(
        groups, measurement, items, waves, longitudinal=longitudinal, min_returners=100
    )
    assert tests[("alpha", "w1", "w2")] == ("partly (metric)", "longitudinal", "")
    assert tests[("beta", "w1", "w2")] == ("no", "longitudinal", "")
    assert tests[("alpha", "w2", "w3")] == ("yes", "multigroup", "")  # 60 < 100 returners
    assert tests[("beta", "w2", "w3")] == ("yes", "multigroup", "")  # no longitudinal row
    assert tests[("mixed", "w1", "w2")] == ("yes", "multigroup", "")  # items of two factors
    fewer = cw.comparability_tests(
        groups, measurement, items, waves, longitudinal=longitudinal, min_returners=50
    )
    assert fewer[("alpha", "w2", "w3")] == ("no", "longitudinal", "")
    # without any test: not tested, by no test
    assert cw.comparability_tests(None, measurement, items, waves)[("alpha", "w1", "w2")] == (
        "not tested",
        "",
        "",
    )


def test_a_returners_test_whose_configural_model_fits_poorly_is_set_aside():
    measurement = {"f": ["a1", "a2", "a3"]}
    items = {"alpha": ["a1", "a2", "a3"]}
    groups = pd.DataFrame(
        {
            "groups": "wave",
            "group_values": "w1;w2",
            "level": ["configural", "metric", "scalar"],
            "decision": [np.nan, "holds", "holds"],
        }
    )
    poor = _longitudinal("f", "w1;w2", 150, "rejected", "rejected", cfi=0.81)
    tests = cw.comparability_tests(
        groups, measurement, items, ["w1", "w2"], longitudinal=poor, min_returners=100
    )
    verdict, test, note = tests[("alpha", "w1", "w2")]
    assert (verdict, test) == ("yes", "multigroup")
    assert (
        note == "returners' test of f set aside: its configural model fits poorly (CFI 0.81 < 0.90)"
    )
    scores = pd.DataFrame(
        {"rid": [f"r{i}" for i in range(20)] * 2, "wave": ["w1"] * 20 + ["w2"] * 20}
    ).assign(alpha=np.arange(40.0) % 7)
    changes = cw.wave_changes(scores, ["alpha"], ["w1", "w2"], comparable=tests)
    assert changes.loc[0, "note"] == note and changes.loc[0, "comparable_test"] == "multigroup"
    # A configural CFI at the bound is judged by the returners' test.
    fair = _longitudinal("f", "w1;w2", 150, "rejected", "rejected", cfi=0.90)
    kept = cw.comparability_tests(
        groups, measurement, items, ["w1", "w2"], longitudinal=fair, min_returners=100
    )
    assert kept[("alpha", "w1", "w2")] == ("no", "longitudinal", "")


def test_a_change_without_scalar_invariance_is_shown_with_a_note():
    rng = np.random.default_rng(3)
    scores = pd.DataFrame(
        {
            "rid": [f"r{i}" for i in range(40)] * 2,
            "wave": ["w1"] * 40 + ["w2"] * 40,
            "alpha": rng.normal(size=80),
            "beta": rng.normal(size=80),
            "gamma": rng.normal(size=80),
        }
    )
    comparable = {
        ("alpha", "w1", "w2"): ("partly (metric)", "longitudinal"),
        ("beta", "w1", "w2"): ("no", "multigroup"),
        ("gamma", "w1", "w2"): ("yes", "longitudinal"),
    }
    changes = cw.wave_changes(
        scores, ["alpha", "beta", "gamma"], ["w1", "w2"], comparable=comparable
    )
    changes = changes.set_index("construct")
    assert list(changes.columns[-2:]) == ["comparable_test", "note"]
    assert changes.loc["alpha", "note"] == cw.NOT_INTERPRETED["partly (metric)"]
    assert changes.loc["beta", "note"] == cw.NOT_INTERPRETED["no"]
    assert changes.loc["gamma", "note"] == ""
    assert changes.loc["alpha", "comparable_test"] == "longitudinal"
    assert np.isfinite(changes.loc["alpha", "diff"])  # shown, not hidden
    assert [cw.interpreted(v) for v in ("yes", "partial scalar", "not tested")] == [True] * 3
    assert [cw.interpreted(v) for v in ("partly (metric)", "no")] == [False, False]
