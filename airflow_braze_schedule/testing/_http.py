"""Serving glue around werkzeug's threaded WSGI server, tuned for a fast, faithful test double.

werkzeug's development server (3.x) answers every request with ``Connection: close``, writes the status
line, headers and body in several ``send()`` calls and, after each request, spends up to 10 ms draining the
socket. Against a keep-alive client such as a ``requests.Session`` that costs ~40 ms per call (Nagle's
algorithm holding the body until the client's delayed ACK) and can even swallow the next pipelined request.
:class:`KeepAliveRequestHandler` keeps werkzeug's request parsing and WSGI environ but sends each response
in one buffered write with ``TCP_NODELAY`` set, and keeps the connection open.

It also lets the application *drop* a connection (no answer at all) by setting :data:`DROP_CONNECTION` in
the WSGI environ, which is how the fake's ``DropBeforeProcessing`` / ``DropAfterProcessing`` faults work.

This leans on werkzeug internals that are not public API (listed in :func:`missing_werkzeug_internals`),
so the ``testing`` extra bounds werkzeug's version, and importing this module checks them and fails
with a message naming what is gone, rather than serving wrong answers.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import socket
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

#: Environ key: set it to ``True`` to close the connection without sending the response.
DROP_CONNECTION = "fake_braze.drop_connection"
#: Environ key: set it to ``True`` once the request body has been read to its end. When a request had a
#: body and this is not set, the connection is closed after the answer, since unread body bytes would be
#: parsed as the next request.
BODY_CONSUMED = "fake_braze.body_consumed"
#: Environ key: set it to ``True`` to answer normally but close the connection afterwards.
CLOSE_CONNECTION = "fake_braze.close_connection"

_JSON_500 = b'{"message": "Internal Server Error"}'
#: The werkzeug versions whose internals this module was written against (the ``testing`` extra's bound).
SUPPORTED_WERKZEUG = ">=3.0,<3.2"


def missing_werkzeug_internals() -> list[str]:
    """The werkzeug internals this module relies on that the installed werkzeug lacks (empty: all there).

    - ``WSGIRequestHandler.make_environ()``: builds the WSGI environ of the parsed request;
    - ``WSGIRequestHandler.__getattr__``: routes every ``do_<METHOD>`` to ``run_wsgi()``, which
      :class:`KeepAliveRequestHandler` replaces;
    - ``WSGIRequestHandler.handle()``: werkzeug's connection loop, which survives a client that leaves;
    - ``make_server(host, port, app, threaded=..., request_handler=...)``, whose server keeps the
      application as ``.app`` and the bound port as ``.port``.
    """
    from werkzeug import serving

    missing = []
    handler = getattr(serving, "WSGIRequestHandler", None)
    for name in ("make_environ", "run_wsgi", "handle", "__getattr__"):
        if not callable(getattr(handler, name, None)):
            missing.append(f"werkzeug.serving.WSGIRequestHandler.{name}")
    if isinstance(handler, type) and callable(getattr(handler, "__getattr__", None)):
        probe: Any = object.__new__(handler)  # no socket: only attribute lookup is tried
        try:
            routed = getattr(probe, "do_POST", None)
        except Exception:
            routed = None
        if getattr(routed, "__func__", None) is not getattr(handler, "run_wsgi", None):
            missing.append("werkzeug.serving.WSGIRequestHandler routing do_POST to run_wsgi")
    factory = getattr(serving, "make_server", None)
    parameters = inspect.signature(factory).parameters if callable(factory) else {}
    for name in ("host", "port", "app", "threaded", "request_handler"):
        if name not in parameters:
            missing.append(f"werkzeug.serving.make_server({name}=...)")
    server_init = getattr(getattr(serving, "BaseWSGIServer", None), "__init__", None)
    try:
        source = inspect.getsource(server_init) if server_init is not None else ""
    except (OSError, TypeError):
        source = ""
    for attribute in ("self.app", "self.port"):
        if f"{attribute} =" not in source:
            missing.append(f"werkzeug.serving.BaseWSGIServer {attribute.removeprefix('self.')} attribute")
    return missing


def _check_werkzeug() -> None:
    missing = missing_werkzeug_internals()
    if missing:
        version = importlib.metadata.version("werkzeug")
        raise ImportError(
            f"airflow_braze_schedule.testing's server needs werkzeug{SUPPORTED_WERKZEUG} (the 'testing' extra), "
            f"but werkzeug {version} lacks: {', '.join(missing)}. Install a supported werkzeug, e.g. "
            f"pip install 'werkzeug{SUPPORTED_WERKZEUG}'."
        )


_check_werkzeug()


class _ConnectionRegistry:
    """The sockets of open connections, so that stopping the server also ends idle keep-alive threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def shutdown_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class KeepAliveRequestHandler(WSGIRequestHandler):
    """A werkzeug request handler with HTTP/1.1 keep-alive, ``TCP_NODELAY`` and one write per response.

    Subclasses made by :class:`ServerThread` set :attr:`verbose` and :attr:`registry`.
    """

    protocol_version = "HTTP/1.1"
    # A buffered socket writer: status line, headers and body accumulate and leave in a single send at
    # flush() (the stdlib default, 0, sends each header line's batch and the body separately).
    wbufsize = 64 * 1024
    #: Log each request to the ``werkzeug`` logger (access log); off by default.
    verbose: ClassVar[bool] = False
    #: Where open connections are registered (``None``: not tracked).
    registry: ClassVar[_ConnectionRegistry | None] = None

    def setup(self) -> None:
        """Set ``TCP_NODELAY`` on the accepted connection and register it."""
        super().setup()
        # Without it a small write that follows another waits for the peer's (delayed, ~40 ms) ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.registry is not None:
            self.registry.add(self.connection)

    def finish(self) -> None:
        """Flush and close as usual (ignoring a peer that already left), then unregister the connection."""
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            if self.registry is not None:
                self.registry.discard(self.connection)

    def handle_expect_100(self) -> bool:
        """Send ``100 Continue`` right away: the writer is buffered and the client waits for it."""
        result = super().handle_expect_100()
        self.wfile.flush()
        return bool(result)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the request only when :attr:`verbose` is set (werkzeug logs every request otherwise)."""
        if self.verbose:
            super().log_request(code, size)

    def run_wsgi(self) -> None:
        """Run the WSGI application on one parsed request and send its whole answer in one write."""
        self.environ = environ = self.make_environ()
        status, headers, body = self._call_app(environ)
        if environ.get(DROP_CONNECTION):
            self._drop()
            return
        had_body = bool(
            environ.get("CONTENT_LENGTH", "0") not in ("", "0") or environ.get("wsgi.input_terminated")
        )
        if environ.get(CLOSE_CONNECTION) or (had_body and not environ.get(BODY_CONSUMED)):
            self.close_connection = True
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason or None)
        for name, value in headers:
            # The body is complete, so framing is ours to declare.
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        length = str(len(body))
        if self.command == "HEAD":  # no body, but the length a GET would have had
            length = next((v for n, v in headers if n.lower() == "content-length"), length)
        self.send_header("Content-Length", length)
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _call_app(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call the application and collect its status, headers and body; a crash becomes a JSON 500."""
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started["status"], started["headers"] = status, headers
            return chunks.append  # the legacy write() callable

        try:
            result: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            return started["status"], list(started["headers"]), b"".join(chunks)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True  # the request body may be half read
            return "500 INTERNAL SERVER ERROR", [("Content-Type", "application/json")], _JSON_500

    def _drop(self) -> None:
        """Close the connection without a byte of answer, as a crashed server or a cut network would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class ServerThread:
    """A werkzeug threaded WSGI server (:func:`werkzeug.serving.make_server`) running in a daemon thread.

    :param app: the WSGI application.
    :param host: the address to bind.
    :param port: the port to bind (``0``: any free port).
    :param verbose: log each request to the ``werkzeug`` logger.
    """

    def __init__(self, app: WSGIApplication, host: str, port: int, *, verbose: bool = False) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._verbose = verbose
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._registry = _ConnectionRegistry()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port.

        :raises RuntimeError: when the server is not running.
        """
        if self._server is None:
            raise RuntimeError("the server is not running; call start() first")
        return int(self._server.port)

    def start(self) -> None:
        """Bind and start serving in a daemon thread.

        :raises OSError: when the address cannot be bound.
        """
        if self._server is not None:
            return
        handler = type(
            "BoundKeepAliveRequestHandler",
            (KeepAliveRequestHandler,),
            {"verbose": self._verbose, "registry": self._registry},
        )
        try:
            server = make_server(self._host, self._port, self._app, threaded=True, request_handler=handler)
        except SystemExit as exc:
            # werkzeug prints the reason to stderr and exits on a bind failure; a library must not exit.
            raise OSError(f"cannot bind {self._host}:{self._port} (see stderr)") from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-braze", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self._registry.shutdown_all()
        if thread is not None:
            thread.join(timeout=5)
