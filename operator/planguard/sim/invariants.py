"""What must hold in every state and on every transition, for any protocol.

With owners (core/dnsplan/authoring.py), three more, stated for every owner alike:
- the claim: once the fence names an owner, no write by an enactor acting for another
  owner lands (unless that owner's DNSZone names the claim in adopt-from);
- the fence: one that names an owner carries a generation and digest of a plan that owner
  created and meant (never a typo, never another content under the same generation, never
  above the CRDs' maximum), and it goes back only by a re-base naming exactly the fence
  it lowers;
- newest applies: a lone enactor of the team's, under the team's rules, brings DNS to the
  team's newest plan; where another owner claimed the zone first, after the documented
  hand-over (adopt-from that owner, plus re-base when its fence is above the plan).
"""

from __future__ import annotations

import re
from dataclasses import replace

from planguard.core.dnsplan.authoring import MAX_GENERATION, digest_of, owner_of
from planguard.core.dnsplan.enact import UpdateStep, reproduces, served
from planguard.core.dnsplan.markers import generation_of
from planguard.core.dnsplan.model import Endpoint, EndpointState
from planguard.core.dnsplan.weights import selector_of
from planguard.sim.protocols import Protocol_
from planguard.sim.world import TEAM, Enactor, World

_BY = re.compile(r"(?:^|[\s\"])by=([^\s\"]+)")


def _by(text: str | None) -> str | None:
    """Which enactor signed a marker or fence."""
    m = _BY.search(text or "")
    return m.group(1) if m else None


def transition_violations(before: World, after: World) -> list[str]:
    out = []
    fence = generation_of(after.dns.fence)
    for st in after.dns.endpoints:
        prev = before.dns.endpoint(st.name)
        # A marker above the fence in force predates a re-base of the fence (only a re-base
        # or a legacy writer leaves one): it is overwritten, so it goes back.
        rebased = fence is not None and (prev.generation or 0) > fence
        if (st.generation or 0) < (prev.generation or 0) and not rebased:
            out.append(f"generation of {st.name} went back from {prev.generation} "
                       f"to {st.generation}")
    return out + claim_violations(before, after) + fence_regressions(before, after) + \
        withdrawal_violations(before, after)


def withdrawal_violations(before: World, after: World) -> list[str]:
    """No enactor decides, after a plan's deletion began, to make it live: only a decision
    taken before (the race docs/explanation/protocol.md documents) may still carry it into
    the fence."""
    out = []
    for e in after.enactors:
        g = e.plan
        if not e.pending or g not in after.withdrawn or g in after.held:
            continue
        was = before.enactor(e.name)
        if was.pending and was.plan == g:
            continue  # decided earlier: still sending
        if any(isinstance(s, UpdateStep) and generation_of(s.fence_new) == g
               for s in e.pending):
            out.append(f"{e.name} decided to make plan {g} live after a user deleted it")
    return out


def claim_violations(before: World, after: World) -> list[str]:
    """Once the fence names an owner, only that owner's enactors (or an heir's naming it
    in adopt-from) change the zone: no endpoint, no fence written by anyone else lands."""
    held = owner_of(before.dns.fence)
    if held is None:
        return []
    changed = [("the fence", after.dns.fence)] if after.dns.fence != before.dns.fence else []
    changed += [(st.name, st.marker) for st in after.dns.endpoints
                if st != before.dns.endpoint(st.name)]
    out = []
    for what, text in changed:
        writer = _by(text)
        owner = after.owner_of_writer(writer)
        if owner == held or (owner is not None and after.authority(owner).adopt_from == held):
            continue
        out.append(f"{writer} (acting for {owner}) wrote {what} of a zone claimed by {held}")
    return out


def fence_regressions(before: World, after: World) -> list[str]:
    """The fence goes back only by a re-base that names exactly the fence it lowers."""
    was, now = generation_of(before.dns.fence), generation_of(after.dns.fence)
    if was is None or now is None or now >= was:
        return []
    owner = after.owner_of_writer(_by(after.dns.fence))
    if owner is not None and after.authority(owner).rebase_from == was:
        return []
    return [f"the fence went back from {was} to {now} without a re-base naming {was}"]


def state_violations(w: World) -> list[str]:
    out = []
    for st in w.dns.endpoints:
        if st.marker is not None and st.empty:
            out.append(f"endpoint {st.name} is empty (no plan asked for that)")
        if st.generation is not None and not _explained(w, st):
            out.append(f"plan {st.generation}, live on {st.name}, was deleted and no plan "
                       "left reproduces what it serves")
    return out + fence_violations(w)


def fence_violations(w: World) -> list[str]:
    """A fence naming an owner carries a plan that owner created and meant: its generation
    and its digest. (A fence naming none was there before any rules: the initial DNS.)"""
    owner = owner_of(w.dns.fence)
    g = generation_of(w.dns.fence)
    if owner is None or g is None:
        return []
    if g > MAX_GENERATION:
        return [f"the fence of {owner} is at {g}, above the maximum {MAX_GENERATION}"]
    if owner == TEAM:
        meant = {h: w.content(h) for h in w.created() if h not in w.setup.typos}
    elif w.setup.rival is not None and owner == w.setup.rival.auth.owner:
        meant = {p.generation: p for p, _ in w.plans_of(owner)}
    else:
        meant = {}
    plan = meant.get(g)
    if plan is None:
        what = "a typo the rules must refuse" if g in w.setup.typos else "no plan it created"
        return [f"the fence names {owner} at generation {g}: {what}"]
    if digest_of(w.dns.fence) != plan.digest:
        return [f"the fence names {owner} at generation {g} with digest "
                f"{digest_of(w.dns.fence)}, not its plan's ({plan.digest})"]
    return []


def _explained(w: World, st: EndpointState) -> bool:
    """Some existing plan, from the one that wrote the records on, asks for exactly them.
    (The team's plans only: the rival's generations differ from the team's and are never
    deleted.)"""
    g = st.generation or 0
    if g not in w.deleted or g in w.withdrawn:  # a user's deletion, not the clean-up's
        return True
    lua = selector_of(st.lua)  # records served with weights are explained only so
    return any(reproduces(ep, st, lua) for h in w.resolvable() if h >= g
               for ep in w.resolved(h).endpoints if ep.name == st.name)  # type: ignore[union-attr]


def newest_applies(w: World, proto: Protocol_, rounds: int = 12) -> str | None:
    """From state `w`, can a lone, healthy enactor of the team's still bring DNS to the
    team's newest plan, under the team's rules? Returns None if yes, else why not (the
    post-mortem's stuck state). Where another owner's claim is in the fence (it wrote
    the zone first: the rules give it the zone), the enactor acts after the documented
    hand-over: the team's DNSZone names that claim in adopt-from and, when that fence is
    above the plan, re-bases it."""
    # A plan a user deleted goes once no finalizer holds it; the enactors then choose
    # among the rest. One that went live before its deletion (decided before it) stays
    # served until a newer plan replaces it: "to withdraw a plan, apply a newer one".
    w = replace(w, deleted=w.deleted | {g for g in w.withdrawn if w.removable(g)})
    newest = w.newest()
    fence = w.live_generation()
    if fence is not None and fence in w.withdrawn and fence > newest:
        return None
    if not newest:
        return None
    if newest in w.deleted:
        return f"newest plan {newest} was deleted"
    target = w.resolved(newest)
    if target is None:
        return f"newest plan {newest} cannot be applied: its base plan was deleted"
    probe = replace(w, enactors=(*(replace(e, pending=(), plan=0) if e.pending else e
                                   for e in w.enactors), Enactor("probe")))
    held, fence = owner_of(w.dns.fence), generation_of(w.dns.fence)
    how = ""
    if held not in (None, TEAM):
        auth = w.authority(TEAM)
        rebase = fence if fence is not None and fence > newest else auth.rebase_from
        probe = replace(probe, setup=replace(w.setup, rules={**w.setup.rules, TEAM: replace(
            auth, adopt_from=held, rebase_from=rebase)}))
        how = f" (after a hand-over from {held}, re-base {rebase})"
    said = ""
    for _ in range(rounds):
        probe, said = proto.read(probe, "probe")
        while probe.enactor("probe").pending:
            probe, _ = proto.send(probe, "probe")
        lua = getattr(proto, "lua", None)
        if all(_serves(probe, ep, lua) for ep in target.endpoints):
            return None
    return f"a lone enactor cannot bring DNS to plan {newest}{how}; its last read: {said}"


def _serves(w: World, ep: Endpoint, lua: str | None) -> bool:
    st = w.dns.endpoint(ep.name)
    if lua is None:
        return (st.a, st.aaaa) == ep.published
    return (st.a, st.aaaa, st.lua) == served(ep, lua)
