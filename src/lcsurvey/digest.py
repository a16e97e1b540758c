"""SHA-256 of files: which raw file, codebook or configuration a result came from.

Free of numpy and pandas, so that the workflow can take digests at start-up cheaply.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lcsurvey.errors import InputError


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 digest of the file's bytes, to record which raw file a result came from."""
    source = str(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise InputError("file not found", file=source) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", file=source) from None
    return digest.hexdigest()
