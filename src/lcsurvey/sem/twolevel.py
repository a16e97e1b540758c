"""Two-level structural equation models: lavaan's ML for unbalanced clusters, with missing values.

A row i of cluster j is y_ij = mu + u_j + e_ij with e_ij ~ N(0, Sigma_W) (the within part, one
per row) and u_j ~ N(0, Sigma_B) (the between part, one per cluster); cluster-level variables
z_j have only a between part. The within block of a model (lcsurvey.sem.twolevel_syntax)
implies Sigma_W and the within means, the between block Sigma_B and the between means; a
variable named in both blocks has its mean at the between level, one named only within has
no between part.

Per cluster, the cluster means ybar_j with z_j and the within cross-products A_j are
sufficient. With V_j = Sigma_B + blockdiag(0, Sigma_W / n_j) over (z, y):

    log L = sum_j [ log N((z_j, ybar_j); mu, V_j) - (n_j - 1)/2 log|Sigma_W|
                    - 1/2 tr(Sigma_W^-1 A_j) - p/2 log n_j - (n_j - 1) p/2 log 2 pi ]

(lavaan's lav_mvnorm_cluster_loglik_samplestats_2l; McDonald & Goldstein 1989). Clusters of
one size share V_j, so the likelihood needs one inverse per distinct cluster size. The
gradient in (Sigma_W, Sigma_B, mu) is analytic and is carried to the free parameters by the
RAM form of each level (Sigma = F (I - A)^-1 S (I - A)^-T F'); the Hessian, for Newton steps
and the standard errors (observed information, lavaan's default for two-level ML), is the
central difference of that gradient.

The test is the likelihood ratio against the unrestricted two-level model (free Sigma_W,
Sigma_B and means; lavaan's h1, fitted here by Newton steps in the same likelihood), the
baseline model has diagonal Sigma_W and Sigma_B (exogenous covariates kept saturated), and
SRMR is lavaan's: the root mean square of the correlation residuals (model against h1) within
plus the same between (lav_fit_srmr_twolevel). Exogenous observed variables are fixed at their
h1 moments (fixed.x = TRUE). RMSEA, AIC and BIC use N, the number of rows.

With missing level-1 values (missing = "ml") the likelihood is evaluated per cluster on the
observed values (loglik_missing), reduced to p x p matrices by Woodbury's identity; the
gradient is analytic as well. lavaan fits its h1 by EM and stops it slightly short of the
maximum (by about 1e-4 in the log-likelihood with complete data, 2e-3 with missing values),
so our chisq is larger than lavaan's by about twice that.

References: Maas, C. J. M. & Hox, J. J. (2005). Sufficient sample sizes for multilevel
modeling. Methodology, 1, 86-92. McDonald, R. P. & Goldstein, H. (1989). Balanced versus unbalanced designs for
linear structural relations in two-level data. British Journal of Mathematical and Statistical
Psychology, 42, 215-232. Rosseel, Y. (2021). Evaluating the observed log-likelihood function in
two-level structural equation modeling with missing data. Psych, 3, 197-232.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.errors import InputError
from lcsurvey.sem import fit_measures as fm
from lcsurvey.sem.clusters import cluster_codes, sum_within
from lcsurvey.sem.defined import delta_method, evaluate_all
from lcsurvey.sem.estimability import NotEstimated
from lcsurvey.sem.optimize import ascend
from lcsurvey.sem.twolevel_syntax import (
    LevelBlock,
    Parameter,
    TwoLevelSpec,
    level_statements,
    parse_twolevel,
)

LOG_2PI = float(np.log(2 * np.pi))
# A cluster-level variable may differ within a cluster by rounding only.
CONSTANT_TOLERANCE = 1e-8
ESTIMATE_COLUMNS = ["level", "lhs", "op", "rhs", "label", "est", "se", "z", "pvalue",
                    "ci_lower", "ci_upper", "std_all"]  # fmt: skip
FIT_COLUMNS = ["ntotal", "nclusters", "npar", "estimator", "missing", "chisq", "df", "pvalue",
               "baseline_chisq", "baseline_df", "cfi", "tli", "rmsea", "rmsea_ci_lower",
               "rmsea_ci_upper", "srmr", "srmr_within", "srmr_between", "aic", "bic", "logl",
               "unrestricted_logl", "converged", "heywood", "fit_note", "se_note"]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# data: the sufficient statistics per cluster size
# ---------------------------------------------------------------------------------------------


@dataclass
class ClusterStats:
    """Sufficient statistics of two-level data, by cluster size.

    y: the level-1 variables (within-only and both-level), z: the cluster-level variables.
    within: sum over clusters of the within cross-products A_j (p x p); sizes: per distinct
    cluster size n, (n, clusters of that size, mean of (z_j, ybar_j), centred cross-products).
    """

    y: list[str]
    z: list[str]
    n_rows: int
    n_clusters: int
    within: np.ndarray
    sizes: list[tuple[int, int, np.ndarray, np.ndarray]]
    log_sizes: float  # sum_j log n_j
    # lavaan's loglik.x: the saturated single-level log-likelihood of the exogenous observed
    # variables (level 1 over rows, level 2 over clusters), which lavaan takes off the
    # reported logl under fixed.x = TRUE (lav_samplestats, YLp[[2]]$loglik.x)
    loglik_x: float = 0.0

    def stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`sizes` as arrays: n (S,), clusters m (S,), centres (S, k), cross-products (S, k, k)."""
        if not hasattr(self, "_stacked"):
            n, m, centre, cross = zip(*self.sizes, strict=True)
            self._stacked = (np.array(n, float), np.array(m, float), np.array(centre),
                             np.array(cross))  # fmt: skip
        return self._stacked

    @property
    def constant(self) -> float:
        p, q = len(self.y), len(self.z)
        return -0.5 * ((self.n_clusters * q + self.n_rows * p) * LOG_2PI + p * self.log_sizes)


@dataclass
class ClusterData:
    """Two-level data with complete rows, cluster by cluster: the pieces ClusterStats sums.

    codes: each row's cluster (0..G-1, in order of first appearance); sizes: rows per cluster;
    within: each cluster's within cross-products A_j (G, p, p); level2: each cluster's
    (z_j, ybar_j) (G, q + p). A resample of whole clusters is a count per cluster, so its
    statistics are weighted sums of these (stats).
    """

    y: list[str]
    z: list[str]
    codes: np.ndarray
    sizes: np.ndarray
    within: np.ndarray
    level2: np.ndarray
    loglik_x: float = 0.0

    def stats(self, counts: np.ndarray | None = None) -> ClusterStats:
        """The sufficient statistics, cluster j taken counts[j] times (None: each once).

        A cluster taken twice enters as two clusters (a resample of whole clusters). The
        loglik_x of the result is the full sample's with counts None, else 0 (a resample's
        refit needs the estimates only).
        """
        weights = np.ones(len(self.sizes)) if counts is None else np.asarray(counts, float)
        sizes = []
        for n in np.unique(self.sizes[weights > 0]):
            chosen = (self.sizes == n) & (weights > 0)
            rows, w = self.level2[chosen], weights[chosen]
            m = w.sum()
            centre = w @ rows / m
            deviations = rows - centre
            sizes.append((int(n), m, centre, (deviations.T * w) @ deviations))
        return ClusterStats(
            loglik_x=self.loglik_x if counts is None else 0.0,
            y=self.y,
            z=self.z,
            n_rows=int(round(weights @ self.sizes)),
            n_clusters=int(round(weights.sum())),
            within=np.einsum("g,gij->ij", weights, self.within),
            sizes=sizes,
            log_sizes=float(weights @ np.log(self.sizes)),
        )


def cluster_stats(
    data: pd.DataFrame, spec: TwoLevelSpec, cluster: str, *, name: str = "model"
) -> ClusterStats:
    """The statistics a two-level fit needs, with checks in the analyst's words.

    Rows with a missing value in a model variable or the cluster are left out (listwise).
    See cluster_data for the checks.
    """
    return cluster_data(data, spec, cluster, name=name).stats()


def cluster_data(
    data: pd.DataFrame, spec: TwoLevelSpec, cluster: str, *, name: str = "model"
) -> ClusterData:
    """The complete rows of a two-level model's variables, summarised per cluster.

    Rows with a missing value in a model variable or the cluster are left out (listwise).

    Raises
    ------
    InputError
        A model variable or the cluster column missing from the data, a non-numeric variable.
    NotEstimated
        (an InputError with a status row) A cluster-level variable that varies within a
        cluster (its model line, the cluster and the row: the data's index label), or clusters
        of size 1 only.
    """
    y, z = list(spec.within.observed), spec.between_only
    absent = [v for v in [cluster, *y, *z] if v not in data.columns]
    if absent:
        raise InputError(
            f"two-level model {name!r} uses {absent}, which the data do not have",
            expected="the cluster column (estimation.cluster) and every variable of the model",
        )
    frame = data[[cluster, *y, *z]].dropna()
    if len(frame) < len(data):
        # two-level FIML (lavaan's missing = "ml") is not implemented: say what was left out
        warnings.warn(
            f"two-level model {name!r}: {len(data) - len(frame)} of {len(data)} rows have a "
            "missing value in the cluster or a model variable and are left out (listwise)",
            stacklevel=2,
        )
    for column in y + z:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(
                f"two-level model {name!r}: column {column!r} is not numeric",
                column=column,
                expected="numbers",
            )
    codes = cluster_codes(frame[cluster])
    n_clusters = int(codes.max()) + 1 if len(codes) else 0
    counts = np.bincount(codes, minlength=n_clusters)
    if n_clusters == 0 or counts.max() < 2:
        raise NotEstimated(
            name,
            "clusters_of_one",
            n=len(frame),
            detail=f"every cluster of {cluster!r} has one complete row at most "
            f"({n_clusters} clusters), so the within and between parts cannot be told apart; "
            f"a cluster variable ({cluster!r}) with two or more respondents per cluster is "
            "needed",
        )
    zvals = frame[z].to_numpy(float)
    check_cluster_level(frame, spec, cluster, name=name)
    yvals = frame[y].to_numpy(float)
    sums = sum_within(yvals, codes)
    means = sums / counts[:, None]
    deviations = yvals - means[codes]
    p = len(y)
    within = sum_within((deviations[:, :, None] * deviations[:, None, :]).reshape(-1, p * p), codes)
    zc = np.zeros((n_clusters, len(z)))
    zc[codes] = zvals
    level2 = np.hstack([zc, means])
    level2_names = z + y
    loglik_x = 0.0
    # a variable split into a within and a between part is not counted (lav_data_patterns)
    x1 = [y.index(v) for v in spec.within.exogenous if v not in spec.both]
    if x1:
        loglik_x += _saturated_loglik(yvals[:, x1])
    x2 = [level2_names.index(v) for v in spec.between.exogenous if v not in spec.both]
    if x2:
        loglik_x += _saturated_loglik(level2[:, x2])
    return ClusterData(
        y=y,
        z=z,
        codes=codes,
        sizes=counts,
        within=within.reshape(n_clusters, p, p),
        level2=level2,
        loglik_x=loglik_x,
    )


def check_cluster_level(
    frame: pd.DataFrame, spec: TwoLevelSpec, cluster: str, *, name: str = "model"
) -> None:
    """Raise NotEstimated when a variable named only at level 2 varies within a cluster.

    frame: rows with the cluster and the cluster-level variables observed. The message names
    the variable's model line, the cluster and a row (the data's index label) whose value
    differs from another row of the cluster beyond rounding (CONSTANT_TOLERANCE).
    """
    z = spec.between_only
    if not z or frame.empty:
        return
    codes = cluster_codes(frame[cluster])
    values = frame[z].to_numpy(float)
    other = np.zeros((int(codes.max()) + 1, len(z)))
    other[codes] = values  # one row's values per cluster
    spread = np.abs(values - other[codes])
    for k, var in enumerate(z):
        if spread[:, k].max() > CONSTANT_TOLERANCE * max(1.0, np.abs(values[:, k]).max()):
            row = int(np.argmax(spread[:, k]))
            line = spec.lines.get((2, var), var)
            raise NotEstimated(
                name,
                "cluster_level_varies",
                n=len(frame),
                detail=f"{var!r} is named only at level 2 (model line {line!r}), so it is a "
                f"cluster-level variable, but it varies within cluster "
                f"{frame[cluster].iloc[row]!r} of {cluster!r} (row {frame.index[row]}: "
                f"{values[row, k]:g}, another row of the cluster: {other[codes[row], k]:g}); "
                f"give it one value per cluster, or name {var!r} in the level-1 block too "
                "(it then gets a within and a between part)",
            )


def _saturated_loglik(x: np.ndarray) -> float:
    """-n/2 (k log 2 pi + log|S| + k), S the ML covariance (lavaan's lav_mvn_h1_loglik_samp)."""
    n, k = x.shape
    centred = x - x.mean(axis=0)
    _, logdet = np.linalg.slogdet(centred.T @ centred / n)
    return -0.5 * n * (k * LOG_2PI + logdet + k)


def loglik(stats: ClusterStats, sigma_w, sigma_b, mu, *, gradient: bool = False):
    """The two-level log-likelihood at (Sigma_W, Sigma_B over (z, y), mu over (z, y)).

    Returns -inf where a covariance matrix is not positive definite. With gradient=True
    returns (value, d/dSigma_W, d/dSigma_B, d/dmu), the matrix derivatives taken entry by
    entry (each entry as its own argument).
    """
    if isinstance(stats, MissingClusterData):
        return loglik_missing(stats, sigma_w, sigma_b, mu, gradient=gradient)
    q = len(stats.z)
    g_w = np.zeros_like(sigma_w)
    g_b = np.zeros_like(sigma_b)
    g_mu = np.zeros_like(mu)
    try:
        chol_w = np.linalg.cholesky(sigma_w)
    except np.linalg.LinAlgError:
        return (-np.inf, None, None, None) if gradient else -np.inf
    inv_w = np.linalg.inv(sigma_w)
    free_rows = stats.n_rows - stats.n_clusters
    value = -free_rows * np.log(np.diag(chol_w)).sum() - 0.5 * np.sum(inv_w * stats.within)
    if gradient:
        g_w += -0.5 * free_rows * inv_w + 0.5 * inv_w @ stats.within @ inv_w
    # all cluster sizes at once: V_n = Sigma_B + blockdiag(0, Sigma_W / n), stacked
    n, m, centre, cross = stats.stacked()
    v = np.repeat(sigma_b[None], len(n), axis=0)
    v[:, q:, q:] += sigma_w[None] / n[:, None, None]
    try:
        chol = np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        return (-np.inf, None, None, None) if gradient else -np.inf
    inv = np.linalg.inv(v)
    d = centre - mu
    scatter = cross + m[:, None, None] * (d[:, :, None] * d[:, None, :])
    logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    value += -(m * logdet).sum() - 0.5 * np.sum(inv * scatter)
    if gradient:
        g = -0.5 * m[:, None, None] * inv + 0.5 * inv @ scatter @ inv
        g_b += g.sum(axis=0)
        g_w += (g[:, q:, q:] / n[:, None, None]).sum(axis=0)
        g_mu += np.einsum("s,sij,sj->i", m, inv, d)
    value += stats.constant
    return (value, g_w, g_b, g_mu) if gradient else value


def start_moments(stats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start values for the unrestricted model: Sigma_W, Sigma_B over (z, y) and mu."""
    q = len(stats.z)
    if isinstance(stats, MissingClusterData):
        return stats.start()
    weights = sum(m for _, m, _, _ in stats.sizes)
    centre = sum(m * c for _, m, c, _ in stats.sizes) / weights
    between = sum(x + m * np.outer(c - centre, c - centre) for _, m, c, x in stats.sizes)
    sw0 = stats.within / (stats.n_rows - stats.n_clusters)
    sb0 = between / stats.n_clusters
    sb0[q:, q:] -= sw0 * stats.n_clusters / stats.n_rows
    return sw0, sb0, centre


@dataclass
class MissingClusterData:
    """Two-level data with missing values: rows by missingness pattern, clusters by row.

    y: level-1 variables (n_rows x p, NaN where missing), z: cluster-level variables
    (n_clusters x q, complete), codes: each row's cluster, patterns: each row's pattern,
    masks: the observed variables of each pattern, counts: rows per cluster and pattern.
    """

    y: list[str]
    z: list[str]
    values: np.ndarray
    zvalues: np.ndarray
    codes: np.ndarray
    patterns: np.ndarray
    masks: np.ndarray
    counts: np.ndarray
    n_rows: int
    n_clusters: int
    observed_values: int  # number of observed level-1 values
    loglik_x: float = 0.0

    complete: ClusterStats | None = None  # the complete rows, for start values

    def start(self):
        return start_moments(self.complete)

    def resample(self, counts: np.ndarray) -> MissingClusterData:
        """The data of the clusters taken counts[j] times each, a cluster taken twice as two
        clusters (a resample of whole clusters; loglik_x and start values are not carried)."""
        if not hasattr(self, "_rows"):  # each cluster's rows, found once
            order = np.argsort(self.codes, kind="stable")
            self._rows = np.split(order, np.cumsum(np.bincount(self.codes))[:-1])
            self._sizes = np.array([len(rows) for rows in self._rows])
        drawn = np.repeat(np.arange(len(counts)), np.asarray(counts).astype(int))
        rows = np.concatenate([self._rows[g] for g in drawn])
        values = self.values[rows]
        return MissingClusterData(
            y=self.y,
            z=self.z,
            values=values,
            zvalues=self.zvalues[drawn],
            codes=np.repeat(np.arange(len(drawn)), self._sizes[drawn]),
            patterns=self.patterns[rows],
            masks=self.masks,
            counts=self.counts[drawn],
            n_rows=len(rows),
            n_clusters=len(drawn),
            observed_values=int(np.isfinite(values).sum()),
        )


def missing_cluster_data(
    data: pd.DataFrame, spec: TwoLevelSpec, cluster: str, *, name: str = "model"
) -> MissingClusterData:
    """Two-level data for lavaan's missing = "ml": rows kept with any level-1 value observed.

    Rows with no cluster or with all level-1 variables missing are left out, as are clusters
    whose cluster-level variables are missing (with a warning).
    """
    y, z = list(spec.within.observed), spec.between_only
    with warnings.catch_warnings():  # the same checks as complete data; rows left out below
        warnings.simplefilter("ignore")
        complete = cluster_stats(data, spec, cluster, name=name)
    frame = data[[cluster, *y, *z]]
    # the complete rows were checked above; a row with a missing level-1 value counts too
    check_cluster_level(frame[[cluster, *z]].dropna(), spec, cluster, name=name)
    keep = frame[cluster].notna() & frame[y].notna().any(axis=1)
    if z:
        zmissing = frame[z].isna().any(axis=1)
        missing_clusters = set(frame.loc[zmissing, cluster])
        keep &= ~frame[cluster].isin(missing_clusters)
    if keep.sum() < len(frame):
        warnings.warn(
            f"two-level model {name!r}: {int(len(frame) - keep.sum())} of {len(frame)} rows "
            "have no cluster, no level-1 value or a cluster with a missing cluster-level value "
            "and are left out",
            stacklevel=2,
        )
    frame = frame[keep]
    codes = cluster_codes(frame[cluster])
    loglik_x = 0.0
    x1 = [v for v in spec.within.exogenous if v not in spec.both]
    if x1:
        loglik_x += _saturated_loglik(frame[x1].dropna().to_numpy(float))
    x2 = [v for v in spec.between.exogenous if v not in spec.both]
    if x2:
        loglik_x += _saturated_loglik(frame.groupby(cluster)[x2].first().to_numpy(float))
    n_clusters = int(codes.max()) + 1
    values = frame[y].to_numpy(float)
    observed = ~np.isnan(values)
    masks, patterns = np.unique(observed, axis=0, return_inverse=True)
    patterns = patterns.reshape(-1)
    counts = np.zeros((n_clusters, len(masks)))
    np.add.at(counts, (codes, patterns), 1.0)
    zvalues = np.zeros((n_clusters, len(z)))
    zvalues[codes] = frame[z].to_numpy(float)
    return MissingClusterData(
        y=y,
        z=z,
        values=values,
        zvalues=zvalues,
        codes=codes,
        patterns=patterns,
        masks=masks,
        counts=counts,
        n_rows=len(frame),
        n_clusters=n_clusters,
        observed_values=int(observed.sum()),
        loglik_x=loglik_x,
        complete=complete,
    )


def loglik_missing(data: MissingClusterData, sigma_w, sigma_b, mu, *, gradient: bool = False):
    """The two-level log-likelihood with missing level-1 values (lavaan's missing = "ml").

    Per cluster j, the observed values Y_j have covariance V_j = D_j + U_j B U_j' with D_j the
    within covariances of each row's observed variables, U_j the rows' selections of the
    between part and B = Sigma_B,yy - Sigma_B,yz Sigma_zz^-1 Sigma_B,zy its covariance given the
    cluster-level variables z_j; their mean is mu_y + Sigma_B,yz Sigma_zz^-1 (z_j - mu_z).
    Woodbury's identity and Sylvester's determinant lemma reduce V_j to p x p matrices:
    V^-1 = D^-1 - D^-1 U H U' D^-1 and log|V| = log|D| + log|I + M B|, with M = U' D^-1 U and
    H = B (I + M B)^-1 (Rosseel 2021, section 4). Same returns as `loglik`.
    """
    q = len(data.z)
    p = len(data.y)
    fail = (-np.inf, None, None, None) if gradient else -np.inf
    s_zz, s_yz, s_yy = sigma_b[:q, :q], sigma_b[q:, :q], sigma_b[q:, q:]
    mu_z, mu_y = mu[:q], mu[q:]
    value = 0.0
    if q:
        try:
            chol_z = np.linalg.cholesky(s_zz)
        except np.linalg.LinAlgError:
            return fail
        inv_z = np.linalg.inv(s_zz)
        d = data.zvalues - mu_z
        scatter_z = d.T @ d
        value += -data.n_clusters * (np.log(np.diag(chol_z)).sum() + 0.5 * q * LOG_2PI)
        value -= 0.5 * np.sum(inv_z * scatter_z)
        beta = s_yz @ inv_z
        b = s_yy - beta @ s_yz.T
        shift = d @ beta.T  # (J, p): the between mean given z
    else:
        d = np.zeros((data.n_clusters, 0))
        b, shift = s_yy, np.zeros((data.n_clusters, p))
    # per pattern: the inverse within covariance of its observed variables, embedded in p x p
    embedded = np.zeros((len(data.masks), p, p))
    logdets = np.zeros(len(data.masks))
    for k, mask in enumerate(data.masks):
        sub = sigma_w[np.ix_(mask, mask)]
        try:
            chol = np.linalg.cholesky(sub)
        except np.linalg.LinAlgError:
            return fail
        embedded[k][np.ix_(mask, mask)] = np.linalg.inv(sub)
        logdets[k] = 2 * np.log(np.diag(chol)).sum()
    resid = data.values - mu_y - shift[data.codes]
    resid = np.where(np.isnan(resid), 0.0, resid)
    weighted = np.einsum("nij,nj->ni", embedded[data.patterns], resid)  # W_i r_i, embedded
    a = sum_within(weighted, data.codes)
    c = sum_within(np.sum(resid * weighted, axis=1, keepdims=True), data.codes)[:, 0]
    m = np.einsum("jk,kab->jab", data.counts, embedded)
    eye = np.eye(p)
    k_mat = eye + m @ b  # (J, p, p)
    # V_j is positive definite when every eigenvalue of I + M B is positive (M B has the
    # eigenvalues of the symmetric M^1/2 B M^1/2); a positive determinant alone is not enough
    if np.linalg.eigvals(k_mat).real.min() <= 0:
        return fail
    _, logdet_k = np.linalg.slogdet(k_mat)
    h = np.transpose(np.linalg.solve(np.transpose(k_mat, (0, 2, 1)), b.T), (0, 2, 1))
    hv = np.einsum("jab,jb->ja", h, a)
    quad = c - np.sum(a * hv, axis=1)
    value += -0.5 * (
        data.observed_values * LOG_2PI + (data.counts @ logdets).sum() + logdet_k.sum() + quad.sum()
    )
    if not gradient:
        return value
    u = a - np.einsum("jab,jb->ja", m, hv)  # U' V^-1 r per cluster
    mhm = m - m @ h @ m
    g_b = 0.5 * (u.T @ u - mhm.sum(axis=0))
    t = weighted - np.einsum("nab,nb->na", embedded[data.patterns], hv[data.codes])
    g_w = 0.5 * (t.T @ t - np.einsum("k,kab->ab", data.counts.sum(axis=0), embedded))
    h_sum = np.einsum("jk,jab->kab", data.counts, h)
    g_w += 0.5 * np.einsum("kab,kbc,kcd->ad", embedded, h_sum, embedded)
    g_mu = np.zeros(q + p)
    g_mu[q:] = u.sum(axis=0)
    g_full = np.zeros((q + p, q + p))
    g_full[q:, q:] = g_b
    if q:
        ud = u.T @ d  # sum_j u_j d_j'
        g_yz = -2 * g_b @ beta + ud @ inv_z
        g_zz = beta.T @ g_b @ beta - beta.T @ ud @ inv_z
        g_zz = g_zz + 0.5 * (-data.n_clusters * inv_z + inv_z @ scatter_z @ inv_z)
        g_full[:q, :q] = 0.5 * (g_zz + g_zz.T)
        g_full[q:, :q] = 0.5 * g_yz
        g_full[:q, q:] = 0.5 * g_yz.T
        g_mu[:q] = -beta.T @ u.sum(axis=0) + inv_z @ d.sum(axis=0)
    return value, g_w, g_full, g_mu


# ---------------------------------------------------------------------------------------------
# the model: one RAM form per level, the free parameters shared through labels
# ---------------------------------------------------------------------------------------------


class LevelModel:
    """Sigma and mu of one level's observed variables as functions of the free parameters."""

    def __init__(self, spec: TwoLevelSpec, level: int, index: dict[Parameter, int]):
        block = spec.within if level == 1 else spec.between
        self.observed = list(block.observed)
        names = self.observed + list(block.latent)
        self.m = len(names)
        self.p = len(self.observed)
        pos = {v: i for i, v in enumerate(names)}
        self.a0 = np.zeros((self.m, self.m))
        self.s0 = np.zeros((self.m, self.m))
        self.v0 = np.zeros(self.m)
        self.places = []  # (matrix, row, col, parameter index)
        self.exogenous = []  # (matrix, row, col, parameter): the moments fixed.x sets
        self.rows = []
        for par in spec.parameters:
            if par.level != level:
                continue
            self.rows.append(par)
            if par.op == "=~":
                spots = [("a", pos[par.rhs], pos[par.lhs])]
            elif par.op == "~":
                spots = [("a", pos[par.lhs], pos[par.rhs])]
            elif par.op == "~~":
                i, j = pos[par.lhs], pos[par.rhs]
                spots = [("s", i, j)] + ([("s", j, i)] if i != j else [])
            else:
                spots = [("v", pos[par.lhs], 0)]
            for mx, i, j in spots:
                if par.exogenous:
                    self.exogenous.append((mx, i, j, par))
                if par in index:
                    self.places.append((mx, i, j, index[par]))
                elif par.value is not None:
                    self.set_fixed(mx, i, j, par.value)
        self.f = np.eye(self.m)[: self.p]

    def set_fixed(self, mx: str, i: int, j: int, value: float) -> None:
        if mx == "a":
            self.a0[i, j] = value
        elif mx == "s":
            self.s0[i, j] = value
        else:
            self.v0[i] = value

    def matrices(self, theta):
        a, s, v = self.a0.copy(), self.s0.copy(), self.v0.copy()
        for mx, i, j, k in self.places:
            if mx == "a":
                a[i, j] = theta[k]
            elif mx == "s":
                s[i, j] = theta[k]
            else:
                v[i] = theta[k]
        return a, s, v

    def implied(self, theta):
        """(mu, Sigma) of the level's observed variables and the pieces the gradient needs."""
        a, s, v = self.matrices(theta)
        e = np.linalg.inv(np.eye(self.m) - a)
        fe = e[: self.p]
        return fe @ v, fe @ s @ fe.T, (e, fe, s, v)

    def chain(self, pieces, g_mu, g_sigma, out):
        """Add d logL / d theta to `out`, given d logL / d mu and d logL / d Sigma (entrywise)."""
        e, fe, s, v = pieces
        gs = g_sigma + g_sigma.T  # Sigma = M S M' is symmetric in the parameters
        inner = fe.T @ gs @ fe
        grad_s = 0.5 * inner
        grad_a = inner @ s @ e.T + np.outer(fe.T @ g_mu, e @ v)
        grad_v = fe.T @ g_mu
        for mx, i, j, k in self.places:
            if mx == "a":
                out[k] += grad_a[i, j]
            elif mx == "s":
                out[k] += grad_s[i, j]
            else:
                out[k] += grad_v[i]


@dataclass
class TwoLevelModel:
    """The whole model: both levels, the map to the (z, y) form of the likelihood."""

    spec: TwoLevelSpec
    names: list[str]  # the free parameters: labels, or "level:lhs op rhs"
    index: dict[Parameter, int]
    levels: tuple[LevelModel, LevelModel]
    between_places: np.ndarray  # position in (z, y) of each level-2 observed variable
    q: int
    p: int

    def moments(self, theta):
        mu_w, sigma_w, pw = self.levels[0].implied(theta)
        mu_b, sigma_b, pb = self.levels[1].implied(theta)
        return mu_w, sigma_w, mu_b, sigma_b, (pw, pb)

    def to_2l(self, mu_w, sigma_w, mu_b, sigma_b):
        full = np.zeros((self.q + self.p, self.q + self.p))
        idx = self.between_places
        full[np.ix_(idx, idx)] = sigma_b
        mu = np.zeros(self.q + self.p)
        mu[self.q :] = mu_w
        mu[idx] += mu_b
        return sigma_w, full, mu

    def set_exogenous(self, h1: Moments) -> None:
        """Fix the moments of exogenous observed variables at h1's (lavaan's fixed.x): the
        model of a resample, whose h1 differs from the full sample's."""
        for level_model in self.levels:
            for mx, i, j, par in level_model.exogenous:
                level_model.set_fixed(mx, i, j, exogenous_value(self.spec, par, h1))

    def value(self, theta, stats: ClusterStats) -> float:
        mu_w, sigma_w, mu_b, sigma_b, _ = self.moments(theta)
        return loglik(stats, *self.to_2l(mu_w, sigma_w, mu_b, sigma_b))

    def gradient(self, theta, stats: ClusterStats) -> np.ndarray:
        return self.value_gradient(theta, stats)[1]

    def value_gradient(self, theta, stats: ClusterStats) -> tuple[float, np.ndarray]:
        """The log-likelihood and its gradient in the free parameters, from one pass."""
        mu_w, sigma_w, mu_b, sigma_b, (pw, pb) = self.moments(theta)
        value, g_w, g_full, g_mu = loglik(
            stats, *self.to_2l(mu_w, sigma_w, mu_b, sigma_b), gradient=True
        )
        out = np.zeros(len(theta))
        if g_w is None:
            return value, out * np.nan
        idx = self.between_places
        self.levels[0].chain(pw, g_mu[self.q :], g_w, out)
        self.levels[1].chain(pb, g_mu[idx], g_full[np.ix_(idx, idx)], out)
        return value, out


def build_model(spec: TwoLevelSpec) -> TwoLevelModel:
    """Number the free parameters (one per label) and lay out both levels."""
    index: dict[Parameter, int] = {}
    names: list[str] = []
    by_label: dict[str, int] = {}
    for par in spec.parameters:
        if not par.free:
            continue
        if par.label and par.label in by_label:
            index[par] = by_label[par.label]
            continue
        index[par] = len(names)
        names.append(par.label or f"{par.level}:{par.lhs}{par.op}{par.rhs}")
        if par.label:
            by_label[par.label] = index[par]
    levels = (LevelModel(spec, 1, index), LevelModel(spec, 2, index))
    y, z = list(spec.within.observed), spec.between_only
    places = np.array(
        [z.index(v) if v in z else len(z) + y.index(v) for v in spec.between.observed],
        dtype=int,
    )
    return TwoLevelModel(spec, names, index, levels, places, len(z), len(y))


def numeric_hessian(grad, theta: np.ndarray) -> np.ndarray:
    """Central differences of an analytic gradient, symmetrised."""
    steps = 1e-5 * np.maximum(1.0, np.abs(theta))
    cols = []
    for k, h in enumerate(steps):
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        cols.append((grad(up) - grad(down)) / (2 * h))
    hess = np.array(cols).T
    return 0.5 * (hess + hess.T)


def maximise(
    value,
    grad,
    theta: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
    inverse: np.ndarray | None = None,
    value_gradient=None,
):
    """Quasi-Newton ascent of the log-likelihood with the analytic gradient.

    The first direction uses the numerical Hessian of the gradient (eigenvalues of the
    information kept positive), later ones BFGS updates of its inverse (Nocedal & Wright 2006,
    section 6.1): one Hessian per fit instead of one per iteration. `inverse`: the inverse
    information to start from instead (a refit next to a fit whose information is known, as
    a bootstrap draw's), so that no Hessian is computed at all. `value_gradient`: x ->
    (value, gradient) from one pass, used instead of value and grad at every point tried (the
    gradient of an accepted point then comes free).
    """
    memory: dict = {} if inverse is None else {"inverse": inverse}
    if grad is None:
        grad = lambda x: value_gradient(x)[1]  # noqa: E731

    def objective(x):
        if value_gradient is not None:
            v, g = value_gradient(x)
            return (v if np.isfinite(v) else -np.inf), g
        v = value(x)
        return (v if np.isfinite(v) else -np.inf), None

    def direction(x, state):
        g = grad(x) if state is None else state
        if not np.all(np.isfinite(g)):
            return None, np.nan, None
        if "inverse" not in memory:
            info = -numeric_hessian(grad, x)
            w, vec = np.linalg.eigh(info)
            w = np.maximum(w, 1e-6 * max(w.max(), 1e-12))
            memory["inverse"] = (vec / w) @ vec.T
        elif "x" in memory:
            s = x - memory["x"]
            y = memory["g"] - g  # the change in the gradient of -logL
            sy = float(s @ y)
            if sy > 1e-14:
                h = memory["inverse"]
                rho = 1.0 / sy
                left = np.eye(len(x)) - rho * np.outer(s, y)
                memory["inverse"] = left @ h @ left.T + rho * np.outer(s, s)
        memory["x"], memory["g"] = x, g
        step = memory["inverse"] @ g
        return step, float(g @ step), None

    return ascend(objective, direction, theta, tol=tol, max_iter=max_iter, final_step=True)


# ---------------------------------------------------------------------------------------------
# the unrestricted (h1) and baseline models
# ---------------------------------------------------------------------------------------------


@dataclass
class Moments:
    """Two-level moments in lavaan's implied form: per level, mean and covariance."""

    mu_w: np.ndarray
    sigma_w: np.ndarray
    mu_b: np.ndarray
    sigma_b: np.ndarray
    logl: float
    theta: np.ndarray | None = None  # the h1 parameters (Unrestricted), to start refits from
    converged: bool = True


def _vech_index(k: int):
    return np.tril_indices(k)


class Unrestricted:
    """lavaan's h1 as a model: free Sigma_W, Sigma_B (of the between-level variables) and means.

    theta holds vech(Sigma_W), vech(Sigma_B) and the means (between-level variables first,
    then the within-only ones); value and gradient take the data's statistics, so one
    Unrestricted serves the full sample and every resample of its clusters.
    """

    def __init__(self, stats, spec: TwoLevelSpec):
        self.p, self.q = len(stats.y), len(stats.z)
        y, z, q = stats.y, stats.z, self.q
        level2 = list(spec.between.observed)
        self.idx2 = np.array([z.index(v) if v in z else q + y.index(v) for v in level2], dtype=int)
        self.k2 = len(self.idx2)
        self.within_only = np.array([i for i, v in enumerate(y) if v not in level2], dtype=int)
        self.iw, self.ib = _vech_index(self.p), _vech_index(self.k2)
        self.nw, self.nb = len(self.iw[0]), len(self.ib[0])

    def unpack(self, theta):
        p, q, k2, nw, nb = self.p, self.q, self.k2, self.nw, self.nb
        sw = np.zeros((p, p))
        sw[self.iw] = theta[:nw]
        sw = sw + np.tril(sw, -1).T
        sb2 = np.zeros((k2, k2))
        sb2[self.ib] = theta[nw : nw + nb]
        sb2 = sb2 + np.tril(sb2, -1).T
        full = np.zeros((p + q, p + q))
        full[np.ix_(self.idx2, self.idx2)] = sb2
        mu = np.zeros(p + q)
        mu[self.idx2] = theta[nw + nb : nw + nb + k2]
        mu[q + self.within_only] = theta[nw + nb + k2 :]
        return sw, full, mu

    def value(self, theta, stats) -> float:
        return loglik(stats, *self.unpack(theta))

    def gradient(self, theta, stats) -> np.ndarray:
        return self.value_gradient(theta, stats)[1]

    def value_gradient(self, theta, stats) -> tuple[float, np.ndarray]:
        value, g_w, g_b, g_mu = loglik(stats, *self.unpack(theta), gradient=True)
        if g_w is None:
            return value, np.full(len(theta), np.nan)
        idx2 = self.idx2
        gw = g_w + g_w.T - np.diag(np.diag(g_w))
        gb2 = g_b[np.ix_(idx2, idx2)]
        gb2 = gb2 + gb2.T - np.diag(np.diag(gb2))
        grad = np.concatenate(
            [gw[self.iw], gb2[self.ib], g_mu[idx2], g_mu[self.q + self.within_only]]
        )
        return value, grad

    def start(self, stats) -> np.ndarray:
        idx2 = self.idx2
        sw0, sb0, centre = start_moments(stats)
        sb0 = sb0[np.ix_(idx2, idx2)]
        sb0 = 0.5 * (sb0 + np.diag(np.abs(np.diag(sb0)) + 0.05))
        return np.concatenate(
            [sw0[self.iw], sb0[self.ib], centre[idx2], centre[self.q + self.within_only]]
        )

    def moments(self, theta, logl: float) -> Moments:
        sw, full, mu = self.unpack(theta)
        idx2 = self.idx2
        return Moments(
            mu_w=np.where(np.isin(np.arange(self.p), self.within_only), mu[self.q :], 0.0),
            sigma_w=sw,
            mu_b=mu[idx2],
            sigma_b=full[np.ix_(idx2, idx2)],
            logl=float(logl),
            theta=theta,
        )


def fit_unrestricted(stats: ClusterStats, spec: TwoLevelSpec) -> Moments:
    """lavaan's h1: free Sigma_W, Sigma_B (between-level variables) and means, by ML.

    With as many between-level variables as clusters, or more, there is no h1: the cluster
    means span fewer dimensions than there are variables, and the likelihood grows without
    bound as Sigma_B closes in on -Sigma_W / n_j along the others. The start values are then
    returned (they still serve for the fixed.x moments) with logl -inf, not converged.
    """
    h1 = Unrestricted(stats, spec)
    if h1.k2 >= stats.n_clusters:
        return dataclasses.replace(h1.moments(h1.start(stats), -np.inf), converged=False)
    result = maximise(
        lambda t: h1.value(t, stats), lambda t: h1.gradient(t, stats), h1.start(stats)
    )
    return dataclasses.replace(h1.moments(result.x, result.value), converged=bool(result.converged))


def exogenous_moments(stats, spec: TwoLevelSpec) -> Moments | None:
    """h1's moments of the exogenous observed variables in closed form, where there is one.

    An exogenous variable named only within has no between part, so its rows are independent
    draws and its h1 mean and covariance are those of the rows (divisor N); one named only at
    level 2 has one value per cluster, and its are those of the clusters (divisor G): the
    likelihood factors into theirs and that of the other variables given them, whose
    parameters are free of theirs. With an exogenous variable named at both levels, or
    missing values, there is no such factoring: None (fit the unrestricted model).

    Returns
    -------
    Moments or None
        The exogenous variables' entries; the others NaN.
    """
    within_x = [v for v in spec.within.exogenous if v not in spec.both]
    between_x = [v for v in spec.between.exogenous if v not in spec.both]
    exogenous = len(spec.within.exogenous) + len(spec.between.exogenous)
    if isinstance(stats, MissingClusterData) or len(within_x) + len(between_x) < exogenous:
        return None
    q = len(stats.z)
    n, m, centre, cross = stats.stacked()
    y, level2 = list(spec.within.observed), list(spec.between.observed)
    mu_w, sigma_w = np.full(len(y), np.nan), np.full((len(y), len(y)), np.nan)
    mu_b, sigma_b = np.full(len(level2), np.nan), np.full((len(level2),) * 2, np.nan)
    if within_x:
        grand = (n * m) @ centre[:, q:] / stats.n_rows
        d = centre[:, q:] - grand
        between = np.einsum("s,sij->ij", n, cross[:, q:, q:] + m[:, None, None] * (
            d[:, :, None] * d[:, None, :]))  # fmt: skip
        total = (stats.within + between) / stats.n_rows
        idx = [y.index(v) for v in within_x]
        mu_w[idx] = grand[idx]
        sigma_w[np.ix_(idx, idx)] = total[np.ix_(idx, idx)]
    if between_x:
        mean = m @ centre[:, :q] / stats.n_clusters
        d = centre[:, :q] - mean
        cov = (cross[:, :q, :q] + m[:, None, None] * (d[:, :, None] * d[:, None, :])).sum(axis=0)
        idx = [level2.index(v) for v in between_x]
        zidx = [stats.z.index(v) for v in between_x]
        mu_b[idx] = mean[zidx]
        sigma_b[np.ix_(idx, idx)] = cov[np.ix_(zidx, zidx)] / stats.n_clusters
    return Moments(mu_w, sigma_w, mu_b, sigma_b, np.nan)


def exogenous_value(spec: TwoLevelSpec, par: Parameter, h1: Moments) -> float:
    """The h1 value of a moment of exogenous observed variables (lavaan's fixed.x)."""
    block = spec.within if par.level == 1 else spec.between
    mu, sigma = (h1.mu_w, h1.sigma_w) if par.level == 1 else (h1.mu_b, h1.sigma_b)
    names = block.observed
    i = names.index(par.lhs)
    return float(mu[i] if par.op == "~1" else sigma[i, names.index(par.rhs)])


def fix_exogenous(spec: TwoLevelSpec, h1: Moments) -> TwoLevelSpec:
    """The spec with the moments of exogenous observed variables fixed at their h1 values."""
    rows = []
    for par in spec.parameters:
        if par.exogenous:
            value = exogenous_value(spec, par, h1)
            par = Parameter(par.level, par.lhs, par.op, par.rhs, par.label, False, value,
                            True)  # fmt: skip
        rows.append(par)
    return TwoLevelSpec(spec.syntax, spec.within, spec.between, tuple(rows), spec.definitions,
                        spec.lines)  # fmt: skip


def baseline_spec(spec: TwoLevelSpec) -> TwoLevelSpec:
    """lavaan's baseline for two-level data: per level, variances and means only.

    The moments of exogenous observed variables stay as in `spec` (fixed at their h1 values
    by fix_exogenous), as lavaan keeps them saturated in its baseline.
    """
    rows = []
    for par in spec.parameters:
        block = spec.within if par.level == 1 else spec.between
        if par.lhs not in block.observed:
            continue
        if par.exogenous or par.op == "~1":
            rows.append(Parameter(par.level, par.lhs, par.op, par.rhs, "", par.free,
                                  par.value, par.exogenous))  # fmt: skip
        elif par.op == "~~" and par.lhs == par.rhs:
            rows.append(Parameter(par.level, par.lhs, "~~", par.lhs))
    blocks = [LevelBlock(b.level, b.observed, (), b.exogenous) for b in (spec.within, spec.between)]
    return TwoLevelSpec(spec.syntax, blocks[0], blocks[1], tuple(rows), (), spec.lines)


# ---------------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------------


@dataclass
class TwoLevelFit:
    """A fitted two-level model: estimates, fit measures and what produced them."""

    spec: TwoLevelSpec
    model: TwoLevelModel
    theta: np.ndarray
    vcov: np.ndarray
    estimates: pd.DataFrame
    fit: pd.DataFrame
    converged: bool
    # Variances estimated negative, as "level 2: y1 ~~ y1 = -0.012" (Heywood cases; lavaan
    # reports them with a warning and does not constrain them, nor does this fit)
    heywood: tuple[str, ...] = ()
    h1: Moments | None = None  # the unrestricted model's fit
    # Why chisq and the fit measures from it are NaN (unrestricted_problem), "" when they are not
    fit_note: str = ""
    # Why the standard errors are NaN (_vcov), "" when they are not
    se_note: str = ""


def heywood_cases(estimates: pd.DataFrame) -> tuple[str, ...]:
    """The negative variances of a two-level estimates table, in words."""
    rows = estimates[(estimates["op"] == "~~") & (estimates["lhs"] == estimates["rhs"])]
    rows = rows[rows["est"] < 0]
    return tuple(f"level {r.level}: {r.lhs} ~~ {r.rhs} = {r.est:.3g}" for r in rows.itertuples())


def start_values(model: TwoLevelModel, h1: Moments) -> np.ndarray:
    """Start values from h1: loadings 1, variances half the h1 variance, the h1 means."""
    theta = np.zeros(len(model.names))
    seen = set()
    for par, k in model.index.items():
        if k in seen:
            continue
        seen.add(k)
        block = model.spec.within if par.level == 1 else model.spec.between
        sigma, mu = (h1.sigma_w, h1.mu_w) if par.level == 1 else (h1.sigma_b, h1.mu_b)
        observed = list(block.observed)
        if par.op == "=~":
            theta[k] = 1.0
        elif par.op == "~~" and par.lhs == par.rhs:
            if par.lhs in observed:
                theta[k] = max(0.5 * sigma[observed.index(par.lhs)] [observed.index(par.lhs)],
                               0.01)  # fmt: skip
            else:
                theta[k] = 0.05
        elif par.op == "~1" and par.lhs in observed:
            theta[k] = mu[observed.index(par.lhs)]
    return theta


def _fit_theta(model: TwoLevelModel, stats: ClusterStats, theta0: np.ndarray):
    result = maximise(lambda t: model.value(t, stats), lambda t: model.gradient(t, stats), theta0)
    return result


def _implied_counts(spec: TwoLevelSpec) -> int:
    """Free moments of the unrestricted model, less those fixed for exogenous variables."""
    p1, p2 = len(spec.within.observed), len(spec.between.observed)
    means = len(spec.within_only) + p2
    exogenous = sum(1 for par in spec.parameters if par.exogenous)
    return p1 * (p1 + 1) // 2 + p2 * (p2 + 1) // 2 + means - exogenous


def _srmr(sample: np.ndarray, implied: np.ndarray) -> float:
    def cor(s):
        d = np.sqrt(np.diag(s))
        return s / np.outer(d, d)

    if np.any(np.diag(implied) <= 0):
        return float("nan")
    resid = cor(sample) - cor(implied)
    k = len(sample)
    return float(np.sqrt(np.sum(resid[np.tril_indices(k)] ** 2) / (k * (k + 1) / 2)))


def fit_twolevel(
    syntax: str | TwoLevelSpec,
    data: pd.DataFrame,
    cluster: str,
    *,
    name: str = "model",
    level: float = 0.95,
    missing: str = "listwise",
) -> TwoLevelFit:
    """Fit a two-level model by ML as lavaan's sem(model, data, cluster = cluster).

    Parameters
    ----------
    syntax : str or TwoLevelSpec
        lavaan syntax with `level: 1` and `level: 2` blocks.
    data : DataFrame
        One row per respondent, with the cluster column.
    cluster : str
        The column that names each row's cluster (lavaan's cluster =).
    name : str
        The model's name, for messages.
    level : float
        Confidence level of the Wald intervals.
    missing : {"listwise", "ml"}
        Rows with a missing value left out (lavaan's default), or every observed value used
        (lavaan's missing = "ml", loglik_missing).

    Returns
    -------
    TwoLevelFit
        estimates: lavaan's parameterEstimates() with its level column (1, 2; 0 for :=);
        fit: lavaan's fitMeasures() names (dots as underscores), one row, then converged,
        heywood (the negative variances in words), fit_note (why chisq and the measures from
        it are NaN: unrestricted_problem) and se_note (why the standard errors are NaN).

    Raises
    ------
    InputError
        Bad syntax or data (see parse_twolevel and cluster_stats).
    NotEstimated
        Data that do not allow the model (see cluster_stats), a model with more free
        parameters than the data have moments, or with as many level-2 parameters as clusters
        (check_clusters). A model that does not converge, has a Heywood case or no standard
        errors is returned, with converged, heywood and se_note saying so (also in `fit`).
    """
    spec = parse_twolevel(syntax, name=name) if isinstance(syntax, str) else syntax
    if missing not in ("listwise", "ml"):
        raise InputError(
            f"two-level model {name!r}: unknown missing-data method",
            value=missing,
            expected="'listwise' or 'ml'",
        )
    if missing == "ml":
        stats = missing_cluster_data(data, spec, cluster, name=name)
    else:
        stats = cluster_stats(data, spec, cluster, name=name)
    # the free parameters do not depend on the fixed.x values: check the clusters before h1
    check_clusters(spec, build_model(spec), stats.n_clusters, name=name, n=stats.n_rows)
    h1 = fit_unrestricted(stats, spec)
    spec = fix_exogenous(spec, h1)
    model = build_model(spec)
    df = _implied_counts(spec) - len(model.names)
    if df < 0:
        raise NotEstimated(
            name,
            "not_identified",
            n=stats.n_rows,
            detail=f"{len(model.names)} free parameters, {_implied_counts(spec)} moments of the "
            "two-level data; fewer free parameters are needed (equal labels, fewer paths at "
            "level 2)",
        )
    result = _fit_theta(model, stats, start_values(model, h1))
    theta = result.x
    hess = numeric_hessian(lambda t: model.gradient(t, stats), theta)
    vcov, se_note = _vcov(hess, model.names)
    if not result.converged:
        warnings.warn(
            f"two-level model {name!r} did not converge: its estimates are not a maximum of "
            "the likelihood and are unstable (often too few clusters for the level-2 model)",
            stacklevel=2,
        )
    if se_note:
        warnings.warn(f"two-level model {name!r}: {se_note}", stacklevel=2)
    estimates = _estimates(spec, model, theta, vcov, level)
    heywood = heywood_cases(estimates)
    if heywood:
        warnings.warn(
            f"two-level model {name!r} has negative variance estimates: "
            + "; ".join(heywood)
            + " (often a between-level residual variance near zero; lavaan does not "
            "constrain them either)",
            stacklevel=2,
        )
    fit_note = unrestricted_problem(h1, float(result.value), len(spec.between.observed),
                                    stats.n_clusters)  # fmt: skip
    if fit_note:
        warnings.warn(
            f"two-level model {name!r}: chisq and the fit measures that compare with the "
            f"unrestricted model are not available: {fit_note}",
            stacklevel=2,
        )
    fit = _fit_measures(spec, model, stats, h1, theta, float(result.value), df, usable=not fit_note)
    fit.insert(FIT_COLUMNS.index("estimator") + 1, "missing", missing)
    fit["converged"] = bool(result.converged)
    fit["heywood"] = "; ".join(heywood)
    fit["fit_note"] = fit_note
    fit["se_note"] = se_note
    return TwoLevelFit(spec, model, theta, vcov, estimates, fit, bool(result.converged), heywood,
                       h1, fit_note, se_note)  # fmt: skip


# The unrestricted model's log-likelihood may fall short of the model's by the optimiser's
# tolerance; a larger shortfall means its maximum was not found.
H1_TOLERANCE = 1e-6


def unrestricted_problem(h1: Moments, logl: float, between_variables: int, clusters: int) -> str:
    """Why the unrestricted (h1) model cannot serve as the test's reference, or "".

    With as many between-level variables as clusters, or more, the cluster means leave the
    between covariance matrix of the unrestricted model singular and its likelihood unbounded
    (lavaan stops there as well); an h1 that did not converge, or whose log-likelihood is below
    the model's (which it nests), gives a chisq that is no test. chisq, its p value, CFI, TLI,
    RMSEA and SRMR are then NaN rather than a perfect fit.
    """
    if between_variables >= clusters:
        return (
            f"the unrestricted two-level model cannot be estimated: {between_variables} "
            f"between-level variables and {clusters} clusters (more clusters than variables "
            "are needed)"
        )
    if not np.isfinite(h1.logl):
        return "the unrestricted two-level model could not be estimated (no finite likelihood)"
    if not h1.converged:
        return "the unrestricted two-level model did not converge"
    if h1.logl < logl - H1_TOLERANCE * max(1.0, abs(logl)):
        return (
            "the unrestricted two-level model's maximum was not found (its log-likelihood "
            f"{h1.logl:.4f} is below the model's {logl:.4f})"
        )
    return ""


def _vcov(hess: np.ndarray, names: list[str]) -> tuple[np.ndarray, str]:
    """The covariance matrix of the estimates (inverse observed information) and, when some
    or all standard errors are not available, why ("" otherwise).

    lavaan warns in the same cases: the information matrix cannot be inverted (here also when
    the likelihood is not finite around the estimates, as next to a Heywood case), or its
    inverse has negative variances (the estimates are not at a maximum).
    """
    nan = np.full_like(hess, np.nan)
    if not np.all(np.isfinite(hess)):
        return nan, (
            "standard errors not available: the likelihood is not finite next to the "
            "estimates (a covariance matrix on the edge of positive definiteness), so the "
            "information matrix cannot be computed"
        )
    try:
        vcov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return nan, (
            "standard errors not available: the information matrix is singular (a parameter "
            "the data do not determine)"
        )
    variances = np.diag(vcov)
    bad = [n for n, v in zip(names, variances, strict=True) if not np.isfinite(v) or v < 0]
    if bad:
        return nan, (
            "standard errors not available: the information matrix is not positive definite "
            f"(negative sampling variances of {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            + "), so the estimates are not at a maximum of the likelihood"
        )
    return vcov, ""


def level2_parameters(model: TwoLevelModel) -> list[str]:
    """The free parameters of the between level (intercepts included), as lavaan names them.

    A label shared by both levels is one parameter and counts here.
    """
    names = {}
    for par, k in model.index.items():
        if par.level == 2 and k not in names:
            names[k] = par.label or f"{par.lhs} {par.op} {par.rhs}".strip()
    return [names[k] for k in sorted(names)]


def check_clusters(spec: TwoLevelSpec, model: TwoLevelModel, clusters: int, *, name: str,
                   n: int | None = None) -> None:  # fmt: skip
    """Raise NotEstimated when the between level has as many free parameters as clusters.

    The between part of the model is estimated from the clusters alone: J clusters give J
    observations of the between-level variables, and every level-2 parameter (loadings, paths,
    variances, covariances and the intercepts, which also take their information from the
    cluster means only) uses them. Intercepts count: a model with as many level-2 parameters
    as clusters has nothing left to estimate their uncertainty from, whatever the within
    level holds. The moments of exogenous observed variables are fixed (fixed.x) and do not
    count. This is a floor, not a recommendation: far more clusters than level-2 parameters
    are needed for stable estimates and standard errors at level 2 (Maas & Hox 2005 found
    the level-2 standard errors too small below about 50 clusters).
    """
    between = level2_parameters(model)
    if len(between) >= clusters:
        lines = level_statements(spec.syntax, 2)
        raise NotEstimated(
            name,
            "too_few_clusters",
            n=n,
            detail=f"{len(between)} free parameters at level 2 (intercepts included: "
            f"{', '.join(between)}) and {clusters} clusters; fewer level-2 paths or "
            "variables (level-2 lines: " + "; ".join(repr(x) for x in lines) + "), or data "
            f"with more than {len(between)} clusters, are needed",
        )


def _estimates(spec, model, theta, vcov, level) -> pd.DataFrame:
    se_free = np.sqrt(np.clip(np.diag(vcov), 0, None))
    crit = special.ndtri(0.5 + level / 2)
    records = []
    for par in spec.parameters:
        if par in model.index:
            k = model.index[par]
            est, se = theta[k], se_free[k]
        else:
            est, se = par.value if par.value is not None else 0.0, 0.0
        records.append((par.level, par.lhs, par.op, par.rhs, par.label, est, se))
    if spec.definitions:
        values, ses = delta_method(list(spec.definitions), model.names, theta, vcov)
        for d, est, se in zip(spec.definitions, values, ses, strict=True):
            records.append((0, d.name, ":=", d.expression, d.name, est, se))
    table = pd.DataFrame(records, columns=ESTIMATE_COLUMNS[:7])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(table["se"] > 0, table["est"] / table["se"], np.nan)
    table["z"] = z
    table["pvalue"] = 2 * special.ndtr(-np.abs(z))
    table["ci_lower"] = table["est"] - crit * table["se"]
    table["ci_upper"] = table["est"] + crit * table["se"]
    table["std_all"] = standardized_all(spec, model, theta, table)
    return table


def standardized_all(spec, model, theta, table: pd.DataFrame) -> np.ndarray:
    """lavaan's std.all per level: both variables' model-implied SDs at that level.

    Loadings and regressions are scaled by the SDs of the two variables, variances by the
    variable's variance, covariances between two variables by their residual SDs (lavaan's
    cov.std = TRUE), intercepts by the SD; := rows evaluate their expression on the standardised
    values of the labelled parameters (lavaan's standardizedSolution()).
    """
    sds, residual = {}, {}
    for level_model, block in zip(model.levels, (spec.within, spec.between), strict=True):
        a, s_mat, _ = level_model.matrices(theta)
        e = np.linalg.inv(np.eye(level_model.m) - a)
        total = e @ s_mat @ e.T
        names = list(block.observed) + list(block.latent)
        with np.errstate(invalid="ignore"):
            sds[block.level] = dict(zip(names, np.sqrt(np.diag(total)), strict=True))
            residual[block.level] = dict(zip(names, np.sqrt(np.diag(s_mat)), strict=True))
    out = np.full(len(table), np.nan)
    labelled: dict[str, float] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, row in enumerate(table.itertuples()):
            if row.op == ":=":
                continue
            sd = sds[row.level]
            if row.op == "=~":
                out[i] = row.est * sd[row.lhs] / sd[row.rhs]
            elif row.op == "~":
                out[i] = row.est * sd[row.rhs] / sd[row.lhs]
            elif row.op == "~1":
                out[i] = row.est / sd[row.lhs]
            elif row.lhs == row.rhs:
                out[i] = row.est / sd[row.lhs] ** 2
            else:
                res = residual[row.level]
                out[i] = row.est / (res[row.lhs] * res[row.rhs])
            if row.label and row.label not in labelled:
                labelled[row.label] = out[i]
    if spec.definitions:
        values = evaluate_all(list(spec.definitions), labelled)
        for i, row in enumerate(table.itertuples()):
            if row.op == ":=":
                out[i] = values[row.lhs]
    return out


def _fit_measures(spec, model, stats, h1, theta, logl, df, *, usable=True) -> pd.DataFrame:
    """fitMeasures(); with usable=False (no unrestricted model) every measure that compares
    with it is NaN: chisq, pvalue, baseline_chisq, CFI, TLI, RMSEA, SRMR."""
    npar = len(model.names)
    base = baseline_spec(spec)
    base_model = build_model(base)
    base_df = _implied_counts(base) - len(base_model.names)
    if usable:
        chisq = max(2 * (h1.logl - logl), 0.0)
        base_fit = _fit_theta(base_model, stats, start_values(base_model, h1))
        base_chisq = 2 * (h1.logl - base_fit.value)
        mu_w, sigma_w, mu_b, sigma_b, _ = model.moments(theta)
        srmr_w = _srmr(h1.sigma_w, sigma_w)
        srmr_b = _srmr(h1.sigma_b, sigma_b)
        h1_logl = h1.logl - stats.loglik_x
    else:
        chisq = base_chisq = srmr_w = srmr_b = h1_logl = float("nan")
    logl -= stats.loglik_x
    n = stats.n_rows
    nan = float("nan")
    lower, upper = fm.rmsea_ci(chisq, df, n) if usable else (nan, nan)
    row = {
        "ntotal": n,
        "nclusters": stats.n_clusters,
        "npar": npar,
        "estimator": "ML",
        "chisq": chisq,
        "df": df,
        "pvalue": fm.chisq_pvalue(chisq, df) if usable else nan,
        "baseline_chisq": base_chisq,
        "baseline_df": base_df,
        "cfi": fm.cfi(chisq, df, base_chisq, base_df) if usable else nan,
        "tli": fm.tli(chisq, df, base_chisq, base_df) if usable else nan,
        "rmsea": fm.rmsea(chisq, df, n) if usable else nan,
        "rmsea_ci_lower": lower,
        "rmsea_ci_upper": upper,
        "srmr": srmr_w + srmr_b,
        "srmr_within": srmr_w,
        "srmr_between": srmr_b,
        "aic": fm.aic(logl, npar),
        "bic": fm.bic(logl, npar, n),
        "logl": logl,
        "unrestricted_logl": h1_logl,
    }
    return pd.DataFrame([row], columns=[c for c in FIT_COLUMNS[: FIT_COLUMNS.index("converged")]
                                        if c != "missing"])  # fmt: skip
