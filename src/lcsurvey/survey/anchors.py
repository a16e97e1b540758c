"""Response anchors: put a set of text answers in scale order, in five languages.

:func:`order_answers` takes the distinct answers of a question ("Mee eens", "Neutraal",
"Helemaal mee oneens", ...) and returns them from the lowest to the highest point of the
scale, or ``None`` when no vocabulary orders all of them. Two kinds of vocabulary are used:

- **Listed families** whose words are idiomatic: agreement ("Helemaal mee oneens" ...
  "Strongly agree", "Stimme voll und ganz zu", "Pas du tout d'accord", "Totalmente de
  acuerdo"), frequency ("Nooit" ... "Always", "Nie", "Jamais", "Siempre") and yes/no.
- **Intensity x adjective**, for any adjective: an intensity word ("not at all", "slightly",
  "somewhat", "moderately", "very", "extremely" and their Dutch, German, French and Spanish
  counterparts) before one adjective, which may carry its negating prefix ("likely" /
  "unlikely", "tevreden" / "ontevreden", "zufrieden" / "unzufrieden", "satisfait" /
  "insatisfait"), and "neither X nor unX" in the middle. This orders satisfaction,
  likelihood, helpfulness, importance and every bipolar "extremely X ... extremely unX" scale.

Matching is tolerant of case, accents, curly apostrophes, punctuation, stray and
non-breaking spaces. A bipolar set with more answers on one side of the middle than on the
other is still ordered, but :attr:`Ordering.note` says that an answer option may be missing
from the data (its codes would then be shifted).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Ordering", "anchor_key", "is_non_substantive", "order_answers"]


def anchor_key(text: str) -> str:
    """The form an answer is matched in: lower case, no accents, no punctuation, one space."""
    text = unicodedata.normalize("NFKD", str(text).replace("\u00a0", " "))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold().replace("\u2019", "'").replace("`", "'")
    text = re.sub(r"[,;:.!?()/\-\u2013\u2014]+", " ", text)
    return " ".join(text.split())


def _keys(*texts: str) -> tuple[str, ...]:
    return tuple(anchor_key(t) for t in texts)


# Agreement, -3 (strongest disagreement) .. 3; one entry per point and language.
_AGREEMENT: dict[int, tuple[str, ...]] = {
    -3: _keys(
        "helemaal mee oneens",
        "volledig mee oneens",
        "zeer mee oneens",
        "geheel mee oneens",
        "helemaal oneens",
        "strongly disagree",
        "completely disagree",
        "totally disagree",
        "stimme überhaupt nicht zu",
        "stimme gar nicht zu",
        "stimme ganz und gar nicht zu",
        "trifft überhaupt nicht zu",
        "trifft gar nicht zu",
        "lehne voll und ganz ab",
        "pas du tout d'accord",
        "tout à fait en désaccord",
        "fortement en désaccord",
        "totalement en désaccord",
        "totalmente en desacuerdo",
        "muy en desacuerdo",
        "completamente en desacuerdo",
        "fuertemente en desacuerdo",
    ),
    -2: _keys(
        "mee oneens",
        "oneens",
        "niet mee eens",
        "disagree",
        "stimme nicht zu",
        "trifft nicht zu",
        "lehne ab",
        "pas d'accord",
        "en désaccord",
        "en desacuerdo",
    ),
    -1: _keys(
        "enigszins mee oneens",
        "een beetje mee oneens",
        "beetje mee oneens",
        "deels mee oneens",
        "somewhat disagree",
        "slightly disagree",
        "tend to disagree",
        "mildly disagree",
        "stimme eher nicht zu",
        "trifft eher nicht zu",
        "lehne eher ab",
        "plutôt pas d'accord",
        "plutôt en désaccord",
        "légèrement en désaccord",
        "algo en desacuerdo",
        "ligeramente en desacuerdo",
        "más bien en desacuerdo",
    ),
    0: _keys(
        "neutraal",
        "niet mee eens niet mee oneens",
        "noch mee eens noch mee oneens",
        "niet eens niet oneens",
        "niet mee eens en niet mee oneens",
        "neutral",
        "neither agree nor disagree",
        "undecided",
        "weder noch",
        "teils teils",
        "stimme teilweise zu",
        "teils zustimmend teils ablehnend",
        "neutre",
        "ni d'accord ni pas d'accord",
        "ni en accord ni en désaccord",
        "ni d'accord ni en désaccord",
        "ni de acuerdo ni en desacuerdo",
        "indiferente",
    ),
    1: _keys(
        "enigszins mee eens",
        "een beetje mee eens",
        "beetje mee eens",
        "deels mee eens",
        "somewhat agree",
        "slightly agree",
        "tend to agree",
        "mildly agree",
        "stimme eher zu",
        "trifft eher zu",
        "plutôt d'accord",
        "légèrement d'accord",
        "algo de acuerdo",
        "ligeramente de acuerdo",
        "más bien de acuerdo",
    ),
    2: _keys(
        "mee eens",
        "eens",
        "agree",
        "stimme zu",
        "trifft zu",
        "d'accord",
        "de acuerdo",
    ),
    3: _keys(
        "helemaal mee eens",
        "volledig mee eens",
        "zeer mee eens",
        "geheel mee eens",
        "helemaal eens",
        "strongly agree",
        "completely agree",
        "totally agree",
        "stimme voll und ganz zu",
        "stimme völlig zu",
        "stimme voll zu",
        "trifft voll und ganz zu",
        "trifft völlig zu",
        "tout à fait d'accord",
        "entièrement d'accord",
        "fortement d'accord",
        "totalement d'accord",
        "totalmente de acuerdo",
        "muy de acuerdo",
        "completamente de acuerdo",
        "fuertemente de acuerdo",
    ),
}

# Frequency, from never to always (unipolar).
_FREQUENCY: dict[int, tuple[str, ...]] = {
    0: _keys("nooit", "never", "nie", "niemals", "jamais", "nunca"),
    1: _keys(
        "bijna nooit",
        "vrijwel nooit",
        "almost never",
        "hardly ever",
        "fast nie",
        "presque jamais",
        "casi nunca",
    ),
    2: _keys(
        "zelden", "rarely", "seldom", "selten", "rarement", "rara vez", "raramente", "pocas veces"
    ),
    3: _keys(
        "af en toe",
        "occasionally",
        "once in a while",
        "gelegentlich",
        "de temps en temps",
        "occasionnellement",
        "de vez en cuando",
        "ocasionalmente",
    ),
    4: _keys("soms", "sometimes", "manchmal", "parfois", "a veces", "algunas veces"),
    5: _keys(
        "vaak",
        "regelmatig",
        "often",
        "frequently",
        "fairly often",
        "oft",
        "häufig",
        "souvent",
        "fréquemment",
        "a menudo",
        "frecuentemente",
        "con frecuencia",
        "muchas veces",
    ),
    6: _keys(
        "heel vaak",
        "zeer vaak",
        "meestal",
        "very often",
        "usually",
        "most of the time",
        "sehr oft",
        "sehr häufig",
        "meistens",
        "très souvent",
        "la plupart du temps",
        "muy a menudo",
        "muy frecuentemente",
        "la mayoría de las veces",
        "usualmente",
    ),
    7: _keys(
        "bijna altijd",
        "vrijwel altijd",
        "almost always",
        "fast immer",
        "presque toujours",
        "casi siempre",
    ),
    8: _keys("altijd", "always", "immer", "toujours", "siempre"),
}

_YES_NO: dict[int, tuple[str, ...]] = {
    # Qualtrics and most tools code yes as 1, no as 2.
    1: _keys("ja", "yes", "oui", "si", "sí"),
    2: _keys("nee", "neen", "no", "nein", "non"),
}

_LISTED = {"agree": _AGREEMENT, "frequency": _FREQUENCY}
# The Dutch and English label of each point of the listed families, for the codebook's
# [Dutch, English] labels.
_CANONICAL: dict[str, dict[int, tuple[str, str]]] = {
    "agree": {
        -3: ("Helemaal mee oneens", "Strongly disagree"),
        -2: ("Mee oneens", "Disagree"),
        -1: ("Enigszins mee oneens", "Somewhat disagree"),
        0: ("Neutraal", "Neutral"),
        1: ("Enigszins mee eens", "Somewhat agree"),
        2: ("Mee eens", "Agree"),
        3: ("Helemaal mee eens", "Strongly agree"),
    },
    "frequency": {
        0: ("Nooit", "Never"),
        1: ("Bijna nooit", "Almost never"),
        2: ("Zelden", "Rarely"),
        3: ("Af en toe", "Occasionally"),
        4: ("Soms", "Sometimes"),
        5: ("Vaak", "Often"),
        6: ("Meestal", "Usually"),
        7: ("Bijna altijd", "Almost always"),
        8: ("Altijd", "Always"),
    },
}
_LOOKUP = {
    family: {key: point for point, keys in points.items() for key in keys}
    for family, points in _LISTED.items()
}

# Intensity words before an adjective, weakest to strongest. "not (at all)" sits below the
# weakest positive intensity, so "not at all important" < "slightly important" and, in a
# bipolar scale, "not satisfied" falls on the negative side.
_INTENSITY: dict[str, float] = {
    **dict.fromkeys(
        _keys(
            "not at all",
            "helemaal niet",
            "totaal niet",
            "volstrekt niet",
            "überhaupt nicht",
            "gar nicht",
            "pas du tout",
            "nada",
            "en absoluto",
        ),
        -5.0,
    ),
    **dict.fromkeys(_keys("not", "niet", "nicht", "pas", "no"), -3.0),
    **dict.fromkeys(
        _keys(
            "slightly",
            "a little",
            "a bit",
            "mildly",
            "een beetje",
            "beetje",
            "licht",
            "weinig",
            "etwas",
            "ein wenig",
            "leicht",
            "wenig",
            "peu",
            "légèrement",
            "un peu",
            "poco",
            "ligeramente",
            "un poco",
        ),
        1.0,
    ),
    **dict.fromkeys(
        _keys("somewhat", "rather", "enigszins", "wat", "eher", "plutôt", "algo", "más bien"),
        2.0,
    ),
    **dict.fromkeys(
        _keys(
            "moderately",
            "fairly",
            "redelijk",
            "matig",
            "tamelijk",
            "vrij",
            "mäßig",
            "einigermaßen",
            "modérément",
            "assez",
            "moderadamente",
            "bastante",
        ),
        2.5,
    ),
    "": 3.0,  # the bare adjective
    **dict.fromkeys(_keys("quite", "best", "ziemlich"), 3.5),
    **dict.fromkeys(_keys("very", "zeer", "heel", "erg", "sehr", "très", "muy"), 4.0),
    **dict.fromkeys(
        _keys(
            "extremely",
            "completely",
            "totally",
            "highly",
            "absolutely",
            "uiterst",
            "extreem",
            "buitengewoon",
            "volledig",
            "helemaal",
            "ontzettend",
            "äußerst",
            "extrem",
            "völlig",
            "total",
            "absolut",
            "außerordentlich",
            "extrêmement",
            "tout à fait",
            "totalement",
            "entièrement",
            "extremadamente",
            "sumamente",
            "totalmente",
            "completamente",
        ),
        5.0,
    ),
}
# Longest first, so that "not at all" is tried before "not".
_INTENSITY_WORDS = sorted(_INTENSITY, key=len, reverse=True)
# Prefixes that negate an adjective (unlikely, ontevreden, unzufrieden, insatisfait).
_NEGATING = ("un", "dis", "in", "im", "ir", "il", "on", "des", "de", "mé", "me")
# "Neither X nor Y" and its counterparts: the middle of a bipolar scale.
_NEITHER = re.compile(
    r"^(?:neither (?P<en>.+) nor .+|noch (?P<nl1>.+) noch .+|niet (?P<nl2>.+) niet .+|"
    r"niet (?P<nl3>.+) en niet .+|weder (?P<de>.+) noch .+|ni (?P<fr>.+) ni .+)$"
)
_NEUTRAL = set(_keys("neutral", "neutraal", "neutre", "neither", "noch", "weder noch"))


# Answers that are no point of a scale: don't know, not applicable, no answer, no opinion.
_NON_SUBSTANTIVE = set(
    _keys(
        "weet niet",
        "weet ik niet",
        "geen mening",
        "niet van toepassing",
        "n v t",
        "nvt",
        "geen antwoord",
        "wil ik niet zeggen",
        "zeg ik liever niet",
        "don't know",
        "do not know",
        "dont know",
        "not applicable",
        "n a",
        "no answer",
        "no opinion",
        "prefer not to say",
        "prefer not to answer",
        "weiß nicht",
        "weiss nicht",
        "keine angabe",
        "keine ahnung",
        "nicht zutreffend",
        "trifft nicht zu (nicht zutreffend)",
        "ne sais pas",
        "je ne sais pas",
        "sans opinion",
        "non applicable",
        "pas de réponse",
        "no sé",
        "no lo sé",
        "no sabe",
        "no sabe no contesta",
        "ns nc",
        "no aplica",
        "no procede",
        "sin respuesta",
        "prefiero no decirlo",
    )
)


def is_non_substantive(text: str) -> bool:
    """Whether an answer is no point of a scale ("Weet niet", "Not applicable", ...)."""
    return anchor_key(text) in _NON_SUBSTANTIVE


@dataclass(frozen=True)
class Ordering:
    """Answers in scale order (lowest first), the family that ordered them, and a caution.

    ``translations``: for the listed families, the (Dutch, English) label of each answer's
    point, in the order of ``labels``; empty otherwise.
    """

    labels: tuple[str, ...]
    family: str
    note: str | None = None
    translations: tuple[tuple[str, str], ...] = ()

    def labels_for(self, label: str) -> list[str]:
        """The codebook's labels of one answer: [Dutch, English], with the answer as exported
        in place of the one it equals, or after both when it is in neither language."""
        if not self.translations:
            return [label]
        dutch, english = self.translations[self.labels.index(label)]
        key = anchor_key(label)
        if key == anchor_key(dutch):
            return [label, english]
        if key == anchor_key(english):
            return [dutch, label]
        return [dutch, english, label]


def order_answers(answers: Iterable[str]) -> Ordering | None:
    """The answers from the lowest to the highest point, or None if no vocabulary orders them.

    ``answers`` are the distinct texts as exported; the returned labels are those same texts.
    Two answers that fall on the same point make the set unorderable.
    """
    texts = list(dict.fromkeys(str(a) for a in answers))
    if len(texts) < 2:
        return None
    keys = [anchor_key(t) for t in texts]
    for family, lookup in _LOOKUP.items():
        points = [lookup.get(k) for k in keys]
        if None not in points and len(set(points)) == len(points):
            ordering = _ordering(texts, points, family, bipolar=family == "agree")  # type: ignore[arg-type]
            canonical = _CANONICAL[family]
            by_label = dict(zip(texts, points, strict=True))
            translations = tuple(canonical[by_label[t]] for t in ordering.labels)
            return Ordering(ordering.labels, family, ordering.note, translations)
    yes_no = _yes_no(keys)
    if yes_no is not None:
        return _ordering(texts, yes_no, "yesno", bipolar=False)
    return _by_intensity(texts, keys)


def _ordering(texts: list[str], points: list[float], family: str, bipolar: bool) -> Ordering:
    ordered = tuple(t for _, t in sorted(zip(points, texts, strict=True)))
    note = None
    if bipolar:
        below = sum(p < 0 for p in points)
        above = sum(p > 0 for p in points)
        if below != above:
            note = (
                f"{below} answer(s) below the middle but {above} above it: an answer option "
                "nobody chose may be missing, which would shift the codes"
            )
    return Ordering(ordered, family, note)


def _yes_no(keys: list[str]) -> list[float] | None:
    if len(keys) != 2:
        return None
    points = []
    for key in keys:
        first = key.split(" ", 1)[0]
        point = next((p for p, words in _YES_NO.items() if first in words), None)
        if point is None:
            return None
        points.append(point)
    return points if len(set(points)) == 2 else None


def _by_intensity(texts: list[str], keys: list[str]) -> Ordering | None:
    """Order "<intensity> <adjective>" answers that share one adjective (or its negation)."""
    parsed = []
    for key in keys:
        if key in _NEUTRAL:
            parsed.append((0.0, None))
            continue
        neither = _NEITHER.match(key)
        if neither:
            parsed.append((0.0, next(g for g in neither.groups() if g)))
            continue
        for word in _INTENSITY_WORDS:
            if word and key.startswith(word + " "):
                parsed.append((_INTENSITY[word], key[len(word) + 1 :]))
                break
        else:
            parsed.append((_INTENSITY[""], key))
    adjectives = [a for _, a in parsed if a is not None]
    if not adjectives or not all(re.fullmatch(r"[^\W\d_]+", a) for a in adjectives):
        # One word of letters: "likely", "tevreden", not "1 9" or "x ray".
        return None
    base = min(adjectives, key=len)
    points: list[float] = []
    negated_any = False
    for (intensity, adjective), _key in zip(parsed, keys, strict=True):
        if adjective is None:
            points.append(0.0)
            continue
        if adjective == base:
            points.append(intensity)
        elif _negation_of(adjective, base):
            negated_any = True
            points.append(-intensity)
        elif intensity == 0.0 or _negation_of(base, adjective):
            # "neither likely nor unlikely" names the positive adjective first.
            points.append(0.0)
        else:
            return None
    if len(set(points)) != len(points) or (len(set(adjectives)) == 1 and len(points) == 1):
        return None
    if not negated_any and all(p == _INTENSITY[""] for p in points):
        return None
    bipolar = negated_any or 0.0 in points and any(p < 0 for p in points)
    family = base.replace(" ", "_")
    return _ordering(texts, points, family, bipolar=bipolar)


def _negation_of(word: str, base: str) -> bool:
    return any(word == prefix + base for prefix in _NEGATING) or (
        # French/Spanish negation by "pas"/"no" is handled as an intensity word.
        word.endswith(" " + base) and word.split(" ", 1)[0] in ("not", "niet", "nicht", "no")
    )
