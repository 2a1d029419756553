"""`/healthz` (liveness) and `/readyz` (readiness) over HTTP, for every role, from
core/liveness.py. A thread of its own: it answers even while kopf's loop is busy, and a
wedged loop shows up as an overdue heartbeat rather than as a probe timeout."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from planguard.core.liveness import LIVENESS, Liveness

log = logging.getLogger(__name__)

# Where the probes listen: set from --listen-address (cli.py), in the chart the pod's own IP.
LISTEN_ADDRESS = "0.0.0.0"


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(liveness: Liveness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                problems = liveness.stale()
            elif path == "/readyz":
                problems = liveness.unready()
            else:
                self.send_error(404)
                return
            body = ("\n".join(problems) if problems else "ok").encode() + b"\n"
            self.send_response(503 if problems else 200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # a probe every few seconds is not worth a log line

    return Handler


def serve(port: int, liveness: Liveness = LIVENESS, host: str | None = None) -> int:
    """Starts the probe server in a daemon thread and returns its port (0: any free one;
    callers skip this call when the command line turns probes off). host: LISTEN_ADDRESS."""
    host = host or LISTEN_ADDRESS
    server = (_Server6 if ":" in host else ThreadingHTTPServer)((host, port), _handler(liveness))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="probes").start()
    return int(server.server_address[1])
