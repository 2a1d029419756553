"""Random interleavings of several enactors over the in-memory CAS server.

Each enactor reads, decides, then sends its batches one scheduler step at a time, so a
read can go arbitrarily stale before the writes (the post-mortem's delay). Invariants are
checked after every step.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from planguard.core.dnsplan.enact import Verdict, decide, update_steps
from planguard.core.dnsplan.model import Endpoint, Plan, Target
from planguard.sim.memoryzone import MemoryZone

NAMES = ("api", "ipv6", "fips", "acct")


@st.composite
def plans(draw: st.DrawFn) -> list[Plan]:
    out = []
    for g in range(1, draw(st.integers(2, 6)) + 1):
        eps = []
        for n in draw(st.sets(st.sampled_from(NAMES), min_size=1)):
            addrs = draw(st.sets(st.integers(1, 6), min_size=1, max_size=3))
            eps.append(Endpoint(n, 60, tuple(Target(f"10.0.0.{a}") for a in sorted(addrs))))
        out.append(Plan(f"z-{g}", "z", g, tuple(eps)))
    return out


@settings(max_examples=300, deadline=None)
@given(ps=plans(), data=st.data())
def test_generations_never_regress_and_nothing_is_ever_empty(ps, data):
    zone = MemoryZone()
    published = 1
    enactors: dict[str, list] = {e: [] for e in "abc"}  # UPDATEs decided, not yet sent
    seen_fence = 0
    seen_marker: dict[str, int] = {}
    for _ in range(data.draw(st.integers(5, 60))):
        who = data.draw(st.sampled_from(["planner", *enactors]))
        if who == "planner":
            published = min(len(ps), published + 1)
        elif not enactors[who]:
            plan = ps[published - 1]  # newest plan this enactor knows
            enactors[who] = update_steps(decide(plan, zone.snapshot(), who), 3)
        else:
            step = enactors[who].pop(0)
            if not zone.write(step.writes, step.fence_expect, step.fence_new):
                enactors[who] = []  # conflict: forget the stale decision, re-read next time
        snap = zone.snapshot()
        assert (snap.fence_generation or 0) >= seen_fence
        seen_fence = snap.fence_generation or 0
        for name, e in snap.endpoints.items():
            assert not e.empty, f"{name} served no address"
            assert (e.generation or 0) >= seen_marker.get(name, 0)
            seen_marker[name] = e.generation or 0
    # Whatever happened, the newest plan can still be applied by any one enactor.
    newest = ps[-1]
    for _ in range(3):
        d = decide(newest, zone.snapshot(), "z")
        assert d.verdict is Verdict.APPLY
        for step in update_steps(d, 3):
            assert zone.write(step.writes, step.fence_expect, step.fence_new)
    final = decide(newest, zone.snapshot(), "z")
    assert not final.writes and final.fence_new is None
