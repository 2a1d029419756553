"""The protocol checker and the incident replay: planguard's protocol holds every invariant
in every interleaving of small cases; the same checker finds the post-mortem's failure in
the naive protocol (so the checker can fail)."""

from dataclasses import replace

from planguard.sim.explore import Config, explore, initial, random_schedules
from planguard.sim.invariants import state_violations
from planguard.sim.protocols import PROTOCOLS
from planguard.sim.replay import replay


def test_every_interleaving_of_a_small_case_is_safe_for_planguard():
    res = explore(PROTOCOLS["planguard"], Config(enactors=2, generations=4, endpoints=2))
    assert res.violation is None
    assert res.states > 5000  # the space really was explored


def test_weighted_records_are_one_more_opaque_value_in_the_same_compare_and_swap():
    """On PowerDNS the endpoint's records are LUA records with weights: every interleaving
    of the same case, same verdict, same state space (the payload cannot change who wins)."""
    cfg = Config(enactors=2, generations=4, endpoints=2, small_changes=True)
    plain, weighted = explore(PROTOCOLS["planguard"], cfg), explore(
        PROTOCOLS["planguard-weighted"], cfg)
    assert weighted.violation is None
    assert (weighted.states, weighted.transitions) == (plain.states, plain.transitions)
    proto, w = PROTOCOLS["planguard-weighted"], initial(cfg)
    w, _ = proto.read(replace(w, published=1), "A")
    while w.enactor("A").pending:
        w, _ = proto.send(w, "A")
    st = w.dns.endpoint("api")
    assert st.lua and not st.a and not st.aaaa  # it really wrote weighted records
    # The invariant sees them: with plan 1 gone, nothing explains what "api" serves.
    assert state_violations(replace(w, deleted=frozenset({1})))


def test_the_same_checker_finds_the_naive_protocols_race():
    res = explore(PROTOCOLS["naive"], Config(enactors=2, generations=4, endpoints=2))
    assert res.violation and "went back" in res.violation
    assert res.trace and [a for a, _ in res.trace][-2:] == ["B.send", "A.send"]


def test_small_changes_clean_up_deletes_plans_whose_markers_remain_and_stays_safe():
    cfg = Config(enactors=2, generations=4, endpoints=2, small_changes=True)
    res = explore(PROTOCOLS["planguard"], cfg)
    assert res.violation is None and res.states > 5000
    # The rule is exercised: plan 1 goes while "ipv6" still carries its marker (plan 2
    # asks for the same address), and that state is judged safe.
    proto, w = PROTOCOLS["planguard"], initial(cfg)
    for g in (1, 2):
        w, _ = proto.read(replace(w, published=g), "A")
        while w.enactor("A").pending:
            w, _ = proto.send(w, "A")
    assert w.dns.endpoint("ipv6").generation == 1 and w.dns.endpoint("api").generation == 2
    w, msg = proto.cleanup(w, "A", 1)
    assert w.deleted == {1}, msg
    assert state_violations(w) == []
    # The invariant can fail: plan 2 gone too leaves "ipv6" explained by nothing.
    assert state_violations(replace(w, deleted=frozenset({1, 2})))


def test_random_schedules_of_a_larger_case():
    res = random_schedules(PROTOCOLS["planguard"], Config(4, 6, 3), schedules=60, steps=120,
                           seed=11)
    assert res.violation is None and res.states == 60
    naive = random_schedules(PROTOCOLS["naive"], Config(4, 6, 3), schedules=60, steps=120,
                             seed=11)
    assert naive.violation is not None


def test_replay_of_the_incident_ends_empty_and_stuck_for_naive_and_converged_for_planguard():
    text, (naive, planguard) = replay("dynamodb-2025-10-19")
    assert naive.empty_at == "23:48:01"
    assert any("cannot bring DNS to plan 6" in v for v in naive.violations)
    assert any("went back from 5 to 2" in v for v in naive.violations)
    assert planguard.safe and planguard.final.startswith("converged")
    assert "plan 6" in planguard.final
    assert "NXRRSET" in text


def test_delta_plans_every_interleaving_safe_and_a_clean_up_blind_to_bases_is_caught():
    """Plans 2 and 3 are deltas on plan 1, plan 4 is full: clean-up (keep 1) must keep
    plan 1 while a kept delta names it. The same clean-up without that rule is found."""
    from planguard.sim.protocols import Planguard

    cfg = Config(enactors=2, generations=4, endpoints=2, small_changes=True, deltas=3)
    w = initial(cfg)
    assert [w.plans[g].base for g in (1, 2, 3, 4)] == [None, 1, 1, None]
    res = explore(PROTOCOLS["planguard"], cfg)
    assert res.violation is None and res.states > 2000

    class BlindToBases(Planguard):
        name = "planguard-blind-to-bases"

        def cleanup(self, w, who, keep):
            plans = {g: replace(p, base=None) for g, p in w.plans.items()}
            w2, msg = super().cleanup(replace(w, plans=plans), who, keep)
            return replace(w2, plans=w.plans), msg

    bad = explore(BlindToBases(), cfg)
    assert bad.violation and "base plan was deleted" in bad.violation, bad.violation
