"""The model checker with the authoring rules in force (issue 28): a second DNSZone for the
same DNS zone, hostile generations, a legacy frozen fence; every interleaving keeps the
zone's claim, a fence only of plans meant, and the team's newest plan applicable. Each
rule broken on purpose is found, so none of these checks is one that cannot fail."""

from dataclasses import replace

import pytest

from planguard.core.dnsplan import authoring
from planguard.sim import explore as explore_module
from planguard.sim.explore import HOSTILE, LEGACY, RIVAL, TYPO, Config, explore, initial
from planguard.sim.invariants import newest_applies, state_violations
from planguard.sim.protocols import PROTOCOLS
from planguard.sim.world import TEAM, World

PG = PROTOCOLS["planguard"]
# The team's zone is live (plan 1 applied); two team enactors, plans 2, TYPO, 3 created
# over time; the rival's enactor with plan 5 and HOSTILE (annotated as a deliberate jump).
LIVE = Config(enactors=2, generations=3, endpoints=2, claimants=2, hostile=True, typo=True,
              start="claimed")
# Nobody has claimed the zone yet: the team and the rival race for it.
RACE = Config(enactors=2, generations=2, endpoints=2, claimants=2, hostile=True)
# A fence at 2^63-1 written before any rules; the team's DNSZone re-bases exactly it.
FROZEN = Config(enactors=2, generations=2, endpoints=2, claimants=2, hostile=True,
                start="legacy")


def run(w: World, *actions: str) -> tuple[World, list[str]]:
    """Plays `actions` ("planner", "X.planner", "A.read", "A.send", "A.apply")."""
    msgs = []
    for a in actions:
        if a == "planner":
            w = replace(w, published=w.published + 1)
        elif a == "X.planner":
            w = replace(w, rival_published=w.rival_published + 1)
        else:
            who, verb = a.split(".")
            if verb in ("read", "apply"):
                w, m = PG.read(w, who)
                msgs.append(m)
            while verb in ("send", "apply") and w.enactor(who).pending:
                w, m = PG.send(w, who)
                msgs.append(m)
                if verb == "send":
                    break
    return w, msgs


def test_the_simulated_enactors_write_their_owners_claim_and_digest():
    w, _ = run(initial(Config(enactors=1, generations=2)), "planner", "A.apply")
    assert authoring.owner_of(w.dns.fence) == TEAM
    assert authoring.digest_of(w.dns.fence) == w.plans[1].digest


def test_a_rival_and_hostile_generations_on_a_live_zone_every_interleaving():
    res = explore(PG, LIVE)
    assert res.violation is None, res.violation
    assert res.states > 5000
    # The rules really stand in the way: the rival's hostile plan (a deliberate jump, so
    # only the claim stops it) and the team's typo (only the generation bound stops it).
    _, msgs = run(initial(LIVE), "X.planner", "X.planner", "X.read", "planner", "planner",
                  "A.read")
    assert f"plan {HOSTILE} refused (ZoneClaimed" in msgs[0]
    assert f"plan {TYPO} refused (GenerationJump)" in msgs[1]
    assert "decided plan 2" in msgs[1]


def test_the_race_for_an_empty_zone_goes_to_the_first_writer_and_only_to_it():
    res = explore(PG, RACE)
    assert res.violation is None, res.violation
    assert res.states > 3000
    # The rival writes first, with its hostile generation: the zone is its (first claim
    # wins); the team's enactors write nothing, and the documented hand-over (adopt-from
    # plus a re-base of that fence) brings the team's newest plan back.
    w, msgs = run(initial(RACE), "planner", "X.planner", "X.planner", "X.apply", "A.read")
    assert authoring.owner_of(w.dns.fence) == RIVAL
    assert w.dns.snapshot().fence_generation == HOSTILE
    assert "refused (ZoneClaimed" in msgs[-1]
    assert newest_applies(w, PG) is None


def test_a_legacy_frozen_fence_is_rebased_and_the_newest_plan_applies():
    res = explore(PG, FROZEN)
    assert res.violation is None, res.violation
    assert res.states > 3000
    w, msgs = run(initial(FROZEN), "X.planner", "X.planner", "X.read", "planner", "A.apply")
    assert "superseded" in msgs[0]  # the rival cannot lower a fence it does not name
    assert w.dns.snapshot().fence_generation == 1 and authoring.owner_of(w.dns.fence) == TEAM
    assert {st.generation for st in w.dns.endpoints} == {1}  # markers at 2^63-1 overwritten
    assert state_violations(w) == []


# -- each rule broken on purpose is found -------------------------------------------------
def _never(*args: object, **kwargs: object) -> None:
    return None


@pytest.mark.parametrize("cfg", [LIVE, RACE], ids=["live", "race"])
def test_without_the_claim_rule_the_rival_writes_a_claimed_zone(monkeypatch, cfg):
    monkeypatch.setattr(authoring, "claim_problem", _never)
    res = explore(PG, cfg)
    assert res.violation and f"x (acting for {RIVAL}) wrote" in res.violation
    assert f"of a zone claimed by {TEAM}" in res.violation
    assert res.trace and res.trace[-1][0] == "X.send"


def test_without_the_generation_bound_the_typo_freezes_the_zone(monkeypatch):
    monkeypatch.setattr(authoring, "generation_problem", _never)
    res = explore(PG, LIVE)
    assert res.violation and "a lone enactor cannot bring DNS to plan 2" in res.violation
    # The fence check finds it on its own too, once the typo is written.
    monkeypatch.setattr(explore_module, "newest_applies", _never)
    res = explore(PG, LIVE)
    assert res.violation and f"the fence names {TEAM} at generation {TYPO}: a typo" in \
        res.violation


def test_without_the_rebase_the_frozen_fence_stops_every_plan(monkeypatch):
    monkeypatch.setattr(authoring, "rebases", lambda *a: False)
    res = explore(PG, FROZEN)
    assert res.violation and "a lone enactor cannot bring DNS to plan 1" in res.violation


def test_a_rebase_of_any_higher_fence_lets_the_rival_lower_it(monkeypatch):
    """The re-base must name the exact fence: one that lowers any fence above the plan
    hands the frozen zone to whoever writes first."""
    monkeypatch.setattr(authoring, "rebases", lambda plan, state, auth: (
        state.fence_generation is not None and state.fence_generation > plan.generation))
    res = explore(PG, FROZEN)
    assert res.violation and f"the fence went back from {LEGACY} to 5 without a re-base" \
        in res.violation


@pytest.mark.parametrize("start", ["empty", "legacy"])
def test_a_typo_as_the_first_write_or_in_a_rebase(start):
    """Found by this checker: a jump bounded only against a fence below the plan let a
    typo be a zone's first write, or the generation a re-base lowers the fence to. The
    bound is now from the newest older accepted plan too (authoring.floor_of)."""
    res = explore(PG, Config(enactors=1, generations=3, endpoints=2, typo=True, start=start))
    assert res.violation is None, res.violation


@pytest.mark.parametrize("start", ["empty", "legacy"])
def test_the_typo_bound_against_older_plans_is_what_holds(monkeypatch, start):
    # The rule as it was: bounded against a fence below the plan only, else not at all.
    monkeypatch.setattr(authoring, "floor_of", lambda g, fence, older=0: (
        fence if fence is not None and fence <= g else g))
    res = explore(PG, Config(enactors=1, generations=3, endpoints=2, typo=True, start=start))
    assert res.violation and "cannot bring DNS to plan" in res.violation


def test_the_race_for_an_empty_zone_with_a_typo_and_the_teams_clean_up():
    """Found by this checker: when the other owner won the empty zone, the team's clean-up
    read the other owner's fence as its own and deleted the team's newest plan. A zone
    claimed by another owner deletes nothing (roles/cleanup, sim/protocols)."""
    race = replace(RACE, typo=True)
    res = explore(PG, race)
    assert res.violation is None, res.violation


def test_a_clean_up_that_ignores_the_claim_deletes_the_newest_plan(monkeypatch):
    calls = {"n": 0}
    real = authoring.claim_problem

    def only_for_enactors(state, auth):  # the clean-up's check (the 2nd caller) forgets it
        import inspect
        if inspect.stack()[1].function == "cleanup":
            calls["n"] += 1
            return None
        return real(state, auth)
    monkeypatch.setattr(authoring, "claim_problem", only_for_enactors)
    res = explore(PG, replace(RACE, typo=True))
    assert calls["n"] and res.violation and "was deleted" in res.violation
