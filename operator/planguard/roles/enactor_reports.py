"""What an enactor tells people about a zone: its entry in status.enactors, Events, the
metrics and logs of each apply. The enactor (roles/enactor.py) decides nothing here; it
hands over what core/dnsplan/enactment decided and read, and this says it, once per change."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planguard import metrics
from planguard.core import timefmt
from planguard.core.dnsplan.enact import Choice
from planguard.core.dnsplan.enactment import (
    ERROR_FIELDS,
    Applied,
    Told,
    Trace,
    status_due,
    status_entry,
    untold,
)
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem
from planguard.dns.provider import WriteOutcome
from planguard.kube.api import PlanguardApi

log = logging.getLogger("planguard.roles.enactor")  # the enactor's lines: one logger to filter


@dataclass
class ZoneReport:
    """What this enactor last reported for a zone, to write status and events on change."""

    generation: int | None = None
    error_kind: str | None = None
    error_attempts: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    reported_at: float = 0.0
    refused: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)
    told: set[Told] = field(default_factory=set)


class EnactorReports:
    def __init__(self, api: PlanguardApi, enactor_id: str, heartbeat: float) -> None:
        self.api, self.eid, self.heartbeat = api, enactor_id, heartbeat

    def observe(self, label: str, choice: Choice, result: Applied, trace: Trace) -> None:
        """Metrics and logs of one apply (core/dnsplan/enactment.apply)."""
        eid = self.eid
        for kind in trace.reads:
            metrics.ZONE_READS.labels(label, eid, kind.value).inc()
        for step, outcome in trace.answers:
            metrics.CAS_OUTCOMES.labels(label, eid, outcome.value).inc()
            if outcome is WriteOutcome.APPLIED:
                for w in step.writes:
                    metrics.ENDPOINT_WRITES.labels(label, eid, w.kind).inc()
        d, chosen = choice.decision, choice.candidate
        if trace.conflicted_rounds and chosen is not None:
            log.info("%s: compare-and-swap conflict applying %s (%d round(s)): DNS changed "
                     "since it was read; reading again", label, chosen.plan.name,
                     trace.conflicted_rounds)
        if result is not Applied.APPLIED or d is None or chosen is None:
            return
        kinds = dict(Counter(w.kind for w in d.writes))
        names = [w.name for w in d.writes]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        log.info("%s: applied plan %s: %d endpoint write(s) %s (%s)", label, chosen.plan.name,
                 len(names), kinds, shown,
                 extra={"planguard": {"zone": label, "generation": chosen.plan.generation,
                                      "enactor": eid, "endpoints": names[:20], "writes": kinds}})

    def choice(self, zone: dict[str, Any], report: ZoneReport, choice: Choice) -> None:
        """Events for what the authoring rules refused or held (enactment.untold)."""
        for c, d in choice.refused:
            self.tell(zone, report, "DNSPlan", dict(c.objs[0]), *d.problems)
        c, d = choice.candidate, choice.decision
        if c is not None and d is not None:
            self.tell(zone, report, "DNSPlan", dict(c.objs[0]), *d.problems, *d.refused)

    def tell(self, zone: dict[str, Any], report: ZoneReport, kind: str,
             obj: dict[str, Any], *problems: Problem) -> None:
        name = str(obj["metadata"]["name"])
        label = f"{zone['metadata']['namespace']}/{zone['metadata']['name']}"
        for p in untold(report.told, name, problems):
            if p.reason != "Held":  # waiting for a person is not a refusal (planguard_zone_held)
                metrics.REFUSALS.labels(label, p.reason).inc()
            log.warning("%s: %s %s: %s", label, kind, name, p.message)
            self.api.event(obj, kind, "Warning", p.reason, f"{self.eid}: {p.message}")

    def refusals(self, report: ZoneReport, label: str, cands: list[Candidate]) -> None:
        for c in cands:
            if c.valid or c.plan.name in report.refused:
                continue
            report.refused.add(c.plan.name)
            for p in c.problems:
                metrics.REFUSALS.labels(label, p.reason).inc()
            msg = "; ".join(p.message for p in c.problems)
            log.warning("%s: refusing plan %s: %s", label, c.plan.name, msg)
            self.api.event(dict(c.objs[0]), "DNSPlan", "Warning", "Refused",
                           f"{self.eid} will not apply this plan: {msg}")

    def status(
        self, zone: dict[str, Any], report: ZoneReport, fields: dict[str, Any],
        force: bool = False,
    ) -> None:
        """Writes status.enactors[<id>] (this enactor's key only) when core says it is due."""
        entry, now = status_entry(report.reported, fields), time.monotonic()
        if not status_due(entry, report.reported, now - report.reported_at, self.heartbeat,
                          force):
            return
        report.reported, report.reported_at = entry, now
        body: dict[str, Any] = {k: None for k in ERROR_FIELDS}  # null: merge patch deletes
        body.update(entry)
        body["heartbeat"] = timefmt.seconds(datetime.now(UTC))
        meta = zone["metadata"]
        try:
            self.api.patch_status("dnszones", meta["namespace"], meta["name"],
                                  {"enactors": {self.eid: body}})
        except Exception as e:
            log.warning("could not write status of %s: %s", meta["name"], e)
            report.reported_at = 0.0
