"""Assembling a generation from its part objects, and choosing the newest valid one."""

from typing import Any

from planguard.core.selection import candidates, newest_valid


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
    from planguard.core.selection import PartCache
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
