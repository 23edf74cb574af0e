"""The minimal loopback HTTP server of the per-call benchmark: every request gets one prebuilt answer.

It reads each request's head and ``Content-Length`` body and answers with a single ``sendall`` on a socket
with ``TCP_NODELAY`` set, keeping the connection open (HTTP/1.1). Writing the answer once, without Nagle's
algorithm, matters: a server that sends headers and body in separate writes makes a keep-alive client wait
for a delayed ACK, about 40 ms per call. The answer is Braze's to a schedule create, with Braze's
rate-limit headers (a limit that is never reached), so every contender reads the same bytes.

Run it as ``python bench/loopback_server.py``: it prints the port it listens on, then serves until killed.
"""

from __future__ import annotations

import socket
import socketserver

BODY = b'{"dispatch_id": "d", "schedule_id": "s", "message": "success"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"x-ratelimit-limit: 250000\r\n"
    b"x-ratelimit-remaining: 249999\r\n"
    b"x-ratelimit-reset: 4102444800\r\n"
    b"\r\n" + BODY
)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Handler(socketserver.BaseRequestHandler):
    """Serves one keep-alive connection: request after request, until the client closes it."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                end = buffer.find(b"\r\n\r\n")
            head = buffer[:end]
            total = end + 4 + _content_length(head)
            while len(buffer) < total:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[total:]
            sock.sendall(RESPONSE)
            if b"connection: close" in head.lower():
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    with _Server(("127.0.0.1", 0), _Handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
