"""The package's shape: its modules import each other without a cycle, and each stays small.

Only module-level ``phitrace.*`` imports count as edges.  An import inside a
function runs when the function is called, after every module has loaded, so it
is the allowed way to break a cycle (and to keep ``import phitrace`` cheap);
imports under ``if TYPE_CHECKING:`` never run and do not count either.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "addon" / "phitrace"
MAX_LINES = 400


def module_name(path: Path) -> str:
    """The dotted name of a module file (a package is named by its ``__init__.py``)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` guards code that only the type checker reads."""
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
    return name == "TYPE_CHECKING"


def top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports that run when the module loads: not in functions, not for type checking."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            pending.extend(node.orelse if is_type_checking(node.test) else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            pending.extend(stmt for handler in node.handlers for stmt in handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            pending.extend(node.body)
    return found


def imported(node: ast.Import | ast.ImportFrom, importer: str, known: set[str]) -> set[str]:
    """The package modules one import statement loads (``from a import b`` may name module b)."""
    if isinstance(node, ast.Import):
        bases = [alias.name for alias in node.names]
        return {base for base in bases if base in known}
    if node.level:
        package = importer if is_package(importer) else importer.rpartition(".")[0]
        anchor = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
        base = f"{anchor}.{node.module}" if node.module else anchor
    else:
        base = node.module or ""
    targets = {f"{base}.{alias.name}" for alias in node.names} & known
    return targets | ({base} & known)


def is_package(name: str) -> bool:
    """Whether the dotted name is a package (its file is an ``__init__.py``)."""
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports at load time."""
    found = modules()
    known = set(found)
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in top_level_imports(tree):
            edges |= imported(node, name, known)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when the graph is acyclic."""
    done: set[str] = set()
    for start in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        on_path = {start}
        while stack:
            node, children = stack[-1]
            if not children:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            child = children.pop()
            if child in on_path:
                return path[path.index(child) :] + [child]
            if child not in done:
                stack.append((child, sorted(graph[child])))
                path.append(child)
                on_path.add(child)
    return []


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_reports_a_cycle_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_function_level_and_type_checking_imports_are_not_edges() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import phitrace.model\n"
        "if TYPE_CHECKING:\n    import phitrace.session\n"
        "def later():\n    import phitrace.analyzer\n"
    )
    known = {"phitrace.model", "phitrace.session", "phitrace.analyzer"}
    edges = set().union(
        *(imported(node, "phitrace.urls", known) for node in top_level_imports(tree))
    )
    assert edges == {"phitrace.model"}


def test_relative_imports_resolve_against_the_importing_package() -> None:
    known = {"phitrace.store", "phitrace.store.rows", "phitrace.model"}
    sibling = ast.parse("from .rows import Record\nfrom ..model import Request\n")
    edges = set().union(*(imported(node, "phitrace.store.reader", known) for node in sibling.body))
    assert edges == {"phitrace.store.rows", "phitrace.model"}


def test_the_graph_holds_every_module_and_its_package_imports() -> None:
    graph = import_graph()
    assert "phitrace.model" in graph["phitrace.analyzer"]
    assert "phitrace.catalogue.matcher" in graph["phitrace.analyzer"]
    assert len(graph) == len(modules())


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()
    }
    offenders = sorted(
        f"{name} ({lines} lines)" for name, lines in sizes.items() if lines > MAX_LINES
    )
    assert not offenders, f"modules over {MAX_LINES} lines: " + ", ".join(offenders)
