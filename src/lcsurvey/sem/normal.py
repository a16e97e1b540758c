"""Standard normal cdf and quantile and the chi-square upper tail, with numpy and the standard
library only.

The WLSMV engine (lcsurvey.sem.polychoric, lcsurvey.sem.wlsmv) needs nothing else from scipy,
and importing ``scipy.special`` costs a fitting process about a quarter of its run time. The
functions agree with ``scipy.special.ndtr``, ``ndtri`` and ``chdtrc`` to about 1e-15 relative
(tests/test_normal.py).

``ndtr`` and ``ndtri`` evaluate the rational approximations of the Cephes library (S. L.
Moshier, Cephes Math Library Release 2.x, ``ndtr.c`` and ``ndtri.c``), which scipy uses as
well. ``chi2_sf`` is the regularized upper incomplete gamma function Q(df/2, x/2): the power
series of P below ``a + 1``, Lentz's continued fraction of Q above (Press et al., Numerical
Recipes, section 6.2), with the factor x^a e^-x / Gamma(a) formed from ``log1p(t) - t`` and
Stirling's series so that it keeps full precision for large ``a`` near the mean.
"""

from __future__ import annotations

import math

import numpy as np

_SQRT1_2 = 0.70710678118654752440
_SQRT_2PI = 2.50662827463100050242
_EXP_M2 = 0.13533528323661269189  # exp(-2)
_MAXLOG = 7.09782712893383996843e2  # log(largest double)

# erf(x) = x T(x^2) / U(x^2) for |x| < 1 (U monic).
_ERF_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_ERF_U = (
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)
# erfc(x) = exp(-x^2) P(x) / Q(x) for 1 <= x < 8, R(x) / S(x) from 8 (Q, S monic).
_ERFC_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_ERFC_Q = (
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_ERFC_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_ERFC_S = (
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)
# Quantile, centre (|p - 0.5| <= 0.5 - exp(-2)): w + w^3 P0(w^2) / Q0(w^2), times sqrt(2 pi).
_NDTRI_P0 = (
    -5.99633501014107895267e1,
    9.80010754185999661536e1,
    -5.66762857469070293439e1,
    1.39312609387279679503e1,
    -1.23916583867381258016e0,
)
_NDTRI_Q0 = (
    1.95448858338141759834e0,
    4.67627912898881538453e0,
    8.63602421390890590575e1,
    -2.25462687854119370527e2,
    2.00260212380060660359e2,
    -8.20372256168333339912e1,
    1.59056225126211695515e1,
    -1.18331621121330003142e0,
)
# Tails, in z = sqrt(-2 log p): z - log(z) / z - P(1/z) / (z Q(1/z)); P1/Q1 for z < 8, P2/Q2 on.
_NDTRI_P1 = (
    4.05544892305962419923e0,
    3.15251094599893866154e1,
    5.71628192246421288162e1,
    4.40805073893200834700e1,
    1.46849561928858024014e1,
    2.18663306850790267539e0,
    -1.40256079171354495875e-1,
    -3.50424626827848203418e-2,
    -8.57456785154685413611e-4,
)
_NDTRI_Q1 = (
    1.57799883256466749731e1,
    4.53907635128879210584e1,
    4.13172038254672030440e1,
    1.50425385692907503408e1,
    2.50464946208309415979e0,
    -1.42182922854787788574e-1,
    -3.80806407691578277194e-2,
    -9.33259480895457427372e-4,
)
_NDTRI_P2 = (
    3.23774891776946035970e0,
    6.91522889068984211695e0,
    3.93881025292474443415e0,
    1.33303460815807542389e0,
    2.01485389549179081538e-1,
    1.23716634817820021358e-2,
    3.01581553508235416007e-4,
    2.65806974686737550832e-6,
    6.23974539184983293730e-9,
)
_NDTRI_Q2 = (
    6.02427039364742014255e0,
    3.67983563856160859403e0,
    1.37702099489081330271e0,
    2.16236993594496635890e-1,
    1.34204006088543189037e-2,
    3.28014464682127739104e-4,
    2.89247864745380683936e-6,
    6.79019408009981274425e-9,
)


def _horner(x: np.ndarray, coefficients: tuple[float, ...], monic: bool = False) -> np.ndarray:
    """Polynomial with the highest power first; ``monic`` prepends a leading coefficient 1."""
    out = x + coefficients[0] if monic else np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out = out * x + c
    return out


def ndtr(x) -> np.ndarray | float:
    """Standard normal cumulative distribution function, elementwise.

    Parameters
    ----------
    x : float or array_like
        Quantiles; nan stays nan.

    Returns
    -------
    float or numpy.ndarray
        P(Z <= x), a float for a scalar ``x``. Relative error about 1e-16 where the value is
        above 1e-300 (it is 0 below x = -37.5).
    """
    a = np.asarray(x, dtype=float)
    u = a * _SQRT1_2
    z = np.abs(u)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        # Centre: 0.5 + erf(u) / 2 with erf's series form (|u| < 1/sqrt(2)).
        u2 = u * u
        centre = 0.5 + 0.5 * (u * _horner(u2, _ERF_T) / _horner(u2, _ERF_U, monic=True))
        # Tails: erfc(|u|) / 2; between 1/sqrt(2) and 1 as 1 - erf, from 1 on its own forms.
        z2 = z * z
        erf_z = z * _horner(z2, _ERF_T) / _horner(z2, _ERF_U, monic=True)
        e = np.exp(-z2)
        mid = (e * _horner(z, _ERFC_P)) / _horner(z, _ERFC_Q, monic=True)
        far = (e * _horner(z, _ERFC_R)) / _horner(z, _ERFC_S, monic=True)
        erfc = np.where(z < 1.0, 1.0 - erf_z, np.where(z < 8.0, mid, far))
        erfc = np.where(z2 > _MAXLOG, 0.0, erfc)
        tail = 0.5 * erfc
        tail = np.where(u > 0, 1.0 - tail, tail)
        out = np.where(z < _SQRT1_2, centre, tail)
    out = np.where(np.isnan(a), np.nan, out)
    return float(out) if out.ndim == 0 else out


def ndtri(p) -> np.ndarray | float:
    """Quantile of the standard normal distribution (inverse of :func:`ndtr`), elementwise.

    Parameters
    ----------
    p : float or array_like
        Probabilities; 0 gives -inf, 1 gives inf, outside [0, 1] or nan gives nan.

    Returns
    -------
    float or numpy.ndarray
        x with P(Z <= x) = p, a float for a scalar ``p``.
    """
    q = np.asarray(p, dtype=float)
    upper = q > 1.0 - _EXP_M2
    # The smaller tail probability; 1 - q is exact here (Sterbenz).
    y = np.where(upper, 1.0 - q, q)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = y - 0.5
        w2 = w * w
        centre = (w + w * (w2 * _horner(w2, _NDTRI_P0) / _horner(w2, _NDTRI_Q0, monic=True))) * (
            _SQRT_2PI
        )
        t = np.sqrt(-2.0 * np.log(y))
        x0 = t - np.log(t) / t
        r = 1.0 / t
        near = r * _horner(r, _NDTRI_P1) / _horner(r, _NDTRI_Q1, monic=True)
        far = r * _horner(r, _NDTRI_P2) / _horner(r, _NDTRI_Q2, monic=True)
        tail = x0 - np.where(t < 8.0, near, far)
        tail = np.where(upper, tail, -tail)
        out = np.where(y > _EXP_M2, centre, tail)
    out = np.where(q == 0.0, -np.inf, np.where(q == 1.0, np.inf, out))
    out = np.where((q < 0.0) | (q > 1.0) | np.isnan(q), np.nan, out)
    return float(out) if out.ndim == 0 else out


# Stirling's series of log Gamma(a) - ((a - 1/2) log a - a + log(2 pi) / 2), in 1/a^2.
_STIRLING = (
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360360.0,
    1.0 / 156.0,
    -3617.0 / 122400.0,
)
_HALF_LOG_2PI = 0.91893853320467274178
_EPS = 2.220446049250313e-16
_TINY = 1e-300


def _stirling_correction(a: float) -> float:
    if a < 10.0:
        return math.lgamma(a) - ((a - 0.5) * math.log(a) - a + _HALF_LOG_2PI)
    r2 = 1.0 / (a * a)
    s = 0.0
    for c in reversed(_STIRLING):
        s = s * r2 + c
    return s / a


def _log1pmx(t: float) -> float:
    """log(1 + t) - t without the cancellation of the difference for small ``t``."""
    if abs(t) > 0.5:
        return math.log1p(t) - t
    # log(1 + t) = 2 atanh(u), u = t / (2 + t); 2u - t = -t^2 / (2 + t).
    u = t / (2.0 + t)
    u2 = u * u
    power = u * u2
    s = 0.0
    k = 3.0
    while True:
        term = power / k
        s += term
        if abs(term) <= abs(s) * _EPS * 0.25:
            break
        power *= u2
        k += 2.0
    return -t * t / (2.0 + t) + 2.0 * s


def _log_gamma_density(a: float, x: float) -> float:
    """log(x^a e^-x / Gamma(a)), accurate also where ``a`` is large and ``x`` near ``a``."""
    # a (log(x / a) - (x - a) / a) without forming 1 + t = x / a from a rounded t (x << a).
    shape = a * math.log(x / a) - (x - a) if abs(x - a) > 0.5 * a else a * _log1pmx((x - a) / a)
    return shape + 0.5 * math.log(a) - _HALF_LOG_2PI - _stirling_correction(a)


def _gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x) for ``a > 0``, ``x >= 0``."""
    if x == 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_d = _log_gamma_density(a, x)
    if x < a + 1.0:
        # P(a, x) = x^a e^-x / Gamma(a) * sum_n x^n / (a (a+1) ... (a+n)); Q = 1 - P.
        term = 1.0 / a
        total = term
        n = a
        while True:
            n += 1.0
            term *= x / n
            total += term
            if term <= total * _EPS * 0.25:
                break
        return 1.0 - math.exp(log_d) * total
    if log_d < -_MAXLOG - 40.0:
        return 0.0
    # Q(a, x) = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - ...)), Lentz.
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPS * 0.5 or i > 100000:
            break
    return math.exp(log_d) * h


def chi2_sf(x, df) -> np.ndarray | float:
    """Upper tail probability of the chi-square distribution, elementwise (broadcast).

    Parameters
    ----------
    x : float or array_like
        Statistic values (non-negative; negative or nan gives nan, as scipy's ``chdtrc``).
    df : float or array_like
        Degrees of freedom (non-negative; 0 puts all mass at 0).

    Returns
    -------
    float or numpy.ndarray
        P(X > x) for X ~ chi-square(df), a float for scalar arguments; p-values to about
        1e-14 relative where they are above 1e-300.
    """
    xs, dfs = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    out = np.empty(xs.shape)
    for index, (value, k) in enumerate(zip(xs.flat, dfs.flat, strict=True)):
        if math.isnan(value) or math.isnan(k) or value < 0.0 or k < 0.0:
            out.flat[index] = math.nan
        elif k == 0.0:
            # All mass at 0, as scipy.special.chdtrc: P(X > x) = 0 for x > 0, undefined at 0.
            out.flat[index] = 0.0 if value > 0.0 else math.nan
        elif value == 0.0:
            out.flat[index] = 1.0
        else:
            out.flat[index] = _gammaincc(0.5 * k, 0.5 * value)
    return float(out) if out.ndim == 0 else out
