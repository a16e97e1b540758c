"""Draft a codebook from raw exports: ``lcsurvey codebook draft RAW [RAW ...] [--out FILE]``.

One or more exports (anything :func:`lcsurvey.survey.io.read_raw` reads) become a codebook
YAML in the format of ``data/codebook.yaml`` that validates against
``workflow/schemas/codebook.schema.yaml``. Every column gets an entry or a line, with its
question text (Qualtrics row 2, SPSS variable labels, the header of other tools) as a comment:

- survey-tool columns: the response id (``id``), a person code (``person``), the columns the
  exclusion rules read (``meta``: status, consent, progress, duration, finished); other
  tool columns (dates, language, channel) are listed as not read;
- likely personal data (e-mail, names, IP address, latitude/longitude/location, phone) under
  ``pii``, each with a comment saying why; answer values never appear in the draft;
- free text (many different or long answers) under ``free_text``;
- response scales: from SPSS value labels (ordered by code), from the distinct text answers
  ordered by the anchors of :mod:`lcsurvey.survey.anchors` (agreement, satisfaction,
  likelihood, frequency, helpfulness, importance, bipolar "extremely X ... extremely unX" in
  Dutch, English, German, French and Spanish), from Qualtrics' mixed end points
  (``"Very likely\\n7"`` and ``Not at all likely1`` at the ends, bare ``2``..``6`` between) or,
  for numbers only, as the observed range; identical answer sets share one named scale;
  conventional missing codes (-99, -9, ...) and "don't know" codes go to the scale's
  ``missing``; agreement and frequency scales get [Dutch, English] labels;
- items grouped by question stem (``Q5_1``..``Q5_7``, LimeSurvey ``Q5[SQ001]``, ``Q5.1``,
  "Question - Option", "Question [Row]") into draft constructs; a question that asks for one
  given answer ("Kies bij deze vraag 'Mee eens'") becomes an attention check; single
  questions on a vocabulary scale are items, other single questions background variables;
- a later export's column with another name but the same question text gets ``wave_columns``.

What the drafter cannot decide becomes a ``# TODO`` line in the draft and one line in the
command's summary, never a silent guess: answers no vocabulary orders (written in alphabetical
order so that the draft loads), a column it cannot classify, an answer set that looks
incomplete, answer sets of several questions pooled into one scale, answer codes without
texts, SPSS codes against the order of their labels, "don't know" given as text, a response
id it had to guess, a column missing from one of the exports or named twice in one, and items
that load against the rest of their question on its first principal component (as psych's
``check.keys``: reverse-keyed, or a construct of its own?). The draft loads (an export without
a single closed question ends in a TODO saying why it cannot), so the TODOs can be worked
through one by one.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lcsurvey.errors import InputError
from lcsurvey.survey.anchors import Ordering, anchor_key, is_non_substantive, order_answers
from lcsurvey.survey.io import RawTable, read_raw

__all__ = ["Draft", "draft_codebook", "main"]

# Codes survey tools and analysts use for "no answer"; negative, so never a real answer.
MISSING_CODES = frozenset(
    {-99.0, -98.0, -97.0, -96.0, -95.0, -999.0, -9.0, -8.0, -7.0, -77.0, -88.0, -66.0}
)
# An item of a stem group loading at least this much on the group's first principal
# component, with the sign of the minority, is flagged as possibly reverse-keyed; each pair
# of items needs this many respondents who answered both.
REVERSE_HINT_LOADING = 0.3
REVERSE_HINT_MIN_ROWS = 20
# A text column with more different answers than this that no vocabulary orders is free text.
FREE_TEXT_MIN_DISTINCT = 10
# ... as is one whose answers are this long on average.
FREE_TEXT_MIN_LENGTH = 40


def _compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", anchor_key(text))


# Survey-tool columns, by their compacted name or header text.
_ID = {"responseid", "respondentid", "responseidentifier", "id", "responsid"}
_PERSON = {"externalreference", "externaldatareference", "token", "participantid"}
_META_ROLES = {
    "status": {"status", "responsetype"},
    "progress": {"progress"},
    "duration": {"durationinseconds", "duration", "interviewtime", "totaltime"},
    "finished": {"finished"},
}
_TOOL_COLUMNS = {
    "datesubmitted",
    "datestarted",
    "datelastaction",
    "referrerurl",
    "startdate",
    "enddate",
    "recordeddate",
    "distributionchannel",
    "userlanguage",
    "collectorid",
    "submitdate",
    "lastpage",
    "startlanguage",
    "seed",
    "datestamp",
    "refurl",
    "timestamp",
    "tijdstempel",
    "zeitstempel",
    "horodateur",
    "marcatemporal",
    "starttime",
    "completiontime",
    "lastmodifiedtime",
    "begintijd",
    "eindtijd",
    "startdatum",
    "einddatum",
    "locationaccuracy",
    "qualtricssurveyid",
    "surveyid",
}
# Qualtrics' own fields (Q_RecaptchaScore, Q_TotalDuration, ...) and display orders (Q5_DO_1).
_QUALTRICS_TOOL = re.compile(r"^Q_[A-Z][A-Za-z]+$|_DO(_\d+)?$|^FL_\d+_DO")
# Personal data: compacted-name fragments (and whole words of the header) with the reason.
_PII_FRAGMENTS = (
    ("email", "e-mail address"),
    ("emailadres", "e-mail address"),
    ("correo", "e-mail address"),
    ("courriel", "e-mail address"),
    ("firstname", "name"),
    ("lastname", "name"),
    ("fullname", "name"),
    ("voornaam", "name"),
    ("achternaam", "name"),
    ("vorname", "name"),
    ("nachname", "name"),
    ("prenom", "name"),
    ("apellido", "name"),
    ("ipaddress", "IP address"),
    ("ipaddr", "IP address"),
    ("latitude", "location"),
    ("longitude", "location"),
    ("phone", "phone number"),
    ("telefoon", "phone number"),
    ("telefon", "phone number"),
    ("telephone", "phone number"),
    ("telefono", "phone number"),
    ("mobile", "phone number"),
)
_PII_WORDS = {
    "name": "name",
    "naam": "name",
    "nom": "name",
    "nombre": "name",
    "location": "location",
    "locatie": "location",
    "standort": "location",
    "gsm": "phone number",
    "mail": "e-mail address",
    "ip": "IP address",
    "adres": "address",
    "address": "address",
    "adresse": "address",
    "postcode": "address",
    "zipcode": "address",
    "postleitzahl": "address",
}
# The text box beside "Other": "Other (please specify)", "Anders, namelijk".
_SPECIFY = re.compile(
    r"please specify|\(specify\)|namelijk|bitte angeben|pr[ée]cisez|especifique",
    re.IGNORECASE,
)
# Dates and times written as text (2026-12-01 10:04:40, 12/01/2026 09:58:02 AM).
_DATE_TEXT = re.compile(
    r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?(\.\d+)?\s*([AaPp][Mm])?)?$"
)
# LimeSurvey answer codes (A1, A2, ..., or AO01): the option's position is its number.
_ANSWER_CODE = re.compile(r"^(?P<prefix>[A-Za-z]{1,2})0*(?P<number>\d{1,3})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]+$")
_CONSENT = re.compile(
    r"consent|toestemming|einwilligung|zustimmung|consentement|consentimiento|informed",
    re.IGNORECASE,
)
# "Choose 'Agree' for this question": an instruction word and a quoted answer.
_INSTRUCTION = re.compile(
    r"\b(kies|selecteer|vink|klik|choose|select|pick|mark|tick|click|w[aä]hlen|w[aä]hle|"
    r"kreuzen|klicken|choisissez|s[ée]lectionnez|cochez|choisir|elija|seleccione|marque|"
    r"escoja)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"['\"\u2018\u201c\u201e]([^'\"\u2019\u201d]+)['\"\u2019\u201d]")
# Qualtrics' mixed end points: a label with the code stuck on, "Very likely\n7".
_END_POINT = re.compile(r"^(?P<label>.*[^\d\s\-])\s*(?P<code>\d+)$", re.DOTALL)
_WAVE_ID = re.compile(r"(\d{4}-\d{2}(?:-\d{2})?|\d{4}[-_]?[Qq]\d|\d{4})")
_NAME_STEMS = (
    re.compile(r"^(?P<stem>[^\[\]]+?)\s*\[(?P<part>[^\[\]]+)\]$"),  # Q5[SQ001], Q [Row]
    re.compile(r"^(?P<stem>.+?)_(?P<part>\d+)$"),  # Q5_1
    re.compile(r"^(?P<stem>.+?)_(?P<part>SQ\d+)$", re.IGNORECASE),  # Q5_SQ001
    re.compile(r"^(?P<stem>.+?)\.(?P<part>\d+)$"),  # Q5.1
)
_SEPARATOR = " - "


@dataclass
class _Column:
    """One question as seen in every export that has it."""

    name: str
    label: str
    names: dict[str, str] = field(default_factory=dict)  # wave -> column name there
    texts: dict[str, str] = field(default_factory=dict)  # anchor key -> answer as exported
    numbers: set[float] = field(default_factory=set)
    value_labels: dict[float, str] = field(default_factory=dict)
    n_answered: int = 0
    dates: bool = False
    text_lengths: list[int] = field(default_factory=list)


@dataclass
class _Scale:
    """A drafted response scale: labelled codes or a numeric range."""

    values: list[tuple[float, str]] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    missing: set[float] = field(default_factory=set)
    family: str | None = None
    how: str = ""
    todo: str | None = None
    hint: str = "scale"  # a name for a scale no vocabulary names: from its first question
    outside: set[str] = field(default_factory=set)  # "don't know" answers given as text
    ordering: Ordering | None = None  # the vocabulary's order, for [Dutch, English] labels

    def labels_of(self, text: str) -> list[str]:
        if self.ordering is not None and text in self.ordering.labels:
            return self.ordering.labels_for(text)
        return [text]

    def key(self) -> tuple:
        if self.values:
            return ("values", tuple((c, anchor_key(t)) for c, t in self.values))
        return ("range", self.min, self.max)


@dataclass(frozen=True)
class Draft:
    """A drafted codebook: its YAML text, the TODO lines in it, and what it holds."""

    yaml_text: str
    todos: tuple[str, ...]
    counts: dict[str, int]

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"{c['columns']} columns: {c['items']} items, {c['background']} background, "
            f"{c['attention_checks']} attention check(s), {c['scales']} scales, "
            f"{c['constructs']} constructs; {c['pii']} PII, {c['free_text']} free text, "
            f"{c['meta']} survey-tool columns; {len(self.todos)} TODO line(s)"
        ]
        lines += [f"  TODO {todo}" for todo in self.todos]
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def _wave_of(source: str, taken: set[str]) -> str:
    stem = Path(source).stem
    found = _WAVE_ID.search(stem)
    wave = found.group(1) if found else stem
    while wave in taken:
        wave += "_"
    return wave


def _is_number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _profile(table: RawTable, wave: str, columns: dict[str, _Column]) -> list[str]:
    """Add one export's columns to ``columns`` (matched by name, else by question text).

    Returns the names that occur more than once in this export (read by position here, but
    a codebook addresses columns by name).
    """
    by_label: dict[str, list[str]] = {}
    for existing in columns.values():
        if existing.label:
            by_label.setdefault(anchor_key(existing.label), []).append(existing.name)
    names = [str(c) for c in table.frame.columns]
    labels_here = [anchor_key(table.column_labels.get(c, "")) for c in names]
    twice = sorted({n for n in names if names.count(n) > 1})
    for position, name in enumerate(names):
        if name in twice:
            continue
        label = " ".join(str(table.column_labels.get(name, "")).split())
        target = columns.get(name)
        if target is None or wave in target.names:
            key = anchor_key(label)
            same = by_label.get(key, []) if key else []
            target = None
            if len(same) == 1 and labels_here.count(key) == 1:
                target = columns[same[0]]
                if wave in target.names or target.name in names:
                    target = None
            if target is None:
                target = columns.setdefault(name, _Column(name=name, label=label))
        target.label = target.label or label
        target.names[wave] = name
        _add_answers(target, table.frame.iloc[:, position], table.value_labels.get(name, {}))
    return twice


def _add_answers(column: _Column, series: pd.Series, value_labels: dict) -> None:
    answered = series.dropna()
    column.n_answered += len(answered)
    for code, label in value_labels.items():
        number = _is_number(str(code))
        if number is not None:
            column.value_labels.setdefault(number, str(label))
    if pd.api.types.is_datetime64_any_dtype(series):
        column.dates = True
        return
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        column.numbers.update(float(v) for v in pd.unique(answered.astype(float)))
        return
    for value in pd.unique(answered.astype(object)):
        if isinstance(value, pd.Timestamp):
            column.dates = True
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            column.numbers.add(float(value))
            continue
        text = str(value).strip()
        number = _is_number(text)
        if number is not None:
            column.numbers.add(number)
        elif text:
            column.texts.setdefault(anchor_key(text), text)
            column.text_lengths.append(len(text))
    if (
        column.texts
        and not column.numbers
        and all(_DATE_TEXT.match(t) for t in column.texts.values())
    ):
        column.dates = True


# --------------------------------------------------------------------------- scales


def _code(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _split_missing(numbers: Iterable[float]) -> tuple[set[float], set[float]]:
    numbers = set(numbers)
    return numbers - MISSING_CODES, numbers & MISSING_CODES


def _end_points(texts: dict[str, str], numbers: set[float]) -> _Scale | None:
    """Qualtrics' "Very likely\\n7" ends with bare numbers between, as one scale."""
    ends: dict[int, str] = {}
    for text in texts.values():
        found = _END_POINT.match(text)
        if not found or not re.search(r"[^\W\d_]", found.group("label")):
            return None
        code = int(found.group("code"))
        label = " ".join(found.group("label").split())
        if ends.get(code, label) != label:
            return None
        ends[code] = label
    if not ends or not numbers or len(set(ends.values())) < len(ends):
        return None
    if any(not float(n).is_integer() for n in numbers):
        return None
    codes = set(ends) | {int(n) for n in numbers}
    low, high = min(codes), max(codes)
    if high - low > 20 or any(low < c < high for c in ends):
        return None
    values = [(float(c), ends.get(c, str(c))) for c in range(low, high + 1)]
    ordering = order_answers([ends[c] for c in sorted(ends)]) if len(ends) > 1 else None
    return _Scale(
        values=values,
        family=ordering.family if ordering else None,
        how="Qualtrics end points (text with the code stuck on) and bare codes between",
    )


def _infer_scale(column: _Column) -> _Scale | None:
    """The column's response scale, or None when it is not a closed question."""
    numbers, missing = _split_missing(column.numbers)
    if column.value_labels:
        # Negative codes and "don't know" answers are no points of the scale.
        labelled = {
            c: t for c, t in column.value_labels.items() if c >= 0 and not is_non_substantive(t)
        }
        missing |= {c for c in column.value_labels if c not in labelled}
        if len(labelled) < 2:
            return _Scale(
                values=[(c, t) for c, t in sorted(labelled.items())],
                missing=missing,
                todo="fewer than two labelled codes: give the scale its codes and labels",
            )
        low, high = min(labelled), max(labelled)
        for number in numbers:
            if float(number).is_integer() and low < number < high and number not in labelled:
                labelled[number] = str(_code(number))
        keys = {anchor_key(t) for t in labelled.values()}
        stray = [t for k, t in column.texts.items() if k not in keys]
        ordering = order_answers([labelled[c] for c in sorted(labelled)])
        scale = _Scale(
            values=sorted(labelled.items()),
            missing=missing,
            family=ordering.family if ordering else None,
            how="SPSS value labels, by code",
            ordering=ordering,
        )
        set_aside = {c: t for c, t in column.value_labels.items() if c >= 0 and c not in labelled}
        if set_aside:
            scale.how += "; taken as missing: " + ", ".join(
                f"{_code(c)} ({t})" for c, t in sorted(set_aside.items())
            )
        by_code = [labelled[c] for c in sorted(labelled)]
        if ordering is not None and by_code not in (
            list(ordering.labels),
            list(ordering.labels)[::-1],
        ):
            scale.todo = (
                "the codes do not follow the order of the answers' vocabulary "
                f"({', '.join(ordering.labels)}): check the labels"
            )
        if stray:
            scale.todo = (
                f"{len(stray)} text answer(s) in another export are not among the value "
                "labels: add them to the scale's labels"
            )
        return scale
    if not column.texts:
        if not numbers:
            return None
        return _Scale(
            min=min(numbers),
            max=max(numbers),
            missing=missing,
            how=f"numbers only, observed {_code(min(numbers))}..{_code(max(numbers))}: "
            "set the range the question allows",
        )
    ends = _end_points(column.texts, numbers)
    if ends is not None:
        ends.missing = missing
        return ends
    texts = [t for t in column.texts.values() if not is_non_substantive(t)]
    outside = [t for t in column.texts.values() if is_non_substantive(t)]
    if len(texts) < 2:
        texts, outside = list(column.texts.values()), []
    scale = _text_scale(texts, numbers, missing)
    scale.outside = set(outside)
    return scale


def _text_scale(texts: list[str], numbers: set[float], missing: set[float]) -> _Scale:
    codes = [_ANSWER_CODE.match(t) for t in texts]
    if not numbers and all(codes) and len({m.group("prefix") for m in codes}) == 1:
        numbered = sorted((float(m.group("number")), t) for m, t in zip(codes, texts, strict=True))
        if len({n for n, _ in numbered}) == len(numbered):
            return _Scale(
                values=numbered,
                missing=missing,
                family="codes",
                how="answer codes (A1, A2, ...): coded by their number",
                todo="the answers are answer codes: add the option texts as labels, and any "
                "option nobody chose",
            )
    ordering = order_answers(texts)
    if numbers:
        todo = (
            "answers mix text and numbers other than missing codes: give every answer its "
            "code and label"
        )
    elif ordering is not None:
        todo = f"check the order: {ordering.note}" if ordering.note else None
        return _Scale(
            values=[(float(i), t) for i, t in enumerate(ordering.labels, start=1)],
            missing=missing,
            family=ordering.family,
            how=f"text answers ordered by the {ordering.family} vocabulary",
            todo=todo,
            ordering=ordering,
        )
    else:
        todo = None
    leading = [re.match(r"^\s*(\d+(?:[.,]\d+)?)", t) for t in texts]
    if not numbers and all(leading) and len({m.group(1) for m in leading}) == len(texts):
        ordered = sorted(
            texts, key=lambda t: float(re.match(r"\s*([\d.,]+)", t).group(1).replace(",", "."))
        )
        return _Scale(
            values=[(float(i), t) for i, t in enumerate(ordered, start=1)],
            missing=missing,
            how="text answers ordered by the number each starts with",
        )
    ordered = sorted(texts, key=anchor_key)
    return _Scale(
        values=[(float(i), t) for i, t in enumerate(ordered, start=1)],
        missing=missing,
        how="text answers in alphabetical order",
        todo=todo
        or "no vocabulary orders these answers: put them in scale order (codes 1, 2, ...), "
        "or leave them if the question has no order",
    )


def _is_free_text(column: _Column) -> bool:
    if re.search(r"_TEXT$|_other$|\[other\]$|\[comment\]$", column.name, re.IGNORECASE) or (
        _SPECIFY.search(f"{column.name} {column.label}")
    ):
        return bool(column.texts) or not column.numbers
    if not column.texts or column.value_labels:
        return False
    if order_answers(list(column.texts.values())) is not None:
        return False
    mean_length = sum(column.text_lengths) / max(len(column.text_lengths), 1)
    # A few answers, each different and sentence-long, are comments too (unless each starts
    # with a number: "10-49 employees").
    all_different = (
        len(column.texts) >= 3
        and len(column.texts) == column.n_answered
        and not all(re.match(r"\s*\d", t) for t in column.texts.values())
    )
    return (
        len(column.texts) > FREE_TEXT_MIN_DISTINCT
        or mean_length >= FREE_TEXT_MIN_LENGTH
        or (all_different and mean_length >= FREE_TEXT_MIN_LENGTH / 2)
    )


# --------------------------------------------------------------------------- classification


def _pii_reason(column: _Column) -> str | None:
    for text in (column.name, *column.names.values(), column.label):
        words = set(anchor_key(text).split())
        if len(words) > 6:
            # A long question text that mentions a phone or e-mail asks about it, not for it.
            continue
        compact = _compact(text)
        for fragment, reason in _PII_FRAGMENTS:
            if fragment in compact:
                return reason
        for word, reason in _PII_WORDS.items():
            if word in words and len(words) <= 4:
                return reason
    texts = list(column.texts.values())
    if texts:
        if sum(bool(_EMAIL.match(t)) for t in texts) * 2 > len(texts):
            return "e-mail address"
        if sum(bool(_IP.match(t)) for t in texts) * 2 > len(texts):
            return "IP address"
    return None


def _tool_role(column: _Column) -> str | None:
    keys = {_compact(n) for n in (column.name, *column.names.values())} | {_compact(column.label)}
    keys.discard("")
    if keys & _ID:
        return "id"
    if keys & _PERSON:
        return "person"
    for role, names in _META_ROLES.items():
        if keys & names:
            return role
    if keys & _TOOL_COLUMNS or column.dates or any(re.fullmatch(r"customdata\d*", k) for k in keys):
        return "tool"
    if any(_QUALTRICS_TOOL.search(n) for n in (column.name, *column.names.values())):
        return "tool"
    return None


def _stem(text: str) -> tuple[str, str] | None:
    for pattern in _NAME_STEMS:
        found = pattern.match(text.strip())
        if found:
            return found.group("stem").strip(), found.group("part").strip()
    return None


def _slug(text: str, words: int = 4) -> str:
    parts = re.sub(r"[^0-9a-z]+", " ", anchor_key(text)).split()[:words]
    slug = "_".join(parts)
    if not slug or not slug[0].isalpha():
        slug = "q_" + slug if slug else "q"
    if slug in _YAML_WORDS:
        slug += "_"  # YAML reads yes, no, on, off, null as something other than text
    return slug


_YAML_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false", "null"}


def _stems(columns: list[_Column]) -> dict[str, str]:
    """Column -> its question stem, for the columns that share one with another column."""
    stems: dict[str, str] = {}
    for column in columns:
        found = _stem(column.name)
        if found:
            stems[column.name] = found[0]
    # Question text prefixes: "Question - Option" (longest shared) and "Question [Row]".
    candidates: dict[str, list[str]] = {}
    for column in columns:
        if column.name in stems:
            continue
        found = _stem(column.label) if column.label else None
        if found and _NAME_STEMS[0].match(column.label):
            candidates[column.name] = [found[0]]
            continue
        prefixes = []
        for text in (column.name, column.label):
            start = 0
            while (at := text.find(_SEPARATOR, start)) > 0:
                prefixes.append(text[:at].strip())
                start = at + 1
        candidates[column.name] = prefixes
    counts: dict[str, int] = {}
    for prefixes in candidates.values():
        for prefix in set(prefixes):
            counts[prefix] = counts.get(prefix, 0) + 1
    for name, prefixes in candidates.items():
        shared = [p for p in prefixes if counts[p] > 1]
        if shared:
            stems[name] = max(shared, key=len)
    stem_counts: dict[str, int] = {}
    for stem in stems.values():
        stem_counts[stem] = stem_counts.get(stem, 0) + 1
    return {name: stem for name, stem in stems.items() if stem_counts[stem] > 1}


def _attention_expected(column: _Column, scale: _Scale) -> float | None:
    if not column.label or not scale.values or not _INSTRUCTION.search(column.label):
        return None
    keys = {anchor_key(t): c for c, t in scale.values}
    for quoted in _QUOTED.findall(column.label):
        if anchor_key(quoted) in keys:
            return keys[anchor_key(quoted)]
    return None


# --------------------------------------------------------------------------- drafting


def draft_codebook(sources: Sequence[str | Path | RawTable]) -> Draft:
    """Draft a codebook from one or more raw exports (paths or tables read by ``read_raw``).

    Parameters
    ----------
    sources
        The exports of one questionnaire, the first one's column names used as ``column``;
        a column of a later export with another name but the same question text gets
        ``wave_columns`` (wave ids from the file names, e.g. ``wave_2022-06.sav`` -> 2022-06).

    Returns
    -------
    Draft
        ``yaml_text`` (the codebook, comments included), ``todos`` (one line per decision
        left to the user, each also a ``# TODO`` line in the text) and ``counts``.

    Raises
    ------
    InputError
        When an export cannot be read (see :func:`~lcsurvey.survey.io.read_raw`).
    """
    if not sources:
        raise InputError("no raw export given", expected="one or more raw export files")
    tables = [s if isinstance(s, RawTable) else read_raw(s) for s in sources]
    columns: dict[str, _Column] = {}
    waves: list[str] = []
    twice: list[str] = []
    for table in tables:
        wave = _wave_of(table.source, set(waves))
        waves.append(wave)
        twice += [
            f"column {name!r} appears more than once in {Path(table.source).name}: "
            "give the columns their own names in the codebook's column fields"
            for name in _profile(table, wave, columns)
        ]
    draft = _Drafter(list(columns.values()), waves, tables).draft(extra_todos=twice)
    try:
        check_loads(draft.yaml_text)
    except InputError as error:
        # An export without one closed question cannot make a valid codebook: say so.
        todo = f"the draft does not load as it is: {error.problem}"
        return Draft(draft.yaml_text + f"# TODO {todo}\n", (*draft.todos, todo), draft.counts)
    return draft


class _Drafter:
    def __init__(self, columns: list[_Column], waves: list[str], tables: list[RawTable]) -> None:
        sources = [t.source for t in tables]
        self.tables = dict(zip(waves, tables, strict=True))
        self.columns = columns
        self.waves = waves
        self.sources = sources
        self.todos: list[str] = []
        self.first = waves[0]

    def todo(self, text: str) -> str:
        self.todos.append(text)
        return f"# TODO {text}"

    def wave_columns(self, column: _Column) -> dict[str, str]:
        return {w: n for w, n in column.names.items() if n != column.name and w != self.first}

    def draft(self, extra_todos: Sequence[str] = ()) -> Draft:
        self.extra_todos = list(extra_todos)
        self.id_guessed = False
        pii: list[tuple[_Column, str]] = []
        roles: dict[str, _Column] = {}
        tool: list[_Column] = []
        free: list[_Column] = []
        scaled: list[tuple[_Column, _Scale]] = []
        unknown: list[tuple[_Column, str]] = []
        for column in self.columns:
            reason = _pii_reason(column)
            role = _tool_role(column)
            if role in ("id", "person") and role not in roles and reason is None:
                roles[role] = column
            elif reason is not None:
                pii.append((column, reason))
            elif role in _META_ROLES and role not in roles:
                roles[role] = column
            elif role is not None:
                tool.append(column)
            elif _is_free_text(column):
                free.append(column)
            else:
                scale = _infer_scale(column)
                if scale is None:
                    unknown.append((column, "no answers in the data"))
                elif len(scale.values) == 1 or (not scale.values and scale.min == scale.max):
                    unknown.append((column, "only one answer in the data (a tick box?)"))
                else:
                    label = column.label if 0 < len(column.label) <= 40 else column.name
                    scale.hint = _slug(label, 3)
                    scaled.append((column, scale))
        if "id" not in roles:
            # Any column with a different text in every row (a participant code, say); the
            # guess is a TODO.
            for column, scale in list(scaled):
                if column.n_answered and len(column.texts) == column.n_answered:
                    roles["id"] = column
                    scaled.remove((column, scale))
                    self.id_guessed = True
                    break
        consent = None
        for column, scale in scaled:
            if scale.family == "yesno" and _CONSENT.search(f"{column.name} {column.label}"):
                consent = (column, scale)
                break
        if consent:
            scaled.remove(consent)
        checks, scaled = self._attention(scaled)
        groups, singles = self._group(scaled)
        scales = self._name_scales(
            [s for _, s in scaled] + [s for _, s in checks] + ([consent[1]] if consent else [])
        )
        return self._emit(pii, roles, tool, free, consent, checks, groups, singles, unknown, scales)

    def _against(self, members) -> tuple[list[str], str]:
        """Items of a stem group that go against the others, and a phrase saying how.

        The loadings on the first principal component of the items' correlations (pairwise,
        in the first export holding them all), as psych::alpha's check.keys: items loading
        at least REVERSE_HINT_LOADING with the sign of the minority are worded the other way
        or measure something else. With as many on each side, the side without the first
        item is named.
        """
        wave = next((w for w in self.waves if all(w in c.names for c, _ in members)), None)
        if wave is None or len(members) < 3:
            return [], ""
        table = self.tables[wave]
        codes = pd.DataFrame(
            {c.name: _as_codes(table.frame[c.names[wave]], scale) for c, scale in members}
        )
        correlations = codes.corr(min_periods=REVERSE_HINT_MIN_ROWS).to_numpy()
        if np.isnan(correlations).any():
            return [], ""
        values, vectors = np.linalg.eigh(correlations)
        loadings = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
        strong = np.abs(loadings) >= REVERSE_HINT_LOADING
        positive, negative = (
            int((strong & (loadings > 0)).sum()),
            int((strong & (loadings < 0)).sum()),
        )
        if not positive or not negative:
            return [], ""
        minority = -1.0 if negative < positive else 1.0
        if positive == negative:
            minority = -float(np.sign(loadings[0]))
        against = [
            c
            for c, loading, s in zip(codes.columns, loadings, strong, strict=True)
            if s and np.sign(loading) == minority
        ]
        return against, (
            f"{sum(strong) - len(against)} item(s) load one way on the first principal "
            f"component of {len(members)}, this one the other way"
        )

    def _attention(self, scaled):
        checks, rest = [], []
        for column, scale in scaled:
            expected = _attention_expected(column, scale)
            (checks if expected is not None else rest).append((column, scale))
        return checks, rest

    def _group(self, scaled):
        """Stem groups of two or more columns on one scale; the rest as single questions."""
        stems = _stems([c for c, _ in scaled])
        by_stem: dict[str, list[tuple[_Column, _Scale]]] = {}
        for column, scale in scaled:
            if column.name in stems:
                by_stem.setdefault(stems[column.name], []).append((column, scale))
        grouped: set[str] = set()
        groups: list[tuple[str, list[tuple[_Column, _Scale]]]] = []
        for stem, members in by_stem.items():
            _harmonise([s for _, s in members])
            by_key: dict[tuple, list[tuple[_Column, _Scale]]] = {}
            for column, scale in members:
                by_key.setdefault(scale.key(), []).append((column, scale))
            parts = [m for m in by_key.values() if len(m) > 1]
            for i, part in enumerate(parts):
                groups.append((stem if len(parts) == 1 else f"{stem} {i + 1}", part))
                grouped |= {c.name for c, _ in part}
        singles = [(c, s) for c, s in scaled if c.name not in grouped]
        return groups, singles

    def _name_scales(self, scales: list[_Scale]) -> dict[tuple, tuple[str, _Scale]]:
        """One name per distinct answer set; missing codes pooled over the columns sharing it."""
        _pool(scales)
        _merge_subsets(scales)
        named: dict[tuple, tuple[str, _Scale]] = {}
        taken: set[str] = set()
        for scale in scales:
            key = scale.key()
            if key in named:
                named[key][1].missing |= scale.missing
                named[key][1].outside |= scale.outside
                continue
            if scale.family == "yesno":
                base = "yesno"
            elif scale.values and scale.family:
                base = scale.family + str(len(scale.values))
            else:
                base = scale.hint
            base = _slug(base, words=6)  # a name YAML reads as text, starting with a letter
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}_{n}"
            taken.add(name)
            named[key] = (
                name,
                _Scale(
                    **{
                        **scale.__dict__,
                        "missing": set(scale.missing),
                        "outside": set(scale.outside),
                    }
                ),
            )
        return named

    # ------------------------------------------------------------------ writing

    def _emit(self, pii, roles, tool, free, consent, checks, groups, singles, unknown, scales):
        """The draft's text, section by section in the order of data/codebook.yaml."""
        self.out: list[str] = []
        self.used_names: set[str] = set()
        self.read_columns: list[_Column] = []
        self.scales = scales
        background = [(c, s) for c, s in singles if not _is_vocabulary(s)]
        items_single = [(c, s) for c, s in singles if _is_vocabulary(s)]
        self._write_header(roles, pii)
        self._write_personal(pii, free)
        self._write_meta(roles, consent)
        self._write_scales()
        self._write_variables("background", background)
        self._write_variables("attention_checks", checks)
        constructs, single_names = self._write_items(groups, items_single)
        self._write_constructs(constructs, single_names)
        self._write_rest(tool, unknown)
        counts = {
            "columns": len(self.columns),
            "items": sum(len(m) for _, m in groups) + len(items_single),
            "background": len(background),
            "attention_checks": len(checks),
            "scales": len(scales),
            "constructs": len(constructs),
            "pii": len(pii),
            "free_text": len(free),
            "meta": len(tool)
            + sum(1 for role in (*_META_ROLES, "id", "person") if role in roles)
            + (1 if consent else 0),
        }
        return Draft(yaml_text="\n".join(self.out) + "\n", todos=tuple(self.todos), counts=counts)

    def _unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def _item_name(self, column: _Column, stem: str | None = None, index: int = 0) -> str:
        if re.fullmatch(r"[A-Za-z][\w.\[\]]{0,29}", column.name):
            return self._unique(_slug(column.name, words=6))
        return self._unique(f"{_slug(stem or column.label or column.name, 3)}_{index + 1}")

    def _entry(self, spec: dict, column: _Column) -> dict:
        """A column's entry, with its names in the other exports; remembers what is read."""
        if spec.get("keep") is not False:  # unkept free text is never looked for
            self.read_columns.append(column)
        wave_columns = self.wave_columns(column)
        if wave_columns:
            spec["wave_columns"] = wave_columns
        return spec

    def _line(self, name: str, spec: dict, column: _Column, extra: str = "") -> None:
        self.out.append(f"  {name}: {_flow(self._entry(spec, column))}{_comment(column, extra)}")

    def _scale_name(self, scale: _Scale) -> str:
        return self.scales[scale.key()][0]

    def _write_header(self, roles, pii) -> None:
        out = self.out
        out += [
            "# Codebook drafted from " + ", ".join(Path(s).name for s in self.sources) + ".",
            "# Check every entry, work through the TODO lines, name the items and constructs,",
            "# mark reverse-keyed items (reverse: true) and add Dutch/English texts and labels.",
        ]
        if len(self.waves) > 1:
            out.append(
                "# wave_columns keys are wave ids taken from the file names ("
                + ", ".join(self.waves)
                + "); they must match config.yaml's waves."
            )
        id_column = roles.get("id")
        if id_column is None or self.id_guessed:
            private = {c.name for c, _ in pii}
            id_column = id_column or next(
                (c for c in self.columns if c.name not in private), self.columns[0]
            )
            out.append(
                self.todo(f"no response id column recognised; {id_column.name!r} is a guess")
            )
        out.append(f"id: {_scalar(id_column.name)}{_comment(id_column)}")
        person = roles.get("person")
        if person:
            note = _comment(person, "the same person in every wave")
            out.append(f"person: {_scalar(person.name)}{note}")

    def _write_personal(self, pii, free) -> None:
        out = self.out
        out.append("pii:" + ("" if pii else " []"))
        for column, reason in pii:
            for name in dict.fromkeys([column.name, *column.names.values()]):
                out.append(
                    f"  - {_scalar(name)}  # likely personal data ({reason}): dropped on reading"
                )
        out.append("free_text:" + ("" if free else " {}"))
        for column in free:
            spec = {"column": column.name, "keep": False}
            extra = f"free text, {len(column.texts)} different answers"
            self._line(self._item_name(column), spec, column, extra)

    def _write_meta(self, roles, consent) -> None:
        out = self.out
        out += ["", "meta:" + ("" if any(r in roles for r in _META_ROLES) or consent else " {}")]
        for role in _META_ROLES:
            column = roles.get(role)
            if column is None:
                continue
            spec: dict = {"column": column.name}
            if role == "status":
                spec["preview"], qualtrics = _preview_values(column)
                if not qualtrics:
                    todo = self.todo(
                        f"meta.status: list the values of {column.name!r} that mark previews "
                        "or test responses under preview"
                    )
                    out.append("  " + todo)
            self._line(role, spec, column)
        if consent:
            column, scale = consent
            yes = next(c for c, t in scale.values if anchor_key(t).split(" ")[0] in _YES_WORDS)
            spec = {"column": column.name, "scale": self._scale_name(scale), "yes": _code(yes)}
            self._line("consent", spec, column)

    def _write_scales(self) -> None:
        out = self.out
        out += ["", "scales:"]
        for name, scale in self.scales.values():
            out.append(f"  {name}:  # {scale.how}")
            if scale.todo:
                out.append("    " + self.todo(f"scale {name}: {scale.todo}"))
            if scale.outside:
                answers = ", ".join(repr(t) for t in sorted(scale.outside))
                todo = self.todo(
                    f"scale {name}: {answers} is no point of the scale, and cleaning reads no "
                    "text as missing: export the answers as codes and list its code under missing"
                )
                out.append("    " + todo)
            if scale.values:
                out.append("    values:")
                for code, text in scale.values:
                    labels = [" ".join(label.split()) for label in scale.labels_of(text)]
                    out.append(f"      {_code(code)}: {_flow(labels)}")
            else:
                out += [f"    min: {_code(scale.min)}", f"    max: {_code(scale.max)}"]
            if scale.missing:
                out.append(f"    missing: {_flow(sorted(_code(m) for m in scale.missing))}")

    def _write_variables(self, section: str, variables) -> None:
        self.out += ["", f"{section}:" + ("" if variables else " {}")]
        for column, scale in variables:
            spec: dict = {"column": column.name, "scale": self._scale_name(scale)}
            if section == "attention_checks":
                spec["expected"] = _code(_attention_expected(column, scale))
            self._line(self._item_name(column), spec, column)

    def _write_items(self, groups, items_single) -> tuple[list, list[str]]:
        """Items by question stem (with the TODOs of items worded the other way), then the
        single questions; returns the constructs to write and the single items' names."""
        out = self.out
        out += ["", "items:"]
        constructs: list[tuple[str, list[str], str]] = []
        for stem, members in groups:
            out.append(f"  # {stem}")
            names = []
            against, how = self._against(members)
            for i, (column, scale) in enumerate(members):
                name = self._item_name(column, stem, i)
                names.append(name)
                if column.name in against:
                    todo = self.todo(
                        f"item {name} goes against the other items of {stem} ({how}): "
                        "reverse-keyed (add reverse: true) or a construct of its own?"
                    )
                    out.append("  " + todo)
                self._line(name, {"column": column.name, "scale": self._scale_name(scale)}, column)
            constructs.append((stem, names, _common_text(members)))
        if items_single:
            out.append("  # single questions")
        single_names = []
        for column, scale in items_single:
            single_names.append(self._item_name(column))
            spec = {"column": column.name, "scale": self._scale_name(scale)}
            self._line(single_names[-1], spec, column)
        if not groups and not items_single:
            out.append("  " + self.todo("no closed questions recognised: add the items"))
        return constructs, single_names

    def _write_constructs(self, constructs, single_names: list[str]) -> None:
        out = self.out
        out += ["", "constructs:"]
        taken: set[str] = set()
        for stem, names, text in constructs:
            name = _slug(stem, 3)
            while name in taken or name in self.used_names:
                name += "_c"
            taken.add(name)
            # Scored when at least 60% of the items are answered, as the bundled codebook.
            spec = {"items": names, "min_items": math.ceil(0.6 * len(names))}
            out.append(f"  {name}: {_flow(spec)}" + (f"  # {text}" if text else ""))
        if not constructs and single_names:
            # The schema wants one construct: a placeholder holding the first item.
            out.append(f"  {self._unique('construct_1')}: {_flow({'items': single_names[:1]})}")
            todo = self.todo("no questions share a stem: group the items into constructs")
            out.append("  " + todo)

    def _write_rest(self, tool, unknown) -> None:
        """Tool columns not read, columns not classified, and what the exports disagree on."""
        out = self.out
        if tool or unknown:
            out.append("")
        if tool:
            out.append("# Survey-tool columns the pipeline does not read:")
            for column in tool:
                out.append(f"#   {column.name}{_comment(column).replace('  #', ':')}")
        for column, why in unknown:
            out.append(self.todo(f"column {column.name!r} not classified: {why}"))
        for todo in self.extra_todos:
            out.append(self.todo(todo))
        if len(self.waves) > 1:
            for column in self.read_columns:
                absent = [w for w in self.waves if w not in column.names]
                if absent:
                    todo = self.todo(
                        f"column {column.name!r} is not in wave(s) {', '.join(absent)}: "
                        "cleaning needs it in every wave (set wave_columns or drop the entry)"
                    )
                    out.append(todo)


_YES_WORDS = {"ja", "yes", "oui", "si"}


def _is_vocabulary(scale: _Scale) -> bool:
    """A scale ordered by a response vocabulary: its single questions are items."""
    return bool(scale.values) and scale.family not in (None, "yesno", "codes")


def _comment(column: _Column, extra: str = "") -> str:
    """The question text (when it says more than the column name) as a trailing comment."""
    text = " ".join((column.label or "").split())
    parts = [p for p in (text if text != column.name else "", extra) if p]
    return f"  # {'; '.join(parts)}" if parts else ""


def _as_codes(series: pd.Series, scale: _Scale) -> pd.Series:
    """A column's answers as codes of its drafted scale; anything else missing."""
    lookup = {anchor_key(t): c for c, t in scale.values}
    valid = set(lookup.values())

    def code(value: object) -> float:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return np.nan
        number = _is_number(str(value).strip())
        if number is None:
            found = _END_POINT.match(str(value).strip())
            key = anchor_key(found.group("label")) if found else anchor_key(str(value))
            number = lookup.get(key, lookup.get(anchor_key(str(value))))
        if number is None or number in scale.missing:
            return np.nan
        if scale.values and number not in valid:
            return np.nan
        return float(number)

    return series.astype(object).map(code).astype(float)


def _harmonise(scales: list[_Scale]) -> None:
    """Within one question stem: answer sets ordered by one vocabulary become their union,
    numeric ranges the widest range, so that an option nobody chose in one item does not
    split the question."""
    texts: dict[str, list[_Scale]] = {}
    for scale in scales:
        if scale.values and scale.family and _from_text(scale):
            texts.setdefault(scale.family, []).append(scale)
    for members in texts.values():
        union = list(dict.fromkeys(t for s in members for _, t in s.values))
        missing = set().union(*(s.missing for s in members))
        merged = _text_scale(union, set(), missing)
        # A complete scale of five points or more in the group stays as it is (a 5- and a
        # 7-point question under one stem keep their own codes).
        complete = [
            m for m in members if not m.todo and len(m.values) >= 5 and m.key() != merged.key()
        ]
        if merged.family == members[0].family and not complete:
            for scale in members:
                scale.__dict__.update({**merged.__dict__, "outside": set(scale.outside)})
    ranges = [s for s in scales if not s.values and s.min is not None]
    if len(ranges) > 1:
        low, high = min(s.min for s in ranges), max(s.max for s in ranges)
        for scale in ranges:
            scale.min, scale.max = low, high
            scale.how = f"numbers only, observed {_code(low)}..{_code(high)}: set the range the question allows"


def _from_text(scale: _Scale) -> bool:
    return scale.how.startswith(("text answers ordered", "answer codes"))


def _pool(scales: list[_Scale]) -> None:
    """Questions whose text answers one vocabulary orders, each showing only some of its
    answers (few respondents), share the union of their answers when that union is a
    balanced scale and no question shows a complete scale of its own of five points or
    more (a 5- and a 7-point agreement scale stay apart). The pooled scale gets a TODO."""
    families: dict[str, list[_Scale]] = {}
    for scale in scales:
        if scale.values and scale.family not in (None, "yesno", "codes") and _from_text(scale):
            families.setdefault(scale.family, []).append(scale)
    for members in families.values():
        if len({m.key() for m in members}) < 2:
            continue
        union = list(dict.fromkeys(t for m in members for _, t in m.values))
        pooled = _text_scale(union, set(), set().union(*(m.missing for m in members)))
        if pooled.family != members[0].family or pooled.todo:
            continue
        complete = [
            m for m in members if not m.todo and len(m.values) >= 5 and m.key() != pooled.key()
        ]
        if complete:
            continue
        pooled.todo = (
            "the answers of several questions pooled into one scale (each question showed "
            "only some of them): check that these questions share this scale"
        )
        for member in members:
            member.__dict__.update(
                {**pooled.__dict__, "missing": set(pooled.missing), "outside": set(member.outside)}
            )


def _merge_subsets(scales: list[_Scale]) -> None:
    """An answer set that looks incomplete (more points on one side of the middle) takes the
    one complete set of the same vocabulary that holds all its answers; a complete 5-point
    set inside a 7-point one stays a scale of its own."""
    ordered = [s for s in scales if s.values and s.family and s.family != "yesno"]
    for scale in ordered:
        if not (scale.todo or "").startswith("check the order"):
            continue
        keys = {anchor_key(t) for _, t in scale.values}
        supersets = {
            other.key(): other
            for other in ordered
            if other.family == scale.family
            and len(other.values) > len(scale.values)
            and keys <= {anchor_key(t) for _, t in other.values}
            and not other.todo
        }
        if len(supersets) == 1:
            other = next(iter(supersets.values()))
            code = {anchor_key(t): c for c, t in other.values}
            if all(code[anchor_key(t)] == c for c, t in scale.values) or scale.how.startswith(
                "text answers"
            ):
                missing, outside = scale.missing, scale.outside
                scale.__dict__.update(
                    {**other.__dict__, "missing": missing | other.missing, "outside": outside}
                )


def _common_text(members) -> str:
    labels = [c.label for c, _ in members if c.label]
    if len(labels) < 2:
        return ""
    prefix = os.path.commonprefix(labels)
    for separator in (_SEPARATOR, "["):
        if separator in prefix:
            return prefix[: prefix.rfind(separator)].strip()
    return ""


# Qualtrics' Status: these texts, or their codes (0 IP Address, 1 Survey Preview, ...).
_QUALTRICS_STATUS = {"ip address", "survey preview", "survey test", "spam", "imported", "offline"}
_QUALTRICS_PREVIEW = ["Survey Preview", "Survey Test", "Spam", "Preview Spam", 1, 2, 8, 9, 17]


def _preview_values(column: _Column) -> tuple[list, bool]:
    """Status values of previews, tests and spam, and whether the column is Qualtrics' own.

    Qualtrics' status texts and codes are used only for a column that shows Qualtrics'
    texts (or its "Response Type" header): elsewhere a status code 1 may well mean
    "complete". Any value label or answer saying preview, test or spam is added.
    """
    seen = {anchor_key(t) for t in [*column.texts.values(), *column.value_labels.values()]}
    qualtrics = anchor_key(column.label) == "response type" or bool(seen & _QUALTRICS_STATUS)
    found: list = list(_QUALTRICS_PREVIEW) if qualtrics else []
    for code, label in column.value_labels.items():
        if re.search(r"preview|test|spam", label, re.IGNORECASE):
            found += [label, _code(code)]
    for text in column.texts.values():
        if re.search(r"preview|test|spam", text, re.IGNORECASE):
            found.append(text)
    return list(dict.fromkeys(found)), qualtrics


def _flow(value) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**9
    )
    return text.strip()


def _scalar(value: str) -> str:
    text = yaml.safe_dump(value, allow_unicode=True, width=10**9).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


# --------------------------------------------------------------------------- command


def check_loads(text: str) -> None:
    """Load a drafted codebook with the codebook loader (raises InputError if it does not)."""
    from lcsurvey.survey.codebook import load_codebook

    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "codebook.yaml"
        path.write_text(text, encoding="utf-8")
        load_codebook(path)


def main(argv: list[str] | None = None) -> int:
    """``lcsurvey codebook draft RAW [RAW ...] [--out FILE]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="lcsurvey codebook draft",
        description="Draft a codebook (YAML) from one or more raw survey exports: items, "
        "response scales, constructs by question stem, survey-tool, PII and free-text "
        "columns. What cannot be decided becomes a '# TODO' line.",
    )
    parser.add_argument("raw", nargs="+", metavar="RAW", help="raw export(s) of one questionnaire")
    parser.add_argument("--out", metavar="FILE", help="write the draft here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        draft = draft_codebook(args.raw)
    except InputError as error:
        print(f"lcsurvey codebook draft: {error.message}", file=sys.stderr)
        return 1
    if args.out:
        out = Path(args.out)
        try:
            # Written beside the target and renamed: no half-written draft on failure.
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=out.parent or ".", delete=False, suffix=".tmp"
            ) as handle:
                handle.write(draft.yaml_text)
            os.replace(handle.name, out)
        except OSError as error:
            print(f"lcsurvey codebook draft: cannot write {out}: {error.strerror}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(draft.yaml_text)
    where = args.out or "stdout"
    print(f"codebook draft -> {where}: {draft.summary()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
