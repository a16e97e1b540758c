"""Numbers as the two-pager prints them, per language, with Babel (CLDR locale data).

Fixed digits, the locale's decimal sign (a comma in Dutch), no grouping (a table's 1169 stays
1169), a true minus sign (U+2212, typographic house style; CLDR's is the hyphen-minus) and no
"-0.00". Rounding is that of Python's format(x, ".2f"): half to even on the float's exact
binary value (Babel gets the exact `Decimal(x)`, not its shortest repr, so 2.675 -> 2.67).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from babel.numbers import format_decimal

LOCALES = {"nl": "nl_NL", "en": "en_GB"}
MINUS = "\u2212"
MISSING = "–"


def fmt_number(value: float, lang: str, digits: int = 2) -> str:
    """A number as printed: `digits` decimals in the locale of `lang`, a true minus sign."""
    if value is None or not np.isfinite(value):
        return MISSING
    pattern = "0." + "0" * digits if digits else "0"
    out = format_decimal(Decimal(float(value)), pattern, locale=LOCALES[lang])
    if out.startswith("-") and not any(c in "123456789" for c in out):
        out = out[1:]  # rounds to zero: no sign
    return out.replace("-", MINUS)


def fmt_int(value: float) -> str:
    return f"{int(round(value))}"


def fmt_p(p: float, lang: str) -> str:
    """p-value as printed: '< 0.001' below a thousandth, three digits otherwise."""
    if p is None or not np.isfinite(p):
        return MISSING
    if p < 0.001:
        return "< " + fmt_number(0.001, lang, 3)
    return fmt_number(p, lang, 3)


def fmt_percent(share: float, lang: str) -> str:
    return fmt_number(100 * share, lang, 0)


def significance_stars(p: float) -> str:
    """'***' for p < .001, '**' for p < .01, '*' for p < .05, '' otherwise."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
