"""The lease policy, once: which leases to renew and establish and when, which work to
hand out, what an outcome changes, which leases are live, and which nodes to taint or
untaint. Pure and clocked (every call takes `now`, in seconds on one clock), so the lease
manager (`roles/leases.py`), `planguard replay dwfm` (`sim/dwfm.py`, virtual time) and
`planguard status` run the same rules.

Built from core/nodelease/queue.py (queue, admission, token bucket, circuit breaker)
and core/nodelease/availability_zones.py (tainting rates). Each node is looked at when
it is due, not on every pass:
a renew interval R after its last renewal or attempt, and every node at once when
deadlines are reset after an outage of our own (then only leases older than R are
renewed). So the cost of a pass grows with the work due, not with the fleet (100,000
nodes in the replay).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from planguard.core.nodelease.availability_zones import ZoneCount, taint_rates
from planguard.core.nodelease.queue import (
    LEASE_DURATION,
    AdmissionLimits,
    CircuitBreaker,
    Kind,
    TokenBucket,
    Work,
    WorkQueue,
    admit,
)


def lease_live(renewed_at: float, duration: float, now: float) -> bool:
    """A lease is live for its full duration after its last renewal."""
    return renewed_at + duration > now


@dataclass(frozen=True)
class BreakerLimits:
    window: int = 50
    min_samples: int = 10
    probe_interval: float = 5.0


@dataclass(frozen=True)
class LeasePolicy:
    lease_duration: float = LEASE_DURATION
    renew_interval: float = 10.0
    workers: int = 16
    rate: float = 200.0  # check-ins per second, first attempts included
    burst: float = 50.0
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    breaker: BreakerLimits = field(default_factory=BreakerLimits)
    taint_delay: float = 0.0  # lapsed this long before a taint (0: two renew intervals)


@dataclass(frozen=True)
class Planned:
    admitted: int  # establishments newly queued
    lapsed: tuple[str, ...]  # nodes found without a live lease on this pass


@dataclass(frozen=True)
class TaintPlan:
    apply: tuple[str, ...]
    lift: tuple[str, ...]  # a live lease is a candidate again, at once
    held: Mapping[str, int]  # zone -> lapsed nodes left untainted by the rate limit
    live: int
    lapsed: int


class LeaseScheduler:
    """Observe nodes and renewals; plan(); next_work() until it says no; record() each
    outcome; live() and taints() judge. Single-threaded: the caller serialises calls."""

    def __init__(self, policy: LeasePolicy) -> None:
        self.policy = policy
        self.queue = WorkQueue(aging=policy.renew_interval)
        self.bucket = TokenBucket(policy.rate, policy.burst)
        b = policy.breaker
        self.breaker = CircuitBreaker(window=b.window, min_samples=b.min_samples,
                                      probe_interval=b.probe_interval)
        self.zones: dict[str, str] = {}  # the nodes managed now -> their zone
        self.renewed: dict[str, float] = {}
        self.first_seen: dict[str, float] = {}
        self.recovered_at = -math.inf  # deadlines count from here after our own outage
        self.api_failing = False
        # Completions per second, measured (EWMA), never above what the bucket lets out.
        self.throughput = float(policy.workers)
        self._index: dict[str, int] = {}  # stable order: ties go to the node seen first
        self._names: list[str] = []
        self._due: list[tuple[float, int]] = []
        self._lapsed: set[int] = set()
        self._lapsed_since: dict[str, float] = {}
        self._taint_buckets: dict[str, TokenBucket] = {}

    # -- observing ---------------------------------------------------------------------
    def observe_nodes(self, zones: Mapping[str, str], now: float) -> None:
        """The managed nodes now (name -> zone). A node that appears is due when its known
        lease is (observe_renewal() first), or at once; one first seen gets a full lease of
        grace before it is judged."""
        for name in zones:
            if name not in self.zones:
                renewed = self.renewed.get(name)
                due = now if renewed is None else renewed + self.policy.renew_interval
                self._due_at(max(now, due), name)
            self.first_seen.setdefault(name, now)
        self.zones = dict(zones)

    def observe_renewal(self, node: str, at: float) -> None:
        """A renewal seen in the node's Lease (at a takeover, or read back later): a
        managed node is due a renew interval after it (reading back our own write adds an
        entry that plan() passes over). A node not managed yet is scheduled when it
        appears."""
        known = self.renewed.get(node)
        if known is None or at > known:
            self.renewed[node] = at
            if node in self.zones:
                self._due_at(at + self.policy.renew_interval, node)

    def api_result(self, ok: bool, now: float) -> None:
        """Whether the last call to the API server worked. Its recovery is an outage of
        our own: every node gets a full lease before anything is judged."""
        if ok and self.api_failing:
            self.reset_deadlines(now)
        self.api_failing = not ok

    def stalled(self, gap: float, now: float) -> bool:
        """The caller's loop was away `gap` seconds (CPU starvation, a pause). Longer than
        a renew interval is an outage of our own: deadlines reset. True if so."""
        if gap > self.policy.renew_interval:
            self.reset_deadlines(now)
            return True
        return False

    def reset_deadlines(self, now: float) -> None:
        self.recovered_at = now
        for name in self.zones:
            self._due_at(now, name)

    @property
    def dependency_failing(self) -> bool:
        return self.breaker.open or self.api_failing

    def quiet_until(self) -> float | None:
        """While the breaker is open, nothing but its probe goes out: the probe's time."""
        return self.breaker.next_probe if self.breaker.open else None

    # -- planning and handing out ------------------------------------------------------
    def plan(self, now: float) -> Planned:
        """Looks at every node due by `now`: a live lease is queued for renewal with its
        deadline, a missing or lapsed one becomes a candidate for establishment; then admits
        as many candidates as the queue's length, age and measured throughput allow."""
        p = self.policy
        lapsed = []
        in_flight = self.queue.in_flight()
        while self._due and self._due[0][0] <= now:
            _, i = heapq.heappop(self._due)
            name = self._names[i]
            if name not in self.zones or name in in_flight:
                continue  # gone; or in flight: its outcome makes it due again
            renewed = self.renewed.get(name)
            if renewed is not None and now - renewed < p.renew_interval:
                # Renewed since this entry was made, and that renewal made its own: an
                # entry is a hint to look, so extra ones (a deadline reset, a Lease read
                # back) never turn into a second renewal per interval.
                continue
            if self._held(name, now):
                base = max(self.renewed[name], self.recovered_at)
                self.queue.add(Work(name, Kind.RENEW, now, base + p.lease_duration))
            else:
                self._lapsed.add(i)
                lapsed.append(name)
        throughput = min(self.throughput, self.bucket.rate)
        n = admit(len(self.queue), self.queue.oldest_age(now), throughput, p.admission)
        admitted = 0
        while admitted < n and self._lapsed:
            name = self._names[self._lapsed.pop()]
            if name not in self.zones or self._held(name, now):
                continue  # gone, or live again since it lapsed (a reset, a renewal)
            if self.queue.add(Work(name, Kind.ESTABLISH, now, now + p.lease_duration / 2)):
                admitted += 1
        return Planned(admitted, tuple(lapsed))

    def _held(self, name: str, now: float) -> bool:
        """Whether the node's lease counts as held now (so it is renewed, not established)."""
        renewed = self.renewed.get(name)
        return renewed is not None and lease_live(
            max(renewed, self.recovered_at), self.policy.lease_duration, now)

    def next_work(self, now: float) -> tuple[Work | None, int]:
        """The next check-in to make, if the breaker and the token bucket allow one, and
        how many queued items expired on the way (they are looked at again, never run)."""
        dropped = 0
        while True:
            if not self.breaker.allow(now) or not self.bucket.take(now):
                return None, dropped
            w, expired = self.queue.pop(now)
            dropped += len(expired)
            for e in expired:
                self._due_at(now, e.node)
            if w is None:
                self.bucket.refund()
                return None, dropped
            if w.node in self.zones:
                return w, dropped
            self.queue.done(w.node)  # the node is gone

    def record(self, w: Work, checked_in: bool, renewed_at: float | None, now: float,
               duration: float) -> bool:
        """The outcome of `w`: whether the check-in worked and when the lease was written
        (None: not written). True when this outcome closed the breaker: the dependency is
        back and every deadline was reset to a full lease."""
        back = self.breaker.record(checked_in, now)
        if back:
            self.reset_deadlines(now)
        if renewed_at is not None:
            self.renewed[w.node] = max(self.renewed.get(w.node, -math.inf), renewed_at)
        self._due_at(now + self.policy.renew_interval, w.node)
        dt = max(duration, 1e-3)
        self.throughput = 0.9 * self.throughput + 0.1 * (self.policy.workers / dt)
        self.queue.done(w.node)
        return back

    # -- judging -----------------------------------------------------------------------
    def live(self, node: str, now: float) -> bool:
        """Live for a full lease after its last renewal; a node first seen and every node
        after an outage of our own get a full lease of grace before they are judged."""
        since = max(self.renewed.get(node, -math.inf), self.recovered_at,
                    self.first_seen.get(node, -math.inf))
        return lease_live(since, self.policy.lease_duration, now)

    def taints(self, now: float, tainted: Collection[str]) -> TaintPlan:
        """Which nodes to taint and untaint now: untaint a live lease at once; taint a
        lapse only after it lasted the taint delay, at the availability zone's rate
        (core/nodelease/availability_zones.py), and none at all while the dependency fails."""
        counts: dict[str, ZoneCount] = {}
        lapsed: dict[str, list[str]] = {}
        lift = []
        for name, zone in self.zones.items():
            is_live = self.live(name, now)
            c = counts.get(zone, ZoneCount(0, 0))
            counts[zone] = ZoneCount(c.live + is_live, c.lapsed + (not is_live))
            if is_live:
                self._lapsed_since.pop(name, None)
                if name in tainted:
                    lift.append(name)
            elif name not in tainted:
                lapsed.setdefault(zone, []).append(name)
        rates = taint_rates(counts, dependency_ok=not self.dependency_failing)
        delay = self.policy.taint_delay or 2 * self.policy.renew_interval
        apply, held = [], {}
        for zone, names in lapsed.items():
            if rates[zone] == 0:
                # Frozen: the lapse clock restarts, so a zone coming back from a wide loss
                # does not taint its last few nodes in the seconds before they renew.
                for name in names:
                    self._lapsed_since[name] = now
                held[zone] = len(names)
                continue
            bucket = self._taint_buckets.setdefault(zone, TokenBucket(rates[zone], 1.0))
            bucket.rate = rates[zone]
            for name in names:
                # Judged only once the lapse has lasted a while in a zone that looks normal,
                # so a loss happening all at once is seen as one, not lease by lease.
                if now - self._lapsed_since.setdefault(name, now) < delay:
                    continue
                if not bucket.take(now):
                    held[zone] = held.get(zone, 0) + 1
                    break
                apply.append(name)
        return TaintPlan(tuple(apply), tuple(lift), held,
                         sum(c.live for c in counts.values()),
                         sum(c.lapsed for c in counts.values()))

    # -- internals ---------------------------------------------------------------------
    def _due_at(self, t: float, name: str) -> None:
        i = self._index.get(name)
        if i is None:
            i = self._index[name] = len(self._names)
            self._names.append(name)
        heapq.heappush(self._due, (t, i))
