"""Enactment-time plan checks (the same rules the CRD's CEL enforces at admission)."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planguard.core.dnsplan.model import Endpoint, Plan, Target
from planguard.core.dnsplan.validate import plan_problems, unservable


def reasons(*eps: Endpoint, g: int = 1) -> list[str]:
    return [p.reason for p in plan_problems(Plan("z-1", "z", g, eps))]


def test_valid_plan_has_no_problems():
    assert reasons(Endpoint("api", 60, (Target("10.0.0.1"), Target("2001:db8::1", 0)))) == []


def test_empty_endpoint_is_refused_unless_explicit():
    assert reasons(Endpoint("api", 60, ())) == ["EmptyEndpoint"]
    assert reasons(Endpoint("api", 60, (Target("10.0.0.1", 0),))) == ["EmptyEndpoint"]
    assert reasons(Endpoint("api", 60, (), allow_empty=True)) == []
    assert reasons(Endpoint("api", 60, (), remove=True)) == []
    assert reasons(Endpoint("api", 60, (Target("10.0.0.1"),), remove=True)) == [
        "RemoveWithTargets"
    ]


def test_bad_values_are_named():
    assert reasons(Endpoint("Bad_Name", 60, (Target("10.0.0.1"),))) == ["InvalidName"]
    assert reasons(Endpoint("api", 0, (Target("10.0.0.1"),))) == ["InvalidTTL"]
    assert reasons(Endpoint("api", 60, (Target("10.0.0.300"),))) == ["InvalidAddress"]
    assert reasons(Endpoint("api", 60, (Target("10.0.0.1", 256),))) == ["InvalidWeight"]
    assert reasons(Endpoint("a", 60, (Target("10.0.0.1"),)),
                   Endpoint("a", 60, (Target("10.0.0.1"),))) == ["DuplicateEndpoint"]
    assert "InvalidGeneration" in reasons(Endpoint("a", 60, (Target("10.0.0.1"),)), g=0)
    assert reasons(Endpoint("a", 60, tuple(Target(f"10.0.{i // 250}.{i % 250}")
                                           for i in range(33)))) == ["TooManyTargets"]


def test_addresses_no_load_balancer_has_are_refused():
    for addr in ("0.0.0.0", "::", "255.255.255.255", "224.0.0.1", "239.255.255.250",
                 "ff02::1", "169.254.169.254", "fe80::1", "0.1.2.3", "240.0.0.1",
                 "255.255.255.254", "::ffff:10.0.0.1", "::ffff:a00:1", "::a9fe:a9fe",
                 "::10.0.0.1", "::2"):
        assert reasons(Endpoint("api", 60, (Target(addr),))) == ["UnservableAddress"], addr
    # Loopback stays allowed (the demo and local tests), as do private, shared and
    # documentation ranges a real load balancer can have.
    for addr in ("127.0.0.41", "::1", "10.0.0.1", "192.0.2.7", "2001:db8::1", "fd00::1",
                 "100.64.0.1", "1.0.0.1", "223.255.255.255",
                 "::1:0:0", "1::"):
        assert reasons(Endpoint("api", 60, (Target(addr),))) == [], addr


@pytest.mark.parametrize(("address", "why"), [
    ("0.0.0.0", "the unspecified address"),
    ("0.1.2.3", "an address in 0.0.0.0/8 ('this network')"),
    ("240.0.0.1", "a reserved address (240.0.0.0/4)"),
    ("255.255.255.254", "a reserved address (240.0.0.0/4)"),
    ("::ffff:a00:1", "an IPv4-mapped IPv6 address"),  # ::ffff:10.0.0.1, in canonical text
    ("::a9fe:a9fe", "an IPv4-compatible IPv6 address"),
])
def test_unservable_message_names_the_address_and_why(address: str, why: str) -> None:
    (p,) = plan_problems(Plan("z-1", "z", 1, (Endpoint("api", 60, (Target(address),)),)))
    assert p.message == f"endpoint 'api': {address} is {why}, which no load balancer has"


# What no load balancer has, by network: an oracle independent of unservable()'s own order
# of questions. Loopback (127.0.0.0/8, ::1) is allowed.
_REFUSED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "::ffff:0:0/96", "fe80::/10", "ff00::/8")]


@given(st.one_of(
    st.ip_addresses(),
    st.sampled_from(["::", "::1", "::2", "::ffff:0:0", "::ffff:ffff:ffff", "::1:0:0",
                     "0.255.255.255", "1.0.0.0", "239.255.255.255", "240.0.0.0",
                     "255.255.255.255", "127.255.255.255", "fe80::", "febf::1", "fec0::1"])
    .map(ipaddress.ip_address),
))
def test_unservable_refuses_exactly_these_networks(ip) -> None:
    refused = ip != ipaddress.ip_address("::1") and any(
        ip in n for n in _REFUSED if n.version == ip.version)
    assert (unservable.__wrapped__(str(ip)) is not None) == refused, ip


_OCTET = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "0x1",
                                                                 "", " 1", "1 ", "٣", "+1"]))


@given(st.one_of(
    st.lists(_OCTET, min_size=3, max_size=5).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.sampled_from(["0.0.0.0", "0.0.0.1", "0.255.255.255", "1.0.0.0", "127.0.0.1",
                     "224.0.0.1", "239.255.255.255", "240.0.0.1", "169.254.1.1",
                     "169.253.1.1", "255.255.255.255", "255.255.255.254", "10.0.0.1",
                     "1.2.3"]),
))
def test_ipv4_fast_path_agrees_with_ipaddress(text: str) -> None:
    from planguard.core.dnsplan.model import canonical_address, ipv4_octets
    from planguard.core.dnsplan.validate import unservable_ip

    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        ip = None
    octets = ipv4_octets(text)
    assert (octets is not None) == (ip is not None and ip.version == 4)
    if ip is None:
        return
    assert octets == tuple(ip.packed)
    assert canonical_address.__wrapped__(text) == str(ip)
    assert canonical_address.__wrapped__(ip.packed) == str(ip)
    assert unservable.__wrapped__(text) == unservable_ip(ip)
