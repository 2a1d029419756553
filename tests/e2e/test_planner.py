"""The planner against real targets on loopback, the real API server and BIND."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from typing import Any

import pytest

from harness import Bind, Cluster, Processes, condition, eventually
from planguard.kube.api import PlanguardApi, connect
from planguard.kube.generations import create_plan
from targets import Fleet

pytestmark = pytest.mark.e2e


def pool_obj(zone: str, addresses: list[str], **limits: Any) -> dict[str, Any]:
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSEndpointPool",
            "metadata": {"name": "regional"},
            "spec": {"zone": zone,
                     "endpoints": [{"name": "api", "ttl": 5}, {"name": "fips", "ttl": 5}],
                     "targets": [{"address": a, "capacity": 10, "checkPort": 18080}
                                 for a in addresses],
                     "healthCheck": {"type": "HTTP", "path": "/healthz", "intervalSeconds": 0.2,
                                     "timeoutSeconds": 0.2, "failuresToDown": 3,
                                     "successesToUp": 2},
                     "limits": {"maxRemovePerPlan": 0.5, "maxRemovePerWindow": 1.0,
                                "windowSeconds": 60, "failStaticBelow": 0.3, "minTargets": 1,
                                **limits}}}


def start(procs: Processes, bind: Bind, ns: str, planners: str = "p1") -> None:
    for p in planners.split():
        procs.start(f"planner-{p}", "planner", "--id", p, "-n", ns, "--lease-namespace", ns,
                    "--health-check-allowed-cidrs", "127.0.0.0/8")
    procs.enactor("a", ns, bind.key("enactor-a"))
    procs.cleanup(ns, bind.key("planguard-cleanup"))


def plans(cluster: Cluster, ns: str) -> list[int]:
    items = cluster.get("dnsplans", ns)["items"]
    return sorted(p["spec"]["generation"] for p in items)


def test_targets_going_down_and_up_are_followed_in_dns(cluster, bind, ns, zone, dns_zone,
                                                      procs) -> None:
    with Fleet(4, base=11) as fleet:
        start(procs, bind, ns)
        cluster.apply(ns, pool_obj(zone, fleet.addresses))
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=40,
                   what="every target published")
        assert bind.query(f"fips.{dns_zone}") == fleet.addresses
        fleet.targets[1].down()
        eventually(lambda: bind.query(f"api.{dns_zone}") ==
                   [a for a in fleet.addresses if a != fleet.addresses[1]], timeout=30)
        fleet.targets[1].up()
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=30)
        newest = cluster.get("dnsplan", ns, f"{zone}-{plans(cluster, ns)[-1]}")
        weights = {t["address"]: t["weight"] for t in newest["spec"]["endpoints"][0]["targets"]}
        assert set(weights.values()) == {255}  # equal capacity: equal weight


def test_flapping_health_does_not_flap_dns(cluster, bind, ns, zone, dns_zone, procs) -> None:
    with Fleet(4, base=21) as fleet:
        start(procs, bind, ns)
        cluster.apply(ns, pool_obj(zone, fleet.addresses))
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=40)
        before = plans(cluster, ns)
        stop = threading.Event()

        def flap() -> None:  # up and down faster than failuresToDown checks
            while not stop.is_set():
                fleet.targets[0].down()
                time.sleep(0.35)
                fleet.targets[0].up()
                time.sleep(0.35)
        t = threading.Thread(target=flap, daemon=True)
        t.start()
        seen = set()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            seen.add(tuple(bind.query(f"api.{dns_zone}")))
            time.sleep(0.05)
        stop.set()
        t.join()
        assert seen == {tuple(fleet.addresses)}, seen
        assert plans(cluster, ns) == before


def test_velocity_holds_back_and_fail_static_keeps_the_last_set(cluster, bind, ns, zone,
                                                                dns_zone, procs) -> None:
    with Fleet(10, base=31) as fleet:
        start(procs, bind, ns)
        cluster.apply(ns, pool_obj(zone, fleet.addresses, maxRemovePerPlan=0.1,
                                   maxRemovePerWindow=0.2, failStaticBelow=0.5))
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=40)
        for t in fleet.targets[:3]:
            t.down()
        # 10 % per plan, 20 % per window: two targets go, the third is held back.
        eventually(lambda: len(bind.query(f"api.{dns_zone}")) == 8, timeout=30)
        time.sleep(2)
        assert len(bind.query(f"api.{dns_zone}")) == 8
        pool = cluster.get("dnsendpointpool", ns, "regional")
        assert condition(pool, "HeldBack") == "True"
        assert {h["reason"] for h in pool["status"]["holds"]} == {"VelocityWindow"}
        events = cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout
        assert "HeldBack" in events
        for t in fleet.targets[3:8]:
            t.down()  # 80 % looks dead: the checker is more likely wrong than the fleet
        eventually(lambda: "FailStatic" in {
            h["reason"] for h in cluster.get("dnsendpointpool", ns, "regional")["status"]
            .get("holds", [])}, timeout=30)
        time.sleep(1)
        assert len(bind.query(f"api.{dns_zone}")) == 8
        assert bind.query(f"fips.{dns_zone}") == bind.query(f"api.{dns_zone}")


def test_leader_failover_keeps_generations_unique_and_growing(cluster, bind, ns, zone,
                                                             dns_zone, procs) -> None:
    with Fleet(3, base=51) as fleet:
        start(procs, bind, ns, "p1 p2")
        cluster.apply(ns, pool_obj(zone, fleet.addresses))
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=40)
        lease = cluster.kubectl("get", "lease", "planguard-planner", "-n", ns, "-o",
                                "jsonpath={.spec.holderIdentity}").stdout
        assert lease in ("p1", "p2")
        procs.signal(f"planner-{lease}", signal.SIGKILL)
        other = "p2" if lease == "p1" else "p1"
        t0 = time.monotonic()
        eventually(lambda: cluster.kubectl("get", "lease", "planguard-planner", "-n", ns, "-o",
                                           "jsonpath={.spec.holderIdentity}").stdout == other,
                   timeout=30, what="the standby takes over")
        took = time.monotonic() - t0
        print(f"handover after SIGKILL of the leader: {took:.1f} s")
        assert took < 15 + 2 + 2, took  # lease duration + a retry period or two
        before = plans(cluster, ns)
        fleet.targets[2].down()
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses[:2], timeout=30)
        after = plans(cluster, ns)
        assert after[-1] > before[-1] and len(after) == len(set(after))


def test_sigterm_hands_leadership_over_at_once(cluster, bind, ns, zone, dns_zone,
                                               procs) -> None:
    """A rolling update's SIGTERM: the leader stops its loop and releases the Lease, so the
    standby takes over on its next retry (2 s) instead of waiting out the 15 s lease."""
    def holder() -> str:
        return cluster.kubectl("get", "lease", "planguard-planner", "-n", ns, "-o",
                               "jsonpath={.spec.holderIdentity}").stdout
    with Fleet(3, base=61) as fleet:
        start(procs, bind, ns, "p1 p2")
        cluster.apply(ns, pool_obj(zone, fleet.addresses))
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=40)
        leader = holder()
        assert leader in ("p1", "p2")
        other = "p2" if leader == "p1" else "p1"
        t0 = time.monotonic()
        procs.signal(f"planner-{leader}", signal.SIGTERM)
        eventually(lambda: holder() == other, timeout=30, interval=0.1,
                   what="the standby takes over")
        took = time.monotonic() - t0
        print(f"handover after SIGTERM of the leader: {took:.1f} s")
        assert took < 4, took
        assert procs.procs[f"planner-{leader}"].wait(timeout=10) == 0
        before = plans(cluster, ns)
        fleet.targets[2].down()  # the new leader plans
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses[:2], timeout=30)
        assert plans(cluster, ns)[-1] > before[-1]


def test_two_leaders_never_allocate_the_same_or_a_lower_generation(cluster, ns, zone) -> None:
    """Two planners that both believe they lead, racing: each allocation is a write
    conditional on the zone's resourceVersion, and names are <zone>-<generation>."""
    api = PlanguardApi(connect(cluster.kubeconfig), "test")
    got: dict[str, list[int]] = {"x": [], "y": []}

    def body(g: int) -> dict[str, Any]:
        return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
                "metadata": {"name": f"{zone}-{g}"},
                "spec": {"zone": zone, "generation": g,
                         "endpoints": [{"name": "api", "targets": [{"address": "10.0.0.1"}]}]}}

    def leader(name: str) -> None:
        for _ in range(15):
            got[name].append(create_plan(api, ns, zone, body))

    threads = [threading.Thread(target=leader, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = got["x"] + got["y"]
    assert len(every) == len(set(every)) == 30
    assert all(a < b for seq in got.values() for a, b in itertools.pairwise(seq))
    assert plans(cluster, ns) == sorted(every)


def test_bad_pools(cluster, bind, ns, procs) -> None:
    start(procs, bind, ns)
    r = cluster.apply(ns, pool_obj("web", ["10.0.0.1"], maxRemovePerPlan=1.5), check=False)
    assert r.returncode != 0 and "should be less than or equal to 1" in r.stderr
    p = pool_obj("web", ["10.0.0.1"])
    p["spec"]["healthCheck"]["timeoutSeconds"] = 5
    r = cluster.apply(ns, p, check=False)
    assert "timeoutSeconds must not exceed intervalSeconds" in r.stderr
    cluster.apply(ns, pool_obj("nozone", ["127.0.0.61"]))
    eventually(lambda: condition(cluster.get("dnsendpointpool", ns, "regional"), "Ready")
               == "False", timeout=30)
    assert "does not exist" in cluster.get("dnsendpointpool", ns, "regional")["status"][
        "conditions"][0]["message"] or "ZoneNotFound" in cluster.kubectl(
            "get", "events", "-n", ns).stdout
    cluster.apply(ns, {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
                       "metadata": {"name": "web"},
                       "spec": {"zone": "example.test",
                                "server": {"address": "127.0.0.1", "port": bind.port}}})
    svc = pool_obj("web", [])
    svc["metadata"]["name"] = "from-service"
    del svc["spec"]["targets"]
    svc["spec"]["service"] = {"name": "missing"}
    cluster.apply(ns, svc)

    def service_missing() -> bool:
        conds = (cluster.get("dnsendpointpool", ns, "from-service").get("status") or {}).get(
            "conditions") or []
        return any(c["reason"] == "ServiceNotFound" for c in conds)
    eventually(service_missing, timeout=30, what="ServiceNotFound condition")
    assert "ServiceNotFound" in cluster.kubectl("get", "events", "-n", ns).stdout
    assert plans(cluster, ns) == []


def endpoint_slice(svc: str, ready: dict[str, bool]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-abc", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 18080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": r}, "zone": "zone-a"}
                          for a, r in ready.items()]}


def test_targets_from_a_services_endpointslices_follow_kubernetes_readiness(
        cluster, bind, ns, zone, dns_zone, procs) -> None:
    # Kubernetes refuses loopback addresses in EndpointSlices, so these targets are judged
    # by Kubernetes' readiness alone (healthCheck type None).
    start(procs, bind, ns)
    a = ["10.20.0.1", "10.20.0.2", "10.20.0.3"]
    cluster.apply(ns, endpoint_slice("web", dict.fromkeys(a, True)))
    pool = pool_obj(zone, [])
    del pool["spec"]["targets"]
    pool["spec"]["service"] = {"name": "web", "capacity": 5}
    pool["spec"]["healthCheck"] = {"type": "None"}
    cluster.apply(ns, pool)
    eventually(lambda: bind.query(f"api.{dns_zone}") == a, timeout=40)
    cluster.apply(ns, endpoint_slice("web", {a[0]: True, a[1]: False, a[2]: True}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == [a[0], a[2]], timeout=30)
    cluster.apply(ns, endpoint_slice("web", dict.fromkeys(a, True)))
    eventually(lambda: bind.query(f"api.{dns_zone}") == a, timeout=30)
