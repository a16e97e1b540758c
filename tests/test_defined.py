"""Defined parameters: the expression evaluator and the delta method."""

from __future__ import annotations

import numpy as np
import pytest

from lcsurvey.errors import InputError
from lcsurvey.sem.defined import (
    ExpressionError,
    defined_values,
    delta_method,
    evaluate,
    gradient,
    parse_definition,
    parse_expression,
)
from lcsurvey.sem.model import parse_model

VALUES = {"a": 2.0, "b": 3.0, "c": 0.5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a*b", 6.0),
        ("c + a*b", 6.5),
        ("a + b*c - 1", 2.5),
        ("(a + b)*c", 2.5),
        ("a/b/c", 2 / 3 / 0.5),
        ("a^b^2", 2.0**9),  # ^ is right-associative, as in R
        ("-a^2", -4.0),  # and binds tighter than unary minus, as in R
        ("a**2", 4.0),
        ("sqrt(a*8) + abs(-c)", 4.5),
        ("exp(log(b))", 3.0),
        ("1.5e1 - .5", 14.5),
        ("(a*b) / (c + a*b)", 6 / 6.5),
    ],
)
def test_expressions_follow_the_usual_precedence(text, expected):
    assert evaluate(parse_expression(text), VALUES) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "a;b",
        "a*",
        "(a + b",
        "a b",
        "open(a)",
        "a[0]",
        "",
    ],
)
def test_anything_but_arithmetic_is_refused(text):
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_unknown_names_are_reported():
    with pytest.raises(ExpressionError, match="unknown parameter 'z'"):
        evaluate(parse_expression("a*z"), VALUES)


def test_definitions_are_printed_as_lavaan_prints_them():
    definition = parse_definition("total", "c + a * b")
    assert definition.expression == "c+a*b"
    assert definition.names == {"a", "b", "c"}


def test_vectorised_values_and_later_definitions_use_earlier_ones():
    definitions = [parse_definition("ind", "a*b"), parse_definition("total", "c + ind")]
    theta = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(
        defined_values(definitions, ["a", "b", "c"], theta), [[2.0, 5.0], [0.25, 0.25]]
    )


def test_delta_method_matches_the_analytic_gradient():
    definitions = [parse_definition("ind", "a*b"), parse_definition("ratio", "a*b/(c + a*b)")]
    theta = np.array([0.4, 0.3, 0.2])
    jac = gradient(definitions, ["a", "b", "c"], theta)
    total = 0.2 + 0.12
    np.testing.assert_allclose(jac[0], [0.3, 0.4, 0.0], atol=1e-9)
    np.testing.assert_allclose(
        jac[1], [0.3 * 0.2 / total**2, 0.4 * 0.2 / total**2, -0.12 / total**2], atol=1e-8
    )
    vcov = np.diag([0.01, 0.02, 0.03])
    est, se = delta_method(definitions, ["a", "b", "c"], theta, vcov)
    assert est[0] == pytest.approx(0.12)
    assert se[0] == pytest.approx(np.sqrt(0.3**2 * 0.01 + 0.4**2 * 0.02))


def test_parse_model_strips_definitions_before_semopy_reads_the_syntax():
    spec = parse_model("m ~ a*x\ny ~ b*m + c*x\nind := a*b  # indirect\ntotal := c + ind")
    assert [d.name for d in spec.definitions] == ["ind", "total"]
    assert ":=" not in spec.semopy_syntax
    assert spec.observed == ["m", "x", "y"]


def test_definitions_naming_unknown_labels_are_an_error():
    with pytest.raises(InputError, match=r"'ind' of model 'med' uses \['d'\]"):
        parse_model("m ~ a*x\ny ~ b*m\nind := a*d", name="med")
    with pytest.raises(InputError, match="already a label"):
        parse_model("m ~ a*x\ny ~ b*m\na := a*b", name="med")
    with pytest.raises(InputError, match="cannot read the defined parameter 'ind'"):
        parse_model("m ~ a*x\ny ~ b*m\nind := a*b)", name="med")
