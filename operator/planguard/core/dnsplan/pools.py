"""A DNSEndpointPool as the planner reads it, and what the planner decides from it before
and around the plan itself (core/dnsplan/planner.py): each target's state, which pool may
plan its zone, the removals still inside the velocity window, and the pool's status.

Defaults are the CRD's; where a whole block (healthCheck, limits) is absent the CRD
defaults nothing, and the dataclasses' defaults here, the same values, apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from planguard.core import timefmt
from planguard.core.conditions import Condition
from planguard.core.contract import plan_name
from planguard.core.dnsplan.damping import Health
from planguard.core.dnsplan.model import Plan
from planguard.core.dnsplan.planner import (
    Decision,
    Hold,
    Limits,
    PoolEndpoint,
    PoolTarget,
    Removal,
)
from planguard.core.dnsplan.planretry import Refused
from planguard.core.dnsplan.targets import path_problem, slice_address
from planguard.core.dnsplan.validate import plan_problems

PoolKey = tuple[str, str]  # namespace, name
REFUSALS_SHOWN = 5  # target refusals named in a condition or in Events


@dataclass(frozen=True)
class Check:
    type: str = "TCP"
    port: int = 80
    path: str = "/healthz"
    interval: float = 5.0
    timeout: float = 2.0
    to_down: int = 3
    to_up: int = 2


@dataclass(frozen=True)
class Pool:
    key: PoolKey
    zone: str
    endpoints: tuple[PoolEndpoint, ...]
    targets: tuple[PoolTarget, ...]
    check_ports: dict[str, int]
    check: Check
    limits: Limits
    paused: bool
    not_ready: frozenset[str] = frozenset()  # from EndpointSlices: Kubernetes says not ready
    bad_slice_addresses: tuple[str, ...] = ()  # why EndpointSlice addresses were dropped
    created: str = ""  # metadata.creationTimestamp: the oldest pool of a zone plans it
    spec_generation: int | None = None
    service: str | None = None  # spec.service.name


_CHECK_KEYS = {"type": "type", "port": "port", "path": "path", "interval": "intervalSeconds",
               "timeout": "timeoutSeconds", "to_down": "failuresToDown",
               "to_up": "successesToUp"}
_LIMIT_KEYS = {"max_remove_per_plan": "maxRemovePerPlan",
               "max_remove_per_window": "maxRemovePerWindow", "window_seconds": "windowSeconds",
               "fail_static_below": "failStaticBelow", "min_targets": "minTargets"}


def _typed(cls: type[Any], spec: Mapping[str, Any], keys: Mapping[str, str]) -> Any:
    """`cls` from the spec fields present (converted to the field's type), its own
    defaults for the rest."""
    types: dict[str, Callable[[Any], Any]] = {f.name: type(f.default) for f in fields(cls)}
    return cls(**{f: types[f](spec[k]) for f, k in keys.items() if k in spec})


def parse_pool(obj: Mapping[str, Any], slices: Iterable[Mapping[str, Any]]) -> Pool:
    """The pool and its targets: those it lists, then its Service's EndpointSlice
    addresses (refused by the plan's address rules where they break them). Raises
    KeyError, TypeError or ValueError on a pool it cannot read."""
    spec = obj["spec"]
    targets = [PoolTarget(t["address"], int(t.get("capacity", 1)),
                          t.get("availabilityZone", ""), t.get("loadBalancer", ""))
               for t in spec.get("targets") or ()]
    ports = {t["address"]: int(t["checkPort"]) for t in spec.get("targets") or ()
             if t.get("checkPort")}
    not_ready: set[str] = set()
    bad: list[str] = []
    svc = spec.get("service")
    if svc:
        seen = {t.address for t in targets}
        for sl in slices:
            for ep in sl.get("endpoints") or ():
                ready = (ep.get("conditions") or {}).get("ready") is not False
                for raw in ep.get("addresses") or ():
                    # Whoever may write EndpointSlices chose these: the plan's rules apply.
                    addr, why = slice_address(str(raw))
                    if addr is None:
                        bad.append(str(why))
                        continue
                    if addr in seen:
                        continue
                    seen.add(addr)
                    targets.append(PoolTarget(addr, int(svc.get("capacity", 1)),
                                              ep.get("zone", ""), svc["name"]))
                    if not ready:
                        not_ready.add(addr)
    meta = obj["metadata"]
    return Pool(
        key=(meta["namespace"], meta["name"]),
        zone=spec["zone"],
        endpoints=tuple(PoolEndpoint(e["name"], int(e.get("ttl", 60)), e.get("family", "Any"))
                        for e in spec["endpoints"]),
        targets=tuple(targets), check_ports=ports,
        check=_typed(Check, spec.get("healthCheck") or {}, _CHECK_KEYS),
        limits=_typed(Limits, spec.get("limits") or {}, _LIMIT_KEYS),
        paused=bool(spec.get("paused")),
        not_ready=frozenset(not_ready),
        bad_slice_addresses=tuple(bad),
        created=str(meta.get("creationTimestamp") or ""),
        spec_generation=meta.get("generation"),
        service=(svc or {}).get("name"),
    )


def refusals(pool: Pool, refusal: Callable[[str], str | None]) -> dict[str, str]:
    """Targets the planner never checks, and why (none when it checks nothing): all of
    them behind an HTTP path it may not ask for, else each address `refusal` refuses
    (core/dnsplan/targets.py)."""
    if pool.check.type == "None":
        return {}
    if pool.check.type == "HTTP" and (why := path_problem(pool.check.path)) is not None:
        return {t.address: why for t in pool.targets}
    return {t.address: why for t in pool.targets if (why := refusal(t.address)) is not None}


def target_states(pool: Pool, checked: Mapping[str, Health],
                  refused: Mapping[str, str]) -> dict[str, Health]:
    """Each target's state: Kubernetes' readiness as it reports it overrides any check,
    and a refused target is never healthy, since no check may tell; a pool that checks
    nothing counts every other target up. `checked`: the health checks' verdicts."""
    out = {}
    for t in pool.targets:
        if t.address in pool.not_ready or t.address in refused:
            out[t.address] = Health.DOWN
        elif pool.check.type == "None":
            out[t.address] = Health.UP
        else:
            out[t.address] = checked.get(t.address, Health.PENDING)
    return out


def cannot_plan(pool: Pool, planner_of_zone: PoolKey | None, zone_exists: bool,
                has_slices: bool) -> Condition | None:
    """Why this pool writes no plan, from what it names (a Ready=False condition), or None."""
    ns = pool.key[0]
    if planner_of_zone is not None and planner_of_zone != pool.key:
        return Condition("Ready", False, "ZoneHasPool", f"DNSEndpointPool "
                         f"{planner_of_zone[1]!r} already plans zone {pool.zone!r} (one "
                         "pool per zone: the oldest): this pool writes nothing")
    if pool.zone and not zone_exists:
        return Condition("Ready", False, "ZoneNotFound", f"DNSZone {pool.zone!r} does not "
                         f"exist in namespace {ns!r}: no plan written")
    if pool.service and not has_slices and not pool.targets:
        return Condition("Ready", False, "ServiceNotFound", f"Service {pool.service!r} has no "
                         f"EndpointSlices in namespace {ns!r}: no plan written")
    return None


def recent_removals(status: Mapping[str, Any], now: float, window: float) -> list[Removal]:
    """The removals the pool's status records that are still inside the velocity window."""
    out = [Removal(timefmt.epoch(r["at"]), int(r["capacity"]))
           for r in status.get("removals") or ()]
    return [r for r in out if now - r.at < window]


def planning_status(holds: Sequence[Hold], removals: Sequence[Removal],
                    newest: str) -> tuple[list[Condition], dict[str, Any]]:
    """A planning pool's conditions (Paused False, HeldBack, Ready) and the status fields
    the next round reads back (the removals in the window) or people read (the holds)."""
    held = Condition("HeldBack", bool(holds), holds[0].reason if holds else "None",
                     "; ".join(h.message for h in holds))
    extra = {"removals": [{"at": timefmt.millis(r.at), "capacity": r.capacity}
                          for r in removals],
             "holds": [{"reason": h.reason, "message": h.message, "targets": list(h.targets)}
                       for h in holds]}
    return [Condition("Paused", False, "Running"), held,
            Condition("Ready", True, "Planning", f"newest plan {newest}")], extra


def invalid(pool: Pool, d: Decision, generation: int) -> str | None:
    """Why the enactors would refuse the plan `d` makes at `generation` (then it is never
    written), or None."""
    problems = plan_problems(Plan(plan_name(pool.zone, generation), pool.zone, generation,
                                  d.endpoints))
    if not problems:
        return None
    return "the plan this pool makes breaks the plan rules: " + "; ".join(
        p.message for p in problems[:3])


def write_failure(status: int | None, message: str) -> tuple[str, str]:
    """The reason and message of a plan the API server did not create (`status`: its
    answer's HTTP status; None when no answer came): a 4xx is a refusal."""
    if status is None:
        return "PlanFailed", f"the plan could not be written: {message}"
    refused = 400 <= status < 500
    return ("PlanRefused" if refused else "PlanFailed",
            f"the API server {'refused' if refused else 'failed'} the plan ({status}): "
            f"{message[:512]}")


def backing_off(r: Refused) -> Condition:
    return Condition("Ready", False, r.reason, f"{r.message}; next attempt after "
                     f"{timefmt.millis(r.retry_at)} (failure {r.failures} in a row; editing "
                     "the pool retries at once)")


PAUSED = Condition("Paused", True, "Paused", "spec.paused is true: no plans are written")


def pool_status(pool: Pool, states: Mapping[str, Health], refused: Mapping[str, str],
                d: Decision | None, old: Mapping[str, Any]) -> tuple[Condition, dict[str, Any]]:
    """TargetsRefused, and the counts and per-target health every pool status carries
    (`old`: the status read, whose published count stands while nothing was decided)."""
    why = sorted(set(refused.values()) | set(pool.bad_slice_addresses))
    more = len(why) - REFUSALS_SHOWN
    cond = Condition("TargetsRefused", bool(why), "TargetRefused" if why else "None",
                     "; ".join(why[:REFUSALS_SHOWN]) + (f"; and {more} more" if more > 0 else ""))
    return cond, {
        "targets": {"total": len(pool.targets),
                    "healthy": sum(1 for s in states.values() if s is Health.UP),
                    "published": len(d.published) if d else
                    (old.get("targets") or {}).get("published", 0)},
        "health": {a: "refused" if a in refused else s.value for a, s in states.items()},
    }
