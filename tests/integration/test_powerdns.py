"""The PowerDNS provider against a real PowerDNS Authoritative (hack/pdns-up.sh): plan
weights served as the plan says, the compare-and-swap of BIND's provider holding on LUA
records too, plain sets and foreign Lua replaced through it, failures classified."""

from __future__ import annotations

import threading

import dns.message
import dns.query
import dns.rcode
import dns.update
import pytest

from harness import PowerDns, eventually, on_powerdns
from planguard.core.dnsplan.enact import EndpointWrite, UpdateStep, decide, update_steps
from planguard.core.dnsplan.markers import marker_text
from planguard.core.dnsplan.model import Endpoint, Plan, Target
from planguard.dns.powerdns import PowerDnsProvider
from planguard.dns.provider import DnsError, DnsErrorKind, WriteOutcome
from planguard.dns.tsig import TsigKey, load_key

N = 2000  # queries per measured split
TOLERANCE = 5.0  # percentage points


def provider(pdns: PowerDns, zone: str, key: str = "enactor-a",
             selector: str = "pickwrandom") -> PowerDnsProvider:
    return PowerDnsProvider(zone, "127.0.0.1", pdns.port, load_key(pdns.key(key)),
                            selector=selector, window=4)


def plan(g: int, eps: dict[str, list[tuple[str, int]]], ttl: int = 30) -> Plan:
    return Plan(f"p-{g}", "z", g, tuple(
        Endpoint(n, ttl, tuple(Target(a, w) for a, w in ts)) for n, ts in eps.items()))


def apply(p: PowerDnsProvider, pl: Plan, writer: str = "a") -> None:
    steps = update_steps(decide(pl, p.read_zone(), writer, p.lua), 400)
    assert steps and p.write_steps(steps) == [WriteOutcome.APPLIED] * len(steps)


def shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {a: 100.0 * n / total for a, n in counts.items()}


def assert_split(counts: dict[str, int], want: dict[str, int]) -> None:
    """Each target's share within TOLERANCE points of its weight's share; nothing else."""
    got = shares(counts)
    assert set(got) <= set(want), f"answers outside the plan: {counts}"
    total = sum(want.values())
    for a, w in want.items():
        assert abs(got.get(a, 0.0) - 100.0 * w / total) <= TOLERANCE, (a, counts, want)


@on_powerdns
def test_weights_are_served_as_the_plan_says_and_a_new_plan_shifts_them(
        pdns: PowerDns, dns_zone: str) -> None:
    p = provider(pdns, dns_zone)
    v4 = [("192.0.2.1", 10), ("192.0.2.2", 30), ("192.0.2.3", 60), ("192.0.2.4", 0)]
    v6 = [("2001:db8::1", 1), ("2001:db8::2", 3)]
    apply(p, plan(1, {"api": v4 + v6}))
    first = pdns.split(f"api.{dns_zone}", N)
    print(f"plan 1, weights 10/30/60/0, {N} queries: {first}")
    assert_split(first, {a: w for a, w in v4 if w})
    assert "192.0.2.4" not in first, "a weight-0 target was answered"
    six = pdns.split(f"api.{dns_zone}", N // 4, "AAAA")
    assert_split(six, dict(v6))
    # Plan 2 reverses the weights and drains .1: the split follows at once.
    apply(p, plan(2, {"api": [("192.0.2.1", 0), ("192.0.2.2", 60), ("192.0.2.3", 20),
                              ("192.0.2.4", 20), *v6]}))
    second = pdns.split(f"api.{dns_zone}", N)
    print(f"plan 2, weights 0/60/20/20, {N} queries: {second}")
    assert_split(second, {"192.0.2.2": 60, "192.0.2.3": 20, "192.0.2.4": 20})
    assert "192.0.2.1" not in second
    st = p.read_zone().endpoint("api")
    assert st.a == st.aaaa == frozenset() and len(st.lua) == 2 and st.generation == 2
    assert decide(plan(2, {"api": [("192.0.2.2", 60), ("192.0.2.3", 20), ("192.0.2.4", 20),
                                   *v6]}), p.read_zone(), "a", p.lua).writes == ()


@on_powerdns
def test_hashed_selection_keeps_each_client_on_one_answer(pdns: PowerDns,
                                                          dns_zone: str) -> None:
    p = provider(pdns, dns_zone, selector="pickwhashed")
    apply(p, plan(1, {"api": [("192.0.2.1", 10), ("192.0.2.2", 30)]}))
    q = dns.message.make_query(f"api.{dns_zone}", "A")
    per_client: dict[str, set[str]] = {}
    for i in range(500):
        src = f"127.0.{i // 250}.{2 + i % 250}"  # all of 127/8 is loopback
        for _ in range(2):
            r = dns.query.udp(q, "127.0.0.1", port=pdns.port, source=src, timeout=2)
            per_client.setdefault(src, set()).update(rd.to_text() for rr in r.answer
                                                     for rd in rr)
    assert all(len(v) == 1 for v in per_client.values()), per_client
    counts = {"192.0.2.1": 0, "192.0.2.2": 0}
    for v in per_client.values():
        counts[next(iter(v))] += 1
    print(f"pickwhashed 10/30 over 500 clients: {counts}")
    assert_split(counts, {"192.0.2.1": 10, "192.0.2.2": 30})


@on_powerdns
def test_a_stale_writer_conflicts_and_changes_nothing(pdns: PowerDns, dns_zone: str) -> None:
    """The post-mortem's enactor at the provider: it read, stalled, then wrote."""
    p = provider(pdns, dns_zone)
    apply(p, plan(1, {"api": [("192.0.2.1", 1), ("192.0.2.2", 1)]}))
    stale = decide(plan(2, {"api": [("192.0.2.9", 5)]}), p.read_zone(), "slow", p.lua)
    apply(provider(pdns, dns_zone, "enactor-b"),
          plan(3, {"api": [("192.0.2.3", 1), ("192.0.2.4", 3)]}), "fast")
    before = p.read_zone()
    assert p.write_steps(update_steps(stale, 400)) == [WriteOutcome.CONFLICT]
    # Same endpoint, fence from before plan 3 but records as they are now: still refused,
    # since the fence must match too.
    now = before.endpoint("api")
    w = EndpointWrite(expect=now, a=frozenset(), aaaa=frozenset(), ttl=30,
                      marker=marker_text(2, "p-2", "slow"), kind="update", lua=now.lua)
    assert p.write_steps([UpdateStep((w,), stale.fence_expect, None)]) == [WriteOutcome.CONFLICT]
    after = p.read_zone()
    assert after.endpoints == before.endpoints and after.fence == before.fence
    assert set(pdns.split(f"api.{dns_zone}", 200)) == {"192.0.2.3", "192.0.2.4"}


@on_powerdns
def test_racing_writers_lose_no_update(pdns: PowerDns, dns_zone: str) -> None:
    """Three writers each read, then compare-and-swap the endpoint to the generation after
    the one it read. With one PowerDNS process every won swap is exactly one step: the
    final generation equals the number of wins (a lost update would leave it lower)."""
    rounds = 25
    wins = {k: 0 for k in ("enactor-a", "enactor-b", "enactor-c")}
    conflicts = {k: 0 for k in wins}
    start = threading.Barrier(len(wins))

    def race(key: str) -> None:
        p = provider(pdns, dns_zone, key)
        start.wait()
        for _ in range(rounds):
            st = p.read_zone()
            g = (st.endpoint("api").generation or 0) + 1
            d = decide(plan(g, {"api": [("192.0.2.1", g % 200 + 1), ("192.0.2.2", 7)]}), st,
                       key, p.lua)
            outcomes = p.write_steps(update_steps(d, 400))
            if outcomes == [WriteOutcome.APPLIED]:
                wins[key] += 1
            else:
                conflicts[key] += 1

    threads = [threading.Thread(target=race, args=(k,)) for k in wins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = provider(pdns, dns_zone).read_zone()
    print(f"3 writers x {rounds} read-then-CAS: wins {wins}, conflicts {conflicts}")
    assert sum(wins.values()) + sum(conflicts.values()) == 3 * rounds
    assert final.endpoint("api").generation == sum(wins.values())
    assert final.fence_generation == sum(wins.values())
    assert sum(conflicts.values()) > 0, "the writers never raced; the test proved nothing"


@on_powerdns
def test_a_plain_set_beside_the_weights_and_foreign_lua_are_replaced(
        pdns: PowerDns, dns_zone: str) -> None:
    p = provider(pdns, dns_zone)
    name = f"api.{dns_zone}"
    # A plain set there before planguard: adopted into one LUA record, the set removed.
    pdns.admin_update(dns_zone, lambda u: u.add("api", 30, "A", "192.0.2.200"))
    apply(p, plan(1, {"api": [("192.0.2.1", 1)]}))
    assert set(pdns.split(name, 50)) == {"192.0.2.1"}
    # A hand edit adds a plain set beside the LUA record: both would be served.
    pdns.admin_update(dns_zone, lambda u: u.add("api", 30, "A", "192.0.2.66"))
    assert "192.0.2.66" in pdns.query(name)
    apply(p, plan(1, {"api": [("192.0.2.1", 1)]}))  # a repair: same generation
    assert set(pdns.split(name, 50)) == {"192.0.2.1"}
    # Someone's own Lua, broken: PowerDNS accepts it and the name answers SERVFAIL...
    pdns.admin_update(dns_zone, lambda u: u.replace(
        "api", 30, "TYPE65402", r"\# 11 0001 08 6e6f74206c756121"))  # LUA A "not lua!"
    assert set(pdns.split(name, 5)) == {"SERVFAIL"}
    st = p.read_zone().endpoint("api")
    assert len(st.lua) == 1 and not st.empty
    # ...and is not what the plan serves, so the enactor replaces it through the CAS.
    apply(p, plan(1, {"api": [("192.0.2.1", 1)]}))
    assert set(pdns.split(name, 50)) == {"192.0.2.1"}


@on_powerdns
def test_failures_are_classified_and_never_read_as_empty(pdns: PowerDns,
                                                         dns_zone: str) -> None:
    good = provider(pdns, dns_zone)
    apply(good, plan(1, {"api": [("192.0.2.1", 1)]}))
    wrong = PowerDnsProvider(dns_zone, "127.0.0.1", pdns.port,
                             TsigKey("enactor-a", "hmac-sha256", "d3Jvbmcgc2VjcmV0IQ=="))
    with pytest.raises(DnsError) as e:
        wrong.read_zone()
    assert e.value.kind is DnsErrorKind.TSIG
    d = decide(plan(2, {"api": [("192.0.2.2", 1)]}), good.read_zone(), "a", good.lua)
    with pytest.raises(DnsError) as e:
        wrong.write_steps(update_steps(d, 400))  # PowerDNS: REFUSED, unsigned
    assert e.value.kind is DnsErrorKind.TSIG and "REFUSED" in str(e.value)
    unknown = PowerDnsProvider(dns_zone, "127.0.0.1", pdns.port,
                               TsigKey("nobody", "hmac-sha256", "d3Jvbmcgc2VjcmV0IQ=="))
    with pytest.raises(DnsError) as e:
        unknown.write_steps(update_steps(d, 400))
    assert e.value.kind is DnsErrorKind.TSIG
    missing = provider(pdns, f"not-{dns_zone}")
    with pytest.raises(DnsError) as e:
        missing.read_zone()
    assert e.value.kind is DnsErrorKind.ZONE_MISSING
    gone = PowerDnsProvider(dns_zone, "127.0.0.1", 1, load_key(pdns.key("enactor-a")))
    with pytest.raises(DnsError) as e:
        gone.read_zone()
    assert e.value.kind is DnsErrorKind.UNREACHABLE
    assert good.read_zone().endpoint("api").generation == 1  # nothing was written


@on_powerdns
def test_each_applied_update_raises_the_serial_by_one(pdns: PowerDns, dns_zone: str) -> None:
    """The enactor's one-query change check (read_serial) relies on it."""
    p = provider(pdns, dns_zone)
    s0 = p.read_serial()
    apply(p, plan(1, {"a": [("192.0.2.1", 1)], "b": [("192.0.2.2", 2)]}))
    assert p.read_serial() == s0 + 1
    d = decide(plan(2, {f"e{i}": [(f"192.0.2.{i + 10}", i + 1)] for i in range(6)}),
               p.read_zone(), "a", p.lua)
    steps = update_steps(d, 9)  # several UPDATEs, pipelined
    assert p.write_steps(steps) == [WriteOutcome.APPLIED] * len(steps) and len(steps) > 1
    eventually(lambda: p.read_serial() == s0 + 1 + len(steps), timeout=5)
    assert p.read_zone().serial == s0 + 1 + len(steps)
