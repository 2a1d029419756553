"""What must hold in every state and on every transition, for any protocol."""

from __future__ import annotations

from dataclasses import replace

from planguard.core.enact import reproduces, served
from planguard.core.model import Endpoint, EndpointState
from planguard.core.weights import selector_of
from planguard.sim.protocols import Protocol_
from planguard.sim.world import Enactor, World


def transition_violations(before: World, after: World) -> list[str]:
    out = []
    for st in after.dns.endpoints:
        prev = before.dns.endpoint(st.name)
        if (st.generation or 0) < (prev.generation or 0):
            out.append(f"generation of {st.name} went back from {prev.generation} "
                       f"to {st.generation}")
    return out


def state_violations(w: World) -> list[str]:
    out = []
    for st in w.dns.endpoints:
        if st.marker is not None and st.empty:
            out.append(f"endpoint {st.name} is empty (no plan asked for that)")
        if st.generation is not None and not _explained(w, st):
            out.append(f"plan {st.generation}, live on {st.name}, was deleted and no plan "
                       "left reproduces what it serves")
    return out


def _explained(w: World, st: EndpointState) -> bool:
    """Some existing plan, from the one that wrote the records on, asks for exactly them."""
    g = st.generation or 0
    if g not in w.deleted:
        return True
    lua = selector_of(st.lua)  # records served with weights are explained only so
    return any(reproduces(ep, st, lua) for h in w.resolvable() if h >= g
               for ep in w.resolved(h).endpoints if ep.name == st.name)  # type: ignore[union-attr]


def newest_applies(w: World, proto: Protocol_, rounds: int = 12) -> str | None:
    """From state `w`, can a lone, healthy enactor still bring DNS to the newest plan?
    Returns None if yes, else why not (the post-mortem's stuck state)."""
    if not w.published:
        return None
    if w.published in w.deleted:
        return f"newest plan {w.published} was deleted"
    target = w.resolved(w.published)
    if target is None:
        return f"newest plan {w.published} cannot be applied: its base plan was deleted"
    probe = replace(w, enactors=(*(replace(e, pending=(), plan=0) for e in w.enactors),
                                 Enactor("probe")))
    for _ in range(rounds):
        probe, _ = proto.read(probe, "probe")
        while probe.enactor("probe").pending:
            probe, _ = proto.send(probe, "probe")
        lua = getattr(proto, "lua", None)
        if all(_serves(probe, ep, lua) for ep in target.endpoints):
            return None
    return f"a lone enactor cannot bring DNS to plan {w.published}"


def _serves(w: World, ep: Endpoint, lua: str | None) -> bool:
    st = w.dns.endpoint(ep.name)
    if lua is None:
        return (st.a, st.aaaa) == ep.published
    return (st.a, st.aaaa, st.lua) == served(ep, lua)
