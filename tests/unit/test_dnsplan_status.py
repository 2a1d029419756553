"""core/dnsplan/status.py: every condition of a zone's and a plan's status, and the order
of Ready's reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from planguard.core import timefmt
from planguard.core.conditions import Condition
from planguard.core.dnsplan import status
from planguard.core.dnsplan.enact import Choice, Decision, Verdict
from planguard.core.dnsplan.model import EndpointState, Plan, ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SETTLED = status.Timing(age=100.0, cycle=5.0, settle=2.0)


def cand(g: int, *problems: Problem, deleting: bool = False, created: str | None = None,
         complete: bool = True) -> Candidate:
    meta = {"name": f"z-{g}", "creationTimestamp": created}
    return Candidate(Plan(f"z-{g}", "z", g, ()), problems, deleting, ({"metadata": meta},),
                     complete)


def decision(verdict: Verdict = Verdict.APPLY, **kw: object) -> Decision:
    return Decision(verdict, 1, **kw)


def by_type(conds: tuple[Condition, ...] | list[Condition]) -> dict[str, Condition]:
    return {c.type: c for c in conds}


# -- plans ---------------------------------------------------------------------------------
def test_a_valid_plan_in_dns_is_live_and_not_superseded() -> None:
    s = status.plan_status(cand(3), [], ZoneState(fence_generation=3), {3}, set(), SETTLED)
    got = by_type(s.conditions)
    assert got["Accepted"] == Condition("Accepted", True, "Valid", "passed enactment checks")
    assert (got["Live"].status, got["Live"].reason) == (True, "InDNS")
    assert (got["Superseded"].status, got["Superseded"].reason) == (False, "NotSuperseded")
    assert not s.deferred
    assert s.drop == ("Refused", "Held", "EndpointsRefused")


def test_the_fenced_generation_is_live_without_an_endpoint() -> None:
    got = by_type(status.plan_status(cand(3), [], ZoneState(fence_generation=3), set(), set(),
                                     SETTLED).conditions)
    assert got["Live"].status and "fenced" in got["Live"].message


def test_an_older_plan_is_superseded_unless_it_is_the_base_of_a_live_delta() -> None:
    zone = ZoneState(fence_generation=5)
    got = by_type(status.plan_status(cand(2), [], zone, {5}, set(), SETTLED).conditions)
    assert (got["Live"].reason, got["Superseded"].reason) == ("NotInDNS", "NewerPlanLive")
    assert got["Superseded"].status
    got = by_type(status.plan_status(cand(2), [], zone, {5}, {2}, SETTLED).conditions)
    assert (got["Superseded"].status, got["Superseded"].reason) == (False, "BaseOfLivePlan")


def test_a_plan_with_problems_or_a_refusal_gets_no_phase() -> None:
    p = Problem("BadName", "endpoint 'x' is not a name")
    s = status.plan_status(cand(2, p), [], ZoneState(fence_generation=2), {2}, set(), SETTLED)
    assert s.conditions == (Condition("Accepted", False, "BadName", p.message),)
    refusal = Condition("Accepted", False, "GenerationJump", "too far")
    held = Condition("Held", True, "Held", "waits for approval")
    s = status.plan_status(cand(2), [refusal, held], ZoneState(fence_generation=2), {2}, set(),
                           SETTLED)
    assert s.conditions == (refusal, held)
    assert s.drop == ("Refused", "EndpointsRefused")


def test_a_plan_waiting_for_parts_says_so_and_dns_unread_gives_no_phase() -> None:
    c = cand(4, complete=False)
    s = status.plan_status(c, [], None, set(), set(), SETTLED)
    assert s.conditions == (Condition("Accepted", False, "Waiting", c.waiting),)
    s = status.plan_status(cand(4), [], None, set(), set(), SETTLED)
    assert [c.type for c in s.conditions] == ["Accepted"]


def test_a_young_plan_is_deferred_until_it_settles() -> None:
    s = status.plan_status(cand(3), [], ZoneState(fence_generation=3), {3}, set(),
                           status.Timing(age=0.5, cycle=5.0, settle=2.0))
    assert s.conditions == () and s.deferred and s.due == 1.5


def test_a_plan_newer_than_the_fence_waits_a_cycle_for_the_next_one() -> None:
    s = status.plan_status(cand(4), [], ZoneState(fence_generation=3), {3}, set(),
                           status.Timing(age=3.0, cycle=5.0, settle=2.0))
    assert s.deferred and s.due is None and s.conditions == ()


def test_a_refusal_is_never_deferred() -> None:
    refusal = Condition("Accepted", False, "ZoneClaimed", "not ours")
    s = status.plan_status(cand(3), [refusal], ZoneState(fence_generation=3), {3}, set(),
                           status.Timing(age=0.5, cycle=5.0, settle=2.0))
    assert s.conditions == (refusal,) and not s.deferred


def test_age_is_from_the_newest_part_and_unknown_when_a_stamp_is_missing() -> None:
    objs = [{"metadata": {"creationTimestamp": timefmt.seconds(NOW - timedelta(seconds=s))}}
            for s in (30, 10)]
    assert status.age(objs, NOW) == 10.0
    assert status.age([*objs, {"metadata": {}}], NOW) == -1.0
    assert status.age([], NOW) == -1.0


def test_verdicts_per_plan() -> None:
    held = Problem("Held", "approve it")
    rival = Problem("GenerationJump", "too far")
    foreign = (Problem("ForeignRecords", "a"), Problem("ForeignRecords", "b"))
    choice = Choice(cand(3), decision(Verdict.HELD, problems=(held,), refused=foreign),
                    refused=((cand(9), decision(Verdict.REFUSED, problems=(rival,))),))
    out = status.verdicts(choice)
    assert out["z-9"] == [Condition("Accepted", False, "GenerationJump", "too far")]
    assert out["z-3"] == [Condition("Held", True, "Held", "approve it"),
                          Condition("EndpointsRefused", True, "ForeignRecords", "a; b")]
    refused = Choice(cand(3), decision(Verdict.REFUSED, problems=(rival,)))
    assert status.verdicts(refused) == {"z-3": [Condition("Accepted", False, "GenerationJump",
                                                          "too far")]}
    assert status.verdicts(Choice(None, None)) == {}


def test_zone_missing() -> None:
    c = status.zone_missing("ns", "example")
    assert (c.type, c.status, c.reason) == ("Accepted", False, "ZoneNotFound")
    assert "'example'" in c.message and "'ns'" in c.message


def test_enactor_entries() -> None:
    assert status.applied_entry(7, NOW) == {"generation": 7, "appliedAt": "2026-01-02T03:04:05Z"}
    assert status.error_entry("boom", "timeout", NOW) == {
        "lastError": "boom", "lastErrorKind": "timeout", "lastErrorTime": "2026-01-02T03:04:05Z"}


# -- zone ----------------------------------------------------------------------------------
def served(g: int) -> ZoneState:
    return ZoneState(fence_generation=g, endpoints={
        "a": EndpointState("a", marker=f"g={g}", generation=g, a=frozenset({"10.0.0.1"})),
        "b": EndpointState("b", marker=f"g={g}", generation=g),  # empty
        "c": EndpointState("c")})  # not planguard's


def read(**kw: object) -> status.ZoneRead:
    base: dict[str, object] = dict(paused=False, cands=[cand(3)],
                                   choice=Choice(cand(3), decision(Verdict.APPLY)),
                                   state=served(3), depended={2, 3})
    base.update(kw)
    return status.ZoneRead(**base)


def test_a_converged_zone_is_ready_with_its_counts() -> None:
    s = status.zone_status(read(), NOW, 120.0)
    got = by_type(s.conditions)
    assert [c.type for c in s.conditions] == ["Paused", "DNSReadable", "Converged", "Degraded",
                                              "Ready"]
    assert got["Ready"] == Condition("Ready", True, "Converged", "every endpoint serves plan z-3")
    assert got["Degraded"] == Condition("Degraded", False, "Healthy", "")
    assert s.fields == {"newestPlan": 3, "activeGeneration": 3,
                        "liveGenerations": {"oldest": 2, "newest": 3},
                        "endpoints": {"managed": 2, "empty": 1, "orphaned": 0}}
    assert not s.held and s.refused_endpoints == 0


def test_dns_unreadable() -> None:
    s = status.zone_status(read(state=None, unreadable=status.Unreadable("timeout", "slow")),
                           NOW, 120.0)
    got = by_type(s.conditions)
    assert got["DNSReadable"] == Condition("DNSReadable", False, "Timeout", "slow")
    assert got["Converged"].reason == "DNSUnreadable"
    assert got["Degraded"].message == "DNS unreadable: slow"
    assert got["Ready"] == Condition("Ready", False, "DNSUnreadable", "slow")
    assert s.fields == {"newestPlan": 3}


def test_pending_writes_and_a_raised_fence_are_not_converged() -> None:
    d = decision(Verdict.APPLY, fence_new="g=4")
    got = by_type(status.zone_status(read(choice=Choice(cand(4), d)), NOW, 120.0).conditions)
    assert got["Converged"].reason == "Pending"
    assert got["Ready"].reason == "NotConverged"
    assert got["Ready"].message == "0 endpoint(s) not yet at plan z-4; zone fence at 3"


def test_no_valid_plan_and_a_superseded_choice() -> None:
    assert status.converged_now(None, None, served(3)) == (False, "no valid plan")
    d = decision(Verdict.SUPERSEDED, reasons=["fence at 5"])
    ok, why = status.converged_now(cand(3), d, served(5))
    assert not ok and why.startswith("fence at 5, but no such plan exists") and "above 5" in why


def test_what_degrades_a_zone_in_order() -> None:
    p = Problem("BadName", "bad")
    stale = timefmt.seconds(NOW - timedelta(seconds=200))
    fresh = timefmt.seconds(NOW - timedelta(seconds=10))
    d = decision(Verdict.APPLY, orphans=("x", "y"), refused=(Problem("ForeignRecords", "f"),))
    r = read(cands=[cand(1, p), cand(2, p, deleting=True), cand(3)],
             choice=Choice(cand(3), d, refused=(
                 (cand(9), decision(Verdict.REFUSED, problems=(Problem("J", "jump"),))),)),
             enactors={"e1": {"lastError": "old", "lastErrorTime": stale},
                       "e2": {"lastError": "new", "lastErrorTime": fresh},
                       "e3": {"generation": 3}})
    assert status.degraded(r, NOW, 120.0) == [
        "plan z-1 refused: bad", "plan z-9 refused: jump",
        "1 endpoint(s) of plan z-3 not written: f",
        "2 endpoint(s) in DNS not in the newest plan (left alone): x, y",
        "enactor e2: new"]
    s = status.zone_status(r, NOW, 120.0)
    assert s.refused_endpoints == 1 and s.fields["endpoints"]["orphaned"] == 2
    assert by_type(s.conditions)["Ready"].reason == "Degraded"


def test_the_degraded_message_is_bounded() -> None:
    many = [cand(g, Problem("BadName", "x" * 100)) for g in range(1, 60)]
    got = by_type(status.zone_status(read(cands=many), NOW, 120.0).conditions)
    assert len(got["Degraded"].message) == status.DEGRADED_MAX


def test_a_held_plan_stops_ready_with_its_own_reason() -> None:
    held = Problem("Held", "approve it")
    s = status.zone_status(read(choice=Choice(cand(3), decision(Verdict.HELD, problems=(held,)))),
                           NOW, 120.0)
    assert s.held and by_type(s.conditions)["Ready"] == Condition("Ready", False, "Held",
                                                                  "approve it")


def test_a_blocked_zone_says_why_before_anything_degraded() -> None:
    claimed = Problem("ZoneClaimed", "another owner")
    got = by_type(status.zone_status(read(blocked=claimed, cands=[cand(1, Problem("B", "b"))]),
                                     NOW, 120.0).conditions)
    assert got["Ready"] == Condition("Ready", False, "ZoneClaimed", "another owner")


STOP = Problem("ZoneClaimed", "c")


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_ready_reason_is_the_first_thing_in_the_way(paused: bool, unreadable: bool, stop: bool,
                                                    problems: bool, converged: bool) -> None:
    got = status.ready(paused, status.Unreadable("timeout", "t") if unreadable else None,
                       converged, "why", "p" if problems else "", STOP if stop else None)
    order = [(paused, "Paused"), (unreadable, "DNSUnreadable"), (stop, "ZoneClaimed"),
             (problems, "Degraded"), (not converged, "NotConverged")]
    first = next((reason for cond, reason in order if cond), "Converged")
    assert got.reason == first
    assert got.status is (first == "Converged")


def test_paused_zone() -> None:
    got = by_type(status.zone_status(read(paused=True), NOW, 120.0).conditions)
    assert got["Paused"] == Condition("Paused", True, "Paused",
                                      "spec.paused is true: no writes to this zone")
    assert got["Ready"].reason == "Paused"
