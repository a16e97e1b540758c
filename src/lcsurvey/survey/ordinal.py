"""Items as ordered categories: which items are ordinal, their categories, and whether the
answers allow a fit by WLSMV (lcsurvey.sem.wlsmv).

An item is ordinal when its codebook scale says ``ordinal: true`` or config
``estimation.ordered`` names it (``all``: every observed variable of a model), as lavaan's
``ordered =``. Its categories are its scale's values (or the whole numbers from min to max);
the engine wants them numbered 1..K, so the answers are recoded by rank.

What the answers must allow, and what lavaan 0.6.14 does otherwise:

- at most 15 categories (``MAX_CATEGORIES``): more is a rating or a count, not an ordered
  rating scale; lavaan itself accepts any number of levels.
- a category nobody chose at all is left out, as lavaan does when it makes an ordered factor
  of a numeric column (its levels are the values found): the item then has one threshold
  fewer, and ``t1`` is the threshold above the lowest category chosen. Extreme categories of
  agreement items are often empty in a wave of a few hundred respondents, so refusing them
  would leave most models unfitted; the log and the status row's detail name the item and the
  category, and the advice to merge it with its neighbour in the codebook.
- in a grouped analysis every category chosen overall must be chosen in each group: lavaan
  stops when a group lacks a category the others have (its thresholds could not be compared).
  Here the model is not estimated and the message names the item, the group, the category
  and what to do.
- empty cells in the bivariate table of two items are allowed. lavaan 0.6.14's default
  ``zero.add = c(0.5, 0)`` adds nothing to the empty cells of a table larger than 2 x 2 (its
  second number), and neither does lcsurvey.sem.polychoric; only a 2 x 2 table (two binary
  items) with one empty cell gets 0.5 in lavaan (keeping the margins), which the engine here
  does not do. The pairs with empty cells are listed in the log (``empty_cell_pairs``, as
  ``lavInspect(fit, "zero.cell.tables")``), since a polychoric correlation from a sparse table
  can be extreme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lcsurvey.errors import InputError
from lcsurvey.sem.estimability import NotEstimated, respondents_needed, status_row
from lcsurvey.sem.polychoric import MAX_CATEGORIES
from lcsurvey.sem.syntax import parse_model
from lcsurvey.sem.twolevel_syntax import is_twolevel, parse_twolevel
from lcsurvey.survey.codebook import Codebook, Scale

# What the analyst can do about a category nobody chose.
COLLAPSE_HINT = (
    "merge it with a neighbouring category (recode the answers in the raw export and give the "
    "scale in the codebook fewer values), or fit the model with estimation.estimator: ml"
)


@dataclass(frozen=True)
class OrdinalItems:
    """The variables fitted as ordered categories, and the categories of each.

    Attributes
    ----------
    categories : dict of str to tuple of float or None
        Item -> its categories in order (None: the values found in the data).
    all : bool
        estimation.ordered is ``all``: every observed variable of a model is ordinal.
    """

    categories: dict[str, tuple[float, ...] | None] = field(default_factory=dict)
    all: bool = False

    def of_model(self, observed: Iterable[str]) -> list[str]:
        """The model's observed variables that are ordinal, in the model's order."""
        return [v for v in observed if self.all or v in self.categories]

    def categories_of(self, item: str) -> tuple[float, ...] | None:
        return self.categories.get(item)

    def lavaan_ordered(self, syntax: str, estimator: str, *, name: str) -> bool | list[str]:
        """lavaan's ``ordered =`` for the measurement part (``=~`` lines) of a model.

        False under estimator ml or when none of its indicators is ordinal (the model is then
        treated as continuous, as rule model does), True when all are, else the ordinal ones.
        """
        if estimator == "ml":
            return False
        factors = parse_model(syntax, name=name).measurement
        indicators = list(dict.fromkeys(v for items in factors.values() for v in items))
        ordinal = self.of_model(indicators)
        if not ordinal:
            return False
        return True if len(ordinal) == len(indicators) else ordinal

    def to_params(self) -> dict[str, Any]:
        """Plain lists and dicts, for a Snakemake rule's params."""
        return {
            "all": self.all,
            "items": {
                item: None if cats is None else list(cats) for item, cats in self.categories.items()
            },
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> OrdinalItems:
        if not params:
            return cls()
        return cls(
            {
                item: None if cats is None else tuple(float(c) for c in cats)
                for item, cats in (params.get("items") or {}).items()
            },
            bool(params.get("all", False)),
        )


def scale_categories(scale: Scale) -> tuple[float, ...] | None:
    """A scale's categories in order: its labelled values, or the whole numbers min..max.

    None when the range has no whole-number steps (the categories are then the values found).
    """
    if scale.labels:
        return tuple(sorted(scale.labels))
    lo, hi = scale.min, scale.max
    if lo is None or hi is None or lo != int(lo) or hi != int(hi):
        return None
    return tuple(float(v) for v in range(int(lo), int(hi) + 1))


def ordinal_items(book: Codebook, ordered: str | list[str] | None) -> OrdinalItems:
    """Items of the codebook's ``ordinal: true`` scales together with estimation.ordered.

    Parameters
    ----------
    book : Codebook
    ordered : "all", list of str or None
        config estimation.ordered.

    Returns
    -------
    OrdinalItems
    """
    names = [n for n, item in book.items.items() if book.scales[item.scale].ordinal]
    every = ordered == "all"
    if every:
        names = list(book.items)
    else:
        names += [n for n in (ordered or []) if n not in names]
    categories: dict[str, tuple[float, ...] | None] = {}
    for name in names:
        variable = book.items.get(name) or book.background.get(name)
        categories[name] = scale_categories(book.scales[variable.scale]) if variable else None
    return OrdinalItems(categories, every)


def declaration_problems(
    book: Codebook,
    estimation: Mapping[str, Any],
    model_variables: Mapping[str, Iterable[str]],
) -> list[str]:
    """What is wrong with the ordinal declarations, one line each (for ``lcsurvey check``).

    Parameters
    ----------
    book : Codebook
    estimation : mapping
        config estimation (estimator, ordered, ordinal_missing).
    model_variables : mapping of str to iterable of str
        Model name -> its observed variables.
    """
    problems = []
    estimator = estimation.get("estimator", "ml")
    ordered = estimation.get("ordered") or []
    known = set(book.items) | set(book.background)
    if ordered != "all":
        for name in ordered:
            if name not in known:
                problems.append(
                    f"field estimation.ordered: {name!r} is not an item or background variable "
                    "of the codebook"
                )
    declared = ordinal_items(book, ordered)
    for name, cats in declared.categories.items():
        variable = book.items.get(name) or book.background.get(name)
        if variable is not None and cats is not None and len(cats) > MAX_CATEGORIES:
            problems.append(
                f"{name} is declared ordinal but its scale {variable.scale!r} has {len(cats)} "
                f"categories (at most {MAX_CATEGORIES}): leave it out of estimation.ordered or "
                "the scale's ordinal: true"
            )
    if estimator != "ml":
        if not declared.all and not declared.categories:
            problems.append(
                f"field estimation.estimator: {estimator} fits ordinal items, but no item is "
                "ordinal: set ordinal: true on a scale of the codebook or list the items in "
                "estimation.ordered (or use estimator ml)"
            )
        elif model_variables and not any(
            declared.of_model(observed) for observed in model_variables.values()
        ):
            problems.append(
                f"field estimation.estimator: {estimator}, but no model has an ordinal item"
            )
    elif ordered:
        problems.append(
            "field estimation.ordered is set but estimation.estimator is ml, which treats "
            "every item as continuous: set estimator wlsmv (or ulsmv), or remove ordered"
        )
    if estimator == "ml" and estimation.get("ordinal_missing", "listwise") != "listwise":
        problems.append(
            f"field estimation.ordinal_missing is {estimation['ordinal_missing']} but "
            "estimation.estimator is ml, whose missing values follow estimation.missing: set "
            "estimator wlsmv (or ulsmv), or remove ordinal_missing"
        )
    return problems


@dataclass(frozen=True)
class Recoded:
    """Ordinal answers numbered 1..K: complete rows (listwise), or every row with an answer
    (pairwise, a missing answer NaN).

    Attributes
    ----------
    data : pandas.DataFrame
        One column per item, category numbers 1..K (float with NaN under pairwise).
    categories : dict of str to tuple of float
        Item -> the codes of its categories 1..K.
    dropped : int
        Rows left out: with a missing answer (listwise), without any answer (pairwise).
    unused : dict of str to tuple of float
        Item -> its declared categories nobody chose (left out, as lavaan does).
    missing : {"listwise", "pairwise"}
    """

    data: pd.DataFrame
    categories: dict[str, tuple[float, ...]]
    dropped: int
    unused: dict[str, tuple[float, ...]] = field(default_factory=dict)
    missing: str = "listwise"

    @property
    def missing_answers(self) -> int:
        """Missing answers among the rows used (0 under listwise)."""
        return int(self.data[list(self.categories)].isna().to_numpy().sum())

    def unused_message(self) -> str:
        """The log's and status row's sentence on categories nobody chose ('' if none)."""
        if not self.unused:
            return ""
        listed = "; ".join(
            f"{item} category {', '.join(f'{c:g}' for c in cats)}"
            for item, cats in self.unused.items()
        )
        return (
            f"categories nobody chose, left out as lavaan does (one threshold fewer): {listed}. "
            f"To keep the categories of every wave and group alike, {COLLAPSE_HINT}"
        )


class OrdinalDataProblem(ValueError):
    """Answers that cannot be fitted as ordered categories; the message says what to do."""


def _group_label(group: str | None, value: object) -> str:
    return f"in group {group} = {value}" if group is not None else "overall"


def recode(
    data: pd.DataFrame,
    items: list[str],
    ordinal: OrdinalItems,
    *,
    group: str | None = None,
    missing: str = "listwise",
) -> Recoded:
    """Number each item's categories 1..K, after checking the answers allow it.

    Parameters
    ----------
    data : pandas.DataFrame
        The cleaned responses (codes of the codebook's scales).
    items : list of str
        The ordinal variables of one model.
    ordinal : OrdinalItems
        Their declared categories.
    group : str, optional
        A grouping column: every category must be chosen in every group as well.
    missing : {"listwise", "pairwise"}
        config estimation.ordinal_missing, as lavaan's ``missing``: keep the rows with an
        answer to every item, or every row with at least one answer (and a group), the
        categories then checked on each item's answers (a threshold is estimated from all
        answers to its item under lavaan's pairwise).

    Raises
    ------
    OrdinalDataProblem
        An item with more than 15 distinct values, a value that is not one of its categories,
        a category chosen by nobody in one group but by somebody in another, or an item with
        one category chosen; every problem is listed.
    """
    if missing not in ("listwise", "pairwise"):
        raise ValueError(f"missing must be listwise or pairwise, not {missing!r}")
    columns = items + ([group] if group is not None else [])
    if missing == "listwise":
        complete = data[columns].dropna()
    else:
        kept = data[items].notna().any(axis=1)
        if group is not None:
            kept &= data[group].notna()
        complete = data.loc[kept, columns]
    answered = "complete rows" if missing == "listwise" else "answers"
    problems: list[str] = []
    categories: dict[str, tuple[float, ...]] = {}
    unused: dict[str, tuple[float, ...]] = {}
    for item in items:
        values = complete[item].dropna().astype(float)
        seen = tuple(sorted(values.unique()))
        declared = ordinal.categories_of(item)
        cats = declared if declared is not None else seen
        if len(cats) > MAX_CATEGORIES:
            problems.append(
                f"item {item} is declared ordinal but has {len(cats)} distinct values (at most "
                f"{MAX_CATEGORIES} ordered categories): treat it as continuous (estimator ml, or "
                "leave it out of estimation.ordered and its scale's ordinal: true)"
            )
            continue
        strays = sorted(set(seen) - set(cats))
        if strays:
            problems.append(
                f"item {item} has the value {strays[0]:g}, which is not one of its categories "
                f"{', '.join(f'{c:g}' for c in cats)}: correct the codebook's scale or the answers"
            )
            continue
        if len(seen) < 2:
            problems.append(
                f"item {item}: "
                + (
                    "every complete row has the same answer"
                    if missing == "listwise"
                    else "every answer is"
                )
                + f" {', '.join(f'{c:g}' for c in seen) or '(none)'}, so it has no thresholds "
                "to estimate: leave it out of the model"
            )
            continue
        chosen = set(seen)
        empty = tuple(c for c in cats if c not in chosen)
        if empty:
            unused[item] = empty
            cats = tuple(c for c in cats if c in chosen)
        if group is not None:
            for value, rows in complete.groupby(group, sort=True)[item]:
                rows = rows.dropna()
                absent = [c for c in cats if c not in set(rows.astype(float))]
                if absent:
                    problems.append(
                        f"item {item}: nobody {_group_label(group, value)} chose category "
                        f"{', '.join(f'{c:g}' for c in absent)} ({len(rows)} {answered})"
                    )
        categories[item] = cats
    if problems:
        if any("nobody" in p for p in problems):
            problems.append(f"for a category nobody chose: {COLLAPSE_HINT}")
        raise OrdinalDataProblem("; ".join(problems))
    recoded = pd.DataFrame(
        {
            item: complete[item].astype(float).map({c: k + 1 for k, c in enumerate(cats)})
            for item, cats in categories.items()
        },
        index=complete.index,
    )
    if missing == "listwise":
        recoded = recoded.astype(int)
    if group is not None:
        recoded[group] = complete[group]
    return Recoded(recoded, categories, len(data) - len(complete), unused, missing)


def empty_cell_pairs(codes: pd.DataFrame, items: list[str]) -> list[tuple[str, str, int, int]]:
    """Pairs of items whose bivariate table has empty cells: (a, b, empty cells, cells).

    ``codes`` holds category numbers 1..K (``Recoded.data``; NaN for a missing answer, the
    table of a pair then counts the rows that answered both).
    """
    values = codes[items].to_numpy(dtype=float)
    observed = ~np.isnan(values)
    values = np.where(observed, values, 1).astype(int)
    levels = np.where(observed, values, 0).max(axis=0)
    out = []
    for j in range(len(items)):
        for i in range(j + 1, len(items)):
            kx, ky = levels[i], levels[j]
            both = observed[:, i] & observed[:, j]
            table = np.bincount((values[both, i] - 1) * ky + values[both, j] - 1, minlength=kx * ky)
            empty = int(np.sum(table == 0))
            if empty:
                out.append((items[i], items[j], empty, int(kx * ky)))
    return out


def empty_cell_message(
    pairs: list[tuple[str, str, int, int]], n_pairs: int, shown: int = 10
) -> str:
    """The log's sentence on empty cells of the bivariate tables, naming the pairs."""
    listed = ", ".join(f"{a} x {b} ({e} of {c} cells)" for a, b, e, c in pairs[:shown])
    binary = [f"{a} x {b}" for a, b, e, c in pairs if c == 4 and e == 1]
    more = f" and {len(pairs) - shown} more" if len(pairs) > shown else ""
    return (
        f"{len(pairs)} of {n_pairs} pairs of ordinal items have empty cells in their bivariate "
        f"table: {listed}{more}. Nothing is added to empty cells, as lavaan 0.6.14 does for "
        "tables larger than 2 x 2 (zero.add = c(0.5, 0)); a polychoric correlation from a "
        "sparse table can be extreme"
        + (
            ". lavaan adds 0.5 to a 2 x 2 table with one empty cell (keeping the margins), this "
            "fit does not: the correlations of " + ", ".join(binary) + " can differ from lavaan's"
            if binary
            else ""
        )
    )


@dataclass
class OrdinalFit:
    """The model rule's tables of a model with ordinal items, its status row and log lines.

    Attributes
    ----------
    tables : dict of str to DataFrame
        estimates, fit, intervals, bootstrap, modindices, method_variance (the last two
        header only; lcsurvey.sem.wlsmv_tables describes the others).
    status : dict
        The status row (lcsurvey.sem.estimability.status_row).
    notes : list of str
        What the log should say: rows used, settings that do not apply, empty cells.
    """

    tables: dict[str, pd.DataFrame]
    status: dict
    notes: list[str]


def route(syntax: str, estimator: str, ordinal: OrdinalItems, *, name: str) -> tuple[str, str]:
    """How rule model fits a model, and why when the estimator does not apply as configured.

    Returns
    -------
    (str, str)
        "ordinal" (fit_ordinal), "ml" (lcsurvey.sem.model), "twolevel" (lcsurvey.sem.twolevel)
        or "not_estimated", and a sentence for the log ('' when there is nothing to say). Under
        estimator wlsmv or ulsmv a model of ordinal variables is fitted as ordered categories;
        one without any (e.g. of scale scores) by ML, as lavaan's WLSMV of continuous
        variables is not offered here; one with continuous variables beside ordinal ones
        (polyserial correlations) and a two-level model with ordinal variables are not
        estimated (lavaan 0.6.14 has no two-level model of ordered categories either).
    """
    twolevel = is_twolevel(syntax)
    if estimator == "ml":
        return ("twolevel" if twolevel else "ml"), ""
    spec = parse_twolevel(syntax, name=name) if twolevel else parse_model(syntax, name=name)
    items = ordinal.of_model(spec.observed)
    label = estimator.upper()
    if twolevel and items:
        return "not_estimated", (
            f"two-level models are fitted by ML only, and {name!r} has ordinal variables "
            f"({', '.join(items)}) under estimation.estimator {estimator}: fit it with estimator "
            "ml, or of scale scores"
        )
    if not items:
        return ("twolevel" if twolevel else "ml"), (
            f"model {name!r} has no ordinal variable: fitted by ML as configured, not {label}"
        )
    continuous, _ = _continuous(spec, items)
    if continuous:
        return "not_estimated", _mixed_message(continuous)
    return "ordinal", ""


def _continuous(spec, items: list[str]) -> tuple[list[str], list[str]]:
    """The model's variables that are not ordinal: indicators of a factor (they would need
    polyserial correlations), and the others, observed covariates (e.g. ``f ~ age``), left to
    the engine as they are (lavaan's ``conditional.x``; the engine names a line it does not
    fit)."""
    indicators = {v for members in spec.measurement.values() for v in members}
    other = [v for v in spec.observed if v not in items]
    return [v for v in other if v in indicators], [v for v in other if v not in indicators]


def _mixed_message(continuous: list[str]) -> str:
    return (
        f"continuous variables ({', '.join(continuous)}) beside ordinal items need polyserial "
        "correlations, which are not fitted here: declare them ordinal, leave them out of the "
        "model, or use estimator ml"
    )


def _engine(estimator: str, missing: str = "listwise"):
    """lcsurvey.sem.wlsmv's fit for `estimator` ("wlsmv" or "ulsmv") and `missing`."""
    from lcsurvey.sem.wlsmv import fit_wlsmv_syntax

    return lambda data, syntax, *, name: fit_wlsmv_syntax(
        data, syntax, name=name, estimator=estimator.upper(), missing=missing
    )


def _rows_note(name, items, covariates, recoded, without, label) -> str:
    """The log's sentence on the rows and answers a fit uses."""
    n = len(recoded.data)
    what = f"{name}: {len(items)} items as ordered categories" + (
        f" and the covariates {', '.join(covariates)}" if covariates else ""
    )
    if recoded.missing == "listwise":
        return (
            f"{what}, fitted by {label} on {n} complete rows ({recoded.dropped + without} rows "
            f"with a missing answer left out, listwise as lavaan's default for {label})"
        )
    answered = recoded.data[items].notna().to_numpy().astype(int)
    rows, cols = np.triu_indices(len(items), 1)
    both = (answered.T @ answered)[rows, cols]  # rows that answered each pair
    fewest = ""
    if len(both):
        k = int(np.argmin(both))
        fewest = f" (fewest: {int(both[k])} rows, {items[rows[k]]} x {items[cols[k]]})"
    return (
        f"{what}, fitted by {label} on {n} rows with at least one answer, pairwise as lavaan's "
        f'missing = "pairwise" (estimation.ordinal_missing): {int(answered.sum())} of '
        f"{answered.size} answers given, {int(answered.all(axis=1).sum())} complete rows; each "
        "threshold from all answers to its item, each polychoric correlation from the rows "
        f"that answered both items{fewest}; {recoded.dropped + without} rows without any answer"
        + (" or covariate" if covariates else "")
        + " left out"
    )


def fit_ordinal(
    responses: pd.DataFrame,
    syntax: str,
    ordinal: OrdinalItems,
    *,
    name: str,
    estimator: str = "wlsmv",
    missing: str = "listwise",
    ordinal_missing: str = "listwise",
    cluster: str | None = None,
    seed: int = 0,
) -> OrdinalFit:
    """Fit one model's ordinal items by WLSMV (or ULSMV) for the model rule.

    Parameters
    ----------
    responses : pandas.DataFrame
        The cleaned responses (codes of the codebook's scales).
    syntax : str
        The model's lavaan syntax.
    ordinal : OrdinalItems
        Which variables are ordinal (``ordinal_items``).
    name : str
        The model's name.
    estimator : {"wlsmv", "ulsmv"}
        config estimation.estimator.
    missing, cluster : str
        config estimation.missing and the active cluster variable (None if none): said in the
        log where they do not apply.
    ordinal_missing : {"listwise", "pairwise"}
        config estimation.ordinal_missing, lavaan's ``missing`` for ordinal items: complete
        rows only, or every answer (``recode``; thresholds from each item's answers,
        correlations from each pair's). Rows without a covariate are left out either way.
    seed : int
        config estimation.seed, for the bootstrap summary.

    Returns
    -------
    OrdinalFit

    Raises
    ------
    NotEstimated
        The model has no ordinal variable, continuous ones beside them, lines the engine does
        not fit, answers that do not allow the fit (``recode``), too few complete rows, or a
        negative residual variance.
    """
    # Imported here: rule files read this module at start-up (ordinal_items), and the fit's
    # tables bring in the ML engine (lcsurvey.sem.model), which is slow to import.
    from lcsurvey.sem.method_variance import empty_table
    from lcsurvey.sem.modindices import MODINDICES_COLUMNS
    from lcsurvey.sem.wlsmv_tables import wlsmv_tables

    spec = parse_model(syntax, name=name)
    observed = list(spec.observed)
    items = ordinal.of_model(observed)
    needed = respondents_needed(len(observed))
    label = estimator.upper()
    if not items:
        raise NotEstimated(
            name,
            "not_supported",
            detail=f"estimation.estimator {estimator} fits ordinal items and none of the "
            f"model's variables is ordinal: give their scale ordinal: true in the codebook, list "
            "them in estimation.ordered, or use estimator ml",
        )
    continuous, covariates = _continuous(spec, items)
    if continuous:
        raise NotEstimated(name, "not_supported", detail=_mixed_message(continuous))
    fitter = _engine(estimator, ordinal_missing)
    without = responses[covariates].isna().any(axis=1)
    responses = responses[~without]  # listwise on the covariates as well
    try:
        recoded = recode(responses, items, ordinal, missing=ordinal_missing)
    except OrdinalDataProblem as err:
        answered = responses[items].notna()
        n = int((answered.all(axis=1) if ordinal_missing == "listwise" else answered.any(axis=1))
                .sum())  # fmt: skip
        raise NotEstimated(name, "ordinal_data", n=n, detail=str(err)) from None
    n = len(recoded.data)
    if n < needed:
        raise NotEstimated(name, "too_few_respondents", n=n, needed=needed)
    notes = [_rows_note(name, items, covariates, recoded, int(without.sum()), label)]
    if missing == "fiml":
        notes.append(
            f"estimation.missing fiml does not apply to {label}: "
            + (
                "complete rows only (estimation.ordinal_missing: pairwise uses every answer)"
                if ordinal_missing == "listwise"
                else "the answers are used pairwise (estimation.ordinal_missing)"
            )
        )
    if cluster is not None:
        notes.append(
            f"estimation.cluster {cluster}: the {label} standard errors treat respondents as "
            "independent (no cluster-robust ordinal fit here)"
        )
    notes.append(
        f"no bootstrap, modification indices or common-method checks for {label}: Wald CIs "
        "from the robust standard errors"
    )
    if recoded.unused:
        notes.append(recoded.unused_message())
    pairs = empty_cell_pairs(recoded.data, items)
    if pairs:
        notes.append(empty_cell_message(pairs, len(items) * (len(items) - 1) // 2))
    data = recoded.data.join(responses.loc[recoded.data.index, covariates].astype(float))
    try:
        fit = fitter(data, syntax, name=name)
    except InputError as err:
        raise NotEstimated(name, "not_supported", n=n, detail=err.message) from None
    except ZeroDivisionError:
        # the engine's scaled test and TLI divide by the degrees of freedom
        raise NotEstimated(
            name,
            "not_supported",
            n=n,
            detail="the model has no degrees of freedom (just identified, e.g. one factor of "
            f"three items) and the {label} fit measures need at least one: add items or "
            "factors to the model, or use estimator ml",
        ) from None
    except (np.linalg.LinAlgError, FloatingPointError) as err:
        raise NotEstimated(name, "no_convergence", n=n, detail=str(err)) from None
    est = fit.estimates
    variances = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"])]
    negative = variances.loc[variances["est"] < 0, "lhs"].tolist()
    if negative:
        raise NotEstimated(
            name, "heywood", n=n, detail=f"negative variance of {', '.join(negative)}"
        )
    tables = wlsmv_tables(fit, estimator=label, seed=seed, missing=ordinal_missing) | {
        "modindices": pd.DataFrame(columns=MODINDICES_COLUMNS),
        "method_variance": empty_table(),
    }
    status = status_row(name, True, n=n, needed=needed, detail=recoded.unused_message())
    return OrdinalFit(tables, status, notes)
