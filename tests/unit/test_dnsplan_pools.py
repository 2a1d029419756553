"""core/dnsplan/pools.py: a pool as the planner reads it, target states, the velocity
window, the reasons a pool plans nothing, and its status."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from planguard.core import timefmt
from planguard.core.conditions import Condition
from planguard.core.dnsplan import pools
from planguard.core.dnsplan.damping import Health
from planguard.core.dnsplan.model import Endpoint, Target
from planguard.core.dnsplan.planner import Decision, Hold, Limits, Removal
from planguard.core.dnsplan.planretry import Refused


def pool_obj(**spec: Any) -> dict[str, Any]:
    base = {"zone": "example", "endpoints": [{"name": "www"}],
            "targets": [{"address": "10.0.0.1"}, {"address": "10.0.0.2", "checkPort": 8080}]}
    return {"metadata": {"namespace": "ns", "name": "p", "generation": 3,
                         "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {**base, **spec}}


def slice_obj(*eps: tuple[str, bool]) -> dict[str, Any]:
    return {"endpoints": [{"addresses": [a], "conditions": {"ready": r}, "zone": "az1"}
                          for a, r in eps]}


def test_absent_blocks_take_the_defaults_and_present_fields_their_types() -> None:
    p = pools.parse_pool(pool_obj(), [])
    assert p.check == pools.Check() and p.limits == Limits()
    p = pools.parse_pool(pool_obj(healthCheck={"type": "HTTP", "intervalSeconds": 1,
                                               "failuresToDown": "4"},
                                  limits={"minTargets": 2, "windowSeconds": 60}), [])
    assert p.check == pools.Check(type="HTTP", interval=1.0, to_down=4)
    assert isinstance(p.check.interval, float) and isinstance(p.check.to_down, int)
    assert p.limits == Limits(window_seconds=60.0, min_targets=2)
    assert p.check_ports == {"10.0.0.2": 8080}
    assert (p.key, p.zone, p.spec_generation, p.service) == (("ns", "p"), "example", 3, None)


def test_slice_addresses_join_the_listed_targets_and_bad_ones_are_reported() -> None:
    obj = pool_obj(service={"name": "web", "capacity": 2})
    p = pools.parse_pool(obj, [slice_obj(("10.0.0.1", True), ("10.0.0.3", False),
                                         ("169.254.169.254", True))])
    assert [t.address for t in p.targets] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert p.targets[2].capacity == 2 and p.targets[2].load_balancer == "web"
    assert p.not_ready == {"10.0.0.3"}
    assert len(p.bad_slice_addresses) == 1 and p.service == "web"


def test_readiness_and_refusals_override_checks() -> None:
    p = pools.parse_pool(pool_obj(service={"name": "web"}), [slice_obj(("10.0.0.3", False))])
    checked = {"10.0.0.1": Health.UP, "10.0.0.3": Health.UP}
    assert pools.target_states(p, checked, {"10.0.0.2": "no"}) == {
        "10.0.0.1": Health.UP, "10.0.0.2": Health.DOWN, "10.0.0.3": Health.DOWN}
    assert pools.target_states(p, {}, {})["10.0.0.1"] is Health.PENDING
    unchecked = pools.parse_pool(pool_obj(healthCheck={"type": "None"}), [])
    assert pools.target_states(unchecked, {}, {"10.0.0.2": "no"}) == {
        "10.0.0.1": Health.UP, "10.0.0.2": Health.DOWN}


def test_why_a_pool_plans_nothing_in_order() -> None:
    p = pools.parse_pool(pool_obj(targets=[], service={"name": "web"}), [])
    other = ("ns", "older")
    reasons = [c.reason if c else None for c in (
        pools.cannot_plan(p, other, False, False), pools.cannot_plan(p, p.key, False, False),
        pools.cannot_plan(p, None, True, False))]
    assert reasons == ["ZoneHasPool", "ZoneNotFound", "ServiceNotFound"]
    assert pools.cannot_plan(p, None, True, True) is None
    listed = pools.parse_pool(pool_obj(service={"name": "web"}), [])
    assert pools.cannot_plan(listed, None, True, False) is None


@given(st.lists(st.tuples(st.floats(0, 2000), st.integers(0, 9)), max_size=8),
       st.floats(1, 1000))
def test_only_removals_inside_the_window_count(raw: list[tuple[float, int]],
                                               window: float) -> None:
    now = 1_000_000.0
    status = {"removals": [{"at": timefmt.millis(now - ago), "capacity": c} for ago, c in raw]}
    got = pools.recent_removals(status, now, window)
    assert all(now - r.at < window for r in got)
    # Stamps keep milliseconds: only removals within 1 ms of the edge may go either way.
    inside = sum(1 for ago, _ in raw if ago < window - 0.001)
    assert inside <= len(got) <= sum(1 for ago, _ in raw if ago < window + 0.001)


def test_epoch_numbers_from_earlier_versions_are_read() -> None:
    assert pools.recent_removals({"removals": [{"at": 95.0, "capacity": 1}]}, 100.0, 10.0) == \
        [Removal(95.0, 1)]


def test_planning_status_round_trips_its_removals() -> None:
    holds = [Hold("FailStatic", "too much down", ("10.0.0.1",))]
    conds, extra = pools.planning_status(holds, [Removal(12.5, 2)], "example-7")
    assert conds == [Condition("Paused", False, "Running"),
                     Condition("HeldBack", True, "FailStatic", "too much down"),
                     Condition("Ready", True, "Planning", "newest plan example-7")]
    assert extra["holds"] == [{"reason": "FailStatic", "message": "too much down",
                               "targets": ["10.0.0.1"]}]
    assert pools.recent_removals(extra, 13.0, 10.0) == [Removal(12.5, 2)]
    conds, _ = pools.planning_status([], [], "example-7")
    assert conds[1] == Condition("HeldBack", False, "None", "")


def test_backing_off_says_when_and_how_often() -> None:
    c = pools.backing_off(Refused("PlanRefused", "422", 3, 0.0, 1))
    assert (c.status, c.reason) == (False, "PlanRefused")
    assert c.message == ("422; next attempt after 1970-01-01T00:00:00.000Z (failure 3 in a "
                         "row; editing the pool retries at once)")


def test_pool_status_counts_and_names_at_most_five_refusals() -> None:
    p = pools.parse_pool(pool_obj(), [])
    states = {"10.0.0.1": Health.UP, "10.0.0.2": Health.DOWN}
    refused = {"10.0.0.2": "loopback"}
    cond, fields = pools.pool_status(p, states, refused, None, {"targets": {"published": 4}})
    assert cond == Condition("TargetsRefused", True, "TargetRefused", "loopback")
    assert fields == {"targets": {"total": 2, "healthy": 1, "published": 4},
                      "health": {"10.0.0.1": "up", "10.0.0.2": "refused"}}
    d = Decision(frozenset({"10.0.0.1"}))
    assert pools.pool_status(p, states, {}, d, {})[1]["targets"]["published"] == 1
    many = {f"10.0.0.{i}": f"why {i}" for i in range(8)}
    cond, _ = pools.pool_status(p, states, many, None, {})
    assert cond.message.endswith("; and 3 more") and cond.message.count("why") == 5
    assert pools.pool_status(p, states, {}, None, {})[0] == Condition("TargetsRefused", False,
                                                                      "None", "")


def test_refusals_all_behind_a_forbidden_path_none_without_checks() -> None:
    def refuse(a: str) -> str | None:
        return "loopback" if a == "10.0.0.2" else None

    assert pools.refusals(pools.parse_pool(pool_obj(), []), refuse) == {"10.0.0.2": "loopback"}
    unchecked = pools.parse_pool(pool_obj(healthCheck={"type": "None"}), [])
    assert pools.refusals(unchecked, refuse) == {}
    bad_path = pools.parse_pool(pool_obj(healthCheck={"type": "HTTP", "path": "http://x/"}), [])
    got = pools.refusals(bad_path, refuse)
    assert set(got) == {"10.0.0.1", "10.0.0.2"} and len(set(got.values())) == 1


def test_write_failures() -> None:
    assert pools.write_failure(422, "x" * 600) == (
        "PlanRefused", "the API server refused the plan (422): " + "x" * 512)
    assert pools.write_failure(503, "busy") == ("PlanFailed",
                                                "the API server failed the plan (503): busy")
    assert pools.write_failure(None, "reset") == ("PlanFailed",
                                                  "the plan could not be written: reset")


def test_a_plan_the_enactors_would_refuse_is_invalid() -> None:
    p = pools.parse_pool(pool_obj(), [])
    good = Decision(frozenset(), endpoints=(Endpoint("www", 60, (Target("10.0.0.1"),)),))
    assert pools.invalid(p, good, 1) is None
    bad = Decision(frozenset(), endpoints=(Endpoint("www", 60), Endpoint("www", 60)))
    why = pools.invalid(p, bad, 1)
    assert why is not None and why.startswith("the plan this pool makes breaks the plan rules")
