"""Driving the "Braze schedules" page in headless Chromium, as a person would: shared by its deployment
test (``tests/deployment/test_schedules_page.py``), ``make screenshots`` (``screenshot_schedules.py``) and
the benchmark (``bench/schedules_page.py``).

Uses the DevTools client of ``screenshot_connection_form.py`` (Debian's Chromium, no browser download).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from scripts.deployment.harness import wait_for
from scripts.screenshot_connection_form import DevTools

# The simple auth manager's login form: type into the user name and password boxes, then submit.
_JS_FOCUS = """(() => {
  const inputs = [...document.querySelectorAll('input')];
  const box = %s === 'password' ? inputs.find(i => i.type === 'password')
                                 : inputs.find(i => i.type !== 'password' && i.type !== 'hidden');
  if (!box) return false;
  box.focus();
  return document.activeElement === box;
})()"""
_JS_SUBMIT_CENTRE = """(() => {
  const button = [...document.querySelectorAll('button')].find(b => b.type === 'submit')
    || [...document.querySelectorAll('button')].find(b => /sign in|log ?in/i.test(b.textContent));
  if (!button) return null;
  const box = button.getBoundingClientRect();
  return {x: box.x + box.width / 2, y: box.y + box.height / 2};
})()"""
# True once the page has loaded a page of entries and shows every string of %s.
_JS_TABLE_SHOWS = """(() => document.body.dataset.loaded === 'true'
  && %s.every(s => document.querySelector('#schedules tbody').innerText.includes(s)))()"""
_JS_HISTORY_SHOWS = """(() => !document.getElementById('detail').hidden
  && %s.every(s => document.getElementById('detail').innerText.includes(s)))()"""
_JS_ROW_TEXT = """(() => { const row = document.querySelector(`#schedules tbody tr[data-key="${%s}"]`);
  return row ? row.innerText : null; })()"""
_JS_NOTICES = "document.getElementById('notices').innerText"
# The page inside Airflow's UI (the Browse menu's entry): the frame's resolved address, once its table has
# loaded and shows every string of %s.
_JS_FRAME_SHOWS = """(() => { const frame = document.querySelector('iframe[title="Braze schedules"]');
  const inner = frame && frame.contentDocument;
  if (!inner || !inner.body || inner.body.dataset.loaded !== 'true') return null;
  const table = inner.querySelector('#schedules tbody');
  return table && %s.every(s => table.innerText.includes(s)) ? frame.src : null; })()"""
_JS_CENTRE_OF = """(() => { const node = document.querySelector(%s);
  if (!node) return null; node.scrollIntoView({block: 'center'});
  const box = node.getBoundingClientRect(); return {x: box.x + box.width / 2, y: box.y + box.height / 2}; })()"""


def click_at(page: DevTools, centre: dict[str, float]) -> None:
    for kind in ("mousePressed", "mouseReleased"):
        page.call(
            "Input.dispatchMouseEvent", type=kind, x=centre["x"], y=centre["y"], button="left", clickCount=1
        )


def click(page: DevTools, selector: str, what: str, timeout: float = 30) -> None:
    """Click the element ``selector`` names with the mouse."""
    click_at(
        page, wait_for(what, lambda: page.evaluate(_JS_CENTRE_OF % json.dumps(selector)), timeout=timeout)
    )


def log_in(page: DevTools, airflow_url: str, username: str, password: str) -> None:
    """Open the page while signed out: Airflow sends the browser to its login form; sign in there."""
    page.call("Page.navigate", url=airflow_url + "/braze/")
    for name, value in (("username", username), ("password", password)):
        wait_for(
            f"the login form's {name} box",
            lambda n=name: page.evaluate(_JS_FOCUS % json.dumps(n)),
            timeout=60,
        )
        page.call("Input.insertText", text=value)
    click_at(page, wait_for("the login form's button", lambda: page.evaluate(_JS_SUBMIT_CENTRE), timeout=30))
    wait_for(
        "the UI after login",
        lambda: page.evaluate("document.cookie !== null && location.pathname.indexOf('/login') < 0"),
        timeout=60,
    )


def open_schedules(page: DevTools, airflow_url: str, expected: list[str], query: str = "") -> float:
    """Open the page (``?``-less filters are set through the form) and wait until the table shows every
    string in ``expected``; the seconds from navigation until then."""
    started = time.monotonic()
    page.call("Page.navigate", url=airflow_url + "/braze/" + query)
    wait_for(
        "the schedules table",
        lambda: page.evaluate(_JS_TABLE_SHOWS % json.dumps(expected)),
        timeout=60,
        interval=0.05,
    )
    return time.monotonic() - started


def open_from_menu(page: DevTools, airflow_url: str, expected: list[str]) -> str:
    """Open the page where the UI's Browse menu entry leads (``/plugin/braze-schedules``), wait until the
    frame shows every string in ``expected``, and give the address the frame resolved its entry to."""
    page.call("Page.navigate", url=airflow_url + "/plugin/braze-schedules")
    return str(
        wait_for(
            "the schedules page inside Airflow's UI",
            lambda: page.evaluate(_JS_FRAME_SHOWS % json.dumps(expected)),
            timeout=60,
            interval=0.1,
        )
    )


def filter_scope(page: DevTools, scope: str, expected: list[str]) -> None:
    page.evaluate(
        "document.body.dataset.loaded = 'false';"
        f"document.querySelector('[name=scope]').value = {json.dumps(scope)};"
        "document.getElementById('filters').requestSubmit(); true"
    )
    wait_for("the filtered table", lambda: page.evaluate(_JS_TABLE_SHOWS % json.dumps(expected)), timeout=30)


def open_history(page: DevTools, key: str, expected: list[str]) -> None:
    click(page, f'#schedules tbody tr[data-key="{key}"] a.key', f"the key {key}")
    wait_for(
        f"the history of {key}", lambda: page.evaluate(_JS_HISTORY_SHOWS % json.dumps(expected)), timeout=30
    )


def row_text(page: DevTools, key: str) -> str | None:
    value = page.evaluate(_JS_ROW_TEXT % json.dumps(key))
    return str(value) if value is not None else None


def notices(page: DevTools) -> str:
    return str(page.evaluate(_JS_NOTICES))


def press_cancel(page: DevTools, key: str) -> None:
    """Press the key's Cancel button in the history panel and accept the confirmation."""
    page.evaluate("window.confirm = () => true; true")
    click(page, f'#detail-summary button.cancel[data-key="{key}"]', f"the Cancel button of {key}")


def screenshot(page: DevTools, output: Path) -> None:
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=1, y=1)
    time.sleep(0.5)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
