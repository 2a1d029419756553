"""A first test on the real kind cluster: the chart's pods are all Ready, each enactor runs
on its own zone's worker, the cluster's own parts (CoreDNS, kube-proxy, the pod network)
work on the node image built here, and a plan applied with kubectl is served by BIND."""

from __future__ import annotations

import json
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
from kindharness import DNS_NODEPORT, NAMESPACE, Kind

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(3600)]
ZONES = {"az1": "zone-a", "az2": "zone-b", "az3": "zone-c"}


def _pods(kind: Kind, ns: str, selector: str) -> list[dict[str, Any]]:
    out = kind.cluster.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _answer(kind: Kind, name: str) -> list[str]:
    q = dns.message.make_query(f"{name}.example.test.", dns.rdatatype.A)
    r = dns.query.tcp(q, kind.dns_ip, port=DNS_NODEPORT, timeout=3)
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def test_chart_pods_ready_and_each_enactor_on_its_zone(kind: Kind) -> None:
    pods = _pods(kind, NAMESPACE, "app.kubernetes.io/instance=planguard")
    roles = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods}
    assert {"enactor", "cleanup", "planner", "leases"} <= roles, roles
    assert all(_ready(p) for p in pods), [p["metadata"]["name"] for p in pods if not _ready(p)]
    for pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsUser"] == 65532
        assert all(c["securityContext"]["readOnlyRootFilesystem"] for c in spec["containers"])
    enactors = [p for p in pods if p["metadata"]["labels"]["app.kubernetes.io/component"]
                == "enactor"]
    assert len(enactors) == 3
    for pod in enactors:
        node = json.loads(kind.cluster.kubectl("get", "node", pod["spec"]["nodeName"],
                                               "-o", "json").stdout)
        zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]
        assert zone == ZONES[pod["metadata"]["labels"]["planguard.io/enactor"]], pod["spec"]


def test_cluster_parts_work_on_the_node_image_built_here(kind: Kind) -> None:
    nodes = json.loads(kind.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 4
    for n in nodes:
        assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
        assert any(c["type"] == "Ready" and c["status"] == "True"
                   for c in n["status"]["conditions"])
    for selector in ("k8s-app=kube-dns", "k8s-app=kube-proxy", "app=kindnet"):
        pods = _pods(kind, "kube-system", selector)
        assert pods and all(_ready(p) for p in pods), selector
    # Cluster DNS and the pod network from inside a planguard pod: CoreDNS runs on another
    # node than some of these pods, so this crosses nodes.
    for eid in ZONES:
        out = kind.cluster.kubectl(
            "exec", "-n", NAMESPACE, f"deploy/planguard-enactor-{eid}", "--", "python3", "-c",
            "import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))",
        ).stdout.strip()
        assert out == "10.96.0.1", (eid, out)


def test_plan_applied_with_kubectl_is_served_by_bind(kind: Kind) -> None:
    plans = json.loads(kind.cluster.kubectl("get", "dnsplans", "-n", "default",
                                            "-o", "json").stdout)["items"]
    gen = max([p["spec"]["generation"] for p in plans if p["spec"]["zone"] == "dynamo"],
              default=0) + 1
    targets = [f"10.9.{gen % 250}.{i}" for i in (1, 2, 3)]
    plan = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": f"dynamo-{gen}"},
            "spec": {"zone": "dynamo", "generation": gen, "endpoints": [
                {"name": "kind-check", "ttl": 5,
                 "targets": [{"address": a, "weight": 10} for a in targets]},
                {"name": "kind-bare", "ttl": 5, "addresses": targets[:2]}]}}
    kind.cluster.kubectl("apply", "-n", "default", "-f", "-", input=json.dumps(plan))
    eventually(lambda: _answer(kind, "kind-check") == targets, timeout=60,
               what=f"BIND to serve plan {gen} through the NodePort")
    eventually(lambda: _answer(kind, "kind-bare") == targets[:2], timeout=30,
               what="the short form (addresses), admitted by the chart's CRD, served")

    def zone_at_gen() -> bool:
        zone = kind.cluster.get("dnszones", "default", "dynamo")
        return (zone.get("status") or {}).get("activeGeneration") == gen
    eventually(zone_at_gen, timeout=60, what=f"DNSZone status at generation {gen}")
    # The sample plan's endpoint is still served: a newer plan that does not mention an
    # endpoint leaves it alone.
    assert _answer(kind, "dynamodb") in (["10.0.1.10", "10.0.2.10", "10.0.3.10"],
                                         ["10.0.1.10", "10.0.2.10"])
