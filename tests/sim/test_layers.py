"""The simulator's modules import one way: no cycles, and the venue (money, orders, matching) never the network.

Read from the source with ``ast`` (every import counts: module level, ``TYPE_CHECKING`` and function-local), so a
cycle hidden behind a type-checking import or a late import is caught like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import exchange.bybit.sim

PACKAGE = "exchange.bybit.sim"
SIM_DIR = Path(exchange.bybit.sim.__file__).parent
VENUE = ("venue", "account", "orders", "matching", "funding", "pushes", "records", "wire", "market", "demo_trader")
NETWORK = {"aiohttp", "server", "connection", "public_ws", "private_ws", "rest_common", "rest_market", "rest_private"}


def _imports(path: Path) -> set[str]:
    """Sibling modules and top-level packages imported by one module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found.update(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module.split(".")[3])
            else:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in SIM_DIR.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path from ``start`` back to itself, if there is one."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_simulator_has_no_import_cycle() -> None:
    graph = _graph()
    assert {"server", "venue", "account", "matching", "funding", "wire"} <= set(graph)
    cycles = [cycle for name in sorted(graph) if (cycle := _cycle_from(name, graph))]
    assert cycles == []


def test_the_venue_never_imports_the_network() -> None:
    for name in VENUE:
        reached = _imports(SIM_DIR / f"{name}.py") & NETWORK
        assert reached == set(), f"{name} imports {sorted(reached)}"
