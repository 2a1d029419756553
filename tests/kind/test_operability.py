"""Operating planguard on the real cluster: the kubelet restarts a frozen process through
the liveness probe, and each pod can do only what its chart ServiceAccount allows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kindharness import NAMESPACE, Kind, signal_process

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(3600)]


def _pod(kind: Kind, component: str) -> dict[str, Any]:
    out = kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l",
                               f"app.kubernetes.io/component={component}", "-o", "json").stdout
    pods = [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]
    assert pods, component
    return pods[0]


def _restarts(pod: dict[str, Any]) -> int:
    return sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses") or [])


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions") or [])


def test_a_frozen_process_is_restarted_by_its_liveness_probe(kind: Kind) -> None:
    pod = _pod(kind, "cleanup")
    name, node, before = pod["metadata"]["name"], pod["spec"]["nodeName"], _restarts(pod)
    # SIGSTOP from the node (as a wedged process looks to the kubelet): the process's
    # own probe server stops answering with it.
    assert signal_process(node, "[b]in/planguard cleanup")
    def restarted() -> bool:
        p = json.loads(kind.cluster.kubectl("get", "pod", name, "-n", NAMESPACE,
                                            "-o", "json").stdout)
        return _restarts(p) > before and _ready(p)
    eventually(restarted, timeout=240, interval=2,
               what="the kubelet to restart the frozen clean-up and the pod Ready again")
    events = kind.cluster.kubectl("get", "events", "-n", NAMESPACE, "--field-selector",
                                  f"involvedObject.name={name}", "-o", "json").stdout
    assert "Liveness probe failed" in events or "Unhealthy" in events


def _in_pod(kind: Kind, component: str, code: str) -> str:
    """Python inside the pod, with only the pod's own ServiceAccount token."""
    pod = _pod(kind, component)["metadata"]["name"]
    prelude = ("from planguard.kube import rest\n"
               "c = rest.Client(rest.in_cluster(), 'rbac-probe')\n"
               "def status(method, path, body=None):\n"
               "    try:\n"
               "        c.request(method, path, body=body); return 'allowed'\n"
               "    except rest.ApiError as e:\n"
               "        return str(e.status)\n")
    return kind.cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", "python3", "-c",
                                prelude + code).stdout.strip()


def test_each_pod_has_only_its_own_rights(kind: Kind) -> None:
    plan = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": "rbac-probe-1"},
            "spec": {"zone": "dynamo", "generation": 999999, "endpoints": [
                {"name": "x", "ttl": 5, "targets": [{"address": "192.0.2.1"}]}]}}
    plans = "/apis/planguard.io/v1alpha1/namespaces/default/dnsplans"
    got = _in_pod(kind, "enactor",
                  f"print(status('POST', '{plans}', {json.dumps(plan)}))\n"
                  f"print(status('DELETE', '{plans}/dynamo-1'))\n"
                  f"print(status('GET', '{plans}'))")
    assert got.split() == ["403", "403", "allowed"], got
    got = _in_pod(kind, "planner",
                  "print(status('GET', '/api/v1/namespaces/default/secrets'))\n"
                  f"print(status('GET', '/api/v1/namespaces/{NAMESPACE}/secrets'))")
    assert got.split() == ["403", "403"], got
    got = _in_pod(kind, "leases",
                  "leases = '/apis/coordination.k8s.io/v1/namespaces/{}/leases'\n"
                  "print(status('GET', leases.format('kube-node-lease')))\n"
                  "print(status('GET', leases.format('kube-system')))\n"
                  f"print(status('GET', leases.format('{NAMESPACE}')))")
    assert got.split() == ["403", "403", "allowed"], got


@pytest.mark.dns_frozen
def test_readiness_says_whether_dns_can_be_read(kind: Kind) -> None:
    """BIND frozen (SIGSTOP of named on its node): every enactor's /readyz fails, the pods
    leave Ready (so a rollout would stop there); BIND back, they are Ready again."""
    bind = json.loads(kind.cluster.kubectl(
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=dns-primary",
        "-o", "json").stdout)["items"][0]
    node = bind["spec"]["nodeName"]
    assert signal_process(node, "[n]amed -g", "STOP"), "no named process"
    try:
        eventually(lambda: not any(_ready(p) for p in _pods(kind, "enactor")), timeout=90,
                   interval=2, what="every enactor NotReady while DNS cannot be read")
    finally:
        signal_process(node, "[n]amed -g", "CONT")
    eventually(lambda: all(_ready(p) for p in _pods(kind, "enactor")), timeout=90,
               interval=2, what="every enactor Ready again")


def _pods(kind: Kind, component: str) -> list[dict[str, Any]]:
    out = kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l",
                               f"app.kubernetes.io/component={component}", "-o", "json").stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]
