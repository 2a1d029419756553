"""The planner's own health checks of load-balancer targets (not DNS): a TCP connect or an
HTTP GET, each under one deadline for the whole check (connect, send and every read), so
a target that accepts and then drips one byte at a time fails at its timeout.

Checks are coroutines on one event loop (Checker): a slow target holds a socket, not one
of a few threads, and the planner caps the checks in flight per pool (core/dnsplan/checkqueue.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
from collections.abc import Callable
from concurrent.futures import Future

_STATUS_LINE_LIMIT = 1024  # the status line is all a check reads


async def _tcp(address: str, port: int) -> bool:
    _, writer = await asyncio.open_connection(address, port)
    writer.close()
    return True


async def _http(address: str, port: int, path: str) -> bool:
    """Healthy on a 2xx answer only: a redirect points elsewhere, which was not checked."""
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    reader, writer = await asyncio.open_connection(address, port, limit=_STATUS_LINE_LIMIT)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "User-Agent: planguard-planner\r\nConnection: close\r\n\r\n".encode("ascii"))
        await writer.drain()
        line = await reader.readuntil(b"\n")
        parts = line.split(None, 2)
        return (len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and len(parts[1]) == 3
                and parts[1].isdigit() and 200 <= int(parts[1]) < 300)
    finally:
        writer.close()


async def check(kind: str, address: str, port: int, path: str, timeout: float) -> bool:
    """One check of one target; False on any failure or when `timeout` runs out."""
    try:
        async with asyncio.timeout(timeout):
            if kind == "HTTP":
                return await _http(address, port, path)
            return await _tcp(address, port)
    except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError, UnicodeError):
        return False


class Checker:
    """An event loop in its own thread, running the checks the planner submits."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="checks")
        self._thread.start()

    def submit(self, kind: str, address: str, port: int, path: str, timeout: float,
               done: Callable[[bool], None]) -> None:
        """Starts a check; `done(ok)` runs on the checks' thread when it ends."""
        fut: Future[bool] = asyncio.run_coroutine_threadsafe(
            check(kind, address, port, path, timeout), self._loop)
        fut.add_done_callback(lambda f: done(not f.cancelled() and f.exception() is None
                                             and f.result()))

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            self._loop.call_soon_threadsafe(self._loop.stop)
