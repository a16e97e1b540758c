"""Keyed pseudonyms for respondents: HMAC-SHA256 of the person code, the same in every wave.

Which key (`load_key`), in this order:

1. the environment variable ``LCSURVEY_PSEUDONYM_KEY``;
2. the file named by config ``pseudonym_key_file``;
3. the public development key, only for a raw file the project's simulator wrote: its SHA-256
   is listed in a ``TRUTH*.yaml`` the simulator wrote beside it (`simulator_made`), so a real
   export, whose bytes the simulator never produced, never gets the public key;
4. otherwise a project key, ``.lcsurvey/pseudonym.key`` (git-ignored, permissions 0600): 32
   random bytes from the operating system, created on first use and read from then on.

Whoever holds the key can link pseudonyms back to the survey tool's person codes (and a
person's answers across waves); nobody else can. HMAC-SHA256 is RFC 2104 / RFC 4231.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd
import yaml

from lcsurvey.digest import sha256_file
from lcsurvey.errors import InputError

KEY_ENV = "LCSURVEY_PSEUDONYM_KEY"
# Public on purpose: fit only for the bundled synthetic waves, whose ids are not secret.
DEVELOPMENT_KEY = b"lcsurvey DEVELOPMENT key - synthetic data only - not secret"
# Where a project keeps the key it made for itself (relative to the working directory, the
# project folder under Snakemake); .gitignore lists the folder.
PROJECT_KEY_FILE = Path(".lcsurvey") / "pseudonym.key"
# 256 bits: HMAC-SHA256's block-sized security level (RFC 2104, section 3).
PROJECT_KEY_BYTES = 32

KEEP_THE_KEY = (
    "A new pseudonym key was created: {path}. KEEP IT. It links this wave's pseudonyms to the "
    "next waves' (a lost key gives every later wave new pseudonyms, and returning respondents "
    "can no longer be linked) and, with the survey tool's person codes, to the persons. Back it "
    "up outside the repository, where only the research team can read it, or set "
    f"{KEY_ENV} / pseudonym_key_file to a key you keep."
)


def simulator_made(raw: str | Path) -> bool:
    """Whether the project's simulator wrote `raw`: its SHA-256 is in a TRUTH*.yaml beside it.

    The simulator records the SHA-256 of each file it writes in its TRUTH file (``waves: {id:
    {file, sha256}}`` in TRUTH.yaml, ``sha256`` in TRUTH_{wave}.yaml). Only the exact bytes
    count (under any name): an edited, re-exported or real file is not simulator-made.
    """
    path = Path(raw)
    listed: set[str] = set()
    for truth in sorted(path.parent.glob("TRUTH*.yaml")):
        try:
            document = yaml.safe_load(truth.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(document, dict):
            continue
        entries = [document, *((document.get("waves") or {}).values())]
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
                listed.add(entry["sha256"])
    return bool(listed) and path.is_file() and sha256_file(path) in listed


def project_key(path: str | Path = PROJECT_KEY_FILE) -> tuple[bytes, bool]:
    """The project's own key at `path`, created (random, 0600) when absent; and whether it was.

    Two jobs that start at once (two waves cleaned in parallel) get the same key: the key is
    written to a private temporary file and linked into place, which fails for the second.
    """
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(PROJECT_KEY_BYTES) + "\n")
        try:
            os.link(temporary, target)
            created = True
        except FileExistsError:
            created = False
        finally:
            temporary.unlink()
        if created:
            return _read_key(target), True
    return _read_key(target), False


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if len(key) < 16:
        raise InputError(
            "pseudonym key is too short",
            file=str(path),
            expected="at least 16 bytes of secret text",
        )
    return key


def load_key(
    key_file: str | None = None,
    raw: str | Path | None = None,
    project_key_file: str | Path = PROJECT_KEY_FILE,
) -> tuple[bytes, str]:
    """The pseudonym key for the raw file `raw`, and where it came from.

    Parameters
    ----------
    key_file
        config ``pseudonym_key_file`` (None: not set).
    raw
        The raw export the key will pseudonymise. The public development key is used only when
        the simulator wrote it (`simulator_made`); None counts as real data.
    project_key_file
        Where the project's own key is kept, or made on first use.

    Returns
    -------
    The key, and its source: ``"environment"``, the key file's path, ``"development key"`` or
    ``"project key <path>"``, followed by :data:`KEEP_THE_KEY` when the key was made just now
    (the caller shows that once, prominently).
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
        return _read_key(path), str(path)
    if raw is not None and simulator_made(raw):
        return DEVELOPMENT_KEY, "development key"
    key, created = project_key(project_key_file)
    source = f"project key {project_key_file}"
    if created:
        source += ". " + KEEP_THE_KEY.format(path=project_key_file)
    return key, source


def new_key_notice(source: str) -> str | None:
    """The "keep the new key" notice in a key source of `load_key`, or None."""
    head, _, notice = source.partition(". A new pseudonym key")
    return "A new pseudonym key" + notice if notice else None


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
