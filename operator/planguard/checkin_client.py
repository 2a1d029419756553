"""The lease manager's side of a check-in: one bounded HTTP GET to a node's agent."""

from __future__ import annotations

import json
import socket
import time
from enum import Enum

from planguard.core.nodelease import checkin

MAX_ANSWER = 4096  # bytes of a check-in answer read at most


def http_get(target: checkin.Target, query: str, timeout: float) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.0 GET, within `timeout` seconds overall (connect and
    every read): an agent, or whatever squats its port, that answers a byte at a time holds
    a worker no longer than that. Raises OSError or ValueError."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((target.host, target.port), timeout=timeout) as s:
        host = f"[{target.host}]" if ":" in target.host else target.host
        s.sendall(f"GET {target.path}?{query} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while len(data) <= MAX_ANSWER:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("check-in answer too slow")
            s.settimeout(left)
            chunk = s.recv(MAX_ANSWER + 1 - len(data))
            if not chunk:
                break
            data += chunk
    if len(data) > MAX_ANSWER:
        raise ValueError("check-in answer too long")
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/"):
        raise ValueError("not an HTTP answer")
    return int(status[1]), body


class CheckIn(Enum):
    PROVED = "proved"  # the node's agent proved it saw this fresh nonce
    WRONG_PROOF = "wrong proof"  # an answer, but not its agent's (or another key)
    FAILED = "failed"  # no usable answer


def check_in(target: checkin.Target, node: str, key: bytes, nonce: str,
             timeout: float) -> CheckIn:
    """One check-in of `node` (core/nodelease/checkin.py)."""
    try:
        status, body = http_get(target, f"nonce={nonce}", timeout)
        answer = json.loads(body).get("proof") if status == 200 else None
    except (OSError, ValueError, AttributeError):
        return CheckIn.FAILED
    if checkin.verify(key, node, nonce, answer):
        return CheckIn.PROVED
    return CheckIn.WRONG_PROOF if status == 200 else CheckIn.FAILED
