"""The checker with users deleting plans (`planguard check --withdraw`): the enactor's real
round (core/dnsplan/enactment.decide_round) never decides to make a deleted plan live, the
race the README documents (an UPDATE decided before the deletion) stays harmless, and a
newer plan always applies."""

from dataclasses import replace

import pytest

from planguard.core.dnsplan import enactment
from planguard.sim.explore import Config, explore, initial, user_deletes
from planguard.sim.protocols import PROTOCOLS
from planguard.sim.replay import replay, run

PG = PROTOCOLS["planguard"]
SMALL = Config(enactors=2, generations=2, endpoints=1, crashes=False, withdraw=True)


@pytest.mark.parametrize("cfg", [
    SMALL,
    replace(SMALL, generations=3),
    replace(SMALL, endpoints=2),
    replace(SMALL, crashes=True, keep=0),
], ids=["2-plans", "3-plans", "2-endpoints", "crashes-keep-0"])
def test_every_interleaving_with_deletions_is_safe(cfg: Config) -> None:
    res = explore(PG, cfg)
    assert res.violation is None, (res.violation, res.trace)
    assert res.states > explore(PG, replace(cfg, withdraw=False)).states


def test_without_the_withdrawal_rule_an_enactor_makes_a_deleted_plan_live(monkeypatch) -> None:
    monkeypatch.setattr(enactment, "withdrawn", lambda objs: False)
    res = explore(PG, SMALL)
    assert res.violation is not None and "after a user deleted it" in res.violation
    assert [a for a, _ in res.trace or []][-1].endswith(".read")


def test_a_live_plan_is_held_by_the_finalizer_until_superseded() -> None:
    w = replace(initial(replace(SMALL, generations=2)), published=1)
    w, _ = PG.read(w, "A")
    w, _ = PG.send(w, "A")
    held = user_deletes(w, 1)
    assert 1 in held.held and not held.removable(1)
    assert user_deletes(w, 1, finalized=False).removable(1)  # before the finalizer was put
    w, said = PG.read(held, "B")
    assert "converged" in said  # the live plan is still served, not withdrawn


def test_the_replay_of_a_withdrawn_plan_converges_on_the_next_one() -> None:
    text, (naive, planguard) = replay("withdrawn-plan")
    assert planguard.safe and "plan 3" in planguard.final
    assert "read DNS: plan 2 withdrawn" in text
    assert not naive.safe  # the naive enactor cannot start once the live plan is gone


@pytest.mark.parametrize("step, error", [
    ({"at": "t1", "do": "user.delete"}, "`plan` must be a generation"),
    ({"at": "t1", "do": "user.delete", "plan": "2"}, "`plan` must be a generation"),
    ({"at": "t1", "do": "user.delete", "plan": -1}, "`plan` must be a generation"),
    ({"at": "t1", "do": "user.delete", "plan": True}, "`plan` must be a generation"),
    ({"at": "t1", "do": "user.frob", "plan": 1}, "user.delete"),
])
def test_a_careless_withdrawal_step_is_refused_with_why(step: dict, error: str) -> None:
    sc = {"name": "bad", "endpoints": ["api"], "generations": 2, "enactors": ["A"],
          "steps": [{"at": "t0", "do": "planner"}, step]}
    with pytest.raises(ValueError, match=error):
        run(sc, PG)


def test_deleting_a_plan_that_does_not_exist_changes_nothing() -> None:
    sc = {"name": "absent", "endpoints": ["api"], "generations": 2, "enactors": ["A"],
          "steps": [{"at": "t0", "do": "planner"}, {"at": "t1", "do": "user.delete", "plan": 2},
                    {"at": "t2", "do": "A.apply"}]}
    out = run(sc, PG)
    assert any("plan 2 does not exist" in line for line in out.lines)
    assert out.safe and "plan 1" in out.final
