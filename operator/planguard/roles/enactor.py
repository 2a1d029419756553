"""`planguard enactor --id NAME`: brings each zone's DNS to its newest valid plan.

Several run at once, independently; each needs only the Kubernetes API (to read plans)
and the DNS primary (to read state and write). They race through the DNS server's
compare-and-swap, never through a check made earlier.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planguard import logs, metrics
from planguard.core.backoff import EnactorWaits
from planguard.core.dnsplan import authoring, status
from planguard.core.dnsplan.enactment import (
    Applied,
    Enacting,
    ReadPolicy,
    Reads,
    apply,
    dns_error_is_news,
    news_of,
    settle,
)
from planguard.core.dnsplan.selection import PartCache, candidates, newest_valid
from planguard.core.liveness import LIVENESS
from planguard.dns.pool import ProviderPool
from planguard.dns.provider import DnsError, DnsErrorKind
from planguard.dns.tsig import TsigKey
from planguard.kube.api import PlanguardApi
from planguard.roles.cache import ObjectCache, ZoneKey
from planguard.roles.enactor_reports import EnactorReports, ZoneReport

log = logging.getLogger(__name__)


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


@dataclass
class _ZoneReads:
    """What this enactor read of a zone (core/dnsplan/enactment.Reads) and parsed of its plans."""

    reads: Reads = field(default_factory=Reads)
    parts: PartCache = field(default_factory=PartCache)


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
        self._reports: dict[ZoneKey, ZoneReport] = {}
        self._policy = ReadPolicy(cfg.drift_interval, cfg.full_read_every)
        self._out = EnactorReports(api, cfg.enactor_id, cfg.heartbeat)

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
        reads = self._reads.setdefault(key, _ZoneReads())
        report = self._reports.setdefault(key, ZoneReport())
        spec = zone.get("spec") or {}
        paused = bool(spec.get("paused"))
        metrics.PAUSED.labels(label).set(1 if paused else 0)
        if paused:
            self._out.status(zone, report, {})
            return self.cfg.drift_interval
        first = self.cache.first_claimant(key)
        if first is not None:  # another DNSZone names the same DNS zone and came first
            why = authoring.rival_problem(authoring.normal_zone(str(spec.get("zone", ""))),
                                          first)
            self._out.tell(zone, report, "DNSZone", zone, why)
            return self.cfg.drift_interval
        cands = candidates(self.cache.plans(key), reads.parts)
        self._out.refusals(report, label, cands)
        newest = newest_valid(cands)
        if newest is None:
            return self.cfg.drift_interval
        logs.bind(generation=newest.plan.generation, plan=newest.plan.name)
        provider = self._providers.get(key, spec)
        auth = authoring.authority_of(zone, self.cfg.owner_id)
        # What else the choice depends on: an annotation (an approval, a deliberate jump)
        # added to a plan changes no spec, but may change the choice.
        rules: tuple[object, ...] = (auth, *(authoring.consent_of(c.objs) for c in cands))
        job = Enacting(cands, newest.plan, auth, rules, self.cfg.enactor_id,
                       self.cfg.max_records_per_update, self.cfg.conflict_rounds, self._policy)
        t0 = time.monotonic()
        try:
            result, choice, reads.reads, trace = apply(
                provider, job, reads.reads, time.monotonic, time.sleep, self.rng,
                self._after_decide)
        except DnsError as e:
            reads.reads = Reads(converged=reads.reads.converged)
            return self._dns_failed(zone, report, label, e)
        self._out.observe(label, choice, result, trace)
        if result is Applied.APPLIED:  # converged no-ops would swamp the latency of writes
            metrics.APPLY_SECONDS.labels(label, self.cfg.enactor_id).observe(
                time.monotonic() - t0)
        report.error_kind, report.error_attempts = None, 0
        LIVENESS.zone_dns(label, True)
        self._out.choice(zone, report, choice)
        chosen, then = choice.candidate, settle(result, choice, self.rng)
        news = news_of(result, choice, then, report.generation, report.superseded)
        if news.superseded is not None:
            report.superseded.add(news.superseded)
            log.info("%s: plan %s is superseded in DNS; not writing it", label, news.superseded)
            metrics.CAS_OUTCOMES.labels(label, self.cfg.enactor_id, "already_newer").inc()
        if then.generation is not None and chosen is not None:
            # Set on every pass, not only on a change: a zone deleted and made again under
            # the same name has had its series removed (metrics.forget_zone).
            metrics.ENACTOR_GENERATION.labels(label, self.cfg.enactor_id).set(then.generation)
            if news.applied:
                self.api.event(zone, "DNSZone", "Normal", "Applied",
                               f"{self.cfg.enactor_id} applied plan {chosen.plan.name}")
            report.generation = then.generation
            self._out.status(zone, report, {**status.applied_entry(then.generation,
                                                               datetime.now(UTC))}, then.force)
        elif then.report:
            self._out.status(zone, report, {})
        return self.cfg.drift_interval if then.wait is None else then.wait

    # -- reporting ---------------------------------------------------------------------
    def _dns_failed(
        self, zone: dict[str, Any], report: ZoneReport, label: str, e: DnsError
    ) -> float:
        metrics.DNS_ERRORS.labels(label, "enactor", e.kind.value).inc()
        LIVENESS.zone_dns(label, False, str(e))  # the zone's own status says it, not readiness
        report.error_attempts += 1
        if dns_error_is_news(report.error_kind, e.kind.value):
            report.error_kind = e.kind.value
            log.warning("%s: DNS state unknown, nothing written: %s", label, e)
            self.api.event(zone, "DNSZone", "Warning", "DNSError",
                           f"{self.cfg.enactor_id}: {e} (nothing written; retrying)")
        self._out.status(zone, report, {**status.error_entry(str(e), e.kind.value,
                                                         datetime.now(UTC))})
        # A slow server costs its own zone only (core/dnsplan/reconcile_slots.py).
        return EnactorWaits.dns_failed(report.error_attempts, self.rng)

    def dns_timed_out(self, key: ZoneKey) -> bool:
        """Whether the zone's last reconcile ran out of a DNS deadline."""
        report = self._reports.get(key)
        return report is not None and report.error_kind == DnsErrorKind.TIMEOUT.value
