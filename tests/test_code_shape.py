"""The code keeps its shape: short files, short functions, imports that only point down.

Every ``.py`` file under ``cmr/`` is parsed with :mod:`ast` (nothing is imported), and each
test lists all its offenders at once:

* no file over :data:`MAX_FILE_LINES` lines;
* no function or method over :data:`MAX_FUNCTION_LINES` lines (``end_lineno - lineno + 1``
  of its node: the ``def`` line to the last line of its body, decorators excluded);
* no import, at module level or inside a function, of a module in a higher layer than the
  importer's (see :data:`LAYERS`); inside the ground layer the hand model stands on the mesh
  tools, so ``cmr.mesh`` imports nothing from ``cmr.hand``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "cmr"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Layers from the bottom up: a module may import from its own layer or a lower one.
LAYERS = (
    ("ground", ("cmr", "cmr.hand", "cmr.mesh", "cmr.geometry", "cmr.render", "cmr.registration",
                "cmr.detection", "cmr.config", "cmr.fileio")),
    ("learning", ("cmr.data", "cmr.models", "cmr.fitting")),
    ("reporting", ("cmr.vis", "cmr.evaluation")),
    ("applications", ("cmr.engine", "cmr.tools", "cmr.bench", "cmr.cli", "cmr.__main__")),
)
#: Narrower rules inside a layer: importer package -> (imported package, the only modules allowed).
RESTRICTED = {"cmr.mesh": ("cmr.hand", ())}


def _within(module: str, package: str) -> bool:
    """Whether ``module`` is ``package`` or inside it; ``cmr`` alone means only its ``__init__``."""
    return module == package or (package != "cmr" and module.startswith(package + "."))


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of a ``cmr`` module (its longest listed prefix); None if unlisted."""
    best, best_length = None, -1
    for index, (_, packages) in enumerate(LAYERS):
        for package in packages:
            if _within(module, package) and len(package) > best_length:
                best, best_length = index, len(package)
    return best


def module_name(path: Path) -> str:
    """Dotted name of a file under ``cmr/`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    """Whether the dotted ``cmr`` name is a module or package on disk (not an attribute)."""
    relative = PACKAGE_ROOT.parent.joinpath(*name.split("."))
    return relative.with_suffix(".py").is_file() or (relative / "__init__.py").is_file()


def imported_modules(tree: ast.AST, importer: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every ``cmr`` import in ``tree``, relative imports resolved.

    ``from package import name`` counts as importing ``package.name`` when that is a module.
    """
    found = []
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parent = node.module or ""
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                parent = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                child = f"{parent}.{alias.name}"
                found.append((node.lineno, child if _is_module(child) else parent))
    return sorted({(line, module) for line, module in found if module == "cmr" or module.startswith("cmr.")})


def import_violations(tree: ast.AST, importer: str, is_package: bool) -> list[str]:
    """Why each of ``importer``'s imports breaks the layering (empty when none does)."""
    own = layer_of(importer)
    if own is None:
        return [f"{importer} is in no layer of tests/test_code_shape.py's LAYERS"]
    problems = []
    for line, module in imported_modules(tree, importer, is_package):
        target = layer_of(module)
        if target is None:
            problems.append(f"line {line}: imports {module}, which is in no layer")
        elif target > own:
            problems.append(f"line {line}: imports {module} ({LAYERS[target][0]}) from the {LAYERS[own][0]} layer")
        for package, (restricted, allowed) in RESTRICTED.items():
            if _within(importer, package) and _within(module, restricted) \
                    and not any(_within(module, name) for name in allowed):
                problems.append(f"line {line}: {package} may import from {restricted} only "
                                f"{', '.join(allowed) or 'nothing'}, not {module}")
    return problems


def long_functions(tree: ast.AST) -> list[str]:
    """'name (line L): N lines' of every function or method over :data:`MAX_FUNCTION_LINES`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name} (line {node.lineno}): {length} lines")
    return found


@functools.lru_cache(maxsize=1)
def sources() -> tuple[tuple[Path, str, ast.AST], ...]:
    """(path, text, parsed tree) of every ``.py`` file under ``cmr/``, sorted by path."""
    texts = [(path, path.read_text(encoding="utf-8")) for path in sorted(PACKAGE_ROOT.rglob("*.py"))]
    return tuple((path, text, ast.parse(text, str(path))) for path, text in texts)


def _report(offenders: list[str], rule: str) -> str:
    return f"{len(offenders)} offender(s) of '{rule}':\n  " + "\n  ".join(offenders)


def test_no_file_over_the_line_limit():
    offenders = [f"{path.relative_to(PACKAGE_ROOT.parent)}: {len(text.splitlines())} lines"
                 for path, text, _ in sources() if len(text.splitlines()) > MAX_FILE_LINES]
    assert not offenders, _report(offenders, f"at most {MAX_FILE_LINES} lines per file")


def test_no_function_over_the_line_limit():
    offenders = [f"{path.relative_to(PACKAGE_ROOT.parent)}: {entry}"
                 for path, _, tree in sources() for entry in long_functions(tree)]
    assert not offenders, _report(offenders, f"at most {MAX_FUNCTION_LINES} lines per function")


def test_imports_point_down_the_layers():
    offenders = [f"{path.relative_to(PACKAGE_ROOT.parent)}: {entry}" for path, _, tree in sources()
                 for entry in import_violations(tree, module_name(path), path.name == "__init__.py")]
    assert not offenders, _report(offenders, "imports point to the same layer or lower")


def test_the_checks_catch_what_they_should():
    source = (
        "from cmr.engine.train import train\n"
        "from cmr.hand import HandModel\n"
        "from . import closest_point\n"
        "def f():\n    from cmr.vis import plot\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    )
    tree = ast.parse(source)
    problems = import_violations(tree, "cmr.mesh.example", is_package=False)
    assert any("cmr.engine.train" in p and "applications" in p for p in problems)
    assert any("cmr.vis.plot" in p and "line 5" in p for p in problems)  # inside a function
    assert any("only nothing, not cmr.hand" in p for p in problems)
    assert not any("closest_point" in p for p in problems)  # same package, resolved
    assert (3, "cmr.mesh.closest_point") in imported_modules(tree, "cmr.mesh.example", False)
    assert long_functions(tree) == [f"f (line 4): {MAX_FUNCTION_LINES + 2} lines"]
    assert import_violations(ast.parse("from cmr.mesh.topology import unique_edges"), "cmr.hand.x", False) == []
    assert layer_of("cmr") == 0 and layer_of("cmr.tools.synth") == 3 and layer_of("cmr.other") is None
