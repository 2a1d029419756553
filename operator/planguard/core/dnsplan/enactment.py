"""The enactor's apply path as pure steps, shared by roles/enactor.py (real DNS servers,
the real clock) and the model checker and replay (sim/: the in-memory server, no clock):
which read stands in for a zone transfer, one compare-and-swap round (choose, decide,
withdrawn?, the UPDATEs in this enactor's rotation), what the answers do to what it
read, and which status entry to write.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol

from planguard.core.backoff import EnactorWaits
from planguard.core.contract import LIVE_PLAN_FINALIZER
from planguard.core.dnsplan import cas
from planguard.core.dnsplan.authoring import Authority
from planguard.core.dnsplan.cas import WriteOutcome
from planguard.core.dnsplan.enact import Choice, UpdateStep, Verdict, choose, update_steps
from planguard.core.dnsplan.model import Plan, ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem

ERROR_FIELDS = ("lastError", "lastErrorKind", "lastErrorTime")


class Applied(Enum):
    """How one compare-and-swap loop over a zone ended."""

    APPLIED = "applied"  # this enactor's writes are in
    CONVERGED = "converged"  # DNS already serves the plan
    SUPERSEDED = "superseded"  # DNS serves a newer generation: the plan is never written
    WITHDRAWN = "withdrawn"  # the plan was deleted before its fence went in
    CONTENDED = "contended"  # conflicts every round: try again soon
    REFUSED = "refused"  # an authoring rule forbids every plan (another owner...)
    HELD = "held"  # the plan waits for an approval of its content


class ReadKind(Enum):
    CACHED = "cached"  # the last read plus own writes, young enough
    SERIAL = "serial"  # one SOA query: unchanged serial, nobody else wrote
    TRANSFER = "transfer"  # a full zone transfer


@dataclass(frozen=True)
class ReadPolicy:
    drift_interval: float = 10.0  # how often DNS is re-checked to repair hand edits
    full_read_every: int = 6  # drift intervals between full zone transfers at the latest


# (newest valid plan, snapshot, the zone's rules and its plans' consents): the inputs a
# choice was found converged for; the same inputs (by value) decide the same again.
Inputs = tuple[Plan, ZoneState, tuple[object, ...]]


@dataclass(frozen=True)
class Reads:
    """What an enactor read of a zone and may decide from again: the snapshot (plus its own
    writes, the SOA serial with them), when it was read, when last in full, and the inputs
    last found converged with their choice."""

    snapshot: ZoneState | None = None
    read_at: float = 0.0
    full_read_at: float = 0.0
    converged: tuple[Inputs, Choice] | None = None

    def kind(self, now: float, policy: ReadPolicy) -> ReadKind:
        """A snapshot younger than the drift interval is decided from as is: the
        compare-and-swap makes that safe (a write decided on a stale view fails and is
        followed by a fresh read). Older, an SOA check stands in for a transfer when the
        serial says nobody else wrote (every UPDATE that changes the zone raises it), but
        a transfer comes at least every `full_read_every` intervals, to catch drift."""
        if self.snapshot is None:
            return ReadKind.TRANSFER
        if now - self.read_at < policy.drift_interval * 0.9:
            return ReadKind.CACHED
        due = policy.drift_interval * policy.full_read_every
        if self.snapshot.serial is not None and now - self.full_read_at < due:
            return ReadKind.SERIAL
        return ReadKind.TRANSFER

    def transferred(self, state: ZoneState, now: float) -> Reads:
        return replace(self, snapshot=state, read_at=now, full_read_at=now)

    def confirmed(self, serial: int, now: float) -> Reads:
        """After an SOA query: the snapshot stands, renewed, if the serial is its own;
        else nothing (a transfer follows)."""
        if self.snapshot is not None and self.snapshot.serial == serial:
            return replace(self, read_at=now)
        return replace(self, snapshot=None)

    def answered(self, step: UpdateStep, outcome: WriteOutcome, lua: bool) -> Reads:
        """An UPDATE's answer: applied, the snapshot holds it too; a conflict, the snapshot
        is stale and the next round reads again."""
        if outcome is WriteOutcome.CONFLICT:
            return replace(self, snapshot=None)
        if self.snapshot is None:
            return self
        return replace(self, snapshot=cas.applied(self.snapshot, cas.message(step, lua)))


def withdrawn(objs: Iterable[Mapping[str, Any]]) -> bool:
    """A plan already being deleted, and not holding the live-plan finalizer, is not
    applied: it can never become live."""
    return any(
        o["metadata"].get("deletionTimestamp")
        and LIVE_PLAN_FINALIZER not in (o["metadata"].get("finalizers") or [])
        for o in objs
    )


def rotation(enactor_id: str) -> int:
    """Where in a plan this enactor starts writing (a 32-bit point, from its id): enactors
    racing on one plan mostly write disjoint endpoints (enact.update_steps)."""
    return zlib.crc32(enactor_id.encode())


@dataclass(frozen=True)
class Round:
    """One round's verdict: `ended` (nothing to send), or the UPDATEs to send."""

    ended: Applied | None
    choice: Choice
    steps: tuple[UpdateStep, ...] = ()


def decide_round(cands: Sequence[Candidate], newest: Plan, state: ZoneState, writer: str,
                 lua: str | None, auth: Authority | None, rules: tuple[object, ...],
                 converged: tuple[Inputs, Choice] | None, max_records: int) -> Round:
    """Choose and decide from `state`; a plan being deleted never raises the fence."""
    inputs: Inputs = (newest, state, rules)
    if converged is not None and converged[0] == inputs:
        return Round(Applied.CONVERGED, converged[1])
    choice = choose(cands, state, writer, lua, auth)
    d, chosen = choice.decision, choice.candidate
    if d is None or chosen is None or d.verdict is Verdict.REFUSED:
        return Round(Applied.REFUSED, choice)
    if d.verdict is Verdict.HELD:
        return Round(Applied.HELD, choice)
    if d.verdict is Verdict.SUPERSEDED:
        return Round(Applied.SUPERSEDED, choice)
    if not d.writes and d.fence_new is None:
        return Round(Applied.CONVERGED, choice)
    if d.fence_new is not None and withdrawn((*chosen.objs, *chosen.base_objs)):
        return Round(Applied.WITHDRAWN, choice)
    start = rotation(writer) * len(d.writes) // 2**32
    return Round(None, choice, tuple(update_steps(d, max_records, start=start)))


class ZoneServer(Protocol):
    """What the apply path needs of a DNS server (dns/provider.DnsProvider is one; the
    simulator's in-memory server another). Its errors pass through, nothing written."""

    lua: str | None
    max_records: int

    def read_zone(self) -> ZoneState: ...
    def read_serial(self) -> int: ...
    def write_steps(self, steps: Sequence[UpdateStep]) -> list[WriteOutcome]: ...


@dataclass
class Trace:
    """What one apply did, for the role's metrics and logs."""

    reads: list[ReadKind] = field(default_factory=list)
    answers: list[tuple[UpdateStep, WriteOutcome]] = field(default_factory=list)
    conflicted_rounds: int = 0


@dataclass(frozen=True)
class Enacting:
    """One zone's apply: its plans, the rules they are chosen under, this enactor."""

    cands: Sequence[Candidate]
    newest: Plan
    auth: Authority | None
    rules: tuple[object, ...]  # what else a choice depends on (approvals, jumps)
    writer: str
    max_records: int
    rounds: int
    policy: ReadPolicy


def apply(server: ZoneServer, job: Enacting, reads: Reads, clock: Callable[[], float],
          sleep: Callable[[float], None], rng: random.Random,
          after_decide: Callable[[int], None] | None = None,
          ) -> tuple[Applied, Choice, Reads, Trace]:
    """The compare-and-swap loop: read (or reuse), decide, send, and on a conflict read
    again after a growing random wait. Never forces. `after_decide(generation)`: called
    between deciding and sending (a test's fault injection)."""
    trace, choice = Trace(), Choice(None, None)
    lua = server.lua is not None
    for attempt in range(job.rounds):
        reads = _read(server, reads, clock(), job.policy, trace)
        assert reads.snapshot is not None
        r = decide_round(job.cands, job.newest, reads.snapshot, job.writer, server.lua,
                         job.auth, job.rules, reads.converged,
                         min(job.max_records, server.max_records))
        choice = r.choice
        if r.ended is not None:
            if r.ended is Applied.CONVERGED:
                reads = replace(reads, converged=((job.newest, reads.snapshot, job.rules),
                                                  choice))
            return r.ended, choice, reads, trace
        if after_decide is not None and choice.decision is not None:
            after_decide(choice.decision.generation)
        # All of a decision's UPDATEs go out pipelined; each is its own compare-and-swap.
        outcomes = server.write_steps(r.steps)
        for step, outcome in zip(r.steps, outcomes, strict=True):
            trace.answers.append((step, outcome))
            reads = reads.answered(step, outcome, lua)
        if WriteOutcome.CONFLICT not in outcomes:
            return Applied.APPLIED, choice, reads, trace
        trace.conflicted_rounds += 1
        sleep(EnactorWaits.conflict_round(attempt, rng))
    return Applied.CONTENDED, choice, reads, trace


def _read(server: ZoneServer, reads: Reads, now: float, policy: ReadPolicy,
          trace: Trace) -> Reads:
    kind = reads.kind(now, policy)
    if kind is ReadKind.SERIAL:
        reads = reads.confirmed(server.read_serial(), now)
        if reads.snapshot is not None:
            trace.reads.append(kind)
            return reads
        kind = ReadKind.TRANSFER
    if kind is ReadKind.TRANSFER:
        reads = reads.transferred(server.read_zone(), now)
        trace.reads.append(kind)
    return reads


@dataclass(frozen=True)
class Settled:
    """What follows an apply: the wait before the zone's next reconcile (None: the drift
    interval); whether to write status, and the generation it reports as applied."""

    wait: float | None = None
    report: bool = True
    generation: int | None = None
    force: bool = False  # written even if unchanged: an apply's appliedAt


def settle(result: Applied, choice: Choice, rng: random.Random) -> Settled:
    """Refused, held, superseded: status as is, next at the drift interval. Contended or
    withdrawn: nothing to report, again soon (core/backoff.EnactorWaits). Applied or
    converged: the chosen generation, an apply written at once."""
    chosen = choice.candidate
    if result is Applied.CONTENDED:
        return Settled(EnactorWaits.contended(rng), report=False)
    if result is Applied.WITHDRAWN:
        return Settled(EnactorWaits.withdrawn(rng), report=False)
    if result in (Applied.APPLIED, Applied.CONVERGED) and chosen is not None:
        return Settled(generation=chosen.plan.generation, force=result is Applied.APPLIED)
    return Settled()


@dataclass(frozen=True)
class News:
    """What of an apply is worth telling once, not on every reconcile."""

    applied: bool = False  # an Applied Event: this enactor's writes moved DNS to a generation
    superseded: str | None = None  # a plan newly found superseded in DNS: logged, counted


def news_of(result: Applied, choice: Choice, then: Settled, last_generation: int | None,
            superseded: Iterable[str]) -> News:
    """`last_generation`: the generation this enactor last reported for the zone;
    `superseded`: the plans it already said were superseded."""
    chosen = choice.candidate
    late = (chosen.plan.name if result is Applied.SUPERSEDED and chosen is not None
            and chosen.plan.name not in superseded else None)
    moved = (result is Applied.APPLIED and then.generation is not None
             and then.generation != last_generation)
    return News(applied=moved, superseded=late)


def dns_error_is_news(last_kind: str | None, kind: str) -> bool:
    """A DNS error is told (a log line, an Event) when its kind changes, not on each retry:
    a server down for an hour makes one Event, not one per backoff."""
    return last_kind != kind


Told = tuple[str, str, str]  # (object name, reason, message): one event


def untold(told: set[Told], name: str, problems: Iterable[Problem]) -> list[Problem]:
    """The problems of object `name` not yet told (each once per object, reason and
    message: an Event names the record, and a new one is told anew), now marked told;
    bounded: a long-lived zone forgets old news."""
    new = []
    for p in problems:
        key = (name, p.reason, p.message)
        if key in told:
            continue
        if len(told) > 1000:
            told.clear()
        told.add(key)
        new.append(p)
    return new


def status_entry(reported: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """status.enactors[<id>] after `fields`: a success (a generation) clears the last
    error; an error keeps the last applied generation."""
    entry = dict(reported)
    if "generation" in fields:
        for k in ERROR_FIELDS:
            entry.pop(k, None)
    entry.update(fields)
    return entry


def status_due(entry: Mapping[str, Any], reported: Mapping[str, Any], age: float,
               heartbeat: float, force: bool = False) -> bool:
    """Whether to write the entry: on change, when forced (an apply), or as a heartbeat."""
    return force or entry != reported or age >= heartbeat
