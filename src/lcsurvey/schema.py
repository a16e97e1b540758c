"""Validate config.yaml and the codebook against their JSON Schemas, with readable messages."""

from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path
from typing import Any

# jsonschema checks the "iri" formats with rfc3987_syntax when that is installed (JupyterLab's
# server brings it in), and importing rfc3987_syntax builds a grammar for about a second in
# every process that validates. The project's schemas use no IRI format, so its processes (the
# workflow's start, every job) do without it; a Jupyter server is a process of its own.
sys.modules.setdefault("rfc3987_syntax", None)

import jsonschema  # noqa: E402  (after the line above)
import yaml  # noqa: E402

from lcsurvey.errors import InputError  # noqa: E402

# libyaml's parser where PyYAML has it: the same documents, read many times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file, turning a missing file or a syntax error into an InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path), hint="Check the path in config.yaml")
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path), row=row
        ) from None


def _field(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def schema_problems(document: Any, schema_name: str) -> list[str]:
    """Every violation of workflow/schemas/<schema_name>.schema.yaml, one line each.

    Each line names the field (dotted path), the schema's complaint with the value found, and
    the field's description where the schema has one.
    """
    schema = load_yaml(SCHEMA_DIR / f"{schema_name}.schema.yaml")
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    lines = []
    for error in errors:
        field = _field(error.absolute_path)
        expected = error.schema.get("description") if isinstance(error.schema, dict) else None
        text = f"field {field}: {error.message}"
        if expected and error.validator not in ("additionalProperties", "required"):
            text += f" ({expected})"
        lines.append(text)
    return lines


def validate(document: Any, schema_name: str, *, source: str) -> None:
    """Check `document` against workflow/schemas/<schema_name>.schema.yaml.

    All violations are reported at once, each naming the field (dotted path), the value found
    and what the schema expects, so a wrong config can be fixed in one go.
    """
    problems = schema_problems(document, schema_name)
    if not problems:
        return
    lines = problems[:20]
    more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
    raise InputError(
        f"does not match its schema workflow/schemas/{schema_name}.schema.yaml: "
        + "; ".join(lines)
        + more,
        file=source,
    )


@functools.lru_cache
def _filled_defaults(schema_name: str) -> Any:
    return with_defaults({}, schema_name)


def with_defaults(document: Any, schema_name: str) -> Any:
    """A copy of `document` with the schema's defaults filled in, as Snakemake's
    ``validate(config, schema, set_default=True)`` fills them (no error is raised here)."""
    schema = load_yaml(SCHEMA_DIR / f"{schema_name}.schema.yaml")
    document = copy.deepcopy(document)
    # Snakemake's validate(config, schema) fills defaults this way (its set_default, after the
    # jsonschema FAQ): a property's default is set before the property is validated, so the
    # defaults of an object whose own default is {} are filled in too.
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    filling = jsonschema.validators.extend(base, {"properties": set_defaults})
    for _ in filling(schema).iter_errors(document):
        pass  # a document may lack required fields here; only the defaults are wanted
    return document


def defaults(schema_name: str) -> Any:
    """The defaults of workflow/schemas/<schema_name>.schema.yaml as one document.

    What Snakemake's ``validate(config, schema)`` fills into a config that sets nothing (nested
    objects with ``default: {}`` get their properties' defaults). For code called outside the
    workflow: ``defaults("config")["roles"]`` are the bundled study's roles. A fresh copy on
    every call.
    """
    return copy.deepcopy(_filled_defaults(schema_name))
