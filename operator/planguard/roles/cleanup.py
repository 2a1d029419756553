"""`planguard cleanup`: bounded plan history, the live-plan finalizer, and the status
people read (`kubectl get dnsplans,dnszones`).

Every decision that could remove a plan reads the live generations from the DNS server
at decision time. If DNS cannot be read, nothing is deleted and no finalizer is removed.

A cycle's cost must not grow with the history (a planner can outrun any enactor): it
deletes first, then writes the zone's status, and writes a plan's status only when its
phase changes. Nothing that moves with every new generation (the fence, counts of
endpoints) goes into a plan's status; the zone's status carries it.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from planguard import metrics
from planguard.core import conditions
from planguard.core.backoff import equal_jitter
from planguard.core.conditions import Condition
from planguard.core.dnsplan import authoring, enact, status
from planguard.core.dnsplan.cleanup import (
    bases_in_dns,
    deletions,
    depended_on,
    ref,
)
from planguard.core.dnsplan.cleanup import blocked as blocked_by
from planguard.core.dnsplan.model import ZoneState
from planguard.core.dnsplan.selection import (
    Candidate,
    PartCache,
    candidates,
    endpoint_count,
    newest_valid,
)
from planguard.core.liveness import LIVENESS
from planguard.dns.pool import ProviderPool
from planguard.dns.provider import DnsError, DnsErrorKind, DnsProvider
from planguard.dns.tsig import TsigKey
from planguard.kube.api import PlanguardApi
from planguard.roles.cache import ObjectCache, ZoneKey
from planguard.roles.cleanup_writes import delete_plans, set_finalizers, zone_gauges

WRITERS = 4  # concurrent writes to the API server within one cycle


@dataclass
class CleanupConfig:
    key: TsigKey
    interval: float = 5.0
    # A valid plan's first status waits this long (core/dnsplan/cleanup.status_deferred): one write
    # per plan in a burst instead of Live then Superseded. Below the 5 s cycle.
    status_settle: float = 2.0
    # While a zone's plans keep coming less than status_settle apart, a plan's status waits
    # for a pause, at most this long after its creation: plans clean-up deletes in a burst
    # are never written (core/dnsplan/cleanup.status_deferred).
    status_hold: float = 30.0
    stale_enactor: float = 120.0  # an enactor error younger than this degrades the zone
    owner_id: str = ""  # this install's part of the claims in DNS (as the enactors')
    dns_timeout: float | None = None  # one DNS exchange's deadline; None: the server kind's


class Cleanup:
    def __init__(self, api: PlanguardApi, cache: ObjectCache, cfg: CleanupConfig) -> None:
        self.api, self.cache, self.cfg = api, cache, cfg
        self._providers = ProviderPool(cfg.key, timeout=cfg.dns_timeout)
        # Per zone whose DNS could not be read: failures in a row, and the last one's kind.
        self._dns_failures: dict[ZoneKey, tuple[int, DnsErrorKind]] = {}
        self._rng = random.Random()
        self._parts: dict[ZoneKey, PartCache] = {}
        # Per zone: plan object name -> the resourceVersion its last status write was
        # computed from. While the cache still holds that version, the write has not come
        # back through the watch yet; computing from it again would write the same thing
        # twice (in a burst the next cycle starts before the API server's echo arrives).
        self._sent: dict[ZoneKey, dict[str, str]] = {}
        # Per zone: uids of plan objects this process deleted whose DELETED event has not
        # come back through the watch yet; the next cycle (in a burst it starts sooner)
        # would delete them again and get a 404 for each.
        self._deleted: dict[ZoneKey, set[str]] = {}
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="cleanup-write")

    def reconcile(self, key: ZoneKey) -> float:
        zone = self.cache.zones.get(key)
        if zone is None:
            LIVENESS.forget_zone(f"{key[0]}/{key[1]}")
            self._dns_failures.pop(key, None)
            self._zone_missing(key)
            metrics.forget_zone(f"{key[0]}/{key[1]}")
            self._providers.forget(key)
            self._sent.pop(key, None)
            self._deleted.pop(key, None)
            return self.cfg.interval
        label = f"{key[0]}/{key[1]}"
        spec = zone.get("spec") or {}
        cands = candidates(self.cache.plans(key), self._parts.setdefault(key, PartCache()))
        t0 = time.monotonic()
        provider: DnsProvider = self._providers.get(key, spec)
        try:
            state: ZoneState | None = provider.read_zone()
            dns_error = None
        except DnsError as e:
            state, dns_error = None, e
            metrics.DNS_ERRORS.labels(label, "cleanup", e.kind.value).inc()
        # The zone's own conditions say it (Ready False, DNSUnreadable), not readiness.
        LIVENESS.zone_dns(label, dns_error is None, str(dns_error or ""))
        live = depended_on(state, (c.plan for c in cands if c.valid), provider.lua) \
            if state else set()
        auth = authoring.authority_of(zone, self.cfg.owner_id)
        choice = enact.choose(cands, state, "-", provider.lua, auth) if state is not None \
            else enact.Choice(newest_valid(cands), None)
        # A DNSZone that does not own its DNS zone (another DNSZone came first, or the
        # zone's claim names another owner) deletes nothing: the fence it reads is not its.
        blocked = blocked_by(str(spec.get("zone", "")), self.cache.first_claimant(key), choice)
        # The zone's status first: one small write that says what DNS serves right now.
        acting = state is not None and not spec.get("paused") and blocked is None
        deleting = deletions(cands, state, live, int(spec["keep"]), acting)
        gone = {c.plan.name for c in deleting}
        kept = [c for c in cands if c.plan.name not in gone]
        self._zone_status(zone, label, status.ZoneRead(
            bool(spec.get("paused")), kept, choice, state, live,
            dns_error and status.Unreadable(dns_error.kind.value, str(dns_error)), blocked,
            (zone.get("status") or {}).get("enactors") or {}))
        deleted = self._deleted.setdefault(key, set())
        deleted &= {str(o["metadata"].get("uid")) for c in cands for o in c.objs}
        if acting and state is not None:
            delete_plans(self.api, self._pool, zone, label, deleting, state, live, deleted)
            set_finalizers(self.api, zone, kept, state, live, self.cfg.interval)
        bases = bases_in_dns(map(ref, kept), live, state.fence_generation) \
            if state is not None else set()
        sent = self._sent.setdefault(key, {})
        names = {o["metadata"]["name"] for c in kept for o in c.objs}
        for name in sent.keys() - names:
            del sent[name]
        stream_age = self.cache.plan_arrived_ago(key)
        verdicts = status.verdicts(choice)
        waits = list(self._pool.map(
            lambda c: self._plan_status(c, label, state, live, bases, sent, stream_age,
                                        verdicts.get(c.plan.name, [])), kept))
        metrics.CLEANUP_CYCLE_SECONDS.labels(label).observe(time.monotonic() - t0)
        if dns_error is not None:
            # Growing waits while the server fails: its cost stays this zone's own.
            n = self._dns_failures.get(key, (0, dns_error.kind))[0] + 1
            self._dns_failures[key] = (n, dns_error.kind)
            return max(self.cfg.interval, equal_jitter(n, 0.5, 30.0, self._rng))
        self._dns_failures.pop(key, None)
        return min([self.cfg.interval, *(w for w in waits if w is not None)])

    def dns_timed_out(self, key: ZoneKey) -> bool:
        """Whether the zone's last reconcile ran out of a DNS deadline."""
        got = self._dns_failures.get(key)
        return got is not None and got[1] is DnsErrorKind.TIMEOUT

    # -- plans -------------------------------------------------------------------------
    def _zone_missing(self, key: ZoneKey) -> None:
        """Plans naming a DNSZone that does not exist: never applied, and said so."""
        cond = [status.zone_missing(*key)]
        for obj in self.cache.plans(key):
            meta = obj["metadata"]
            new = conditions.status_update(obj.get("status"), cond, datetime.now(UTC),
                                           meta.get("generation"),
                                           drop=status.RETIRED_PLAN_CONDITIONS)
            if new is None:
                continue
            self.api.event(obj, "DNSPlan", "Warning", "ZoneNotFound", cond[0].message)
            self.api.write_status("dnsplans", meta["namespace"], meta["name"], new)


    def _plan_status(self, c: Candidate, label: str, state: ZoneState | None, live: set[int],
                     bases: set[int], sent: dict[str, str],
                     stream_age: float, verdict: list[Condition]) -> float | None:
        """Writes the plan's status if it changed; returns the seconds after which a
        deferred status is due (None: nothing deferred). `verdict`: what the authoring
        rules said of this plan against DNS (core/dnsplan/authoring.py), as conditions."""
        cfg, now = self.cfg, datetime.now(UTC)
        timing = status.Timing(status.age(c.objs, now), stream_age, cfg.interval,
                               cfg.status_settle, cfg.status_hold)
        st = status.plan_status(c, verdict, state, live, bases, timing)
        if st.deferred:
            return st.due
        for obj in c.objs:
            meta = obj["metadata"]
            version = str(meta.get("resourceVersion"))
            if sent.get(meta["name"]) == version:
                continue  # our write to this version has not come back yet (self._sent)
            new = conditions.status_update(
                obj.get("status"), st.conditions, now, meta.get("generation"),
                {"endpoints": endpoint_count(obj), "observedGeneration": meta.get("generation")},
                drop=st.drop)
            if new is not None and self.api.write_status("dnsplans", meta["namespace"],
                                                         meta["name"], new):
                sent[meta["name"]] = version
                metrics.CLEANUP_PLAN_STATUS_WRITES.labels(label).inc()
        return None

    # -- zone --------------------------------------------------------------------------
    def _zone_status(self, zone: dict[str, Any], label: str, read: status.ZoneRead) -> None:
        now = datetime.now(UTC)
        st = status.zone_status(read, now, self.cfg.stale_enactor)
        zone_gauges(label, read.paused, st)
        meta = zone["metadata"]
        new = conditions.status_update(zone.get("status") or {}, st.conditions, now,
                                       meta.get("generation"),
                                       {"observedGeneration": meta.get("generation"), **st.fields})
        if new is not None:
            self.api.write_status("dnszones", meta["namespace"], meta["name"], new)
