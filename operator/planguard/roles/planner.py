"""`planguard planner`: health-checks each DNSEndpointPool's targets and writes a new
DNSPlan for its zone when what should be served changes, within the pool's safety limits.

One planner acts at a time (Lease-based leader election); a standby keeps checking health
so a takeover starts warm, and until it knows, fail-static keeps the last plan's set.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from planguard import logs, metrics
from planguard.core import authoring, conditions, planner
from planguard.core.conditions import Condition
from planguard.core.contract import GROUP, POOL_LABEL, VERSION, plan_name
from planguard.core.health import Health, TargetHealth
from planguard.core.liveness import LIVENESS
from planguard.core.model import Plan, endpoint_spec, plan_body
from planguard.core.planner import Decision, Limits, PoolEndpoint, PoolTarget, Removal
from planguard.core.selection import PartCache, candidates, newest_valid
from planguard.healthchecks import http_check, tcp_check
from planguard.kube.api import PlanguardApi
from planguard.kube.generations import create_plan
from planguard.kube.leader import LeaderElector
from planguard.roles import runtime
from planguard.roles.cache import ObjectCache

log = logging.getLogger(__name__)


def _timestamp(wall: float) -> str:
    """RFC 3339 with milliseconds: status times are timestamps, not epoch seconds."""
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _epoch(at: Any) -> float:
    """A status time back to epoch seconds; a number is what earlier versions wrote."""
    if isinstance(at, int | float):
        return float(at)
    return datetime.fromisoformat(str(at)).timestamp()


PoolKey = tuple[str, str]


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


def parse_pool(obj: dict[str, Any], slices: list[dict[str, Any]]) -> Pool:
    spec = obj["spec"]
    hc, lim = spec.get("healthCheck") or {}, spec.get("limits") or {}
    targets = [PoolTarget(t["address"], int(t.get("capacity", 1)),
                          t.get("availabilityZone", ""), t.get("loadBalancer", ""))
               for t in spec.get("targets") or ()]
    ports = {t["address"]: int(t["checkPort"]) for t in spec.get("targets") or ()
             if t.get("checkPort")}
    not_ready: set[str] = set()
    svc = spec.get("service")
    if svc:
        seen = {t.address for t in targets}
        for sl in slices:
            for ep in sl.get("endpoints") or ():
                ready = (ep.get("conditions") or {}).get("ready") is not False
                for addr in ep.get("addresses") or ():
                    if addr in seen:
                        continue
                    seen.add(addr)
                    targets.append(PoolTarget(addr, int(svc.get("capacity", 1)),
                                              ep.get("zone", ""), svc["name"]))
                    if not ready:
                        not_ready.add(addr)
    return Pool(
        key=(obj["metadata"]["namespace"], obj["metadata"]["name"]),
        zone=spec["zone"],
        endpoints=tuple(PoolEndpoint(e["name"], int(e.get("ttl", 60)), e.get("family", "Any"))
                        for e in spec["endpoints"]),
        targets=tuple(targets), check_ports=ports,
        check=Check(hc.get("type", "TCP"), int(hc.get("port", 80)), hc.get("path", "/healthz"),
                    float(hc.get("intervalSeconds", 5)), float(hc.get("timeoutSeconds", 2)),
                    int(hc.get("failuresToDown", 3)), int(hc.get("successesToUp", 2))),
        limits=Limits(float(lim.get("maxRemovePerPlan", 0.34)),
                      float(lim.get("maxRemovePerWindow", 0.5)),
                      float(lim.get("windowSeconds", 600)),
                      float(lim.get("failStaticBelow", 0.5)), int(lim.get("minTargets", 1))),
        paused=bool(spec.get("paused")),
        not_ready=frozenset(not_ready),
    )


def build_registry(cache: PlannerCache) -> kopf.OperatorRegistry:
    registry = runtime.build_registry(cache)

    @kopf.on.event(GROUP, VERSION, "dnsendpointpools", registry=registry)
    async def pool_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        cache.pool_event(event.get("type"), dict(body))

    @kopf.on.event("discovery.k8s.io", "v1", "endpointslices", registry=registry)
    async def slice_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        cache.slice_event(event.get("type"), dict(body))

    return registry


class PlannerCache(ObjectCache):
    def __init__(self) -> None:
        super().__init__()
        self.pools: dict[PoolKey, dict[str, Any]] = {}
        self.slices: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def pool_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.pools.pop(key, None)
        else:
            self.pools[key] = body

    def slice_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not svc:
            return
        group = self.slices.setdefault((meta["namespace"], svc), {})
        if event_type == "DELETED":
            group.pop(meta["name"], None)
        else:
            group[meta["name"]] = body


@dataclass
class _PoolMemo:
    holds: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)


class Planner:
    def __init__(self, api: PlanguardApi, cache: PlannerCache, elector: LeaderElector,
                 tick: float = 0.5) -> None:
        self.api, self.cache, self.elector, self.tick = api, cache, elector, tick
        self.health: dict[tuple[PoolKey, str], TargetHealth] = {}
        self._due: dict[tuple[PoolKey, str], float] = {}
        self._lock = threading.Lock()
        self._checks = ThreadPoolExecutor(max_workers=32, thread_name_prefix="check")
        self._parts: dict[tuple[str, str], PartCache] = {}
        self._memo: dict[PoolKey, _PoolMemo] = {}
        self._stop = threading.Event()

    def pools(self) -> list[Pool]:
        out = []
        for key, obj in list(self.cache.pools.items()):
            svc = ((obj.get("spec") or {}).get("service") or {}).get("name")
            slices = list(self.cache.slices.get((key[0], svc), {}).values()) if svc else []
            try:
                out.append(parse_pool(obj, slices))
            except (KeyError, TypeError, ValueError) as e:
                log.warning("pool %s/%s unreadable: %s", *key, e)
        return out

    # -- health ------------------------------------------------------------------------
    def check_round(self, now: float) -> None:
        for pool in self.pools():
            if pool.check.type == "None":
                continue
            for t in pool.targets:
                k = (pool.key, t.address)
                if self._due.get(k, 0) > now:
                    continue
                self._due[k] = now + pool.check.interval
                self._checks.submit(self._check, pool, t.address)

    def _check(self, pool: Pool, address: str) -> None:
        c = pool.check
        port = pool.check_ports.get(address, c.port)
        ok = (http_check(address, port, c.path, c.timeout) if c.type == "HTTP"
              else tcp_check(address, port, c.timeout))
        with self._lock:
            k = (pool.key, address)
            self.health[k] = self.health.get(k, TargetHealth()).observe(
                ok, time.monotonic(), c.to_down, c.to_up)

    def states(self, pool: Pool) -> dict[str, Health]:
        out = {}
        with self._lock:
            for t in pool.targets:
                if t.address in pool.not_ready:
                    out[t.address] = Health.DOWN  # Kubernetes' readiness, as it reports it
                elif pool.check.type == "None":
                    out[t.address] = Health.UP
                else:
                    out[t.address] = self.health.get((pool.key, t.address), TargetHealth()).state
        return out

    # -- planning ----------------------------------------------------------------------
    def plan_round(self) -> None:
        leading = self.elector.leading
        metrics.PLANNER_LEADER.set(1 if leading else 0)
        if not leading:
            return
        for pool in self.pools():
            try:
                self._plan(pool)
            except Exception:
                log.exception("planning %s/%s failed; retrying next round", *pool.key)

    def _newest(self, pool: Pool) -> tuple[Plan | None, int]:
        """The newest valid plan of the pool's zone, and the highest generation seen."""
        zkey = (pool.key[0], pool.zone)
        cands = candidates(self.cache.plans(zkey), self._parts.setdefault(zkey, PartCache()))
        newest = newest_valid(cands)
        top = max((c.plan.generation for c in cands), default=0)
        return (newest.plan if newest else None), top

    def _plan(self, pool: Pool) -> None:
        with logs.bound(zone=f"{pool.key[0]}/{pool.zone}", pool=pool.key[1]):
            self._plan_pool(pool)

    def _plan_pool(self, pool: Pool) -> None:
        ns = pool.key[0]
        zlabel = f"{ns}/{pool.zone}"
        memo = self._memo.setdefault(pool.key, _PoolMemo())
        obj = self.cache.pools.get(pool.key) or {}
        status = obj.get("status") or {}
        states = self.states(pool)
        for state in Health:
            metrics.PLANNER_TARGETS.labels(zlabel, state.value).set(
                sum(1 for s in states.values() if s is state))
        if pool.paused:
            self._status(pool, obj, memo, None, states, [Condition("Paused", True, "Paused",
                         "spec.paused is true: no plans are written")])
            return
        svc = ((obj.get("spec") or {}).get("service") or {}).get("name")
        if pool.zone and (ns, pool.zone) not in self.cache.zones:
            self._cannot_plan(pool, obj, memo, states, "ZoneNotFound", f"DNSZone {pool.zone!r}"
                              f" does not exist in namespace {ns!r}: no plan written")
            return
        if svc and not self.cache.slices.get((ns, svc)) and not pool.targets:
            self._cannot_plan(pool, obj, memo, states, "ServiceNotFound", f"Service {svc!r} has "
                              f"no EndpointSlices in namespace {ns!r}: no plan written")
            return
        newest, top = self._newest(pool)
        now = time.time()
        removals = [Removal(_epoch(r["at"]), int(r["capacity"]))
                    for r in status.get("removals") or ()
                    if now - _epoch(r["at"]) < pool.limits.window_seconds]
        current = planner.published_by(newest, (e.name for e in pool.endpoints))
        d = planner.decide(pool.targets, states, current, removals, pool.limits, now,
                           pool.endpoints)
        holds = d.holds
        wrote = None
        if d.needs_plan(newest):
            endpoints = [endpoint_spec(e) for e in d.endpoints]
            # Approved by the planner itself: its velocity control and fail-static are the
            # review a zone's change guard asks of people (core/authoring.py).
            wrote = create_plan(self.api, ns, pool.zone, lambda g: authoring.approved(plan_body(
                pool.zone, g, endpoints, namespace=ns, labels={POOL_LABEL: pool.key[1]})),
                at_least=top)
            metrics.PLANNER_PLANS.labels(zlabel).inc()
            self.api.event(obj, "DNSEndpointPool", "Normal", "PlanCreated",
                           f"plan {plan_name(pool.zone, wrote)}: +{list(d.added)} "
                           f"-{list(d.removed)}")
            if d.removed_capacity:
                removals.append(Removal(now, d.removed_capacity))
        sig = tuple(f"{h.reason}:{','.join(h.targets)}" for h in holds)
        if sig != memo.holds:
            memo.holds = sig
            for h in holds:
                metrics.PLANNER_HOLDS.labels(zlabel, h.reason).inc()
                self.api.event(obj, "DNSEndpointPool", "Warning", "HeldBack",
                               f"{h.reason}: {h.message} ({', '.join(h.targets) or 'all'})")
        held = Condition("HeldBack", bool(holds), holds[0].reason if holds else "None",
                         "; ".join(h.message for h in holds))
        extra = {"removals": [{"at": _timestamp(r.at), "capacity": r.capacity}
                              for r in removals],
                 "holds": [{"reason": h.reason, "message": h.message,
                            "targets": list(h.targets)} for h in holds]}
        if wrote is not None:
            extra["lastPlanGeneration"] = wrote
        ready = Condition("Ready", True, "Planning",
                          f"newest plan {plan_name(pool.zone, wrote or top)}")
        self._status(pool, obj, memo, d, states,
                     [Condition("Paused", False, "Running"), held, ready], extra)

    def _cannot_plan(self, pool: Pool, obj: dict[str, Any], memo: _PoolMemo,
                     states: dict[str, Health], reason: str, msg: str) -> None:
        """Bad input: a condition, one Event per change, and no plan."""
        if memo.holds != (reason,):
            memo.holds = (reason,)
            self.api.event(obj, "DNSEndpointPool", "Warning", reason, msg)
        self._status(pool, obj, memo, None, states, [Condition("Ready", False, reason, msg)])

    def _status(self, pool: Pool, obj: dict[str, Any], memo: _PoolMemo, d: Decision | None,
                states: dict[str, Health], conds: list[Condition],
                extra: dict[str, Any] | None = None) -> None:
        status = obj.get("status") or {}
        new = {
            "observedGeneration": (obj.get("metadata") or {}).get("generation"),
            "targets": {"total": len(pool.targets),
                        "healthy": sum(1 for s in states.values() if s is Health.UP),
                        "published": len(d.published) if d else
                        (status.get("targets") or {}).get("published", 0)},
            "health": {a: s.value for a, s in states.items()},
            **(extra or {}),
        }
        # Fields compared with what this planner last wrote, not with the cached pool.
        body = conditions.status_update(status, conds, datetime.now(UTC),
                                        new["observedGeneration"], new, previous=memo.status)
        if body is None:
            return
        written = self.api.write_status("dnsendpointpools", pool.key[0], pool.key[1], body)
        memo.status = new if written else {}

    def run(self) -> None:
        while not self._stop.is_set():
            # Checks and API calls all time out; a round silent this long is wedged.
            LIVENESS.beat("planner loop", self.tick + runtime.RECONCILE_BUDGET)
            now = time.monotonic()
            self.check_round(now)
            self.plan_round()
            self._stop.wait(self.tick)

    def stop(self) -> None:
        self._stop.set()
        LIVENESS.forget("planner loop")
