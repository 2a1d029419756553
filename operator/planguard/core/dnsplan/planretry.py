"""A pool whose plan was refused (by the API server, or by the enactors' own plan rules)
or could not be written: the planner stops writing for it and tries again after a capped
exponential backoff, or at once when the pool's spec changes, instead of every tick."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from planguard.core.dnsplan.selection import Candidate

BASE_SECONDS = 2.0
CAP_SECONDS = 300.0


@dataclass(frozen=True)
class Refused:
    reason: str  # PlanRefused, PlanInvalid, PlanFailed
    message: str
    failures: int
    retry_at: float
    spec_generation: int | None  # the pool's metadata.generation it failed with


def after_failure(prev: Refused | None, reason: str, message: str, now: float,
                  spec_generation: int | None, base: float = BASE_SECONDS,
                  cap: float = CAP_SECONDS) -> Refused:
    """The next backoff: doubled for each failure in a row of the same pool spec."""
    n = prev.failures + 1 if prev is not None and prev.spec_generation == spec_generation \
        else 1
    return Refused(reason, message, n, now + min(cap, base * 2 ** min(n - 1, 30)),
                   spec_generation)


def may_write(r: Refused | None, now: float, spec_generation: int | None) -> bool:
    """A plan may be written: nothing failed, the backoff ran out, or the spec changed."""
    return r is None or r.spec_generation != spec_generation or now >= r.retry_at


def refused_by_rules(cands: Iterable[Candidate], generation: int) -> str | None:
    """Why the plan of `generation` (the one this planner wrote) is refused by the plan
    rules the enactors apply (core/dnsplan/validate.py), or None while it is not."""
    for c in cands:
        if c.plan.generation == generation and c.complete and c.problems:
            return f"plan {c.plan.name} is refused by the enactors: " + "; ".join(
                p.message for p in c.problems[:3])
    return None
