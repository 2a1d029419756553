"""`planguard enactor --id NAME`: brings each zone's DNS to its newest valid plan.

Several run at once, independently; each needs only the Kubernetes API (to read plans)
and the DNS primary (to read state and write). They race through the DNS server's
compare-and-swap, never through a check made earlier.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from planguard import logs, metrics
from planguard.core.backoff import full_jitter
from planguard.core.conditions import rfc3339
from planguard.core.enact import Verdict, after, decide, update_steps
from planguard.core.liveness import LIVENESS
from planguard.core.model import Plan, ZoneState
from planguard.core.selection import Candidate, PartCache, candidates, newest_valid
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
    drift_interval: float = 10.0  # how often DNS is re-checked to repair hand edits
    full_read_every: int = 6  # drift intervals between full zone transfers at the latest
    max_records_per_update: int = 400
    conflict_rounds: int = 50
    heartbeat: float = 30.0
    stop_after_read: int | None = None  # test hook, see _fault_stop_after_read
    dns_via: tuple[str, int] | None = None  # send DNS traffic through this address


@dataclass
class _ZoneMemo:
    """What this enactor last reported for a zone, to write status and events on change."""

    generation: int | None = None
    error_kind: str | None = None
    error_attempts: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    reported_at: float = 0.0
    refused: set[str] = field(default_factory=set)
    label: str = ""
    snapshot: tuple[ZoneState, float] | None = None  # last zone read (+ own writes), read time
    serial: int | None = None  # the SOA serial the snapshot stands for, with our own writes
    full_read_at: float = 0.0
    converged: tuple[Plan, ZoneState] | None = None  # (plan, snapshot) last found converged
    parts: PartCache = field(default_factory=PartCache)
    superseded: set[str] = field(default_factory=set)


class Enactor:
    def __init__(
        self, api: PlanguardApi, cache: ObjectCache, cfg: EnactorConfig,
        rng: random.Random | None = None,
    ) -> None:
        self.api, self.cache, self.cfg = api, cache, cfg
        self.rng = rng or random.Random()
        self._providers = ProviderPool(cfg.key, cfg.dns_via)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="finalizer")
        self._memo: dict[ZoneKey, _ZoneMemo] = {}
        # Where in a plan this enactor starts writing: its own point, from its id.
        self._offset = zlib.crc32(cfg.enactor_id.encode())

    # -- one reconcile of one zone (runs in a worker thread) ---------------------------
    def reconcile(self, key: ZoneKey) -> float:
        zone = self.cache.zones.get(key)
        label = f"{key[0]}/{key[1]}"
        if zone is None:
            LIVENESS.ready(f"DNS of zone {label}", True)  # gone: nothing to be ready for
            metrics.forget_zone(label)
            return self.cfg.drift_interval
        memo = self._memo.setdefault(key, _ZoneMemo(label=label))
        spec = zone.get("spec") or {}
        paused = bool(spec.get("paused"))
        metrics.PAUSED.labels(label).set(1 if paused else 0)
        if paused:
            self._report(zone, memo, {})
            return self.cfg.drift_interval
        cands = candidates(self.cache.plans(key), memo.parts)
        self._report_refusals(zone, memo, label, cands)
        chosen = newest_valid(cands)
        if chosen is None:
            return self.cfg.drift_interval
        logs.bind(generation=chosen.plan.generation, plan=chosen.plan.name)
        provider = self._providers.get(key, spec)
        t0 = time.monotonic()
        try:
            result = self._apply(provider, label, chosen, memo)
        except DnsError as e:
            memo.snapshot = None
            return self._dns_failed(zone, memo, label, e)
        if result == "applied":  # converged no-ops would swamp the latency of real writes
            metrics.APPLY_SECONDS.labels(label, self.cfg.enactor_id).observe(
                time.monotonic() - t0)
        memo.error_kind, memo.error_attempts = None, 0
        LIVENESS.ready(f"DNS of zone {label}", True)
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
            # Set on every pass, not only on a change: a zone deleted and made again under
            # the same name has had its series removed (metrics.forget_zone).
            metrics.ENACTOR_GENERATION.labels(label, self.cfg.enactor_id).set(
                chosen.plan.generation)
            if memo.generation != chosen.plan.generation:
                memo.generation = chosen.plan.generation
                if result == "applied":
                    self.api.event(zone, "DNSZone", "Normal", "Applied",
                                   f"{self.cfg.enactor_id} applied plan {chosen.plan.name}")
            self._report(zone, memo, {"generation": memo.generation,
                                      "appliedAt": rfc3339(datetime.now(UTC))},
                         force=result == "applied")
        return self.cfg.drift_interval

    def _apply(
        self, provider: Rfc2136Provider, label: str, chosen: Candidate, memo: _ZoneMemo
    ) -> str:
        """Compare-and-swap loop: decide, write; on conflict read again. Never forces.

        The first round may decide from the snapshot this enactor last read and then wrote
        itself (younger than the drift interval) instead of a new zone transfer: the
        compare-and-swap makes that safe, since any write decided on a stale view fails its
        prerequisites and is followed by a fresh read. Drift is caught by the full read the
        timer brings once the snapshot is older than the drift interval."""
        plan, eid = chosen.plan, self.cfg.enactor_id
        for attempt in range(self.cfg.conflict_rounds):
            state = self._snapshot(provider, memo)
            if memo.converged is not None and memo.converged[0] is plan \
                    and memo.converged[1] is state:
                return "converged"  # same plan, same zone state: decide would say so again
            d = decide(plan, state, eid)
            if d.verdict is Verdict.SUPERSEDED:
                return "superseded"
            if not d.writes and d.fence_new is None:
                memo.converged = (plan, state)
                return "converged"
            if d.fence_new is not None and self._withdrawn(chosen):
                return "withdrawn"
            self._fault_stop_after_read(plan.generation)
            steps = update_steps(d, self.cfg.max_records_per_update,
                                 start=self._offset * len(d.writes) // 2**32)
            conflicted, finalizing = False, None
            # All of a decision's UPDATEs go out pipelined; each is its own compare-and-swap.
            for step, outcome in zip(steps, provider.write_steps(steps), strict=True):
                if outcome is WriteOutcome.CONFLICT:
                    metrics.CAS_OUTCOMES.labels(label, eid, "conflict").inc()
                    conflicted = True
                    continue
                if step.fence_new is not None:  # only the first step raises the fence
                    # This enactor's fence is in: its generation entered DNS, so it holds
                    # the plan. Enactors that lost the race never patch it (each such patch
                    # of a large plan costs the API server about as much as its create).
                    # After the writes, not before: DNS does not depend on the plan object.
                    finalizing = self._pool.submit(self._hold_finalizer, chosen)
                metrics.CAS_OUTCOMES.labels(label, eid, "applied").inc()
                for w in step.writes:
                    metrics.ENDPOINT_WRITES.labels(label, eid, w.kind).inc()
                if memo.snapshot is not None:
                    memo.snapshot = (after(memo.snapshot[0], step), memo.snapshot[1])
                    memo.serial = None if memo.serial is None else (memo.serial + 1) & 0xFFFFFFFF
            if conflicted:
                log.info("%s: compare-and-swap conflict applying %s: DNS changed since it was "
                         "read; reading again", label, plan.name)
                memo.snapshot = None
            if finalizing is not None:
                # Not awaited: the answer is served already, and the next plan must not
                # wait for the API server to patch this one.
                finalizing.add_done_callback(
                    lambda f, name=plan.name: self._finalized(f, label, name))
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
                return "applied"
            # RFC 2136 §7.20: retry after a random delay; growing, so that enactors racing on
            # one plan mostly let the first finish instead of re-reading the zone in a loop.
            time.sleep(self.rng.uniform(0, min(1.0, 0.05 * 2**attempt)))
        return "contended"

    @staticmethod
    def _finalized(done: Future[bool], label: str, plan: str) -> None:
        try:
            held = done.result()
        except Exception as e:  # the API server is down or slow: clean-up adds it later
            log.warning("%s: could not add the live-plan finalizer to %s: %s", label, plan, e)
            return
        if not held:
            log.warning("%s: plan %s was deleted while it was being applied; DNS is not "
                        "affected and the next newer plan applies as usual", label, plan)

    def _snapshot(self, provider: Rfc2136Provider, memo: _ZoneMemo) -> ZoneState:
        """The zone as last read plus this enactor's own writes while it is young; once it
        is older than the drift interval, a one-query SOA check stands in for a transfer
        when the serial shows that nobody else has written (every UPDATE that changes the
        zone raises it by one); a full transfer at least every `full_read_every`."""
        now = time.monotonic()
        if memo.snapshot is not None:
            state, read_at = memo.snapshot
            if now - read_at < self.cfg.drift_interval * 0.9:
                return state
            if (memo.serial is not None
                    and now - memo.full_read_at < self.cfg.drift_interval * self.cfg.full_read_every
                    and provider.read_serial() == memo.serial):
                memo.snapshot = (state, now)
                metrics.ZONE_READS.labels(memo.label, self.cfg.enactor_id, "serial").inc()
                return state
        state = provider.read_zone()
        metrics.ZONE_READS.labels(memo.label, self.cfg.enactor_id, "transfer").inc()
        memo.snapshot, memo.serial, memo.full_read_at = (state, now), state.serial, now
        return state

    def _fault_stop_after_read(self, generation: int) -> None:
        """Test hook ($PLANGUARD_FAULT_STOP_AFTER_READ): freeze this process once, after
        it has read DNS and decided its writes for `generation` but before sending them,
        the exact point where the post-mortem's enactor stalled."""
        if self.cfg.stop_after_read == generation:
            self.cfg.stop_after_read = None
            log.warning("fault hook: stopping myself after reading DNS for generation %d",
                        generation)
            # Directed at this thread: a process-wide kill() lets the calling thread run on
            # for a moment while another thread starts the group stop, long enough to send.
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)

    @staticmethod
    def _withdrawn(chosen: Candidate) -> bool:
        """A plan already being deleted, and not holding the live-plan finalizer, is not
        applied: it can never become live."""
        return any(
            o["metadata"].get("deletionTimestamp")
            and LIVE_PLAN_FINALIZER not in (o["metadata"].get("finalizers") or [])
            for o in chosen.objs
        )

    def _hold_finalizer(self, chosen: Candidate) -> bool:
        """Every part of a plan whose generation enters DNS gets the live-plan finalizer,
        so `kubectl delete` of the live plan waits until it is superseded. Added by the
        enactor whose fence-raising UPDATE was applied, right after its writes: a delete
        in that moment is the one window, and it cannot affect DNS (no enactor needs the plan
        object; clean-up never deletes a plan DNS depends on). False if the plan was
        deleted meanwhile."""
        for obj in chosen.objs:
            meta = obj["metadata"]
            if LIVE_PLAN_FINALIZER in (meta.get("finalizers") or []):
                continue
            if meta.get("deletionTimestamp"):
                return False
            if self.api.set_finalizer(meta["namespace"], dict(obj), True):
                continue
            # The cached object was stale (or is gone): decide again from a fresh read.
            try:
                fresh = self.api.get("dnsplans", meta["namespace"], meta["name"])
            except ApiException as e:
                if e.status == 404:
                    return False
                raise
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
        LIVENESS.ready(f"DNS of zone {label}", False, str(e))
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
