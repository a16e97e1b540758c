"""The engine's one optimiser: Newton-type ascent with step halving (an Armijo line search).

Every fit of the engine maximises a smooth function by the same loop: at the current point a
direction gives a step (Newton with the analytic Hessian, Fisher scoring with the expected
information, or a mix); the step is halved until the function rises by at least a small share
of what the step's slope predicts (Armijo's condition, Nocedal & Wright 2006, section 3.1);
the fit has converged when the predicted rise g' step (half the Newton decrement, up to the
scale of the function) falls below a tolerance. lavaan's own optimiser is nlminb
(quasi-Newton) on its discrepancy function; the Newton steps here converge in a few
iterations to the same estimates and leave the Hessian at the optimum for the standard
errors.

Users: the FIML fit (lcsurvey.sem.fiml: the unrestricted H1 moments, the Fisher-scoring start
and the Newton iterations), the multi-group fit (lcsurvey.sem.invariance.fit_level), the
bootstrap's ML refits (lcsurvey.sem.bootstrap.MlJob through ml_start) and the power
analysis' refits (lcsurvey.study.power_fit.SemFitter). A minimisation (an ML discrepancy F) is
the ascent of -F. The bootstrap's batched BFGS (bootstrap.QuasiNewtonJob) iterates a whole
chunk of draws at once and stays separate (see its docstring).

References: Nocedal, J. & Wright, S. J. (2006). Numerical Optimization (2nd ed.), Springer:
algorithm 3.1 (backtracking line search), section 3.4 (modified Newton: a damped Hessian where
it is not positive definite).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg

# Armijo's constant: a step is taken when the function rises by this share of the slope.
ARMIJO = 1e-4


@dataclass
class Ascent:
    """Where an ascent stopped.

    x: the last accepted point; value and state: the objective there (state is what the
    objective returned beside the value); converged: the predicted rise fell below the
    tolerance; iterations: directions computed; last: what the direction returned beside the
    step at x (say the Hessian there), or None when the last direction was computed at an
    earlier point.
    """

    x: np.ndarray
    value: float
    state: Any
    converged: bool
    iterations: int
    last: Any = None


def ascend(
    objective: Callable[[np.ndarray], tuple[float, Any]],
    direction: Callable[[np.ndarray, Any], tuple[np.ndarray | None, float, Any]],
    x: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    value: float | None = None,
    state: Any = None,
    scale: float = 1.0,
    min_size: float = 1e-10,
    final_step: bool = False,
    stalled: float | None = None,
) -> Ascent:
    """Maximise `objective` from x by steps from `direction`, each halved until it rises enough.

    Parameters
    ----------
    objective : callable
        objective(x) -> (value, state); value -inf where x is outside the domain (say a
        covariance matrix that is not positive definite).
    direction : callable
        direction(x, state) -> (step, slope, extra): the step, its slope g' step (the rise a
        linear model predicts) and anything to keep (returned as Ascent.last when the fit
        stops at x). step None: no direction can be found (stop, not converged).
    x : ndarray
        Starting point.
    tol : float
        Converged when scale * slope < tol.
    max_iter : int
        Most directions computed.
    value, state : optional
        objective(x) when the caller has it already.
    scale : float
        Multiplies the slope in the convergence test (say n / 4 for a discrepancy F whose
        log-likelihood is -n/2 F, so that the test is on the log-likelihood's scale).
    min_size : float
        The smallest step size tried: a step halved below it ends the ascent (not converged).
    final_step : bool
        Take (with its line search) the step that showed convergence before stopping.
    stalled : float, optional
        When the line search fails, count the fit converged if the slope is below this.

    Returns
    -------
    Ascent

    Notes
    -----
    The step x + t d is taken for the largest t in 1, 1/2, 1/4, ... above min_size with
    f(x + t d) >= f(x) + 1e-4 t g'd (Armijo). With a Newton direction, g'd is the Newton
    decrement and the ascent converges quadratically near the maximum.

    References
    ----------
    Nocedal & Wright (2006), algorithm 3.1. lavaan optimises with nlminb (lav_model_estimate).
    """
    x = np.asarray(x, dtype=float)
    if value is None:
        value, state = objective(x)
    converged = False
    iterations = 0
    last = None
    for iterations in range(1, max_iter + 1):  # noqa: B007
        step, slope, last = direction(x, state)
        if step is None or not np.isfinite(slope):
            break
        small = scale * slope < tol
        if small and not final_step:
            converged = True
            break
        size = 1.0
        while size > min_size:
            new_value, new_state = objective(x + size * step)
            if new_value >= value + ARMIJO * size * slope:
                break
            size /= 2
        else:
            converged = stalled is not None and slope < stalled
            break
        x = x + size * step
        value, state, last = new_value, new_state, None
        if small:
            converged = True
            break
    return Ascent(
        x=x, value=value, state=state, converged=converged, iterations=iterations, last=last
    )


def damped_newton_step(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Newton step -H^-1 g for maximising; Levenberg-damped where -H is not positive definite.

    Parameters
    ----------
    hess : ndarray
        Hessian of the function maximised.
    grad : ndarray
        Its gradient.

    Returns
    -------
    ndarray
        (-H + lambda I)^-1 g on the scale where -H has a unit diagonal, with lambda the
        smallest of 0, 1e-6, 2e-6, 4e-6, ... that makes the matrix positive definite.

    References
    ----------
    Nocedal & Wright (2006), section 3.4 (modified Newton); Levenberg (1944).
    """
    info = -hess
    scale = np.sqrt(np.abs(np.diag(info))) + 1e-12
    scaled = info / np.outer(scale, scale)
    damping = 0.0
    eye = np.eye(len(grad))
    while True:
        try:
            chol = np.linalg.cholesky(scaled + damping * eye)
            break
        except np.linalg.LinAlgError:
            damping = max(2 * damping, 1e-6)
    z = linalg.cho_solve((chol, True), grad / scale, check_finite=False)
    return z / scale


def solve_pd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """matrix^-1 rhs by Cholesky; None when the matrix is not positive definite.

    Parameters
    ----------
    matrix : ndarray
        Symmetric (information) matrix.
    rhs : ndarray
        Right-hand side (a gradient).

    Returns
    -------
    ndarray or None
    """
    try:
        chol = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))
