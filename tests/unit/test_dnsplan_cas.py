"""The compare-and-swap as data (core/dnsplan/cas.py): what it requires and writes, how
a server evaluates it, and that the wire code sends exactly it."""

from __future__ import annotations

import dns.message
import dns.rdatatype

from planguard.core.dnsplan import cas
from planguard.core.dnsplan.cas import Prerequisite, RRType, Update
from planguard.core.dnsplan.enact import EndpointWrite, UpdateStep
from planguard.core.dnsplan.markers import endpoint_marker_name, fence_name, marker_text
from planguard.core.dnsplan.model import EndpointState, ZoneState
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import TsigKey

KEY = TsigKey("k.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")
OLD = EndpointState("api", marker_text(1, "p1", "a"), 1, a=frozenset({"10.0.0.1"}), ttl=60)
WRITE = EndpointWrite(expect=OLD, a=frozenset({"10.0.0.2"}), aaaa=frozenset(), ttl=30,
                      marker=marker_text(2, "p2", "a"), kind="update")
STEP = UpdateStep((WRITE,), '"gen=1 by=a"', '"gen=2 by=a"')
STATE = ZoneState(fence='"gen=1 by=a"', fence_generation=1, endpoints={"api": OLD}, serial=9)


def test_the_message_requires_what_was_read_and_writes_the_decision() -> None:
    m = cas.message(STEP, lua=False)
    marker = endpoint_marker_name("api")
    assert m.prerequisites == (
        Prerequisite(fence_name(), RRType.TXT, frozenset({'"gen=1 by=a"'})),
        Prerequisite(marker, RRType.TXT, frozenset({OLD.marker})),
        Prerequisite("api", RRType.A, frozenset({"10.0.0.1"})),
        Prerequisite("api", RRType.AAAA, None))
    assert m.updates == (
        Update(fence_name(), RRType.TXT, 0, ('"gen=2 by=a"',)),
        Update("api", RRType.A, 30, ("10.0.0.2",)), Update("api", RRType.AAAA, 30, ()),
        Update(marker, RRType.TXT, 0, (WRITE.marker,)))
    lua = cas.message(STEP, lua=True)
    assert Prerequisite("api", RRType.LUA, None) in lua.prerequisites


def test_a_server_applies_all_of_it_or_none() -> None:
    m = cas.message(STEP, lua=True)
    assert cas.holds(STATE, m)
    z = cas.applied(STATE, m)
    api = z.endpoint("api")
    assert (z.fence_generation, api.generation, api.a, api.ttl, z.serial) == (
        2, 2, frozenset({"10.0.0.2"}), 30, 10)
    assert not cas.holds(z, m)  # once in, the same message is refused
    hand_edit = ZoneState(STATE.fence, 1, {"api": EndpointState(
        "api", OLD.marker, 1, a=frozenset({"10.0.0.1", "10.0.0.7"}), ttl=60)})
    assert not cas.holds(hand_edit, m)
    assert not cas.holds(ZoneState(), m)  # no fence where one was read


def test_removing_an_endpoint_clears_its_ttl() -> None:
    gone = EndpointWrite(expect=OLD, a=frozenset(), aaaa=frozenset(), ttl=60,
                         marker=marker_text(2, "p2", "a", removed=True), kind="remove")
    z = cas.applied(STATE, cas.message(UpdateStep((gone,), STATE.fence, None), lua=False))
    assert z.endpoint("api").empty and z.endpoint("api").ttl is None


def test_the_wire_carries_the_message_and_nothing_else() -> None:
    p = Rfc2136Provider("example.test", "127.0.0.1", 53, KEY)
    signed = p.build_update(cas.message(STEP, lua=False), 7)
    m = dns.message.from_wire(signed.wire, keyring=KEY.keyring())
    pre = sorted((rr.name.to_text(), rr.rdtype, len(rr)) for rr in m.prerequisite)
    assert pre == sorted([
        (f"{fence_name()}.example.test.", dns.rdatatype.TXT, 1),
        (f"{endpoint_marker_name('api')}.example.test.", dns.rdatatype.TXT, 1),
        ("api.example.test.", dns.rdatatype.A, 1),
        ("api.example.test.", dns.rdatatype.AAAA, 0)])
    assert len(m.update) == 7  # each of 3 replacements is a delete and an add, 1 delete


def test_which_names_are_endpoints() -> None:
    marker = endpoint_marker_name("api")
    recs = {
        "@": {cas.A_CODE: ["192.0.2.1"], cas.TXT_CODE: ["v=spf1 -all"]},
        fence_name(): {cas.TXT_CODE: ['"gen=2 by=a"']},
        marker: {cas.TXT_CODE: [marker_text(2, "p2", "a")]},
        "api": {cas.A_CODE: ["10.0.0.2"]},
        "old": {cas.TXT_CODE: [marker_text(1, "p1", "a")]},  # a TXT of its own, no address
        endpoint_marker_name("gone"): {cas.TXT_CODE: [marker_text(2, "p2", "a", True)]},
        "v6": {cas.AAAA_CODE: ["2001:db8::1"]},
    }
    z = cas.zone_state(recs, {"api": 30}, {"w": [b"lua"]}, {"mx": frozenset({"MX"})})
    assert z.fence_generation == 2
    assert set(z.endpoints) == {"api", "gone", "v6", "w"}
    api = z.endpoint("api")
    assert (api.generation, api.a, api.ttl) == (2, frozenset({"10.0.0.2"}), 30)
    assert z.endpoint("gone").empty and z.endpoint("w").lua == frozenset({b"lua"})
    assert z.foreign == {"mx": frozenset({"MX"}), "@": frozenset({"TXT"}),
                         "old": frozenset({"TXT"})}
