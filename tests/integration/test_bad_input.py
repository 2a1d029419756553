"""Bad input, all of it: each malformed or hostile input is refused at admission with a
message a person understands, or handled with a status condition and an Event; none
reaches DNS, none loses an existing record."""

from __future__ import annotations

import copy
import json
import socket
import time
from typing import Any

import pytest

import harness as h

pytestmark = pytest.mark.integration


def good() -> dict[str, Any]:
    return h.plan_obj("web", 2, {"api": ["10.0.0.1", "2001:db8::1"]})


def ep(p: dict[str, Any]) -> dict[str, Any]:
    return p["spec"]["endpoints"][0]


def setp(path: str, value: Any):  # type: ignore[no-untyped-def]
    def f(p: dict[str, Any]) -> None:
        obj: Any = p
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[int(k)] if k.isdigit() else obj[k]
        last = keys[-1]
        if value is _DELETE:
            del obj[last]
        elif last.isdigit():
            obj[int(last)] = value
        else:
            obj[last] = value
    return f


_DELETE = object()


def bare(*addresses: str):  # type: ignore[no-untyped-def]
    """The first endpoint's targets given in the short form, as `addresses`."""
    def f(p: dict[str, Any]) -> None:
        del ep(p)["targets"]
        ep(p)["addresses"] = list(addresses)
    return f

T0 = "spec.endpoints.0.targets.0"
# Addresses no load balancer has that isIP() and isGlobalUnicast() let through (issue 28).
UNSERVABLE = [
    ("this-network", "0.1.2.3"),
    ("reserved-240", "240.0.0.1"),
    ("reserved-top", "255.255.255.254"),
    ("ipv4-compatible", "::a9fe:a9fe"),
    ("ipv4-compatible-dotted", "::10.0.0.1"),
    ("ipv4-compatible-long", "0:0:0:0:0:0:a9fe:a9fe"),
]

# (case id, mutation of a valid plan, what the refusal must say)
ADMISSION = [
    ("ipv4-out-of-range", setp(f"{T0}.address", "10.0.0.300"), "must be an IPv4 or IPv6 address"),
    ("ipv6-malformed", setp(f"{T0}.address", "2001:db8:::1"), "must be an IPv4 or IPv6 address"),
    ("hostname-not-address", setp(f"{T0}.address", "lb.example.com"),
     "must be an IPv4 or IPv6 address"),
    ("empty-address", setp(f"{T0}.address", ""), "must be an IPv4 or IPv6 address"),
    ("ipv4-leading-zero", setp(f"{T0}.address", "10.0.0.01"), "must be an IPv4 or IPv6 address"),
    ("unspecified-v4", setp(f"{T0}.address", "0.0.0.0"), "no load balancer has this address"),
    ("unspecified-v6", setp(f"{T0}.address", "::"), "no load balancer has this address"),
    ("broadcast", setp(f"{T0}.address", "255.255.255.255"), "no load balancer has this address"),
    ("multicast-v4", setp(f"{T0}.address", "224.0.0.251"), "no load balancer has this address"),
    ("multicast-v6", setp(f"{T0}.address", "ff02::fb"), "no load balancer has this address"),
    ("link-local", setp(f"{T0}.address", "169.254.169.254"), "no load balancer has this address"),
    *[(case, setp(f"{T0}.address", address), "no load balancer has this address")
      for case, address in UNSERVABLE],
    ("ipv4-mapped", setp(f"{T0}.address", "::ffff:10.0.0.1"),
     "must be an IPv4 or IPv6 address (an IPv4-mapped IPv6 address, ::ffff:a.b.c.d, is refused"),
    ("duplicate-endpoint", lambda p: p["spec"]["endpoints"].append(copy.deepcopy(ep(p))),
     "key api already exists evaluating rule: endpoint names must be unique"),
    ("duplicate-target", lambda p: ep(p)["targets"].append({"address": "10.0.0.1"}),
     'Duplicate value: {"address":"10.0.0.1"}'),
    ("negative-weight", setp(f"{T0}.weight", -1), "should be greater than or equal to 0"),
    ("weight-256", setp(f"{T0}.weight", 256), "should be less than or equal to 255"),
    ("huge-weight", setp(f"{T0}.weight", 10**12), "should be less than or equal to 255"),
    ("ttl-zero", setp("spec.endpoints.0.ttl", 0), "should be greater than or equal to 1"),
    ("ttl-huge", setp("spec.endpoints.0.ttl", 86401), "should be less than or equal to 86400"),
    ("ttl-negative", setp("spec.endpoints.0.ttl", -5), "should be greater than or equal to 1"),
    ("empty-endpoint", setp("spec.endpoints.0.targets", []), "would answer with no address"),
    ("all-weights-zero", lambda p: [t.__setitem__("weight", 0) for t in ep(p)["targets"]],
     "set allowEmpty=true to empty it on purpose"),
    ("remove-with-targets", setp("spec.endpoints.0.remove", True),
     "an endpoint with remove=true must list no targets"),
    ("generation-zero", setp("spec.generation", 0), "should be greater than or equal to 1"),
    ("generation-negative", setp("spec.generation", -3), "should be greater than or equal to 1"),
    ("generation-string", setp("spec.generation", "two"), "must be of type integer"),
    ("generation-above-2^53", lambda p: (setp("spec.generation", 2**53 + 1)(p),
                                         setp("metadata.name", f"web-{2**53 + 1}")(p)),
     "spec.generation in body should be less than or equal to 9007199254740992"),
    ("base-above-2^53", setp("spec.base", 2**53 + 1),
     "spec.base in body should be less than or equal to 9007199254740992"),
    ("name-generation-mismatch", setp("metadata.name", "web-9"),
     "metadata.name must be '<spec.zone>-<spec.generation>'"),
    ("endpoint-uppercase", setp("spec.endpoints.0.name", "API"), "should match"),
    ("endpoint-underscore", setp("spec.endpoints.0.name", "_planguard"), "should match"),
    ("endpoint-label-too-long", setp("spec.endpoints.0.name", "a" * 64), "should match"),
    ("endpoint-trailing-dot", setp("spec.endpoints.0.name", "api."), "should match"),
    ("endpoint-empty-label", setp("spec.endpoints.0.name", "api..fips"), "should match"),
    ("no-endpoints", setp("spec.endpoints", []), "should have at least 1 items"),
    ("too-many-targets", setp("spec.endpoints.0.targets",
                              [{"address": f"10.1.{i // 250}.{i % 250 + 1}"} for i in range(33)]),
     "Too many: 33: must have at most 32 items"),
    ("too-many-endpoints", setp("spec.endpoints", [
        {"name": f"e{i}", "targets": [{"address": "10.0.0.1"}]} for i in range(5001)]),
     "must have at most 5000 items"),
    ("part-index-out-of-range", lambda p: (p["spec"].__setitem__("part", {"index": 2, "count": 2}),
                                           p["metadata"].__setitem__("name", "web-2-p2")),
     "part.index must be below part.count"),
    ("missing-zone", setp("spec.zone", _DELETE), 'spec.zone: Required value'),
    ("missing-generation", setp("spec.generation", _DELETE), "spec.generation: Required value"),
    ("unknown-field", setp("spec.endpoints.0.wieght", 3),
     'unknown field "spec.endpoints[0].wieght"'),
    *[(f"bare-{case}", bare(*addresses), message) for case, addresses, message in [
        ("ipv4-out-of-range", ["10.0.0.1", "10.0.0.300"],
         "must each be a unicast IPv4 or IPv6 address a load balancer can have (unspecified, "
         "broadcast, multicast, link-local, 0.0.0.0/8 and 240.0.0.0/4 addresses and "
         "IPv4-mapped and IPv4-compatible IPv6 addresses are refused); one of these is not: "
         "10.0.0.1, 10.0.0.300"),
        ("hostname-not-address", ["lb.example.com"], "one of these is not: lb.example.com"),
        ("empty-address", [""], "must each be a unicast IPv4 or IPv6 address"),
        ("unspecified-v6", ["::"], "one of these is not: ::"),
        ("broadcast", ["255.255.255.255"], "one of these is not: 255.255.255.255"),
        ("multicast-v6", ["ff02::fb"], "one of these is not: ff02::fb"),
        ("link-local", ["169.254.169.254"], "one of these is not: 169.254.169.254"),
        *[(case, ["10.0.0.1", address], f"one of these is not: 10.0.0.1, {address}")
          for case, address in [*UNSERVABLE, ("ipv4-mapped", "::ffff:10.0.0.1")]],
        ("duplicate", ["10.0.0.1", "10.0.0.1"], 'Duplicate value: "10.0.0.1"'),
        ("empty-endpoint", [], "would answer with no address"),
        ("too-many", [f"10.1.0.{i + 1}" for i in range(33)], "must have at most 32 items"),
        ("too-long", ["1" * 46], "Too long: may not be more than 45 bytes"),
    ]],
    ("bare-and-targets", lambda p: ep(p).__setitem__("addresses", ["10.0.0.2"]),
     "spec.endpoints[0].addresses: Forbidden: list an endpoint's addresses as targets or as "
     "addresses, not both"),
    ("bare-remove-with-addresses",
     lambda p: (bare("10.0.0.1")(p), ep(p).__setitem__("remove", True)),
     "an endpoint with remove=true must list no targets or addresses"),
]


def _apply_mutated(cluster: h.Cluster, ns: str, mutate: Any) -> tuple[dict[str, Any], Any]:
    """A good plan changed by `mutate`, applied as a user would (refusals expected)."""
    p = good()
    mutate(p)
    return p, cluster.apply(ns, p, check=False)


@pytest.mark.parametrize(("mutate", "message"), [c[1:] for c in ADMISSION],
                         ids=[c[0] for c in ADMISSION])
def test_refused_at_admission(cluster: h.Cluster, ns: str, mutate, message) -> None:
    p, r = _apply_mutated(cluster, ns, mutate)
    assert r.returncode != 0, f"accepted: {json.dumps(p)[:300]}"
    assert message in r.stderr, r.stderr
    assert not cluster.exists("dnsplan", ns, p["metadata"]["name"])


# Every address a load balancer may have passes, in either form; loopback too (the demo's).
GOOD_ADDRESSES = ["10.0.0.1", "192.0.2.1", "2001:db8::1", "127.0.0.1", "::1", "100.64.0.1"]


@pytest.mark.parametrize("bare_form", [True, False], ids=["addresses", "targets"])
def test_addresses_a_load_balancer_may_have_are_accepted(cluster: h.Cluster, ns: str,
                                                         bare_form: bool) -> None:
    p = h.plan_obj("web", 2, {"api": GOOD_ADDRESSES}, bare=bare_form)
    r = cluster.apply(ns, p, check=False)
    assert r.returncode == 0, r.stderr
    assert cluster.exists("dnsplan", ns, "web-2")


def test_the_highest_generation_is_accepted(cluster: h.Cluster, ns: str) -> None:
    r = cluster.apply(ns, h.plan_obj("web", 2**53, {"api": ["10.0.0.1"]}), check=False)
    assert r.returncode == 0, r.stderr


# The CEL rules carry fieldPath and reason, so a refusal names the field, as the API
# server's own checks do (kubectl shows `<path>: <reason>: <message>`).
FIELD_PATHS = [
    ("remove-with-targets", setp("spec.endpoints.0.remove", True),
     "spec.endpoints[0].targets: Forbidden: an endpoint with remove=true"),
    ("empty-endpoint", setp("spec.endpoints.0.targets", []),
     "spec.endpoints[0].targets: Invalid value"),
    ("unspecified-v4", setp(f"{T0}.address", "0.0.0.0"),
     "spec.endpoints[0].targets[0].address: Invalid value"),
    ("part-index-out-of-range", lambda p: (p["spec"].__setitem__("part", {"index": 2, "count": 2}),
                                           p["metadata"].__setitem__("name", "web-2-p2")),
     "spec.part.index: Invalid value"),
]


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in FIELD_PATHS],
                         ids=[c[0] for c in FIELD_PATHS])
def test_a_refusal_names_the_field(cluster: h.Cluster, ns: str, mutate, path) -> None:
    _, r = _apply_mutated(cluster, ns, mutate)
    assert r.returncode != 0 and path in r.stderr, r.stderr


def test_a_pool_refusal_names_the_field(cluster: h.Cluster, ns: str) -> None:
    pool = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSEndpointPool",
            "metadata": {"name": "p"},
            "spec": {"zone": "web", "endpoints": [{"name": "api"}],
                     "healthCheck": {"intervalSeconds": 1, "timeoutSeconds": 2}}}
    r = cluster.apply(ns, pool, check=False)
    assert r.returncode != 0
    assert "spec.targets: Required value: a pool needs targets, a service, or both" in r.stderr
    assert "spec.healthCheck.timeoutSeconds: Invalid value" in r.stderr, r.stderr


@pytest.mark.parametrize("address", ["0.1.2.3", "240.0.0.1", "::a9fe:a9fe", "::ffff:10.0.0.1"])
def test_a_pool_target_no_load_balancer_has_is_refused(cluster: h.Cluster, ns: str,
                                                      address: str) -> None:
    """The planner would write it into a plan admission refuses: refused at the pool."""
    pool = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSEndpointPool",
            "metadata": {"name": "p"},
            "spec": {"zone": "web", "endpoints": [{"name": "api"}],
                     "targets": [{"address": "10.0.0.1"}, {"address": address}]}}
    r = cluster.apply(ns, pool, check=False)
    assert r.returncode != 0 and "spec.targets[1].address" in r.stderr, r.stderr
    pool["spec"]["targets"].pop()
    assert cluster.apply(ns, pool, check=False).returncode == 0


def test_an_oversized_plan_is_refused_by_the_api_server(cluster: h.Cluster, ns: str) -> None:
    p = good()
    ep(p)["targets"] = [{"address": "10.0.0.1", "loadBalancer": "x" * 250,
                         "availabilityZone": "y" * 60}]
    p["spec"]["endpoints"] = [dict(ep(p), name=f"e{i}") for i in range(5000)]
    p["spec"]["endpoints"][0]["targets"] = [{"address": "10.0.0.1", "loadBalancer": "z" * 253}]
    big = {"metadata": {"name": "web-2"}} | {k: v for k, v in p.items() if k != "metadata"}
    r = cluster.apply(ns, big, check=False)
    assert r.returncode != 0
    assert "Request entity too large" in r.stderr or "too large" in r.stderr.lower(), r.stderr


def _name_of(length: int) -> str:
    """A DNS name of `length` characters (labels of 62)."""
    name = (("a" * 62 + ".") * 5)[:length]
    return name[:-2] + ".a" if name.endswith(".") else name


@pytest.mark.parametrize(("spec", "message"), [
    ({"zone": "example.test", "server": {"address": "not_a_host"}},
     "server.address must be an IPv4 or IPv6 address or a host name"),
    ({"zone": "example.test", "server": {"address": "10.0.0.300"}},
     "server.address must be an IPv4 or IPv6 address or a host name"),
    ({"zone": "example.test", "server": {"address": "Bind.DNS"}},
     "server.address must be an IPv4 or IPv6 address or a host name"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1", "port": 70000}},
     "should be less than or equal to 65535"),
    ({"zone": "Example..test", "server": {"address": "127.0.0.1"}},
     "spec.zone in body should match"),
    ({"zone": _name_of(243), "server": {"address": "127.0.0.1"}},
     "spec.zone may have at most 242 characters (243 with the trailing dot): the fence record "
     "_planguard.<zone> must fit in a DNS name of 253"),
    ({"zone": _name_of(243) + ".", "server": {"address": "127.0.0.1"}},
     "may not be more than 243 bytes"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"}, "keep": 0},
     "should be greater than or equal to 1"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"}, "adoptable": ["_acme-x"]},
     "spec.adoptable[0] in body should match"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"}, "adoptable": ["NS"]},
     "spec.adoptable[0] in body should match"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"}, "maxGenerationJump": 0},
     "spec.maxGenerationJump: Invalid value: 0: spec.maxGenerationJump in body should be "
     "greater than or equal to 1"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"},
      "maxGenerationJump": 2**53 + 1}, "should be less than or equal to 9007199254740992"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"},
      "changeGuard": {"maxChangePercent": 0}},
     "spec.changeGuard.maxChangePercent in body should be greater than or equal to 1"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1"},
      "changeGuard": {"maxChangePercent": 101}},
     "spec.changeGuard.maxChangePercent in body should be less than or equal to 100"),
    ({"zone": "example.test", "server": {"address": "127.0.0.1", "kind": "knot"}},
     'spec.server.kind: Unsupported value: "knot"'),
    ({"zone": "example.test", "server": {"address": "127.0.0.1", "kind": "powerdns",
                                         "powerdns": {"selector": "ifportup"}}},
     'spec.server.powerdns.selector: Unsupported value: "ifportup"'),
    ({"zone": "example.test", "server": {"address": "127.0.0.1",
                                         "powerdns": {"selector": "pickwhashed"}}},
     "spec.server.powerdns: Forbidden: spec.server.powerdns applies to kind powerdns only"),
])
def test_bad_zones_refused_at_admission(cluster: h.Cluster, ns: str, spec, message) -> None:
    r = cluster.apply(ns, {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
                           "metadata": {"name": "bad"}, "spec": spec}, check=False)
    assert r.returncode != 0 and message in r.stderr, r.stderr


@pytest.mark.parametrize("server", ["localhost", "bind.dns.svc.cluster.local",
                                    "bind.dns.svc.cluster.local.", "10.96.0.10", "fd00::53"])
def test_a_zone_server_may_be_a_host_name_or_an_address(cluster: h.Cluster, ns: str,
                                                         server: str) -> None:
    r = cluster.apply(ns, {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
                           "metadata": {"name": "named"},
                           "spec": {"zone": "example.test", "server": {"address": server}}},
                      check=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("zone", [_name_of(242), _name_of(242) + "."], ids=["242", "242-dot"])
def test_a_zone_of_the_longest_name_is_accepted(cluster: h.Cluster, ns: str, zone: str) -> None:
    """_planguard.<zone> is then 253 characters: a name DNS can hold."""
    r = cluster.apply(ns, {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
                           "metadata": {"name": "long"},
                           "spec": {"zone": zone, "server": {"address": "127.0.0.1"}}},
                      check=False)
    assert r.returncode == 0, r.stderr
    assert len(f"_planguard.{zone.rstrip('.')}") == 253


def test_a_plan_cannot_be_edited_or_replaced(cluster: h.Cluster, ns: str) -> None:
    cluster.apply(ns, good())
    changed = good()
    ep(changed)["ttl"] = 99
    r = cluster.apply(ns, changed, check=False)
    assert r.returncode != 0 and "a DNSPlan is immutable" in r.stderr
    r = cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(good()), check=False)
    assert r.returncode != 0 and "AlreadyExists" in r.stderr  # one plan per generation


def test_a_zones_server_kind_cannot_change(cluster: h.Cluster, bind: h.Bind, ns: str) -> None:
    """Records written for one kind are not what the other reads: a new DNSZone instead."""
    cluster.apply(ns, h.zone_obj("web", "a.test", bind.port))  # kind bind by default
    assert cluster.get("dnszone", ns, "web")["spec"]["server"]["kind"] == "bind"
    moved = h.zone_obj("web", "a.test", bind.port)
    moved["spec"]["server"]["kind"] = "powerdns"
    r = cluster.apply(ns, moved, check=False)
    assert r.returncode != 0 and "spec.server.kind is immutable" in r.stderr, r.stderr


def test_a_zone_name_cannot_change(cluster: h.Cluster, bind: h.Bind, ns: str) -> None:
    cluster.apply(ns, h.zone_obj("web", "a.test", bind.port))
    r = cluster.apply(ns, h.zone_obj("web", "b.test", bind.port), check=False)
    assert r.returncode != 0 and "spec.zone is immutable" in r.stderr


# ---- handled at run time: a condition and an Event, nothing written ----------------------

def events(cluster: h.Cluster, ns: str) -> str:
    return cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout


def start(procs: h.Processes, bind: h.Bind, ns: str) -> None:
    procs.enactor("a", ns, bind.key("enactor-a"))
    procs.cleanup(ns, bind.key("planguard-cleanup"))


def test_plan_for_a_missing_zone(cluster, bind, ns, procs) -> None:
    start(procs, bind, ns)
    cluster.apply(ns, h.plan_obj("nozone", 1, {"api": ["10.0.0.1"]}))
    h.eventually(lambda: h.condition(cluster.get("dnsplan", ns, "nozone-1"), "Accepted") == "False")
    plan = cluster.get("dnsplan", ns, "nozone-1")
    assert "does not exist" in plan["status"]["conditions"][0]["message"]
    assert "ZoneNotFound" in events(cluster, ns)


def test_lower_generation_than_live_is_superseded_not_applied(cluster, bind, ns, zone,
                                                              dns_zone, procs) -> None:
    start(procs, bind, ns)
    cluster.apply(ns, h.plan_obj(zone, 5, {"api": ["10.0.0.5"]}))
    h.eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.5"])
    cluster.apply(ns, h.plan_obj(zone, 3, {"api": ["10.0.0.3"]}))
    h.eventually(lambda: h.condition(cluster.get("dnsplan", ns, f"{zone}-3"), "Superseded")
                 == "True")
    assert bind.query(f"api.{dns_zone}") == ["10.0.0.5"]


@pytest.mark.parametrize("kind", ["unreachable", "timeout", "unresolvable"])
def test_unreachable_server(cluster, bind, ns, procs, kind) -> None:
    # Nothing listens on port 1; the black hole accepts connections and never answers;
    # .invalid names never resolve (RFC 6761).
    black_hole = socket.create_server(("127.0.0.1", 0))
    port = {"unreachable": 1, "timeout": black_hole.getsockname()[1]}.get(kind, bind.port)
    host = "bind.dns.invalid" if kind == "unresolvable" else "127.0.0.1"
    mport = h.free_port()
    procs.enactor("a", ns, bind.key("enactor-a"), metrics_port=mport)
    procs.cleanup(ns, bind.key("planguard-cleanup"))
    z = h.zone_obj("web", "example.test", bind.port)
    z["spec"]["server"] = {"address": host, "port": port}
    cluster.apply(ns, [z, h.plan_obj("web", 1, {"api": ["10.0.0.1"]})])

    def reported() -> bool:
        st = cluster.get("dnszone", ns, "web").get("status") or {}
        return (st.get("enactors") or {}).get("a", {}).get("lastErrorKind") == kind
    h.eventually(reported, timeout=60, what=f"{kind} in status")
    # Clean-up writes the zone's conditions on its own cycle, a moment later.
    h.eventually(lambda: (h.condition(cluster.get("dnszone", ns, "web"), "DNSReadable"),
                          h.condition(cluster.get("dnszone", ns, "web"), "Degraded"))
                 == ("False", "True"), timeout=30, what="DNSReadable=False, Degraded=True")
    conds = {c["type"]: c for c in cluster.get("dnszone", ns, "web")["status"]["conditions"]}
    assert conds["DNSReadable"]["reason"] == kind.capitalize()
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "DNSUnreadable")
    assert "DNSError" in events(cluster, ns)
    assert f'kind="{kind}"' in h.metrics_text(mport, timeout=5), "DNS error kind not in the metrics"


def test_zone_missing_on_the_server(cluster, bind, ns, procs) -> None:
    start(procs, bind, ns)
    cluster.apply(ns, [h.zone_obj("web", "not-served.test", bind.port),
                       h.plan_obj("web", 1, {"api": ["10.0.0.1"]})])

    def reported() -> bool:
        st = cluster.get("dnszone", ns, "web").get("status") or {}
        return (st.get("enactors") or {}).get("a", {}).get("lastErrorKind") == "zone_missing"
    h.eventually(reported, what="zone_missing in status")


def test_frozen_zone_writes_nothing_then_recovers(cluster, bind, ns, zone, dns_zone,
                                                 procs) -> None:
    start(procs, bind, ns)
    cluster.apply(ns, h.plan_obj(zone, 1, {"api": ["10.0.0.1"], "keep": ["10.0.9.9"]}))
    h.eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"])
    bind.rndc("freeze", dns_zone)
    try:
        cluster.apply(ns, h.plan_obj(zone, 2, {"api": ["10.0.0.2"], "keep": ["10.0.9.9"]}))

        def refused() -> bool:
            st = cluster.get("dnszone", ns, zone).get("status") or {}
            return (st.get("enactors") or {}).get("a", {}).get("lastErrorKind") == "refused"
        h.eventually(refused, what="refused (frozen) in status")
        assert bind.query(f"api.{dns_zone}") == ["10.0.0.1"]
        assert bind.query(f"keep.{dns_zone}") == ["10.0.9.9"]
    finally:
        bind.rndc("thaw", dns_zone)
    h.eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.2"], timeout=60)
    time.sleep(0.5)
    assert bind.query(f"keep.{dns_zone}") == ["10.0.9.9"]
