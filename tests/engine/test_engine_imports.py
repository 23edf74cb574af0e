"""The engine is the provider's second layer: it must import without Airflow."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap

import airflow_braze_schedule.engine as engine


def test_the_engine_imports_no_airflow_module():
    modules = [f"airflow_braze_schedule.engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)]
    assert modules, "no engine modules found"
    # A fresh interpreter in which any `import airflow...` fails, importing every engine module.
    script = textwrap.dedent(
        f"""
        import importlib, sys

        class NoAirflow:
            def find_spec(self, name, path=None, target=None):
                if name == "airflow" or name.startswith("airflow."):
                    raise ImportError(f"the engine imported {{name}}")
                return None

        sys.meta_path.insert(0, NoAirflow())
        for module in {modules!r}:
            importlib.import_module(module)
        leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
        assert not leaked, leaked
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
