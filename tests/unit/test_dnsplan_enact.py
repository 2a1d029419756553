"""The enactor's decision and the in-memory CAS: pure, no I/O."""

from planguard.core.dnsplan.enact import Verdict, batches, decide, update_steps
from planguard.core.dnsplan.markers import fence_text, generation_of, marker_text
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target
from planguard.sim.memoryzone import MemoryZone


def plan(g: int, **eps: tuple[str, ...]) -> Plan:
    return Plan(f"z-{g}", "z", g, tuple(
        Endpoint(n, 60, tuple(Target(a) for a in addrs)) for n, addrs in eps.items()
    ))


def apply(zone: MemoryZone, p: Plan, writer: str = "a") -> bool:
    d = decide(p, zone.snapshot(), writer)
    if d.verdict is Verdict.SUPERSEDED:
        return False
    for step in update_steps(d, 10):
        assert zone.write(step.writes, step.fence_expect, step.fence_new)
    return True


def test_first_plan_creates_records_marker_and_fence():
    z = MemoryZone()
    d = decide(plan(1, api=("10.0.0.1", "2001:db8::1")), z.snapshot(), "a")
    assert d.verdict is Verdict.APPLY
    assert d.fence_expect is None and d.fence_new == fence_text(1, "a")
    assert [w.kind for w in d.writes] == ["create"]
    assert d.writes[0].a == {"10.0.0.1"} and d.writes[0].aaaa == {"2001:db8::1"}
    assert apply(z, plan(1, api=("10.0.0.1",)))
    assert z.endpoints["api"].generation == 1 and z.fence == fence_text(1, "a")


def test_only_changed_endpoints_are_written():
    z = MemoryZone()
    apply(z, plan(1, api=("10.0.0.1",), web=("10.0.1.1",)))
    d = decide(plan(2, api=("10.0.0.2",), web=("10.0.1.1",)), z.snapshot(), "b")
    assert [w.name for w in d.writes] == ["api"] and d.unchanged == 1


def test_older_plan_is_superseded_and_writes_nothing():
    z = MemoryZone()
    apply(z, plan(5, api=("10.0.0.5",)))
    d = decide(plan(3, api=("10.0.0.3",)), z.snapshot(), "a")
    assert d.verdict is Verdict.SUPERSEDED and not d.writes


def test_stale_read_is_refused_by_the_fence():
    """The post-mortem's race: a decision made on an old snapshot can never be written."""
    z = MemoryZone()
    apply(z, plan(1, api=("10.0.0.1",)))
    slow = decide(plan(2, api=("10.0.0.2",)), z.snapshot(), "slow")  # reads, then stalls
    apply(z, plan(3, api=("10.0.0.3",)), "fast")
    assert not z.write(slow.writes, slow.fence_expect, slow.fence_new)
    assert z.endpoints["api"].a == {"10.0.0.3"}
    assert decide(plan(2, api=("10.0.0.2",)), z.snapshot(), "slow").verdict is Verdict.SUPERSEDED


def test_hand_edit_behind_the_marker_is_repaired():
    z = MemoryZone()
    apply(z, plan(1, api=("10.0.0.1",)))
    z.blind_write("api", EndpointState("api", z.endpoints["api"].marker, 1, frozenset({"6.6.6.6"})))
    d = decide(plan(1, api=("10.0.0.1",)), z.snapshot(), "a")
    assert [w.kind for w in d.writes] == ["repair"] and d.fence_new is None
    assert apply(z, plan(1, api=("10.0.0.1",)))
    assert z.endpoints["api"].a == {"10.0.0.1"}


def test_endpoint_missing_from_plan_is_left_alone_and_reported():
    z = MemoryZone()
    apply(z, plan(1, api=("10.0.0.1",), old=("10.0.9.9",)))
    d = decide(plan(2, api=("10.0.0.2",)), z.snapshot(), "a")
    assert d.orphans == ("old",) and [w.name for w in d.writes] == ["api"]


def test_explicit_remove_empties_and_leaves_a_tombstone():
    z = MemoryZone()
    apply(z, plan(1, api=("10.0.0.1",), old=("10.0.9.9",)))
    p = Plan("z-2", "z", 2, (Endpoint("api", 60, (Target("10.0.0.1"),)),
                             Endpoint("old", 60, (), remove=True)))
    assert apply(z, p)
    assert z.endpoints["old"].empty and z.endpoints["old"].generation == 2
    assert decide(p, z.snapshot(), "a").writes == ()


def test_weight_zero_targets_are_not_published():
    e = Endpoint("api", 60, (Target("10.0.0.1", 0), Target("10.0.0.2", 5)))
    assert e.published == ({"10.0.0.2"}, frozenset())


def test_marker_text_round_trips_and_garbage_counts_as_oldest():
    assert generation_of(marker_text(42, "z-42", "a")) == 42
    assert generation_of(fence_text(7, "b")) == 7
    assert generation_of('"hand written"') == 0
    assert generation_of(None) is None


def test_batches_respect_the_record_budget():
    z = MemoryZone()
    p = plan(1, **{f"e{i}": ("10.0.0.1", "10.0.0.2") for i in range(50)})
    d = decide(p, z.snapshot(), "a")
    bs = batches(d.writes, 40)
    assert sum(len(b) for b in bs) == 50
    assert all(sum(w.record_count for w in b) <= 40 for b in bs)


def test_rotated_steps_cover_every_write_once_and_the_first_raises_the_fence():
    p = plan(1, **{f"e{i}": (f"10.0.0.{i}",) for i in range(10)})
    d = decide(p, MemoryZone().snapshot(), "a")
    for start in (0, 3, 9, 10, 123):
        steps = update_steps(d, 2 * d.writes[0].record_count, start=start)
        names = [w.name for s in steps for w in s.writes]
        assert sorted(names) == sorted(w.name for w in d.writes)
        assert names[0] == d.writes[start % 10].name
        assert steps[0].fence_new == fence_text(1, "a")
        assert all(s.fence_new is None and s.fence_expect == fence_text(1, "a")
                   for s in steps[1:])
        z = MemoryZone()
        for s in reversed(steps[1:]):  # delivered before the fence: refused, nothing written
            assert not z.write(s.writes, s.fence_expect, s.fence_new)
        for s in steps:
            assert z.write(s.writes, s.fence_expect, s.fence_new)
        assert z.snapshot().endpoint("e7").a == {"10.0.0.7"}
