"""Which plan of a zone the enactors work towards, assembled from its part objects."""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from planguard.core.contract import part_index, part_of, plan_name
from planguard.core.dnsplan import deltas
from planguard.core.dnsplan.model import Endpoint, Plan, plan_from_object
from planguard.core.dnsplan.validate import Problem, duplicate_endpoints, plan_problems


@dataclass(frozen=True)
class Candidate:
    """One generation of a zone's plan: one DNSPlan object, or all parts of a large one."""

    plan: Plan
    problems: tuple[Problem, ...]
    deleting: bool
    objs: tuple[Mapping[str, Any], ...]
    complete: bool = True
    base_objs: tuple[Mapping[str, Any], ...] = ()  # a delta's base plan objects

    @property
    def valid(self) -> bool:
        return self.complete and not self.problems

    @property
    def waiting(self) -> str:
        """Why an otherwise fine plan is not applied yet ("" when it can be)."""
        if self.complete:
            return ""
        return f"{len(self.objs)} of its parts exist"


# One Endpoint object per distinct endpoint value among the plans a process holds: a new
# generation changing 10 % of a zone adds 10 % of its endpoints to memory, not 100 %. Weak,
# so an endpoint no plan holds any more is freed with its last plan.
_ENDPOINTS: weakref.WeakValueDictionary[tuple[Any, ...], Endpoint] = \
    weakref.WeakValueDictionary()


def _interned(plan: Plan) -> Plan:
    endpoints = tuple(_ENDPOINTS.setdefault((e.name, e.ttl, e.targets, e.allow_empty, e.remove), e)
                      for e in plan.endpoints)
    return replace(plan, endpoints=endpoints)


def parse_part(obj: Mapping[str, Any]) -> tuple[Plan, tuple[Problem, ...]]:
    """One DNSPlan object read and checked on its own (a part, before assembly)."""
    plan = _interned(plan_from_object(obj))
    return plan, tuple(plan_problems(plan, require_endpoints=False))


class ParsedPlanObject(dict[str, Any]):
    """A DNSPlan object as a role's cache keeps it: parsed once on arrival (specs are
    immutable) and its endpoint list dropped from the dict, so a cached generation holds
    its endpoints once (as the Plan), not twice. Everything else of the object stays."""

    __slots__ = ("endpoint_count", "error", "part")

    def __init__(self, obj: Mapping[str, Any],
                 parsed_as: ParsedPlanObject | None = None) -> None:
        """`parsed_as`: this object's previous version with the same uid and
        metadata.generation (a status or finalizer change): its spec is the same, so its
        parse is reused."""
        spec = obj.get("spec")
        super().__init__(obj)
        self.part: tuple[Plan, tuple[Problem, ...]] | None = None
        self.error: Exception | None = None
        if parsed_as is not None:
            self.part, self.error = parsed_as.part, parsed_as.error
        else:
            try:
                self.part = parse_part(obj)
            except (KeyError, TypeError, ValueError) as e:
                self.error = e  # reported when its generation is assembled
        self.endpoint_count = len(self.part[0].endpoints) if self.part else 0
        if isinstance(spec, Mapping) and "endpoints" in spec:
            self["spec"] = {k: v for k, v in spec.items() if k != "endpoints"}
        elif parsed_as is not None:
            self["spec"] = parsed_as.get("spec")


def endpoint_count(obj: Mapping[str, Any]) -> int:
    """How many endpoints one plan object lists."""
    if isinstance(obj, ParsedPlanObject):
        return obj.endpoint_count
    return len((obj.get("spec") or {}).get("endpoints") or ())


class PartCache:
    """Parsed parts and their own problems, by (uid, metadata.generation). Plan specs are
    immutable, so each object is parsed and checked once, not on every reconcile."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, Any], tuple[Plan, tuple[Problem, ...]]] = {}
        # Delta plans resolved against their base, by the uids of both: the same Plan
        # object every reconcile (the enactor skips deciding a converged plan by identity).
        self._resolved: dict[tuple[tuple[str, ...], tuple[str, ...]], Plan] = {}
        # Plans in parts, assembled once by the uids of their parts, for the same reasons:
        # re-assembling 25,000 endpoints every reconcile was most of an enactor's CPU.
        self._assembled: dict[tuple[str, ...], tuple[Plan, tuple[Problem, ...]]] = {}

    def resolved(self, delta: Candidate, base: Candidate) -> Plan:
        key = (_uids(delta.objs), _uids(base.objs))
        hit = self._resolved.get(key) if all(key[0]) and all(key[1]) else None
        if hit is None:
            hit = deltas.resolve(delta.plan, base.plan)
            if all(key[0]) and all(key[1]):
                self._resolved[key] = hit
        return hit

    def get(self, obj: Mapping[str, Any]) -> tuple[Plan, tuple[Problem, ...]]:
        if isinstance(obj, ParsedPlanObject):
            if obj.part is None:
                raise obj.error or ValueError("unreadable plan")
            return obj.part
        meta = obj.get("metadata") or {}
        key = (str(meta.get("uid", "")), meta.get("generation"))
        hit = self._parts.get(key) if key[0] else None
        if hit is None:
            hit = parse_part(obj)
            if key[0]:
                self._parts[key] = hit
        return hit

    def retain(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Drops what belongs to objects no longer present."""
        uids = {str((o.get("metadata") or {}).get("uid", "")) for o in objs}
        for key in [k for k in self._parts if k[0] not in uids]:
            del self._parts[key]
        for rkey in [k for k in self._resolved if not uids.issuperset((*k[0], *k[1]))]:
            del self._resolved[rkey]
        for akey in [k for k in self._assembled if not uids.issuperset(k)]:
            del self._assembled[akey]

    def assembled(self, objs: tuple[Mapping[str, Any], ...],
                  build: Callable[[], tuple[Plan, tuple[Problem, ...]]]
                  ) -> tuple[Plan, tuple[Problem, ...]]:
        """The whole plan of a complete generation's parts and its cross-part problems."""
        key = _uids(objs)
        if not all(key):
            return build()
        hit = self._assembled.get(key)
        if hit is None:
            hit = self._assembled[key] = build()
        return hit


def _uids(objs: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(str((o.get("metadata") or {}).get("uid", "")) for o in objs)


def candidates(
    objs: Iterable[Mapping[str, Any]], cache: PartCache | None = None
) -> list[Candidate]:
    objs = list(objs)
    if cache is None:
        cache = PartCache()
    else:
        cache.retain(objs)
    groups: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    out: list[Candidate] = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        try:
            groups[int((obj.get("spec") or {})["generation"])].append(obj)
        except (KeyError, TypeError, ValueError) as e:
            plan = Plan(name=str(meta.get("name", "")), zone="", generation=0, endpoints=())
            out.append(Candidate(plan, (Problem("Malformed", f"cannot read the plan: {e}"),),
                                 bool(meta.get("deletionTimestamp")), (obj,)))
    assembled = {g: _assemble(g, sorted(group, key=part_index), cache)
                 for g, group in groups.items()}
    out.extend(_resolve(c, assembled, cache) for c in assembled.values())
    return out


def _resolve(c: Candidate, by_generation: Mapping[int, Candidate],
             cache: PartCache) -> Candidate:
    """A delta plan as the full plan it stands for, or refused with why (core/dnsplan/deltas.py)."""
    if c.plan.base is None or c.problems or not c.complete:
        return c
    base = by_generation.get(c.plan.base)
    problem = deltas.base_problem(c.plan, base.plan if base else None,
                                  base is not None and base.valid)
    if problem is not None or base is None:
        return replace(c, problems=(problem,) if problem else c.problems)
    return replace(c, plan=cache.resolved(c, base), base_objs=base.objs)


def _assemble(generation: int, objs: list[Mapping[str, Any]], cache: PartCache) -> Candidate:
    problems: list[Problem] = []
    parts = []
    for obj in objs:
        try:
            plan, own = cache.get(obj)
        except (KeyError, TypeError, ValueError) as e:
            problems.append(Problem("Malformed", f"cannot read {obj['metadata']['name']}: {e}"))
            continue
        parts.append(plan)
        problems.extend(own)
    counts = {part_of(o)[1] for o in objs}
    indices = [part_index(o) for o in objs]
    complete = len(counts) == 1 and indices == list(range(next(iter(counts))))
    if len(counts) > 1:
        problems.append(Problem("InconsistentParts",
                                f"parts disagree on part.count: {sorted(counts)}"))
    bases = {p.base for p in parts}
    if len(bases) > 1:
        problems.append(Problem("InconsistentParts",
                                f"parts disagree on spec.base: {sorted(bases, key=str)}"))
    first = parts[0] if parts else None
    zone = first.zone if first else ""

    def whole() -> tuple[Plan, tuple[Problem, ...]]:
        plan = Plan(
            name=plan_name(zone, generation), zone=zone, generation=generation,
            endpoints=tuple(e for p in parts for e in p.endpoints),
            uid=first.uid if first and len(objs) == 1 else "",
            base=first.base if first else None,
        )
        return plan, tuple(duplicate_endpoints(plan))

    if first is not None and len(parts) == 1 and len(objs) == 1 and \
            first.name == plan_name(zone, generation) and first.generation == generation:
        plan = first  # the cached object itself, so its identity holds across reconciles
    elif not complete:
        # Not assembled before its last part exists: a generation arriving in 25 parts
        # would otherwise be assembled and checked 25 times, growing each time.
        plan = Plan(name=plan_name(zone, generation), zone=zone, generation=generation,
                    endpoints=(), base=first.base if first else None)
    else:  # the same part objects read the same way: their specs are immutable
        plan, across = cache.assembled(tuple(objs), whole)
        problems.extend(across)
    if complete and not plan.endpoints:
        problems.append(Problem("NoEndpoints", "the plan lists no endpoints"))
    deleting = any((o.get("metadata") or {}).get("deletionTimestamp") for o in objs)
    return Candidate(plan, tuple(problems), deleting, tuple(objs), complete)


def newest_valid(cands: Iterable[Candidate]) -> Candidate | None:
    """The highest complete generation without problems. A refused newer plan never blocks:
    the newest valid one is applied, and the refused one is reported."""
    best: Candidate | None = None
    for c in cands:
        if c.valid and (best is None or c.plan.generation > best.plan.generation):
            best = c
    return best
