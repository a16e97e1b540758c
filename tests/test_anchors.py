"""Response anchors: answer sets put in scale order in Dutch, English, German, French, Spanish."""

from __future__ import annotations

import random

import pytest

from lcsurvey.survey.anchors import anchor_key, order_answers

SCALES = {
    "agree nl": ["Helemaal mee oneens", "Mee oneens", "Neutraal", "Mee eens", "Helemaal mee eens"],
    "agree nl 7": [
        "Helemaal mee oneens",
        "Mee oneens",
        "Enigszins mee oneens",
        "Neutraal",
        "Enigszins mee eens",
        "Mee eens",
        "Helemaal mee eens",
    ],
    "agree en 7": [
        "Strongly disagree",
        "Disagree",
        "Somewhat disagree",
        "Neither agree nor disagree",
        "Somewhat agree",
        "Agree",
        "Strongly agree",
    ],
    "agree de": [
        "Stimme überhaupt nicht zu",
        "Stimme nicht zu",
        "Weder noch",
        "Stimme zu",
        "Stimme voll und ganz zu",
    ],
    "agree fr": [
        "Pas du tout d\u2019accord",
        "Pas d'accord",
        "Ni d'accord ni pas d'accord",
        "D'accord",
        "Tout à fait d'accord",
    ],
    "agree es": [
        "Totalmente en desacuerdo",
        "En desacuerdo",
        "Ni de acuerdo ni en desacuerdo",
        "De acuerdo",
        "Totalmente de acuerdo",
    ],
    "satisfaction nl": [
        "Zeer ontevreden",
        "Ontevreden",
        "Niet tevreden, niet ontevreden",
        "Tevreden",
        "Zeer tevreden",
    ],
    "satisfaction en 7": [
        "Extremely dissatisfied",
        "Moderately dissatisfied",
        "Slightly dissatisfied",
        "Neither satisfied nor dissatisfied",
        "Slightly satisfied",
        "Moderately satisfied",
        "Extremely satisfied",
    ],
    "satisfaction de": [
        "Sehr unzufrieden",
        "Unzufrieden",
        "Weder zufrieden noch unzufrieden",
        "Zufrieden",
        "Sehr zufrieden",
    ],
    "satisfaction fr": [
        "Très insatisfait",
        "Insatisfait",
        "Ni satisfait ni insatisfait",
        "Satisfait",
        "Très satisfait",
    ],
    "satisfaction es": [
        "Muy insatisfecho",
        "Insatisfecho",
        "Ni satisfecho ni insatisfecho",
        "Satisfecho",
        "Muy satisfecho",
    ],
    "likelihood en": [
        "Extremely unlikely",
        "Somewhat unlikely",
        "Neither likely nor unlikely",
        "Somewhat likely",
        "Extremely likely",
    ],
    "likelihood nl": [
        "Zeer onwaarschijnlijk",
        "Onwaarschijnlijk",
        "Neutraal",
        "Waarschijnlijk",
        "Zeer waarschijnlijk",
    ],
    "likelihood de": [
        "Sehr unwahrscheinlich",
        "Unwahrscheinlich",
        "Weder wahrscheinlich noch unwahrscheinlich",
        "Wahrscheinlich",
        "Sehr wahrscheinlich",
    ],
    "likelihood fr": ["Très improbable", "Improbable", "Neutre", "Probable", "Très probable"],
    "likelihood es": ["Muy improbable", "Improbable", "Neutral", "Probable", "Muy probable"],
    "frequency nl": ["Nooit", "Zelden", "Soms", "Vaak", "Altijd"],
    "frequency en": ["Never", "Rarely", "Sometimes", "Often", "Always"],
    "frequency de": ["Nie", "Selten", "Manchmal", "Oft", "Immer"],
    "frequency fr": ["Jamais", "Rarement", "Parfois", "Souvent", "Toujours"],
    "frequency es": ["Nunca", "Rara vez", "A veces", "A menudo", "Siempre"],
    "helpfulness en": [
        "Not at all helpful",
        "Slightly helpful",
        "Moderately helpful",
        "Very helpful",
        "Extremely helpful",
    ],
    "helpfulness nl": [
        "Helemaal niet nuttig",
        "Een beetje nuttig",
        "Redelijk nuttig",
        "Zeer nuttig",
        "Uiterst nuttig",
    ],
    "helpfulness de": [
        "Überhaupt nicht hilfreich",
        "Etwas hilfreich",
        "Mäßig hilfreich",
        "Sehr hilfreich",
        "Äußerst hilfreich",
    ],
    "helpfulness fr": ["Pas du tout utile", "Peu utile", "Assez utile", "Très utile"],
    "helpfulness es": ["Nada útil", "Poco útil", "Algo útil", "Muy útil", "Extremadamente útil"],
    "importance en": [
        "Not at all important",
        "Slightly important",
        "Moderately important",
        "Very important",
        "Extremely important",
    ],
    "bipolar en": [
        "Extremely unreasonable",
        "Somewhat unreasonable",
        "Neither reasonable nor unreasonable",
        "Somewhat reasonable",
        "Extremely reasonable",
    ],
    "bipolar nl": ["Zeer onredelijk", "Onredelijk", "Neutraal", "Redelijk", "Zeer redelijk"],
}


@pytest.mark.parametrize("name", sorted(SCALES))
def test_each_vocabulary_orders_its_answers_whatever_order_they_come_in(name):
    expected = SCALES[name]
    shuffled = expected[:]
    random.Random(name).shuffle(shuffled)
    ordering = order_answers(shuffled)
    assert ordering is not None, name
    assert list(ordering.labels) == expected
    assert ordering.note is None


def test_case_stray_and_non_breaking_spaces_do_not_matter():
    answers = [
        "  HELEMAAL\u00a0mee  eens ",
        "mee ONEENS",
        "Neutraal.",
        "Mee eens",
        "helemaal mee oneens",
    ]
    ordering = order_answers(answers)
    assert ordering is not None
    assert list(ordering.labels) == [
        "helemaal mee oneens",
        "mee ONEENS",
        "Neutraal.",
        "Mee eens",
        "  HELEMAAL\u00a0mee  eens ",
    ]
    assert anchor_key("Très\u00a0 Satisfait ") == anchor_key("tres satisfait")


@pytest.mark.parametrize(
    "answers",
    [
        ["Overheid", "Bedrijfsleven", "Onderwijs", "Non-profit"],
        ["Man", "Vrouw", "Anders"],
        ["Apple", "Banana"],
        ["Mee eens", "Vaak"],  # two vocabularies mixed
        ["Mee eens", "Eens"],  # two answers on one point
        ["Very likely"],
        ["Neutraal", "1-9"],  # "1-9" is no adjective
    ],
)
def test_sets_no_vocabulary_orders_are_left_unordered(answers):
    assert order_answers(answers) is None


def test_a_lopsided_bipolar_set_is_ordered_with_a_caution():
    ordering = order_answers(["Neutraal", "Mee eens", "Helemaal mee eens", "Mee oneens"])
    assert ordering is not None
    assert list(ordering.labels) == ["Mee oneens", "Neutraal", "Mee eens", "Helemaal mee eens"]
    assert "missing" in ordering.note


def test_yes_no_puts_yes_first():
    ordering = order_answers(["Nee, ik doe niet mee", "Ja, ik doe mee"])
    assert ordering is not None and ordering.family == "yesno"
    assert ordering.labels == ("Ja, ik doe mee", "Nee, ik doe niet mee")
