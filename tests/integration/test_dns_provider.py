"""The enactor's DNS path against real BIND: the one-pass zone transfer reads exactly what
dnspython reads, pipelined UPDATEs are each their own compare-and-swap, and failures are
classified, never read as an empty zone."""

import dns.message
import dns.query
import dns.rdatatype
import dns.update
import pytest

from harness import Bind
from planguard.core.dnsplan.enact import EndpointWrite, UpdateStep, decide, update_steps
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target
from planguard.dns.provider import DnsError, DnsErrorKind, WriteOutcome
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import load_key


def provider(bind: Bind, zone: str, key: str = "enactor-a") -> Rfc2136Provider:
    return Rfc2136Provider(zone, "127.0.0.1", bind.port, load_key(bind.key(key)), window=4)


def plan(g: int, eps: dict[str, tuple[str, ...]]) -> Plan:
    return Plan(f"p-{g}", "z", g, tuple(
        Endpoint(n, 120, tuple(Target(a) for a in addrs)) for n, addrs in eps.items()))


def test_zone_transfer_reads_what_dnspython_reads(bind: Bind, dns_zone: str) -> None:
    p = provider(bind, dns_zone)
    for step in update_steps(decide(plan(1, {
        "api": ("10.0.0.1", "10.0.0.2"), "v6": ("2001:db8::1", "2001:db8:0:1:1:1:1:1"),
        "both": ("192.0.2.7", "2001:db8::ffff:0:1"),
    }), p.read_zone(), "a"), 2):
        assert p.write_steps([step]) == [WriteOutcome.APPLIED]
    # Hand edits a person might make: odd TXT text and names that need escaping, a CNAME.
    bind.admin_update(dns_zone, lambda u: (
        u.add("_planguard.api", 0, "TXT", '"gen=1 plan=p-1 by=a" "and a \\"quoted\\" part"'),
        u.add(r"_planguard.we\.ird", 30, "TXT", "hand-made\\010marker"),
        u.add("alias", 30, "CNAME", "api"),
    ))
    ours = p.read_zone()
    key = load_key(bind.key("enactor-a"))
    ref: dict[str, dict[str, list[str]]] = {}
    for msg in dns.query.xfr("127.0.0.1", dns_zone, port=bind.port, keyring=key.keyring(),
                             keyname=key.keyname, relativize=True):
        for rrset in msg.answer:
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT):
                t = dns.rdatatype.to_text(rrset.rdtype)
                ref.setdefault(rrset.name.to_text(), {}).setdefault(t, []).extend(
                    r.to_text() for r in rrset)
    assert ours.fence == ref["_planguard"]["TXT"][0]
    for name, st in ours.endpoints.items():
        assert sorted(st.a) == sorted(ref.get(name, {}).get("A", [])), name
        assert sorted(st.aaaa) == sorted(ref.get(name, {}).get("AAAA", [])), name
        marker = ref.get(f"_planguard.{name}", {}).get("TXT")
        assert st.marker == (marker[0] if marker else None), name
    assert set(ours.endpoints) == {"ns", "api", "v6", "both", r"we\.ird"}
    assert ours.endpoints["v6"].ttl == 120 and ours.endpoints[r"we\.ird"].ttl is None
    assert ours.endpoints["v6"].generation == 1
    assert ours.endpoints["api"].marker in ref["_planguard.api"]["TXT"]
    assert ours.endpoints[r"we\.ird"].marker == '"hand-made\\010marker"'



def test_pipelined_updates_are_each_their_own_compare_and_swap(bind: Bind, dns_zone: str) -> None:
    p = provider(bind, dns_zone)
    eps = {f"e{i}": (f"10.0.1.{i}",) for i in range(6)}
    first = decide(plan(1, eps), p.read_zone(), "a")
    assert all(o is WriteOutcome.APPLIED for o in p.write_steps(update_steps(first, 30)))
    state = p.read_zone()
    # Someone changes e3 behind our back; then three UPDATEs go out together, the middle
    # one still expecting e3's old records.
    bind.admin_update(dns_zone, lambda u: u.replace("e3", 60, "A", "10.7.7.7"))
    d = decide(plan(2, {n: (f"10.0.2.{i}",) for i, n in enumerate(eps)}), state, "a")
    steps = update_steps(d, 2 * d.writes[0].record_count)  # two endpoints per UPDATE
    assert len(steps) == 3
    out = p.write_steps(steps)
    assert out == [WriteOutcome.APPLIED, WriteOutcome.CONFLICT, WriteOutcome.APPLIED]
    assert bind.query(f"e3.{dns_zone}") == ["10.7.7.7"]  # the refused step wrote nothing
    assert bind.query(f"e2.{dns_zone}") == ["10.0.1.2"]  # nor its other endpoint
    assert bind.query(f"e0.{dns_zone}") == ["10.0.2.0"]
    assert bind.query(f"e5.{dns_zone}") == ["10.0.2.5"]
    # Re-read and decide again: the rest goes through.
    again = decide(plan(2, {n: (f"10.0.2.{i}",) for i, n in enumerate(eps)}), p.read_zone(), "a")
    assert p.write_steps(update_steps(again, 100)) == [WriteOutcome.APPLIED]
    assert bind.query(f"e3.{dns_zone}") == ["10.0.2.3"]


def test_a_step_after_a_failed_fence_raise_cannot_write(bind: Bind, dns_zone: str) -> None:
    """Later UPDATEs require the fence the first raises: if the first loses its race,
    they fail with it even though they are already in flight."""
    p = provider(bind, dns_zone)
    state = p.read_zone()
    d = decide(plan(1, {f"e{i}": (f"10.0.3.{i}",) for i in range(4)}), state, "a")
    steps = update_steps(d, 2 * d.writes[0].record_count)
    assert len(steps) >= 2 and steps[0].fence_new is not None
    bind.admin_update(dns_zone, lambda u: u.add("_planguard", 0, "TXT", '"gen=9 by=person"'))
    assert p.write_steps(steps) == [WriteOutcome.CONFLICT] * len(steps)
    assert bind.query(f"e3.{dns_zone}") == []


def test_kept_connection_closed_by_the_server_is_replaced(bind: Bind, dns_zone: str) -> None:
    p = provider(bind, dns_zone)
    w = EndpointWrite(expect=EndpointState(name="x"), a=frozenset({"10.0.4.1"}),
                      aaaa=frozenset(), ttl=60, marker='"gen=1 plan=p-1 by=a"', kind="create")
    assert p.write([w], None, '"gen=1 by=a"') is WriteOutcome.APPLIED
    assert p._sock is not None
    p._sock.shutdown(2)  # as if BIND had closed it while idle
    st = p.read_zone().endpoints["x"]
    w2 = EndpointWrite(expect=st, a=frozenset({"10.0.4.2"}), aaaa=frozenset(), ttl=60,
                       marker='"gen=2 plan=p-2 by=a"', kind="update")
    assert p.write_steps([UpdateStep((w2,), '"gen=1 by=a"', '"gen=2 by=a"')]) == \
        [WriteOutcome.APPLIED]


def test_the_server_may_be_a_host_name(bind: Bind, dns_zone: str) -> None:
    """A host name (here `localhost`; in a cluster a Service's name) is resolved at each
    connection: reads, the SOA check and the kept update connection all reach BIND."""
    p = Rfc2136Provider(dns_zone, "localhost", bind.port, load_key(bind.key("enactor-a")))
    state = p.read_zone()
    assert p.read_serial() == state.serial
    steps = update_steps(decide(plan(1, {"named": ("10.0.8.1",)}), state, "a"), 10)
    assert p.write_steps(steps) == [WriteOutcome.APPLIED]
    p.close()  # the next write connects, and resolves, again
    assert p.read_zone().endpoints["named"].a == {"10.0.8.1"}
    assert p.write_steps(update_steps(decide(plan(2, {"named": ("10.0.8.2",)}),
                                             p.read_zone(), "a"), 10)) == [WriteOutcome.APPLIED]
    assert p.read_zone().endpoints["named"].a == {"10.0.8.2"}


@pytest.mark.parametrize("case", ["wrong key", "missing zone", "nobody listening",
                                  "name that does not resolve"])
def test_failures_are_classified_and_never_read_as_empty(bind: Bind, dns_zone: str,
                                                        case: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = load_key(bind.key("enactor-a"))
    port, zone = bind.port, dns_zone
    if case == "wrong key":
        from planguard.dns.tsig import TsigKey
        key = TsigKey(key.name, key.algorithm, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    elif case == "missing zone":
        zone = "not-served.test"
    elif case == "nobody listening":
        port = 9  # discard port: nothing listens on loopback
    server = "bind.nosuch.invalid" if case == "name that does not resolve" else "127.0.0.1"
    p = Rfc2136Provider(zone, server, port, key, timeout=2)
    want = {"wrong key": DnsErrorKind.TSIG, "missing zone": DnsErrorKind.ZONE_MISSING,
            "nobody listening": DnsErrorKind.UNREACHABLE,
            "name that does not resolve": DnsErrorKind.UNRESOLVABLE}[case]
    if case == "name that does not resolve":
        with pytest.raises(DnsError) as serial_err:
            p.read_serial()
        assert serial_err.value.kind is want and "bind.nosuch.invalid" in str(serial_err.value)
    with pytest.raises(DnsError) as read_err:
        p.read_zone()
    assert read_err.value.kind in (want, DnsErrorKind.REFUSED), read_err.value
    w = EndpointWrite(expect=EndpointState(name="x"), a=frozenset({"10.0.5.1"}),
                      aaaa=frozenset(), ttl=60, marker='"gen=1 plan=p-1 by=a"', kind="create")
    with pytest.raises(DnsError) as write_err:
        p.write_steps([UpdateStep((w,), None, '"gen=1 by=a"')] * 2)
    assert write_err.value.kind in (want, DnsErrorKind.REFUSED), write_err.value
    assert dns.message is not None


def test_each_applied_update_raises_the_serial_by_one(bind: Bind, dns_zone: str) -> None:
    """What the enactor's SOA check relies on to skip a transfer: with nobody else
    writing, the serial is the one read plus the UPDATEs this enactor had applied."""
    p = provider(bind, dns_zone)
    state = p.read_zone()
    assert state.serial is not None and p.read_serial() == state.serial
    d = decide(plan(1, {f"e{i}": (f"10.0.6.{i}",) for i in range(6)}), state, "a")
    steps = update_steps(d, 2 * d.writes[0].record_count)
    assert p.write_steps(steps) == [WriteOutcome.APPLIED] * 3
    assert p.read_serial() == state.serial + 3
    bind.admin_update(dns_zone, lambda u: u.replace("e1", 60, "A", "10.7.7.1"))
    assert p.read_serial() == state.serial + 4  # someone else wrote: the check sees it
