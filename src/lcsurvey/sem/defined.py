"""Defined parameters (lavaan's `name := expression`): a safe arithmetic evaluator and the delta method.

An expression combines parameter labels, earlier defined parameters and numbers with
+ - * / ^ (or **), unary minus, parentheses and the functions sqrt, exp, log and abs. It is
parsed into a small tree once and evaluated on numbers or numpy arrays (so one evaluation can
cover every bootstrap or Monte Carlo draw); nothing is ever passed to Python's eval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

FUNCTIONS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs}

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_.][\w.]*)|(?P<op>\*\*|[-+*/^()]))"
)


class ExpressionError(ValueError):
    """An expression that cannot be read, or that names something unknown."""


@dataclass(frozen=True)
class Definition:
    """One `name := expression` line: the name, the expression as lavaan prints it, its tree."""

    name: str
    expression: str
    tree: tuple

    @property
    def names(self) -> set[str]:
        """The labels and defined parameters the expression uses."""
        return _names(self.tree)


def parse_expression(text: str) -> tuple:
    """Parse an arithmetic expression into a tree of tuples.

    Grammar (usual precedence, ^ binds tightest and to the right):
    sum := product (('+'|'-') product)*; product := unary (('*'|'/') unary)*;
    unary := '-' unary | '+' unary | power; power := atom ('^' unary)?;
    atom := number | name | name '(' sum ')' | '(' sum ')'.
    """
    tokens = _tokenize(text)
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else (None, None)

    def take(expected=None):
        nonlocal position
        kind, value = peek()
        if kind is None or (expected is not None and value != expected):
            want = f"{expected!r}" if expected else "more"
            raise ExpressionError(
                f"expected {want} at the end of {text!r}"
                if kind is None
                else f"expected {want} before {value!r} in {text!r}"
            )
        position += 1
        return kind, value

    def left_associative(operators, operand):
        """operand (operator operand)*, grouped from the left (a - b - c = (a - b) - c)."""
        node = operand()
        while peek()[1] in operators:
            _, op = take()
            node = (op, node, operand())
        return node

    def sum_():
        return left_associative(("+", "-"), product)

    def product():
        return left_associative(("*", "/"), unary)

    def unary():
        if peek()[1] == "-":
            take()
            return ("neg", unary())
        if peek()[1] == "+":
            take()
            return unary()
        return power()

    def power():
        node = atom()
        if peek()[1] in ("^", "**"):
            take()
            node = ("^", node, unary())
        return node

    def atom():
        kind, value = take()
        if kind == "number":
            return ("num", float(value))
        if kind == "name":
            if peek()[1] == "(":
                if value not in FUNCTIONS:
                    raise ExpressionError(
                        f"unknown function {value!r} in {text!r} "
                        f"(available: {', '.join(FUNCTIONS)})"
                    )
                take("(")
                inner = sum_()
                take(")")
                return ("call", value, inner)
            return ("name", value)
        if value == "(":
            inner = sum_()
            take(")")
            return inner
        raise ExpressionError(f"unexpected {value!r} in {text!r}")

    tree = sum_()
    if position != len(tokens):
        raise ExpressionError(f"unexpected {tokens[position][1]!r} in {text!r}")
    return tree


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:].strip()!r} in {text!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _names(tree: tuple) -> set[str]:
    kind = tree[0]
    if kind == "name":
        return {tree[1]}
    if kind == "num":
        return set()
    if kind == "call":
        return _names(tree[2])
    return set().union(*(_names(child) for child in tree[1:]))


def evaluate(tree: tuple, values: dict):
    """Value of a parsed expression; `values` maps names to numbers or equally shaped arrays."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "name":
        try:
            return values[tree[1]]
        except KeyError:
            raise ExpressionError(f"unknown parameter {tree[1]!r}") from None
    if kind == "neg":
        return -evaluate(tree[1], values)
    if kind == "call":
        return FUNCTIONS[tree[1]](evaluate(tree[2], values))
    left, right = evaluate(tree[1], values), evaluate(tree[2], values)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "+":
            return left + right
        if kind == "-":
            return left - right
        if kind == "*":
            return left * right
        if kind == "/":
            return left / right
        return np.power(left, right)


def parse_definition(lhs: str, rhs: str) -> Definition:
    """A `lhs := rhs` statement; the expression is kept as lavaan prints it (no spaces)."""
    return Definition(name=lhs, expression=re.sub(r"\s+", "", rhs), tree=parse_expression(rhs))


def evaluate_all(definitions: list[Definition], values: dict) -> dict:
    """Values of every defined parameter, in order; a later one may use an earlier one."""
    scope = dict(values)
    out = {}
    for definition in definitions:
        out[definition.name] = scope[definition.name] = evaluate(definition.tree, scope)
    return out


def defined_values(
    definitions: list[Definition], names: list[str], theta: np.ndarray
) -> np.ndarray:
    """Defined parameters at parameter vector(s) theta (last axis in `names` order).

    theta of shape (q,) gives (k,); shape (draws, q) gives (draws, k).
    """
    theta = np.asarray(theta, dtype=float)
    scope = {name: theta[..., i] for i, name in enumerate(names)}
    values = evaluate_all(definitions, scope)
    shape = theta.shape[:-1]
    return (
        np.stack(
            [np.broadcast_to(np.asarray(values[d.name], dtype=float), shape) for d in definitions],
            axis=-1,
        )
        if definitions
        else np.empty(shape + (0,))
    )


def gradient(definitions: list[Definition], names: list[str], theta: np.ndarray) -> np.ndarray:
    """Jacobian d(defined)/d(theta), shape (k, q), by central differences.

    The step is 1e-6 * max(1, |theta_j|); for the polynomial expressions of indirect and total
    effects the error is at rounding level.
    """
    theta = np.asarray(theta, dtype=float)
    q = len(theta)
    steps = 1e-6 * np.maximum(1.0, np.abs(theta))
    points = np.concatenate([theta + np.diag(steps), theta - np.diag(steps)])
    values = defined_values(definitions, names, points)
    return ((values[:q] - values[q:]) / (2 * steps[:, None])).T


def delta_method(
    definitions: list[Definition], names: list[str], theta: np.ndarray, vcov: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and delta-method standard errors of the defined parameters.

    Parameters
    ----------
    definitions : list of Definition
    names : list of str
        Free parameters' names, in the order of theta.
    theta : ndarray
    vcov : ndarray
        Covariance matrix of theta.

    Returns
    -------
    (ndarray, ndarray)
        Estimates and standard errors of the := rows.

    Notes
    -----
    se = sqrt(diag(J V J')) with J the Jacobian of the expressions in the free parameters and V
    their covariance matrix, as lavaan's parameterEstimates() reports for := rows
    (lav_model_vcov_se, the delta method with lav_func_jacobian_complex).
    """
    theta = np.asarray(theta, dtype=float)
    jac = gradient(definitions, names, theta)
    cov = jac @ vcov @ jac.T
    return defined_values(definitions, names, theta), np.sqrt(np.clip(np.diag(cov), 0, None))
