"""The project's modules form a layered graph: no import circles, and apps depend one way only.

``demo → sla → leads → alignment``: alignment imports neither leads nor sla, leads imports neither
sla nor demo, sla does not import demo. ``portal`` is configuration; its URL and view modules may
import the apps. Every ``import`` counts, including those inside functions (a function-level
import hides a circle from Python's import machinery, not from a reader).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "alignment", "leads", "sla", "demo")
# Each app and the apps it must never import.
FORBIDDEN = {
    "alignment": {"leads", "sla", "demo"},
    "leads": {"sla", "demo"},
    "sla": {"demo"},
    "portal": {"alignment", "leads", "sla", "demo"},
}
PORTAL_WIRING = {"portal.urls", "portal.views"}  # configuration that mounts the apps
# Circles that exist today in modules owned elsewhere, each as its sorted list of modules. This list
# only ever shrinks: a new circle fails the test, and a listed one that is gone must be removed.
KNOWN_CYCLES: list[list[str]] = []


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (``a.b.c`` may be a module or a name in ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from sla import figures`` imports the module ``sla.figures``, not just ``sla``.
            names = [f"{prefix}.{alias.name}" for alias in node.names] or [prefix]
        for name in names:
            target = _resolve(name, modules)
            if target and target != module:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def test_the_graph_reads_function_level_imports():
    graph = _graph()
    # sla.handlers imports the tasks inside its receiver; the walker must see that edge.
    assert "sla.tasks" in graph["sla.handlers"]
    assert "sla.tasks" not in graph["sla.services"]  # services return what to queue


def test_no_module_imports_against_the_direction_of_the_apps():
    wrong = []
    for module, targets in _graph().items():
        app = module.split(".")[0]
        if module in PORTAL_WIRING:
            continue
        for target in sorted(targets):
            if target.split(".")[0] in FORBIDDEN.get(app, set()):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_circles_between_modules():
    cycles = _cycles(_graph())
    assert [c for c in cycles if c not in KNOWN_CYCLES] == [], "new import circles"
    assert [c for c in KNOWN_CYCLES if c not in cycles] == [], "circles fixed: remove them from KNOWN_CYCLES"


def test_the_sla_app_has_no_circles_at_all():
    assert [c for c in _cycles(_graph()) if any(m.startswith("sla") for m in c)] == []
