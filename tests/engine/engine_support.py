"""What the engine's tests share: a stand-in for ``task_state_store``, and importing without Airflow."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any


class DictStore:
    """What ``task_state_store`` is to a chunk ledger: keys and values that outlive a try."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = value


def import_without_airflow(modules: list[str]) -> subprocess.CompletedProcess[str]:
    """Import ``modules`` in a fresh interpreter in which any ``import airflow...`` fails; the process
    fails (its stderr says which import) if one of them imports Airflow."""
    script = textwrap.dedent(
        f"""
        import importlib, sys

        class NoAirflow:
            def find_spec(self, name, path=None, target=None):
                if name == "airflow" or name.startswith("airflow."):
                    raise ImportError(f"imported {{name}}")
                return None

        sys.meta_path.insert(0, NoAirflow())
        for module in {modules!r}:
            importlib.import_module(module)
        leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
        assert not leaked, leaked
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
