"""The checker runs the enactor's own round (core/dnsplan/enactment): an enactor may decide
from its cached snapshot, however stale, and the compare-and-swap alone keeps it safe."""

from dataclasses import replace

from planguard.sim.explore import Config, explore, initial
from planguard.sim.protocols import PROTOCOLS
from planguard.sim.replay import run
from planguard.sim.world import World

PG = PROTOCOLS["planguard"]


def apply(w: World, who: str, reuse: bool = False) -> tuple[World, list[str]]:
    w, said = PG.reuse(w, who) if reuse else PG.read(w, who)
    msgs = [said]
    while w.enactor(who).pending:
        w, said = PG.send(w, who)
        msgs.append(said)
    return w, msgs


def test_a_stale_snapshot_is_refused_then_read_again() -> None:
    w = replace(initial(Config(enactors=2, generations=3, endpoints=2)), published=1)
    w, _ = apply(w, "A")
    cached = w.enactor("A").snapshot
    assert cached == w.dns  # the read plus its own writes
    w, _ = apply(replace(w, published=2), "B")  # B moves DNS on behind A's back
    w, msgs = apply(replace(w, published=3), "A", reuse=True)
    assert msgs[0].startswith("reused its snapshot, decided plan 3")
    assert any("refused (NXRRSET" in m for m in msgs)
    assert w.enactor("A").snapshot is None  # stale: the next round reads
    assert w.dns.snapshot().fence_generation == 2
    w, _ = apply(w, "A")
    assert w.dns.snapshot().fence_generation == 3


def test_reuse_adds_behaviours_and_every_one_is_safe() -> None:
    cfg = Config(enactors=2, generations=3, endpoints=2, crashes=False)
    without = explore(PG, replace(cfg, reuse=False))
    reused = explore(PG, cfg)
    assert without.violation is None and reused.violation is None
    assert reused.states > without.states


def test_enactors_write_a_plan_from_their_own_points() -> None:
    w = replace(initial(Config(enactors=2, generations=1, endpoints=2)), published=1)
    firsts = set()
    for who in ("A", "B"):
        w2, _ = PG.read(w, who)
        firsts.add(w2.enactor(who).pending[0].writes[0].name)  # type: ignore[attr-defined]
    assert firsts == {"api", "ipv6"}


def test_the_replay_tells_a_reused_snapshot_losing_the_race() -> None:
    sc = {"name": "stale", "endpoints": ["api"], "generations": 3, "enactors": ["A", "B"],
          "steps": [{"at": "t1", "do": "planner"}, {"at": "t2", "do": "A.apply"},
                    {"at": "t3", "do": "planner"}, {"at": "t4", "do": "B.apply"},
                    {"at": "t5", "do": "planner"}, {"at": "t6", "do": "A.reuse"},
                    {"at": "t7", "do": "A.send-all"}, {"at": "t8", "do": "A.apply"}]}
    out = run(sc, PG)
    text = "\n".join(out.lines)
    assert out.safe and "reused its snapshot, decided plan 3" in text
    assert "refused (NXRRSET" in text and out.final.endswith("(plan 3)")
