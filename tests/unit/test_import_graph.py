"""Imports in `incident_core` run one way: no module reaches back into one that imports it, and no module
imports another's private names.

Every module is read as source (nothing is imported), and every import counts: at the top, inside a function
(a lazy import hides a circle without removing it) and under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import incident_core

PACKAGE = "incident_core"
ROOT = Path(incident_core.__file__).parent


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    """The module the import reaches: the submodule for `from package import submodule`."""
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _absolute(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def imports_in(importer: str, source: str) -> Iterator[Import]:
    tree = ast.parse(source)
    for node in ast.walk(tree):  # every node: function bodies and `if TYPE_CHECKING:` blocks too
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield Import(importer, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(importer, node)
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    yield Import(importer, submodule, (), node.lineno)
                else:
                    yield Import(importer, source, (alias.name,), node.lineno)


IMPORTS = [found for importer, path in MODULES.items() for found in imports_in(importer, path.read_text())]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_walk_sees_lazy_type_checking_and_relative_imports_and_finds_circles() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "from . import correlation\n"
        "from .. import errors\n"
        "if TYPE_CHECKING:\n"
        "    from incident_core.models.alert import Alert\n"
        "def f():\n"
        "    from incident_core.usecases.skills import _private\n"
        "    import incident_core.config\n"
    )
    found = {(i.imported, i.names) for i in imports_in("incident_core.usecases.steps", source)}
    assert found == {
        ("incident_core.usecases.correlation", ()),
        ("incident_core.errors", ()),
        ("incident_core.models.alert", ("Alert",)),
        ("incident_core.usecases.skills", ("_private",)),
        ("incident_core.config", ()),
    }
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"a"}, "b": set()}) == [["a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    edges: dict[str, set[str]] = {}
    for found in IMPORTS:
        if found.imported != found.importer:
            edges.setdefault(found.importer, set()).add(found.imported)
    within = [
        f"{found.importer}:{found.line} -> {found.imported}"
        for circle in circles(edges)
        for found in IMPORTS
        if found.importer in circle and found.imported in circle and found.importer != found.imported
    ]
    assert sorted(set(within)) == []


def test_no_module_imports_another_modules_private_names() -> None:
    private = [
        f"{found.importer}:{found.line} imports {name} from {found.imported}"
        for found in IMPORTS
        for name in found.names
        if name.startswith("_") and not name.startswith("__") and found.imported != found.importer
    ]
    assert private == []
