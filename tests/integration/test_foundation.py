"""The real parts themselves: CRDs on the real API server, RFC 2136 + TSIG on real BIND, RBAC."""

from __future__ import annotations

import dns.query
import dns.rcode
import dns.tsig
import dns.update
import pytest

from harness import Bind, Cluster, plan_obj, zone_obj
from planguard.dns.tsig import TsigKey, load_key

pytestmark = pytest.mark.integration


def test_sample_objects_are_accepted(cluster: Cluster, bind: Bind, ns: str) -> None:
    r = cluster.apply(ns, [zone_obj("web", "example.test", bind.port),
                           plan_obj("web", 1, {"api": ["10.0.0.1", "2001:db8::1"]})])
    assert "dnsplan.planguard.io/web-1 created" in r.stdout
    plan = cluster.get("dnsplan", ns, "web-1")
    assert plan["spec"]["endpoints"][0]["targets"][0]["weight"] == 1  # defaulted
    assert plan["spec"]["endpoints"][0]["ttl"] == 30
    cluster.apply(ns, plan_obj("web", 2, {"api": ["10.0.0.1", "2001:db8::1"]}, bare=True))
    short = cluster.get("dnsplan", ns, "web-2")["spec"]["endpoints"][0]
    assert short == {"name": "api", "ttl": 30, "addresses": ["10.0.0.1", "2001:db8::1"]}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: p["spec"]["endpoints"][0]["targets"].__setitem__(0, {"address": "10.0.0.300"}),
     "must be an IPv4 or IPv6 address"),
    (lambda p: p["spec"]["endpoints"][0].__setitem__("targets", []),
     "the endpoint would answer with no address"),
    (lambda p: p["spec"]["endpoints"][0]["targets"].__setitem__(0, {"address": "10.0.0.1",
                                                                    "weight": 0}),
     "set allowEmpty=true to empty it on purpose"),
    (lambda p: p["spec"]["endpoints"].append(dict(p["spec"]["endpoints"][0])),
     'key api already exists evaluating rule: endpoint names must be unique'),
    (lambda p: p["spec"]["endpoints"][0].__setitem__("name", "Bad_Name"),
     "spec.endpoints[0].name in body should match"),
    (lambda p: p["spec"]["endpoints"][0].__setitem__("ttl", 0),
     "spec.endpoints[0].ttl in body should be greater than or equal to 1"),
    (lambda p: p["metadata"].__setitem__("name", "web-7"),
     "metadata.name must be '<spec.zone>-<spec.generation>'"),
    (lambda p: p["spec"].__setitem__("generation", 0), "spec.generation in body should be greater"),
])
def test_malformed_plans_are_refused_with_a_message(cluster, ns, mutate, message) -> None:
    p = plan_obj("web", 1, {"api": ["10.0.0.1"]})
    mutate(p)
    r = cluster.apply(ns, p, check=False)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_plans_are_selected_by_zone_and_generation_on_the_server(cluster: Cluster,
                                                                   ns: str) -> None:
    """selectableFields: `kubectl get dnsplans --field-selector spec.zone=...` is answered
    by the API server, without listing every plan of every zone."""
    cluster.apply(ns, [plan_obj("dynamo", 1, {"api": ["10.0.0.1"]}),
                       plan_obj("dynamo", 2, {"api": ["10.0.0.2"]}),
                       plan_obj("web", 2, {"api": ["10.0.0.3"]})])

    def names(selector: str) -> list[str]:
        out = cluster.kubectl("get", "dnsplans", "-n", ns, "--field-selector", selector,
                              "-o", "name").stdout
        return sorted(n.split("/", 1)[1] for n in out.split())
    assert names("spec.zone=dynamo") == ["dynamo-1", "dynamo-2"]
    assert names("spec.generation=2") == ["dynamo-2", "web-2"]
    assert names("spec.zone=dynamo,spec.generation=2") == ["dynamo-2"]
    assert names("spec.zone!=dynamo") == ["web-2"]


def test_plans_are_immutable(cluster: Cluster, ns: str) -> None:
    cluster.apply(ns, plan_obj("web", 1, {"api": ["10.0.0.1"]}))
    r = cluster.apply(ns, plan_obj("web", 1, {"api": ["10.0.0.2"]}), check=False)
    assert r.returncode != 0 and "a DNSPlan is immutable" in r.stderr


def _update(zone: str, key: TsigKey | None) -> dns.update.UpdateMessage:
    if key is None:
        return dns.update.UpdateMessage(zone)
    return dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.keyname,
                                    keyalgorithm=key.algorithm)


def test_tsig_signed_compare_and_swap_on_real_bind(bind: Bind, dns_zone: str) -> None:
    key = load_key(bind.key("enactor-a"))
    u = _update(dns_zone, key)
    u.absent("_planguard.api", "TXT")
    u.replace("api", 30, "A", "10.0.0.1")
    u.replace("_planguard.api", 0, "TXT", '"gen=1"')
    assert dns.query.tcp(u, "127.0.0.1", port=bind.port).rcode() == dns.rcode.NOERROR

    u = _update(dns_zone, key)
    u.present("_planguard.api", "TXT", '"gen=1"')
    u.replace("api", 30, "A", "10.0.0.2")
    u.replace("_planguard.api", 0, "TXT", '"gen=2"')
    assert dns.query.tcp(u, "127.0.0.1", port=bind.port).rcode() == dns.rcode.NOERROR

    stale = _update(dns_zone, key)  # prerequisite from a read made before gen 2
    stale.present("_planguard.api", "TXT", '"gen=1"')
    stale.replace("api", 30, "A", "10.0.0.9")
    assert dns.query.tcp(stale, "127.0.0.1", port=bind.port).rcode() == dns.rcode.NXRRSET
    assert bind.query(f"api.{dns_zone}") == ["10.0.0.2"]
    assert bind.query(f"_planguard.api.{dns_zone}", "TXT") == ['"gen=2"']


def test_unsigned_and_wrongly_signed_updates_are_refused(bind: Bind, dns_zone: str) -> None:
    unsigned = _update(dns_zone, None)
    unsigned.replace("evil", 30, "A", "6.6.6.6")
    assert dns.query.tcp(unsigned, "127.0.0.1", port=bind.port).rcode() == dns.rcode.REFUSED

    wrong = _update(dns_zone, TsigKey("enactor-a", "hmac-sha256", "c2VjcmV0IG5vdCBpbiBCSU5E"))
    wrong.replace("evil", 30, "A", "6.6.6.6")
    with pytest.raises(dns.tsig.PeerBadSignature):
        dns.query.tcp(wrong, "127.0.0.1", port=bind.port)
    assert bind.query(f"evil.{dns_zone}") == []


def test_keys_may_only_do_what_update_policy_grants(bind: Bind, dns_zone: str) -> None:
    enactor = load_key(bind.key("enactor-b"))
    ns_change = _update(dns_zone, enactor)
    ns_change.replace("@", 60, "NS", "evil.example.")
    assert dns.query.tcp(ns_change, "127.0.0.1", port=bind.port).rcode() == dns.rcode.REFUSED
    reader = load_key(bind.key("planguard-reader"))
    write = _update(dns_zone, reader)
    write.replace("api", 30, "A", "10.0.0.1")
    assert dns.query.tcp(write, "127.0.0.1", port=bind.port).rcode() == dns.rcode.REFUSED
    assert bind.query(f"api.{dns_zone}") == []


def test_a_service_account_has_only_what_rbac_grants(cluster: Cluster, ns: str) -> None:
    sa = f"system:serviceaccount:{ns}:viewer"
    cluster.kubectl("create", "serviceaccount", "viewer", "-n", ns)
    denied = cluster.kubectl("get", "dnsplans", "-n", ns, "--as", sa, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    cluster.kubectl("create", "role", "plans-read", "-n", ns, "--verb=get,list",
                    "--resource=dnsplans.planguard.io")
    cluster.kubectl("create", "rolebinding", "viewer", "-n", ns, "--role=plans-read",
                    f"--serviceaccount={ns}:viewer")
    assert cluster.kubectl("get", "dnsplans", "-n", ns, "--as", sa).returncode == 0
    write = cluster.apply(ns, plan_obj("web", 1, {"api": ["10.0.0.1"]}), check=False)
    assert write.returncode == 0  # admin may write
    sa_write = cluster.kubectl("delete", "dnsplan", "web-1", "-n", ns, "--as", sa, check=False)
    assert sa_write.returncode != 0 and "forbidden" in sa_write.stderr
