"""Assembling a generation from its part objects, and choosing the newest valid one."""

from typing import Any

from planguard.core.dnsplan.selection import candidates, newest_valid


def obj(g: int, eps: dict[str, list[str]], part: tuple[int, int] | None = None,
        deleting: bool = False) -> dict[str, Any]:
    name = f"z-{g}" if part is None else f"z-{g}-p{part[0]}"
    spec: dict[str, Any] = {"zone": "z", "generation": g, "endpoints": [
        {"name": n, "ttl": 60, "targets": [{"address": a} for a in addrs]}
        for n, addrs in eps.items()]}
    if part:
        spec["part"] = {"index": part[0], "count": part[1]}
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": spec}


def test_a_plan_in_parts_is_applied_only_when_complete():
    p0 = obj(2, {"a": ["10.0.0.1"]}, (0, 2))
    one = candidates([obj(1, {"a": ["10.0.0.9"]}), p0])
    assert newest_valid(one).plan.generation == 1
    waiting = next(c for c in one if c.plan.generation == 2)
    assert not waiting.valid and not waiting.problems and waiting.waiting
    both = candidates([obj(1, {"a": ["10.0.0.9"]}), p0, obj(2, {"b": ["10.0.0.2"]}, (1, 2))])
    best = newest_valid(both)
    assert best.plan.generation == 2 and [e.name for e in best.plan.endpoints] == ["a", "b"]
    assert len(best.objs) == 2


def test_duplicate_endpoint_across_parts_is_refused():
    cands = candidates([obj(2, {"a": ["10.0.0.1"]}, (0, 2)), obj(2, {"a": ["10.0.0.2"]}, (1, 2))])
    assert [p.reason for p in cands[0].problems] == ["DuplicateEndpoint"]
    assert newest_valid(cands) is None


def test_a_refused_newer_plan_does_not_block_the_newest_valid_one():
    cands = candidates([obj(1, {"a": ["10.0.0.1"]}), obj(2, {"a": []})])
    assert newest_valid(cands).plan.generation == 1
    assert [p.reason for c in cands for p in c.problems] == ["EmptyEndpoint"]


def test_malformed_object_is_its_own_refused_candidate():
    cands = candidates([{"metadata": {"name": "z-x"}, "spec": {"zone": "z"}}])
    assert cands[0].problems[0].reason == "Malformed"


def delta(g: int, base: int, eps: dict[str, list[str]], uid: str = "") -> dict[str, Any]:
    o = obj(g, eps)
    o["spec"]["base"] = base
    if uid:
        o["metadata"]["uid"] = uid
    return o


def test_a_delta_plan_is_resolved_against_its_base_and_keeps_its_identity():
    from planguard.core.dnsplan.selection import PartCache
    base = obj(1, {"a": ["10.0.0.1"], "b": ["10.0.0.2"]})
    base["metadata"]["uid"] = "u1"
    d = delta(3, 1, {"b": ["10.0.0.9"]}, uid="u3")
    cache = PartCache()
    first = newest_valid(candidates([base, d], cache))
    assert first.plan.generation == 3 and first.plan.base == 1
    assert {e.name: e.targets[0].address for e in first.plan.endpoints} == {
        "a": "10.0.0.1", "b": "10.0.0.9"}
    assert first.objs == (d,) and first.base_objs == (base,)
    again = newest_valid(candidates([base, d], cache))
    assert again.plan is first.plan  # the enactor skips deciding a converged plan by identity


def test_a_delta_without_its_base_is_refused_and_the_newest_valid_plan_is_applied():
    cands = candidates([obj(2, {"a": ["10.0.0.1"]}), delta(4, 1, {"a": ["10.0.0.9"]})])
    refused = next(c for c in cands if c.plan.generation == 4)
    assert [p.reason for p in refused.problems] == ["BaseMissing"]
    assert newest_valid(cands).plan.generation == 2
    chained = candidates([obj(1, {"a": ["10.0.0.1"]}), delta(2, 1, {"a": ["10.0.0.2"]}),
                          delta(3, 2, {"a": ["10.0.0.3"]})])
    assert [p.reason for c in chained if c.plan.generation == 3 for p in c.problems] == [
        "BaseIsDelta"]
    parts = candidates([obj(1, {"a": ["10.0.0.1"]}),
                        delta(2, 1, {"a": ["10.0.0.2"]}) | {"spec": {
                            **delta(2, 1, {"a": ["10.0.0.2"]})["spec"],
                            "part": {"index": 0, "count": 2}}},
                        obj(2, {"b": ["10.0.0.3"]}, (1, 2))])
    assert "InconsistentParts" in [p.reason for c in parts if c.plan.generation == 2
                                   for p in c.problems]


def parsed(o: dict[str, Any]) -> Any:
    from planguard.core.dnsplan.selection import ParsedPlanObject
    return ParsedPlanObject(o)


def test_a_parsed_object_drops_its_endpoint_json_and_assembles_the_same_plan():
    from planguard.core.dnsplan.selection import endpoint_count
    raw = [obj(1, {"a": ["10.0.0.9"]}), obj(2, {"a": ["10.0.0.1"]}, (0, 2)),
           obj(2, {"b": ["10.0.0.2"], "c": ["10.0.0.3"]}, (1, 2))]
    held = [parsed(o) for o in raw]
    assert all("endpoints" not in o["spec"] for o in held)
    assert held[1]["spec"]["part"] == {"index": 0, "count": 2}
    assert [endpoint_count(o) for o in held] == [1, 1, 2] == [endpoint_count(o) for o in raw]
    assert [(c.plan, c.problems, c.complete) for c in candidates(held)] == \
        [(c.plan, c.problems, c.complete) for c in candidates(raw)]


def test_a_status_change_reuses_the_parse_of_the_same_generation():
    from planguard.core.dnsplan.selection import ParsedPlanObject
    first = parsed(obj(1, {"a": ["10.0.0.9"]}))
    later = {**obj(1, {"a": ["10.0.0.9"]}), "status": {"phase": "Live"}}
    again = ParsedPlanObject(later, parsed_as=first)
    assert again.part is first.part and again["status"] == {"phase": "Live"}
    assert "endpoints" not in again["spec"] and again.endpoint_count == 1


def test_equal_endpoints_of_two_generations_are_one_object():
    one, two = parsed(obj(1, {"a": ["10.0.0.1"], "b": ["10.0.0.2"]})), \
        parsed(obj(2, {"a": ["10.0.0.1"], "b": ["10.0.0.3"]}))
    (a1, b1), (a2, b2) = one.part[0].endpoints, two.part[0].endpoints
    assert a1 is a2 and b1 is not b2 and b1 != b2


def test_a_malformed_parsed_object_is_refused_when_assembled():
    held = parsed({"metadata": {"name": "z-1"}, "spec": {
        "zone": "z", "generation": 1, "endpoints": [{"ttl": 60}]}})
    assert held.part is None and "endpoints" not in held["spec"]
    cands = candidates([held])
    assert [p.reason for p in cands[0].problems] == ["Malformed", "NoEndpoints"]
    assert newest_valid(cands) is None


def test_bare_addresses_are_weight_one_targets():
    from planguard.core.dnsplan.model import Target, endpoint_spec, plan_from_object

    bare = {"metadata": {"name": "z-1"}, "spec": {"zone": "z", "generation": 1, "endpoints": [
        {"name": "a", "ttl": 60, "addresses": ["10.0.0.1", "2001:db8::1"]},
        {"name": "b", "ttl": 60, "addresses": ["10.0.0.1"]}]}}
    long = obj(1, {"a": ["10.0.0.1", "2001:db8::1"], "b": ["10.0.0.1"]})
    plan = plan_from_object(bare)
    assert plan.endpoints == plan_from_object(long).endpoints
    assert plan.endpoints[0].targets == (Target("10.0.0.1"), Target("2001:db8::1"))
    # written back in the short form when nothing but the address is said, else in full
    assert [endpoint_spec(e) for e in plan.endpoints] == bare["spec"]["endpoints"]
    placed = plan_from_object({"spec": {"zone": "z", "generation": 1, "endpoints": [
        {"name": "a", "ttl": 60, "targets": [{"address": "10.0.0.1", "weight": 3}]}]}})
    assert endpoint_spec(placed.endpoints[0])["targets"] == [{"address": "10.0.0.1", "weight": 3}]


def test_an_endpoint_listing_targets_and_addresses_is_refused():
    both = parsed({"metadata": {"name": "z-1"}, "spec": {"zone": "z", "generation": 1,
                   "endpoints": [{"name": "a", "ttl": 60, "addresses": ["10.0.0.1"],
                                  "targets": [{"address": "10.0.0.2"}]}]}})
    assert both.part is None and "both targets and addresses" in str(both.error)
    assert newest_valid(candidates([both])) is None


def test_a_plan_in_parts_is_assembled_once_when_complete_and_then_kept():
    from planguard.core.dnsplan.selection import PartCache

    def part(i: int, uid: str) -> dict[str, Any]:
        o = obj(2, {f"e{i}": [f"10.0.0.{i + 1}"]}, (i, 3))
        o["metadata"]["uid"] = uid
        return o

    cache = PartCache()
    p0, p1, p2 = part(0, "u0"), part(1, "u1"), part(2, "u2")
    waiting = candidates([p0, p1], cache)[0]
    # not assembled while parts are missing: no growing work as they arrive
    assert waiting.plan.endpoints == () and not waiting.problems and not waiting.valid
    first = newest_valid(candidates([p0, p1, p2], cache))
    again = newest_valid(candidates([p2, p1, p0], cache))
    assert first is not None and again is not None
    assert [e.name for e in first.plan.endpoints] == ["e0", "e1", "e2"]
    assert again.plan is first.plan  # the same object: an enactor's converged fast path holds
    replaced = newest_valid(candidates([p0, p1, part(2, "u2b")], cache))
    assert replaced is not None and replaced.plan is not first.plan
    assert replaced.plan == first.plan
