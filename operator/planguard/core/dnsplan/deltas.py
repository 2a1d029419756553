"""Delta plans: a generation that lists only what changed since a full plan (its base).

A plan is the whole desired state of a zone, so without deltas a 1 % change of a
100,000-record zone sends all of it to the API server again (seconds of admission and
watch fan-out for 250 changed names). A delta plan names a base generation, always a
full plan of the same zone, and lists only the endpoints that differ from it: each one
replaces the base's endpoint of that name (`remove: true` removes it, as in any plan);
every other endpoint is the base's. Resolved, a delta is an ordinary plan, so the
enactor's compare-and-swap, the fence and the clean-up guard see no difference.

Depth is one: a base must be a full plan, so resolving costs one merge however long a
stream of deltas runs, and no chain grows with the history. Clean-up keeps a base while
any plan it keeps references it (core/dnsplan/cleanup.py). A delta whose base is missing,
refused, or itself a delta is refused as a whole: nothing of it is applied.
"""

from __future__ import annotations

from planguard.core.dnsplan.model import Plan
from planguard.core.dnsplan.validate import Problem


def base_problem(delta: Plan, base: Plan | None, base_valid: bool = True) -> Problem | None:
    """Why `delta` cannot be resolved against `base` (the zone's plan of generation
    `delta.base`, None when no such plan exists), or None when it can."""
    g = delta.base
    if g is None:
        return None
    if g >= delta.generation:
        return Problem("InvalidBase", f"base generation {g} is not older than the plan "
                                      f"({delta.generation})")
    if base is None:
        return Problem("BaseMissing", f"base plan of generation {g} does not exist "
                                      "(deleted, or never created)")
    if base.base is not None:
        return Problem("BaseIsDelta", f"base plan of generation {g} is itself a delta on "
                                      f"{base.base}; a base must be a full plan")
    if not base_valid:
        return Problem("BaseNotValid", f"base plan of generation {g} is not valid "
                                       "(refused, or some of its parts are missing)")
    return None


def resolve(delta: Plan, base: Plan) -> Plan:
    """The full plan `delta` stands for: the base's endpoints, each one the delta lists
    replaced by the delta's, in the base's order, then the names the base does not have."""
    changed = {e.name: e for e in delta.endpoints}
    merged = [changed.pop(e.name, e) for e in base.endpoints]
    merged.extend(e for e in delta.endpoints if e.name in changed)
    return Plan(name=delta.name, zone=delta.zone, generation=delta.generation,
                endpoints=tuple(merged), uid=delta.uid, base=delta.base)

