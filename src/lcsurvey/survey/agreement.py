"""Agreement within groups and reliability of group means, as R's multilevel package (Bliese).

Respondents answer about their learning community; before a construct is read as a property of
the community, its members have to agree and the community means have to be reliable.

- ICC(1) and ICC(2) from the one-way ANOVA of a score by group, as
  ``multilevel::ICC1(aov(score ~ as.factor(grp)))`` and ``ICC2``:
  ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW), ICC(2) = (MSB - MSW) / MSB, k = N / G the mean
  group size (unequal groups included; rows without a score are dropped first, as aov does).
- r_wg(j) per group, as ``multilevel::rwg.j(items, grp, ranvar)``: with J items and s̄² the mean
  of the items' variances within the group, r_wg(j) = J (1 - s̄²/σ²) / (J (1 - s̄²/σ²) + s̄²/σ²);
  σ² = (A² - 1) / 12 is the variance of the uniform ("no agreement") null of A response options.
  Out of range: where s̄² > σ², s̄² is set to σ² (r_wg(j) = 0), as rwg.j does.
- AD_M per group, as ``multilevel::ad.m(items, grp, type = "mean")``: the mean absolute deviation
  of the members' answers from the group's item mean (divided by n), averaged over the items;
  practical cut-off A / 6 (Burke & Dunlap 2002).

Both per-group statistics use the members who answered every item (rwg.j and ad.m drop a row
with any missing item) and are NA for a group of one.

References
----------
Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability. In Klein &
Kozlowski (eds.), Multilevel theory, research, and methods in organizations, 349-381.
Burke, M. J., & Dunlap, W. P. (2002). Estimating interrater agreement with the average
deviation index. Organizational Research Methods, 5, 159-172.
James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group interrater reliability
with and without response bias. Journal of Applied Psychology, 69, 85-98.
LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about interrater reliability
and interrater agreement. Organizational Research Methods, 11, 815-852.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lcsurvey.survey.clusters import Clustering
from lcsurvey.survey.codebook import Codebook, Scale
from lcsurvey.survey.scales import composite_items, scale_scores

AGREEMENT_COLUMNS = [
    "construct",
    "n",
    "groups",
    "icc1",
    "icc2",
    "rwg_j_mean",
    "rwg_j_median",
    "rwg_j_share_70",
    "ad_m_mean",
    "ad_m_median",
    "ad_cutoff",
    "groups_small",
    "note",
]
# r_wg(j) from .70 on: agreement strong enough to aggregate (James, Demaree & Wolf 1984;
# LeBreton & Senter 2008, table 3: .71-.90 "strong agreement").
RWG_AGREEMENT = 0.70


def _group_codes(groups: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels and each row's position among them (labels must be known)."""
    codes, labels = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
    return labels.to_numpy(), codes


def one_way_anova(values, groups) -> tuple[float, float, int, int]:
    """Mean squares between and within groups and their degrees of freedom (MSB, MSW, df_b, df_w).

    Rows with a missing value or group are dropped, as ``aov`` does; groups left without a row
    do not count.
    """
    frame = pd.DataFrame({"y": np.asarray(values, dtype=float), "g": np.asarray(groups)})
    frame = frame.dropna()
    n = len(frame)
    if n == 0:
        return np.nan, np.nan, 0, 0
    by_group = frame.groupby("g", sort=False)["y"]
    sizes = by_group.size().to_numpy(dtype=float)
    means = by_group.mean().to_numpy()
    grand = frame["y"].mean()
    ss_between = float((sizes * (means - grand) ** 2).sum())
    ss_within = float(((frame["y"] - by_group.transform("mean")) ** 2).sum())
    df_between, df_within = len(sizes) - 1, n - len(sizes)
    msb = ss_between / df_between if df_between > 0 else np.nan
    msw = ss_within / df_within if df_within > 0 else np.nan
    return msb, msw, df_between, df_within


def icc1(values, groups) -> float:
    """ICC(1) of a score by group, as ``multilevel::ICC1(aov(values ~ as.factor(groups)))``.

    Parameters
    ----------
    values : array-like
        One score per row (NaN: row left out).
    groups : array-like
        The row's group (NaN: row left out).

    Returns
    -------
    float
        (MSB - MSW) / (MSB + (k - 1) MSW) with k = N / G, the mean group size of the N rows in
        G groups; NaN with fewer than two groups or no within-group degrees of freedom.

    Examples
    --------
    ``icc1(bh1996.WBEING, bh1996.GRP)`` = 0.04336905, as R's
    ``ICC1(aov(WBEING ~ as.factor(GRP), bh1996))``.
    """
    msb, msw, df_between, df_within = one_way_anova(values, groups)
    if df_between < 1 or df_within < 1:
        return np.nan
    k = (df_within + df_between + 1) / (df_between + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((msb - msw) / (msb + (k - 1) * msw))


def icc2(values, groups) -> float:
    """ICC(2), the reliability of the group means, as ``multilevel::ICC2(aov(...))``.

    (MSB - MSW) / MSB from the same one-way ANOVA as `icc1`; NaN with fewer than two groups,
    no within-group degrees of freedom or no spread between the group means.
    """
    msb, msw, df_between, df_within = one_way_anova(values, groups)
    if df_between < 1 or df_within < 1 or not msb > 0:
        return np.nan
    return float((msb - msw) / msb)


def response_options(scale: Scale) -> int:
    """A, the number of response options: the labelled codes, or the whole numbers min..max."""
    if scale.labels:
        return len(scale.labels)
    return int(np.floor(scale.highest) - np.ceil(scale.lowest) + 1)


def uniform_null_variance(options: int) -> float:
    """σ²_EU = (A² - 1) / 12, the variance of answers spread evenly over A options."""
    return (options**2 - 1) / 12


def _complete_rows(items: pd.DataFrame, groups) -> tuple[np.ndarray, np.ndarray]:
    """The item values and groups of the rows with every item and a group, as na.exclude."""
    values = np.asarray(items, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    labels = pd.Series(np.asarray(groups))
    keep = np.isfinite(values).all(axis=1) & labels.notna().to_numpy()
    return values[keep], labels[keep].to_numpy()


def rwg_j(items: pd.DataFrame, groups, ranvar: float) -> pd.DataFrame:
    """r_wg(j) per group, as ``multilevel::rwg.j(items, groups, ranvar)``.

    Parameters
    ----------
    items : DataFrame or 2-d array
        The J items of one scale, one row per respondent.
    groups : array-like
        Each row's group; rows with a missing group or any missing item are left out.
    ranvar : float
        The variance expected without agreement, (A² - 1) / 12 for A options
        (`uniform_null_variance`).

    Returns
    -------
    DataFrame
        grpid (sorted), rwg_j, gsize (rows used). rwg_j is 0 where the mean item variance
        exceeds `ranvar` (rwg.j's truncation) and NaN for a group of one.
    """
    values, labels = _complete_rows(items, groups)
    grpid, codes = _group_codes(labels)
    j = values.shape[1]
    sizes = np.bincount(codes, minlength=len(grpid))
    s2 = np.full(len(grpid), np.nan)
    frame = pd.DataFrame(values).groupby(codes)
    variances = frame.var(ddof=1).to_numpy()
    s2[sizes > 1] = variances[sizes > 1].mean(axis=1)
    ratio = np.minimum(s2, ranvar) / ranvar
    rwg = j * (1 - ratio) / (j * (1 - ratio) + ratio)
    return pd.DataFrame({"grpid": grpid, "rwg_j": rwg, "gsize": sizes})


def ad_m(items: pd.DataFrame, groups) -> pd.DataFrame:
    """AD_M per group, as ``multilevel::ad.m(items, groups, type = "mean")``.

    The mean absolute deviation of the members' answers from the group's item mean (the sum
    divided by the group size), averaged over the items; rows with a missing group or any missing
    item are left out. Returns grpid (sorted), ad_m, gsize; ad_m is NaN for a group of one.
    """
    values, labels = _complete_rows(items, groups)
    grpid, codes = _group_codes(labels)
    sizes = np.bincount(codes, minlength=len(grpid))
    frame = pd.DataFrame(values)
    deviation = (frame - frame.groupby(codes).transform("mean")).abs()
    ad = deviation.groupby(codes).mean().to_numpy().mean(axis=1)
    ad = np.where(sizes > 1, ad, np.nan)
    return pd.DataFrame({"grpid": grpid, "ad_m": ad, "gsize": sizes})


def _constructs(responses: pd.DataFrame, book: Codebook):
    """(name, keyed items, score, A) for every construct, then every composite."""
    scores = scale_scores(responses, book)
    for name, construct in book.constructs.items():
        items = responses[list(construct.items)].astype(float)
        yield name, items, scores[name], response_options(book.construct_scale(name))
    for name, composite in book.composites.items():
        items = composite_items(responses, book, composite)
        options = response_options(book.construct_scale(composite.parts[0]))
        yield name, items, scores[name], options


def _row(name: str, n: int, options: int, note: str, **statistics) -> dict:
    row = dict.fromkeys(AGREEMENT_COLUMNS, np.nan)
    row.update(construct=name, n=n, ad_cutoff=options / 6, groups=pd.NA, groups_small=pd.NA)
    row.update(statistics, note=note)
    return row


def _agreement_row(
    name: str, items: pd.DataFrame, score: pd.Series, labels: pd.Series, options: int, min_cell: int
) -> dict:
    """One row of the agreement table for a construct whose rows carry a known cluster label."""
    known = labels.notna()
    scored = known & score.notna()
    n = int(scored.sum())
    groups = int(labels[scored].nunique())
    icc_1 = icc1(score[scored], labels[scored])
    icc_2 = icc2(score[scored], labels[scored])
    complete = known & items.notna().all(axis=1)
    members = labels[complete].value_counts()
    # Groups with a score but too few members who answered every item are not rated either.
    present = labels[scored].unique()
    rated = members.index[(members >= max(min_cell, 2)) & members.index.isin(present)]
    small = groups - len(rated)
    in_rated = complete & labels.isin(rated)
    rwg = rwg_j(items[in_rated], labels[in_rated], uniform_null_variance(options))["rwg_j"]
    ad = ad_m(items[in_rated], labels[in_rated])["ad_m"]
    notes = []
    if groups < 2:
        notes.append(f"{groups} cluster{'' if groups == 1 else 's'} with a score: no ICC")
    elif n == groups:
        notes.append("one respondent with a score per cluster: no ICC")
    if len(rated) == 0:
        notes.append(
            f"no cluster has {min_cell} or more members who answered every item: no r_wg(j) or AD_M"
        )
    return _row(
        name,
        n,
        options,
        "; ".join(notes),
        groups=groups,
        icc1=icc_1,
        icc2=icc_2,
        rwg_j_mean=rwg.mean() if len(rwg) else np.nan,
        rwg_j_median=rwg.median() if len(rwg) else np.nan,
        rwg_j_share_70=float((rwg >= RWG_AGREEMENT).mean()) if len(rwg) else np.nan,
        ad_m_mean=ad.mean() if len(ad) else np.nan,
        ad_m_median=ad.median() if len(ad) else np.nan,
        groups_small=small,
    )


def agreement_table(
    responses: pd.DataFrame, book: Codebook, clustering: Clustering, min_cell: int
) -> pd.DataFrame:
    """Agreement and reliability of the cluster means for every construct and composite.

    Parameters
    ----------
    responses : DataFrame
        Cleaned responses (items already reverse-keyed by the cleaning step).
    book : Codebook
        Constructs, composites and their response scales.
    clustering : Clustering
        `lcsurvey.survey.clusters.resolve` of `estimation.cluster`.
    min_cell : int
        `report.min_cell`: clusters with fewer members who answered every item are left out of
        r_wg(j) and AD_M and counted in `groups_small`.

    Returns
    -------
    DataFrame
        One row per construct, then per composite (as the reliability table), with the columns
        of `AGREEMENT_COLUMNS`:

        - n: respondents with a score and a known cluster; groups: their clusters;
        - icc1, icc2: from the scores of those n respondents in all their clusters, the small
          ones included (as multilevel's ICC1/ICC2 on the whole data);
        - rwg_j_mean, rwg_j_median, rwg_j_share_70 (share of the rated clusters with
          r_wg(j) >= .70), ad_m_mean, ad_m_median: over the clusters with at least `min_cell`
          (and at least two) members who answered every item, those members only;
        - ad_cutoff: A / 6, A the number of response options of the construct's scale;
        - groups_small: clusters of the n respondents left out of r_wg(j) and AD_M;
        - note: empty, or why statistics are empty.

        A composite's ICCs are those of its score (the mean of its parts' scores); its r_wg(j)
        and AD_M treat the items of all its parts as one scale, a reversed part's items mirrored
        (the items of its reliability row), against the parts' common response scale.

        Rows without a known cluster are left out of every statistic (a model keeps them, each
        as a cluster of its own; `left_out` says how many for the log). When the clustering is
        not active (no variable, or an unusable one), every construct still gets its row: n the
        respondents with a score, ad_cutoff, and the reason in `note`.
    """
    rows = []
    for name, items, score, options in _constructs(responses, book):
        if not clustering.active:
            note = clustering.problem or "no cluster variable (estimation.cluster: null)"
            rows.append(_row(name, int(score.notna().sum()), options, note))
            continue
        labels = clustering.labels.reindex(responses.index)
        rows.append(_agreement_row(name, items, score, labels, options, min_cell))
    table = pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
    for column in ("n", "groups", "groups_small"):
        table[column] = table[column].astype("Int64")
    return table


def left_out(clustering: Clustering) -> str | None:
    """The log line on rows the agreement statistics leave out for want of a cluster, if any."""
    if not clustering.active or not clustering.missing:
        return None
    rows = "row" if clustering.missing == 1 else "rows"
    return (
        f"agreement statistics leave out the {clustering.missing} {rows} without a "
        f"{clustering.variable}"
    )
