"""A model the data do not allow: the respondent rule, the reasons, the status table, and the
parts that use them (fit_model, the measurement model, the moderation, the panel, the report's
sentence and the one-page notice of a wave without usable responses)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lcsurvey.errors import InputError
from lcsurvey.pipeline.runner import write_csv
from lcsurvey.sem.estimability import (
    REASONS,
    STATUS_COLUMNS,
    NotEstimated,
    check_admissible,
    check_respondents,
    heywood_variables,
    respondents_needed,
    status_row,
    status_table,
)
from lcsurvey.sem.model import fit_model, not_estimated_tables

CFA = "f =~ x1 + x2 + x3 + x4"


def one_factor(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=n)
    return pd.DataFrame(
        {f"x{i}": 0.7 * factor + rng.normal(scale=0.6, size=n) for i in range(1, 5)}
    )


def test_a_model_needs_more_respondents_than_variables():
    assert respondents_needed(32) == 33
    assert respondents_needed(4) == 5
    check_respondents("m", 5, 4)  # exactly enough: no error
    with pytest.raises(NotEstimated) as caught:
        check_respondents("m", 4, 4)
    err = caught.value
    assert (err.reason, err.n, err.needed) == ("too_few_respondents", 4, 5)
    assert "too few respondents" in err.message and "at least 5 needed" in err.message


def test_not_estimated_is_an_input_error_with_a_known_reason():
    assert issubclass(NotEstimated, InputError)
    with pytest.raises(ValueError, match="unknown reason"):
        NotEstimated("m", "bad luck")


def test_fit_model_below_the_rule_says_too_few_respondents_under_fiml_and_listwise():
    data = one_factor(4)
    for missing in ("fiml", "listwise"):
        with pytest.raises(NotEstimated) as caught:
            fit_model(CFA, data, name="tiny", missing=missing)
        assert caught.value.reason == "too_few_respondents"
        assert (caught.value.n, caught.value.needed) == (4, 5)
    # Rows without any answer do not count under FIML.
    padded = pd.concat([data, pd.DataFrame(np.nan, index=range(10, 14), columns=data.columns)])
    with pytest.raises(NotEstimated) as caught:
        fit_model(CFA, padded, name="tiny")
    assert caught.value.n == 4


def test_fit_model_with_enough_respondents_fits():
    fitted = fit_model(CFA, one_factor(200), name="ok")
    assert int(fitted.fit["ntotal"].iloc[0]) == 200
    assert heywood_variables(fitted.estimates) == []


def test_a_model_with_more_free_parameters_than_moments_is_not_identified():
    # Two indicators with free loadings, variances and a factor variance: 2 + 2 + 1 + 2 means
    # = 7 free parameters (one loading fixed: 6) against 2 * 5 / 2 = 5 moments.
    syntax = "f =~ x1 + x2\nf ~~ f\nx1 ~~ x2"
    with pytest.raises(NotEstimated) as caught:
        fit_model(syntax, one_factor(100)[["x1", "x2"]], name="under")
    assert caught.value.reason == "not_identified"
    assert "free parameters" in caught.value.detail


def test_a_negative_free_variance_is_a_heywood_case_and_a_fixed_one_is_not():
    estimates = pd.DataFrame(
        {
            "lhs": ["f", "x1", "x2", "x3"],
            "op": ["=~", "~~", "~~", "~~"],
            "rhs": ["x1", "x1", "x2", "x3"],
            "est": [1.0, -0.05, 0.4, -1.0],
            "se": [np.nan, 0.1, 0.1, np.nan],  # x3's variance is fixed
        }
    )
    assert heywood_variables(estimates) == ["x1"]
    with pytest.raises(NotEstimated) as caught:
        check_admissible("m", estimates, 19)
    assert caught.value.reason == "heywood"
    assert "negative variance of x1" in caught.value.message


def test_status_table_has_its_columns_and_writes_counts_as_integers(tmp_path):
    rows = [
        status_row("transfer", True, n=228, needed=33),
        NotEstimated("transfer", "too_few_respondents", n=19, needed=33).status_row(),
        NotEstimated("joint", "no_convergence", n=19, detail="stopped").status_row(),
    ]
    table = status_table(rows)
    assert list(table.columns) == STATUS_COLUMNS
    path = tmp_path / "status.csv"
    write_csv(table, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "model,estimated,reason,n,needed,detail"
    assert lines[1] == "transfer,yes,,228,33,"
    assert lines[2] == f"transfer,no,{REASONS['too_few_respondents']},19,33,"
    assert lines[3] == "joint,no,no convergence,19,,stopped"


def test_the_tables_of_a_model_not_estimated_have_their_columns_and_no_row():
    fitted = fit_model(CFA, one_factor(100), name="ok")
    empty = not_estimated_tables()
    assert list(empty["estimates"].columns) == list(fitted.estimates.columns)
    assert list(empty["fit"].columns) == list(fitted.fit.columns)
    assert all(table.empty for table in empty.values())


def test_measurement_records_each_cfa_and_leaves_validity_empty_without_the_joint_cfa(
    small_codebook,
):
    from lcsurvey.survey.measurement import (
        cfa_fit_table,
        fit_measurement,
        loadings_table,
        status_frame,
        validity_tables,
    )

    rng = np.random.default_rng(3)
    n = 5  # enough for a three-item CFA (4), too few for the joint one of six items (7)
    responses = pd.DataFrame(
        {item: rng.integers(1, 6, size=n).astype(float) for item in small_codebook.items}
    )
    result = fit_measurement(responses, small_codebook)
    status = status_frame(result)
    assert status["model"].tolist() == ["joint", "alpha_c", "beta_c"]
    joint = status.iloc[0]
    assert (joint["estimated"], joint["n"], joint["needed"]) == ("no", 5, 7)
    assert joint["reason"] == REASONS["too_few_respondents"]
    validity, htmt = validity_tables(result)
    assert validity.empty and htmt.empty
    assert "joint" not in set(cfa_fit_table(result)["model"])
    assert "joint" not in set(loadings_table(result)["model"])


def test_moderation_with_too_few_complete_cases_is_not_estimated():
    from lcsurvey.study.analyses import MODERATION_MIN_N, moderation

    scores = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0) ** 0.5, "m": np.ones(6)})
    with pytest.raises(NotEstimated) as caught:
        moderation(scores, outcome="y", predictor="x", moderator="m")
    assert (caught.value.n, caught.value.needed) == (6, MODERATION_MIN_N)


def test_report_sentence_names_the_respondents_and_the_number_needed_in_both_languages():
    from lcsurvey.report.sentences import not_estimated_sentence

    status = status_table(
        [NotEstimated("transfer", "too_few_respondents", n=19, needed=33).status_row()]
    )
    inputs = SimpleNamespace(status=status, model="transfer")
    assert (
        not_estimated_sentence(inputs, "en")
        == "Too few respondents (19) for the structural model; at least 33 needed."
    )
    assert (
        not_estimated_sentence(inputs, "nl")
        == "Te weinig respondenten (19) voor het structurele model; minstens 33 nodig."
    )
    heywood = SimpleNamespace(
        status=status_table([NotEstimated("transfer", "heywood", n=40).status_row()]),
        model="transfer",
    )
    assert "Heywood" in not_estimated_sentence(heywood, "en")
    assert "Heywood" in not_estimated_sentence(heywood, "nl")
    from lcsurvey.report.sentences import measurement_status_sentence

    measurement = SimpleNamespace(
        measurement_status=status_table(
            [
                NotEstimated("joint", "too_few_respondents", n=19, needed=51).status_row(),
                status_row("alpha_c", True, n=19, needed=4),
            ]
        )
    )
    assert (
        measurement_status_sentence(measurement, "en")
        == "Too few respondents (19) for the measurement model; at least 51 needed."
    )
    assert (
        measurement_status_sentence(measurement, "nl")
        == "Te weinig respondenten (19) voor het meetmodel; minstens 51 nodig."
    )
    # Without a status table (or an estimated model) the catalogue's general sentence.
    estimated = SimpleNamespace(
        status=status_table([status_row("transfer", True, n=200, needed=33)]), model="transfer"
    )
    assert "transfer" in not_estimated_sentence(estimated, "en")


def test_a_wave_without_usable_responses_gets_a_one_page_notice(tmp_path):
    import pypdf

    from lcsurvey.report.notice import kept_respondents
    from lcsurvey.report.render import render_report

    flow = tmp_path / "flow.csv"
    pd.DataFrame(
        {
            "step": ["id", "previews", "consent"],
            "n_before": [25, 25, 3],
            "n_removed": [0, 22, 3],
            "n_after": [25, 3, 0],
            "n_flagged": [0, 22, 3],
        }
    ).to_csv(flow, index=False)
    assert kept_respondents(flow) == 0
    words = {"nl": ("Geen bruikbare antwoorden", "25"), "en": ("No usable responses", "25")}
    for lang, (title, returned) in words.items():
        out = tmp_path / lang
        times = render_report(
            "unused.ipynb",
            out / "two_pager.ipynb",
            out / "two_pager.html",
            out / "two_pager.pdf",
            {"wave": "2030-06", "lang": lang, "input_files": {"flow": str(flow)}},
        )
        assert list(times) == ["notice"]
        page = (out / "two_pager.html").read_text(encoding="utf-8")
        assert title in page and returned in page and "2030-06" in page
        assert len(pypdf.PdfReader(out / "two_pager.pdf").pages) == 1
        assert (out / "two_pager.ipynb").exists()
    en = (tmp_path / "en" / "two_pager.html").read_text(encoding="utf-8")
    assert "22 test" in en and "3 no consent" in en


def test_panel_pairs_with_too_few_returners_are_left_out_with_a_warning():
    from lcsurvey.study.waves import panel_model

    rid = [f"r{i}" for i in range(6)]
    scores = pd.concat(
        [
            pd.DataFrame({"rid": rid, "wave": "a", "x": np.arange(6.0), "y": np.ones(6)}),
            pd.DataFrame({"rid": rid, "wave": "b", "x": np.arange(6.0), "y": np.zeros(6)}),
        ],
        ignore_index=True,
    )
    with pytest.warns(RuntimeWarning, match=r"panel a -> b left out: 6 returners, fewer than 10"):
        estimates, fit = panel_model(scores, ["a", "b"], cause="x", effect="y")
    assert estimates.empty and fit.empty


def test_diversity_of_a_wave_of_one_member_per_community_or_none_is_an_empty_table():
    from lcsurvey.study.analyses import DIVERSITY_COLUMNS, diversity

    responses = pd.DataFrame(
        {"rid": [f"r{i}" for i in range(6)], "community": range(6), "sector": [1, 2] * 3}
    )
    scores = pd.DataFrame({"rid": responses["rid"], "facilitation": np.linspace(2, 4, 6)})
    for rows in (slice(None), slice(0, 0)):  # one member each: no spread in heterogeneity
        table = diversity(
            responses.iloc[rows],
            scores.iloc[rows],
            outcomes=["facilitation"],
            cluster="community",
            composition="sector",
        )
        assert table.empty and list(table.columns) == DIVERSITY_COLUMNS


def test_power_from_a_wave_whose_model_was_not_estimated_says_so(tmp_path):
    from types import SimpleNamespace as Files

    from lcsurvey.study.power import study_from_files

    empty = not_estimated_tables()
    estimates = tmp_path / "estimates.csv"
    write_csv(empty["estimates"], estimates)
    moderation = tmp_path / "moderation.csv"
    write_csv(pd.DataFrame(columns=["term", "est"]), moderation)
    files = Files(estimates=str(estimates), scores="unused", moderation=str(moderation))
    with pytest.raises(InputError, match="was not estimated there") as caught:
        study_from_files({"population": "fitted"}, CFA, "unused", files)
    assert "estimates.csv" in caught.value.message and "population: truth" in caught.value.message
