"""House rules of generator/: imports point down the rooms of ARCHITECTURE.md, never in a circle.

Lazy imports (inside functions) count; imports under ``if TYPE_CHECKING:`` do not (they are
annotations only). A new module must be given a floor here, so that its place is a decision.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "generator"
# Each room's floor: a module may import rooms on its own floor or below, never above.
FLOORS: dict[str, int] = {
    "errors": 0,
    "layout": 0,
    "cache": 0,
    "inputs": 1,
    "engine": 2,
    "verify": 3,
    "output": 3,
    "adopt": 4,
    "components": 4,
    "project": 5,
    "pipeline": 6,
    "commands": 7,
    "cli": 8,
    "__main__": 9,
    "__init__": 9,  # the package's lazy `generate`
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for stmt in branch.body
        for node in ast.walk(stmt)
    }
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and candidate != "generator":
                targets.add(candidate)
    return targets


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_every_room_has_a_floor() -> None:
    rooms = {_room(m) for m in _modules()}
    assert rooms - set(FLOORS) == set(), "give the new room a floor in FLOORS (and ARCHITECTURE.md)"


def test_imports_point_down() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if FLOORS[_room(target)] > FLOORS[_room(source)]
    ]
    assert upward == []


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert circles == []


def test_the_rooms_table_names_every_room() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for room in {_room(m) for m in _modules()} - {"__init__", "__main__"}:
        shown = f"`generator/{room}/`" if (PACKAGE / room).is_dir() else f"`generator/{room}.py`"
        assert shown in text, f"ARCHITECTURE.md does not describe {shown}"
