"""Progress of long computations: units done of the total, time elapsed and time left.

A Progress is called with the number of units (bootstrap draws, jackknife refits, power
replications) done so far. It writes one line to the "lcsurvey" logger (a workflow script sends
it to the rule's log) when both another `every` share of the total is done and `seconds` have
passed since the previous line, whichever comes later, so a long job logs about ten lines and a
short one none:

    bootstrap: 600 of 2000 draws (30%), 2 min 34 s elapsed, about 6 min left

and, if the whole took at least `seconds`, one closing line with the total time. The time left
is the time per unit so far times the units left.

On an interactive terminal (stderr is a TTY, as in a Python session; a workflow script's stderr
is its log file) it also draws a tqdm bar on stderr, which it removes when done.

Reporting only reads the count: the callers' chunks, seeds and results do not depend on it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger("lcsurvey")

EVERY = 0.10  # share of the total between two lines
SECONDS = 5.0  # and at least this many seconds


def duration(seconds: float) -> str:
    """A duration in words: "42 s", "3 min 05 s", "1 h 02 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Log (and on a terminal show) the progress of `total` units of work.

    Parameters
    ----------
    label : str
        What is running, first on each line ("bootstrap", "power n = 200").
    total : int
        Units in all.
    unit : str
        Their name, plural ("draws").
    every : float, optional
        Share of the total between two lines; default EVERY.
    seconds : float, optional
        Least time between two lines; default SECONDS.
    bar : bool, optional
        Draw a tqdm bar on stderr; default: when stderr is a TTY.
    clock : callable
        Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "draws",
        *,
        every: float | None = None,
        seconds: float | None = None,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, int(total), unit
        self.every = EVERY if every is None else every
        self.seconds = SECONDS if seconds is None else seconds
        self.clock = clock
        self.start = self._last_time = clock()
        self._last_done = 0
        self._finished = False
        if bar is None:
            bar = _interactive()
        self._bar = None
        if bar and self.total > 0:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total, desc=label, unit=unit.rstrip("s") or unit, leave=False
            )

    def __call__(self, done: int, total: int | None = None) -> None:
        """Record that `done` units of the total are done (a running count)."""
        if total is not None:
            self.total = int(total)
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        now = self.clock()
        elapsed = now - self.start
        if done >= self.total:
            if not self._finished:
                self._finished = True
                self._close_bar()
                if elapsed >= self.seconds:
                    log.info(
                        "%s: %d of %d %s done in %s",
                        self.label,
                        done,
                        self.total,
                        self.unit,
                        duration(elapsed),
                    )
            return
        if done - self._last_done < self.every * self.total or now - self._last_time < self.seconds:
            return
        self._last_done, self._last_time = done, now
        left = elapsed / done * (self.total - done) if done else float("nan")
        log.info(
            "%s: %d of %d %s (%d%%), %s elapsed, about %s left",
            self.label,
            done,
            self.total,
            self.unit,
            100 * done // self.total,
            duration(elapsed),
            duration(left) if done else "?",
        )

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _interactive() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def reporter(
    progress: Callable[[int, int], None] | bool | None, label: str, total: int, unit: str
) -> Callable[[int, int], None]:
    """The callback to use: the caller's; None: a Progress; False: none."""
    if progress is None:
        return Progress(label, total, unit)
    if progress is False:
        return lambda done, total: None
    return progress
