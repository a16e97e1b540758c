"""Clusters of rows, as lavaan's `cluster = "..."`: one integer code per row.

Rows whose cluster is missing are kept, each as a cluster of its own (lavaan refuses them; a
survey respondent who skipped the community question still answered the items). The codes are
what the cluster-robust standard errors (casewise scores summed within a cluster) and the
cluster bootstrap (whole clusters resampled) work on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cluster_codes(labels: pd.Series | np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 per row, in order of first appearance; a missing label is a
    cluster of its own.

    Parameters
    ----------
    labels : Series or ndarray
        The cluster of each row (any hashable values; NaN or None where unknown).

    Returns
    -------
    ndarray of int
        Same length as labels.
    """
    values = pd.Series(np.asarray(labels, dtype=object))
    missing = values.isna().to_numpy()
    codes = np.empty(len(values), dtype=np.int64)
    known, _ = pd.factorize(values[~missing], sort=False)
    codes[~missing] = known
    start = int(known.max()) + 1 if len(known) else 0
    codes[missing] = start + np.arange(int(missing.sum()))
    return codes


def sum_within(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sums of the rows of `values` (rows, k) within each cluster: (G, k), G = codes.max() + 1."""
    out = np.zeros((int(codes.max()) + 1, values.shape[1]))
    np.add.at(out, codes, values)
    return out
