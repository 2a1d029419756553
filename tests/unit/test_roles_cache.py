"""The object cache's sense of a zone's plan stream (what clean-up's status settling reads)."""

from __future__ import annotations

from typing import Any

from planguard.roles.cache import ObjectCache


def plan(g: int, zone: str = "z") -> dict[str, Any]:
    return {"metadata": {"name": f"{zone}-{g}", "namespace": "ns", "uid": f"u{g}",
                         "generation": 1},
            "spec": {"zone": zone, "generation": g,
                     "endpoints": [{"name": "a", "targets": [{"address": "10.0.0.1"}]}]}}


def test_only_a_plan_new_to_the_zone_restarts_its_stream_clock():
    now = [100.0]
    cache = ObjectCache(clock=lambda: now[0])
    key = ("ns", "z")
    assert cache.plan_arrived_ago(key) == -1.0
    cache.plan_event("ADDED", plan(1))
    now[0] = 103.0
    assert cache.plan_arrived_ago(key) == 3.0
    # A status write of the same plan, or a relist, is no new plan.
    cache.plan_event("MODIFIED", {**plan(1), "status": {"endpoints": 1}})
    cache.plan_event(None, plan(1))
    assert cache.plan_arrived_ago(key) == 3.0
    cache.plan_event("ADDED", plan(2))
    assert cache.plan_arrived_ago(key) == 0.0
    assert cache.plan_arrived_ago(("ns", "other")) == -1.0  # per zone
    now[0] = 104.5
    cache.plan_event("DELETED", plan(1))  # a deletion is no arrival
    assert cache.plan_arrived_ago(key) == 1.5
    cache.plan_event("DELETED", plan(2))  # nothing left: forgotten
    assert cache.plan_arrived_ago(key) == -1.0


def test_the_endpoint_json_of_kopfs_event_is_dropped_once_the_cache_has_parsed_it():
    from planguard.roles.runtime import _drop_endpoints

    cache = ObjectCache()
    event = {"type": "ADDED", "object": plan(1)}
    cache.plan_event(event["type"], dict(event["object"]))
    _drop_endpoints(event)
    assert "endpoints" not in event["object"]["spec"]
    assert event["object"]["spec"]["zone"] == "z"  # the rest stays
    # The cache's parse is untouched by it.
    (cached,) = cache.plans(("ns", "z"))
    assert cached.part is not None and [e.name for e in cached.part[0].endpoints] == ["a"]
    _drop_endpoints({"type": "DELETED", "object": {"metadata": {}}})  # no spec: nothing
