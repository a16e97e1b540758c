"""Glue for workflow scripts: log to the rule's log file, turn InputError into a clean exit."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lcsurvey.errors import InputError

if TYPE_CHECKING:  # pandas only for the type hints: a script that writes no table skips it
    import pandas as pd

# Tables are written with ten significant digits so that reruns are byte-identical even when
# threaded linear algebra changes the last bits of a number.
FLOAT_FORMAT = "%.10g"

log = logging.getLogger("lcsurvey")
log.propagate = False  # the rule log gets each record once; the terminal only the error


@contextlib.contextmanager
def script_log(
    log_path: str | os.PathLike | None, context: str | None = None
) -> Iterator[logging.Logger]:
    """Send log records and stderr to the rule's log; on InputError print it and exit 1.

    The message goes to both the log file and the terminal, without a traceback: it is meant
    for the analyst, who needs the file, row, column and value, not the call stack.
    ``context`` (e.g. "wave 2022-06") is put in front of the message.
    """
    handle = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115
    stream = handle or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    real_stderr = sys.stderr
    if handle:
        sys.stderr = handle
    try:
        yield log
    except InputError as err:
        message = f"{context}: {err.message}" if context else err.message
        log.error("%s", message)
        print(f"ERROR: {message}", file=real_stderr)
        raise SystemExit(1) from None
    finally:
        sys.stderr = real_stderr
        log.removeHandler(handler)
        if handle:
            handle.close()


@contextlib.contextmanager
def warnings_to_log(log: logging.Logger) -> Iterator[None]:
    """Warnings raised inside (rows left out, too few clusters for the free parameters) go to
    the rule's log as warnings, each distinct message once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(str(w.message) for w in caught):
        log.warning("%s", message)


def _atomic(path: str | os.PathLike, write) -> None:
    """Write through a temporary file in the same folder, so no half-written output remains."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    _atomic(
        path,
        lambda tmp: frame.to_csv(tmp, index=False, float_format=FLOAT_FORMAT, lineterminator="\n"),
    )


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    _atomic(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))


def round_significant(frame: pd.DataFrame, digits: int = 8) -> pd.DataFrame:
    """Float columns rounded to `digits` significant digits.

    Two fits of the same model can differ in the 13th digit (semopy's parameter order follows
    Python's per-process hashing); eight digits keep reruns byte-identical and lose nothing
    that lavaan's own printout shows.
    """
    import numpy as np
    import pandas as pd

    out = frame.copy()
    for column in out.columns[out.dtypes.map(pd.api.types.is_float_dtype)]:
        x = out[column].to_numpy(dtype=float)
        finite = np.isfinite(x) & (x != 0)
        scale = np.zeros_like(x)
        scale[finite] = digits - 1 - np.floor(np.log10(np.abs(x[finite])))
        factor = 10.0**scale
        out[column] = np.where(finite, np.round(x * factor) / factor, x)
    return out
