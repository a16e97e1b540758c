"""Construct scores as observed variables of a two-level model.

A two-level model of the items needs a measurement model at the community level as well, with
more level-2 parameters than a study of some twenty communities has communities. A two-level
model in config.yaml may therefore name a construct or composite of the codebook (its scale
score, results/{wave}/scales/scores.parquet: the mean of its items, lcsurvey.survey.scales) as
an observed variable. The rule `model` then joins those score columns to the cleaned responses
by the respondent key `rid`; a respondent without a score (too few items answered) has a
missing value there, which estimation.missing handles as any other.

Single-level models keep reading the items: their measurement model is what the common-method
checks and the invariance tests of a model work on.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from lcsurvey.errors import InputError

if TYPE_CHECKING:  # the workflow reads score_names at start-up: no pandas import there
    import pandas as pd

    from lcsurvey.survey.codebook import Codebook

# The respondent key of the cleaned responses and of the scores (lcsurvey.survey.clean).
KEY = "rid"


def score_names(syntax: str, book: Codebook, *, name: str = "model") -> list[str]:
    """The construct scores a two-level model names as observed variables.

    Parameters
    ----------
    syntax : str
        A model of config.yaml (lavaan syntax).
    book : Codebook
        The codebook: its constructs and composites are the scores.
    name : str
        The model's name, for messages.

    Returns
    -------
    list of str
        The observed variables of a two-level model that are constructs or composites of the
        codebook (and not items or background variables), in order of appearance; empty for a
        single-level model and for syntax that cannot be read (its rule says why).

    Examples
    --------
    With the bundled codebook (data/codebook.yaml):

    >>> score_names("level: 1\\n  knowledge_transfer ~ facilitation + tr1\\n"
    ...             "level: 2\\n  knowledge_transfer ~ facilitation", book)
    ['knowledge_transfer', 'facilitation']
    """
    from lcsurvey.sem.twolevel_syntax import is_twolevel, parse_twolevel

    if not is_twolevel(syntax):
        return []
    try:
        spec = parse_twolevel(syntax, name=name)
    except InputError:
        return []
    scores = set(book.constructs) | set(book.composites)
    columns = set(book.items) | set(book.background)
    return [v for v in spec.observed if v in scores and v not in columns]


def join_scores(
    responses: pd.DataFrame, scores: pd.DataFrame, names: list[str], *, name: str = "model"
) -> pd.DataFrame:
    """The responses with the named score columns joined by `rid`, rows in their order.

    Parameters
    ----------
    responses : DataFrame
        The cleaned responses of a wave (results/{wave}/clean/responses.parquet).
    scores : DataFrame
        The wave's scores (results/{wave}/scales/scores.parquet): `rid` and one column per
        construct and composite.
    names : list of str
        The scores to join (score_names).
    name : str
        The model's name, for messages.

    Returns
    -------
    DataFrame
        `responses` with one column per name; missing where a respondent has no score.

    Raises
    ------
    InputError
        A score the scores table does not have, a key missing from either table or repeated.
    """
    if not names:
        return responses
    absent = [v for v in names if v not in scores.columns]
    if absent:
        raise InputError(
            f"model {name!r} uses {absent}, which are neither columns of the cleaned "
            "responses nor construct scores",
            column=absent[0],
            expected="items, background variables, or constructs and composites of the "
            "codebook (results/{wave}/scales/scores.parquet has one column each)",
        )
    for table, what in ((responses, "cleaned responses"), (scores, "scores")):
        if KEY not in table.columns:
            raise InputError(
                f"model {name!r}: the {what} have no respondent key {KEY!r} to join the "
                "construct scores by",
                expected=f"a column {KEY!r} in both tables",
            )
    if scores[KEY].duplicated().any():
        raise InputError(
            f"model {name!r}: the scores table has a respondent more than once",
            column=KEY,
            value=str(scores.loc[scores[KEY].duplicated(), KEY].iloc[0]),
            expected="one row per respondent",
        )
    joined = responses.merge(scores[[KEY, *names]], on=KEY, how="left", validate="many_to_one")
    joined.index = responses.index
    unscored = int((~responses[KEY].isin(scores[KEY])).sum())
    if unscored:
        warnings.warn(
            f"model {name!r}: {unscored} of {len(responses)} respondents have no row in the "
            "scores table; their construct scores are missing",
            stacklevel=2,
        )
    return joined
