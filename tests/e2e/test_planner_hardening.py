"""The planner aimed where it should not go, and plan storms, against the real API server,
BIND and real (hostile) targets on loopback (issue 29)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import (
    Bind,
    Cluster,
    Processes,
    condition,
    eventually,
    free_port,
    metrics_text,
    unique,
    zone_obj,
)
from planguard.core.contract import HIGHEST_GENERATION_ANNOTATION
from targets import Fleet, accept_each

pytestmark = pytest.mark.e2e

PORT = 18080


def pool_obj(name: str, zone: str, addresses: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSEndpointPool",
            "metadata": {"name": name},
            "spec": {"zone": zone, "endpoints": [{"name": "api", "ttl": 5}],
                     "targets": [{"address": a, "checkPort": PORT} for a in addresses],
                     "healthCheck": {"type": "HTTP", "path": "/healthz", "intervalSeconds": 0.2,
                                     "timeoutSeconds": 0.2, "failuresToDown": 2,
                                     "successesToUp": 2},
                     "limits": {"failStaticBelow": 0.1, "maxRemovePerPlan": 1.0,
                                "maxRemovePerWindow": 1.0},
                     **spec}}


def start(procs: Processes, bind: Bind, ns: str, allowed: str, metrics_port: int = 0) -> None:
    procs.start("planner", "planner", "--id", "p1", "-n", ns, "--lease-namespace", ns,
                "--health-check-allowed-cidrs", allowed, metrics_port=metrics_port)
    procs.enactor("a", ns, bind.key("enactor-a"))


def pool(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    return cluster.get("dnsendpointpool", ns, name)


def cond(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return dict(c)
    return {}


def events(cluster: Cluster, ns: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in cluster.get("events", ns)["items"] if e.get("reason") == reason]


class Listener:
    """A TCP target on loopback that counts who connects and serves `handle` to each."""

    def __init__(self, address: str, handle: Any = None) -> None:
        self.accepted = 0
        self._handle = handle
        self._sock = socket.create_server((address, PORT))
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        accept_each(self._sock, self._stop, self._conn)

    def _conn(self, conn: socket.socket) -> None:
        self.accepted += 1
        with conn:
            if self._handle is not None:
                with contextlib.suppress(OSError):  # the checker hung up
                    self._handle(conn, self._stop)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def slow_drip(conn: socket.socket, stop: threading.Event) -> None:
    """A status line one byte every 0.3 s, never ending: each read gets a byte well within
    any per-read timeout, so only a deadline for the whole check ends it."""
    conn.sendall(b"HTTP/1.1 200 OK")
    while not stop.wait(0.3):
        conn.sendall(b"K")


def redirect(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/\r\n"
                 b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def test_targets_outside_the_allowed_ranges_are_never_checked(cluster, bind, ns, zone,
                                                               dns_zone, procs) -> None:
    watched = Listener("127.0.0.72")  # loopback, but not in the allowed list
    try:
        with Fleet(1, base=71):
            start(procs, bind, ns, allowed="127.0.0.71/32,10.0.0.0/8")
            cluster.apply(ns, pool_obj("regional", zone, [
                "127.0.0.71", "127.0.0.72", "100.100.100.200", "fd00:ec2::254",
                "168.63.129.16", "203.0.113.9"]))
            eventually(lambda: bind.query(f"api.{dns_zone}") == ["127.0.0.71"], timeout=40,
                       what="the allowed target published")
            p = pool(cluster, ns, "regional")
            refused = cond(p, "TargetsRefused")
            assert refused["status"] == "True", refused
            for why in (
                "target 100.100.100.200 is a metadata address (Alibaba Cloud); health checks "
                "never go there",
                "target fd00:ec2::254 is a metadata address (AWS IMDS over IPv6); health "
                "checks never go there",
                "target 168.63.129.16 is a metadata address (Azure WireServer)",
                "target 127.0.0.72 is a loopback address",
                "target 203.0.113.9 is outside the ranges health checks may reach "
                "(planner.healthCheck.allowedCIDRs: 127.0.0.71/32, 10.0.0.0/8)"):
                assert why in refused["message"], (why, refused["message"])
            assert p["status"]["health"]["100.100.100.200"] == "refused"
            assert p["status"]["health"]["127.0.0.71"] == "up"
            assert any("100.100.100.200" in e["message"]
                       for e in events(cluster, ns, "TargetRefused"))
            time.sleep(1.5)  # seven check intervals more
            assert watched.accepted == 0
            assert bind.query(f"api.{dns_zone}", "AAAA") == []
    finally:
        watched.close()


def test_metadata_slice_addresses_are_refused_when_everything_is_allowed(
        cluster, bind, ns, zone, dns_zone, procs) -> None:
    """EndpointSlices pass no rule of ours at admission (the API server refuses loopback and
    link-local there, not metadata services or reserved ranges): whoever may write one
    chose these."""
    with Fleet(1, base=73):
        start(procs, bind, ns, allowed="0.0.0.0/0,::/0,127.0.0.0/8")
        cluster.apply(ns, {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [a]} for a in
                          ("100.100.100.200", "168.63.129.16", "240.0.0.1", "239.1.2.3")],
            "ports": [{"port": PORT, "protocol": "TCP"}]})
        cluster.apply(ns, pool_obj("regional", zone, ["127.0.0.73"], service={"name": "web"}))
        eventually(lambda: bind.query(f"api.{dns_zone}") == ["127.0.0.73"], timeout=40)
        p = pool(cluster, ns, "regional")
        msg = cond(p, "TargetsRefused")["message"]
        for why in ("target 100.100.100.200 is a metadata address (Alibaba Cloud)",
                    "target 168.63.129.16 is a metadata address (Azure WireServer)",
                    "EndpointSlice address 240.0.0.1 is a reserved address (240.0.0.0/4)",
                    "EndpointSlice address 239.1.2.3 is a multicast address"):
            assert why in msg, (why, msg)
        assert p["status"]["health"]["100.100.100.200"] == "refused"
        assert "240.0.0.1" not in p["status"]["health"]
        published = {t["address"] for plan in cluster.get("dnsplans", ns)["items"]
                     for e in plan["spec"]["endpoints"]
                     for t in e.get("targets") or [{"address": a} for a in e["addresses"]]
                     if t.get("weight", 1) > 0}
        assert published == {"127.0.0.73"}, published


@pytest.mark.parametrize("path", ["http://169.254.169.254/latest/meta-data/",
                                  "//169.254.169.254/latest", "healthz", "/a b",
                                  "/x\r\nHost: 169.254.169.254", "/" + "a" * 1100])
def test_a_path_that_is_not_relative_is_refused_at_admission(cluster: Cluster, ns: str,
                                                             path: str) -> None:
    obj = pool_obj("p", "web", ["10.0.0.1"])
    obj["spec"]["healthCheck"]["path"] = path
    r = cluster.apply(ns, obj, check=False)
    assert r.returncode != 0
    assert ("must be a relative path" in r.stderr or "Too long" in r.stderr
            or "may not be more than" in r.stderr), r.stderr
    obj["spec"]["healthCheck"]["path"] = "/healthz?probe=1"
    assert cluster.apply(ns, obj, check=False).returncode == 0


def test_a_redirect_counts_as_unhealthy(cluster, bind, ns, zone, dns_zone, procs) -> None:
    moved = Listener("127.0.0.75", redirect)
    try:
        with Fleet(1, base=76):
            start(procs, bind, ns, allowed="127.0.0.0/8")
            cluster.apply(ns, pool_obj("regional", zone, ["127.0.0.75", "127.0.0.76"]))
            eventually(lambda: bind.query(f"api.{dns_zone}") == ["127.0.0.76"], timeout=40)
            eventually(lambda: pool(cluster, ns, "regional")["status"]["health"]
                       .get("127.0.0.75") == "down", timeout=20)
            assert moved.accepted > 0  # it was asked, and said 302
    finally:
        moved.close()


def test_a_slow_drip_target_delays_only_its_own_pool(cluster, bind, ns, zone, dns_zone,
                                                      procs) -> None:
    """32 targets of one pool drip their answers (more than the old 32 check threads); each
    check still ends at its deadline, and another zone's pool converges as usual."""
    drips = [Listener(f"127.0.1.{i}", slow_drip) for i in range(1, 33)]
    other = f"{unique('z')}.test"
    bind.add_zone(other)
    try:
        with Fleet(2, base=81):
            start(procs, bind, ns, allowed="127.0.0.0/8")
            slow = pool_obj("slow", zone, [f"127.0.1.{i}" for i in range(1, 33)])
            slow["spec"]["healthCheck"] |= {"intervalSeconds": 1, "timeoutSeconds": 1}
            cluster.apply(ns, slow)
            eventually(lambda: sum(d.accepted > 0 for d in drips) == 32, timeout=30,
                       what="every slow target being checked")
            cluster.apply(ns, zone_obj("other", other, bind.port))
            t0 = time.monotonic()
            cluster.apply(ns, pool_obj("fast", "other", ["127.0.0.81", "127.0.0.82"]))
            eventually(lambda: bind.query(f"api.{other}") == ["127.0.0.81", "127.0.0.82"],
                       timeout=30, what="the other zone's pool converging")
            took = time.monotonic() - t0
            print(f"the other pool converged in {took:.1f} s beside 32 slow-drip targets")
            assert took < 10, took
            # One deadline per check: the drip never stalls a read, yet each check ends.
            eventually(lambda: set(pool(cluster, ns, "slow")["status"]["health"].values())
                       == {"down"}, timeout=20, what="slow targets down at their deadline")
            assert all(d.accepted >= 2 for d in drips)  # checked again after each deadline
    finally:
        for d in drips:
            d.close()
        bind.del_zone(other)


def _probe_plan() -> str:
    return json.dumps({"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
                       "metadata": {"name": "probe-1"},
                       "spec": {"zone": "probe", "generation": 1,
                                "endpoints": [{"name": "x", "addresses": ["10.0.0.1"]}]}})


def _freeze_refuses(cluster: Cluster, ns: str) -> bool:
    return "change freeze" in cluster.kubectl("create", "--dry-run=server", "-n", ns, "-f", "-",
                                              input=_probe_plan(), check=False).stderr


def freeze(cluster: Cluster, ns: str) -> str:
    """A ValidatingAdmissionPolicy refusing every new DNSPlan in `ns` (a change freeze, as a
    platform team might set): the API server answers 422. Its name, to delete it."""
    name = unique("freeze-")
    cluster.apply(ns, [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{
                      "apiGroups": ["planguard.io"], "apiVersions": ["*"],
                      "operations": ["CREATE"], "resources": ["dnsplans"]}]},
                  "validations": [{"expression": "false",
                                   "message": "change freeze: no new DNSPlans"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
         "spec": {"policyName": name, "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": ns}}}}}])
    eventually(lambda: _freeze_refuses(cluster, ns), timeout=30, what="the freeze in force")
    return name


def test_a_refused_plan_bumps_no_generation_and_backs_off(cluster, bind, ns, zone, dns_zone,
                                                          procs) -> None:
    """An admission policy refuses every DNSPlan (422): the planner says so on the pool,
    keeps the zone's counter where it was, tries less and less often, and its repeated
    Event is one object whose count grows. Lifted and the pool edited: plan generation 1,
    not 1 + the attempts."""
    policy = freeze(cluster, ns)
    try:
        with Fleet(2, base=91) as fleet:
            mport = free_port()
            start(procs, bind, ns, allowed="127.0.0.0/8", metrics_port=mport)
            cluster.apply(ns, pool_obj("regional", zone, fleet.addresses))
            eventually(lambda: cond(pool(cluster, ns, "regional"), "Ready").get("reason")
                       == "PlanRefused", timeout=40, what="the refusal on the pool")
            msg = cond(pool(cluster, ns, "regional"), "Ready")["message"]
            assert "the API server refused the plan (422)" in msg, msg
            assert "change freeze" in msg and "next attempt after" in msg, msg
            time.sleep(12)  # 24 ticks of the planner
            refusals = events(cluster, ns, "PlanRefused")
            assert len(refusals) == 1, refusals  # one Event object, raised
            count = refusals[0]["count"]
            assert 2 <= count <= 5, count  # backoff 2, 4, 8 s: not one attempt per tick
            failures = [smp.value for fam in text_string_to_metric_families(metrics_text(mport))
                        for smp in fam.samples
                        if smp.name == "planguard_planner_plan_failures_total"
                        and smp.labels == {"zone": f"{ns}/{zone}", "reason": "PlanRefused"}]
            assert failures and 2 <= failures[0] <= 6, failures
            annotations = cluster.get("dnszone", ns, zone)["metadata"].get("annotations") or {}
            assert HIGHEST_GENERATION_ANNOTATION not in annotations, annotations
            assert cluster.get("dnsplans", ns)["items"] == []

            cluster.kubectl("delete", "validatingadmissionpolicybinding", policy)
            eventually(lambda: not _freeze_refuses(cluster, ns), timeout=30,
                       what="the freeze lifted")
            obj = pool_obj("regional", zone, fleet.addresses)
            obj["spec"]["endpoints"][0]["ttl"] = 6  # an edit retries at once
            cluster.apply(ns, obj)
            eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses, timeout=20)
            gens = sorted(p["spec"]["generation"] for p in cluster.get("dnsplans", ns)["items"])
            # 1, not 1 + the attempts; a retry due just as the freeze lifts may write plan 1
            # before the edit writes plan 2.
            assert gens in ([1], [1, 2]), gens
            assert cond(pool(cluster, ns, "regional"), "Ready")["status"] == "True"
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                        policy, "--ignore-not-found", check=False)


def test_a_second_pool_on_the_same_zone_writes_nothing(cluster, bind, ns, zone, dns_zone,
                                                        procs) -> None:
    with Fleet(3, base=101) as fleet:
        start(procs, bind, ns, allowed="127.0.0.0/8")
        cluster.apply(ns, pool_obj("first", zone, fleet.addresses[:2]))
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses[:2], timeout=40)
        before = cluster.get("dnsplans", ns)["items"]
        cluster.apply(ns, pool_obj("second", zone, fleet.addresses[2:]))
        eventually(lambda: condition(pool(cluster, ns, "second"), "Ready") == "False",
                   timeout=20)
        ready = cond(pool(cluster, ns, "second"), "Ready")
        assert ready["reason"] == "ZoneHasPool", ready
        assert "'first' already plans zone 'web'" in ready["message"], ready
        time.sleep(2)
        assert bind.query(f"api.{dns_zone}") == fleet.addresses[:2]
        assert [p["metadata"]["name"] for p in cluster.get("dnsplans", ns)["items"]] == \
            [p["metadata"]["name"] for p in before]
        fleet.targets[1].down()  # the first pool still plans the zone
        eventually(lambda: bind.query(f"api.{dns_zone}") == fleet.addresses[:1], timeout=30)
