"""Which plans clean-up may delete, and which must carry the live-plan finalizer.

The rule is the post-mortem's failure turned around: a plan is protected while DNS could
still depend on it. Decisions take the live generations read from the DNS server at
decision time, never from a cache, and the zone fence (see markers.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass


@dataclass(frozen=True)
class PlanRef:
    name: str
    generation: int
    deleting: bool = False
    refused: bool = False


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
