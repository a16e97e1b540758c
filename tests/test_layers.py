"""The package's layers import one way only (README, "Code map").

foundation (errors, digest, schema) < sem < survey < study < report < pipeline: a module may
import lcsurvey modules of its own layer or a lower one, never a higher one. The engine,
lcsurvey.sem, imports nothing from lcsurvey but lcsurvey.errors and itself. The __init__
files of lcsurvey and of its layers import nothing, so that light modules (lcsurvey.sem.syntax,
lcsurvey.study.power_config, lcsurvey.report.render) start without numpy or pandas; a package
inside a layer (lcsurvey.study.simulate) may gather its public names in its __init__.
Imports inside functions count as well: they run too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "src" / "lcsurvey"
FOUNDATION = ("lcsurvey.errors", "lcsurvey.digest", "lcsurvey.schema")
LAYERS = ["foundation", "sem", "survey", "study", "report", "pipeline"]
ENGINE_MAY_IMPORT = ("lcsurvey.errors",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str | None:
    """The layer of an lcsurvey module; None for the top package itself."""
    if module in FOUNDATION or any(module.startswith(f + ".") for f in FOUNDATION):
        return "foundation"
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else "unknown"


def lcsurvey_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import of an lcsurvey module in a file, anywhere in it
    (relative imports resolved; `from lcsurvey.x import y` also as lcsurvey.x.y when y is a
    module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [
                (node.lineno, alias.name)
                for alias in node.names
                if alias.name.split(".")[0] == "lcsurvey"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "lcsurvey":
                continue
            out.append((node.lineno, name))
            for alias in node.names:
                candidate = PACKAGE.parent.joinpath(*f"{name}.{alias.name}".split("."))
                if candidate.with_suffix(".py").exists() or candidate.is_dir():
                    out.append((node.lineno, f"{name}.{alias.name}"))
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_layers_are_known():
    assert MODULES, f"no modules under {PACKAGE}"
    unknown = [module_name(p) for p in MODULES if layer(module_name(p)) == "unknown"]
    assert not unknown, f"modules outside the layers {LAYERS}: {unknown}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_one_way(path):
    """No module imports a module of a higher layer."""
    own = layer(module_name(path))
    if own is None:
        return
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name} ({layer(name)} layer)"
        for line, name in lcsurvey_imports(path)
        if layer(name) is not None and LAYERS.index(layer(name)) > LAYERS.index(own)
    ]
    assert not wrong, (
        f"{module_name(path)} ({own} layer) may import only the layers "
        f"{LAYERS[: LAYERS.index(own) + 1]}:\n" + "\n".join(wrong)
    )


@pytest.mark.parametrize(
    "path", [p for p in MODULES if layer(module_name(p)) == "sem"], ids=lambda p: module_name(p)
)
def test_the_engine_imports_only_itself_and_errors(path):
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for line, name in lcsurvey_imports(path)
        if name not in ENGINE_MAY_IMPORT
        and name != "lcsurvey.sem"
        and not name.startswith("lcsurvey.sem.")
    ]
    assert not wrong, (
        f"{module_name(path)} is part of the engine, which imports nothing from "
        "lcsurvey but lcsurvey.errors and lcsurvey.sem.*:\n" + "\n".join(wrong)
    )


@pytest.mark.parametrize(
    "path",
    [PACKAGE / "__init__.py"] + [PACKAGE / name / "__init__.py" for name in LAYERS[1:]],
    ids=lambda p: module_name(p),
)
def test_package_init_files_import_nothing(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    wrong = [
        f"{path.relative_to(ROOT)}:{node.lineno} imports "
        + (
            node.module or "." * node.level
            if isinstance(node, ast.ImportFrom)
            else ", ".join(a.name for a in node.names)
        )
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    assert not wrong, (
        "package __init__ files import nothing (importing a package must stay "
        "light):\n" + "\n".join(wrong)
    )


def test_the_check_names_the_module_and_the_import(tmp_path, monkeypatch):
    """A higher-layer import is reported with its file, line and the module it imports."""
    fake = tmp_path / "lcsurvey" / "sem" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from lcsurvey.study import power\n")
    monkeypatch.setattr(
        __import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", tmp_path / "lcsurvey"
    )
    assert lcsurvey_imports(fake) == [(2, "lcsurvey.study")]
    assert layer("lcsurvey.study") == "study"
    assert LAYERS.index(layer("lcsurvey.study")) > LAYERS.index(layer("lcsurvey.sem.bad"))
