"""DWFM's lease recovery in virtual time: planguard's lease policy (the production
core/nodelease/scheduler.py, as the lease manager runs it) against a naive manager (FIFO, no
de-duplication, timed-out attempts re-enqueued), through a long dependency outage and its
recovery. Time advances in slots of one operation's cost c; k workers each finish one
operation per slot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from planguard.core.nodelease.queue import AdmissionLimits
from planguard.core.nodelease.scheduler import BreakerLimits, LeasePolicy, LeaseScheduler


@dataclass(frozen=True)
class Scenario:
    nodes: int
    workers: int
    lease: float = 300.0  # L
    renew: float = 60.0  # R
    cost: float = 0.1  # c = c_e, worker-seconds per check-in
    outage_start: float = 600.0
    outage: float = 9000.0  # D: 2.5 h
    utilisation: float = 0.8  # u: the token bucket's share of capacity
    after: float = 3600.0  # simulated time after recovery

    @property
    def recovery(self) -> float:
        return self.outage_start + self.outage

    def bound(self) -> float:
        """T_rec >= N*c/(u*k), the reference's lower bound."""
        return self.nodes * self.cost / (self.utilisation * self.workers)

    def up(self, t: float) -> bool:
        return not self.outage_start <= t < self.recovery


@dataclass
class Result:
    manager: str
    t_rec: float | None  # from the dependency's recovery until every lease is live again
    attempts: int = 0  # check-ins tried from the recovery on
    establishments: int = 0  # leases (re-)established from the recovery on
    false_expiries: int = 0  # healthy nodes whose lease lapsed after the recovery
    taints: int = 0
    goodput: list[tuple[float, float]] = field(default_factory=list)  # (t, establishments/s)

    @property
    def amplification(self) -> float:
        return self.attempts / self.establishments if self.establishments else float("inf")


def planguard(sc: Scenario) -> Result:
    """The production policy (core/nodelease/scheduler.py): keyed queue, renewals first,
    deadlines, admission, token bucket, circuit breaker, and a grace reset to a full lease
    when the dependency is back. Only the check-ins are simulated."""
    n, dt = sc.nodes, sc.cost
    sched = LeaseScheduler(policy(sc))
    for i in range(n):
        sched.observe_renewal(str(i), -sc.renew * i / n)  # steady state, spread over R
    sched.observe_nodes(dict.fromkeys(map(str, range(n)), ""), 0.0)
    first_after: list[float | None] = [None] * n  # first renewal after the recovery
    back = 0
    res = Result("planguard", None)
    per_sec: dict[int, int] = {}
    t = 0.0
    end = sc.recovery + sc.after
    while t < end:
        quiet = sched.quiet_until()
        if quiet is not None and not sc.up(t):
            t = max(t + dt, quiet)  # nothing runs but the slow probe
        lapsed = sched.plan(t).lapsed
        if t >= sched.recovered_at >= sc.recovery:
            res.false_expiries += len(lapsed)  # lapsed although the dependency is back
        for _ in range(sc.workers):
            w, _ = sched.next_work(t)
            if w is None:
                break
            i, ok = int(w.node), sc.up(t)
            if t >= sc.recovery:
                res.attempts += 1
            sched.record(w, ok, t if ok else None, t, dt)
            if ok and t >= sc.recovery:
                if first_after[i] is None:
                    first_after[i] = t
                    back += 1
                res.establishments += 1
                per_sec[int(t)] = per_sec.get(int(t), 0) + 1
        if res.t_rec is None and back == n:
            res.t_rec = t - sc.recovery
        t += dt
    res.goodput = sorted((float(s) - sc.recovery, float(c)) for s, c in per_sec.items())
    return res


def policy(sc: Scenario) -> LeasePolicy:
    """The scenario's manager: the bucket lets out u of the workers' capacity."""
    return LeasePolicy(
        lease_duration=sc.lease, renew_interval=sc.renew, workers=sc.workers,
        rate=sc.utilisation * sc.workers / sc.cost, burst=float(sc.workers),
        admission=AdmissionLimits(max_queue=sc.nodes, max_oldest_age=sc.renew / 2,
                                  lease_period=sc.lease),
        breaker=BreakerLimits(window=200, min_samples=50, probe_interval=5.0))


def naive(sc: Scenario) -> Result:
    """FIFO, no de-duplication, each attempt carrying the deadline of its enqueue time,
    timed-out attempts re-enqueued at the tail, per-node timers firing every R."""
    n, dt = sc.nodes, sc.cost
    q: deque[tuple[float, int]] = deque()
    # During the outage every attempt fails and is re-enqueued, and each node's timer adds
    # one attempt per renew period: the backlog when the dependency returns (Q0 = N*D/R).
    ticks = int(sc.outage / sc.renew)
    for m in range(ticks):
        for i in range(n):
            q.append((sc.outage_start + m * sc.renew, i))
    live_until = [sc.outage_start - 1.0] * n  # every lease lapsed during the outage
    res = Result("naive", None)
    per_sec: dict[int, int] = {}
    next_timer = sc.recovery
    t = sc.recovery
    end = sc.recovery + sc.after
    remaining = n
    while t < end:
        if t >= next_timer:
            q.extend((t, i) for i in range(n) if live_until[i] < t)
            next_timer += sc.renew
        for _ in range(sc.workers):
            if not q:
                break
            enq, i = q.popleft()
            res.attempts += 1
            if t - enq > sc.lease:
                q.append((t, i))  # timed out: re-enqueued behind everything else
                continue
            if live_until[i] < t:
                res.establishments += 1
                per_sec[int(t)] = per_sec.get(int(t), 0) + 1
                remaining -= 1
            live_until[i] = t + sc.lease
        if remaining == 0 and res.t_rec is None:
            res.t_rec = t - sc.recovery
        t += dt
    res.goodput = sorted((float(s) - sc.recovery, float(c)) for s, c in per_sec.items())
    return res


def timeline(sc: Scenario, results: list[Result], step: float = 10.0,
             until: float = 120.0) -> str:
    """A readable comparison: leases re-established per interval after the recovery."""
    lines = [f"DWFM lease recovery: N={sc.nodes} nodes, k={sc.workers} workers, lease "
             f"{sc.lease:.0f} s, renew {sc.renew:.0f} s, check-in {sc.cost} s, dependency "
             f"down {sc.outage / 3600:.1f} h; bound N*c/(u*k) = {sc.bound():.1f} s", ""]
    lines.append("seconds after recovery " + " ".join(f"{r.manager:>12}" for r in results))
    t = 0.0
    while t < until:
        cells = []
        for r in results:
            got = sum(c for x, c in r.goodput if t <= x < t + step)
            cells.append(f"{got:>12.0f}")
        lines.append(f"{t:>6.0f}-{t + step:<4.0f} established " + " ".join(cells))
        t += step
    lines.append("")
    for r in results:
        rec = f"{r.t_rec:.1f} s" if r.t_rec is not None else f"never within {sc.after:.0f} s"
        lines.append(f"{r.manager}: recovered {rec}; {r.attempts} attempts for "
                     f"{r.establishments} successes (amplification {r.amplification:.2f}); "
                     f"{r.false_expiries} false expiries")
    return "\n".join(lines)
