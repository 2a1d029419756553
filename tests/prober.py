"""The central oracle of the end-to-end suites and the benches: a client asking the DNS
server for a few endpoints every few milliseconds, counting what a user would have seen go
wrong. `Tally` is the counting (pure, unit-tested in tests/unit/test_prober.py); `Prober`
is the thread that feeds it."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# endpoint -> (sorted addresses, marker generation or 0); raises when the server is away.
Ask = Callable[[str], tuple[list[str], int]]


class Server(Protocol):
    def query(self, name: str, rdtype: str = ...) -> list[str]: ...
    def generation(self, zone: str, endpoint: str | None = ...) -> int | None: ...


def asker(server: Server, zone: str) -> Ask:
    """What a client sees of `endpoint.zone` on the loopback BIND or PowerDNS."""
    return lambda ep: (server.query(f"{ep}.{zone}"), server.generation(zone, ep) or 0)


@dataclass
class Tally:
    """What clients saw, per answer. An empty answer counts once the endpoint was served
    (`served_from_start`: it already was when probing began); a generation lower than one
    already seen is a regression; a query that failed even on its retries is unavailable."""

    served_from_start: bool = True
    # Seconds a generation lower than the highest seen is still no regression but `stale`:
    # behind several caching resolvers (the cluster DNS), each holds an answer up to its TTL,
    # so a client may get an older copy until then. 0: every lower generation regresses.
    cache_window: float = 0.0
    queries: int = 0
    empty: int = 0
    regressions: int = 0
    unavailable: int = 0
    retried: int = 0  # answered on a retry after a failed first try
    stale: int = 0  # a lower generation within cache_window of the higher one's first sight
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    highest: dict[str, int] = field(default_factory=dict)
    highest_since: dict[str, float] = field(default_factory=dict)
    served: set[str] = field(default_factory=set)
    empty_since: dict[str, float] = field(default_factory=dict)
    longest_empty: float = 0.0
    first_empty: float | None = None

    def answer(self, ep: str, addresses: list[str], generation: int, now: float) -> None:
        self.queries += 1
        if addresses:
            self.served.add(ep)
            if ep in self.empty_since:
                self.longest_empty = max(self.longest_empty, now - self.empty_since.pop(ep))
        elif self.served_from_start or ep in self.served:
            self.empty += 1
            self.empty_since.setdefault(ep, now)
            self.first_empty = now if self.first_empty is None else self.first_empty
        if generation < self.highest.get(ep, 0):
            if self.cache_window and now - self.highest_since[ep] <= self.cache_window:
                self.stale += 1
            else:
                self.regressions += 1
        elif generation > self.highest.get(ep, 0):
            self.highest[ep], self.highest_since[ep] = generation, now

    def failure(self, error: BaseException, final: bool) -> None:
        self.errors[type(error).__name__] += 1
        self.unavailable += final

    def close(self, now: float) -> None:
        """Names still empty at the end count to `longest_empty` up to `now`."""
        for since in self.empty_since.values():
            self.longest_empty = max(self.longest_empty, now - since)
        self.empty_since.clear()

    def clean(self) -> bool:
        return (self.empty, self.regressions, self.unavailable) == (0, 0, 0)

    def __str__(self) -> str:
        errors = ", ".join(f"{k} x{n}" for k, n in self.errors.most_common()) or "none"
        stale = (f" ({self.stale} older copies within the {self.cache_window:g} s cache "
                 f"window)" if self.cache_window else "")
        return (f"prober: {self.queries} queries, {self.empty} empty, "
                f"{self.regressions} regressions{stale}, {self.unavailable} unavailable "
                f"({self.retried} answered on a retry; failures: {errors}; "
                f"longest empty {self.longest_empty:.3f} s)")


class Prober(threading.Thread):
    """Asks each endpoint in turn every `every` seconds until `finish()`. `retries`: a stub
    resolver tries again at once (resolv.conf attempts: 2), and a client answered on the
    retry saw no outage; 0 counts every failure as unavailable."""

    def __init__(self, ask: Ask, endpoints: tuple[str, ...] | list[str], every: float = 0.003,
                 retries: int = 0, served_from_start: bool = True,
                 cache_window: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.ask, self.endpoints, self.every, self.retries = ask, tuple(endpoints), every, retries
        self.tally = Tally(served_from_start=served_from_start, cache_window=cache_window)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for ep in self.endpoints:
                self._probe(ep)
            time.sleep(self.every)

    def _probe(self, ep: str) -> None:
        for attempt in range(self.retries + 1):
            try:
                addresses, generation = self.ask(ep)
            except Exception as e:  # the server restarting: unavailable, not empty
                self.tally.failure(e, final=attempt == self.retries)
                time.sleep(0.05 if attempt < self.retries else 0)
                continue
            self.tally.retried += attempt > 0
            self.tally.answer(ep, addresses, generation, time.monotonic())
            return

    def finish(self) -> Tally:
        self._halt.set()
        self.join()
        self.tally.close(time.monotonic())
        return self.tally

    def assert_clean(self, min_queries: int = 100) -> None:
        tally = self.finish()
        assert tally.queries > min_queries, str(tally)
        assert tally.clean(), str(tally)
