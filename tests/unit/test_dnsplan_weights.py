"""Weights as PowerDNS LUA records: the template, its guard against code injection, the
decision that writes them and the UPDATE that carries them. Pure: no sockets."""

import ipaddress
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planguard.core.dnsplan import cas, weights
from planguard.core.dnsplan.enact import decide, reproduces, update_steps
from planguard.core.dnsplan.markers import fence_text, marker_text
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target, ZoneState
from planguard.dns import pipeline
from planguard.dns.powerdns import PowerDnsProvider
from planguard.dns.provider import DnsErrorKind
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import TsigKey
from planguard.sim.memoryzone import MemoryZone

KEY = TsigKey("enactor-a", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")


def ep(*targets: tuple[str, int], name: str = "api", ttl: int = 30) -> Endpoint:
    return Endpoint(name, ttl, tuple(Target(a, w) for a, w in targets))


def code(rdata: bytes) -> tuple[int, str, list[int]]:
    """(inner type, the code PowerDNS runs, each string's length)."""
    (inner,) = struct.unpack_from("!H", rdata)
    parts, i = [], 2
    while i < len(rdata):
        parts.append(rdata[i + 1:i + 1 + rdata[i]])
        i += 1 + rdata[i]
    return inner, b"".join(parts).decode(), [len(p) for p in parts]


def test_one_record_per_family_sorted_weight_zero_left_out():
    recs = weights.records("pickwrandom", ep(("192.0.2.2", 30), ("192.0.2.1", 10),
                                             ("192.0.2.3", 0), ("2001:DB8::1", 5)))
    got = sorted(code(r)[:2] for r in recs)
    assert got == [(1, "pickwrandom({{10,'192.0.2.1'},{30,'192.0.2.2'}})"),
                   (28, "pickwrandom({{5,'2001:db8::1'}})")]


def test_the_same_plan_always_gives_the_same_bytes():
    a = weights.records("pickwhashed", ep(("192.0.2.1", 1), ("192.0.2.2", 2)))
    b = weights.records("pickwhashed", ep(("192.0.2.2", 2), ("192.0.2.1", 1)))
    assert a == b and all(weights.parse(r) is not None for r in a)


def test_long_code_is_cut_between_entries_within_255_bytes():
    e = ep(*((f"2001:db8:ffff:ffff:ffff:ffff:ffff:{i:x}", 255) for i in range(32)))
    (rd,) = weights.records("pickwrandom", e)
    inner, _, lengths = code(rd)
    assert inner == 28 and max(lengths) <= 255 and len(lengths) > 1
    # Each cut falls right after an entry (and its comma), where Lua ignores it.
    strings, i = [], 2
    while i < len(rd):
        strings.append(rd[i + 1:i + 1 + rd[i]])
        i += 1 + rd[i]
    assert all(x.endswith((b",", b"}")) for x in strings[:-1])
    assert weights.parse(rd) == weights.Served(6, "pickwrandom", e.weighted)


@pytest.mark.parametrize("address,weight", [
    ("192.0.2.1'}}) os.execute('id') --", 1),  # not an address: never printed
    ("192.0.2.1", 256), ("192.0.2.1", -1), ("192.0.2.1", 0), ("192.0.2.1", True),
])
def test_nothing_but_an_address_and_a_small_integer_reaches_lua(address, weight):
    with pytest.raises(ValueError):
        weights._rdata("pickwrandom", 1, [(address, weight)])


def test_an_unknown_selector_is_refused():
    with pytest.raises(weights.UnsafeTarget):
        weights.records("os.execute", ep(("192.0.2.1", 1)))
    with pytest.raises(ValueError):
        PowerDnsProvider("z.test", "127.0.0.1", 53, KEY, selector="ifportup")


def lua(inner: int, *strings: bytes) -> bytes:
    return struct.pack("!H", inner) + b"".join(bytes([len(s)]) + s for s in strings)


@pytest.mark.parametrize("rdata", [
    lua(1, b"pickwrandom({{10,'192.0.2.1'}, {30,'192.0.2.2'}})"),  # a space: not ours
    lua(1, b"pickrandom({'192.0.2.1'})"),
    lua(1, b"pickwrandom({{10,'192.0.2.1'}}) or os.execute('id')"),
    lua(15, b"pickwrandom({{10,'192.0.2.1'}})"),  # LUA MX
    lua(1, b"pickwrandom({{010,'192.0.2.1'}})"),  # not how the template prints 10
    lua(1, b"pickwrandom({{10,'192.000.2.1'}})"),
    lua(1, b"pickwrandom({{10,'192.0.2.1'}", b"})"),  # cut where the template would not
    b"\x00",
])
def test_reading_back_accepts_only_what_the_template_writes(rdata):
    assert weights.parse(rdata) is None
    assert weights.served_weights([rdata]) is None


addresses = st.one_of(
    st.ip_addresses(v=4).filter(lambda a: not a.is_multicast),
    st.ip_addresses(v=6).filter(lambda a: not a.is_multicast),
).map(str)


@given(st.dictionaries(addresses, st.integers(0, 255), min_size=1, max_size=32),
       st.sampled_from(weights.SELECTORS))
def test_records_read_back_as_the_weights_served(targets, selector):
    e = ep(*targets.items())
    recs = weights.records(selector, e)
    assert all(max(code(r)[2]) <= 255 for r in recs)
    want = {str(ipaddress.ip_address(a)): w for a, w in targets.items() if w > 0}
    assert weights.served_weights(recs) == want
    assert len(recs) == len({ipaddress.ip_address(a).version for a in want})


# -- the decision ---------------------------------------------------------------------
def plan(g: int, *targets: tuple[str, int]) -> Plan:
    return Plan(f"p-{g}", "z", g, (ep(*targets),))


def test_decide_writes_lua_only_and_converges_from_what_it_wrote():
    z = MemoryZone()
    p = plan(1, ("192.0.2.1", 10), ("192.0.2.2", 30))
    d = decide(p, z.snapshot(), "a", "pickwrandom")
    (w,) = d.writes
    assert w.a == w.aaaa == frozenset() and w.lua == weights.records("pickwrandom", p.endpoints[0])
    (step,) = update_steps(d, 400)
    assert z.write(step.writes, step.fence_expect, step.fence_new)
    assert decide(p, z.snapshot(), "a", "pickwrandom").writes == ()
    written = cas.applied(ZoneState(), cas.message(step, lua=True))
    assert decide(p, written, "a", "pickwrandom").writes == ()


def test_a_weight_change_is_an_update_a_plain_set_is_not_what_a_weighted_plan_serves():
    old, new = plan(1, ("192.0.2.1", 10), ("192.0.2.2", 30)), plan(2, ("192.0.2.1", 30),
                                                                     ("192.0.2.2", 10))
    written = EndpointState("api", marker_text(1, "p-1", "a"), 1, ttl=30,
                            lua=weights.records("pickwrandom", old.endpoints[0]))
    state = ZoneState(fence_text(1, "a"), 1, {"api": written})
    assert [w.kind for w in decide(new, state, "a", "pickwrandom").writes] == ["update"]
    # Same addresses as a plain A set (BIND's way, or a hand edit): served without weights.
    plain = EndpointState("api", marker_text(1, "p-1", "a"), 1,
                          a=frozenset({"192.0.2.1", "192.0.2.2"}), ttl=30)
    assert reproduces(old.endpoints[0], plain) and not reproduces(old.endpoints[0], plain,
                                                                   "pickwrandom")
    both = EndpointState("api", written.marker, 1, a=frozenset({"192.0.2.9"}), ttl=30,
                         lua=written.lua)
    (w,) = decide(old, ZoneState(fence_text(1, "a"), 1, {"api": both}), "a",
                  "pickwrandom").writes
    assert w.kind == "repair" and w.a == frozenset() and w.expect.a == {"192.0.2.9"}
    # A selector change rewrites the record: the bytes differ.
    assert not reproduces(old.endpoints[0], written, "pickwhashed")


def test_markers_are_lowercase_since_powerdns_compares_txt_without_case():
    assert marker_text(3, "p-3", "Enactor-A") == '"gen=3 plan=p-3 by=enactor-a"'
    assert fence_text(3, "AZ1") == '"gen=3 by=az1"'


# -- the UPDATE -----------------------------------------------------------------------
def sections(p: Rfc2136Provider, d) -> list[list[tuple[str, int, int, int]]]:  # type: ignore[no-untyped-def]
    (step,) = update_steps(d, 400)
    signed = p.build_update(cas.message(step, p.lua is not None), 7)
    m = dns.message.from_wire(signed.wire, keyring=KEY.keyring())
    return [sorted((rr.name.to_text(), rr.rdtype, rr.deleting or rr.rdclass, len(rr)) for rr in sec)
            for sec in (m.prerequisite, m.update)]


def test_the_update_compares_and_replaces_the_lua_rrset_and_clears_a_plain_set():
    p = PowerDnsProvider("example.test", "127.0.0.1", 53, KEY)
    e = plan(2, ("192.0.2.1", 10), ("2001:db8::1", 30))
    have = EndpointState("api", marker_text(1, "p-1", "a"), 1, a=frozenset({"192.0.2.9"}),
                         ttl=30, lua=frozenset({lua(1, b"pickwrandom({{1,'192.0.2.8'}})")}))
    pre, upd = sections(p, decide(e, ZoneState(fence_text(1, "a"), 1, {"api": have}), "a",
                                  p.lua))
    api, LUA, IN, NONE, ANY = "api.example.test.", weights.LUA, dns.rdataclass.IN, \
        dns.rdataclass.NONE, dns.rdataclass.ANY
    assert (api, LUA, IN, 1) in pre and (api, 1, IN, 1) in pre and (api, 28, NONE, 0) in pre
    assert (api, 1, ANY, 0) in upd and (api, 28, ANY, 0) in upd  # plain sets deleted
    assert (api, LUA, ANY, 0) in upd  # then LUA A and LUA AAAA
    assert sum(n for name, t, c, n in upd if (name, t, c) == (api, LUA, IN)) == 2
    # BIND's provider never sends a LUA record: its update-policy would refuse the type.
    b = Rfc2136Provider("example.test", "127.0.0.1", 53, KEY)
    pre, upd = sections(b, decide(e, ZoneState(), "a", b.lua))
    assert all(t != LUA for sec in (pre, upd) for _, t, _, _ in sec)


def test_an_unsigned_answer_is_an_authentication_error_whatever_its_rcode():
    for rcode in (dns.rcode.REFUSED, dns.rcode.NOERROR):
        q = dns.message.Message(id=9)
        q.set_opcode(dns.opcode.UPDATE)
        q.flags |= dns.flags.QR
        q.set_rcode(rcode)
        with pytest.raises(pipeline.UnsignedAnswer) as err:
            pipeline._answer(q.to_wire(), KEY.dns_key, b"\x00" * 32)
        e = Rfc2136Provider._classify(err.value, "update")
        assert e.kind is DnsErrorKind.TSIG and dns.rcode.to_text(rcode) in str(e)

