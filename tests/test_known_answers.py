"""Known answers that must never move: the pseudonym HMAC and the configuration digest.

A change to either silently breaks something outside this repository: pseudonyms that no longer
link a person across waves (or to the survey tool's codes, for whoever holds the key), and
reports whose printed checksum no longer matches the configuration that made them.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
import yaml

from lcsurvey.survey.clean import clean_file
from lcsurvey.survey.codebook import load_codebook
from lcsurvey.survey.pseudonym import DEVELOPMENT_KEY, KEY_ENV, load_key, pseudonymise

from .conftest import ROOT

# RFC 4231, test case 2: HMAC-SHA-256 with key "Jefe".
RFC4231_KEY = b"Jefe"
RFC4231_DATA = "what do ya want for nothing?"
RFC4231_MAC = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
# The bundled wave 2021-12's first person code and its pseudonym under the development key.
KNOWN_PERSON = "LC-0294"
KNOWN_PSEUDONYM = "cdf41b9fdcb21c79"
# SHA-256 of the bundled config.yaml as each wave's report sees it (schema defaults filled in).
CONFIG_DIGESTS = {
    "2021-12": "da3741872ac13b3f7d86720b8d1b457bf7787fc331f2fa4592649503add9674d",
    "2022-06": "e65c4150cff6022de5dcfae6bc07e699d1da1bcf7382483e5d0cd671368ed7cb",
}


def test_pseudonym_is_hmac_sha256_of_rfc_4231():
    full = pseudonymise(pd.Series([RFC4231_DATA]), RFC4231_KEY, length=64)
    assert full.tolist() == [RFC4231_MAC]
    assert pseudonymise(pd.Series([RFC4231_DATA]), RFC4231_KEY).tolist() == [RFC4231_MAC[:16]]


def test_pseudonym_of_a_known_person_under_the_development_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    bundled = ROOT / "data" / "raw" / "wave_2021-12.csv"
    key, source = load_key(None, raw=bundled)
    assert (key, source) == (DEVELOPMENT_KEY, "development key")
    codes = pd.Series([KNOWN_PERSON, " lc-0294 ", None])
    assert pseudonymise(codes, key).tolist()[:2] == [KNOWN_PSEUDONYM] * 2
    assert pseudonymise(codes, key).isna().tolist() == [False, False, True]


def test_cleaning_the_bundled_wave_gives_the_known_pseudonym():
    """The pipeline's own path (clean_file with the development key) on data/raw."""
    book = load_codebook(ROOT / "data" / "codebook.yaml")
    result = clean_file(
        str(ROOT / "data" / "raw" / "wave_2021-12.csv"),
        book,
        wave="2021-12",
        rules=None,
        key=DEVELOPMENT_KEY,
    )
    rids = set(result.kept["rid"]) | set(result.quarantine["rid"].dropna())
    assert KNOWN_PSEUDONYM in rids


def config_digest(config: dict, wave: str) -> str:
    """The report's "configuration up to this wave" checksum (workflow/rules/common.smk,
    _config_digest): canonical JSON of the configuration without the later waves (and without
    `publish:`, which no result depends on)."""
    waves = list(config["waves"])
    view = {key: value for key, value in config.items() if key not in ("waves", "publish")}
    view["waves"] = [[w, config["waves"][w]] for w in waves[: waves.index(wave) + 1]]
    text = json.dumps(view, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validated_config(path) -> dict:
    """The configuration as the workflow sees it: Snakemake's validate fills in the defaults."""
    from snakemake.utils import validate

    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


@pytest.mark.parametrize("wave", list(CONFIG_DIGESTS))
def test_configuration_digest_of_the_bundled_config(wave):
    assert config_digest(validated_config(ROOT / "config.yaml"), wave) == CONFIG_DIGESTS[wave]
