"""The planner's own health checks of load-balancer targets (not DNS): a TCP connect or
an HTTP GET, with a timeout."""

from __future__ import annotations

import http.client
import ipaddress
import socket


def tcp_check(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_check(address: str, port: int, path: str, timeout: float) -> bool:
    """Healthy on a 2xx or 3xx answer."""
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "planguard-planner"})
        return 200 <= conn.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
