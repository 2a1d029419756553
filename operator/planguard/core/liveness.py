"""Whether a process's loops are alive and whether it can do its work, as pure state.

Each hand-written loop (a zone worker, the planner's loop, a leader-election thread, the
lease manager's loop, kopf's own event loop) promises its next heartbeat within some
seconds; liveness fails once a promise is broken, so a loop that died or wedged gets the
process restarted even though the HTTP server still answers. Readiness is separate: named
checks (leader election reachable) that say whether the process can do its work now;
failing them never restarts anything. A zone whose DNS server cannot be read is that
zone's own condition, not the process's: readiness fails on DNS only when no zone at all
can be read (the process's own network, or the one server every zone uses), never
because one tenant's server is slow or dead. The clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Beat:
    at: float
    within: float  # the loop's promise: the next beat comes before at + within


class Liveness:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._beats: dict[str, Beat] = {}
        self._checks: dict[str, str] = {}  # failing readiness checks -> why
        self._zones: dict[str, str] = {}  # zone -> why its DNS is unreadable ("" if read)
        self._lock = threading.Lock()

    def beat(self, loop: str, within: float) -> None:
        """`loop` made progress now and promises to again within `within` seconds."""
        with self._lock:
            self._beats[loop] = Beat(self._clock(), within)

    def forget(self, loop: str) -> None:
        """A loop that ended on purpose (its zone was deleted) is no longer expected."""
        with self._lock:
            self._beats.pop(loop, None)

    def stale(self) -> list[str]:
        """Why liveness fails: every loop whose promised heartbeat is overdue."""
        now = self._clock()
        with self._lock:
            return [f"{loop}: no heartbeat for {now - b.at:.0f} s (promised within "
                    f"{b.within:.0f} s)"
                    for loop, b in sorted(self._beats.items()) if now - b.at > b.within]

    def ready(self, check: str, ok: bool, why: str = "") -> None:
        with self._lock:
            if ok:
                self._checks.pop(check, None)
            else:
                self._checks[check] = why or "failing"

    def zone_dns(self, zone: str, ok: bool, why: str = "") -> None:
        """Whether the last exchange with `zone`'s DNS server succeeded."""
        with self._lock:
            self._zones[zone] = "" if ok else (why or "unreadable")

    def forget_zone(self, zone: str) -> None:
        with self._lock:
            self._zones.pop(zone, None)

    def unready(self) -> list[str]:
        """Why readiness fails; also every stale loop (a wedged process cannot work)."""
        with self._lock:
            checks = [f"{c}: {why}" for c, why in sorted(self._checks.items())]
            failing = sorted((z, why) for z, why in self._zones.items() if why)
            if failing and len(failing) == len(self._zones):
                z, why = failing[0]
                checks.append(f"DNS: no zone's server can be read ({len(failing)} of "
                              f"{len(failing)}), e.g. {z}: {why}")
        return checks + self.stale()


# The process's own instance: every loop of a role beats here, probe_server.py serves it.
LIVENESS = Liveness()
