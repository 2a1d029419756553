"""Which plans clean-up may delete, and which must carry the live-plan finalizer.

The rule is the post-mortem's failure turned around: a plan is protected while DNS could
still depend on it. Decisions take the live generations read from the DNS server at
decision time, never from a cache, and the zone fence (see markers.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from enum import Enum

from planguard.core.dnsplan import authoring
from planguard.core.dnsplan.enact import Choice, reproduces
from planguard.core.dnsplan.model import Plan, ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem


@dataclass(frozen=True)
class PlanRef:
    name: str
    generation: int
    deleting: bool = False
    refused: bool = False
    base: int | None = None  # a delta plan's base generation (core/dnsplan/deltas.py)


def ref(c: Candidate) -> PlanRef:
    return PlanRef(c.plan.name, c.plan.generation, c.deleting, bool(c.problems), c.plan.base)


def deletions(cands: Sequence[Candidate], state: ZoneState | None, live: Set[int], keep: int,
              acting: bool) -> list[Candidate]:
    """The plans clean-up deletes this cycle: none unless DNS was read and the DNSZone may
    act (not paused, not blocked); else those select_deletions picks."""
    if state is None or not acting:
        return []
    by_name = {c.plan.name: c for c in cands}
    return [by_name[r.name] for r in select_deletions(
        (ref(c) for c in cands), live, state.fence_generation, keep)]


def blocked(zone: str, first_claimant: tuple[str, str] | None,
            choice: Choice) -> Problem | None:
    """Why a DNSZone may not act on its DNS zone at all (then clean-up deletes nothing:
    the fence it reads is not its): an older DNSZone names the same zone (`first_claimant`,
    authoring.first_claimants), or the zone's claim in DNS names another owner."""
    if first_claimant is not None:
        return authoring.rival_problem(authoring.normal_zone(zone), first_claimant)
    d = choice.decision
    if d is not None and d.problems and d.problems[0].reason == "ZoneClaimed":
        return d.problems[0]
    return None


def depended_on(state: ZoneState, plans: Iterable[Plan], lua: str | None = None) -> set[int]:
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
    `lua`: the server serves weights (enact.reproduces), so a plan must match them too.
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
            if st is not None and (st.generation or 0) <= plan.generation \
                    and reproduces(e, st, lua):
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

    A plan that a kept plan names as its base is kept with it: a delta can only be applied,
    and read by clean-up as what DNS serves, while its base exists.
    """
    if fence is None:
        return []
    ordered = sorted(plans, key=lambda p: p.generation, reverse=True)
    cut = max(keep, 1)
    gone = [p for p in ordered[cut:] if superseded(p.generation, live, fence)]
    # A rescued base is kept, so its own base (an invalid chain, but one clean-up must not
    # break further) is rescued too: repeat until nothing more is rescued.
    while True:
        names = {p.name for p in gone}
        needed = {p.base for p in ordered if p.name not in names and p.base is not None}
        rest = [p for p in gone if p.generation not in needed]
        if len(rest) == len(gone):
            return rest
        gone = rest


class Finalizer(Enum):
    """What clean-up does with a plan's live-plan finalizer this cycle."""

    HOLD = "hold"  # DNS depends on the plan now: put it on (or keep it)
    RELEASE = "release"  # DNS can no longer depend on it: take it off
    LEAVE = "leave"  # newer than the fence: not in DNS yet, but it may enter any moment


def in_dns(generation: int, live: Set[int], fence: int | None) -> bool:
    """DNS depends on the plan now: it is live on an endpoint or the fenced generation."""
    return generation in live or generation == fence


def pending(generation: int, live: Set[int], fence: int | None) -> bool:
    """Not in DNS yet but may still enter it: newer than the fence (or nothing fenced)."""
    return not in_dns(generation, live, fence) and (fence is None or generation > fence)


def _young(age: float, cycle: float) -> bool:
    """Created less than a clean-up cycle ago; an unknown or skewed age (< 0) is not."""
    return 0 <= age < cycle


def finalizer_action(plan: PlanRef, live: Set[int], fence: int | None,
                     bases: Set[int] = frozenset(), age: float = -1.0,
                     cycle: float = 0.0) -> Finalizer:
    """Clean-up alone writes the live-plan finalizer: on every plan DNS depends on, so
    `kubectl delete` of the live plan waits until it is superseded, and on the base of
    every such plan (`bases`: see bases_in_dns).

    Not on a plan created less than a cycle ago (`age` and `cycle` in seconds; an unknown
    age, -1, never defers): most such plans are superseded within moments, and the add and
    the release are two writes of a large object each. So finalizer writes follow
    clean-up's cycles, not the rate of plans. Until then a `kubectl delete` of the live
    plan goes through at once; that changes no DNS (an enactor never needs the plan
    object, and clean-up counts the generation live from DNS itself).

    Nor is it added to or taken off a plan newer than the fence: not in DNS yet, but an
    enactor may be applying it as clean-up decides from its earlier read of DNS. A refused
    plan can never become live."""
    g = plan.generation
    if plan.refused:
        return Finalizer.RELEASE
    if g in bases:
        return Finalizer.HOLD
    if in_dns(g, live, fence):
        return Finalizer.LEAVE if _young(age, cycle) else Finalizer.HOLD
    if pending(g, live, fence):
        return Finalizer.LEAVE
    return Finalizer.RELEASE


def bases_in_dns(plans: Iterable[PlanRef], live: Set[int], fence: int | None) -> set[int]:
    """The base generations of the delta plans DNS depends on now."""
    return {p.base for p in plans if p.base is not None and not p.refused
            and in_dns(p.generation, live, fence)}


def status_deferred(generation: int, live: Set[int], fence: int | None, age: float,
                    cycle: float, settle: float = 0.0, stream_age: float = -1.0,
                    hold: float = 0.0) -> bool:
    """No status yet for a valid plan while its zone's plans keep coming: a plan new to
    the zone arrived `stream_age` seconds ago, less than `settle`, and this plan is younger
    than `hold` (never below `settle`). A plan alone is written
    once it is `settle` old; in a burst a plan waits until the burst pauses, and one that
    clean-up deletes before then (beyond `keep`, superseded) is never written at all. Live
    then Superseded would be two writes where one says what stays true, and each status
    write of a large plan costs the API server about as much as its create; `hold` bounds
    how long a plan of an endless stream goes without one.
    Nor for one newer than the fence created less than a clean-up cycle ago: an enactor
    applies most plans within that time, and the first status the plan gets is then Live
    (or, in a burst, Superseded). An unknown or skewed age (-1) defers nothing. Refusals
    are never deferred (the caller writes them at once)."""
    return (_young(age, settle) or _streaming(age, settle, stream_age, hold)
            or (pending(generation, live, fence) and _young(age, cycle)))


def _streaming(age: float, settle: float, stream_age: float, hold: float) -> bool:
    return _young(stream_age, settle) and _young(age, max(hold, settle))


def settle_wait(age: float, settle: float, stream_age: float = -1.0,
                hold: float = 0.0) -> float | None:
    """Seconds until status_deferred's settling ends for this plan if no newer plan comes
    (the stream pauses, or the plan reaches `hold` or `settle`), so its status is written
    then rather than at the next timed cycle; None once nothing defers it."""
    due = []
    if _young(age, settle):
        due.append(settle - age)
    if _streaming(age, settle, stream_age, hold):
        due.append(min(settle - stream_age, max(hold, settle) - age))
    return max(max(due), 0.05) if due else None
