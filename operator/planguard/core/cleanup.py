"""Which plans clean-up may delete, and which must carry the live-plan finalizer.

The rule is the post-mortem's failure turned around: a plan is protected while DNS could
still depend on it. Decisions take the live generations read from the DNS server at
decision time, never from a cache, and the zone fence (see markers.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from planguard.core.enact import reproduces
from planguard.core.model import Plan, ZoneState


@dataclass(frozen=True)
class PlanRef:
    name: str
    generation: int
    deleting: bool = False
    refused: bool = False


def depended_on(state: ZoneState, plans: Iterable[Plan]) -> set[int]:
    """The generations DNS depends on: for each endpoint with a marker, the newest of
    `plans` (valid, existing) between its marker's generation and the fence that asks for
    exactly what it serves; its marker's own generation when none does.

    An enactor writes only what changed, so a plan that changes 1 % of a zone leaves the
    other endpoints' markers on older generations. Counting every marker as live would keep
    every plan that last touched some endpoint, a history that grows with the stream; yet
    the fenced plan reproduces those endpoints exactly, so they depend on it, not on the
    plan that first wrote them. Attributing each endpoint to the newest reproducing plan
    (never to one above the fence) keeps every record explained by a plan that exists.
    Cost: each plan, newest first, is scanned only for endpoints not yet attributed.
    """
    fence = state.fence_generation
    open_ = {n: st for n, st in state.endpoints.items() if st.generation is not None}
    needed: set[int] = set()
    for plan in sorted(plans, key=lambda p: p.generation, reverse=True):
        if not open_:
            break
        if fence is None or plan.generation > fence:
            continue
        for e in plan.endpoints:
            st = open_.get(e.name)
            if st is not None and (st.generation or 0) <= plan.generation and reproduces(e, st):
                needed.add(plan.generation)
                del open_[e.name]
    return needed | {st.generation for st in open_.values() if st.generation is not None}


def protected(generation: int, live: Set[int], fence: int | None) -> bool:
    """True while DNS may depend on the plan: it is live on an endpoint, it is the fenced
    (newest started) generation, or it is newer than the fence and may still be applied."""
    if generation in live:
        return True
    return fence is None or generation >= fence


def superseded(generation: int, live: Set[int], fence: int | None) -> bool:
    return not protected(generation, live, fence)


def select_deletions(
    plans: Iterable[PlanRef], live: Set[int], fence: int | None, keep: int
) -> list[PlanRef]:
    """Plans beyond the newest `keep` that DNS can no longer depend on.

    With no fence in DNS (nothing applied yet, or DNS unreadable upstream of this call)
    nothing is deleted.
    """
    if fence is None:
        return []
    ordered = sorted(plans, key=lambda p: p.generation, reverse=True)
    return [p for p in ordered[max(keep, 1):] if superseded(p.generation, live, fence)]


def needs_finalizer(plan: PlanRef, live: Set[int], fence: int | None) -> bool:
    """The live-plan finalizer stays on every plan DNS may depend on, so `kubectl delete`
    of the live plan waits until it is superseded. A refused plan can never become live."""
    return not plan.refused and protected(plan.generation, live, fence)
