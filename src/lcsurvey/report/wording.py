"""The two-pager's words: one catalogue per language, `wording/<lang>.yaml`, read once.

Every heading, label and sentence the reader sees lives in the catalogues (the key messages
under `msg_*`); the code asks for a key and fills in the numbers, already formatted for the
language by `lcsurvey.report.numbers`. A translator edits the YAML, never the Python. Light on
purpose (only PyYAML): `lcsurvey.report.render` takes the report's title from here before it
starts the notebook kernel.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from lcsurvey.errors import InputError

WORDING_DIR = Path(__file__).parent / "wording"
# The order of the labels in the codebook's scales ([Dutch, English]).
LANGUAGES = ("nl", "en")
NON_BREAKING_HYPHEN = "\u2011"


@functools.cache
def catalogue(lang: str) -> dict[str, Any]:
    """The catalogue of `lang`: `text` (key -> string) and `factors` (factor -> phrases).

    The phrases of `nonbreaking` get a non-breaking hyphen wherever they occur ("95%-BI" is
    one word: a line must not end in "95%-").
    """
    path = WORDING_DIR / f"{lang}.yaml"
    if lang not in LANGUAGES or not path.is_file():
        raise InputError(
            f"unknown report language {lang!r}",
            expected=f"one of {list(LANGUAGES)}",
            hint=f"add a wording catalogue {path}",
        )
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    phrases = [(p, p.replace("-", NON_BREAKING_HYPHEN)) for p in document.get("nonbreaking") or []]

    def fixed(value: str) -> str:
        for phrase, kept in phrases:
            value = value.replace(phrase, kept)
        return value

    return {
        "text": {key: fixed(str(value)) for key, value in document["text"].items()},
        "factors": {
            factor: {k: fixed(str(v)) for k, v in words.items()}
            for factor, words in document["factors"].items()
        },
        "factor_fallback": document["factor_fallback"],
    }


def text(lang: str, key: str, **values: Any) -> str:
    """The string `key` in language `lang`, with `values` filled in (str.format)."""
    template = catalogue(lang)["text"][key]
    return template.format(**values) if values else template


def has_text(lang: str, key: str) -> bool:
    return key in catalogue(lang)["text"]


def factor_words(factor: str, lang: str) -> dict[str, str]:
    """Box label and sentence phrases of a model factor; unknown factors fall back to the name."""
    words = catalogue(lang)["factors"]
    if factor in words:
        return words[factor]
    name = factor.replace("_", " ")
    fallback = catalogue(lang)["factor_fallback"]
    return {
        "box": name.capitalize(),
        "short": name.capitalize(),
        "subj": name.capitalize(),
        "obj": name,
        "more": fallback["more"].format(name=name),
        "less": fallback["less"].format(name=name),
    }


def join(parts: list[str], lang: str) -> str:
    """'a', 'a and b', 'a, b and c' in `lang`."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + text(lang, "and") + parts[-1]


def lower_first(label: str) -> str:
    return label[:1].lower() + label[1:]
