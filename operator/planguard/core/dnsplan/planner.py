"""The planner's decision: from targets, their health and the last plan, which targets a
new plan publishes, held back by velocity control and fail-static, and the endpoints of
that plan (each endpoint gets the targets of its address family; one left without an
address holds the whole plan back).

Adding capacity is always allowed at once. Removing capacity is limited per plan and per
time window; when too much looks dead at once (healthy share below a threshold), the
checker is more likely wrong than the fleet, so the last published set is kept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from planguard.core.dnsplan.damping import Health
from planguard.core.dnsplan.model import Endpoint, Plan, Target


@dataclass(frozen=True)
class PoolTarget:
    """A target as the pool lists it: its capacity becomes a weight in the plan."""

    address: str
    capacity: int = 1
    availability_zone: str = ""
    load_balancer: str = ""


@dataclass(frozen=True)
class PoolEndpoint:
    """A name the pool serves: the public name and its variants share the pool's targets."""

    name: str
    ttl: int = 60
    family: str = "Any"  # IPv4, IPv6 or Any: which of the targets' addresses it answers

    def serves(self, address: str) -> bool:
        if self.family == "Any":
            return True
        return ipaddress.ip_address(address).version == (4 if self.family == "IPv4" else 6)


@dataclass(frozen=True)
class Limits:
    max_remove_per_plan: float = 0.34  # share of total capacity one plan may remove
    max_remove_per_window: float = 0.5  # share of total capacity removable per window
    window_seconds: float = 600.0
    fail_static_below: float = 0.5  # healthy capacity share below which nothing is removed
    min_targets: int = 1


@dataclass(frozen=True)
class Removal:
    at: float
    capacity: int


@dataclass(frozen=True)
class Hold:
    reason: str  # FailStatic, VelocityPerPlan, VelocityWindow, MinTargets
    message: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    published: frozenset[str]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    holds: tuple[Hold, ...] = ()
    removed_capacity: int = 0
    changed: bool = False
    weights: Mapping[str, int] = field(default_factory=dict)
    endpoints: tuple[Endpoint, ...] = ()  # the plan's endpoints, with these weights
    empty: tuple[str, ...] = ()  # endpoints that would publish no address

    @property
    def publishable(self) -> bool:
        """A plan may be written from this decision: it has endpoints and none is empty."""
        return bool(self.endpoints) and not self.empty

    def needs_plan(self, newest: Plan | None) -> bool:
        """A new plan is written when publishable and different from the newest one."""
        return self.publishable and (newest is None or self.endpoints != newest.endpoints)


def published_by(plan: Plan | None, names: Iterable[str]) -> frozenset[str] | None:
    """The addresses `plan` publishes for the endpoints `names` (None: no plan yet)."""
    if plan is None:
        return None
    wanted = set(names)
    return frozenset(a for e in plan.endpoints if e.name in wanted
                     for a in (e.published[0] | e.published[1]))


def endpoints_for(pool: Sequence[PoolEndpoint], targets: Sequence[PoolTarget],
                  weights: Mapping[str, int]) -> tuple[tuple[Endpoint, ...], tuple[str, ...]]:
    """Each endpoint with the targets of its family (by address, weights as given), and
    the names of those that would publish no address."""
    eps, empty = [], []
    for pe in pool:
        ts = tuple(Target(t.address, weights.get(t.address, 0), t.load_balancer,
                          t.availability_zone)
                   for t in sorted(targets, key=lambda t: t.address) if pe.serves(t.address))
        if not any(t.weight > 0 for t in ts):
            empty.append(pe.name)
        eps.append(Endpoint(pe.name, pe.ttl, ts))
    return tuple(eps), tuple(empty)


def weights(targets: Iterable[PoolTarget], published: frozenset[str]) -> dict[str, int]:
    """Weight per target, proportional to capacity, normalised to 1..255 for published
    targets (the largest gets 255); 0 for every target not published (drained)."""
    ts = list(targets)
    top = max((t.capacity for t in ts if t.address in published), default=0)
    out = {}
    for t in ts:
        if t.address in published and top > 0:
            out[t.address] = max(1, round(255 * t.capacity / top))
        else:
            out[t.address] = 0
    return out


def decide(
    targets: Sequence[PoolTarget],
    health: Mapping[str, Health],
    current: frozenset[str] | None,
    removals: Sequence[Removal],
    limits: Limits,
    now: float,
    endpoints: Sequence[PoolEndpoint] = (),
) -> Decision:
    """The set to publish next and the plan's `endpoints`. `current` is what the newest
    plan publishes (None: no plan yet); `removals` the capacity removed by earlier plans,
    for the window. An endpoint left with no address adds the EmptyEndpoint hold: no plan
    is written, the last one stays."""
    by_addr = {t.address: t for t in targets}
    cap = {t.address: max(t.capacity, 0) for t in targets}
    total = sum(cap.values())
    up = frozenset(a for a in by_addr if health.get(a) is Health.UP)
    known = frozenset(a for a in by_addr if health.get(a, Health.PENDING) is not Health.PENDING)
    healthy_share = (sum(cap[a] for a in up) / total) if total else 0.0

    if current is None:
        # First plan: publish what is up; nothing to remove, so no velocity to apply.
        if not up or healthy_share < limits.fail_static_below or len(up) < limits.min_targets:
            hold = Hold("FailStatic", f"only {healthy_share:.0%} of capacity is up and there "
                        "is no earlier plan to keep; waiting", tuple(sorted(by_addr)))
            return _result(targets, frozenset(), frozenset(), (hold,), 0, endpoints)
        return _result(targets, frozenset(), up, (), 0, endpoints)

    gone = current - by_addr.keys()  # removed from the pool's configuration: not health
    additions = up - current
    candidates = sorted(a for a in current & by_addr.keys() if a not in up and a in known)
    holds: list[Hold] = []

    if candidates and (healthy_share < limits.fail_static_below or not up):
        holds.append(Hold(
            "FailStatic",
            f"only {healthy_share:.0%} of capacity looks healthy (threshold "
            f"{limits.fail_static_below:.0%}): keeping the last published set",
            tuple(candidates)))
        candidates = []

    window_used = sum(r.capacity for r in removals if now - r.at < limits.window_seconds)
    per_plan = int(limits.max_remove_per_plan * total)
    per_window = max(0, int(limits.max_remove_per_window * total) - window_used)
    budget = min(per_plan, per_window)
    remaining = len(current | additions) - len(gone)
    removed: list[str] = []
    held: dict[str, list[str]] = {"VelocityPerPlan": [], "VelocityWindow": [], "MinTargets": []}
    spent = 0
    for a in sorted(candidates, key=lambda a: (cap[a], a)):
        if remaining - 1 < limits.min_targets:
            held["MinTargets"].append(a)
        elif spent + cap[a] > budget:
            held["VelocityWindow" if per_window < per_plan else "VelocityPerPlan"].append(a)
        else:
            removed.append(a)
            spent += cap[a]
            remaining -= 1
    msgs = {
        "VelocityPerPlan": f"one plan may remove at most {limits.max_remove_per_plan:.0%} "
                           "of capacity",
        "VelocityWindow": f"at most {limits.max_remove_per_window:.0%} of capacity may be "
                          f"removed per {limits.window_seconds:.0f} s ({window_used} already)",
        "MinTargets": f"at least {limits.min_targets} target(s) stay published",
    }
    holds += [Hold(r, msgs[r], tuple(ts)) for r, ts in held.items() if ts]
    published = (current - gone - frozenset(removed)) | additions
    return _result(targets, current, published, tuple(holds), spent, endpoints)


def _result(targets: Sequence[PoolTarget], current: frozenset[str], published: frozenset[str],
            holds: tuple[Hold, ...], removed_capacity: int,
            endpoints: Sequence[PoolEndpoint]) -> Decision:
    w = weights(targets, published)
    eps, empty = endpoints_for(endpoints, targets, w)
    if empty:
        holds += (Hold("EmptyEndpoint", f"{', '.join(empty)} would publish no address: "
                       "keeping the last plan", ()),)
    return Decision(
        published=published,
        added=tuple(sorted(published - current)),
        removed=tuple(sorted(current - published)),
        holds=holds,
        removed_capacity=removed_capacity,
        changed=published != current,
        weights=w,
        endpoints=eps,
        empty=empty,
    )
