"""Which health checks start now: each target at most once in flight and at most once per
interval, and at most `per_pool` checks of one pool in flight, so a pool of slow targets
holds its own slots and never the others' (nothing queues behind a running check)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

Key = tuple[Hashable, str]  # (pool, address)


class CheckQueue:
    def __init__(self, per_pool: int = 16) -> None:
        self.per_pool = per_pool
        self._next: dict[Key, float] = {}
        self._running: set[Key] = set()
        self._per_pool: dict[Hashable, int] = {}

    def take(self, pool: Hashable, addresses: Sequence[str], now: float,
             interval: float) -> list[str]:
        """The addresses of `pool` to check now (marked in flight until done()); the
        longest-waiting first, so a capped pool still checks every target in turn."""
        free = self.per_pool - self._per_pool.get(pool, 0)
        out: list[str] = []
        for a in sorted(addresses, key=lambda a: (self._next.get((pool, a), 0.0), a)):
            if len(out) >= free:
                break
            k = (pool, a)
            if k in self._running or self._next.get(k, 0.0) > now:
                continue
            out.append(a)
            self._running.add(k)
            self._next[k] = now + interval
        if out:
            self._per_pool[pool] = self._per_pool.get(pool, 0) + len(out)
        return out

    def done(self, pool: Hashable, address: str) -> None:
        k = (pool, address)
        if k in self._running:
            self._running.discard(k)
            self._per_pool[pool] -= 1

    def running(self, pool: Hashable) -> int:
        return self._per_pool.get(pool, 0)

    def retain(self, live: Iterable[Key]) -> None:
        """Forgets the schedule of targets no pool lists any more (running ones finish)."""
        keep = set(live)
        self._next = {k: t for k, t in self._next.items() if k in keep}
