"""The codebook: which raw column holds which item, how answers are coded, which items form a construct."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lcsurvey.errors import InputError
from lcsurvey.schema import load_yaml, validate

LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class Scale:
    """A response scale: labelled codes, or a numeric range."""

    name: str
    labels: dict[float, tuple[str, ...]] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    missing: tuple[float, ...] = ()
    # Ordered categories (codebook `ordinal: true`): fitted by WLSMV/ULSMV (survey.ordinal).
    ordinal: bool = False

    @property
    def lowest(self) -> float:
        return min(self.labels) if self.labels else float(self.min)

    @property
    def highest(self) -> float:
        return max(self.labels) if self.labels else float(self.max)

    @property
    def midpoint(self) -> float:
        return (self.lowest + self.highest) / 2

    def label_lookup(self) -> dict[str, float]:
        """Normalised label text (any language) -> code, for answers exported as choice text."""
        lookup = {}
        for code, texts in self.labels.items():
            for text in texts:
                lookup[normalise_label(text)] = code
        return lookup


@dataclass(frozen=True)
class Variable:
    """One raw column mapped to a name (an item, a background variable, a check)."""

    name: str
    column: str
    scale: str
    reverse: bool = False
    wave_columns: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    expected: float | None = None
    label: dict[str, str] = field(default_factory=dict)
    # A background variable a colleague could know (codebook `quasi_identifier`).
    quasi_identifier: bool = False
    # A marker variable of common-method variance (lcsurvey.sem.method_variance.marker_rows).
    marker: bool = False

    def column_in(self, wave: str | None) -> str:
        return self.wave_columns.get(wave, self.column) if wave is not None else self.column


@dataclass(frozen=True)
class Construct:
    name: str
    items: tuple[str, ...]
    min_items: int
    label: dict[str, str]


@dataclass(frozen=True)
class Composite:
    """A construct made of other constructs: the mean of their scores, some parts mirrored."""

    name: str
    parts: tuple[str, ...]
    reverse: tuple[str, ...]
    min_parts: int
    label: dict[str, str]


@dataclass(frozen=True)
class Codebook:
    """The parsed, validated codebook (see data/codebook.yaml for the format)."""

    source: str
    id: str
    person: str | None
    pii: tuple[str, ...]
    scales: dict[str, Scale]
    items: dict[str, Variable]
    background: dict[str, Variable]
    attention_checks: dict[str, Variable]
    constructs: dict[str, Construct]
    meta: dict[str, dict[str, Any]]
    free_text: dict[str, dict[str, Any]]
    composites: dict[str, Composite] = field(default_factory=dict)

    def meta_column(self, role: str, wave: str | None) -> str | None:
        spec = self.meta.get(role)
        if not spec:
            return None
        return spec.get("wave_columns", {}).get(wave, spec["column"])

    def dropped_text_columns(self, wave: str | None) -> list[str]:
        return [
            spec.get("wave_columns", {}).get(wave, spec["column"])
            for spec in self.free_text.values()
            if not spec.get("keep", False)
        ]

    def construct_of(self, item: str) -> str | None:
        for construct in self.constructs.values():
            if item in construct.items:
                return construct.name
        return None

    def construct_scale(self, construct: str) -> Scale:
        return self.scales[self.items[self.constructs[construct].items[0]].scale]


def normalise_label(text: str) -> str:
    """Case-, accent-safe and whitespace-insensitive form of a choice label."""
    return " ".join(str(text).split()).casefold()


def _variables(section: dict[str, Any]) -> dict[str, Variable]:
    return {
        name: Variable(
            name=name,
            column=spec["column"],
            scale=spec["scale"],
            reverse=bool(spec.get("reverse", False)),
            wave_columns=dict(spec.get("wave_columns", {})),
            text=dict(spec.get("text", {})),
            expected=spec.get("expected"),
            label=dict(spec.get("label", {})),
            quasi_identifier=bool(spec.get("quasi_identifier", False)),
            marker=bool(spec.get("marker", False)),
        )
        for name, spec in (section or {}).items()
    }


def load_codebook(path: str | Path, *, check_references: bool = True) -> Codebook:
    """Read and check the codebook: its schema, then the references between its parts.

    check_references False leaves the second check to the caller (`reference_problems`),
    which lists every broken reference rather than stopping.
    """
    source = str(path)
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise InputError("the codebook is empty or not a mapping", file=source)
    consent = (raw.get("meta") or {}).get("consent")
    if isinstance(consent, dict) and True in consent:
        # YAML 1.1 reads an unquoted `yes:` key as the boolean true.
        consent["yes"] = consent.pop(True)
    validate(raw, "codebook", source=source)

    scales = {
        name: Scale(
            name=name,
            labels={float(code): tuple(texts) for code, texts in spec.get("values", {}).items()},
            min=spec.get("min"),
            max=spec.get("max"),
            missing=tuple(float(v) for v in spec.get("missing", [])),
            ordinal=bool(spec.get("ordinal", False)),
        )
        for name, spec in raw["scales"].items()
    }
    items = _variables(raw["items"])
    background = _variables(raw.get("background"))
    checks = _variables(raw.get("attention_checks"))
    constructs = {
        name: Construct(
            name=name,
            items=tuple(spec["items"]),
            min_items=int(spec.get("min_items", len(spec["items"]))),
            label=dict(spec.get("label", {})),
        )
        for name, spec in raw["constructs"].items()
    }
    composites = {
        name: Composite(
            name=name,
            parts=tuple(spec["of"]),
            reverse=tuple(spec.get("reverse", [])),
            min_parts=int(spec.get("min_parts", len(spec["of"]))),
            label=dict(spec.get("label", {})),
        )
        for name, spec in (raw.get("composites") or {}).items()
    }
    book = Codebook(
        source=source,
        id=raw["id"],
        person=raw.get("person"),
        pii=tuple(raw.get("pii", [])),
        scales=scales,
        items=items,
        background=background,
        attention_checks=checks,
        constructs=constructs,
        meta=dict(raw.get("meta", {})),
        free_text=dict(raw.get("free_text", {})),
        composites=composites,
    )
    if check_references:
        _check_references(book)
    return book


def _check_references(book: Codebook) -> None:
    problems = reference_problems(book)
    if problems:
        raise InputError("the codebook is inconsistent: " + "; ".join(problems), file=book.source)


def reference_problems(book: Codebook) -> list[str]:
    """Every reference between the codebook's parts that does not hold, one line each."""
    problems = []
    for section, variables in (
        ("items", book.items),
        ("background", book.background),
        ("attention_checks", book.attention_checks),
    ):
        for var in variables.values():
            if var.scale not in book.scales:
                problems.append(f"field {section}.{var.name}.scale: unknown scale {var.scale!r}")
    consent = book.meta.get("consent") or {}
    if consent.get("scale") and consent["scale"] not in book.scales:
        problems.append(f"field meta.consent.scale: unknown scale {consent['scale']!r}")
    for construct in book.constructs.values():
        for item in construct.items:
            if item not in book.items:
                problems.append(f"field constructs.{construct.name}.items: unknown item {item!r}")
        if construct.min_items > len(construct.items):
            problems.append(
                f"field constructs.{construct.name}.min_items: {construct.min_items} is more "
                f"than its {len(construct.items)} items"
            )
        scales_used = {book.items[i].scale for i in construct.items if i in book.items}
        if len(scales_used) > 1:
            problems.append(
                f"field constructs.{construct.name}.items: items on different scales {sorted(scales_used)}"
            )
    problems += _composite_problems(book)
    columns: dict[str, str] = {}
    for section, variables in (("items", book.items), ("background", book.background)):
        for var in variables.values():
            if var.column in columns:
                problems.append(
                    f"field {section}.{var.name}.column: column {var.column!r} is also used by "
                    f"{columns[var.column]}"
                )
            columns[var.column] = f"{section}.{var.name}"
    pii_clash = set(book.pii) & set(columns)
    if pii_clash:
        problems.append(f"field pii: {sorted(pii_clash)} are also mapped to items or background")
    return problems


def _composite_problems(book: Codebook) -> list[str]:
    """A composite's parts must be constructs on one response scale; reversed parts among them."""
    problems = []
    for composite in book.composites.values():
        where = f"field composites.{composite.name}"
        if composite.name in book.constructs:
            problems.append(
                f"{where}: the name is also a construct; give the composite its own name"
            )
        unknown = [part for part in composite.parts if part not in book.constructs]
        if unknown:
            problems.append(f"{where}.of: unknown construct(s) {unknown}")
        stray = [part for part in composite.reverse if part not in composite.parts]
        if stray:
            problems.append(f"{where}.reverse: {stray} not listed in {composite.name}.of")
        if len(set(composite.parts)) < len(composite.parts):
            problems.append(f"{where}.of: a construct is listed twice")
        if composite.min_parts > len(composite.parts):
            problems.append(
                f"{where}.min_parts: {composite.min_parts} is more than its "
                f"{len(composite.parts)} parts"
            )
        scales_used = {
            book.items[item].scale
            for part in composite.parts
            if part in book.constructs
            for item in book.constructs[part].items
            if item in book.items
        }
        if len(scales_used) > 1:
            problems.append(f"{where}.of: parts on different scales {sorted(scales_used)}")
    return problems
