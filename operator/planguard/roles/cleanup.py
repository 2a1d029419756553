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

import logging
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
from planguard.core.dnsplan import authoring, enact
from planguard.core.dnsplan.cleanup import (
    Finalizer,
    PlanRef,
    bases_in_dns,
    depended_on,
    finalizer_action,
    select_deletions,
    settle_wait,
    status_deferred,
    superseded,
)
from planguard.core.dnsplan.enact import Verdict
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
from planguard.kube.api import DeleteOutcome, PlanguardApi
from planguard.roles.cache import ObjectCache, ZoneKey

log = logging.getLogger(__name__)
WRITERS = 4  # concurrent writes to the API server within one cycle
# A plan carries Accepted only (False with the refusal's reason); earlier versions also
# wrote its mirror image, Refused, which is removed from plans they wrote.
RETIRED_PLAN_CONDITIONS = ("Refused",)
GUARD_CONDITIONS = ("Held", "EndpointsRefused")  # on a plan only while they hold


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
        blocked = self._blocked(key, zone, choice)
        # The zone's status first: one small write that says what DNS serves right now.
        deleting = self._deletions(cands, state, live, int(spec.get("keep", 10))) \
            if state is not None and not spec.get("paused") and blocked is None else []
        gone = {c.plan.name for c in deleting}
        kept = [c for c in cands if c.plan.name not in gone]
        self._zone_status(zone, label, kept, choice, state, live, dns_error, blocked)
        deleted = self._deleted.setdefault(key, set())
        deleted &= {str(o["metadata"].get("uid")) for c in cands for o in c.objs}
        if state is not None and not spec.get("paused") and blocked is None:
            self._delete(zone, label, deleting, state, live, deleted)
            self._finalizers(zone, kept, state, live)
        bases = bases_in_dns(self._refs(kept).values(), live, state.fence_generation) \
            if state is not None else set()
        sent = self._sent.setdefault(key, {})
        names = {o["metadata"]["name"] for c in kept for o in c.objs}
        for name in sent.keys() - names:
            del sent[name]
        stream_age = self.cache.plan_arrived_ago(key)
        verdicts = _verdicts(choice)
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
        msg = f"DNSZone {key[1]!r} does not exist in namespace {key[0]!r}; nothing is written"
        cond = [Condition("Accepted", False, "ZoneNotFound", msg)]
        for obj in self.cache.plans(key):
            meta = obj["metadata"]
            new = conditions.status_update(obj.get("status"), cond, datetime.now(UTC),
                                           meta.get("generation"),
                                           drop=RETIRED_PLAN_CONDITIONS)
            if new is None:
                continue
            self.api.event(obj, "DNSPlan", "Warning", "ZoneNotFound", msg)
            self.api.write_status("dnsplans", meta["namespace"], meta["name"], new)


    def _blocked(self, key: ZoneKey, zone: dict[str, Any],
                 choice: enact.Choice) -> authoring.Problem | None:
        """Why this DNSZone may not act on its DNS zone at all, if it may not."""
        first = self.cache.first_claimant(key)
        if first is not None:
            return authoring.rival_problem(
                authoring.normal_zone(str((zone.get("spec") or {}).get("zone", ""))), first)
        d = choice.decision
        if d is not None and d.problems and d.problems[0].reason == "ZoneClaimed":
            return d.problems[0]
        return None

    def _plan_status(self, c: Candidate, label: str, state: ZoneState | None, live: set[int],
                     bases: set[int], sent: dict[str, str],
                     stream_age: float, verdict: list[Condition]) -> float | None:
        """Writes the plan's status if it changed; returns the seconds after which a
        deferred status is due (None: nothing deferred). `verdict`: what the authoring
        rules said of this plan against DNS (core/dnsplan/authoring.py), as conditions."""
        problems = "; ".join(p.message for p in c.problems)
        reason = c.problems[0].reason if c.problems else ("Valid" if c.complete else "Waiting")
        conds = [Condition("Accepted", c.valid, reason,
                           "passed enactment checks" if c.valid else problems or c.waiting)]
        refusal = next((v for v in verdict if v.type == "Accepted"), None)
        if refusal is not None:
            conds = [refusal]
        conds.extend(v for v in verdict if v.type != "Accepted")
        if state is not None and c.valid and refusal is None:
            # Phase only: these messages stay the same while newer plans come and go, so a
            # plan's status is written when it becomes Live or Superseded, not every cycle.
            g, fence, age = c.plan.generation, state.fence_generation, _age(c)
            settle, hold = self.cfg.status_settle, self.cfg.status_hold
            if status_deferred(g, live, fence, age, self.cfg.interval, settle, stream_age, hold):
                return settle_wait(age, settle, stream_age, hold)
            in_dns, fenced = g in live, g == fence
            conds.append(Condition(
                "Live", in_dns or fenced, "InDNS" if in_dns or fenced else "NotInDNS",
                "endpoints in DNS serve this plan and no newer one" if in_dns else
                "the zone's active (fenced) generation" if fenced else
                "no endpoint in DNS depends on this plan",
            ))
            base_of_live = g in bases
            sup = superseded(g, live, fence) and not base_of_live
            conds.append(Condition(
                "Superseded", sup,
                "NewerPlanLive" if sup else "BaseOfLivePlan" if base_of_live
                else "NotSuperseded",
                "a newer generation is active and no endpoint serves this one" if sup else
                "the base of a delta plan DNS may depend on" if base_of_live else "",
            ))
        for obj in c.objs:
            meta = obj["metadata"]
            version = str(meta.get("resourceVersion"))
            if sent.get(meta["name"]) == version:
                continue  # our write to this version has not come back yet (self._sent)
            count = endpoint_count(obj)
            # Held and EndpointsRefused are there only while true (core/dnsplan/authoring.py): a
            # plan that is approved, or no longer the one chosen, loses them.
            drop = (*RETIRED_PLAN_CONDITIONS,
                    *(t for t in GUARD_CONDITIONS if t not in {c.type for c in conds}))
            new = conditions.status_update(
                obj.get("status"), conds, datetime.now(UTC), meta.get("generation"),
                {"endpoints": count, "observedGeneration": meta.get("generation")},
                drop=drop)
            if new is not None and self.api.write_status("dnsplans", meta["namespace"],
                                                         meta["name"], new):
                sent[meta["name"]] = version
                metrics.CLEANUP_PLAN_STATUS_WRITES.labels(label).inc()
        return None

    @staticmethod
    def _refs(cands: list[Candidate]) -> dict[str, PlanRef]:
        return {c.plan.name: PlanRef(c.plan.name, c.plan.generation, c.deleting,
                                     bool(c.problems), c.plan.base) for c in cands}

    def _deletions(self, cands: list[Candidate], state: ZoneState, live: set[int],
                   keep: int) -> list[Candidate]:
        """Plans beyond `keep` that DNS, as read this cycle, can no longer depend on."""
        by_name = {c.plan.name: c for c in cands}
        refs = self._refs(cands)
        return [by_name[r.name] for r in select_deletions(
            refs.values(), live, state.fence_generation, keep)]

    def _delete(self, zone: dict[str, Any], label: str, deleting: list[Candidate],
                state: ZoneState, live: set[int], deleted: set[str]) -> None:
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
                self.api.release_finalizer(ns, dict(o))
                if not dying:
                    outcomes.append(self.api.delete_plan(ns, dict(o)))
                    if outcomes[-1] is not DeleteOutcome.REFUSED:
                        deleted.add(uid)
            if DeleteOutcome.DELETED in outcomes:
                metrics.CLEANUP_DELETIONS.labels(label).inc()
                self.api.event(zone, "DNSZone", "Normal", "PlanDeleted",
                               f"deleted superseded plan {c.plan.name} (generation "
                               f"{c.plan.generation}; active {fence}, oldest live "
                               f"{min(live) if live else '-'})")
            if DeleteOutcome.REFUSED in outcomes:
                metrics.CLEANUP_DELETE_REFUSED.labels(label).inc()
                log.warning("delete of plan %s refused: another object holds its name now; "
                            "deciding again next cycle", c.plan.name)
        list(self._pool.map(one, deleting))

    def _finalizers(self, zone: dict[str, Any], cands: list[Candidate],
                    state: ZoneState, live: set[int]) -> None:
        """The live-plan finalizer on every plan DNS depends on, off every plan DNS can no
        longer depend on (core/dnsplan/cleanup.finalizer_action)."""
        ns = zone["metadata"]["namespace"]
        refs = self._refs(cands)
        bases = bases_in_dns(refs.values(), live, state.fence_generation)
        for c in cands:
            action = finalizer_action(refs[c.plan.name], live, state.fence_generation, bases,
                                      _age(c), self.cfg.interval)
            for obj in c.objs:
                if action is Finalizer.RELEASE:
                    self.api.release_finalizer(ns, dict(obj))
                elif action is Finalizer.HOLD and not obj["metadata"].get("deletionTimestamp"):
                    self.api.set_finalizer(ns, dict(obj), True)

    # -- zone --------------------------------------------------------------------------
    def _zone_status(
        self, zone: dict[str, Any], label: str, cands: list[Candidate],
        choice: enact.Choice, state: ZoneState | None, depended: set[int],
        dns_error: DnsError | None, blocked: authoring.Problem | None,
    ) -> None:
        spec, status = zone.get("spec") or {}, zone.get("status") or {}
        paused = bool(spec.get("paused"))
        metrics.PAUSED.labels(label).set(1 if paused else 0)
        conds = [Condition("Paused", paused, "Paused" if paused else "Running",
                           "spec.paused is true: no writes to this zone" if paused else "")]
        out: dict[str, Any] = {"observedGeneration": zone["metadata"].get("generation")}
        newest = choice.candidate
        if newest is not None:
            out["newestPlan"] = newest.plan.generation
            metrics.ZONE_NEWEST.labels(label).set(newest.plan.generation)
        degraded: list[str] = [f"plan {c.plan.name} refused: {c.problems[0].message}"
                               for c in cands if c.problems and not c.deleting]
        degraded += [f"plan {c.plan.name} refused: {d.problems[0].message}"
                     for c, d in choice.refused if not c.deleting]
        d = choice.decision
        refused_endpoints = d.refused if d is not None else ()
        held = d is not None and d.verdict is Verdict.HELD
        metrics.ZONE_HELD.labels(label).set(1 if held else 0)
        metrics.ENDPOINTS_REFUSED.labels(label).set(len(refused_endpoints))
        if refused_endpoints:
            degraded.append(f"{len(refused_endpoints)} endpoint(s) of plan "
                            f"{newest.plan.name if newest else '?'} not written: "
                            + "; ".join(p.message for p in refused_endpoints[:3]))
        converged, why = False, "DNS state unknown"
        if state is None:
            kind = dns_error.kind.value if dns_error else "unknown"
            conds.append(Condition("DNSReadable", False, conditions.camel(kind),
                                   str(dns_error)))
            conds.append(Condition("Converged", False, "DNSUnreadable", why))
            degraded.append(f"DNS unreadable: {dns_error}")
        else:
            conds.append(Condition("DNSReadable", True, "ZoneTransferred",
                                   "zone transfer succeeded"))
            managed = [e for e in state.endpoints.values() if e.marker is not None]
            empty = [e for e in managed if e.empty]
            live = sorted(depended)
            out["activeGeneration"] = state.fence_generation
            out["liveGenerations"] = {"oldest": live[0], "newest": live[-1]} if live else {}
            if state.fence_generation is not None:
                metrics.ZONE_ACTIVE.labels(label).set(state.fence_generation)
            if live:
                metrics.ZONE_LIVE_OLDEST.labels(label).set(live[0])
                metrics.ZONE_LIVE_NEWEST.labels(label).set(live[-1])
            metrics.ZONE_EMPTY_ENDPOINTS.labels(label).set(len(empty))
            # What an enactor would do with the newest plan now: one decision serves both.
            converged, why = self._converged(newest, d, state)
            orphans = d.orphans if d else ()
            out["endpoints"] = {"managed": len(managed), "empty": len(empty),
                                "orphaned": len(orphans)}
            conds.append(Condition("Converged", converged,
                                   "Converged" if converged else "Pending", why))
            if orphans:
                degraded.append(f"{len(orphans)} endpoint(s) in DNS not in the newest plan "
                                f"(left alone): {', '.join(orphans[:5])}")
        now = datetime.now(UTC)
        for eid, e in (status.get("enactors") or {}).items():
            t = e.get("lastErrorTime")
            if t and (now - datetime.fromisoformat(t.replace("Z", "+00:00"))).total_seconds() \
                    < self.cfg.stale_enactor:
                degraded.append(f"enactor {eid}: {e.get('lastError')}")
        problems = "; ".join(degraded)[:2000]
        conds.append(Condition("Degraded", bool(degraded),
                               "Problems" if degraded else "Healthy", problems))
        stop = blocked or (d.problems[0] if d is not None and d.problems
                           and d.verdict in (Verdict.HELD, Verdict.REFUSED) else None)
        conds.append(self._ready(paused, dns_error if state is None else None, converged, why,
                                 problems, stop))
        meta = zone["metadata"]
        new = conditions.status_update(status, conds, now, meta.get("generation"), out)
        if new is not None:
            self.api.write_status("dnszones", meta["namespace"], meta["name"], new)

    @staticmethod
    def _ready(paused: bool, dns_error: DnsError | None, converged: bool, why: str,
               problems: str, stop: authoring.Problem | None = None) -> Condition:
        """Ready is what `kubectl wait --for=condition=Ready` users assume: DNS serves the
        newest valid plan, nothing is degraded and the zone is not paused. The reason is
        the first thing in the way (`stop`: an authoring rule that stops every write, or
        holds the newest plan)."""
        if paused:
            return Condition("Ready", False, "Paused", "spec.paused is true: no writes")
        if dns_error is not None:
            return Condition("Ready", False, "DNSUnreadable", str(dns_error))
        if stop is not None:
            return Condition("Ready", False, stop.reason, stop.message)
        if problems:  # before NotConverged: often the reason it does not converge
            return Condition("Ready", False, "Degraded", problems)
        if not converged:
            return Condition("Ready", False, "NotConverged", why)
        return Condition("Ready", True, "Converged", why)

    @staticmethod
    def _converged(
        newest: Candidate | None, d: enact.Decision | None, state: ZoneState
    ) -> tuple[bool, str]:
        if newest is None or d is None:
            return False, "no valid plan"
        if d.verdict is Verdict.SUPERSEDED:
            return False, (f"{d.reasons[0]}, but no such plan exists: apply a plan with a "
                           f"generation above {state.fence_generation}")
        if d.verdict in (Verdict.HELD, Verdict.REFUSED):
            return False, f"plan {newest.plan.name}: {d.problems[0].message}"
        if d.writes or d.fence_new is not None:
            return False, (f"{len(d.writes)} endpoint(s) not yet at plan {newest.plan.name}; "
                           f"zone fence at {state.fence_generation}")
        return True, f"every endpoint serves plan {newest.plan.name}"


def _verdicts(choice: enact.Choice) -> dict[str, list[Condition]]:
    """Per plan name, the conditions the authoring rules give it (core/dnsplan/authoring.py):
    Accepted=False for a refusal, Held=True while it waits for approval,
    EndpointsRefused=True while some of its endpoints are not written (both absent
    otherwise)."""
    out: dict[str, list[Condition]] = {}
    for c, d in choice.refused:
        p = d.problems[0]
        out[c.plan.name] = [Condition("Accepted", False, p.reason, p.message)]
    c, d = choice.candidate, choice.decision
    if c is None or d is None:
        return out
    conds = out.setdefault(c.plan.name, [])
    if d.verdict is Verdict.REFUSED:
        conds.append(Condition("Accepted", False, d.problems[0].reason, d.problems[0].message))
    if d.verdict is Verdict.HELD:
        conds.append(Condition("Held", True, "Held", d.problems[0].message))
    if d.refused:
        conds.append(Condition("EndpointsRefused", True, d.refused[0].reason,
                               "; ".join(p.message for p in d.refused)[:4000]))
    return out


def _age(c: Candidate) -> float:
    """Seconds since the newest part of the plan was created (API server clock); -1 when
    unknown, which never defers anything."""
    stamps = [o["metadata"].get("creationTimestamp") for o in c.objs]
    if not stamps or not all(stamps):
        return -1.0
    newest = max(datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in stamps)
    return (datetime.now(UTC) - newest).total_seconds()
