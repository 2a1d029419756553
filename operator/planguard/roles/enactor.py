"""`planguard enactor --id NAME`: brings each zone's DNS to its newest valid plan.

Several run at once, independently; each needs only the Kubernetes API (to read plans)
and the DNS primary (to read state and write). They race through the DNS server's
compare-and-swap, never through a check made earlier.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planguard import metrics
from planguard.core.backoff import full_jitter
from planguard.core.conditions import rfc3339
from planguard.core.enact import Verdict, decide, update_steps
from planguard.core.selection import Candidate, candidates, newest_valid
from planguard.dns.provider import DnsError, WriteOutcome
from planguard.dns.rfc2136 import ProviderPool, Rfc2136Provider
from planguard.dns.tsig import TsigKey
from planguard.kube.api import LIVE_PLAN_FINALIZER, PlanguardApi
from planguard.roles.cache import ObjectCache, ZoneKey

log = logging.getLogger(__name__)
_ERROR_FIELDS = ("lastError", "lastErrorKind", "lastErrorTime")


@dataclass
class EnactorConfig:
    enactor_id: str
    key: TsigKey
    drift_interval: float = 10.0  # how often DNS is re-read to repair hand edits
    max_records_per_update: int = 400
    conflict_rounds: int = 50
    heartbeat: float = 30.0
    stop_after_read: int | None = None  # test hook, see _fault_stop_after_read


@dataclass
class _ZoneMemo:
    """What this enactor last reported for a zone, to write status and events on change."""

    generation: int | None = None
    error_kind: str | None = None
    error_attempts: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    reported_at: float = 0.0
    refused: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)


class Enactor:
    def __init__(
        self, api: PlanguardApi, cache: ObjectCache, cfg: EnactorConfig,
        rng: random.Random | None = None,
    ) -> None:
        self.api, self.cache, self.cfg = api, cache, cfg
        self.rng = rng or random.Random()
        self._providers = ProviderPool(cfg.key)
        self._memo: dict[ZoneKey, _ZoneMemo] = {}

    # -- one reconcile of one zone (runs in a worker thread) ---------------------------
    def reconcile(self, key: ZoneKey) -> float:
        zone = self.cache.zones.get(key)
        if zone is None:
            return self.cfg.drift_interval
        label = f"{key[0]}/{key[1]}"
        memo = self._memo.setdefault(key, _ZoneMemo())
        spec = zone.get("spec") or {}
        paused = bool(spec.get("paused"))
        metrics.PAUSED.labels(label).set(1 if paused else 0)
        if paused:
            self._report(zone, memo, {})
            return self.cfg.drift_interval
        cands = candidates(self.cache.plans(key))
        self._report_refusals(zone, memo, label, cands)
        chosen = newest_valid(cands)
        if chosen is None:
            return self.cfg.drift_interval
        provider = self._providers.get(key, spec)
        t0 = time.monotonic()
        try:
            result = self._apply(provider, label, chosen)
        except DnsError as e:
            return self._dns_failed(zone, memo, label, e)
        metrics.APPLY_SECONDS.labels(label, self.cfg.enactor_id).observe(time.monotonic() - t0)
        memo.error_kind, memo.error_attempts = None, 0
        if result == "superseded":
            if chosen.plan.name not in memo.superseded:
                memo.superseded.add(chosen.plan.name)
                log.info("%s: plan %s is superseded in DNS; not writing it", label,
                         chosen.plan.name)
                metrics.CAS_OUTCOMES.labels(label, self.cfg.enactor_id, "already_newer").inc()
            self._report(zone, memo, {})
            return self.cfg.drift_interval
        if result == "contended":
            return 0.05 + self.rng.uniform(0, 0.2)
        if result in ("applied", "converged"):
            if memo.generation != chosen.plan.generation:
                memo.generation = chosen.plan.generation
                metrics.ENACTOR_GENERATION.labels(label, self.cfg.enactor_id).set(memo.generation)
                if result == "applied":
                    self.api.event(zone, "DNSZone", "Normal", "Applied",
                                   f"{self.cfg.enactor_id} applied plan {chosen.plan.name}")
            self._report(zone, memo, {"generation": memo.generation,
                                      "appliedAt": rfc3339(datetime.now(UTC))},
                         force=result == "applied")
        return self.cfg.drift_interval

    def _apply(self, provider: Rfc2136Provider, label: str, chosen: Candidate) -> str:
        """Compare-and-swap loop: read, decide, write; on conflict read again. Never forces."""
        plan, eid = chosen.plan, self.cfg.enactor_id
        for _ in range(self.cfg.conflict_rounds):
            state = provider.read_zone()
            d = decide(plan, state, eid)
            if d.verdict is Verdict.SUPERSEDED:
                return "superseded"
            if not d.writes and d.fence_new is None:
                return "converged"
            if d.fence_new is not None and not self._hold_finalizer(chosen):
                return "withdrawn"
            self._fault_stop_after_read(plan.generation)
            conflicted = False
            for step in update_steps(d, self.cfg.max_records_per_update):
                outcome = provider.write(step.writes, step.fence_expect, step.fence_new)
                if outcome is WriteOutcome.CONFLICT:
                    metrics.CAS_OUTCOMES.labels(label, eid, "conflict").inc()
                    log.info("%s: compare-and-swap conflict applying %s: DNS changed since "
                             "it was read; reading again", label, plan.name)
                    conflicted = True
                    break
                metrics.CAS_OUTCOMES.labels(label, eid, "applied").inc()
                for w in step.writes:
                    metrics.ENDPOINT_WRITES.labels(label, eid, w.kind).inc()
            if not conflicted:
                return "applied"
            time.sleep(self.rng.uniform(0, 0.05))  # RFC 2136 §7.20: retry after a random delay
        return "contended"

    def _fault_stop_after_read(self, generation: int) -> None:
        """Test hook ($PLANGUARD_FAULT_STOP_AFTER_READ): freeze this process once, after
        it has read DNS and decided its writes for `generation` but before sending them,
        the exact point where the post-mortem's enactor stalled."""
        if self.cfg.stop_after_read == generation:
            self.cfg.stop_after_read = None
            log.warning("fault hook: stopping myself after reading DNS for generation %d",
                        generation)
            os.kill(os.getpid(), signal.SIGSTOP)

    def _hold_finalizer(self, chosen: Candidate) -> bool:
        """Before a plan's generation enters DNS, every part of it must carry the live-plan
        finalizer, so it cannot be deleted while live. A plan already being deleted without
        it is withdrawn: it is not applied."""
        for obj in chosen.objs:
            meta = obj["metadata"]
            if LIVE_PLAN_FINALIZER in (meta.get("finalizers") or []):
                continue
            if meta.get("deletionTimestamp"):
                return False
            fresh = self.api.get("dnsplans", meta["namespace"], meta["name"])
            fmeta = fresh["metadata"]
            if fmeta.get("deletionTimestamp"):
                if LIVE_PLAN_FINALIZER not in (fmeta.get("finalizers") or []):
                    return False
            elif not self.api.set_finalizer(meta["namespace"], fresh, True):
                return False
        return True

    # -- reporting ---------------------------------------------------------------------
    def _dns_failed(self, zone: dict[str, Any], memo: _ZoneMemo, label: str, e: DnsError) -> float:
        metrics.DNS_ERRORS.labels(label, "enactor", e.kind.value).inc()
        memo.error_attempts += 1
        if memo.error_kind != e.kind.value:
            memo.error_kind = e.kind.value
            log.warning("%s: DNS state unknown, nothing written: %s", label, e)
            self.api.event(zone, "DNSZone", "Warning", "DNSError",
                           f"{self.cfg.enactor_id}: {e} (nothing written; retrying)")
        self._report(zone, memo, {"lastError": str(e), "lastErrorKind": e.kind.value,
                                  "lastErrorTime": rfc3339(datetime.now(UTC))})
        return max(0.2, full_jitter(memo.error_attempts, 0.5, 30.0, self.rng))

    def _report_refusals(
        self, zone: dict[str, Any], memo: _ZoneMemo, label: str, cands: list[Candidate]
    ) -> None:
        for c in cands:
            if c.valid or c.plan.name in memo.refused:
                continue
            memo.refused.add(c.plan.name)
            for p in c.problems:
                metrics.REFUSALS.labels(label, p.reason).inc()
            msg = "; ".join(p.message for p in c.problems)
            log.warning("%s: refusing plan %s: %s", label, c.plan.name, msg)
            self.api.event(dict(c.objs[0]), "DNSPlan", "Warning", "Refused",
                           f"{self.cfg.enactor_id} will not apply this plan: {msg}")

    def _report(
        self, zone: dict[str, Any], memo: _ZoneMemo, fields: dict[str, Any], force: bool = False
    ) -> None:
        """Writes status.enactors[<id>] (this enactor's key only) on change or heartbeat.
        A success clears the last error; an error keeps the last applied generation."""
        entry = dict(memo.reported)
        if "generation" in fields:
            for k in _ERROR_FIELDS:
                entry.pop(k, None)
        entry.update(fields)
        now = time.monotonic()
        if not force and entry == memo.reported and now - memo.reported_at < self.cfg.heartbeat:
            return
        memo.reported, memo.reported_at = entry, now
        body: dict[str, Any] = {k: None for k in _ERROR_FIELDS}  # null: merge patch deletes
        body.update(entry)
        body["heartbeat"] = rfc3339(datetime.now(UTC))
        meta = zone["metadata"]
        try:
            self.api.patch_status("dnszones", meta["namespace"], meta["name"],
                                  {"enactors": {self.cfg.enactor_id: body}})
        except Exception as e:
            log.warning("could not write status of %s: %s", meta["name"], e)
            memo.reported_at = 0.0
