"""The enactor's decision: which endpoint writes bring DNS to a plan, and under which fence.

The compare-and-swap itself happens on the DNS server; this module only chooses what to
compare against (the exact state just read) and what to write. It never compares with
anything read earlier than the snapshot it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from planguard.core import weights
from planguard.core.markers import fence_text, generation_of, marker_text
from planguard.core.model import Endpoint, EndpointState, Plan, ZoneState


class Verdict(Enum):
    APPLY = "apply"  # writes to send (possibly none: already converged)
    SUPERSEDED = "superseded"  # DNS is fenced at a newer generation: this plan may never write


@dataclass(frozen=True)
class EndpointWrite:
    """Replace one endpoint's records and marker, only if DNS still holds `expect` exactly."""

    expect: EndpointState
    a: frozenset[str]
    aaaa: frozenset[str]
    ttl: int
    marker: str
    kind: str  # "create", "update", "remove", "repair", "adopt" (right records, no marker)
    lua: frozenset[bytes] = frozenset()  # weighted records to write (then a, aaaa are empty)

    @property
    def name(self) -> str:
        return self.expect.name

    @property
    def record_count(self) -> int:
        return (len(self.a) + len(self.aaaa) + len(self.lua) + len(self.expect.a)
                + len(self.expect.aaaa) + len(self.expect.lua) + 2)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    generation: int
    fence_expect: str | None = None  # exact fence text read (None: absent)
    fence_new: str | None = None  # set when this plan must raise the fence first
    writes: tuple[EndpointWrite, ...] = ()
    newer: tuple[str, ...] = ()  # endpoints already at a newer generation: left alone
    orphans: tuple[str, ...] = ()  # managed endpoints the plan does not mention: left alone
    unchanged: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def fence_after(self) -> str | None:
        return self.fence_new if self.fence_new is not None else self.fence_expect


def served(e: Endpoint, lua: str | None) -> tuple[frozenset[str], frozenset[str], frozenset[bytes]]:
    """(A, AAAA, LUA) records that serve `e`: plain address sets on a server without
    weights; with `lua` (a PowerDNS selector, see weights.py) LUA records only, since a
    plain set beside them would be served too and undo the weights."""
    if e.remove:
        return frozenset(), frozenset(), frozenset()
    if lua is None:
        v4, v6 = e.published
        return v4, v6, frozenset()
    return frozenset(), frozenset(), weights.records(lua, e)


def reproduces(e: Endpoint, st: EndpointState, lua: str | None = None) -> bool:
    """True when what DNS holds for the name is exactly what `e` asks for (with `lua`,
    weights included)."""
    if e.remove:
        return st.empty
    v4, v6, w = served(e, lua)
    return st.a == v4 and st.aaaa == v6 and st.lua == w and (st.empty or st.ttl == e.ttl)


def decide(plan: Plan, state: ZoneState, writer: str, lua: str | None = None) -> Decision:
    """Brings every endpoint of `plan` to it, given a snapshot `state` read from the primary.
    `lua`: the server serves weights, through LUA records with this selector."""
    g = plan.generation
    fence = state.fence_generation
    if fence is not None and fence > g:
        return Decision(
            Verdict.SUPERSEDED, g, fence_expect=state.fence,
            reasons=[f"zone fenced at generation {fence}, newer than {g}"],
        )
    fence_new = None if fence == g else fence_text(g, writer)
    writes: list[EndpointWrite] = []
    newer: list[str] = []
    unchanged = 0
    for e in plan.endpoints:
        st = state.endpoint(e.name)
        cur = st.generation
        if cur is not None and cur > g:
            newer.append(e.name)
            continue
        records_ok = reproduces(e, st, lua)
        if records_ok and (st.marker is not None or e.remove):
            # Only changed endpoints are written: the zone fence, not this marker, is what
            # stops an older plan, so an endpoint that already serves the plan stays as is.
            unchanged += 1
            continue
        if e.remove:
            kind = "remove"
        elif cur == g:
            kind = "repair"  # someone edited the records behind the marker's back
        elif st.marker is None:
            kind = "adopt" if records_ok else "create"
        else:
            kind = "update"
        v4, v6, w = served(e, lua)
        writes.append(EndpointWrite(
            expect=st, a=v4, aaaa=v6, ttl=e.ttl,
            marker=marker_text(g, plan.name, writer, removed=e.remove), kind=kind, lua=w,
        ))
    planned = {e.name for e in plan.endpoints}
    orphans = tuple(sorted(
        n for n, st in state.endpoints.items()
        if st.marker is not None and not st.empty and n not in planned
    ))
    return Decision(
        Verdict.APPLY, g, fence_expect=state.fence, fence_new=fence_new, writes=tuple(writes),
        newer=tuple(newer), orphans=orphans, unchanged=unchanged,
    )


def batches(writes: tuple[EndpointWrite, ...], max_records: int) -> list[list[EndpointWrite]]:
    """Groups writes into UPDATE messages of at most `max_records` records (prerequisites
    included), keeping each message well inside DNS's 64 KiB TCP message limit."""
    out: list[list[EndpointWrite]] = []
    cur: list[EndpointWrite] = []
    size = 0
    for w in writes:
        n = w.record_count
        if cur and size + n > max_records:
            out.append(cur)
            cur, size = [], 0
        cur.append(w)
        size += n
    if cur:
        out.append(cur)
    return out


@dataclass(frozen=True)
class UpdateStep:
    """One UPDATE message: its endpoint writes and the fence it requires (and maybe raises)."""

    writes: tuple[EndpointWrite, ...]
    fence_expect: str | None
    fence_new: str | None


def update_steps(d: Decision, max_records: int, start: int = 0) -> list[UpdateStep]:
    """The UPDATEs that carry out `d`, in order. The first raises the fence when needed;
    every later one requires the fence the first left behind, so a newer plan started by
    anyone in between makes them fail rather than write over it.

    `start` rotates the order of the writes: enactors racing on one plan that begin at
    different points of it mostly write disjoint endpoints instead of colliding on the
    same ones. Each UPDATE is its own compare-and-swap, so any order is equally safe."""
    if d.verdict is not Verdict.APPLY or (not d.writes and d.fence_new is None):
        return []
    steps = []
    expect, new = d.fence_expect, d.fence_new
    k = start % len(d.writes) if d.writes else 0
    writes = d.writes[k:] + d.writes[:k]
    for b in batches(writes, max_records) or [[]]:
        steps.append(UpdateStep(tuple(b), expect, new))
        expect, new = d.fence_after, None
    return steps


def after(state: ZoneState, step: UpdateStep) -> ZoneState:
    """The zone as it is once `step` has been applied (the server said NOERROR)."""
    endpoints = dict(state.endpoints)
    for w in step.writes:
        endpoints[w.name] = EndpointState(
            name=w.name, marker=w.marker, generation=generation_of(w.marker),
            a=w.a, aaaa=w.aaaa, ttl=w.ttl if (w.a or w.aaaa or w.lua) else None, lua=w.lua,
        )
    fence = step.fence_new if step.fence_new is not None else state.fence
    return ZoneState(fence=fence, fence_generation=generation_of(fence), endpoints=endpoints)


def prerequisites_hold(state: ZoneState, step: UpdateStep) -> bool:
    """Whether an RFC 2136 server holding `state` accepts `step`: the exact fence, and per
    endpoint the exact marker and records (LUA included) it expects. One fails and the
    whole message is refused. The DNS server checks this for the real providers; the
    in-memory servers of the tests, the replay and the model checker check it here."""
    if state.fence != step.fence_expect:
        return False
    for w in step.writes:
        cur, exp = state.endpoints.get(w.name) or EndpointState(w.name), w.expect
        if (cur.marker, cur.a, cur.aaaa, cur.lua) != (exp.marker, exp.a, exp.aaaa, exp.lua):
            return False
    return True
