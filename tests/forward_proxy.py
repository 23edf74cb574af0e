"""A small forwarding HTTP proxy on loopback, for the tests of the ``proxy`` connection extra.

It serves absolute-URI requests (``POST http://127.0.0.1:<port>/path HTTP/1.1``), which is how a client
sends a plain-``http`` request through a proxy (the fake Braze is plain http on loopback), forwards each
one to its target, and relays the answer. It records every request it forwarded, and can demand proxy
credentials (answering ``407`` without them), as corporate proxies do. ``CONNECT`` (tunnels for https)
is not needed here and is refused.
"""

from __future__ import annotations

import base64
import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers that concern one hop only: never forwarded (RFC 9110 §7.6.1).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received: its method, absolute target URL and proxy credentials (if any)."""

    method: str
    url: str
    proxy_authorization: str | None
    status: int


class ForwardProxy:
    """An absolute-URI forwarding proxy in a daemon thread; use it as a context manager.

    :param credentials: ``(user, password)`` the proxy demands in ``Proxy-Authorization``; None: no login.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self._expected = (
            "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            if credentials
            else None
        )
        self._lock = threading.Lock()
        self._received: list[ProxiedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def received(self) -> list[ProxiedRequest]:
        with self._lock:
            return list(self._received)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._received.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive towards the client

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self) -> None:
                authorization = self.headers.get("Proxy-Authorization")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                target = urlsplit(self.path)
                if not target.scheme or not target.hostname:  # not a proxy request
                    proxy._record(ProxiedRequest(self.command, self.path, authorization, 400))
                    self._answer(400, b"absolute URI expected", [("Content-Type", "text/plain")])
                    return
                if proxy._expected is not None and authorization != proxy._expected:
                    proxy._record(ProxiedRequest(self.command, self.path, authorization, 407))
                    self._answer(
                        407,
                        b"<html><body><h1>407 Proxy Authentication Required</h1></body></html>",
                        [("Content-Type", "text/html"), ("Proxy-Authenticate", 'Basic realm="corp"')],
                    )
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                    relayed = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
                    relayed = [(k, v) for k, v in relayed if k.lower() != "content-length"]
                finally:
                    upstream.close()
                proxy._record(ProxiedRequest(self.command, self.path, authorization, answer.status))
                self._answer(answer.status, content, relayed)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def do_CONNECT(self) -> None:
                proxy._record(
                    ProxiedRequest("CONNECT", self.path, self.headers.get("Proxy-Authorization"), 405)
                )
                self._answer(
                    405, b"CONNECT is not served by this test proxy", [("Content-Type", "text/plain")]
                )

        return Handler
