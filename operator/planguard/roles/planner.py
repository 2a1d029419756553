"""`planguard planner`: health-checks each DNSEndpointPool's targets and writes a new
DNSPlan for its zone when what should be served changes, within the pool's safety limits.

One planner acts at a time (Lease-based leader election); a standby keeps checking health
so a takeover starts warm, and until it knows, fail-static keeps the last plan's set.

Checks go only where the platform team allows (core/targets.py), one in flight per target
and a bounded number per pool (core/checkqueue.py). One pool plans a zone
(core/zonepools.py); a plan refused or failed stops that pool's writes for a backoff
(core/planretry.py).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from planguard import logs, metrics
from planguard.core import authoring, conditions, planner, planretry
from planguard.core.checkqueue import CheckQueue
from planguard.core.conditions import Condition
from planguard.core.contract import GROUP, POOL_LABEL, VERSION, plan_name
from planguard.core.health import Health, TargetHealth
from planguard.core.liveness import LIVENESS
from planguard.core.model import Plan, endpoint_spec, plan_body
from planguard.core.planner import Decision, Limits, PoolEndpoint, PoolTarget, Removal
from planguard.core.selection import Candidate, PartCache, candidates, newest_valid
from planguard.core.targets import (
    DEFAULT_ALLOWED,
    TargetPolicy,
    parse_cidrs,
    path_problem,
    slice_address,
)
from planguard.core.validate import plan_problems
from planguard.core.zonepools import zone_planners
from planguard.healthchecks import Checker
from planguard.kube.api import PlanguardApi
from planguard.kube.generations import create_plan
from planguard.kube.leader import LeaderElector
from planguard.kube.rest import ApiError
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
    bad_slice_addresses: tuple[str, ...] = ()  # why EndpointSlice addresses were dropped
    created: str = ""  # metadata.creationTimestamp: the oldest pool of a zone plans it
    spec_generation: int | None = None


def parse_pool(obj: dict[str, Any], slices: list[dict[str, Any]]) -> Pool:
    spec = obj["spec"]
    hc, lim = spec.get("healthCheck") or {}, spec.get("limits") or {}
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
        check=Check(hc.get("type", "TCP"), int(hc.get("port", 80)), hc.get("path", "/healthz"),
                    float(hc.get("intervalSeconds", 5)), float(hc.get("timeoutSeconds", 2)),
                    int(hc.get("failuresToDown", 3)), int(hc.get("successesToUp", 2))),
        limits=Limits(float(lim.get("maxRemovePerPlan", 0.34)),
                      float(lim.get("maxRemovePerWindow", 0.5)),
                      float(lim.get("windowSeconds", 600)),
                      float(lim.get("failStaticBelow", 0.5)), int(lim.get("minTargets", 1))),
        paused=bool(spec.get("paused")),
        not_ready=frozenset(not_ready),
        bad_slice_addresses=tuple(bad),
        created=str(meta.get("creationTimestamp") or ""),
        spec_generation=meta.get("generation"),
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
    refused: planretry.Refused | None = None  # the last plan write failed: backing off
    wrote: int | None = None  # the generation this planner last wrote for the pool
    refusals: tuple[str, ...] = ()  # target refusals last reported in an Event


DEFAULT_POLICY = TargetPolicy(parse_cidrs(DEFAULT_ALLOWED))


class Planner:
    def __init__(self, api: PlanguardApi, cache: PlannerCache, elector: LeaderElector,
                 tick: float = 0.5, policy: TargetPolicy = DEFAULT_POLICY,
                 checks_per_pool: int = 16) -> None:
        self.api, self.cache, self.elector, self.tick = api, cache, elector, tick
        # Asked for every target several times a tick: answered once per address.
        self._refusal = functools.lru_cache(maxsize=1 << 16)(policy.refusal)
        self.health: dict[tuple[PoolKey, str], TargetHealth] = {}
        self._lock = threading.Lock()
        self._queue = CheckQueue(checks_per_pool)  # guarded by _lock
        self._checker = Checker()
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

    @staticmethod
    def planners(pools: list[Pool]) -> dict[tuple[str, str], PoolKey]:
        return zone_planners((p.key, p.zone, p.created) for p in pools)

    def refusals(self, pool: Pool) -> dict[str, str]:
        """Targets the planner never checks, and why (none when it checks nothing)."""
        if pool.check.type == "None":
            return {}
        if pool.check.type == "HTTP" and (why := path_problem(pool.check.path)) is not None:
            return {t.address: why for t in pool.targets}
        return {t.address: why for t in pool.targets
                if (why := self._refusal(t.address)) is not None}

    # -- health ------------------------------------------------------------------------
    def check_round(self, now: float) -> None:
        pools = self.pools()
        planners = self.planners(pools)
        live = []
        for pool in pools:
            if pool.check.type == "None" or planners.get((pool.key[0], pool.zone)) != pool.key:
                continue
            refused = self.refusals(pool)
            allowed = [t.address for t in pool.targets if t.address not in refused]
            live += [(pool.key, a) for a in allowed]
            with self._lock:
                due = self._queue.take(pool.key, allowed, now, pool.check.interval)
            c = pool.check
            for a in due:
                self._checker.submit(c.type, a, pool.check_ports.get(a, c.port), c.path,
                                     c.timeout, self._observer(pool, a))
        with self._lock:
            self._queue.retain(live)

    def _observer(self, pool: Pool, address: str) -> Any:
        c, k = pool.check, (pool.key, address)

        def done(ok: bool) -> None:
            with self._lock:
                self._queue.done(pool.key, address)
                self.health[k] = self.health.get(k, TargetHealth()).observe(
                    ok, time.monotonic(), c.to_down, c.to_up)
        return done

    def states(self, pool: Pool) -> dict[str, Health]:
        out = {}
        refused = self.refusals(pool)
        with self._lock:
            for t in pool.targets:
                if t.address in pool.not_ready or t.address in refused:
                    # Kubernetes' readiness as it reports it; a refused target never counts
                    out[t.address] = Health.DOWN  # as healthy, since no check may tell.
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
        pools = self.pools()
        planners = self.planners(pools)
        for key in list(self._memo):
            if key not in self.cache.pools:
                del self._memo[key]  # a deleted pool's backoff and memo go with it
        for pool in pools:
            try:
                self._plan(pool, planners.get((pool.key[0], pool.zone)))
            except Exception:
                log.exception("planning %s/%s failed; retrying next round", *pool.key)

    def _candidates(self, pool: Pool) -> list[Candidate]:
        zkey = (pool.key[0], pool.zone)
        return candidates(self.cache.plans(zkey), self._parts.setdefault(zkey, PartCache()))

    def _plan(self, pool: Pool, planner_of_zone: PoolKey | None) -> None:
        with logs.bound(zone=f"{pool.key[0]}/{pool.zone}", pool=pool.key[1]):
            self._plan_pool(pool, planner_of_zone)

    def _plan_pool(self, pool: Pool, planner_of_zone: PoolKey | None) -> None:
        ns = pool.key[0]
        zlabel = f"{ns}/{pool.zone}"
        memo = self._memo.setdefault(pool.key, _PoolMemo())
        obj = self.cache.pools.get(pool.key) or {}
        status = obj.get("status") or {}
        states = self.states(pool)
        for state in Health:
            metrics.PLANNER_TARGETS.labels(zlabel, state.value).set(
                sum(1 for s in states.values() if s is state))
        self._report_refusals(pool, obj, memo)
        if pool.paused:
            self._status(pool, obj, memo, None, states, [Condition("Paused", True, "Paused",
                         "spec.paused is true: no plans are written")])
            return
        if planner_of_zone is not None and planner_of_zone != pool.key:
            self._cannot_plan(pool, obj, memo, states, "ZoneHasPool", f"DNSEndpointPool "
                              f"{planner_of_zone[1]!r} already plans zone {pool.zone!r} (one "
                              "pool per zone: the oldest): this pool writes nothing")
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
        cands = self._candidates(pool)
        newest_c = newest_valid(cands)
        newest = newest_c.plan if newest_c else None
        top = max((c.plan.generation for c in cands), default=0)
        now = time.time()
        if memo.wrote is not None and (why := planretry.refused_by_rules(cands, memo.wrote)):
            memo.wrote = None  # counted once
            self._failed(obj, memo, pool, "PlanRefused", why, now)
        removals = [Removal(_epoch(r["at"]), int(r["capacity"]))
                    for r in status.get("removals") or ()
                    if now - _epoch(r["at"]) < pool.limits.window_seconds]
        current = planner.published_by(newest, (e.name for e in pool.endpoints))
        d = planner.decide(pool.targets, states, current, removals, pool.limits, now,
                           pool.endpoints)
        holds = d.holds
        wrote = None
        if d.needs_plan(newest):
            if not planretry.may_write(memo.refused, now, pool.spec_generation):
                self._backing_off(pool, obj, memo, states)
                return
            wrote = self._write(pool, obj, memo, d, top, now)
            if wrote is None:
                self._backing_off(pool, obj, memo, states)
                return
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

    def _write(self, pool: Pool, obj: dict[str, Any], memo: _PoolMemo, d: Decision,
               top: int, now: float) -> int | None:
        """Writes the decision's plan: its generation, or None after a refusal or failure
        (then the pool backs off; a generation is kept only by a plan that was created)."""
        ns = pool.key[0]
        # The enactors' plan rules first: a plan they would refuse is never written.
        problems = plan_problems(Plan(plan_name(pool.zone, top + 1), pool.zone, top + 1,
                                      d.endpoints))
        if problems:
            self._failed(obj, memo, pool, "PlanInvalid", "the plan this pool makes breaks the "
                         "plan rules: " + "; ".join(p.message for p in problems[:3]), now)
            return None
        endpoints = [endpoint_spec(e) for e in d.endpoints]
        try:
            # Approved by the planner itself: its velocity control and fail-static are the
            # review a zone's change guard asks of people (core/authoring.py).
            wrote = create_plan(self.api, ns, pool.zone, lambda g: authoring.approved(plan_body(
                pool.zone, g, endpoints, namespace=ns, labels={POOL_LABEL: pool.key[1]})),
                at_least=top)
        except ApiError as e:
            refused = 400 <= e.status < 500
            self._failed(obj, memo, pool, "PlanRefused" if refused else "PlanFailed",
                         f"the API server {'refused' if refused else 'failed'} the plan "
                         f"({e.status}): {e.message[:512]}", now)
            return None
        except Exception as e:  # any failure backs off: a retry every tick is the storm
            self._failed(obj, memo, pool, "PlanFailed", f"the plan could not be written: {e}",
                         now)
            return None
        memo.refused, memo.wrote = None, wrote
        return wrote

    def _failed(self, obj: dict[str, Any], memo: _PoolMemo, pool: Pool, reason: str,
                message: str, now: float) -> None:
        memo.refused = planretry.after_failure(memo.refused, reason, message, now,
                                               pool.spec_generation)
        log.warning("%s: %s; backing off %.0f s", reason, message, memo.refused.retry_at - now)
        metrics.PLANNER_FAILURES.labels(f"{pool.key[0]}/{pool.zone}", reason).inc()
        self.api.event(obj, "DNSEndpointPool", "Warning", reason, message)

    def _backing_off(self, pool: Pool, obj: dict[str, Any], memo: _PoolMemo,
                     states: dict[str, Health]) -> None:
        r = memo.refused
        assert r is not None
        self._status(pool, obj, memo, None, states, [Condition(
            "Ready", False, r.reason, f"{r.message}; next attempt after "
            f"{_timestamp(r.retry_at)} (failure {r.failures} in a row; editing the pool "
            "retries at once)")])

    def _report_refusals(self, pool: Pool, obj: dict[str, Any], memo: _PoolMemo) -> None:
        """One Warning Event per target refusal when the set changes."""
        why = (*self.refusals(pool).values(), *pool.bad_slice_addresses)
        if why != memo.refusals:
            memo.refusals = why
            for w in sorted(set(why))[:5]:
                self.api.event(obj, "DNSEndpointPool", "Warning", "TargetRefused", w)

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
        refused = self.refusals(pool)
        why = sorted(set(refused.values()) | set(pool.bad_slice_addresses))
        conds = [*conds, Condition(
            "TargetsRefused", bool(why), "TargetRefused" if why else "None",
            "; ".join(why[:5]) + (f"; and {len(why) - 5} more" if len(why) > 5 else ""))]
        new = {
            "observedGeneration": (obj.get("metadata") or {}).get("generation"),
            "targets": {"total": len(pool.targets),
                        "healthy": sum(1 for s in states.values() if s is Health.UP),
                        "published": len(d.published) if d else
                        (status.get("targets") or {}).get("published", 0)},
            "health": {a: "refused" if a in refused else s.value for a, s in states.items()},
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
        self._checker.stop()
        LIVENESS.forget("planner loop")
