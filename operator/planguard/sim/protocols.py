"""The two protocols as step functions over World.

planguard: read the zone, choose and decide with core.dnsplan.enact.choose (exact-state
compare-and-swap, the zone fence, and the authoring rules of the DNSZone the enactor acts
for: its claim, bounded generations, one content per generation, a re-base), send one
UPDATE per step; clean-up with core.dnsplan.cleanup.select_deletions.

naive (the post-mortem's): a one-time check that the plan is newer than the active plan,
then blind per-endpoint writes that may come much later; after finishing, clean-up deletes
plans "significantly older" than the one just applied, and deleting a plan removes the
records of endpoints it is live on. With the active plan gone, no enactor can apply.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from planguard.core.contract import (
    ALLOW_JUMP_ANNOTATION,
    APPROVE_ANNOTATION,
    LIVE_PLAN_FINALIZER,
)
from planguard.core.dnsplan import authoring
from planguard.core.dnsplan.authoring import Consent
from planguard.core.dnsplan.cas import WriteOutcome
from planguard.core.dnsplan.cleanup import PlanRef, depended_on, select_deletions
from planguard.core.dnsplan.enact import UpdateStep, Verdict
from planguard.core.dnsplan.enactment import Reads, decide_round
from planguard.core.dnsplan.markers import marker_text
from planguard.core.dnsplan.model import EndpointState, Plan
from planguard.core.dnsplan.selection import Candidate, newest_valid
from planguard.sim.world import TEAM, Dns, World

NAIVE_SIGNIFICANTLY_OLDER = 2  # generations
MAX_RECORDS = 6  # per UPDATE: one endpoint's write each, so the fence rides on one of them


class Protocol_(Protocol):
    name: str

    # How many of an enactor's pending writes may be delivered next: 1 keeps them in order;
    # planguard pipelines its UPDATEs, so the server may take any one in flight.
    def in_flight(self, pending: tuple[object, ...]) -> int: ...
    def read(self, w: World, who: str) -> tuple[World, str]: ...
    def reuse(self, w: World, who: str) -> tuple[World, str]: ...
    def send(self, w: World, who: str, index: int = 0) -> tuple[World, str]: ...
    def cleanup(self, w: World, who: str, keep: int) -> tuple[World, str]: ...


def candidate(plan: Plan, consent: Consent, w: World | None = None) -> Candidate:
    """A plan as the enactor's selection hands it over: valid, its consent in annotations
    (read back by core/dnsplan/authoring.consent_of, as from real DNSPlan objects), and,
    once a user deleted it or its base (World.withdrawn), the deletionTimestamp and the
    live-plan finalizer the objects carry."""
    notes = [{ALLOW_JUMP_ANNOTATION: "true"}] if consent.allow_jump else []
    notes += [{APPROVE_ANNOTATION: d} for d in sorted(consent.approved)]
    objs = tuple({"metadata": {"annotations": n}} for n in notes)
    if w is None:  # the rival's plans: never deleted
        return Candidate(plan, (), False, objs)
    return Candidate(plan, (), plan.generation in w.withdrawn,
                     (*objs, *_deletion(w, plan.generation)),
                     base_objs=_deletion(w, plan.base) if plan.base is not None else ())


def _deletion(w: World, g: int) -> tuple[dict[str, object], ...]:
    """Plan `g`'s object as far as its deletion goes: nothing, or a deletionTimestamp (with
    the live-plan finalizer when the clean-up held it)."""
    if g not in w.withdrawn:
        return ()
    return ({"metadata": {"deletionTimestamp": "2026-12-07T00:00:00Z",
                          "finalizers": [LIVE_PLAN_FINALIZER] if g in w.held else []}},)


def _newest_existing(w: World) -> int:
    ex = w.existing()
    return ex[-1] if ex else 0


class Planguard:
    name = "planguard"
    lua: str | None = None  # the server's weighted answers (PowerDNS), see WeightedPlanguard

    def read(self, w: World, who: str) -> tuple[World, str]:
        """A zone transfer, then the enactor's own round (core/dnsplan/enactment)."""
        return self._round(w, who, w.dns, "read DNS")

    def reuse(self, w: World, who: str) -> tuple[World, str]:
        """A round decided from the enactor's cached snapshot (its last read plus its own
        writes) instead of a transfer, as the real one does while the snapshot is young or
        the SOA serial is its own. The checker offers it at any age: every clock."""
        e = w.enactor(who)
        if e.snapshot is None or e.pending:
            return w, "no snapshot to reuse"
        return self._round(w, who, e.snapshot, "reused its snapshot")

    def _round(self, w: World, who: str, seen: Dns, how: str) -> tuple[World, str]:
        # core/selection's candidates (deltas resolved), then the enactor's own choice: the
        # newest plan no authoring rule refuses for its own generation.
        e = w.enactor(who)
        cands = [candidate(p, c, w if e.owner == TEAM else None) for p, c in w.plans_of(e.owner)]
        newest = newest_valid(cands)
        if newest is None:
            return w, "no plan to apply"
        r = decide_round(cands, newest.plan, seen.snapshot(), who, self.lua,
                         w.authority(e.owner), (), None, MAX_RECORDS)
        refused = "".join(f"; plan {c.plan.generation} refused ({d.problems[0].reason})"
                          for c, d in r.choice.refused)
        d = r.choice.decision
        idle = replace(e, plan=0, pending=(), snapshot=seen)
        if d is None:
            return w.with_enactor(idle), "no plan to apply" + refused
        g = d.generation
        if d.verdict is not Verdict.APPLY:  # superseded, refused (the zone's claim), held
            why = "".join(f"{p.reason}: " for p in d.problems[:1]) + d.reasons[0]
            return w.with_enactor(idle), \
                f"{how}: plan {g} {d.verdict.value} ({why}){refused}; nothing to write"
        if r.ended is not None:
            return w.with_enactor(idle), f"{how}: plan {g} {r.ended.value}"
        names = ", ".join(x.name for s in r.steps for x in s.writes) or "fence only"
        return w.with_enactor(replace(idle, plan=g, pending=r.steps)), \
            f"{how}, decided plan {g}: {len(r.steps)} UPDATE(s) for {names}{refused}"

    @staticmethod
    def in_flight(pending: tuple[object, ...]) -> int:
        return len(pending)

    def send(self, w: World, who: str, index: int = 0) -> tuple[World, str]:
        """The server takes one of the UPDATEs in flight. Each is its own compare-and-swap:
        one that is refused is dropped alone (the enactor re-reads once all have answered);
        the others still arrive and are judged on their own prerequisites. The answer
        updates the enactor's snapshot as it does the real one's (Reads.answered)."""
        e = w.enactor(who)
        if not e.pending:
            return w, "nothing to send"
        step = e.pending[index]
        assert isinstance(step, UpdateStep)
        rest = e.pending[:index] + e.pending[index + 1:]
        dns = w.dns.cas(step)
        outcome = WriteOutcome.CONFLICT if dns is None else WriteOutcome.APPLIED
        if dns is not None and e.snapshot == w.dns:  # the same answer, without a second apply
            snapshot: Dns | None = dns
        else:
            known = Reads(e.snapshot.snapshot() if e.snapshot else None).answered(
                step, outcome, lua=True)
            snapshot = None if known.snapshot is None else Dns.of(known.snapshot)
        done = replace(e, plan=e.plan if rest else 0, pending=rest,
                       applied=e.applied if rest else e.plan, snapshot=snapshot)
        if dns is None:
            return w.with_enactor(done), \
                f"UPDATE for plan {e.plan} refused (NXRRSET: DNS changed since read); will re-read"
        names = ", ".join(x.name for x in step.writes) or "fence"
        return replace(w, dns=dns).with_enactor(done), f"UPDATE applied: plan {e.plan} -> {names}"

    def cleanup(self, w: World, who: str, keep: int) -> tuple[World, str]:
        # Whoever invokes it, the decision reads DNS now: the fence and every live generation.
        snap = w.dns.snapshot()
        # The team's clean-up (world.py: the plans in w.plans are the team's). A zone another
        # owner claimed says nothing about the team's plans: delete nothing (roles/cleanup).
        if authoring.claim_problem(snap, w.authority(TEAM)) is not None:
            return w, "clean-up: the zone is claimed by another owner; nothing deleted"
        refs = [PlanRef(f"p{g}", g, g in w.withdrawn, refused=w.resolved(g) is None,
                        base=w.plans[g].base) for g in w.existing()]
        live = depended_on(snap, (p for g in w.existing() if (p := w.resolved(g))), self.lua)
        gone = {r.generation for r in select_deletions(refs, live, snap.fence_generation, keep)}
        if not gone:
            return w, "clean-up: nothing to delete"
        return replace(w, deleted=w.deleted | gone), \
            f"clean-up deleted plans {sorted(gone)} (DNS unchanged)"


class Naive:
    name = "naive"

    def read(self, w: World, who: str) -> tuple[World, str]:
        e = w.enactor(who)
        broken = [st for st in w.dns.endpoints if st.generation in w.deleted]
        if broken:
            # A transaction replaces the current plan's records: with that plan deleted, the
            # enactor cannot build it. The post-mortem's state that needed manual repair.
            st = broken[0]
            return w, (f"cannot start: plan {st.generation}, live on {st.name}, is gone "
                       "(inconsistent state: no transaction can be built)")
        g = _newest_existing(w)
        if not g or g <= w.dns.active:
            return w, f"one-time check: plan {g} is not newer than active {w.dns.active}"
        pending = (*(ep.name for ep in w.plans[g].endpoints), "<done>")
        return w.with_enactor(replace(e, plan=g, pending=pending)), \
            f"one-time check passed: plan {g} newer than active {w.dns.active}; starting"

    @staticmethod
    def in_flight(pending: tuple[object, ...]) -> int:
        return 1  # blind writes, one after another

    @staticmethod
    def reuse(w: World, who: str) -> tuple[World, str]:
        return w, "its one-time check is all it reads"

    def send(self, w: World, who: str, index: int = 0) -> tuple[World, str]:
        e = w.enactor(who)
        if not e.pending:
            return w, "nothing to send"
        what, rest = e.pending[0], e.pending[1:]
        plan = w.plans[e.plan]
        if what == "<done>":
            dns = replace(w.dns, active=e.plan)
            w2 = replace(w, dns=dns).with_enactor(
                replace(e, plan=0, pending=(), applied=e.plan))
            return w2, f"finished plan {e.plan}; active := {e.plan}"
        ep = plan.endpoint(str(what))
        assert ep is not None
        v4, v6 = ep.published
        dns = w.dns.with_endpoint(EndpointState(
            name=ep.name, marker=marker_text(e.plan, plan.name, who), generation=e.plan,
            a=v4, aaaa=v6, ttl=ep.ttl))
        return replace(w, dns=dns).with_enactor(replace(e, pending=rest)), \
            f"blind write: {ep.name} := plan {e.plan}"

    def cleanup(self, w: World, who: str, keep: int) -> tuple[World, str]:
        # "identifies plans that are significantly older than the one it just applied"
        just_applied = w.enactor(who).applied
        old = {g for g in w.existing() if g < just_applied - NAIVE_SIGNIFICANTLY_OLDER}
        return self._delete(w, old)

    @staticmethod
    def _delete(w: World, gens: set[int]) -> tuple[World, str]:
        if not gens:
            return w, "clean-up: nothing significantly older"
        dns = w.dns
        emptied = []
        for st in w.dns.endpoints:
            if st.generation in gens:  # deleting a plan removes the records it is live on
                dns = dns.with_endpoint(replace(st, a=frozenset(), aaaa=frozenset()))
                emptied.append(st.name)
        msg = f"clean-up deleted plans {sorted(gens)}"
        if emptied:
            msg += f"; records of {', '.join(emptied)} removed with them"
        return replace(w, deleted=w.deleted | gens, dns=dns), msg


class WeightedPlanguard(Planguard):
    """planguard on a server with weighted answers (PowerDNS LUA records). The records are
    one more opaque value in the exact compare of the same UPDATE, so the checker explores
    the same interleavings and must reach the same verdict (tests/unit/test_sim.py)."""

    name = "planguard-weighted"
    lua = "pickwrandom"


PROTOCOLS: dict[str, Protocol_] = {
    "planguard": Planguard(), "planguard-weighted": WeightedPlanguard(), "naive": Naive()}
