"""The enactor's apply path (core/dnsplan/enactment.py) over the in-memory server, with a
virtual clock: snapshot reuse, the SOA check, withdrawal, rotation, retries, status."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from planguard.core.backoff import EnactorWaits
from planguard.core.contract import LIVE_PLAN_FINALIZER
from planguard.core.dnsplan import cas
from planguard.core.dnsplan.cas import WriteOutcome
from planguard.core.dnsplan.enact import UpdateStep
from planguard.core.dnsplan.enactment import (
    Applied,
    Enacting,
    ReadKind,
    ReadPolicy,
    Reads,
    Settled,
    apply,
    decide_round,
    dns_error_is_news,
    news_of,
    rotation,
    settle,
    status_due,
    status_entry,
    untold,
    withdrawn,
)
from planguard.core.dnsplan.model import Endpoint, Plan, Target, ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem
from planguard.sim.memoryzone import MemoryZone

POLICY = ReadPolicy(drift_interval=10.0, full_read_every=6)


def plan(g: int, *names: str) -> Plan:
    return Plan(f"p{g}", "z", g, tuple(Endpoint(n, 60, (Target(f"10.0.0.{g}"),))
                                       for n in names or ("api",)))


def cand(p: Plan, deleting: bool = False, finalizer: bool = False) -> Candidate:
    meta: dict[str, object] = {"name": p.name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizer:
        meta["finalizers"] = [LIVE_PLAN_FINALIZER]
    return Candidate(p, (), deleting, ({"metadata": meta},))


@dataclass
class Server:
    """The in-memory server behind the narrow interface the apply path needs, with an SOA
    serial that every applied UPDATE raises, and a count of each kind of read."""

    zone: MemoryZone = field(default_factory=MemoryZone)
    serial: int = 1
    lua: str | None = None
    max_records: int = 400
    transfers: int = 0
    soa: int = 0

    def read_zone(self) -> ZoneState:
        self.transfers += 1
        s = self.zone.snapshot()
        return ZoneState(s.fence, s.fence_generation, s.endpoints, serial=self.serial)

    def read_serial(self) -> int:
        self.soa += 1
        return self.serial

    def write_steps(self, steps: Sequence[UpdateStep]) -> list[WriteOutcome]:
        out = []
        for s in steps:
            ok = self.zone.write(s.writes, s.fence_expect, s.fence_new)
            self.serial += ok
            out.append(WriteOutcome.APPLIED if ok else WriteOutcome.CONFLICT)
        return out


@dataclass
class Clock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def job(p: Plan, writer: str = "a", *cands: Candidate) -> Enacting:
    return Enacting(cands or (cand(p),), p, None, (), writer, 400, 5, POLICY)


def run(server: Server, j: Enacting, reads: Reads, clock: Clock,
        ) -> tuple[Applied, Reads]:
    result, _, reads, _ = apply(server, j, reads, clock, clock.sleep, random.Random(1))
    return result, reads


def test_a_young_snapshot_with_own_writes_stands_in_for_a_transfer() -> None:
    server, clock = Server(), Clock()
    result, reads = run(server, job(plan(1)), Reads(), clock)
    assert result is Applied.APPLIED and server.transfers == 1
    assert reads.snapshot is not None and reads.snapshot.endpoint("api").generation == 1
    assert reads.snapshot.serial == server.serial  # its own write counted
    clock.now = 5.0
    result, reads = run(server, job(plan(1)), reads, clock)
    assert result is Applied.CONVERGED and (server.transfers, server.soa) == (1, 0)


def test_an_old_snapshot_is_kept_on_its_own_serial_and_read_anew_on_another() -> None:
    server, clock = Server(), Clock()
    _, reads = run(server, job(plan(1)), Reads(), clock)
    clock.now = 20.0
    assert reads.kind(clock.now, POLICY) is ReadKind.SERIAL
    result, reads = run(server, job(plan(1)), reads, clock)
    assert result is Applied.CONVERGED and (server.transfers, server.soa) == (1, 1)
    # someone else writes: the serial moves and a transfer follows the SOA query
    other = job(plan(2), "b")
    run(server, other, Reads(), clock)
    clock.now = 40.0
    result, reads = run(server, job(plan(2)), reads, clock)
    assert result is Applied.CONVERGED and (server.transfers, server.soa) == (3, 2)


def test_a_full_transfer_at_least_every_full_read_every_intervals() -> None:
    reads = Reads().transferred(ZoneState(serial=3), 0.0)
    assert reads.kind(59.0, POLICY) is ReadKind.SERIAL
    assert reads.kind(60.0, POLICY) is ReadKind.TRANSFER
    assert Reads().transferred(ZoneState(), 0.0).kind(20.0, POLICY) is ReadKind.TRANSFER


def test_a_stale_snapshot_loses_the_compare_and_swap_then_reads_again() -> None:
    server, clock = Server(), Clock()
    _, stale = run(server, job(plan(1)), Reads(), clock)
    run(server, job(plan(2), "b"), Reads(), clock)  # B moves DNS on behind A's back
    clock.now = 1.0  # A's snapshot is young: it decides from it, and is refused
    result, _ = run(server, job(plan(3)), stale, clock)
    assert result is Applied.APPLIED and server.transfers == 3
    assert len(clock.slept) == 1 and server.zone.snapshot().endpoint("api").generation == 3


def test_contended_after_every_round_conflicts() -> None:
    @dataclass
    class Racing(Server):
        def write_steps(self, steps: Sequence[UpdateStep]) -> list[WriteOutcome]:
            return [WriteOutcome.CONFLICT for _ in steps]

    clock = Clock()
    result, reads = run(Racing(), job(plan(1)), Reads(), clock)
    assert result is Applied.CONTENDED and reads.snapshot is None and len(clock.slept) == 5


def test_a_plan_being_deleted_never_raises_the_fence() -> None:
    server, clock = Server(), Clock()
    p = plan(1)
    result, _ = run(server, job(p, "a", cand(p, deleting=True)), Reads(), clock)
    assert result is Applied.WITHDRAWN and server.zone.snapshot().fence is None
    # holding the live-plan finalizer, it may still become live
    result, _ = run(server, job(p, "a", cand(p, deleting=True, finalizer=True)), Reads(), clock)
    assert result is Applied.APPLIED
    assert withdrawn([{"metadata": {"deletionTimestamp": "x"}}])
    assert not withdrawn([{"metadata": {}}])


def test_converged_is_found_by_value_not_identity() -> None:
    p, state = plan(1), ZoneState()
    r = decide_round([cand(p)], p, state, "a", None, None, (), None, 400)
    assert r.ended is None
    seen = ((plan(1), ZoneState(), ()), r.choice)  # equal values, other objects
    again = decide_round([cand(p)], p, state, "a", None, None, (), seen, 400)
    assert again.ended is Applied.CONVERGED and again.choice is r.choice
    moved = decide_round([cand(p)], p, state, "a", None, None, ("approved",), seen, 400)
    assert moved.ended is None


def test_enactors_start_writing_at_their_own_point_of_the_plan() -> None:
    p = plan(1, *(f"e{i}" for i in range(8)))
    firsts = set()
    for writer in ("a", "b", "c", "enactor-0", "enactor-1"):
        r = decide_round([cand(p)], p, ZoneState(), writer, None, None, (), None, 6)
        assert r.steps[0].fence_new is not None  # the first UPDATE raises the fence, always
        firsts.add(r.steps[0].writes[0].name)
        assert rotation(writer) == rotation(writer)
    assert len(firsts) > 1


def test_answers_update_the_snapshot_or_drop_it() -> None:
    p = plan(1)
    r = decide_round([cand(p)], p, ZoneState(serial=7), "a", None, None, (), None, 400)
    reads = Reads().transferred(ZoneState(serial=7), 0.0)
    ok = reads.answered(r.steps[0], WriteOutcome.APPLIED, lua=False)
    assert ok.snapshot is not None and ok.snapshot.serial == 8
    assert ok.snapshot == cas.applied(ZoneState(serial=7), cas.message(r.steps[0], False))
    assert reads.answered(r.steps[0], WriteOutcome.CONFLICT, False).snapshot is None
    assert reads.confirmed(8, 1.0).snapshot is None and reads.confirmed(7, 1.0).read_at == 1.0


def test_status_a_success_clears_the_error_an_error_keeps_the_generation() -> None:
    err = status_entry({"generation": 3}, {"lastError": "x", "lastErrorKind": "timeout"})
    assert err == {"generation": 3, "lastError": "x", "lastErrorKind": "timeout"}
    assert status_entry(err, {"generation": 4}) == {"generation": 4}
    assert not status_due({"generation": 4}, {"generation": 4}, 29.0, 30.0)
    assert status_due({"generation": 4}, {"generation": 4}, 30.0, 30.0)
    assert status_due({"generation": 4}, {"generation": 4}, 0.0, 30.0, force=True)
    assert status_due({"generation": 5}, {"generation": 4}, 0.0, 30.0)


def test_the_enactor_waits() -> None:
    rng = random.Random(3)
    assert all(0.05 <= EnactorWaits.contended(rng) <= 0.25 for _ in range(50))
    assert all(0.5 <= EnactorWaits.withdrawn(rng) <= 1.0 for _ in range(50))
    assert all(EnactorWaits.conflict_round(0, rng) <= 0.05 for _ in range(50))
    assert all(EnactorWaits.conflict_round(9, rng) <= 1.0 for _ in range(50))
    assert all(15.0 <= EnactorWaits.dns_failed(10, rng) <= 30.0 for _ in range(50))
    assert all(0.5 <= EnactorWaits.dns_failed(1, rng) <= 1.0 for _ in range(50))


def test_what_follows_an_apply() -> None:
    rng, p = random.Random(2), plan(4)
    chosen = decide_round([cand(p)], p, ZoneState(), "a", None, None, (), None, 400).choice
    assert settle(Applied.APPLIED, chosen, rng) == Settled(generation=4, force=True)
    assert settle(Applied.CONVERGED, chosen, rng) == Settled(generation=4)
    for quiet in (Applied.REFUSED, Applied.HELD, Applied.SUPERSEDED):
        assert settle(quiet, chosen, rng) == Settled()
    soon = settle(Applied.CONTENDED, chosen, rng)
    assert not soon.report and soon.wait is not None and soon.wait < 0.3
    later = settle(Applied.WITHDRAWN, chosen, rng)
    assert not later.report and later.wait is not None and 0.5 <= later.wait <= 1.0


def test_what_of_an_apply_is_news() -> None:
    rng, p = random.Random(2), plan(4)
    chosen = decide_round([cand(p)], p, ZoneState(), "a", None, None, (), None, 400).choice
    applied = settle(Applied.APPLIED, chosen, rng)
    assert news_of(Applied.APPLIED, chosen, applied, 3, set()).applied  # DNS moved: an Event
    assert not news_of(Applied.APPLIED, chosen, applied, 4, set()).applied  # told already
    converged = settle(Applied.CONVERGED, chosen, rng)
    assert not news_of(Applied.CONVERGED, chosen, converged, 3, set()).applied  # others wrote
    late = news_of(Applied.SUPERSEDED, chosen, Settled(), 4, set())
    assert late.superseded == "p4" and not late.applied
    assert news_of(Applied.SUPERSEDED, chosen, Settled(), 4, {"p4"}).superseded is None


def test_a_dns_error_is_told_when_its_kind_changes() -> None:
    assert dns_error_is_news(None, "timeout")
    assert not dns_error_is_news("timeout", "timeout")  # a retry of the same failure
    assert dns_error_is_news("timeout", "refused")


def test_each_problem_is_told_once_per_object_reason_and_message() -> None:
    told: set[tuple[str, str, str]] = set()
    held, other = Problem("Held", "approve it"), Problem("ZoneClaimed", "not yours")
    assert untold(told, "p1", [held, other]) == [held, other]
    assert untold(told, "p1", [held]) == []
    assert untold(told, "p2", [held]) == [held]  # another plan is told anew
    assert untold(told, "p1", [Problem("Held", "approve the new one")])  # a new message
    told.update((f"x{i}", "r", "m") for i in range(1001))
    assert untold(told, "p3", [held]) == [held] and len(told) == 1  # old news forgotten
