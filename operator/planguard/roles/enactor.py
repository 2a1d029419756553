"""`planguard enactor --id NAME`: brings each zone's DNS to its newest valid plan.

Several run at once, independently; each needs only the Kubernetes API (to read plans)
and the DNS primary (to read state and write). They race through the DNS server's
compare-and-swap, never through a check made earlier.
"""

from __future__ import annotations

import logging
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from planguard import logs, metrics
from planguard.core.backoff import equal_jitter
from planguard.core.conditions import rfc3339
from planguard.core.contract import LIVE_PLAN_FINALIZER
from planguard.core.dnsplan import authoring
from planguard.core.dnsplan.authoring import Authority
from planguard.core.dnsplan.enact import Choice, Verdict, after, choose, update_steps
from planguard.core.dnsplan.model import Plan, ZoneState
from planguard.core.dnsplan.selection import Candidate, PartCache, candidates, newest_valid
from planguard.core.dnsplan.validate import Problem
from planguard.core.liveness import LIVENESS
from planguard.dns.pool import ProviderPool
from planguard.dns.provider import DnsError, DnsErrorKind, DnsProvider, WriteOutcome
from planguard.dns.tsig import TsigKey
from planguard.kube.api import PlanguardApi
from planguard.roles.cache import ObjectCache, ZoneKey

log = logging.getLogger(__name__)
_ERROR_FIELDS = ("lastError", "lastErrorKind", "lastErrorTime")


@dataclass
class EnactorConfig:
    enactor_id: str
    key: TsigKey
    drift_interval: float = 10.0  # how often DNS is re-checked to repair hand edits
    full_read_every: int = 6  # drift intervals between full zone transfers at the latest
    max_records_per_update: int = 400
    conflict_rounds: int = 50
    heartbeat: float = 30.0
    dns_via: tuple[str, int] | None = None  # send DNS traffic through this address
    owner_id: str = ""  # this install's part of the claims written into DNS (--owner-id)
    dns_timeout: float | None = None  # one DNS exchange's deadline; None: the server kind's


class Applied(Enum):
    """How one compare-and-swap loop over a zone ended."""

    APPLIED = "applied"  # this enactor's writes are in
    CONVERGED = "converged"  # DNS already serves the plan
    SUPERSEDED = "superseded"  # DNS serves a newer generation: the plan is never written
    WITHDRAWN = "withdrawn"  # the plan was deleted before its fence went in
    CONTENDED = "contended"  # conflicts every round: try again soon
    REFUSED = "refused"  # an authoring rule forbids every plan (another owner...)
    HELD = "held"  # the plan waits for an approval of its content


@dataclass
class _ZoneReads:
    """What this enactor read of a zone and may decide from again: the DNS snapshot (plus
    its own writes) and its serial, the pair last found converged, parsed plan parts."""

    label: str
    snapshot: tuple[ZoneState, float] | None = None  # last zone read (+ own writes), read time
    serial: int | None = None  # the SOA serial the snapshot stands for, with our own writes
    full_read_at: float = 0.0
    # (newest valid plan, snapshot, the zone's rules and its plans' consents) last found
    # converged, and the choice
    converged: tuple[Plan, ZoneState, tuple[object, ...], Choice] | None = None
    parts: PartCache = field(default_factory=PartCache)


@dataclass
class _ZoneReport:
    """What this enactor last reported for a zone, to write status and events on change."""

    generation: int | None = None
    error_kind: str | None = None
    error_attempts: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    reported_at: float = 0.0
    refused: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)
    told: set[tuple[str, str, str]] = field(default_factory=set)  # (plan, reason, message)


class Enactor:
    def __init__(
        self, api: PlanguardApi, cache: ObjectCache, cfg: EnactorConfig,
        rng: random.Random | None = None,
        after_decide: Callable[[int], None] | None = None,
    ) -> None:
        """after_decide(generation): called once the writes for a plan are decided from a
        read of DNS and before they are sent, the point where the post-mortem's enactor
        stalled. Only a test harness passes one (tests/faults.py); production has none."""
        self.api, self.cache, self.cfg = api, cache, cfg
        self.rng = rng or random.Random()
        self._after_decide = after_decide
        self._providers = ProviderPool(cfg.key, cfg.dns_via, cfg.dns_timeout)
        self._reads: dict[ZoneKey, _ZoneReads] = {}
        self._reports: dict[ZoneKey, _ZoneReport] = {}
        # Where in a plan this enactor starts writing: its own point, from its id.
        self._offset = zlib.crc32(cfg.enactor_id.encode())

    # -- one reconcile of one zone (runs in a worker thread) ---------------------------
    def reconcile(self, key: ZoneKey) -> float:
        zone = self.cache.zones.get(key)
        label = f"{key[0]}/{key[1]}"
        if zone is None:
            LIVENESS.forget_zone(label)  # gone: nothing to be ready for
            metrics.forget_zone(label)
            self._reads.pop(key, None)  # a deleted zone leaves nothing behind
            self._reports.pop(key, None)
            self._providers.forget(key)
            return self.cfg.drift_interval
        reads = self._reads.setdefault(key, _ZoneReads(label))
        report = self._reports.setdefault(key, _ZoneReport())
        spec = zone.get("spec") or {}
        paused = bool(spec.get("paused"))
        metrics.PAUSED.labels(label).set(1 if paused else 0)
        if paused:
            self._report(zone, report, {})
            return self.cfg.drift_interval
        first = self.cache.first_claimant(key)
        if first is not None:  # another DNSZone names the same DNS zone and came first
            why = authoring.rival_problem(authoring.normal_zone(str(spec.get("zone", ""))),
                                          first)
            self._tell(zone, report, "DNSZone", zone, why)
            return self.cfg.drift_interval
        cands = candidates(self.cache.plans(key), reads.parts)
        self._report_refusals(zone, report, label, cands)
        newest = newest_valid(cands)
        if newest is None:
            return self.cfg.drift_interval
        logs.bind(generation=newest.plan.generation, plan=newest.plan.name)
        provider = self._providers.get(key, spec)
        auth = authoring.authority_of(zone, self.cfg.owner_id)
        t0 = time.monotonic()
        try:
            result, choice = self._apply(provider, cands, newest, auth, reads)
        except DnsError as e:
            reads.snapshot = None
            return self._dns_failed(zone, report, label, e)
        if result is Applied.APPLIED:  # converged no-ops would swamp the latency of writes
            metrics.APPLY_SECONDS.labels(label, self.cfg.enactor_id).observe(
                time.monotonic() - t0)
        report.error_kind, report.error_attempts = None, 0
        LIVENESS.zone_dns(label, True)
        self._report_choice(zone, report, label, choice)
        chosen = choice.candidate
        if result in (Applied.REFUSED, Applied.HELD) or chosen is None:
            self._report(zone, report, {})
            return self.cfg.drift_interval
        if result is Applied.SUPERSEDED:
            if chosen.plan.name not in report.superseded:
                report.superseded.add(chosen.plan.name)
                log.info("%s: plan %s is superseded in DNS; not writing it", label,
                         chosen.plan.name)
                metrics.CAS_OUTCOMES.labels(label, self.cfg.enactor_id, "already_newer").inc()
            self._report(zone, report, {})
            return self.cfg.drift_interval
        if result is Applied.CONTENDED:
            return 0.05 + self.rng.uniform(0, 0.2)
        if result is Applied.WITHDRAWN:
            # Being deleted before it went in: soon gone from the cache, and then the newest
            # plan left is chosen; until then look again shortly, not a drift interval later.
            return 0.5 + self.rng.uniform(0, 0.5)
        if result in (Applied.APPLIED, Applied.CONVERGED):
            # Set on every pass, not only on a change: a zone deleted and made again under
            # the same name has had its series removed (metrics.forget_zone).
            metrics.ENACTOR_GENERATION.labels(label, self.cfg.enactor_id).set(
                chosen.plan.generation)
            if report.generation != chosen.plan.generation:
                report.generation = chosen.plan.generation
                if result is Applied.APPLIED:
                    self.api.event(zone, "DNSZone", "Normal", "Applied",
                                   f"{self.cfg.enactor_id} applied plan {chosen.plan.name}")
            self._report(zone, report, {"generation": report.generation,
                                      "appliedAt": rfc3339(datetime.now(UTC))},
                         force=result is Applied.APPLIED)
        return self.cfg.drift_interval

    def _apply(self, provider: DnsProvider, cands: list[Candidate], newest: Candidate,
               auth: Authority, reads: _ZoneReads) -> tuple[Applied, Choice]:
        """Compare-and-swap loop: choose and decide, write; on conflict read again. Never
        forces.

        The first round may decide from the snapshot this enactor last read and then wrote
        itself (younger than the drift interval) instead of a new zone transfer: the
        compare-and-swap makes that safe, since any write decided on a stale view fails its
        prerequisites and is followed by a fresh read. Drift is caught by the full read the
        timer brings once the snapshot is older than the drift interval."""
        eid, label = self.cfg.enactor_id, reads.label
        choice = Choice(None, None)
        # What else the choice depends on: an annotation (an approval, a deliberate jump)
        # added to a plan changes no spec, but may change the choice.
        rules: tuple[object, ...] = (auth, *(authoring.consent_of(c.objs) for c in cands))
        for attempt in range(self.cfg.conflict_rounds):
            state = self._snapshot(provider, reads)
            seen = reads.converged
            if seen is not None and seen[0] is newest.plan and seen[1] is state \
                    and seen[2] == rules:
                return Applied.CONVERGED, seen[3]  # the same inputs decide the same again
            choice = choose(cands, state, eid, provider.lua, auth)
            d, chosen = choice.decision, choice.candidate
            if d is None or chosen is None or d.verdict is Verdict.REFUSED:
                return Applied.REFUSED, choice
            if d.verdict is Verdict.HELD:
                return Applied.HELD, choice
            if d.verdict is Verdict.SUPERSEDED:
                return Applied.SUPERSEDED, choice
            plan = chosen.plan
            if not d.writes and d.fence_new is None:
                reads.converged = (newest.plan, state, rules, choice)
                return Applied.CONVERGED, choice
            if d.fence_new is not None and self._withdrawn(chosen):
                return Applied.WITHDRAWN, choice
            if self._after_decide is not None:
                self._after_decide(plan.generation)
            steps = update_steps(d, min(self.cfg.max_records_per_update, provider.max_records),
                                 start=self._offset * len(d.writes) // 2**32)
            conflicted = False
            # All of a decision's UPDATEs go out pipelined; each is its own compare-and-swap.
            for step, outcome in zip(steps, provider.write_steps(steps), strict=True):
                if outcome is WriteOutcome.CONFLICT:
                    metrics.CAS_OUTCOMES.labels(label, eid, "conflict").inc()
                    conflicted = True
                    continue
                metrics.CAS_OUTCOMES.labels(label, eid, "applied").inc()
                for w in step.writes:
                    metrics.ENDPOINT_WRITES.labels(label, eid, w.kind).inc()
                if reads.snapshot is not None:
                    reads.snapshot = (after(reads.snapshot[0], step), reads.snapshot[1])
                    if reads.serial is not None:
                        reads.serial = (reads.serial + 1) & 0xFFFFFFFF
            if conflicted:
                log.info("%s: compare-and-swap conflict applying %s: DNS changed since it was "
                         "read; reading again", label, plan.name)
                reads.snapshot = None
            if not conflicted:
                kinds: dict[str, int] = {}
                for w in d.writes:
                    kinds[w.kind] = kinds.get(w.kind, 0) + 1
                names = [w.name for w in d.writes]
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                log.info("%s: applied plan %s: %d endpoint write(s) %s (%s)", label, plan.name,
                         len(names), kinds, shown,
                         extra={"planguard": {"zone": label, "generation": plan.generation,
                                              "enactor": eid, "endpoints": names[:20],
                                              "writes": kinds}})
                return Applied.APPLIED, choice
            # RFC 2136 §7.20: retry after a random delay; growing, so that enactors racing on
            # one plan mostly let the first finish instead of re-reading the zone in a loop.
            time.sleep(self.rng.uniform(0, min(1.0, 0.05 * 2**attempt)))
        return Applied.CONTENDED, choice

    def _snapshot(self, provider: DnsProvider, reads: _ZoneReads) -> ZoneState:
        """The zone as last read plus this enactor's own writes while it is young; once it
        is older than the drift interval, a one-query SOA check stands in for a transfer
        when the serial shows that nobody else has written (every UPDATE that changes the
        zone raises it by one); a full transfer at least every `full_read_every`."""
        now = time.monotonic()
        if reads.snapshot is not None:
            state, read_at = reads.snapshot
            if now - read_at < self.cfg.drift_interval * 0.9:
                return state
            full_due = self.cfg.drift_interval * self.cfg.full_read_every
            if (reads.serial is not None and now - reads.full_read_at < full_due
                    and provider.read_serial() == reads.serial):
                reads.snapshot = (state, now)
                metrics.ZONE_READS.labels(reads.label, self.cfg.enactor_id, "serial").inc()
                return state
        state = provider.read_zone()
        metrics.ZONE_READS.labels(reads.label, self.cfg.enactor_id, "transfer").inc()
        reads.snapshot, reads.serial, reads.full_read_at = (state, now), state.serial, now
        return state

    @staticmethod
    def _withdrawn(chosen: Candidate) -> bool:
        """A plan already being deleted, and not holding the live-plan finalizer, is not
        applied: it can never become live."""
        return any(
            o["metadata"].get("deletionTimestamp")
            and LIVE_PLAN_FINALIZER not in (o["metadata"].get("finalizers") or [])
            for o in (*chosen.objs, *chosen.base_objs)
        )

    # -- reporting ---------------------------------------------------------------------
    def _dns_failed(
        self, zone: dict[str, Any], report: _ZoneReport, label: str, e: DnsError
    ) -> float:
        metrics.DNS_ERRORS.labels(label, "enactor", e.kind.value).inc()
        LIVENESS.zone_dns(label, False, str(e))  # the zone's own status says it, not readiness
        report.error_attempts += 1
        if report.error_kind != e.kind.value:
            report.error_kind = e.kind.value
            log.warning("%s: DNS state unknown, nothing written: %s", label, e)
            self.api.event(zone, "DNSZone", "Warning", "DNSError",
                           f"{self.cfg.enactor_id}: {e} (nothing written; retrying)")
        self._report(zone, report, {"lastError": str(e), "lastErrorKind": e.kind.value,
                                  "lastErrorTime": rfc3339(datetime.now(UTC))})
        # Growing waits: a server that keeps timing out costs this zone one deadline per
        # ever longer wait, and never the other zones' threads (core/dnsplan/reconcile_slots.py).
        return equal_jitter(report.error_attempts, 0.5, 30.0, self.rng)

    def dns_timed_out(self, key: ZoneKey) -> bool:
        """Whether the zone's last reconcile ran out of a DNS deadline."""
        report = self._reports.get(key)
        return report is not None and report.error_kind == DnsErrorKind.TIMEOUT.value

    def _report_choice(self, zone: dict[str, Any], report: _ZoneReport, label: str,
                       choice: Choice) -> None:
        """Events for what the authoring rules refused or held (each once per plan, reason
        and message: an Event names the record, and a new one is told anew)."""
        for c, d in choice.refused:
            self._tell(zone, report, "DNSPlan", dict(c.objs[0]), *d.problems)
        c, d = choice.candidate, choice.decision
        if c is not None and d is not None:
            self._tell(zone, report, "DNSPlan", dict(c.objs[0]), *d.problems, *d.refused)

    def _tell(self, zone: dict[str, Any], report: _ZoneReport, kind: str,
              obj: dict[str, Any], *problems: Problem) -> None:
        for p in problems:
            key = (str(obj["metadata"]["name"]), p.reason, p.message)
            if key in report.told:
                continue
            if len(report.told) > 1000:  # bounded: a long-lived zone forgets old news
                report.told.clear()
            report.told.add(key)
            label = f"{zone['metadata']['namespace']}/{zone['metadata']['name']}"
            if p.reason != "Held":  # waiting for a person is not a refusal (planguard_zone_held)
                metrics.REFUSALS.labels(label, p.reason).inc()
            log.warning("%s: %s %s: %s", label, kind, key[0], p.message)
            self.api.event(obj, kind, "Warning", p.reason,
                           f"{self.cfg.enactor_id}: {p.message}")

    def _report_refusals(
        self, zone: dict[str, Any], report: _ZoneReport, label: str, cands: list[Candidate]
    ) -> None:
        for c in cands:
            if c.valid or c.plan.name in report.refused:
                continue
            report.refused.add(c.plan.name)
            for p in c.problems:
                metrics.REFUSALS.labels(label, p.reason).inc()
            msg = "; ".join(p.message for p in c.problems)
            log.warning("%s: refusing plan %s: %s", label, c.plan.name, msg)
            self.api.event(dict(c.objs[0]), "DNSPlan", "Warning", "Refused",
                           f"{self.cfg.enactor_id} will not apply this plan: {msg}")

    def _report(
        self, zone: dict[str, Any], report: _ZoneReport, fields: dict[str, Any],
        force: bool = False,
    ) -> None:
        """Writes status.enactors[<id>] (this enactor's key only) on change or heartbeat.
        A success clears the last error; an error keeps the last applied generation."""
        entry = dict(report.reported)
        if "generation" in fields:
            for k in _ERROR_FIELDS:
                entry.pop(k, None)
        entry.update(fields)
        now = time.monotonic()
        fresh = now - report.reported_at < self.cfg.heartbeat
        if not force and entry == report.reported and fresh:
            return
        report.reported, report.reported_at = entry, now
        body: dict[str, Any] = {k: None for k in _ERROR_FIELDS}  # null: merge patch deletes
        body.update(entry)
        body["heartbeat"] = rfc3339(datetime.now(UTC))
        meta = zone["metadata"]
        try:
            self.api.patch_status("dnszones", meta["namespace"], meta["name"],
                                  {"enactors": {self.cfg.enactor_id: body}})
        except Exception as e:
            log.warning("could not write status of %s: %s", meta["name"], e)
            report.reported_at = 0.0
