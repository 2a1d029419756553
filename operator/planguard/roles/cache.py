"""What a role knows of DNSZones and DNSPlans, fed by kopf watch events.

Roles use kopf only to watch (on.event handlers write nothing to the objects), so several
enactors and clean-up never clobber each other's kopf annotations or finalizers. The cache
wakes the per-zone worker whenever something about its zone changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from planguard.core.dnsplan import authoring
from planguard.core.dnsplan.pools import Pool, parse_pool
from planguard.core.dnsplan.selection import ParsedPlanObject

log = logging.getLogger(__name__)
ZoneKey = tuple[str, str]  # (namespace, DNSZone name)


class ObjectCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.zones: dict[ZoneKey, dict[str, Any]] = {}
        self.zones_version = 0  # moves when a zone comes, goes or changes its spec
        self._first: tuple[int, dict[ZoneKey, ZoneKey]] = (-1, {})
        self._plans: dict[ZoneKey, dict[str, dict[str, Any]]] = {}
        self._clock = clock
        self._arrived: dict[ZoneKey, float] = {}  # when a plan name new to the zone came
        self._wake: dict[ZoneKey, asyncio.Event] = {}
        self.on_zone_added: Callable[[ZoneKey], None] = lambda key: None
        # Plans naming a zone that does not exist (yet): clean-up reports them.
        self.on_plan_without_zone: Callable[[ZoneKey], None] = lambda key: None

    def wakeup(self, key: ZoneKey) -> asyncio.Event:
        return self._wake.setdefault(key, asyncio.Event())

    def known(self, key: ZoneKey) -> bool:
        """A zone object exists, or plans name it."""
        return key in self.zones or bool(self._plans.get(key))

    def plans(self, key: ZoneKey) -> list[dict[str, Any]]:
        return list(self._plans.get(key, {}).values())

    def plan_arrived_ago(self, key: ZoneKey) -> float:
        """Seconds since a plan object not seen before arrived for the zone (-1: none).
        This process's own clock: creationTimestamps have whole seconds only."""
        t = self._arrived.get(key)
        return -1.0 if t is None else self._clock() - t

    def zone_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.zones.pop(key, None)
            self.wakeup(key).set()  # its worker notices and ends
            self._claims_changed()
            return
        new = key not in self.zones
        old = self.zones.get(key)
        self.zones[key] = body
        if new or (old or {}).get("spec") != body.get("spec"):
            self._claims_changed()
        if new:
            self.on_zone_added(key)
        self.wakeup(key).set()

    def first_claimant(self, key: ZoneKey) -> ZoneKey | None:
        """The older DNSZone naming the same DNS zone on the same server as `key`, if any
        (core/dnsplan/authoring.first_claimants), worked out again only when a zone's spec
        changes, not on every reconcile."""
        if self._first[0] != self.zones_version:
            self._first = (self.zones_version, authoring.first_claimants(self.zones.values()))
        return self._first[1].get(key)

    def _claims_changed(self) -> None:
        """Which DNSZone owns which DNS zone may have changed (core/authoring
        .first_claimants): rare, so every zone's worker looks again."""
        self.zones_version += 1
        for event in self._wake.values():
            event.set()

    def plan_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], str((body.get("spec") or {}).get("zone", "")))
        plans = self._plans.setdefault(key, {})
        if event_type == "DELETED":
            plans.pop(meta["name"], None)
            if not plans:
                self._arrived.pop(key, None)
        else:
            old = plans.get(meta["name"])
            if old is None:
                self._arrived[key] = self._clock()
            # Parsed here, once per object and generation: the cache keeps the Plan, not
            # the JSON of its endpoints as well.
            same = isinstance(old, ParsedPlanObject) and \
                old["metadata"].get("uid") == meta.get("uid") and \
                old["metadata"].get("generation") == meta.get("generation")
            new = ParsedPlanObject(body, parsed_as=old if same else None)
            plans[meta["name"]] = new
            if old is not None and old.get("spec") == new.get("spec") and (
                old["metadata"].get("deletionTimestamp") == meta.get("deletionTimestamp")
            ):
                return  # a status or finalizer change only: nothing for workers to do
            if key not in self.zones:
                self.on_plan_without_zone(key)
        self.wakeup(key).set()


class PlannerCache(ObjectCache):
    """The planner's view besides plans and zones: its pools, and EndpointSlices by the
    Service they belong to."""

    def __init__(self) -> None:
        super().__init__()
        self.pools: dict[tuple[str, str], dict[str, Any]] = {}
        self.slices: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def pool_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.pools.pop(key, None)
        else:
            self.pools[key] = body

    def parsed_pools(self) -> list[Pool]:
        """Every pool the planner can read, with its Service's EndpointSlices."""
        out = []
        for key, obj in list(self.pools.items()):
            svc = ((obj.get("spec") or {}).get("service") or {}).get("name")
            slices = list(self.slices.get((key[0], svc), {}).values()) if svc else []
            try:
                out.append(parse_pool(obj, slices))
            except (KeyError, TypeError, ValueError) as e:
                log.warning("pool %s/%s unreadable: %s", *key, e)
        return out

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
