"""`make screenshots`: the "Braze schedules" page, saved as ``docs/schedules-page.png``.

Starts a local Airflow (the deployment harness: SQLite, LocalExecutor, login switched off with
``simple_auth_manager_all_admins`` since only this machine can reach it) with a fake Braze, runs the
deployment test's ``deployment_schedules_page`` DAG twice (two stores' reminders, sent 3 hours, 20 hours
and 3 days ahead), cancels one key through ``braze_schedule_admin`` as the page's button does, then opens
the page in headless Chromium (Debian's) with one key's history shown, and saves the viewport.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import schedules_page as ui  # noqa: E402
from scripts.deployment.harness import Deployment, ensure_debian_package  # noqa: E402
from scripts.screenshot_connection_form import chromium  # noqa: E402

KEYS_DAG = "deployment_schedules_page"
ADMIN_DAG = "braze_schedule_admin"
VIEWPORT = (1500, 1000)


def stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "schedules-page.png")
    args = parser.parse_args()
    binary = ensure_debian_package("chromium", "chromium")
    signal.signal(signal.SIGTERM, stop_on_signal)  # so that Airflow's processes are stopped too

    print("Starting a local Airflow with a fake Braze ...", flush=True)
    dags = [ROOT / "tests" / "deployment" / "dags"]
    with Deployment(
        "screenshot-schedules", database="sqlite", all_admins=True, extra_dags=dags
    ) as deployment:
        api = deployment.api
        assert api is not None
        api.unpause(KEYS_DAG)
        for prefix in ("order-4711", "order-4712"):
            run_id = api.trigger(KEYS_DAG, {"prefix": prefix})
            if api.wait_run(KEYS_DAG, run_id, timeout=300) != "success":
                print(deployment.tails(), file=sys.stderr)
                raise SystemExit(f"the {KEYS_DAG} run ended badly: no screenshot")
        cancel = api.trigger(ADMIN_DAG, {"schedule_key": "order-4712/store-2/reminder"})
        if api.wait_run(ADMIN_DAG, cancel, timeout=300) != "success":
            print(deployment.tails(), file=sys.stderr)
            raise SystemExit(f"the {ADMIN_DAG} run ended badly: no screenshot")

        with chromium(binary) as page:
            width, height = VIEWPORT
            page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            url = deployment.api_url
            page.call("Page.navigate", url=f"{url}/auth/token/login?next={url}/braze/")
            try:
                ui.open_schedules(page, url, ["order-4711/store-1/reminder", "order-4712/store-3/reminder"])
                ui.open_history(page, "order-4712/store-2/reminder", ["cancel_by_key", ADMIN_DAG])
            except TimeoutError:
                failed = args.output.with_name(args.output.stem + "-failed.png")
                ui.screenshot(page, failed)
                print("The page as it was when the script gave up:", failed, file=sys.stderr)
                print(page.evaluate("document.body.innerText"), file=sys.stderr)
                raise
            page.evaluate("window.scrollTo(0, 0); true")
            ui.screenshot(page, args.output)
    print("Saved", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
