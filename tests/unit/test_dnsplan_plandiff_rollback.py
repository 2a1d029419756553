"""core/dnsplan/plandiff.py (what `planguard diff` compares) and core/dnsplan/rollback.py
(which plan `planguard rollback --to` may copy)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from planguard.core.dnsplan import plandiff, rollback, weights
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target, ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem

WWW = Endpoint("www", 60, (Target("10.0.0.2", 3), Target("10.0.0.1", 1), Target("::1", 0)))


def plan(g: int, *endpoints: Endpoint) -> Plan:
    return Plan(f"z-{g}", "z", g, endpoints)


def test_weights_count_on_powerdns_only() -> None:
    assert plandiff.weighted({"spec": {"server": {"kind": "powerdns"}}})
    assert not plandiff.weighted({"spec": {"server": {"kind": "bind"}}})
    assert not plandiff.weighted(None) and not plandiff.weighted({})


def test_a_plan_serves_its_addresses_or_its_weights() -> None:
    assert plandiff.of_plan(plan(1, WWW)) == {"www": ["10.0.0.1", "10.0.0.2"]}
    assert plandiff.of_plan(plan(1, WWW), True) == {"www": ["10.0.0.1=1", "10.0.0.2=3"]}


def test_dns_shows_what_planguard_manages_and_names_the_plan_asks_for() -> None:
    state = ZoneState(endpoints={
        "www": EndpointState("www", a=frozenset({"10.0.0.1"})),  # no marker, but in the plan
        "api": EndpointState("api", marker="g=1", generation=1, a=frozenset({"10.0.0.9"})),
        "mail": EndpointState("mail", a=frozenset({"10.0.0.5"}))})  # not planguard's
    left = plandiff.of_plan(plan(1, WWW))
    right = plandiff.of_dns(state, left, False)
    assert right == {"www": ["10.0.0.1"], "api": ["10.0.0.9"]}
    assert plandiff.changes(left, right, "z-1", "DNS") == [
        {"endpoint": "api", "z-1": None, "DNS": ["10.0.0.9"]},
        {"endpoint": "www", "z-1": ["10.0.0.1", "10.0.0.2"], "DNS": ["10.0.0.1"]}]


def test_weighted_dns_shows_foreign_lua_and_plain_records_as_such() -> None:
    ours = EndpointState("www", a=frozenset({"10.0.0.7"}),
                         lua=weights.records("pickwrandom", WWW))
    assert plandiff.of_endpoint(ours, True) == ["10.0.0.1=1", "10.0.0.2=3",
                                                "10.0.0.7 (plain, unweighted)"]
    foreign = EndpointState("www", lua=frozenset({b"\x01A\x05hello"}))
    assert plandiff.of_endpoint(foreign, True) == ["(LUA not written by planguard)"]


@given(st.dictionaries(st.sampled_from("abcd"), st.lists(st.sampled_from("xyz"), max_size=2)),
       st.dictionaries(st.sampled_from("abcd"), st.lists(st.sampled_from("xyz"), max_size=2)))
def test_changes_are_exactly_the_names_that_differ(left: dict[str, list[str]],
                                                    right: dict[str, list[str]]) -> None:
    got = plandiff.changes(left, right, "L", "R")
    assert [c["endpoint"] for c in got] == sorted(
        n for n in set(left) | set(right) if left.get(n) != right.get(n))
    assert plandiff.changes(left, left, "L", "R") == []


def cand(g: int, *problems: Problem, complete: bool = True) -> Candidate:
    return Candidate(plan(g, WWW), problems, False, (), complete)


def test_rollback_needs_a_complete_valid_plan_of_that_generation() -> None:
    good = cand(2)
    assert rollback.source([cand(1), good], "z", 2) is good
    assert rollback.source([good], "z", 5) == ("no plan of zone z has generation 5 (clean-up "
                                               "may have deleted it)")
    assert rollback.source([cand(3, Problem("BadName", "bad name"))], "z", 3) == \
        "plan z-3 cannot be rolled back to: bad name"
    waiting = cand(4, complete=False)
    assert rollback.source([waiting], "z", 4) == \
        f"plan z-4 cannot be rolled back to: {waiting.waiting}"
