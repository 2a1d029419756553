"""The lease manager's scheduling core (DWFM's job without congestive collapse), pure and
fed a clock.

- WorkQueue: one entry per node (keyed, de-duplicated), never two workers on one node;
  renewals of held leases go before new establishments, with aging so nothing starves;
  work whose deadline has passed is dropped and handed back for re-evaluation, never run.
- admit(): new establishments are admitted by the queue's length and the age of its
  oldest item, and by measured throughput against what fits in a lease period (the
  post-mortem's "rate limit incoming work based on the size of the waiting queue").
- TokenBucket: gates every call to the dependency, first attempts included.
- CircuitBreaker: while the dependency is down, per-node retries stop and one probe goes
  out per probe interval.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum


class Kind(IntEnum):
    RENEW = 0  # a lease we hold: keep it alive first
    ESTABLISH = 1  # a lapsed or new lease


@dataclass(frozen=True)
class Work:
    node: str
    kind: Kind
    enqueued: float
    deadline: float  # after this, doing it is useless: re-evaluate instead

    def expired(self, now: float) -> bool:
        return self.deadline <= now


@dataclass
class WorkQueue:
    """Heaps with lazy deletion: O(log n) per operation, so 100,000 nodes stay cheap.
    Rank = kind - waited/aging; the `now` part is common to every entry, so the order by
    (kind + enqueued/aging) never changes and fits a heap."""

    aging: float = 30.0  # seconds of waiting that make an establishment count as a renewal
    _items: dict[str, Work] = field(default_factory=dict)
    _by_rank: list[tuple[float, float, int, Work]] = field(default_factory=list)
    _by_deadline: list[tuple[float, int, Work]] = field(default_factory=list)
    _by_age: list[tuple[float, int, Work]] = field(default_factory=list)
    _seq: int = 0  # tie-breaker: heap entries never compare Work objects
    _in_flight: set[str] = field(default_factory=set)
    _again: dict[str, Work] = field(default_factory=dict)  # re-added while in flight

    def add(self, w: Work) -> bool:
        """Queues `w` unless its node is already queued (the more urgent entry is kept).
        While the node is in flight, `w` waits until done(): never two workers on a node."""
        if w.node in self._in_flight:
            prev = self._again.get(w.node)
            self._again[w.node] = w if prev is None else _urgent(prev, w)
            return False
        prev = self._items.get(w.node)
        keep = w if prev is None else _urgent(prev, w)
        if keep != prev:
            self._items[w.node] = keep
            self._seq += 1
            heapq.heappush(self._by_rank, (float(keep.kind) + keep.enqueued / self.aging,
                                           keep.enqueued, self._seq, keep))
            heapq.heappush(self._by_deadline, (keep.deadline, self._seq, keep))
            heapq.heappush(self._by_age, (keep.enqueued, self._seq, keep))
        return prev is None

    def pop(self, now: float) -> tuple[Work | None, list[Work]]:
        """The next work to do and the expired entries dropped on the way (re-evaluate
        them; never execute them)."""
        expired = []
        while self._by_deadline and self._by_deadline[0][0] <= now:
            *_, w = heapq.heappop(self._by_deadline)
            if self._items.get(w.node) is w:
                del self._items[w.node]
                expired.append(w)
        while self._by_rank:
            *_, w = heapq.heappop(self._by_rank)
            if self._items.get(w.node) is w:
                del self._items[w.node]
                self._in_flight.add(w.node)
                return w, expired
        return None, expired

    def done(self, node: str) -> None:
        self._in_flight.discard(node)
        again = self._again.pop(node, None)
        if again is not None:
            self.add(again)

    def __len__(self) -> int:
        return len(self._items)

    def oldest_age(self, now: float) -> float:
        while self._by_age and self._items.get(self._by_age[0][2].node) is not \
                self._by_age[0][2]:
            heapq.heappop(self._by_age)
        return now - self._by_age[0][0] if self._by_age else 0.0

    def in_flight(self) -> frozenset[str]:
        return frozenset(self._in_flight)


def _urgent(a: Work, b: Work) -> Work:
    """Of two entries for one node: the more important kind, then the earlier deadline; the
    original enqueue time is kept so aging is not reset by duplicates."""
    keep = min(a, b, key=lambda w: (w.kind, w.deadline))
    return Work(keep.node, keep.kind, min(a.enqueued, b.enqueued), keep.deadline)


LEASE_DURATION = 40.0  # seconds a node's Lease lives unrenewed (leaseDurationSeconds)


@dataclass(frozen=True)
class AdmissionLimits:
    max_queue: int = 1000
    max_oldest_age: float = 20.0  # seconds: older than this, stop admitting new work
    lease_period: float = LEASE_DURATION


def admit(queue_len: int, oldest_age: float, throughput: float, limits: AdmissionLimits) -> int:
    """How many new establishments may join the queue now. Zero while the queue is long or
    old; otherwise what the measured throughput (completions/s) can finish within one lease
    period, minus what is already waiting."""
    if queue_len >= limits.max_queue or oldest_age >= limits.max_oldest_age:
        return 0
    fits = int(throughput * limits.lease_period) - queue_len
    return max(0, min(fits, limits.max_queue - queue_len))


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.at = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def refund(self) -> None:
        """A token taken for work that turned out not to exist."""
        self.tokens = min(self.burst, self.tokens + 1)


@dataclass
class CircuitBreaker:
    """Opens when nearly every recent call failed (the dependency, not a few nodes, is
    down): `open_share` of the last `window` results, with at least `min_samples`."""

    window: int = 50
    min_samples: int = 10
    open_share: float = 0.9
    probe_interval: float = 5.0
    _results: deque[bool] = field(default_factory=deque)
    _open_since: float | None = None
    _probe_at: float = 0.0

    @property
    def open(self) -> bool:
        return self._open_since is not None

    @property
    def next_probe(self) -> float:
        """While open: when the next probe may go out."""
        return self._probe_at

    def allow(self, now: float) -> bool:
        """Closed: every call. Open: one probe per probe interval."""
        if self._open_since is None:
            return True
        if now >= self._probe_at:
            self._probe_at = now + self.probe_interval
            return True
        return False

    def record(self, ok: bool, now: float) -> bool:
        """Returns True when this result closed an open breaker (the dependency is back:
        the caller resets every deadline to a full lease before judging anything)."""
        if self._open_since is not None:
            if ok:
                self._open_since = None
                self._results.clear()
                return True
            return False
        self._results.append(ok)
        while len(self._results) > self.window:
            self._results.popleft()
        failed = sum(1 for r in self._results if not r)
        if len(self._results) >= self.min_samples and \
                failed >= self.open_share * len(self._results):
            self._open_since, self._probe_at = now, now + self.probe_interval
        return False
