"""Whether a model can be estimated on the data at hand, and the status row that says so.

A model that cannot be estimated because of the data (too few respondents, no convergence,
not identified, a Heywood case) is not a bug: the job that fits it records why in a status
table (STATUS_COLUMNS) and the wave keeps everything else. This module holds the one rule of
how many respondents a model needs, the exception that carries the reason, and the table.

The rule: a model of p observed variables needs more respondents than variables, at least
p + 1 respondents with an answer to one of them (the rows full-information ML uses; under
listwise deletion the complete rows). Below that the covariance matrix of the variables is
singular whatever the answers, so the ML discrepancy is undefined (Bollen 1989, ch. 4;
Kline 2016, ch. 9). It is a floor, not a recommendation: a model just above it may still fail
to converge or give a negative variance, and those reasons are recorded as such. With
complete data lavaan stops below it as well ("sample covariance matrix is not
positive-definite").

A model with more free parameters than sample moments is not identified whatever the number
of respondents; one with a negative variance estimate (a Heywood case) is not admissible.

References
----------
Bollen, K. A. (1989). Structural equations with latent variables. Wiley.
Kline, R. B. (2016). Principles and practice of structural equation modeling (4th ed.).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError

STATUS_COLUMNS = ["model", "estimated", "reason", "n", "needed", "detail"]

# Reason codes -> the plain words of the status table and the log.
REASONS = {
    "too_few_respondents": "too few respondents for the number of variables",
    "no_convergence": "no convergence",
    "not_identified": "not identified (more free parameters than sample moments)",
    "heywood": "Heywood case (a negative variance estimate)",
    # two-level models (lcsurvey.sem.twolevel)
    "no_cluster": "a two-level model needs a cluster variable (estimation.cluster)",
    "cluster_level_varies": "a cluster-level variable varies within a cluster",
    "clusters_of_one": "no cluster has two or more respondents",
    "too_few_clusters": "as many level-2 parameters as clusters, or more",
    # Ordinal items (estimation.estimator wlsmv / ulsmv): the answers or the model's lines.
    "ordinal_data": "the answers do not allow a fit of the items as ordered categories",
    "not_supported": "a model the ordinal (WLSMV/ULSMV) estimator does not fit",
}


def respondents_needed(n_variables: int) -> int:
    """The fewest respondents a model of `n_variables` observed variables is fitted on: p + 1.

    Parameters
    ----------
    n_variables : int
        The model's observed variables (items, or scale scores).

    Returns
    -------
    int
        p + 1: with fewer respondents the variables' covariance matrix is singular.

    Examples
    --------
    >>> respondents_needed(32)
    33
    """
    return int(n_variables) + 1


class NotEstimated(InputError):
    """A model the data do not allow to estimate; `reason` is a key of REASONS.

    A subclass of InputError, so a script that does not expect it still stops with the
    message; the scripts of model jobs catch it and write a status row instead.
    """

    def __init__(
        self,
        model: str,
        reason: str,
        *,
        n: int | None = None,
        needed: int | None = None,
        detail: str = "",
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}; one of {sorted(REASONS)}")
        self.model = model
        self.reason = reason
        self.n = n
        self.needed = needed
        self.detail = detail
        counts = ""
        if n is not None and needed is not None:
            counts = f" ({n} respondents; at least {needed} needed)"
        elif n is not None:
            counts = f" ({n} respondents)"
        extra = f": {detail}" if detail else ""
        super().__init__(f"model {model!r} not estimated: {REASONS[reason]}{counts}{extra}")

    def status_row(self) -> dict:
        return status_row(
            self.model, False, reason=self.reason, n=self.n, needed=self.needed, detail=self.detail
        )


def status_row(
    model: str,
    estimated: bool,
    *,
    reason: str | None = None,
    n: int | None = None,
    needed: int | None = None,
    detail: str = "",
) -> dict:
    """One row of a status table: model, estimated (yes/no), reason in words, n, needed."""
    return {
        "model": model,
        "estimated": "yes" if estimated else "no",
        "reason": REASONS[reason] if reason else "",
        "n": n,
        "needed": needed,
        "detail": detail,
    }


def status_table(rows: list[dict]) -> pd.DataFrame:
    """Status rows as a table with STATUS_COLUMNS (n and needed as integers, empty if unknown)."""
    table = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    for column in ("n", "needed"):
        table[column] = table[column].astype("Int64")
    return table


def check_respondents(model: str, n: int, n_variables: int) -> None:
    """Raise NotEstimated (too few respondents) when n < respondents_needed(n_variables)."""
    needed = respondents_needed(n_variables)
    if n < needed:
        raise NotEstimated(model, "too_few_respondents", n=int(n), needed=needed)


def check_identified(model: str, n_free: int, n_moments: int, n: int) -> None:
    """Raise NotEstimated (not identified) when the free parameters outnumber the moments."""
    if n_free > n_moments:
        raise NotEstimated(
            model,
            "not_identified",
            n=int(n),
            detail=f"{n_free} free parameters, {n_moments} sample moments",
        )


def heywood_variables(estimates: pd.DataFrame) -> list[str]:
    """Variables whose estimated (free) variance is negative: a Heywood case.

    `estimates` is a parameter table with lavaan's columns (lhs, op, rhs, est, se); a variance
    is a ``~~`` row with lhs == rhs, free when its se is finite.
    """
    rows = estimates[
        (estimates["op"] == "~~")
        & (estimates["lhs"] == estimates["rhs"])
        & np.isfinite(estimates["se"].to_numpy(dtype=float))
    ]
    return rows.loc[rows["est"] < 0, "lhs"].tolist()


def check_admissible(model: str, estimates: pd.DataFrame, n: int) -> None:
    """Raise NotEstimated (Heywood case) when a free variance estimate is negative."""
    negative = heywood_variables(estimates)
    if negative:
        raise NotEstimated(
            model, "heywood", n=int(n), detail=f"negative variance of {', '.join(negative)}"
        )
