"""Real load-balancer targets on loopback: HTTP servers on 127.0.0.x that a test turns on
and off (every 127/8 address is local on Linux)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class Target:
    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self._server: http.server.ThreadingHTTPServer | None = None

    def up(self) -> None:
        if self._server is None:
            self._server = http.server.ThreadingHTTPServer((self.address, self.port), _Handler)
            self._server.daemon_threads = True
            threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Fleet:
    def __init__(self, n: int, base: int = 11, port: int = 18080) -> None:
        self.targets = [Target(f"127.0.0.{base + i}", port) for i in range(n)]

    @property
    def addresses(self) -> list[str]:
        return [t.address for t in self.targets]

    def __enter__(self) -> Fleet:
        for t in self.targets:
            t.up()
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self.targets:
            t.down()


def accept_each(sock: socket.socket, stop: threading.Event,
                handle: Callable[[socket.socket], None]) -> None:
    """Accepts on `sock` (which has a timeout, so `stop` is seen) until `stop` is set or the
    socket closes; each connection is handled in a thread of its own."""
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()
