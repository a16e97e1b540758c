"""Cleaning: decoding through the codebook, each exclusion rule, the flow, pseudonyms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lcsurvey.errors import InputError
from lcsurvey.survey.clean import (
    STEPS,
    clean_wave,
    decode,
    longest_run,
    longest_run_reference,
    longstring_share,
    mahalanobis_p,
)
from lcsurvey.survey.codebook import Scale, Variable
from lcsurvey.survey.pseudonym import pseudonymise

KEY = b"test key of some length"


def good_row(i: int, **changes) -> dict:
    row = {
        "ResponseId": f"R_{i:04d}",
        "ExternalReference": f"P{i:04d}",
        "Status": "IP Address",
        "Q1": "Ja",
        "Progress": "100",
        "Duration": str(600 + 10 * i),
        "Q2_1": "Mee eens",
        "Q2_2": "4",
        "Q2_3": "Mee oneens",
        "Q3_1": "3",
        "Q3_2": "5",
        "Q3_3": "helemaal  MEE eens ",
        "Q7": "Mee eens",
        "Q8": "41",
    }
    row.update(changes)
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype("string")


def run(data, book, **kwargs):
    return clean_wave(frame(data), book, wave="w1", source="wave.csv", key=KEY, **kwargs)


def test_labels_codes_and_reverse_keys(small_codebook):
    result = run([good_row(i) for i in range(6)], small_codebook)
    kept = result.kept
    assert len(kept) == 6
    first = kept.iloc[0]
    assert first["a1"] == 4 and first["a2"] == 4
    assert first["a3"] == 4  # "Mee oneens" = 2, reverse-keyed on 1..5 -> 4
    assert first["b3"] == 5  # case and whitespace do not matter
    assert first["age"] == 41
    assert kept["rid"].str.len().eq(16).all()


def test_each_rule_quarantines_with_its_reason(small_codebook):
    rows = [good_row(i) for i in range(10)]
    rows[0] = good_row(0, Status="Survey Preview")
    rows[1] = good_row(1, Q1="Nee")
    rows[2] = good_row(2, Progress="40")
    rows.append(good_row(3, ResponseId="R_dup", Q3_1=None))  # same person, less complete
    rows[4] = good_row(4, Duration="5")
    rows[5] = good_row(5, Q7="Neutraal")
    rows[6] = good_row(6, Q2_1="3", Q2_2="3", Q2_3="3", Q3_1="3", Q3_2="3", Q3_3="3")
    rows[7] = good_row(7, Q2_1=None, Q2_2=None, Q2_3=None, Q3_1=None)
    rows[8] = good_row(8, ResponseId=" ")
    result = run(rows, small_codebook)
    q = result.quarantine.set_index("raw_ResponseId", drop=False)
    assert len(result.kept) + len(result.quarantine) == len(rows)
    expected = {
        "R_0000": "previews",
        "R_0001": "consent",
        "R_0002": "progress",
        "R_dup": "duplicates",
        "R_0004": "speeders",
        "R_0005": "attention",
        "R_0006": "straightlining",
        "R_0007": "missing",
    }
    for rid, reason in expected.items():
        assert q.loc[rid, "first_reason"] == reason, rid
    assert q["first_reason"].tolist().count("id") == 1
    # Only the duplicate shares its pseudonym with a kept response: the same person.
    shared = set(result.kept["rid"]) & set(result.quarantine["rid"].dropna())
    assert shared == set(q.loc[["R_dup"], "rid"])
    flow = result.flow.set_index("step")
    assert list(flow.index) == list(STEPS)
    excluded = flow.drop(index=["outliers", "low_variability"])
    assert (excluded["n_removed"] == 1).all()
    assert (flow.loc[["outliers", "low_variability"], "n_removed"] == 0).all()
    assert flow["n_after"].iloc[-1] == len(result.kept)
    assert flow["n_before"].iloc[0] == len(rows)


def test_rules_can_be_switched_off(small_codebook):
    rows = [good_row(i) for i in range(5)] + [good_row(5, Status="Survey Preview", Progress="10")]
    off = dict.fromkeys(
        [
            "previews",
            "consent",
            "min_progress",
            "duplicates",
            "speeder_fraction_of_median",
            "attention_checks",
            "longstring_max_share",
            "max_missing_share",
        ],
        None,
    )
    result = run(rows, small_codebook, rules=off)
    assert len(result.kept) == 6
    assert result.flow["n_removed"].sum() == 0


def test_duplicate_keeps_the_most_complete_then_the_first(small_codebook):
    rows = [good_row(i) for i in range(4)]
    rows.insert(0, good_row(1, ResponseId="R_first_incomplete", Q2_1=None))
    rows.append(good_row(2, ResponseId="R_second_copy"))
    result = run(rows, small_codebook)
    quarantined = set(result.quarantine["raw_ResponseId"])
    assert quarantined == {"R_first_incomplete", "R_second_copy"}


def test_missing_codes_and_out_of_range_become_missing_and_are_counted(small_codebook):
    rows = [good_row(i) for i in range(5)]
    rows[0] = good_row(0, Q2_1="-99", Q2_2="9")
    result = run(rows, small_codebook)
    recodes = result.recodes.set_index("item")
    assert recodes.loc["a1", "n_missing_code"] == 1
    assert recodes.loc["a2", "n_out_of_range"] == 1
    assert np.isnan(result.kept.loc[0, "a1"]) and np.isnan(result.kept.loc[0, "a2"])


def test_unknown_answer_text_names_file_row_column_and_labels(small_codebook):
    rows = [good_row(i) for i in range(3)]
    rows[2] = good_row(2, Q3_2="Zeer mee eens")
    with pytest.raises(InputError) as err:
        run(rows, small_codebook, rows=[4, 5, 6])
    message = str(err.value)
    for part in ("wave.csv", "row 6", "'Q3_2'", "'Zeer mee eens'", "Helemaal mee eens"):
        assert part in message


def test_missing_codebook_column_is_an_error_naming_the_wave(small_codebook):
    rows = [good_row(i) for i in range(3)]
    data = frame(rows).drop(columns=["Q3_1"])
    with pytest.raises(InputError, match=r"column 'Q3_1'.*wave 'w1'"):
        clean_wave(data, small_codebook, wave="w1", source="wave.csv", key=KEY)


def test_wave_specific_column_names(small_codebook):
    rows = [good_row(i) for i in range(3)]
    data = frame(rows).rename(columns={"Q2_3": "A_3"})
    result = clean_wave(data, small_codebook, wave="w2", source="w2.sav", key=KEY)
    assert result.kept["a3"].tolist() == [4.0, 4.0, 4.0]


def test_pseudonyms_are_keyed_stable_and_normalised():
    codes = pd.Series(["LC-0001", " lc-0001 ", "LC-0002", None])
    first = pseudonymise(codes, KEY)
    assert first[0] == first[1] != first[2]
    assert pd.isna(first[3])
    assert pseudonymise(codes, b"another key entirely")[0] != first[0]
    assert "LC-0001" not in "".join(first.dropna())


def test_fast_longest_run_matches_the_reference():
    rng = np.random.default_rng(1)
    answers = rng.integers(1, 4, size=(300, 12)).astype(float)
    answers[rng.random(answers.shape) < 0.2] = np.nan
    answers[:20] = 3.0
    answers[0, :] = np.nan
    fast, reference = longest_run(answers), longest_run_reference(answers)
    np.testing.assert_array_equal(fast[0], reference[0])
    np.testing.assert_array_equal(fast[1], reference[1])
    assert fast[0][1] == 12 and fast[0][0] == 0


def test_longstring_is_measured_per_response_scale():
    five = np.array([[4.0] * 10, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]])
    seven = np.array([[5.0, 5, 5, 5], [6.0, 6, 6, 6]])  # "agree" on 1-7 is another code
    shares = longstring_share([five, seven])
    assert shares[0] == 1.0
    assert shares[1] == pytest.approx(5 / 14)


def test_mahalanobis_p_matches_a_per_row_inverse():
    rng = np.random.default_rng(5)
    x = rng.multivariate_normal(np.zeros(6), np.eye(6) + 0.5, size=400)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[0] = [6, -6, 6, -6, 6, np.nan]
    p = mahalanobis_p(x)
    mu = np.nanmean(x, axis=0)
    sigma = pd.DataFrame(x).cov().to_numpy()
    for i in range(25):
        o = ~np.isnan(x[i])
        d = x[i, o] - mu[o]
        d2 = d @ np.linalg.solve(sigma[np.ix_(o, o)], d)
        assert p[i] == pytest.approx(stats.chi2.sf(d2, o.sum()), rel=1e-9)
    assert p[0] < 1e-6 and np.median(p) > 0.2


def test_outliers_and_low_variability_are_flagged_not_excluded_unless_asked(small_codebook):
    rng = np.random.default_rng(2)
    rows = []
    for i in range(60):
        answers = {
            c: str(int(v))
            for c, v in zip(
                ["Q2_1", "Q2_2", "Q2_3", "Q3_1", "Q3_2", "Q3_3"],
                np.clip(np.round(3 + rng.normal(size=6) * 0.8), 1, 5),
                strict=True,
            )
        }
        answers["Q2_3"] = str(6 - int(answers["Q2_3"]))
        rows.append(good_row(i, Duration=str(600 + i), **answers))
    rows[10] = good_row(10, Q2_1="5", Q2_2="1", Q2_3="1", Q3_1="5", Q3_2="1", Q3_3="5")
    rows[11] = good_row(11, Q2_1="3", Q2_2="3", Q2_3="3", Q3_1="3", Q3_2="3", Q3_3="3")
    result = run(rows, small_codebook, rules={"longstring_max_share": None})
    kept = result.kept.set_index(result.kept["rid"])
    rid = dict(zip(result.kept.index, result.kept["rid"], strict=True))
    assert len(result.kept) == 60
    assert kept.loc[rid[10], "flag_outlier"]
    assert kept.loc[rid[11], "flag_low_variability"]
    assert kept["flag_outlier"].sum() < 6
    flow = result.flow.set_index("step")
    assert flow.loc["outliers", "n_flagged"] >= 1 and flow.loc["outliers", "n_removed"] == 0

    strict = run(
        rows,
        small_codebook,
        rules={
            "longstring_max_share": None,
            "exclude_outliers": True,
            "exclude_low_variability": True,
        },
    )
    reasons = set(strict.quarantine["first_reason"])
    assert {"outliers", "low_variability"} <= reasons
    assert len(strict.kept) + len(strict.quarantine) == 60


def test_free_text_is_kept_only_when_the_codebook_says_so(small_codebook_path):
    import yaml

    from lcsurvey.survey.codebook import load_codebook

    document = yaml.safe_load(small_codebook_path.read_text(encoding="utf-8"))
    document["free_text"]["comment"]["keep"] = True
    small_codebook_path.write_text(yaml.safe_dump(document), encoding="utf-8")
    book = load_codebook(small_codebook_path)
    rows = [good_row(i, Q9=f"Fijne sessie nummer {i}, één idee") for i in range(4)]
    result = run(rows, book)
    assert result.kept["comment"].tolist()[0] == "Fijne sessie nummer 0, één idee"


def test_bundled_waves_clean_and_link_by_pseudonym():
    from lcsurvey.survey.clean import clean_file
    from lcsurvey.survey.codebook import load_codebook

    from .conftest import ROOT

    book = load_codebook(ROOT / "data" / "codebook.yaml")
    first = clean_file(
        str(ROOT / "data/raw/wave_2021-12.csv"), book, wave="2021-12", rules=None, key=KEY
    )
    second = clean_file(
        str(ROOT / "data/raw/wave_2022-06.sav"), book, wave="2022-06", rules=None, key=KEY
    )
    for result, n_raw in ((first, 400), (second, 300)):
        assert len(result.kept) + len(result.quarantine) == n_raw
        assert result.kept["rid"].is_unique
    # Returners keep their person code, so about 60% of wave-1 completers reappear.
    linked = set(first.kept["rid"]) & set(second.kept["rid"])
    assert 100 < len(linked) < len(second.kept)


LIKELY7 = Scale(
    name="likely7",
    labels={
        1.0: ("Not at all likely",),
        **{float(c): (str(c),) for c in range(2, 7)},
        7.0: ("Very likely",),
    },
    missing=(-99.0,),
)


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("Very likely\n7", 7),
        ("Very likely7", 7),
        ("very  LIKELY 7", 7),
        ("Not at all likely1", 1),
        ("Not at all likely\r\n1", 1),
        ("4", 4),
        ("-99", np.nan),
    ],
)
def test_a_label_followed_by_its_own_code_is_that_code(cell, code):
    series = pd.Series(["2", cell], name="Q5_1", dtype="string")
    var = Variable(name="q5_1", column="Q5_1", scale="likely7")
    values, _ = decode(series, var, LIKELY7, source="wave.csv", rows=[4, 5])
    assert values.iloc[0] == 2
    assert values.iloc[1] == code or (np.isnan(code) and np.isnan(values.iloc[1]))


@pytest.mark.parametrize(
    "cell", ["Very likely\n5", "Very likely1", "Not at all likely 7", "Likely7"]
)
def test_a_label_with_another_code_stays_an_error(cell):
    series = pd.Series(["2", cell], name="Q5_1", dtype="string")
    var = Variable(name="q5_1", column="Q5_1", scale="likely7")
    with pytest.raises(InputError) as err:
        decode(series, var, LIKELY7, source="wave.csv", rows=[4, 5])
    assert "row 5" in str(err.value) and "'Q5_1'" in str(err.value)


def test_codebook_labels_with_their_codes_stuck_on_decode(small_codebook):
    rows = [good_row(i) for i in range(6)]
    rows[0] = good_row(0, Q3_3="Helemaal mee eens\n5", Q2_1="Mee eens 4")
    kept = run(rows, small_codebook).kept
    assert kept.loc[0, "b3"] == 5 and kept.loc[0, "a1"] == 4
