"""Statistical disclosure control of microdata: k-anonymity on the quasi-identifiers.

A quasi-identifier (codebook ``quasi_identifier: true``) is a characteristic a colleague could
know of a respondent: community, sector, role, gender, age. Whoever knows them can look for a
colleague's row; a row whose combination of quasi-identifiers few others share is at risk.

The measures are those of R's sdcMicro (Templ, Kowarik & Meindl 2015):

- :math:`f_k`, the sample frequency of a record's key (its combination of quasi-identifiers),
  as ``freqCalc``: a missing value stands for any category, so it matches every value of that
  variable (sdcMicro's default, ``alpha = 1``);
- sample uniques, the records with :math:`f_k = 1`;
- the individual risk, ``indivRisk(survey = FALSE)``: :math:`r_k = 1 / F_k` with the population
  frequency :math:`F_k = f_k` (no sampling weights: the respondents are taken to be the whole
  population a colleague searches, the cautious assumption for a learning community), and the
  expected number of re-identifications :math:`\\sum_i r_i` (``measure_risk``'s global risk
  times n).

Protection (`protect`): global recoding first (numeric quasi-identifiers into bands, as
configured or proposed), then local suppression: while a record has :math:`f_k < k`, the record
with the smallest :math:`f_k` has one quasi-identifier made missing, the one that raises its
:math:`f_k` most (between equal gains, the variable with the most categories, sdcMicro's
default importance). Suppressing never lowers another record's :math:`f_k`, so this ends with
every record at k or more, as long as there are k records at all. What was recoded and
suppressed, and the information lost (cells suppressed, categories merged), is returned.

References
----------
Templ, M., Kowarik, A. & Meindl, B. (2015). Statistical disclosure control for micro-data using
the R package sdcMicro. Journal of Statistical Software 67(4).
Hundepool, A. et al. (2012). Statistical Disclosure Control. Wiley, ch. 3 (risk, global
recoding, local suppression).
Sweeney, L. (2002). k-anonymity: a model for protecting privacy. International Journal of
Uncertainty, Fuzziness and Knowledge-Based Systems 10(5), 557-570.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Blocks of unique keys compared at once in `key_frequencies`: bounds memory to about
# BLOCK x keys x variables booleans whatever the number of rows.
BLOCK = 512


def _codes(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """The key variables as integer codes, -1 for missing (any category)."""
    columns = []
    for name in keys:
        codes, _ = pd.factorize(frame[name], use_na_sentinel=True)
        columns.append(codes)
    if not columns:
        return np.zeros((len(frame), 0), dtype=np.int64)
    return np.column_stack(columns).astype(np.int64)


def key_frequencies(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """Each record's sample frequency f_k on `keys`, a missing value matching any category.

    As sdcMicro's ``freqCalc(x, keyVars)$fk``: the number of records (itself included) that
    agree with it on every key variable, where a missing value on either side agrees. Without
    missing values this is the size of the record's group in a ``groupby`` of the keys. Below,
    the last record (a missing, b "y") agrees with the third, and the third with it.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1, 1, 2, None], "b": ["x", "x", "y", "y"]})
    >>> key_frequencies(frame, ["a", "b"]).tolist()
    [2, 2, 2, 2]
    """
    codes = _codes(frame, keys)
    return pd.Series(_frequencies(codes), index=frame.index, dtype="int64")


def _frequencies(codes: np.ndarray) -> np.ndarray:
    """f_k of integer-coded keys (-1: missing, matching anything), over unique keys."""
    if codes.shape[1] == 0:
        return np.full(len(codes), len(codes), dtype=np.int64)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    patterns, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    per_pattern = np.empty(len(patterns), dtype=np.int64)
    for start in range(0, len(patterns), BLOCK):
        block = patterns[start : start + BLOCK, None, :]
        agree = (block == patterns[None, :, :]) | (block < 0) | (patterns[None, :, :] < 0)
        per_pattern[start : start + BLOCK] = agree.all(axis=2) @ counts
    return per_pattern[inverse.ravel()]


def risk_measures(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per record: ``fk``, ``sample_unique`` (fk = 1) and the individual ``risk`` 1 / fk."""
    fk = key_frequencies(frame, keys)
    return pd.DataFrame({"fk": fk, "sample_unique": fk == 1, "risk": 1.0 / fk}, index=frame.index)


@dataclass(frozen=True)
class Risk:
    """The disclosure risk of a table on its quasi-identifiers (sdcMicro's ``measure_risk``)."""

    records: int
    k: int  # the smallest f_k: the table is k-anonymous for this k
    below: int  # records with f_k below the target
    sample_uniques: int
    expected_reidentifications: float  # sum of the individual risks
    max_risk: float


def risk_summary(frame: pd.DataFrame, keys: Sequence[str], target: int) -> Risk:
    """`risk_measures` summed up, with the records below the k `target`."""
    measures = risk_measures(frame, keys)
    if measures.empty:
        return Risk(0, 0, 0, 0, 0.0, 0.0)
    return Risk(
        records=len(measures),
        k=int(measures["fk"].min()),
        below=int((measures["fk"] < target).sum()),
        sample_uniques=int(measures["sample_unique"].sum()),
        expected_reidentifications=float(measures["risk"].sum()),
        max_risk=float(measures["risk"].max()),
    )


def band_labels(breaks: Sequence[float]) -> list[str]:
    """Labels of the bands that `breaks` cut: "under 35", "35-44", ..., "55 or over"."""
    edges = [int(b) if float(b).is_integer() else float(b) for b in breaks]
    labels = [f"under {edges[0]}"]
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        upper = high - 1 if isinstance(high, int) and isinstance(low, int) else high
        labels.append(f"{low}-{upper}" if isinstance(upper, int) else f"{low} to under {high}")
    labels.append(f"{edges[-1]} or over")
    return labels


def recode_bands(values: pd.Series, breaks: Sequence[float]) -> pd.Series:
    """Global recoding of a numeric variable into bands: code 1 below breaks[0], 2 from
    breaks[0] to below breaks[1], ..., len(breaks) + 1 from the last; missing stays missing."""
    edges = np.asarray(sorted(float(b) for b in breaks))
    numbers = pd.to_numeric(values, errors="coerce")
    coded = np.searchsorted(edges, numbers.to_numpy(dtype=float), side="right") + 1.0
    return pd.Series(np.where(numbers.isna(), np.nan, coded), index=values.index)


def propose_breaks(values: pd.Series, k: int) -> list[float]:
    """Bands for a numeric quasi-identifier when none are configured: cut at quantiles into
    as many bands as hold about 4 k answers each (at most 5, at least 2 when 2 k answered),
    at whole numbers, so that each band can hold k respondents beside the other variables."""
    present = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    bands = min(5, len(present) // (4 * k))
    if bands < 2:
        bands = 2 if len(present) >= 2 * k else 1
    if bands < 2:
        return []
    cuts = np.quantile(present, np.arange(1, bands) / bands, method="inverted_cdf")
    breaks = sorted({float(np.floor(c)) + 1 for c in cuts})
    low, high = present.min(), present.max()
    return [b for b in breaks if low < b <= high]


@dataclass
class Protection:
    """A table protected to k-anonymity and what it took."""

    frame: pd.DataFrame
    keys: list[str]
    target: int
    before: Risk
    after: Risk
    suppressed: dict[str, int]  # variable -> cells made missing by local suppression
    answered: dict[str, int]  # variable -> answered cells before suppression

    @property
    def information_loss(self) -> float:
        """Share of the answered quasi-identifier cells that local suppression made missing."""
        total = sum(self.answered.values())
        return sum(self.suppressed.values()) / total if total else 0.0


def suppress_locally(
    frame: pd.DataFrame,
    keys: Sequence[str],
    target: int,
    order: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Make the fewest quasi-identifier cells missing, greedily, until every f_k >= `target`.

    The record with the smallest f_k goes first (between equals, the first in `order`, e.g. the
    pseudonyms: arbitrary but reproducible); of its answered keys the one whose suppression
    raises its f_k most is made missing; between equal gains the variable with more categories
    (sdcMicro's default importance: variables with many categories are suppressed first).
    With fewer than `target` records no suppression can help: every key is made missing.
    """
    keys = list(keys)
    out = frame.copy()
    suppressed = dict.fromkeys(keys, 0)
    if not keys or out.empty:
        return out, suppressed
    if len(out) < target:  # no combination can be shared by `target` records
        for name in keys:
            suppressed[name] = int(out[name].notna().sum())
            out[name] = out[name].where(pd.Series(False, index=out.index))
        return out, suppressed
    codes = _codes(out, keys)
    categories = np.array([out[name].nunique(dropna=True) for name in keys])
    rank = (
        np.arange(len(out))
        if order is None
        else np.argsort(np.argsort(order.to_numpy(), kind="stable"), kind="stable")
    )
    while True:
        fk = _frequencies(codes)
        low = np.flatnonzero(fk < target)
        if low.size == 0:
            break
        record = low[np.lexsort((rank[low], fk[low]))[0]]
        answered = np.flatnonzero(codes[record] >= 0)
        if answered.size == 0:  # cannot happen with `target` records or more; never loop
            break
        others = (codes == codes[record]) | (codes < 0) | (codes[record] < 0)[None, :]
        gains = []
        for column in answered:
            rest = np.delete(others, column, axis=1)
            gains.append(int(rest.all(axis=1).sum()))
        best = max(
            range(len(answered)),
            key=lambda i: (gains[i], categories[answered[i]], -answered[i]),
        )
        column = answered[best]
        codes[record, column] = -1
        suppressed[keys[column]] += 1
        out.iloc[record, out.columns.get_loc(keys[column])] = np.nan
    return out, suppressed


def protect(
    frame: pd.DataFrame,
    keys: Sequence[str],
    target: int,
    order: pd.Series | None = None,
) -> Protection:
    """Local suppression of `frame`'s `keys` (already globally recoded) to k = `target`, with the
    risk before and after (sdcMicro's ``localSuppression(k = target)`` and ``measure_risk``)."""
    keys = [name for name in keys if name in frame]
    before = risk_summary(frame, keys, target)
    answered = {name: int(frame[name].notna().sum()) for name in keys}
    protected, suppressed = suppress_locally(frame, keys, target, order)
    return Protection(
        frame=protected,
        keys=keys,
        target=target,
        before=before,
        after=risk_summary(protected, keys, target),
        suppressed=suppressed,
        answered=answered,
    )


def merge_categories(
    values: pd.Series, groups: Sequence[Sequence[float]]
) -> tuple[pd.Series, dict[float, list[float]]]:
    """Global recoding of categories: each group of codes becomes its smallest code.

    Returns the recoded values and, per new code, the codes it stands for.
    """
    recoded = values.copy()
    merged: dict[float, list[float]] = {}
    for group in groups:
        codes = sorted(float(code) for code in group)
        recoded = recoded.mask(recoded.isin(codes), codes[0])
        merged[codes[0]] = codes
    return recoded, merged


def quasi_identifiers(background: Mapping[str, object]) -> list[str]:
    """The names of the background variables the codebook marks as quasi-identifiers."""
    return [name for name, var in background.items() if getattr(var, "quasi_identifier", False)]
