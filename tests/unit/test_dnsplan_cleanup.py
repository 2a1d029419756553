"""Clean-up selection: never a plan DNS may depend on, whatever the inputs."""

from hypothesis import given
from hypothesis import strategies as st

from planguard.core.dnsplan.cleanup import (
    Finalizer,
    PlanRef,
    finalizer_action,
    pending,
    protected,
    select_deletions,
    settle_wait,
    status_deferred,
)


def refs(*gens: int) -> list[PlanRef]:
    return [PlanRef(f"z-{g}", g) for g in gens]


def test_keeps_newest_n_and_live_ones():
    out = select_deletions(refs(1, 2, 3, 4, 5, 6), live={2, 6}, fence=6, keep=2)
    assert [p.generation for p in out] == [4, 3, 1]


def test_nothing_is_deleted_without_a_fence():
    assert select_deletions(refs(1, 2, 3), live=set(), fence=None, keep=1) == []


def test_plans_newer_than_the_fence_are_kept():
    out = select_deletions(refs(1, 2, 3, 9), live={2}, fence=2, keep=1)
    assert [p.generation for p in out] == [1]


def test_the_finalizer_is_held_on_what_dns_depends_on_and_left_alone_on_pending_plans():
    assert finalizer_action(PlanRef("z-3", 3), set(), 3) is Finalizer.HOLD  # fenced
    assert finalizer_action(PlanRef("z-2", 2), {2}, 3) is Finalizer.HOLD  # live
    assert finalizer_action(PlanRef("z-1", 1), {2}, 3) is Finalizer.RELEASE  # superseded
    # Newer than the fence: deleting it changes no DNS, and an enactor may be applying it
    # right now (clean-up decides from its earlier read), so it is neither added nor removed.
    assert finalizer_action(PlanRef("z-9", 9), set(), 3) is Finalizer.LEAVE
    assert finalizer_action(PlanRef("z-9", 9), set(), None) is Finalizer.LEAVE


def test_the_finalizer_waits_a_cycle_so_its_writes_follow_cycles_not_plans():
    young, old = {"age": 1.0, "cycle": 5.0}, {"age": 6.0, "cycle": 5.0}
    assert finalizer_action(PlanRef("z-3", 3), set(), 3, **young) is Finalizer.LEAVE
    assert finalizer_action(PlanRef("z-3", 3), set(), 3, **old) is Finalizer.HOLD
    assert finalizer_action(PlanRef("z-2", 2), {2}, 3, **young) is Finalizer.LEAVE
    # A base is held at once; a superseded plan is released whatever its age.
    assert finalizer_action(PlanRef("z-1", 1), set(), 3, {1}, **young) is Finalizer.HOLD
    assert finalizer_action(PlanRef("z-1", 1), set(), 3, **young) is Finalizer.RELEASE


def test_refused_plans_carry_no_finalizer():
    assert finalizer_action(PlanRef("z-9", 9, refused=True), set(), 3) is Finalizer.RELEASE
    assert finalizer_action(PlanRef("z-3", 3, refused=True), set(), 3) is Finalizer.RELEASE


@given(g=st.integers(1, 20), live=st.sets(st.integers(1, 20), max_size=4),
       fence=st.one_of(st.none(), st.integers(1, 20)), age=st.floats(-1, 20))
def test_the_finalizer_is_never_released_from_a_plan_dns_may_depend_on(g, live, fence, age):
    action = finalizer_action(PlanRef(f"z-{g}", g), live, fence, age=age, cycle=5.0)
    assert (action is Finalizer.RELEASE) == (not protected(g, live, fence))


def test_a_pending_plan_gets_its_status_after_a_cycle_and_a_live_one_at_once():
    assert status_deferred(5, set(), 4, age=1.0, cycle=5.0)
    assert status_deferred(5, set(), None, age=1.0, cycle=5.0)
    assert not status_deferred(5, set(), 4, age=6.0, cycle=5.0)  # still pending: say so
    assert not status_deferred(4, set(), 4, age=1.0, cycle=5.0)  # fenced: Live now
    assert not status_deferred(3, {3}, 4, age=1.0, cycle=5.0)  # live on an endpoint
    assert not status_deferred(2, set(), 4, age=1.0, cycle=5.0)  # superseded: say so
    assert not status_deferred(5, set(), 4, age=-1.0, cycle=5.0)  # clock unknown or skewed


def test_no_plan_gets_a_status_before_it_settles_whatever_its_phase():
    for g, live in ((5, set()), (4, set()), (3, {3}), (2, set())):  # pending/fenced/live/old
        assert status_deferred(g, live, 4, age=1.0, cycle=5.0, settle=2.0)
    assert not status_deferred(4, set(), 4, age=2.5, cycle=5.0, settle=2.0)  # Live now
    assert not status_deferred(2, set(), 4, age=2.5, cycle=5.0, settle=2.0)  # Superseded now
    assert status_deferred(5, set(), 4, age=2.5, cycle=5.0, settle=2.0)  # pending: a cycle
    assert not status_deferred(4, set(), 4, age=-1.0, cycle=5.0, settle=2.0)  # age unknown


def test_a_settling_plan_is_looked_at_again_when_it_has_settled():
    assert settle_wait(0.5, 2.0) == 1.5
    assert settle_wait(1.99, 2.0) == 0.05  # never a busy loop
    assert settle_wait(2.0, 2.0) is None
    assert settle_wait(-1.0, 2.0) is None  # unknown age: nothing deferred, nothing to wait for


@given(
    gens=st.sets(st.integers(1, 40), min_size=1, max_size=20),
    live=st.sets(st.integers(1, 40), max_size=6),
    fence=st.one_of(st.none(), st.integers(1, 40)),
    keep=st.integers(0, 10),
)
def test_never_deletes_a_live_plan_the_fenced_one_or_anything_newer(gens, live, fence, keep):
    deleted = {p.generation for p in select_deletions(refs(*gens), live, fence, keep)}
    assert not deleted & live
    if fence is not None:
        assert all(g < fence for g in deleted)
    else:
        assert not deleted
    assert len(gens) - len(deleted) >= min(len(gens), max(keep, 1))


# -- which generations DNS depends on ---------------------------------------------------
from planguard.core.dnsplan.cleanup import depended_on  # noqa: E402
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target, ZoneState  # noqa: E402


def _plan(g: int, **names: str) -> Plan:
    return Plan(f"z-{g}", "z", g, tuple(
        Endpoint(n, 60, (Target(a),)) for n, a in sorted(names.items())))


def _dns(fence: int, **names: tuple[int, str]) -> ZoneState:
    return ZoneState(fence=f"g{fence}", fence_generation=fence, endpoints={
        n: EndpointState(n, marker=f"m{g}", generation=g, a=frozenset({a}), ttl=60)
        for n, (g, a) in names.items()})


def test_a_small_change_leaves_older_markers_but_the_fenced_plan_explains_them():
    p1 = _plan(1, a="192.0.2.1", b="192.0.2.2", c="192.0.2.3")
    p2 = _plan(2, a="192.0.2.9", b="192.0.2.2", c="192.0.2.3")
    dns = _dns(2, a=(2, "192.0.2.9"), b=(1, "192.0.2.2"), c=(1, "192.0.2.3"))
    assert dns.live_generations == {1, 2}
    assert depended_on(dns, [p1, p2]) == {2}
    assert select_deletions(refs(1, 2), depended_on(dns, [p1, p2]), 2, keep=1) == refs(1)


def test_an_endpoint_the_fenced_plan_does_not_reproduce_keeps_its_own_plan():
    p1 = _plan(1, a="192.0.2.1", b="192.0.2.2")
    p3 = _plan(3, a="192.0.2.1", b="192.0.2.7")  # b not yet written (an enactor froze)
    dns = _dns(3, a=(1, "192.0.2.1"), b=(1, "192.0.2.2"))
    assert depended_on(dns, [p1, p3]) == {1, 3}


def test_the_newest_reproducing_plan_at_or_below_the_fence_is_chosen():
    p1 = _plan(1, a="192.0.2.1")
    p2 = _plan(2, a="192.0.2.1")
    p4 = _plan(4, a="192.0.2.1")  # above the fence: may never be applied
    dns = _dns(3, a=(1, "192.0.2.1"))
    assert depended_on(dns, [p1, p2, p4]) == {2}


def test_a_plan_older_than_the_marker_explains_nothing():
    p1 = _plan(1, a="192.0.2.1")  # same records, but the marker says plan 2 wrote them
    dns = _dns(2, a=(2, "192.0.2.1"))
    assert depended_on(dns, [p1]) == {2}


def test_an_endpoint_no_plan_mentions_keeps_its_marker_generation():
    dns = _dns(5, old=(2, "192.0.2.1"))
    assert depended_on(dns, [_plan(5, a="192.0.2.1")]) == {2}


ADDRS = ("192.0.2.1", "192.0.2.2", "192.0.2.3")


@given(
    contents=st.lists(st.dictionaries(st.sampled_from("abcd"), st.sampled_from(ADDRS),
                                      min_size=1), min_size=1, max_size=8),
    written=st.dictionaries(st.sampled_from("abcd"), st.integers(0, 7)),
    fence_at=st.integers(0, 7),
    existing=st.sets(st.integers(0, 7)),
)
def test_every_record_stays_explained_by_a_plan_that_is_kept(contents, written, fence_at,
                                                              existing):
    plans = [_plan(i + 1, **c) for i, c in enumerate(contents)]
    fence = min(fence_at, len(plans) - 1) + 1
    # Each endpoint was last written by some plan at or below the fence that mentions it.
    names = {}
    for n, i in written.items():
        writers = [p for p in plans[:fence] if p.endpoint(n)]
        if writers:
            w = writers[min(i, len(writers) - 1)]
            names[n] = (w.generation, w.endpoint(n).targets[0].address)
    dns = _dns(fence, **names)
    kept = [p for p in plans if p.generation - 1 in existing or p.generation == fence]
    need = depended_on(dns, kept)
    assert need <= {p.generation for p in kept} | dns.live_generations
    by_gen = {p.generation: p for p in kept}
    for n, (g, addr) in names.items():
        explaining = [h for h in need if g <= h <= fence and h in by_gen
                      and by_gen[h].endpoint(n) is not None
                      and by_gen[h].endpoint(n).targets[0].address == addr]
        assert explaining or g in need, (n, g, need)
    # Deleting what is not needed changes nothing: the next cycle decides the same.
    assert depended_on(dns, [p for p in kept if p.generation in need]) == need


# -- delta plans keep their base ---------------------------------------------------------
from planguard.core.dnsplan.cleanup import bases_in_dns  # noqa: E402


def test_the_base_of_a_kept_delta_is_kept_and_holds_the_finalizer():
    plans = [PlanRef("z-1", 1), PlanRef("z-2", 2, base=1), PlanRef("z-3", 3, base=1),
             PlanRef("z-4", 4), PlanRef("z-5", 5, base=4)]
    assert [p.generation for p in select_deletions(plans, {3}, 3, keep=1)] == [2]
    # With plan 4 fenced and 3 no longer needed, 1 goes with its deltas.
    assert [p.generation for p in select_deletions(plans, {5}, 5, keep=1)] == [3, 2, 1]
    bases = bases_in_dns(plans, {3}, 3)
    assert bases == {1}  # 5 is newer than the fence: its base is kept, not finalized yet
    assert finalizer_action(PlanRef("z-1", 1), {3}, 3, bases) is Finalizer.HOLD
    assert finalizer_action(PlanRef("z-1", 1), {3}, 3) is Finalizer.RELEASE


@given(
    gens=st.lists(st.tuples(st.integers(1, 30), st.one_of(st.none(), st.integers(1, 30))),
                  min_size=1, max_size=15, unique_by=lambda t: t[0]),
    live=st.sets(st.integers(1, 30), max_size=4),
    fence=st.integers(1, 30),
    keep=st.integers(0, 6),
)
def test_no_kept_plan_ever_loses_its_base(gens, live, fence, keep):
    plans = [PlanRef(f"z-{g}", g, base=b if b is not None and b < g else None)
             for g, b in gens]
    gone = {p.generation for p in select_deletions(plans, live, fence, keep)}
    for p in plans:
        if p.generation not in gone and p.base is not None:
            assert p.base not in gone


def test_in_a_stream_a_plans_status_waits_for_a_pause_at_most_hold():
    kw = {"cycle": 5.0, "settle": 2.0, "hold": 30.0}
    # Superseded 4 s after its creation while newer plans keep arriving: not yet.
    assert status_deferred(2, set(), 9, age=4.0, stream_age=0.5, **kw)
    assert status_deferred(9, set(), 9, age=4.0, stream_age=0.5, **kw)  # live, too
    # The stream paused for `settle`: every phase is written.
    assert not status_deferred(2, set(), 9, age=4.0, stream_age=2.0, **kw)
    assert not status_deferred(9, set(), 9, age=4.0, stream_age=2.5, **kw)
    # An endless stream: written once the plan is `hold` old.
    assert not status_deferred(2, set(), 9, age=30.0, stream_age=0.1, **kw)
    # Unknown ages defer nothing.
    assert not status_deferred(2, set(), 9, age=4.0, stream_age=-1.0, **kw)
    assert not status_deferred(2, set(), 9, age=-1.0, stream_age=0.5, **kw)
    # A hold below settle is settle: a plan alone is written as before.
    assert status_deferred(2, set(), 9, age=1.0, stream_age=1.0, cycle=5.0, settle=2.0, hold=0)
    assert not status_deferred(2, set(), 9, age=2.0, stream_age=2.0, cycle=5.0, settle=2.0)


@given(g=st.integers(1, 20), live=st.sets(st.integers(1, 20), max_size=4),
       fence=st.one_of(st.none(), st.integers(1, 20)), age=st.floats(-1, 100),
       stream_age=st.floats(-1, 100), settle=st.floats(0, 10), hold=st.floats(0, 60))
def test_no_status_is_deferred_past_the_longest_wait(g, live, fence, age, stream_age,
                                                      settle, hold):
    if status_deferred(g, live, fence, age, 5.0, settle, stream_age, hold):
        assert 0 <= age < max(5.0, settle, hold)
        wait = settle_wait(age, settle, stream_age, hold)
        # Nothing to wait for but a pending plan's cycle: the loop's own interval.
        assert wait is not None or pending(g, live, fence)
        assert wait is None or 0.05 <= wait <= max(settle, hold, 0.05)


def test_a_plan_in_a_stream_is_looked_at_again_when_the_stream_may_have_paused():
    assert settle_wait(4.0, 2.0, stream_age=0.5, hold=30.0) == 1.5  # the pause
    assert settle_wait(29.5, 2.0, stream_age=0.1, hold=30.0) == 0.5  # hold reached first
    assert settle_wait(1.0, 2.0, stream_age=1.0, hold=30.0) == 1.0  # the newest: as alone
    assert settle_wait(1.0, 2.0, stream_age=0.5, hold=30.0) == 1.5  # a newer one came
    assert settle_wait(4.0, 2.0, stream_age=3.0, hold=30.0) is None  # paused already


def test_a_dnszone_is_blocked_by_an_older_claimant_or_a_foreign_claim_in_dns():
    from planguard.core.dnsplan.cleanup import blocked
    from planguard.core.dnsplan.enact import Choice, Decision, Verdict
    from planguard.core.dnsplan.validate import Problem

    p = blocked("Example.Test.", ("ns", "older"), Choice(None, None))
    assert p is not None and p.reason == "ZoneClaimed" and "ns/older" in p.message
    claimed = Problem("ZoneClaimed", "another owner's claim")
    d = Decision(Verdict.REFUSED, 1, problems=(claimed,))
    assert blocked("example.test", None, Choice(None, d)) is claimed
    held = Decision(Verdict.HELD, 1, problems=(Problem("Held", "approve"),))
    assert blocked("example.test", None, Choice(None, held)) is None
    assert blocked("example.test", None, Choice(None, None)) is None


def test_deletions_only_when_dns_was_read_and_the_zone_may_act():
    from planguard.core.dnsplan.cleanup import deletions, ref
    from planguard.core.dnsplan.model import Plan, ZoneState
    from planguard.core.dnsplan.selection import Candidate

    cands = [Candidate(Plan(f"z-{g}", "z", g, (), base=1 if g == 4 else None), (), False, ())
             for g in (1, 2, 3, 4)]
    assert ref(cands[3]) == PlanRef("z-4", 4, False, False, 1)
    state = ZoneState(fence_generation=4)
    assert [c.plan.name for c in deletions(cands, state, {4}, 1, True)] == ["z-3", "z-2"]
    assert deletions(cands, state, {4}, 1, False) == []
    assert deletions(cands, None, {4}, 1, True) == []
