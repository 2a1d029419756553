"""The lease policy (core/nodelease/scheduler.py), driven by hand on a virtual clock: what is
renewed and established when, what outcomes change, which leases are live, which nodes are
tainted. The same object the lease manager and `planguard replay dwfm` run."""

from hypothesis import given, settings
from hypothesis import strategies as st

from planguard.core.nodelease.queue import AdmissionLimits, Kind
from planguard.core.nodelease.scheduler import (
    BreakerLimits,
    LeasePolicy,
    LeaseScheduler,
    lease_live,
)

POLICY = LeasePolicy(lease_duration=40, renew_interval=10, workers=4, rate=100, burst=10,
                     breaker=BreakerLimits(window=10, min_samples=4, probe_interval=5))


def drain(s: LeaseScheduler, now: float) -> list:
    """Everything handed out now, in order."""
    out = []
    while True:
        w, _ = s.next_work(now)
        if w is None:
            return out
        out.append(w)


def run(s: LeaseScheduler, now: float, ok: bool = True, down: frozenset = frozenset()) -> list:
    """One pass: plan, hand out, and record every outcome at once (check-ins that work
    write the lease)."""
    s.plan(now)
    done = drain(s, now)
    for w in done:
        good = ok and w.node not in down
        s.record(w, good, now if good else None, now, 0.01)
    return done


def test_a_node_first_seen_is_established_at_once_then_renewed_every_interval():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1"}, 0)
    [w] = run(s, 0)
    assert w.kind is Kind.ESTABLISH and w.deadline == 20  # half a lease to get it done
    assert run(s, 9.9) == []
    [w] = run(s, 10)
    assert w.kind is Kind.RENEW and w.deadline == 40  # the lease written at 0 runs out


def test_a_known_lease_is_due_when_it_is_not_at_once():
    s = LeaseScheduler(POLICY)
    s.observe_renewal("a", 5)  # read from its Lease at a takeover
    s.observe_nodes({"a": "z1"}, 6)
    assert run(s, 6) == [] and [w.kind for w in run(s, 15)] == [Kind.RENEW]


def test_reading_back_our_own_write_queues_no_second_renewal():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1"}, 0)
    run(s, 0)
    s.observe_renewal("a", 0.001)  # the Lease list shows the write just made
    assert len(run(s, 10) + run(s, 10.5) + run(s, 15)) == 1


def test_a_failed_check_in_is_retried_a_renew_interval_later_then_re_established():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1", "b": "z1", "c": "z1", "d": "z1", "e": "z1"}, 0)
    run(s, 0)
    down = frozenset({"a"})
    kinds = {}
    for t in range(10, 71, 10):
        for w in run(s, t, down=down):
            kinds.setdefault(w.node, []).append(w.kind)
    # renewed at 10, 20, 30 while the lease lasts (until 40), then an establishment
    assert kinds["a"][:3] == [Kind.RENEW] * 3 and Kind.ESTABLISH in kinds["a"][3:]
    assert not s.live("a", 41) and s.live("b", 41)


def test_live_counts_from_the_renewal_first_sight_or_our_own_recovery():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1"}, 100)
    assert s.live("a", 139) and not s.live("a", 140)  # grace for a node first seen
    s.reset_deadlines(200)
    assert s.live("a", 239) and not s.live("a", 240)
    assert lease_live(10, 40, 49.9) and not lease_live(10, 40, 50)


def test_work_for_a_node_that_went_away_is_never_handed_out():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1", "b": "z1"}, 0)
    s.plan(0)
    s.observe_nodes({"b": "z1"}, 0)
    assert [w.node for w in drain(s, 0)] == ["b"]


def test_the_token_bucket_gates_every_check_in_and_unused_tokens_are_kept():
    s = LeaseScheduler(LeasePolicy(workers=4, rate=1, burst=3))
    s.observe_nodes({f"n{i}": "z" for i in range(10)}, 0)
    s.plan(0)
    assert len(drain(s, 0)) == 3  # the burst
    assert len(drain(s, 2)) == 2  # then the rate
    empty = LeaseScheduler(LeasePolicy(rate=1, burst=3))
    drain(empty, 0)
    assert empty.bucket.tokens == 3  # asking with nothing queued costs nothing


def test_expired_work_is_dropped_and_looked_at_again():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1"}, 0)
    s.plan(0)
    w, dropped = s.next_work(25)  # its half-lease deadline (20) passed while queued
    assert w is None and dropped == 1
    s.plan(25)
    [w] = drain(s, 25)
    assert w.kind is Kind.ESTABLISH and w.deadline == 45


def test_breaker_opens_probes_slowly_and_its_closing_resets_every_deadline():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({f"n{i}": "z" for i in range(8)}, 0)
    run(s, 0)
    for t in (10, 20):
        run(s, t, ok=False)
    assert s.breaker.open and s.dependency_failing and s.quiet_until() is not None
    assert len(run(s, 30, ok=False)) <= 1  # one probe at a time
    before = s.recovered_at
    for t in range(31, 80):
        run(s, t, ok=t >= 60)
    assert s.recovered_at > before and not s.breaker.open
    assert all(s.live(f"n{i}", 90) for i in range(8))  # grace, then renewed: no lapse


def test_api_recovery_and_our_own_stall_reset_deadlines():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1"}, 0)
    s.api_result(False, 5)
    assert s.dependency_failing
    s.api_result(True, 50)
    assert s.recovered_at == 50 and s.live("a", 89)
    assert not s.stalled(9, 60) and s.stalled(11, 60) and s.recovered_at == 60


def test_taints_wait_for_the_delay_follow_the_zone_rate_and_lift_at_once():
    s = LeaseScheduler(LeasePolicy(lease_duration=40, renew_interval=10, taint_delay=5))
    s.observe_nodes({f"n{i}": "z1" for i in range(10)}, 0)
    for i in range(10):
        s.observe_renewal(f"n{i}", 0 if i else -100)  # n0 lapsed long ago
    s.first_seen["n0"] = -100
    assert s.taints(1, set()).apply == ()  # lapsed, but not for the delay yet
    plan = s.taints(7, set())
    assert plan.apply == ("n0",) and plan.live == 9 and plan.lapsed == 1
    s.observe_renewal("n0", 8)
    assert s.taints(9, {"n0"}).lift == ("n0",)


def test_a_zone_wide_loss_and_a_failing_dependency_taint_nobody():
    s = LeaseScheduler(LeasePolicy(lease_duration=40, renew_interval=10, taint_delay=1))
    zones = {f"a{i}": "za" for i in range(5)} | {f"b{i}": "zb" for i in range(5)}
    s.observe_nodes(zones, -100)
    for n in zones:
        s.observe_renewal(n, 0 if n.startswith("b") else -100)
    for t in (1, 5, 20):
        plan = s.taints(t, set())
        assert plan.apply == () and plan.held == {"za": 5}
    s.api_result(False, 21)
    s.observe_renewal("a0", 21)
    assert s.taints(30, set()).apply == ()  # the view itself fails: fail static


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.booleans(), st.booleans(), st.booleans()),
                min_size=1, max_size=80),
       st.integers(1, 12))
def test_invariants_under_any_run(steps, nodes):
    """Any mix of nodes coming and going, failing check-ins, API failures and late
    outcomes: never two workers on one node, never a write past its deadline, never a
    taint on a live lease or while the dependency fails, and a tainted node that is live
    again is untainted at once."""
    policy = LeasePolicy(lease_duration=8, renew_interval=2, workers=3, rate=5, burst=3,
                         admission=AdmissionLimits(max_queue=20, max_oldest_age=4,
                                                   lease_period=8),
                         breaker=BreakerLimits(window=8, min_samples=4, probe_interval=1))
    s = LeaseScheduler(policy)
    names = [f"n{i}" for i in range(nodes)]
    s.observe_nodes({n: f"z{i % 2}" for i, n in enumerate(names)}, 0)
    tainted: set[str] = set()
    flying: list = []
    now = 0.0
    for bad, api_down, late, drop in steps:
        now += 0.5
        s.api_result(not api_down, now)
        if drop:
            s.observe_nodes({n: f"z{i % 2}" for i, n in enumerate(names) if i != bad}, now)
        else:
            s.observe_nodes({n: f"z{i % 2}" for i, n in enumerate(names)}, now)
        s.plan(now)
        for w in drain(s, now):
            assert w.node not in {f.node for f in flying}  # never two workers on a node
            assert w.deadline > now  # never handed out after its deadline
            flying.append(w)
        keep = flying[:1] if late else []
        for w in flying[len(keep):]:
            good = w.node != f"n{bad}" and w.node != "n0"
            s.record(w, good, now if good else None, now, 0.3)
        flying = keep
        plan = s.taints(now, tainted)
        assert not set(plan.apply) & set(plan.lift)
        for n in plan.apply:
            assert not s.live(n, now) and not s.dependency_failing
        tainted = (tainted | set(plan.apply)) - set(plan.lift)
        assert all(not s.live(n, now) for n in tainted if n in s.zones)


def test_deadline_resets_never_make_a_lease_renew_twice_per_interval():
    """Each reset (our own outage) marks every node due; renewals stay one per interval,
    however many resets came before (no second chain of renewals per reset)."""
    s = LeaseScheduler(POLICY)
    s.observe_nodes({f"n{i}": "z" for i in range(5)}, 0)
    run(s, 0)
    for t in (3, 7, 13, 17):
        s.reset_deadlines(t)
        run(s, t)
    counts: dict[str, int] = {}
    for t in range(20, 80):
        for w in run(s, t):
            counts[w.node] = counts.get(w.node, 0) + 1
    assert counts == {f"n{i}": 6 for i in range(5)}  # 60 s at one renewal per 10 s


def test_a_lease_read_back_newer_than_ours_moves_the_node_due():
    s = LeaseScheduler(POLICY)
    s.observe_nodes({"a": "z1"}, 0)
    run(s, 0)
    s.observe_renewal("a", 5)  # someone renewed it at 5
    assert run(s, 10) == [] and [w.node for w in run(s, 15)] == ["a"]
