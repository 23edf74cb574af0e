"""The fake Braze's server leans on werkzeug internals (``testing/_http.py``): they must be there, and the
``testing`` extra must bound werkzeug to the versions they were checked on.

If this fails after a werkzeug upgrade, the message names what is gone: adapt ``_http.py`` to the new
werkzeug (or replace the server) and move the bound in ``pyproject.toml`` and ``SUPPORTED_WERKZEUG``.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from werkzeug import serving

from airflow_braze_schedule.testing import _http

ROOT = Path(__file__).resolve().parents[2]


def test_the_werkzeug_internals_the_server_uses_are_there() -> None:
    missing = _http.missing_werkzeug_internals()
    version = importlib.metadata.version("werkzeug")
    assert missing == [], f"werkzeug {version} no longer has {missing}: testing/_http.py must be adapted"


def test_the_testing_extra_bounds_werkzeug_to_the_supported_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (werkzeug,) = [
        Requirement(line)
        for line in project["optional-dependencies"]["testing"]
        if line.startswith("werkzeug")
    ]
    assert werkzeug.specifier == SpecifierSet(_http.SUPPORTED_WERKZEUG)
    assert any(spec.operator == "<" for spec in werkzeug.specifier), "an upper bound guards the internals"
    assert importlib.metadata.version("werkzeug") in werkzeug.specifier


def test_a_werkzeug_without_them_fails_loudly_naming_what_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Handler(serving.WSGIRequestHandler):
        def __getattr__(self, name: str) -> None:  # a werkzeug that no longer routes do_* to run_wsgi
            return None

    monkeypatch.setattr(serving, "WSGIRequestHandler", type("Stripped", (), {"handle": lambda self: None}))
    monkeypatch.setattr(serving, "make_server", lambda host, port, app: None)

    missing = _http.missing_werkzeug_internals()
    assert "werkzeug.serving.WSGIRequestHandler.make_environ" in missing
    assert "werkzeug.serving.WSGIRequestHandler.run_wsgi" in missing
    assert "werkzeug.serving.make_server(request_handler=...)" in missing
    with pytest.raises(ImportError) as info:
        _http._check_werkzeug()
    message = str(info.value)
    assert f"needs werkzeug{_http.SUPPORTED_WERKZEUG}" in message
    assert "WSGIRequestHandler.make_environ" in message
    assert "pip install 'werkzeug>=3.0,<3.2'" in message

    # A handler whose do_POST no longer reaches run_wsgi is caught too.
    monkeypatch.setattr(serving, "WSGIRequestHandler", Handler)
    assert (
        "werkzeug.serving.WSGIRequestHandler routing do_POST to run_wsgi"
        in _http.missing_werkzeug_internals()
    )
