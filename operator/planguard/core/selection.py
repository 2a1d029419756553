"""Which plan of a zone the enactors work towards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from planguard.core.model import Plan, plan_from_object
from planguard.core.validate import Problem, plan_problems


@dataclass(frozen=True)
class Candidate:
    plan: Plan
    problems: tuple[Problem, ...]
    deleting: bool
    obj: Mapping[str, Any]

    @property
    def valid(self) -> bool:
        return not self.problems


def candidate(obj: Mapping[str, Any]) -> Candidate:
    meta = obj.get("metadata") or {}
    try:
        plan = plan_from_object(obj)
        problems = tuple(plan_problems(plan))
    except (KeyError, TypeError, ValueError) as e:
        plan = Plan(name=str(meta.get("name", "")), zone="", generation=0, endpoints=())
        problems = (Problem("Malformed", f"cannot read the plan: {e}"),)
    return Candidate(plan, problems, bool(meta.get("deletionTimestamp")), obj)


def newest_valid(cands: Iterable[Candidate]) -> Candidate | None:
    """The highest generation without problems. A refused newer plan never blocks: the
    newest valid one is applied, and the refused one is reported."""
    best: Candidate | None = None
    for c in cands:
        if c.valid and (best is None or c.plan.generation > best.plan.generation):
            best = c
    return best
