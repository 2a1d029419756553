"""The compare-and-swap, defined once: the prerequisites and updates of one RFC 2136
UPDATE as data. `message` decides them from an UpdateStep; dns/rfc2136.py only
serialises a message; the in-memory servers (sim/) only evaluate one (`holds`, `applied`).

Names are relative to the zone, as the markers module spells them. Record data: the
address text (A, AAAA), the TXT string (fence, markers), the rdata's wire form (LUA).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from planguard.core.dnsplan.enact import UpdateStep
from planguard.core.dnsplan.markers import (
    endpoint_marker_name,
    endpoint_of_marker,
    fence_name,
    generation_of,
)
from planguard.core.dnsplan.model import EndpointState, ZoneState

Rdata = str | bytes


class RRType(StrEnum):
    A = "A"
    AAAA = "AAAA"
    TXT = "TXT"
    LUA = "LUA"  # PowerDNS's weighted answers (core/dnsplan/weights.py)


class WriteOutcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"  # a prerequisite failed: someone else wrote; re-read and decide again


@dataclass(frozen=True)
class Prerequisite:
    """RFC 2136 §2.4.2/§2.4.3: the RRset holds exactly `rdatas`, or (None) does not exist."""

    name: str
    rdtype: RRType
    rdatas: frozenset[Rdata] | None


@dataclass(frozen=True)
class Update:
    """§2.5: the RRset is replaced by `rdatas`, or deleted when there are none."""

    name: str
    rdtype: RRType
    ttl: int
    rdatas: tuple[Rdata, ...]


@dataclass(frozen=True)
class UpdateMessage:
    prerequisites: tuple[Prerequisite, ...]
    updates: tuple[Update, ...]


def _exact(name: str, rdtype: RRType, have: frozenset[Rdata]) -> Prerequisite:
    return Prerequisite(name, rdtype, have or None)


def message(step: UpdateStep, lua: bool) -> UpdateMessage:
    """The exact fence and, per endpoint, the exact marker and records read (LUA too on a
    server with weights, `lua`) as prerequisites; then the fence raised if the step does,
    each endpoint's new RRsets and its marker at the new generation."""
    fence = fence_name()
    pre = [_exact(fence, RRType.TXT, frozenset(
        () if step.fence_expect is None else (step.fence_expect,)))]
    ups = [] if step.fence_new is None else [Update(fence, RRType.TXT, 0, (step.fence_new,))]
    for w in step.writes:
        st, marker = w.expect, endpoint_marker_name(w.name)
        pre.append(_exact(marker, RRType.TXT, frozenset(() if st.marker is None
                                                        else (st.marker,))))
        pre += [_exact(w.name, RRType.A, st.a), _exact(w.name, RRType.AAAA, st.aaaa)]
        ups += [Update(w.name, RRType.A, w.ttl, tuple(sorted(w.a))),
                Update(w.name, RRType.AAAA, w.ttl, tuple(sorted(w.aaaa)))]
        if lua:
            pre.append(_exact(w.name, RRType.LUA, st.lua))
            ups.append(Update(w.name, RRType.LUA, w.ttl, tuple(sorted(w.lua))))
        ups.append(Update(marker, RRType.TXT, 0, (w.marker,)))
    return UpdateMessage(tuple(pre), tuple(ups))


def rrset(state: ZoneState, name: str, rdtype: RRType) -> frozenset[Rdata]:
    """What a server holding `state` has at (name, type); empty when nothing."""
    if rdtype is RRType.TXT:
        if name == fence_name():
            text = state.fence
        else:
            ep = endpoint_of_marker(name)
            text = state.endpoint(ep).marker if ep is not None else None
        return frozenset(() if text is None else (text,))
    st = state.endpoint(name)
    have: frozenset[Rdata] = st.a if rdtype is RRType.A else \
        st.aaaa if rdtype is RRType.AAAA else frozenset(st.lua)
    return have


def holds(state: ZoneState, msg: UpdateMessage) -> bool:
    """Whether a server holding `state` accepts `msg`: every prerequisite, or none of it."""
    return all(rrset(state, p.name, p.rdtype) == (p.rdatas or frozenset())
               for p in msg.prerequisites)


@dataclass
class _Endpoint:
    """One endpoint's RRsets while a message is applied (built once: the model checker
    applies hundreds of thousands of messages)."""

    marker: str | None
    a: frozenset[str]
    aaaa: frozenset[str]
    lua: frozenset[bytes]
    ttl: int | None


def applied(state: ZoneState, msg: UpdateMessage) -> ZoneState:
    """The zone once `msg` is in (the server said NOERROR); the SOA serial, if known, one
    higher, as a server raises it for every UPDATE that changes the zone."""
    fence, changed = state.fence, dict[str, _Endpoint]()
    for u in msg.updates:
        if u.rdtype is RRType.TXT and u.name == fence_name():
            fence = str(u.rdatas[0]) if u.rdatas else None
            continue
        marked = endpoint_of_marker(u.name) if u.rdtype is RRType.TXT else None
        name = marked or u.name
        e = changed.get(name)
        if e is None:
            st = state.endpoint(name)
            e = changed[name] = _Endpoint(st.marker, st.a, st.aaaa, st.lua, st.ttl)
        if marked is not None:
            e.marker = str(u.rdatas[0]) if u.rdatas else None
            continue
        if u.rdtype is RRType.LUA:
            e.lua = frozenset(v for v in u.rdatas if isinstance(v, bytes))
        elif u.rdtype is RRType.A:
            e.a = frozenset(str(v) for v in u.rdatas)
        else:
            e.aaaa = frozenset(str(v) for v in u.rdatas)
        if u.rdatas:
            e.ttl = u.ttl
    endpoints = dict(state.endpoints)
    for name, e in changed.items():
        endpoints[name] = EndpointState(
            name, e.marker, generation_of(e.marker), e.a, e.aaaa,
            e.ttl if e.a or e.aaaa or e.lua else None, e.lua)
    serial = None if state.serial is None else (state.serial + 1) & 0xFFFFFFFF
    return ZoneState(fence=fence, fence_generation=generation_of(fence), endpoints=endpoints,
                     serial=serial, foreign=state.foreign)


# Record type numbers (RFC 1035, RFC 3596) as the zone transfer reports them.
A_CODE, AAAA_CODE, TXT_CODE = 1, 28, 16


def zone_state(recs: Mapping[str, Mapping[int, Sequence[str]]], ttls: Mapping[str, int],
               lua: Mapping[str, Iterable[bytes]],
               foreign: Mapping[str, frozenset[str]]) -> ZoneState:
    """What a zone's records say (the inverse of `rrset`): the fence, the markers, and
    which names are endpoints: a name with addresses, weights or a marker, never the apex,
    the fence or a marker's own name. Another TXT (SPF, a verification, _acme-challenge...)
    is someone else's record, kept with `foreign` (names of the other types a name has)."""
    fence = None
    markers: dict[str, str] = {}
    others = dict(foreign)
    for name, types in recs.items():
        txt = types.get(TXT_CODE)
        if not txt:
            continue
        if name == fence_name():
            fence = txt[0]
        elif (ep := endpoint_of_marker(name)) is not None:
            markers[ep] = txt[0]
        else:
            others[name] = others.get(name, frozenset()) | {"TXT"}
    endpoints: dict[str, EndpointState] = {}
    served = {n for n, t in recs.items() if A_CODE in t or AAAA_CODE in t}
    for name in set(markers) | set(lua) | served:
        if endpoint_of_marker(name) is not None or name in ("@", fence_name()):
            continue
        types = recs.get(name, {})
        endpoints[name] = EndpointState(
            name=name, marker=markers.get(name), generation=generation_of(markers.get(name)),
            a=frozenset(types.get(A_CODE, ())), aaaa=frozenset(types.get(AAAA_CODE, ())),
            ttl=ttls.get(name), lua=frozenset(lua.get(name, ())))
    return ZoneState(fence=fence, fence_generation=generation_of(fence), endpoints=endpoints,
                     foreign=others)
