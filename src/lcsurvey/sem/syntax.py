"""lavaan model syntax as the pipeline reads it: measurement relations, labels, := lines.

Kept apart from lcsurvey.sem.model (which needs semopy, scipy and pandas) so that reading a model's
labels costs no heavy imports, e.g. when the workflow checks config.yaml at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lcsurvey.errors import InputError
from lcsurvey.sem.defined import Definition, ExpressionError, parse_definition

_TERM = re.compile(
    r"^\s*(?:(?P<mod>[A-Za-z_.][\w.]*|[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*\*\s*)?"
    r"(?P<var>[A-Za-z_.][\w.]*)\s*$"
)


@dataclass(frozen=True)
class Relation:
    """One term of a model line: ``lhs op rhs`` with its modifier (a label, a fixed value, or
    ``NA`` for "free") and the statement it came from, for messages."""

    lhs: str
    op: str
    rhs: str
    modifier: str | None
    statement: str


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline needs to know about a model beyond what semopy reads."""

    syntax: str
    measurement: dict[str, list[str]]  # latent -> indicators
    labels: dict[tuple[str, str, str], str]  # (lhs, op, rhs) -> label
    observed: list[str]  # observed variables the model uses
    definitions: tuple[Definition, ...] = ()  # `name := expression` lines, in order
    semopy_syntax: str = ""  # the syntax without the := lines (what semopy reads)
    relations: tuple[Relation, ...] = ()  # every term of the =~, ~ and ~~ lines, in order


def read_definition(name: str, lhs: str, rhs: str, statement: str):
    """The ``lhs := rhs`` statement of model `name` as a Definition; InputError naming the
    statement when its expression cannot be read."""
    try:
        return parse_definition(lhs, rhs)
    except ExpressionError as err:
        raise InputError(
            f"cannot read the defined parameter {lhs!r} in model {name!r}: {err}",
            value=statement,
            expected="labels and numbers joined by + - * / ^",
        ) from None


def check_definitions(name: str, known: set, definitions, *, where: str = "") -> None:
    """Each ``:=`` of model `name` defines a new name from labels in `known` (the model's
    labels) or names defined above it; `where` is added to the message (" at either level").
    Raises InputError naming the definition otherwise."""
    known = set(known)
    for definition in definitions:
        if definition.name in known:
            raise InputError(
                f"model {name!r} defines {definition.name!r}, which is already a "
                "label or a defined parameter",
                expected="a new name on the left of :=",
            )
        unknown = sorted(definition.names - known)
        if unknown:
            raise InputError(
                f"the defined parameter {definition.name!r} of model {name!r} uses {unknown}, "
                f"which the model does not label{where}",
                value=f"{definition.name} := {definition.expression}",
                expected="labels given in the model (a*x) or parameters defined above it",
            )
        known.add(definition.name)


def parse_model(syntax: str, *, name: str = "model") -> ModelSpec:
    """Read the parts of lavaan syntax the reports need: measurement relations and labels.

    Lines are `lhs op terms` with op one of =~, ~, ~~; terms are joined by + and may carry a
    label (`a*x`) or a fixed value (`1*x`). `name := expression` defines a parameter from
    labels, earlier defined parameters and numbers (+ - * / ^, parentheses, sqrt exp log abs).
    Comments start with #. A line that is not one of these is an error naming the model and
    the line.
    """
    measurement: dict[str, list[str]] = {}
    labels: dict[tuple[str, str, str], str] = {}
    names: list[str] = []
    definitions: list[Definition] = []
    kept: list[str] = []
    relations: list[Relation] = []
    statements = [
        s.strip()
        for line in syntax.splitlines()
        for s in line.split("#", 1)[0].split(";")
        if s.strip()
    ]
    for number, statement in enumerate(statements, start=1):
        match = re.match(r"^([A-Za-z_.][\w.]*)\s*(=~|~~|~|:=)\s*(.+)$", statement)
        if not match:
            raise InputError(
                f"cannot read statement {number} of model {name!r}",
                value=statement,
                expected="'lhs =~ x1 + x2', 'y ~ a*x' or 'x ~~ y' (lavaan syntax)",
            )
        lhs, op, rhs = match.groups()
        if op == ":=":
            definitions.append(read_definition(name, lhs, rhs, statement))
            continue
        kept.append(statement)
        for term in rhs.split("+"):
            term_match = _TERM.match(term)
            if not term_match:
                raise InputError(
                    f"cannot read the term {term.strip()!r} in model {name!r}",
                    value=statement,
                    expected="a variable, optionally label*variable",
                )
            var, modifier = term_match.group("var"), term_match.group("mod")
            relations.append(Relation(lhs, op, var, modifier, statement))
            if op == "=~":
                measurement.setdefault(lhs, []).append(var)
            if modifier and not _is_number(modifier):
                labels[(lhs, op, var)] = modifier
            names.extend([lhs, var])
    latents = set(measurement)
    observed = list(dict.fromkeys(n for n in names if n not in latents))
    check_definitions(name, set(labels.values()), definitions)
    return ModelSpec(
        syntax=syntax,
        measurement=measurement,
        labels=labels,
        observed=observed,
        definitions=tuple(definitions),
        semopy_syntax="\n".join(kept),
        relations=tuple(relations),
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
