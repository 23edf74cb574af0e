"""`make screenshots`: the lifecycle example as Airflow's UI shows it, saved into ``docs/``.

Starts a local Airflow (the ``make airflow`` harness: its components as separate processes, SQLite,
LocalExecutor, login switched off with ``simple_auth_manager_all_admins`` since only this machine can
reach it) with a fake Braze, triggers ``braze_schedule_lifecycle`` through the REST API without a logical
date, waits for the run to succeed, and drives headless Chromium (Debian's ``chromium``, installed with
apt if missing; the DevTools client of ``screenshot_connection_form.py``) to save:

* ``docs/lifecycle-graph.png``: the run's graph, every task green;
* ``docs/lifecycle-xcom.png``: the create task's XCom, the schedule's handle.

If a page never shows what it should, the page as it was is saved beside the output as ``*-failed.png``.
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from screenshot_connection_form import DevTools, chromium  # noqa: E402

from scripts.deployment.harness import Deployment, ensure_debian_package, wait_for  # noqa: E402

DAG_ID = "braze_schedule_lifecycle"
TASKS = ["schedule_campaign", "move_to_ten", "cancel"]
CREATE_TASK = "schedule_campaign"
VIEWPORT = (1440, 760)

# True when the page's visible text holds every string of %s.
_JS_SHOWS = "(() => { const t = document.body.innerText; return %s.every(s => t.includes(s)); })()"
# True once React Flow has drawn the graph's nodes and no spinner is left.
# The centre of the button whose aria-label is %s.
_JS_LABELLED_CENTRE = """(() => {
  const button = [...document.querySelectorAll('button')].find(b => b.getAttribute('aria-label') === %s);
  if (!button) return null;
  const box = button.getBoundingClientRect();
  return {x: box.x + box.width / 2, y: box.y + box.height / 2};
})()"""
# The run page's split between the graph and the details panel, as the UI remembers it: a wider
# details panel for the XCom table.
_JS_WIDE_DETAILS = """localStorage.setItem('react-resizable-panels:graph-ltr',
  JSON.stringify({'details-panel,main-panel': {expandToSizes: {}, layout: [38, 62]}}))"""
_JS_GRAPH_DRAWN = """(() => document.querySelectorAll('.react-flow__node').length >= %d
  && !document.querySelector('.chakra-spinner'))()"""


def save(page: DevTools, output: Path) -> None:
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=1, y=VIEWPORT[1] - 1)
    time.sleep(1.5)  # let transitions and the graph's fit-to-view finish
    shot = page.call("Page.captureScreenshot", format="png")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(base64.b64decode(shot["data"]))
    print("Saved", output)


def shoot(
    page: DevTools, url: str, output: Path, ready: str, what: str, then_click: tuple[str, str] | None = None
) -> None:
    """Open ``url`` and wait for ``ready`` (JavaScript); if ``then_click`` is ``(label, ready_after)``,
    click the button with that aria-label and wait for ``ready_after``; then save the viewport."""
    page.call("Page.navigate", url=url)
    try:
        wait_for(what, lambda: page.evaluate(ready), timeout=90)
        if then_click:
            label, ready_after = then_click
            centre = wait_for(label, lambda: page.evaluate(_JS_LABELLED_CENTRE % json.dumps(label)), 30)
            for kind in ("mousePressed", "mouseReleased"):
                page.call("Input.dispatchMouseEvent", type=kind, button="left", clickCount=1, **centre)
            wait_for(f"{what} after '{label}'", lambda: page.evaluate(ready_after), timeout=30)
    except TimeoutError:
        failed = output.with_name(output.stem + "-failed.png")
        failed.write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
        print("The page as it was when the script gave up:", failed, file=sys.stderr)
        raise
    save(page, output)


def stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where to save the PNGs")
    args = parser.parse_args()
    binary = ensure_debian_package("chromium", "chromium")
    signal.signal(signal.SIGTERM, stop_on_signal)  # so that Airflow's processes are stopped too

    print("Starting a local Airflow with a fake Braze ...", flush=True)
    with Deployment("screenshots", database="sqlite", all_admins=True) as deployment:
        api = deployment.api
        assert api is not None
        api.unpause(DAG_ID)
        run_id = api.trigger(DAG_ID)
        print(f"Triggered {DAG_ID} ({run_id}); waiting for it to finish ...", flush=True)
        state = api.wait_run(DAG_ID, run_id, timeout=300)
        if state != "success":
            print(deployment.tails(), file=sys.stderr)
            raise SystemExit(f"the {DAG_ID} run ended {state}: no screenshots")
        handle = api.xcom(DAG_ID, run_id, CREATE_TASK)
        run_url = f"{deployment.api_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"

        with chromium(binary) as page:
            width, height = VIEWPORT
            page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            # The DAG page shows the grid unless the browser remembers the graph (the UI's local storage).
            page.call("Page.navigate", url=deployment.api_url + "/")
            wait_for("the UI", lambda: page.evaluate("document.readyState === 'complete'"), timeout=60)
            page.evaluate("localStorage.setItem('default_dag_view', JSON.stringify('graph'))")

            shoot(
                page,
                run_url,
                args.docs / "lifecycle-graph.png",
                _JS_GRAPH_DRAWN % len(TASKS),
                "the run's graph",
            )
            page.evaluate(_JS_WIDE_DETAILS)
            # Expanded, the handle's every field is on the page.
            fields = ["return_value", handle["schedule_id"], handle["dispatch_id"], '"in_local_time"']
            shoot(
                page,
                f"{run_url}/tasks/{CREATE_TASK}/xcom",
                args.docs / "lifecycle-xcom.png",
                _JS_SHOWS % json.dumps(fields[:2]),
                "the create task's XCom",
                then_click=("Expand all extra JSON", _JS_SHOWS % json.dumps(fields)),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
