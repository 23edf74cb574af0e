"""The layers of the developers' guide, read from the imports: no cycle among the operator modules.

Every import counts, a function's too (a cycle through a lazy import is still a cycle of meaning),
except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_braze_schedule

PACKAGE = Path(airflow_braze_schedule.__file__).parent


def _imports(path: Path, prefix: str) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            found.add(node.module[len(prefix) :].split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name[len(prefix) :].split(".")[0] for a in node.names if a.name.startswith(prefix))
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for other in sorted(graph.get(name, ())):
            if state.get(other) == 1:
                return [*path[path.index(other) :], other]
            if other not in state and (found := visit(other)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_operator_modules_import_each_other_without_a_cycle():
    prefix = "airflow_braze_schedule.operators."
    graph = {
        path.stem: _imports(path, prefix) - {path.stem}
        for path in sorted((PACKAGE / "operators").glob("*.py"))
        if path.stem != "__init__"
    }
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_the_engine_imports_no_operator_hook_or_sensor():
    for path in sorted((PACKAGE / "engine").glob("*.py")):
        for layer in ("operators", "hooks", "sensors", "triggers"):
            assert not _imports(path, f"airflow_braze_schedule.{layer}"), (path.name, layer)
