"""The clean-up's writes (roles/cleanup.py decides nothing here): deleting superseded plans,
the live-plan finalizer on or off as core/dnsplan/cleanup.finalizer_action says, and the
zone's gauges from the status core/dnsplan/status.zone_status computed."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from planguard import metrics
from planguard.core.dnsplan import status
from planguard.core.dnsplan.cleanup import Finalizer, bases_in_dns, finalizer_action, ref
from planguard.core.dnsplan.model import ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.kube.api import DeleteOutcome, PlanguardApi

log = logging.getLogger("planguard.roles.cleanup")  # the clean-up's lines: one logger


def delete_plans(api: PlanguardApi, pool: ThreadPoolExecutor, zone: dict[str, Any],
                 label: str, deleting: list[Candidate], state: ZoneState, live: set[int],
                 deleted: set[str]) -> None:
    """Finalizer off, then delete, every object of each plan; the plans concurrently
    (each write costs the API server a validation of a large object, so one at a time
    a cycle would take seconds per handful of plans). The uids deleted go in
    `deleted`; an object there whose deletion the cache has not seen yet is skipped
    (once it has, a finalizer still on it is released again)."""
    ns = zone["metadata"]["namespace"]
    fence = state.fence_generation

    def one(c: Candidate) -> None:
        outcomes = []
        for o in c.objs:
            uid, dying = str(o["metadata"].get("uid")), o["metadata"].get("deletionTimestamp")
            if uid in deleted and not dying:
                continue  # deleted by us; the watch has not said so yet
            api.release_finalizer(ns, dict(o))
            if not dying:
                outcomes.append(api.delete_plan(ns, dict(o)))
                if outcomes[-1] is not DeleteOutcome.REFUSED:
                    deleted.add(uid)
        if DeleteOutcome.DELETED in outcomes:
            metrics.CLEANUP_DELETIONS.labels(label).inc()
            api.event(zone, "DNSZone", "Normal", "PlanDeleted",
                      f"deleted superseded plan {c.plan.name} (generation "
                      f"{c.plan.generation}; active {fence}, oldest live "
                      f"{min(live) if live else '-'})")
        if DeleteOutcome.REFUSED in outcomes:
            metrics.CLEANUP_DELETE_REFUSED.labels(label).inc()
            log.warning("delete of plan %s refused: another object holds its name now; "
                        "deciding again next cycle", c.plan.name)
    list(pool.map(one, deleting))


def set_finalizers(api: PlanguardApi, zone: dict[str, Any], cands: list[Candidate],
                   state: ZoneState, live: set[int], interval: float) -> None:
    """The live-plan finalizer on every plan DNS depends on, off every plan DNS can no
    longer depend on (core/dnsplan/cleanup.finalizer_action)."""
    ns = zone["metadata"]["namespace"]
    refs = {c.plan.name: ref(c) for c in cands}
    bases = bases_in_dns(refs.values(), live, state.fence_generation)
    for c in cands:
        action = finalizer_action(refs[c.plan.name], live, state.fence_generation, bases,
                                  status.age(c.objs, datetime.now(UTC)), interval)
        for obj in c.objs:
            if action is Finalizer.RELEASE:
                api.release_finalizer(ns, dict(obj))
            elif action is Finalizer.HOLD and not obj["metadata"].get("deletionTimestamp"):
                api.set_finalizer(ns, dict(obj), True)


def zone_gauges(label: str, paused: bool, st: status.ZoneStatus) -> None:
    """The zone's gauges: the same figures its status carries, for alerts and dashboards."""
    f = st.fields
    metrics.PAUSED.labels(label).set(1 if paused else 0)
    metrics.ZONE_HELD.labels(label).set(1 if st.held else 0)
    metrics.ENDPOINTS_REFUSED.labels(label).set(st.refused_endpoints)
    if "newestPlan" in f:
        metrics.ZONE_NEWEST.labels(label).set(f["newestPlan"])
    if f.get("activeGeneration") is not None:
        metrics.ZONE_ACTIVE.labels(label).set(f["activeGeneration"])
    if f.get("liveGenerations"):
        metrics.ZONE_LIVE_OLDEST.labels(label).set(f["liveGenerations"]["oldest"])
        metrics.ZONE_LIVE_NEWEST.labels(label).set(f["liveGenerations"]["newest"])
    if "endpoints" in f:
        metrics.ZONE_EMPTY_ENDPOINTS.labels(label).set(f["endpoints"]["empty"])
