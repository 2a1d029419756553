"""The planner's pure decisions: damping, velocity control, fail-static, weights."""

from hypothesis import given, settings
from hypothesis import strategies as st

from planguard.core.dnsplan.damping import Health, TargetHealth
from planguard.core.dnsplan.planner import Limits, PoolTarget, Removal, decide, weights

UP, DOWN = Health.UP, Health.DOWN


def pool(n: int, cap: int = 10) -> list[PoolTarget]:
    return [PoolTarget(f"10.0.0.{i + 1}", cap) for i in range(n)]


def test_flapping_target_never_goes_down_with_damping():
    h = TargetHealth(UP)
    for i in range(100):
        h = h.observe(i % 2 == 0, float(i), to_down=2, to_up=2)
        assert h.state is UP


def test_damping_counts_consecutive_results_both_ways():
    h = TargetHealth(UP)
    for i in range(2):
        h = h.observe(False, i, 3, 2)
    assert h.state is UP
    h = h.observe(False, 3, 3, 2)
    assert h.state is DOWN and h.since == 3
    h = h.observe(True, 4, 3, 2)
    assert h.state is DOWN
    h = h.observe(True, 5, 3, 2)
    assert h.state is UP
    p = TargetHealth()
    assert p.observe(True, 0, 3, 2).state is Health.PENDING
    assert p.observe(True, 0, 3, 2).observe(True, 1, 3, 2).state is UP


def test_first_plan_publishes_what_is_up():
    ts = pool(4)
    d = decide(ts, {t.address: UP for t in ts}, None, [], Limits(), 0)
    assert d.changed and d.published == {t.address for t in ts}


def test_no_first_plan_when_health_is_unknown():
    d = decide(pool(4), {}, None, [], Limits(), 0)
    assert not d.published and d.holds[0].reason == "FailStatic"


def test_removal_is_limited_per_plan_and_the_rest_goes_through_later():
    ts = pool(10)
    cur = frozenset(t.address for t in ts)
    health = {t.address: (DOWN if i < 5 else UP) for i, t in enumerate(ts)}
    lim = Limits(max_remove_per_plan=0.2, max_remove_per_window=1.0, fail_static_below=0.4)
    d = decide(ts, health, cur, [], lim, 0)
    assert len(d.removed) == 2 and d.removed_capacity == 20
    assert [h.reason for h in d.holds] == ["VelocityPerPlan"] and len(d.holds[0].targets) == 3
    d2 = decide(ts, health, d.published, [Removal(0, 20)], lim, 1)
    assert len(d2.removed) == 2


def test_window_budget_is_shared_across_plans():
    ts = pool(10)
    cur = frozenset(t.address for t in ts)
    health = {t.address: (DOWN if i < 4 else UP) for i, t in enumerate(ts)}
    lim = Limits(max_remove_per_plan=1.0, max_remove_per_window=0.3, window_seconds=60,
                 fail_static_below=0.1)
    d = decide(ts, health, cur, [Removal(10, 20)], lim, 20)
    assert len(d.removed) == 1 and d.holds[0].reason == "VelocityWindow"
    later = decide(ts, health, cur, [Removal(10, 20)], lim, 75)  # window passed
    assert len(later.removed) == 3


def test_fail_static_keeps_the_last_set_when_most_looks_dead():
    ts = pool(10)
    cur = frozenset(t.address for t in ts)
    health = {t.address: (DOWN if i < 8 else UP) for i, t in enumerate(ts)}
    d = decide(ts, health, cur, [], Limits(fail_static_below=0.5, max_remove_per_plan=1.0,
                                            max_remove_per_window=1.0), 0)
    assert d.published == cur and not d.changed and d.holds[0].reason == "FailStatic"


def test_min_targets_is_kept():
    ts = pool(3)
    cur = frozenset(t.address for t in ts)
    health = {ts[0].address: UP, ts[1].address: DOWN, ts[2].address: DOWN}
    lim = Limits(max_remove_per_plan=1, max_remove_per_window=1, fail_static_below=0,
                 min_targets=2)
    d = decide(ts, health, cur, [], lim, 0)
    assert len(d.published) == 2 and d.holds[0].reason == "MinTargets"


def test_recovered_capacity_is_added_at_once():
    ts = pool(4)
    cur = frozenset(t.address for t in ts[:2])
    d = decide(ts, {t.address: UP for t in ts}, cur, [], Limits(), 0)
    assert d.added == (ts[2].address, ts[3].address) and not d.holds


def test_weights_follow_capacity_and_drained_targets_get_zero():
    ts = [PoolTarget("10.0.0.1", 10), PoolTarget("10.0.0.2", 5), PoolTarget("10.0.0.3", 20)]
    w = weights(ts, frozenset({"10.0.0.1", "10.0.0.2"}))
    assert w == {"10.0.0.1": 255, "10.0.0.2": 128, "10.0.0.3": 0}


@settings(max_examples=300, deadline=None)
@given(
    caps=st.lists(st.integers(1, 50), min_size=1, max_size=12),
    steps=st.lists(st.lists(st.booleans(), min_size=12, max_size=12), min_size=1, max_size=15),
    per_plan=st.floats(0, 1), per_window=st.floats(0, 1), fail_static=st.floats(0, 1),
    min_targets=st.integers(0, 4),
)
def test_velocity_fail_static_and_additions_hold_under_any_health_sequence(
    caps, steps, per_plan, per_window, fail_static, min_targets,
):
    ts = [PoolTarget(f"10.0.0.{i + 1}", c) for i, c in enumerate(caps)]
    total = sum(caps)
    lim = Limits(per_plan, per_window, 100.0, fail_static, min_targets)
    cur = frozenset(t.address for t in ts)
    removals: list[Removal] = []
    for now, ups in enumerate(steps):
        health = {t.address: UP if ups[i] else DOWN for i, t in enumerate(ts)}
        d = decide(ts, health, cur, removals, lim, float(now))
        removed_cap = sum(c for t, c in zip(ts, caps, strict=True) if t.address in d.removed)
        assert removed_cap == d.removed_capacity <= per_plan * total + 1e-9
        up_share = sum(c for t, c in zip(ts, caps, strict=True) if health[t.address] is UP) / total
        if up_share < fail_static:
            assert not d.removed
        assert {a for a, h in health.items() if h is UP} <= d.published
        if len(cur) >= min_targets:
            assert len(d.published) >= min_targets
        if d.removed_capacity:
            removals.append(Removal(float(now), d.removed_capacity))
        assert sum(r.capacity for r in removals) <= per_window * total + 1e-9  # one window
        cur = d.published


def test_endpoints_get_their_family_and_an_empty_one_holds_the_plan_back():
    from planguard.core.dnsplan.model import Endpoint, Plan, Target, endpoint_spec, plan_body
    from planguard.core.dnsplan.planner import PoolEndpoint, published_by

    ts = [PoolTarget("10.0.0.2", 10, "az1", "lb-a"), PoolTarget("2001:db8::1", 10),
          PoolTarget("10.0.0.1", 5)]
    eps = [PoolEndpoint("svc", 5), PoolEndpoint("svc-v4", 5, "IPv4"),
           PoolEndpoint("svc-v6", 5, "IPv6")]
    d = decide(ts, {t.address: UP for t in ts}, None, [], Limits(), 0, eps)
    by = {e.name: e for e in d.endpoints}
    assert [t.address for t in by["svc"].targets] == ["10.0.0.1", "10.0.0.2", "2001:db8::1"]
    assert [t.address for t in by["svc-v4"].targets] == ["10.0.0.1", "10.0.0.2"]
    assert by["svc-v4"].targets[1] == Target("10.0.0.2", 255, "lb-a", "az1")
    assert d.publishable and d.needs_plan(None) and not d.empty
    plan = Plan("z-1", "z", 1, d.endpoints)
    assert not d.needs_plan(plan)  # the newest plan already says this
    assert published_by(plan, ["svc-v6"]) == frozenset({"2001:db8::1"})
    assert published_by(None, ["svc"]) is None
    # the IPv6 target goes down: svc-v6 would be empty, so no plan at all
    health = {t.address: UP for t in ts} | {"2001:db8::1": DOWN}
    later = decide(ts, health, published_by(plan, ["svc", "svc-v4", "svc-v6"]), [],
                   Limits(max_remove_per_plan=1.0, max_remove_per_window=1.0,
                          fail_static_below=0.0), 1, eps)
    assert later.empty == ("svc-v6",) and not later.publishable and later.needs_plan(plan) is False
    assert later.holds[-1].reason == "EmptyEndpoint"
    body = plan_body("z", 7, [endpoint_spec(e) for e in d.endpoints], namespace="ns",
                     labels={"planguard.io/pool": "p"})
    assert body["metadata"] == {"name": "z-7", "namespace": "ns",
                                "labels": {"planguard.io/pool": "p"}}
    assert body["spec"]["endpoints"][1]["targets"][1] == {
        "address": "10.0.0.2", "weight": 255, "availabilityZone": "az1", "loadBalancer": "lb-a"}
    from planguard.core.dnsplan.model import plan_from_object

    assert plan_from_object(body).endpoints == d.endpoints  # endpoint_spec is its inverse
    assert endpoint_spec(Endpoint("gone", 5, remove=True))["remove"] is True
