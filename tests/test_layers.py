"""The folder tree is the architecture: imports only point down, and no module cycles.

Layers, lowest first (docs/architecture.md): the base modules (errors, codes, uids), core/ (sans-IO),
dcmtk/ (how DCMTK words things), files/ (pydicom and disk), net/ (asyncio), cli/ (the DCMTK-style
command line), the services the tools are made of (store/, move/, scp/), tools/ (the mains), and
the package's own entry points.  A module may import from its own layer's package and from any
layer below it; every import is read from the source, function-level ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dimse

PACKAGE = Path(dimse.__file__).parent

#: rank of each top-level name of the package (a module or a sub-package)
LAYERS: dict[str, int] = {
    "errors": 0,
    "codes": 0,
    "uids": 0,
    "_version": 0,
    "core": 1,
    "dcmtk": 2,
    "files": 3,
    "net": 4,
    "cli": 5,
    "store": 6,
    "move": 6,
    "find": 6,
    "get": 6,
    "scp": 6,
    "tools": 7,
    "__init__": 8,
    "__main__": 8,
    "launch": 8,
    "_usage": 0,
}
#: old module paths kept as re-exports of their new place (README documents them)
SHIMS = {"connection", "events", "pdu", "storage", "datasets"}


def _unit(path: Path) -> str:
    """The top-level name (module or sub-package) ``path`` belongs to."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Top-level package names imported by ``path`` (``from .. import x`` names ``x``)."""
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(PACKAGE)
    depth = len(rel.parts) - 1  # folders between the package and the module
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and (node.module == "dimse" or node.module.startswith("dimse.")):
                    parts = node.module.split(".")[1:]
                    found |= {parts[0]} if parts else {a.name for a in node.names}
                continue
            up = node.level - 1  # how many folders up from the module's own folder
            base = list(rel.parts[: depth - up]) if up <= depth else None
            assert base is not None, f"{rel}: relative import above the package"
            target = [*base, *(node.module.split(".") if node.module else [])]
            if target:
                found.add(target[0].removesuffix(".py"))
            else:
                found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dimse."):
                    found.add(alias.name.split(".")[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_is_in_a_layer():
    units = {_unit(p) for p in _modules()} - SHIMS
    assert units <= set(LAYERS), f"modules without a layer: {sorted(units - set(LAYERS))}"


def test_imports_only_point_down():
    upward = []
    for path in _modules():
        unit = _unit(path)
        if unit in SHIMS:
            continue
        for target in _imports(path) - {unit}:
            assert target in LAYERS or target in SHIMS, f"{path.relative_to(PACKAGE)} imports unknown {target}"
            if target in SHIMS or LAYERS[target] > LAYERS[unit] or (LAYERS[target] == LAYERS[unit] not in (0, 6)):
                upward.append(f"{path.relative_to(PACKAGE)} -> {target}")
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["dimse", *parts])


def _module_imports(path: Path, known: set[str]) -> set[str]:
    """Full module names of the package that ``path`` imports (top-level imports only: a
    function-level import is how a cycle is broken on purpose, the layer test still sees it)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path).split(".") if path.name == "__init__.py" else _module_name(path).split(".")[:-1]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [f"{target}.{a.name}" for a in node.names]
            found |= {n for n in names if n in known} or ({target} if target in known else set())
            if target in known:
                found.add(target)
    return found


def test_no_import_cycles_between_modules():
    paths = {_module_name(p): p for p in _modules()}
    graph = {name: _module_imports(path, set(paths)) - {name} for name, path in paths.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # a package importing its own modules (its __init__ re-exporting them) is not a cycle
    cycles = [c for c in cycles if not any(c.startswith(p + " ->") and p + "." in c for p in paths)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
