"""The enactor's decision: which endpoint writes bring DNS to a plan, and under which fence.

The compare-and-swap itself happens on the DNS server; this module only chooses what to
compare against (the exact state just read) and what to write. It never compares with
anything read earlier than the snapshot it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from planguard.core.dnsplan import authoring, weights
from planguard.core.dnsplan.authoring import Authority, Consent
from planguard.core.dnsplan.markers import fence_text, marker_text
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem

NO_CONSENT = Consent()
# What counts against a zone's change guard: records that serve now and would change.
_GUARDED = frozenset({"update", "remove"})


class Verdict(Enum):
    APPLY = "apply"  # writes to send (possibly none: already converged)
    SUPERSEDED = "superseded"  # DNS is fenced at a newer generation: this plan may never write
    REFUSED = "refused"  # an authoring rule forbids it (another owner, a generation's use)
    HELD = "held"  # too large a change: waits for an approval of exactly this content


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
    # Why the plan is refused or held (REFUSED, HELD); endpoints refused alone (APPLY:
    # the plan's other endpoints are written).
    problems: tuple[Problem, ...] = ()
    refused: tuple[Problem, ...] = ()

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


def decide(plan: Plan, state: ZoneState, writer: str, lua: str | None = None,
           auth: Authority | None = None, consent: Consent = NO_CONSENT,
           floor: int | None = None) -> Decision:
    """Brings every endpoint of `plan` to it, given a snapshot `state` read from the primary.
    `lua`: the server serves weights, through LUA records with this selector. `auth`: the
    zone owner's rules (core/dnsplan/authoring.py; None: none, as in the simulator), `consent`:
    what the plan's objects say about themselves (approvals, a deliberate jump); `floor`:
    what its generation may jump from (authoring.floor_of; default from the fence only)."""
    g = plan.generation
    fence = state.fence_generation
    if auth is not None:
        why = authoring.claim_problem(state, auth) or authoring.generation_problem(
            plan, plan.digest, state, auth, consent, floor)
        if why is not None:
            return Decision(Verdict.REFUSED, g, fence_expect=state.fence,
                            reasons=[why.message], problems=(why,))
    rebase = auth is not None and authoring.rebases(plan, state, auth)
    if fence is not None and fence > g and not rebase:
        return Decision(
            Verdict.SUPERSEDED, g, fence_expect=state.fence,
            reasons=[f"zone fenced at generation {fence}, newer than {g}"],
        )
    fence_new = None
    if fence != g or (auth is not None and authoring.claims_anew(state, auth)):
        fence_new = fence_text(g, writer) if auth is None else \
            fence_text(g, writer, auth.owner, plan.digest)
    refusals = authoring.endpoint_refusals(plan, state, auth) if auth is not None else {}
    writes: list[EndpointWrite] = []
    newer: list[str] = []
    unchanged = 0
    for e in plan.endpoints:
        if e.name in refusals:
            continue
        st = state.endpoint(e.name)
        cur = st.generation
        # No write of the protocol puts a marker above the fence: one there predates a
        # re-base of the fence and is overwritten, never obeyed.
        if cur is not None and cur > g and not rebase and (fence is None or cur <= fence):
            newer.append(e.name)
            continue
        records_ok = reproduces(e, st, lua)
        if records_ok and (st.marker is not None or e.remove) and (cur is None or cur <= g):
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
    refused = tuple(refusals.values())
    if auth is not None and auth.guard is not None and plan.digest not in consent.approved:
        changed = sum(1 for w in writes if w.kind in _GUARDED and not w.expect.empty)
        # Counting the zone's managed endpoints is a pass over the zone: only when it can
        # matter (nothing changed holds nothing).
        managed = sum(1 for st in state.endpoints.values()
                      if st.marker is not None and not st.empty) if changed else 0
        if changed and auth.guard.holds(changed, managed):
            why = Problem("Held", (
                f"would change or remove {authoring.change_share(changed, managed)}, more "
                f"than the zone's spec.changeGuard.maxChangePercent ({auth.guard.percent} %); "
                f"nothing is written until exactly this content is approved: planguard "
                f"approve {plan.name} (digest {plan.digest})"))
            return Decision(Verdict.HELD, g, fence_expect=state.fence,
                            reasons=[why.message], problems=(why,), refused=refused)
    return Decision(
        Verdict.APPLY, g, fence_expect=state.fence, fence_new=fence_new, writes=tuple(writes),
        newer=tuple(newer), orphans=orphans, unchanged=unchanged, refused=refused,
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


@dataclass(frozen=True)
class Choice:
    """Which plan of a zone to bring DNS to, from one snapshot: the newest valid plan
    that no authoring rule refuses. Newer plans refused for their own generation
    (`refused`) never block an older good one; a zone claimed by another owner or a held
    plan stops the choice (nothing older is applied behind a person's back)."""

    candidate: Candidate | None
    decision: Decision | None
    refused: tuple[tuple[Candidate, Decision], ...] = ()


def choose(cands: Iterable[Candidate], state: ZoneState, writer: str, lua: str | None,
           auth: Authority | None) -> Choice:
    refused: list[tuple[Candidate, Decision]] = []
    valid = sorted((c for c in cands if c.valid), key=lambda c: c.plan.generation)
    consents = [authoring.consent_of(c.objs) for c in valid]
    floors: list[int] = []
    accepted = 0  # the newest older plan that was itself within bounds
    for c, consent in zip(valid, consents, strict=True):
        g = c.plan.generation
        floors.append(authoring.floor_of(g, state.fence_generation, accepted))
        if auth is None or g - floors[-1] <= auth.max_jump or consent.allow_jump:
            accepted = g
    for c, consent, floor in reversed(list(zip(valid, consents, floors, strict=True))):
        d = decide(c.plan, state, writer, lua, auth, consent, floor)
        if d.verdict is Verdict.REFUSED and d.problems[0].reason != "ZoneClaimed":
            refused.append((c, d))
            continue
        return Choice(c, d, tuple(refused))
    return Choice(None, None, tuple(refused))
