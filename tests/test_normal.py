"""lcsurvey.sem.normal against scipy.special, and chi2_sf against mpmath where scipy rounds."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from lcsurvey.sem import normal

EPS = np.finfo(float).eps


def _relative(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(got - ref) / np.abs(ref)


def test_ndtr_matches_scipy_on_the_whole_range():
    x = np.concatenate([np.linspace(-38.0, 38.0, 76001), [-0.7071067811865476, 0.7071, 1.0, 8.0]])
    ref = special.ndtr(x)
    got = normal.ndtr(x)
    shown = ref > 1e-300
    assert _relative(got[shown], ref[shown]).max() < 1e-14
    # Below about -37.5 both underflow; the values left are subnormal at most.
    assert np.all(got[~shown] <= 1e-300)
    assert normal.ndtr(np.inf) == 1.0 and normal.ndtr(-np.inf) == 0.0
    assert np.isnan(normal.ndtr(np.nan))
    assert isinstance(normal.ndtr(0.3), float) and normal.ndtr(0.0) == 0.5


def test_ndtri_matches_scipy_from_1e300_to_one():
    p = np.concatenate(
        [
            np.logspace(-300, -1, 30001),
            np.linspace(0.01, 0.99, 20001),
            1.0 - np.logspace(-16, -1, 15001),
            [np.exp(-2.0), 1.0 - np.exp(-2.0), 0.975],
        ]
    )
    ref = special.ndtri(p)
    got = normal.ndtri(p)
    nonzero = ref != 0.0
    assert _relative(got[nonzero], ref[nonzero]).max() < 1e-14
    assert np.all(got[~nonzero] == 0.0)
    edges = normal.ndtri(np.array([0.0, 1.0, -0.5, 1.5, np.nan]))
    np.testing.assert_array_equal(edges, special.ndtri([0.0, 1.0, -0.5, 1.5, np.nan]))
    assert normal.ndtri(normal.ndtr(1.959963984540054)) == pytest.approx(1.959963984540054, 1e-15)


def _scipy_rounding(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Relative rounding error scipy's chdtrc carries in a ln x - x - ln Gamma(a).

    Outside |x - a| <= 0.4 a, Cephes' igamc exponentiates that sum of terms of up to 1e4 for
    the largest df, so its result can be off by eps times the terms' size (about 2e-12 here);
    mpmath (test below) shows lcsurvey's values are the accurate ones there.
    """
    log_gamma = np.vectorize(math.lgamma)(a)
    size = a * np.abs(np.log(x)) + x + log_gamma
    return np.where(np.abs(x - a) > 0.4 * a, 4.0 * EPS * size, 0.0)


def test_chi2_sf_matches_scipy_for_df_up_to_2000():
    df = np.arange(1.0, 2001.0)
    x = np.concatenate([np.linspace(1e4 / 40, 1e4, 40), np.logspace(-10, 4, 21), [1.0, 3.84]])
    d, s = np.meshgrid(df, x, indexing="ij")
    ref = special.chdtrc(d, s)
    got = normal.chi2_sf(s, d)
    shown = ref > 1e-300
    # exp() of an exponent of size |ln Q| is exact only to about 2 eps |ln Q| in each
    # implementation, and scipy's chdtrc itself is off by up to 2.6e-14 for small df near the
    # mean (chdtrc(1, 2): mpmath, below, agrees with lcsurvey to 1.3e-15): 5e-14 for p-values
    # near 1, the far tail proportionally more.
    tolerance = 5e-14 + 4.0 * EPS * np.abs(np.log(ref[shown]))
    tolerance += _scipy_rounding(d[shown] / 2, s[shown] / 2)
    excess = _relative(got[shown], ref[shown]) / tolerance
    assert excess.max() < 1.0
    assert got[~shown].max() <= 1e-290


def test_chi2_sf_against_mpmath():
    import mpmath  # in the lock file (through sympy); a missing one must fail, not skip

    mpmath.mp.dps = 40
    rng = np.random.default_rng(18)
    df = np.concatenate([rng.integers(1, 2001, 150), [1, 1, 1, 2, 3, 5, 10, 10]]).astype(float)
    x = np.concatenate([df[:150] * rng.uniform(0.0, 3.0, 150), [1.0, 2.0, 0.3, 1.0, 1.0, 3, 5, 40]])
    for k, value in zip(df, x, strict=True):
        exact = mpmath.gammainc(k / 2, value / 2, mpmath.inf, regularized=True)
        if exact < 1e-300:
            continue
        got = normal.chi2_sf(value, k)
        error = abs(mpmath.mpf(got) - exact) / exact
        # 1e-14 near the mean; in the tail, the rounding of the exponent (2 eps |ln Q|).
        assert error < 1e-14 + 4.0 * EPS * abs(float(mpmath.log(exact))), (k, value)


def test_chi2_sf_edges_and_broadcasting_as_scipy():
    x = np.array([0.0, 0.0, 3.0, -1.0, np.nan, 2.0, np.inf])
    df = np.array([1.0, 0.0, 0.0, 2.0, 2.0, np.nan, 3.0])
    np.testing.assert_array_equal(normal.chi2_sf(x, df), special.chdtrc(df, x))
    assert normal.chi2_sf(2.0, 2.0) == pytest.approx(math.exp(-1.0), rel=1e-15)
    assert normal.chi2_sf([1.0, 4.0], 1.0).shape == (2,)
    assert isinstance(normal.chi2_sf(1.0, 3), float)


def test_the_wlsmv_engine_loads_without_scipy():
    # Importing scipy.special costs a WLSMV process about a quarter of its run time.
    code = "import sys, lcsurvey.sem.wlsmv; print(any(m.startswith('scipy') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
