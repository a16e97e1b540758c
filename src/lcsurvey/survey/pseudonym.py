"""Keyed pseudonyms for respondents: HMAC-SHA256 of the person code, the same in every wave."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from lcsurvey.errors import InputError

KEY_ENV = "LCSURVEY_PSEUDONYM_KEY"
# Public on purpose: fit only for the bundled synthetic waves, whose ids are not secret.
DEVELOPMENT_KEY = b"lcsurvey DEVELOPMENT key - synthetic data only - not secret"


def load_key(key_file: str | None = None) -> tuple[bytes, str]:
    """The pseudonym key and where it came from ("environment", the file, or "development key").

    A real study keeps its key outside the repository, in the environment variable
    LCSURVEY_PSEUDONYM_KEY or in a file named by config `pseudonym_key_file`; whoever holds the
    key can link pseudonyms back to the survey tool's person codes, nobody else can.
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode("utf-8"), "environment"
    if key_file:
        path = Path(key_file)
        if not path.exists():
            raise InputError(
                "pseudonym key file not found", file=key_file, hint=f"Create it, or set {KEY_ENV}"
            )
        key = path.read_bytes().strip()
        if len(key) < 16:
            raise InputError(
                "pseudonym key is too short",
                file=key_file,
                expected="at least 16 bytes of secret text",
            )
        return key, str(path)
    return DEVELOPMENT_KEY, "development key"


def pseudonymise(codes: pd.Series, key: bytes, length: int = 16) -> pd.Series:
    """HMAC-SHA256(key, code) as hex, cut to `length` characters; missing codes stay missing.

    Codes are stripped and case-folded first, so " lc-0001" and "LC-0001" link.
    """
    base = hmac.new(key, digestmod=hashlib.sha256)

    def one(text: str) -> str:
        digest = base.copy()
        digest.update(text.encode("utf-8"))
        return digest.hexdigest()[:length]

    normalised = codes.astype("string").str.split().str.join(" ").str.casefold()
    normalised = normalised.mask(normalised == "")
    uniques = normalised.dropna().unique()
    mapping = dict(zip(uniques, map(one, uniques), strict=True))
    return normalised.map(mapping).astype("string")
