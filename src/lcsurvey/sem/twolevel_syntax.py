"""lavaan's two-level model syntax: `level: 1` / `level: 2` blocks and their parameter table.

A two-level model has a within block (`level: 1` or `level: within`) and a between block
(`level: 2` or `level: between`), each in lavaan syntax (=~ ~ ~~ ~1, labels `a*x`, fixed
values `1*x`); `name := expression` lines may stand anywhere and use labels of both levels.
Two parameters with the same label are one parameter, also across levels (equal loadings
within and between). A variable named only in the between block is a cluster-level variable
(constant within each cluster); one named only in the within block has no between part; one
named in both is split into a within and a between part.

The parameter table follows lavaan's defaults for sem() (lav_partable_flat.R): the first
loading of a factor fixed to 1, variances of latent and endogenous observed variables free,
covariances among exogenous latent variables and among the pure dependent variables
(auto.cov.y) free, intercepts of observed variables free on the level that carries their mean
(the within level for within-only variables, the between level otherwise), latent intercepts
0, and the moments of exogenous observed variables fixed (fixed.x = TRUE; their values come
from the unrestricted two-level model, set by lcsurvey.sem.twolevel).

Kept apart from lcsurvey.sem.twolevel (pandas, scipy) so that reading a model costs no heavy
imports, as lcsurvey.sem.syntax for single-level models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lcsurvey.errors import InputError
from lcsurvey.sem.defined import Definition
from lcsurvey.sem.syntax import _is_number, check_definitions, read_definition

LEVEL_NAMES = {"1": 1, "within": 1, "2": 2, "between": 2}
_LEVEL = re.compile(r"^\s*level\s*:\s*(\w+)\s*$", re.IGNORECASE)
_STATEMENT = re.compile(r"^([A-Za-z_.][\w.]*)\s*(=~|~~|~|:=)\s*(.+)$")
_TERM = re.compile(
    r"^\s*(?:(?P<mod>[A-Za-z_.][\w.]*|[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*\*\s*)?"
    r"(?P<var>[A-Za-z_.][\w.]*|1)\s*$"
)


@dataclass(frozen=True)
class Parameter:
    """One row of the parameter table (lavaan's partable): level 1 or 2, lhs op rhs.

    label: the user's label ("" when none); free: estimated; value: the fixed value (None for
    a free parameter, and for an exogenous moment whose value the fit fills in); exogenous:
    a moment of exogenous observed variables (fixed.x).
    """

    level: int
    lhs: str
    op: str
    rhs: str
    label: str = ""
    free: bool = True
    value: float | None = None
    exogenous: bool = False


@dataclass(frozen=True)
class LevelBlock:
    """The variables of one level: observed (in order of appearance) and latent."""

    level: int
    observed: tuple[str, ...]
    latent: tuple[str, ...]
    exogenous: tuple[str, ...]  # observed variables fixed as in lavaan's fixed.x


@dataclass(frozen=True)
class TwoLevelSpec:
    """A parsed two-level model: blocks, the parameter table and the := definitions."""

    syntax: str
    within: LevelBlock
    between: LevelBlock
    parameters: tuple[Parameter, ...]
    definitions: tuple[Definition, ...] = ()
    lines: dict[tuple[int, str], str] = field(default_factory=dict)  # (level, var) -> line

    @property
    def within_only(self) -> list[str]:
        return [v for v in self.within.observed if v not in self.between.observed]

    @property
    def between_only(self) -> list[str]:
        return [v for v in self.between.observed if v not in self.within.observed]

    @property
    def both(self) -> list[str]:
        return [v for v in self.within.observed if v in self.between.observed]

    @property
    def observed(self) -> list[str]:
        """All observed variables: the within level's, then the between-only ones."""
        return list(self.within.observed) + self.between_only


def is_twolevel(syntax: str) -> bool:
    """Whether lavaan syntax has `level:` blocks."""
    return any(_LEVEL.match(line.split("#", 1)[0]) for line in syntax.splitlines())


def level_statements(syntax: str, level: int) -> list[str]:
    """The statements of one level's block, in order, spaces normalised (for messages)."""
    current, found = None, []
    for line in syntax.splitlines():
        text = line.split("#", 1)[0]
        match = _LEVEL.match(text)
        if match:
            current = LEVEL_NAMES.get(match.group(1).lower())
            continue
        for statement in (" ".join(s.split()) for s in text.split(";")):
            if statement and current == level and ":=" not in statement:
                found.append(statement)
    return found


def parse_twolevel(syntax: str, *, name: str = "model") -> TwoLevelSpec:
    """Read a two-level model in lavaan syntax into its parameter table.

    Parameters
    ----------
    syntax : str
        lavaan syntax with a `level: 1` (or `level: within`) and a `level: 2` (or
        `level: between`) block; `:=` lines anywhere.
    name : str
        The model's name, for messages.

    Returns
    -------
    TwoLevelSpec

    Raises
    ------
    InputError
        A statement before the first `level:` line, a level given twice or missing, an
        unreadable statement, or a := line using a name the model does not label.
    """
    blocks: dict[int, list[str]] = {}
    definitions: list[Definition] = []
    current: int | None = None
    for line in syntax.splitlines():
        text = line.split("#", 1)[0]
        level_match = _LEVEL.match(text)
        if level_match:
            key = level_match.group(1).lower()
            if key not in LEVEL_NAMES:
                raise InputError(
                    f"model {name!r} names an unknown level",
                    value=line.strip(),
                    expected="'level: 1' (or 'level: within') and 'level: 2' (or 'level: between')",
                )
            current = LEVEL_NAMES[key]
            if current in blocks:
                raise InputError(
                    f"model {name!r} has the level {key!r} twice",
                    value=line.strip(),
                    expected="one block per level: all within statements under 'level: 1'",
                )
            blocks[current] = []
            continue
        for statement in (s.strip() for s in text.split(";")):
            if not statement:
                continue
            if re.match(r"^[A-Za-z_.][\w.]*\s*:=", statement):
                lhs, rhs = (s.strip() for s in statement.split(":=", 1))
                definitions.append(read_definition(name, lhs, rhs, statement))
                continue
            if current is None:
                raise InputError(
                    f"model {name!r} has a statement before its first 'level:' line",
                    value=statement,
                    expected="'level: 1' above the within statements and 'level: 2' above "
                    "the between statements",
                )
            blocks[current].append(statement)
    for level, key in ((1, "level: 1"), (2, "level: 2")):
        if not blocks.get(level):
            raise InputError(
                f"two-level model {name!r} has no statements under {key!r}",
                expected="a within block ('level: 1') and a between block ('level: 2'), "
                "each with at least one statement",
            )
    statements = {level: [_read(s, name) for s in blocks[level]] for level in (1, 2)}
    levels = {level: _block(level, statements[level]) for level in (1, 2)}
    both = set(levels[1].observed) & set(levels[2].observed)
    parameters: list[Parameter] = []
    for level in (1, 2):
        parameters += _table(level, statements[level], levels[level], both)
    lines = {
        (level, var): " ".join(s.split())
        for level in (1, 2)
        for s in blocks[level]
        for var in re.findall(r"[A-Za-z_.][\w.]*", s)
    }
    _check_definitions(name, parameters, definitions)
    return TwoLevelSpec(
        syntax=syntax,
        within=levels[1],
        between=levels[2],
        parameters=tuple(parameters),
        definitions=tuple(definitions),
        lines=lines,
    )


def _read(statement: str, name: str) -> tuple[str, str, list[tuple[str, str | None]]]:
    """(lhs, op, [(rhs, modifier)]) of one statement; `y ~ 1` is op "~1"."""
    match = _STATEMENT.match(statement)
    if not match:
        raise InputError(
            f"cannot read the statement {statement!r} of model {name!r}",
            value=statement,
            expected="'f =~ x1 + x2', 'y ~ a*x', 'x ~~ y' or 'y ~ 1' (lavaan syntax)",
        )
    lhs, op, rhs = match.groups()
    terms = []
    for term in rhs.split("+"):
        term_match = _TERM.match(term)
        if not term_match:
            raise InputError(
                f"cannot read the term {term.strip()!r} in model {name!r}",
                value=statement,
                expected="a variable, optionally label*variable or value*variable",
            )
        terms.append((term_match.group("var"), term_match.group("mod")))
    if op == "~" and all(var == "1" for var, _ in terms):
        return lhs, "~1", terms
    if any(var == "1" for var, _ in terms):
        raise InputError(
            f"model {name!r} mixes an intercept with other terms",
            value=statement,
            expected="the intercept on a line of its own: 'y ~ 1'",
        )
    return lhs, op, terms


def _block(level: int, statements) -> LevelBlock:
    latent = list(dict.fromkeys(lhs for lhs, op, _ in statements if op == "=~"))
    names: list[str] = []
    for lhs, _op, terms in statements:
        names.append(lhs)
        names += [var for var, _ in terms if var != "1"]
    observed = [n for n in dict.fromkeys(names) if n not in latent]
    indicators = {var for _, op, terms in statements if op == "=~" for var, _ in terms}
    dependent = {lhs for lhs, op, _ in statements if op == "~"}
    predictors = {var for _, op, terms in statements if op == "~" for var, _ in terms}
    exogenous = [
        v for v in observed if v in predictors and v not in dependent and v not in indicators
    ]
    return LevelBlock(level, tuple(observed), tuple(latent), tuple(exogenous))


def _table(level: int, statements, block: LevelBlock, both: set[str]) -> list[Parameter]:
    rows: dict[tuple[str, str, str], Parameter] = {}

    def add(lhs, op, rhs, modifier=None, *, free=True, value=None, exogenous=False):
        if op == "~~" and (rhs, op, lhs) in rows:
            lhs, rhs = rhs, lhs
        label = ""
        if modifier is not None:
            if _is_number(modifier):
                free, value = False, float(modifier)
            else:
                label = modifier
        rows[(lhs, op, rhs)] = Parameter(level, lhs, op, rhs, label, free, value, exogenous)

    for lhs, op, terms in statements:
        for position, (var, modifier) in enumerate(terms):
            if op == "=~" and position == 0 and (modifier is None or not _is_number(modifier)):
                # lavaan's auto.fix.first: the marker's loading is 1 (a label keeps it fixed)
                add(lhs, op, var, None, free=False, value=1.0)
                if modifier is not None:
                    rows[(lhs, op, var)] = Parameter(level, lhs, op, var, modifier, False, 1.0)
            elif op == "~1":
                add(lhs, "~1", "", modifier)
            else:
                add(lhs, op, var, modifier)
    exogenous = set(block.exogenous)
    dependent = {lhs for lhs, op, _ in statements if op == "~"}
    predictors = {var for _, op, terms in statements if op == "~" for var, _ in terms}
    indicators = {var for _, op, terms in statements if op == "=~" for var, _ in terms}
    # variances: latent and non-exogenous observed free; exogenous fixed.x
    for var in block.observed:
        if (var, "~~", var) not in rows:
            add(var, "~~", var, free=var not in exogenous, exogenous=var in exogenous)
    for var in block.latent:
        if (var, "~~", var) not in rows:
            add(var, "~~", var)
    latent_x = [v for v in block.latent if v not in dependent]
    pure_y = [
        v
        for v in list(block.observed) + list(block.latent)
        if v in dependent and v not in predictors and v not in indicators
    ]
    x_list = list(block.exogenous)
    for group, kind in ((latent_x, "free"), (pure_y, "free"), (x_list, "exo")):
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if (a, "~~", b) not in rows and (b, "~~", a) not in rows:
                    add(a, "~~", b, free=kind == "free", exogenous=kind == "exo")
    # intercepts: a both-level variable's mean lives at level 2
    for var in block.observed:
        if (var, "~1", "") in rows:
            continue
        if level == 1 and var in both:
            add(var, "~1", "", free=False, value=0.0)
        else:
            add(var, "~1", "", free=var not in exogenous, exogenous=var in exogenous)
    for var in block.latent:
        if (var, "~1", "") not in rows:
            add(var, "~1", "", free=False, value=0.0)
    return list(rows.values())


def _check_definitions(name: str, parameters: list[Parameter], definitions) -> None:
    known = {p.label for p in parameters if p.label}
    check_definitions(name, known, definitions, where=" at either level")
