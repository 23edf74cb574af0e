"""Take a screenshot of Airflow's new-connection form with type Braze selected: ``docs/connection-form.png``.

Needs Debian's Chromium, which this script does not install::

    apt-get update && apt-get install -y chromium

Run it from the project's environment (``make install`` first)::

    .venv/bin/python scripts/screenshot_connection_form.py [--output docs/connection-form.png]

What it does: migrates an isolated Airflow home (``.airflow/screenshot``, ignored by git), starts
``airflow api-server`` on a free loopback port with the SimpleAuthManager's login switched off
(``[core] simple_auth_manager_all_admins``: nothing but this machine can reach it), and starts Chromium
headless with ``--remote-debugging-port``. Through the Chrome DevTools Protocol (a small websocket
client below, on the standard library and requests) it opens Admin > Connections, presses
"Add Connection", types "Braze" in the connection type box, waits for the form to show "REST endpoint"
and "REST API key", then opens the "Extra Fields" section and waits for "Timeout", "Dry run" and
"CA bundle". The form shows one section at a time, so the picture is the dialog in both states, side by
side. Chromium and the server are stopped at the end, whatever happens; if the form never appears, the
page as it was is saved beside the output as ``*-failed.png``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow" / "screenshot"
DEFAULT_OUTPUT = ROOT / "docs" / "connection-form.png"
VIEWPORT = (1280, 1400)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if result := check():
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


# --- Airflow ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def api_server() -> Iterator[str]:
    """A migrated, isolated Airflow and its API server on loopback; yields the server's base URL."""
    HOME.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(HOME / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    env.pop("AIRFLOW_CONN_BRAZE_DEFAULT", None)
    print("Migrating the Airflow database in", HOME.relative_to(ROOT))
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = HOME / "api-server.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        print("Starting airflow api-server on", url)

        def healthy() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"airflow api-server exited with {process.returncode}; see {log}")
            return requests.get(url + "/api/v2/monitor/health", timeout=2).status_code == 200

        deadline = time.monotonic() + 90
        while True:
            try:
                if healthy():
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"airflow api-server did not answer within 90 s; see {log}")
            time.sleep(0.25)
        yield url
    finally:
        stop(process)


# --- A minimal websocket client (RFC 6455), enough for the DevTools protocol -------------------------


class WebSocket:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the websocket handshake was cut short")
            head += chunk
        status, _, self._buffer = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0] + b" ":
            raise ConnectionError(f"websocket handshake refused: {status.decode(errors='replace')}")

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the websocket was closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = secrets.token_bytes(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("the websocket was closed by the browser")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(0x8, b"")
        self.sock.close()


class DevTools:
    """Commands to one Chromium page over the DevTools protocol; events are read and dropped."""

    def __init__(self, websocket_url: str) -> None:
        self.ws = WebSocket(websocket_url)
        self._next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, key: str, code: str, key_code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=key_code,
                nativeVirtualKeyCode=key_code,
            )


@contextlib.contextmanager
def chromium(binary: str) -> Iterator[DevTools]:
    """Headless Chromium with a fresh profile; yields its first page."""
    with tempfile.TemporaryDirectory(prefix="braze-chromium-") as profile:
        process = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        devtools = None
        try:
            # With port 0, Chromium picks a free port and writes it to the profile's DevToolsActivePort.
            active = Path(profile) / "DevToolsActivePort"
            port = wait_for("Chromium's DevTools port", lambda: active.read_text().split()[0], timeout=30)
            targets = wait_for(
                "Chromium's first page",
                lambda: [
                    t
                    for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                    if t["type"] == "page"
                ],
                timeout=30,
            )
            devtools = DevTools(targets[0]["webSocketDebuggerUrl"])
            yield devtools
        finally:
            if devtools is not None:
                devtools.ws.close()
            stop(process)


# --- The form ---------------------------------------------------------------------------------------

# The form's labels: the relabelled standard fields, then the extra fields (CONNECTION_FIELDS).
STANDARD_LABELS = ["REST endpoint", "REST API key"]
EXTRA_LABELS = ["Timeout", "Dry run", "CA bundle", "Proxy"]

# The centre of the first visible button (inside the dialog if one is open) whose text is %s, or null.
_JS_BUTTON_CENTRE = """(() => {
  const scope = document.querySelector('[role="dialog"]') || document;
  const button = [...scope.querySelectorAll('button')].find(b => b.textContent.trim() === %s);
  if (!button || !button.offsetParent) return null;
  const box = button.getBoundingClientRect();
  return {x: box.x + box.width / 2, y: box.y + box.height / 2};
})()"""

_JS_FOCUS_TYPE = """(() => {
  const dialog = document.querySelector('[role="dialog"]');
  const input = dialog && dialog.querySelector('input[role="combobox"]');
  if (!input) return false;
  input.focus();
  return document.activeElement === input;
})()"""

# True when the dialog shows every label in %s (collapsed sections are not in innerText).
_JS_DIALOG_SHOWS = """(() => {
  const dialog = document.querySelector('[role="dialog"]');
  const text = dialog ? dialog.innerText : '';
  return %s.every(t => text.includes(t));
})()"""

_JS_DIALOG_BOX = """(() => {
  const dialog = document.querySelector('[role="dialog"]');
  const box = dialog.getBoundingClientRect();
  return {x: box.x, y: box.y, width: box.width, height: box.height};
})()"""

# Two screenshots side by side, as one page to take the final screenshot of.
_COMPOSITE_PAGE = """<!doctype html><html><body style="margin:0;background:#e2e8f0">
<div id="both" style="display:inline-flex;gap:16px;padding:16px;align-items:flex-start">
<img src="data:image/png;base64,%s"><img src="data:image/png;base64,%s"></div></body></html>"""


def click(page: DevTools, button_text: str, what: str) -> None:
    """Click a button with the mouse, as a person would (the UI's accordions ignore a scripted click())."""
    centre = wait_for(what, lambda: page.evaluate(_JS_BUTTON_CENTRE % json.dumps(button_text)), timeout=60)
    for kind in ("mousePressed", "mouseReleased"):
        page.call(
            "Input.dispatchMouseEvent", type=kind, x=centre["x"], y=centre["y"], button="left", clickCount=1
        )


def dialog_shot(page: DevTools) -> str:
    """A PNG (base64) of the open dialog, once focus rings and transitions are gone."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=1, y=VIEWPORT[1] - 1)
    time.sleep(1.0)
    box = page.evaluate(_JS_DIALOG_BOX)
    clip = {**box, "scale": 1}
    return str(page.call("Page.captureScreenshot", format="png", clip=clip)["data"])


def screenshot(server: str, output: Path, binary: str) -> None:
    """Open the new-connection form, choose Braze, and save both of its sections side by side.

    The form's sections are an accordion of which one is open at a time: "Standard Fields" (open when
    the type is chosen) and "Extra Fields". The picture shows the dialog in each of the two states.
    """
    with chromium(binary) as page:
        width, height = VIEWPORT
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.call("Page.navigate", url=server + "/connections")
        try:
            click(page, "Add Connection", "the connections page")
            wait_for("the connection type box", lambda: page.evaluate(_JS_FOCUS_TYPE), timeout=30)
            page.call("Input.insertText", text="Braze")
            time.sleep(0.5)  # let the select filter its options
            page.press("Enter", "Enter", 13)
            shows = _JS_DIALOG_SHOWS % json.dumps(STANDARD_LABELS)
            wait_for("the Braze form's standard fields", lambda: page.evaluate(shows), timeout=30)
            standard = dialog_shot(page)
            click(page, "Extra Fields", "the Extra Fields section")
            shows = _JS_DIALOG_SHOWS % json.dumps(EXTRA_LABELS)
            wait_for("the Braze form's extra fields", lambda: page.evaluate(shows), timeout=30)
            extra = dialog_shot(page)
        except TimeoutError:
            failed = output.with_name(output.stem + "-failed.png")
            failed.write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
            print("The page as it was when the screenshot script gave up:", failed, file=sys.stderr)
            raise
        frame = page.call("Page.getFrameTree")["frameTree"]["frame"]["id"]
        page.call("Page.setDocumentContent", frameId=frame, html=_COMPOSITE_PAGE % (standard, extra))
        wait_for(
            "the composed picture",
            lambda: page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)"),
            timeout=30,
        )
        box = page.evaluate(
            "(() => { const b = document.getElementById('both').getBoundingClientRect();"
            " return {x: b.x, y: b.y, width: b.width, height: b.height}; })()"
        )
        shot = page.call(
            "Page.captureScreenshot", format="png", clip={**box, "scale": 1}, captureBeyondViewport=True
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(base64.b64decode(shot["data"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to save the PNG")
    parser.add_argument("--chromium", default="chromium", help="the Chromium binary (default: chromium)")
    args = parser.parse_args()
    binary = shutil.which(args.chromium)
    if binary is None:
        print(f"{args.chromium} not found: apt-get update && apt-get install -y chromium", file=sys.stderr)
        return 2
    with api_server() as server:
        print("Taking the screenshot with", binary)
        screenshot(server, args.output.resolve(), binary)
    print("Saved", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
