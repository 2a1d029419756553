"""`planguard planner`: health-checks each DNSEndpointPool's targets and writes a new
DNSPlan for its zone when what should be served changes, within the pool's safety limits.

One planner acts at a time (Lease-based leader election); a standby keeps checking health
so a takeover starts warm, and until it knows, fail-static keeps the last plan's set.

Checks go only where the platform team allows (core/dnsplan/targets.py), one in flight per target
and a bounded number per pool (core/dnsplan/checkqueue.py). One pool plans a zone
(core/dnsplan/zonepools.py); a plan refused or failed stops that pool's writes for a backoff
(core/dnsplan/planretry.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import kopf

from planguard import logs, metrics
from planguard.core.contract import GROUP, POOL_LABEL, VERSION, plan_name
from planguard.core.deadline import RECONCILE_BUDGET
from planguard.core.dnsplan import authoring, planner, planretry, pools
from planguard.core.dnsplan.damping import Health
from planguard.core.dnsplan.model import endpoint_spec, plan_body
from planguard.core.dnsplan.planner import Decision, Removal
from planguard.core.dnsplan.pools import Pool, PoolKey
from planguard.core.dnsplan.selection import Candidate, PartCache, candidates, newest_valid
from planguard.core.dnsplan.targets import DEFAULT_ALLOWED, TargetPolicy, parse_cidrs
from planguard.core.dnsplan.zonepools import zone_planners
from planguard.core.liveness import LIVENESS
from planguard.kube.api import PlanguardApi
from planguard.kube.generations import create_plan
from planguard.kube.leader import LeaderElector
from planguard.kube.rest import ApiError
from planguard.roles import runtime
from planguard.roles.cache import PlannerCache
from planguard.roles.pool_checks import PoolChecks
from planguard.roles.pool_reports import PoolMemo, PoolReports

log = logging.getLogger(__name__)


def build_registry(cache: PlannerCache) -> kopf.OperatorRegistry:
    registry = runtime.build_registry(cache)

    @kopf.on.event(GROUP, VERSION, "dnsendpointpools", registry=registry)
    async def pool_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        cache.pool_event(event.get("type"), dict(body))

    @kopf.on.event("discovery.k8s.io", "v1", "endpointslices", registry=registry)
    async def slice_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        cache.slice_event(event.get("type"), dict(body))

    return registry


DEFAULT_POLICY = TargetPolicy(parse_cidrs(DEFAULT_ALLOWED))


class Planner:
    def __init__(self, api: PlanguardApi, cache: PlannerCache, elector: LeaderElector,
                 tick: float = 0.5, policy: TargetPolicy = DEFAULT_POLICY,
                 checks_per_pool: int = 16) -> None:
        self.api, self.cache, self.elector, self.tick = api, cache, elector, tick
        self.checks = PoolChecks(policy, checks_per_pool)
        self._out = PoolReports(api, self.checks)
        self._parts: dict[tuple[str, str], PartCache] = {}
        self._memo: dict[PoolKey, PoolMemo] = {}
        self._stop = threading.Event()

    def pools(self) -> list[Pool]:
        return self.cache.parsed_pools()

    @staticmethod
    def planners(found: list[Pool]) -> dict[tuple[str, str], PoolKey]:
        return zone_planners((p.key, p.zone, p.created) for p in found)

    def refusals(self, pool: Pool) -> dict[str, str]:
        return self.checks.refusals(pool)

    def check_round(self, now: float) -> None:
        found = self.pools()
        self.checks.round(found, self.planners(found), now)

    # -- planning ----------------------------------------------------------------------
    def plan_round(self) -> None:
        leading = self.elector.leading
        metrics.PLANNER_LEADER.set(1 if leading else 0)
        if not leading:
            return
        found = self.pools()
        planners = self.planners(found)
        for key in list(self._memo):
            if key not in self.cache.pools:
                del self._memo[key]  # a deleted pool's backoff and memo go with it
        for pool in found:
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
        memo = self._memo.setdefault(pool.key, PoolMemo())
        obj = self.cache.pools.get(pool.key) or {}
        status = obj.get("status") or {}
        states = self.checks.states(pool)
        for state in Health:
            metrics.PLANNER_TARGETS.labels(zlabel, state.value).set(
                sum(1 for s in states.values() if s is state))
        self._out.refusals(pool, obj, memo)
        if pool.paused:
            self._out.status(pool, obj, memo, None, states, [pools.PAUSED])
            return
        stop = pools.cannot_plan(pool, planner_of_zone, (ns, pool.zone) in self.cache.zones,
                                 bool(self.cache.slices.get((ns, pool.service or ""))))
        if stop is not None:
            self._out.cannot_plan(pool, obj, memo, states, stop)
            return
        cands = self._candidates(pool)
        newest_c = newest_valid(cands)
        newest = newest_c.plan if newest_c else None
        top = max((c.plan.generation for c in cands), default=0)
        now = time.time()
        if memo.wrote is not None and (why := planretry.refused_by_rules(cands, memo.wrote)):
            memo.wrote = None  # counted once
            self._out.failed(obj, memo, pool, "PlanRefused", why, now)
        removals = pools.recent_removals(status, now, pool.limits.window_seconds)
        current = planner.published_by(newest, (e.name for e in pool.endpoints))
        d = planner.decide(pool.targets, states, current, removals, pool.limits, now,
                           pool.endpoints)
        holds = d.holds
        wrote = None
        if d.needs_plan(newest):
            if not planretry.may_write(memo.refused, now, pool.spec_generation):
                self._out.backing_off(pool, obj, memo, states)
                return
            wrote = self._write(pool, obj, memo, d, top, now)
            if wrote is None:
                self._out.backing_off(pool, obj, memo, states)
                return
            metrics.PLANNER_PLANS.labels(zlabel).inc()
            self.api.event(obj, "DNSEndpointPool", "Normal", "PlanCreated",
                           f"plan {plan_name(pool.zone, wrote)}: +{list(d.added)} "
                           f"-{list(d.removed)}")
            if d.removed_capacity:
                removals.append(Removal(now, d.removed_capacity))
        self._out.holds(obj, memo, zlabel, holds)
        conds, extra = pools.planning_status(holds, removals, plan_name(pool.zone, wrote or top))
        if wrote is not None:
            extra["lastPlanGeneration"] = wrote
        self._out.status(pool, obj, memo, d, states, conds, extra)

    def _write(self, pool: Pool, obj: dict[str, Any], memo: PoolMemo, d: Decision,
               top: int, now: float) -> int | None:
        """Writes the decision's plan: its generation, or None after a refusal or failure
        (then the pool backs off; a generation is kept only by a plan that was created)."""
        ns = pool.key[0]
        # The enactors' plan rules first: a plan they would refuse is never written.
        if (why := pools.invalid(pool, d, top + 1)) is not None:
            self._out.failed(obj, memo, pool, "PlanInvalid", why, now)
            return None
        endpoints = [endpoint_spec(e) for e in d.endpoints]
        try:
            # Approved by the planner itself: its velocity control and fail-static are the
            # review a zone's change guard asks of people (core/dnsplan/authoring.py).
            wrote = create_plan(self.api, ns, pool.zone, lambda g: authoring.approved(plan_body(
                pool.zone, g, endpoints, namespace=ns, labels={POOL_LABEL: pool.key[1]})),
                at_least=top)
        except ApiError as e:
            self._out.failed(obj, memo, pool, *pools.write_failure(e.status, e.message), now)
            return None
        except Exception as e:  # any failure backs off: a retry every tick is the storm
            self._out.failed(obj, memo, pool, *pools.write_failure(None, str(e)), now)
            return None
        memo.refused, memo.wrote = None, wrote
        return wrote

    def run(self) -> None:
        while not self._stop.is_set():
            # Checks and API calls all time out; a round silent this long is wedged.
            LIVENESS.beat("planner loop", self.tick + RECONCILE_BUDGET)
            now = time.monotonic()
            self.check_round(now)
            self.plan_round()
            self._stop.wait(self.tick)

    def stop(self) -> None:
        self._stop.set()
        self.checks.stop()
        LIVENESS.forget("planner loop")
