"""Which rows belong together: the cluster variable of `estimation.cluster`, checked.

Respondents are nested in learning communities. `resolve` turns the configured variable into a
`Clustering`: the label of each row (missing labels kept; each such row is a cluster of its
own), the number of clusters, and, when the variable cannot serve as a cluster, the reason in
plain words. An unusable cluster variable never stops the run: the models then treat the
respondents as independent and the agreement statistics say why they are empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from lcsurvey.survey.codebook import Codebook


@dataclass(frozen=True)
class Clustering:
    """The configured cluster variable of one data set.

    variable: the configured name (None: respondents independent); labels: the variable's
    values per row (NaN where missing), None when unusable; clusters: distinct known labels;
    missing: rows without a label; problem: why the variable cannot be used, else None.
    """

    variable: str | None
    labels: pd.Series | None
    clusters: int = 0
    missing: int = 0
    problem: str | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        """True when the rows are to be treated as clustered."""
        return self.variable is not None and self.problem is None

    def log_to(self, log: logging.Logger) -> None:
        """Write `describe()` to a rule's log: a warning when the variable is unusable."""
        (log.warning if self.problem else log.info)("%s", self.describe())

    def describe(self) -> str:
        """One line for the log."""
        if self.variable is None:
            return "no cluster variable (estimation.cluster: null): respondents independent"
        if self.problem:
            return f"{self.problem}; respondents are treated as independent"
        extra = (
            f"; {self.missing} rows without a {self.variable} are kept, each as a cluster "
            "of its own"
            if self.missing
            else ""
        )
        return f"{self.clusters} clusters of {self.variable}{extra}"


def resolve(data: pd.DataFrame, variable: str | None, book: Codebook | None = None) -> Clustering:
    """The Clustering of `data` by `variable`.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    variable : str or None
        `estimation.cluster`.
    book : Codebook, optional
        When given, the variable must be one of its variables.

    Returns
    -------
    Clustering
        With `problem` set when the variable is not in the codebook or the data, or when it
        forms one cluster only, or a cluster per respondent (nothing is nested then).
    """
    if variable is None:
        return Clustering(None, None)
    if book is not None:
        known = {**book.background, **book.items}
        if variable not in known:
            names = ", ".join(sorted(book.background)) or "none"
            return Clustering(
                variable,
                None,
                problem=(
                    f"estimation.cluster {variable!r} is not a variable of the codebook "
                    f"(background variables: {names})"
                ),
                reason="not_in_codebook",
            )
    if variable not in data.columns:
        return Clustering(
            variable,
            None,
            problem=(
                f"estimation.cluster {variable!r} is not a column of the cleaned data "
                "(its columns are the codebook's items and background variables)"
            ),
            reason="not_in_data",
        )
    labels = data[variable]
    missing = int(labels.isna().sum())
    counts = labels.dropna().value_counts()
    clusters = len(counts)
    found = (
        f"{clusters} distinct value{'' if clusters == 1 else 's'} in {len(labels) - missing} rows"
    )
    if missing:
        found += f" ({missing} rows missing)"
    problem, reason = None, None
    if clusters == 0:
        problem, reason = f"estimation.cluster {variable!r} has no value in any row", "no_values"
    elif clusters == 1:
        problem = f"estimation.cluster {variable!r} has one cluster only ({found})"
        reason = "one_cluster"
    elif clusters + missing == len(labels):
        problem = (
            f"estimation.cluster {variable!r} puts every respondent in a cluster of their own "
            f"({found}): nothing is nested"
        )
        reason = "all_alone"
    return Clustering(
        variable,
        labels if problem is None else None,
        clusters=clusters,
        missing=missing,
        problem=problem,
        reason=reason,
    )
