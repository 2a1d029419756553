"""What RBAC cannot scope, held by the chart's admission policies
(templates/least-privilege.yaml) on the real API server: acting as the lease manager's and
the planner's ServiceAccounts (impersonated, and as real processes with their tokens), each
may write only what its job needs."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import (
    REPO,
    Cluster,
    Processes,
    eventually,
    free_port,
    plan_obj,
    run_script,
    unique,
)

pytestmark = pytest.mark.integration
CHART = REPO / "charts" / "planguard"
NS = "planguard-system"
LEASES = f"system:serviceaccount:{NS}:pg-planguard-leases"
PLANNER = f"system:serviceaccount:{NS}:pg-planguard-planner"
TAINT = "planguard.io/lease-lapsed"
ONLY_TAINT = f"may change only the {TAINT} taint of a Node"


def render() -> list[dict]:
    """The chart as `helm template` renders it (release pg, lease manager on)."""
    helm = run_script("build-helm.sh").strip().splitlines()[-1]
    version = re.search(r"^K8S_VERSION=v?(\S+)", (REPO / "hack/lib/versions.sh").read_text(),
                        re.M)
    assert version
    out = subprocess.run([helm, "template", "pg", str(CHART), "--namespace", NS,
                          "--kube-version", version.group(1), "--set", "leases.enabled=true"],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module")
def policies(cluster: Cluster) -> str:
    """The chart's ServiceAccounts, RBAC and least-privilege policies (lease manager on)."""
    docs = [d for d in render() if d["kind"] in (
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
        and not d["metadata"]["name"].startswith(("pg-planguard-zone", "dnsplans"))]
    cluster.kubectl("create", "namespace", NS, check=False)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    # Policies take effect a moment after they are created: wait for one refusal. Each try
    # writes a new value, since a label set before the policy was in force would make every
    # later try a no-op that the policy allows.
    node = unique("probe-")
    cluster.kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
    try:
        eventually(lambda: ONLY_TAINT in as_(cluster, LEASES, "label", "node", node,
                                             f"x={secrets.token_hex(4)}", "--overwrite"),
                   timeout=60, what="the policies in force")
    finally:
        cluster.kubectl("delete", "node", node, "--wait=false", check=False)
    return NS


def as_(cluster: Cluster, who: str, *args: str) -> str:
    """`kubectl ARGS` as `who`: "" if allowed, else the API server's refusal."""
    r = cluster.kubectl(*args, "--as", who, check=False)
    # kubectl cordon reports a refusal with exit status 0.
    return "" if r.returncode == 0 and "error" not in r.stderr else r.stderr


def merge(obj: str, body: dict, *where: str) -> tuple[str, ...]:
    return ("patch", obj, *where, "--type", "merge", "-p", json.dumps(body))


@pytest.fixture
def node(cluster: Cluster) -> Iterator[str]:
    name = unique("lp-node-")
    cluster.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"team": "a"}, "annotations": {"a": "1"}},
        "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}))
    yield name
    cluster.kubectl("delete", "node", name, "--wait=false", check=False)


def taints(cluster: Cluster, node: str) -> list[dict]:
    return json.loads(cluster.kubectl("get", "node", node, "-o", "json").stdout)[
        "spec"].get("taints") or []


def test_the_lease_manager_changes_only_its_taint_on_a_node(
        cluster: Cluster, policies: str, node: str) -> None:
    n = f"node/{node}"
    ours = {"key": TAINT, "effect": "NoSchedule"}
    theirs = taints(cluster, node)  # "dedicated", and the API server's not-ready
    assert {"key": "dedicated", "value": "db", "effect": "NoSchedule"} in theirs
    # Labels that attract privileged pods, annotations, unschedulable, other taints: refused.
    assert ONLY_TAINT in as_(cluster, LEASES, "label", "node", node, "node-role/infra=true")
    assert ONLY_TAINT in as_(cluster, LEASES, "annotate", "node", node, "a=2", "--overwrite")
    assert "not unschedulable" in as_(cluster, LEASES, "cordon", node)
    assert "not unschedulable" in as_(cluster, LEASES, *merge(n, {"spec": {"taints": [
        *theirs, ours, {"key": "node-role.kubernetes.io/control-plane",
                        "effect": "NoSchedule"}]}}))
    assert "not unschedulable" in as_(cluster, LEASES, *merge(n, {"spec": {"taints": [ours]}}))
    assert "never NoExecute" in as_(cluster, LEASES, *merge(n, {"spec": {"taints": [
        *theirs, {"key": TAINT, "effect": "NoExecute"}]}}))
    assert "forbidden" in as_(cluster, LEASES, "delete", "node", node).lower()
    assert taints(cluster, node) == theirs
    # Its own taint, as the lease manager writes it: on, then off.
    assert as_(cluster, LEASES, *merge(n, {"spec": {"taints": [*theirs, ours]}})) == ""
    assert taints(cluster, node) == [*theirs, ours]
    assert as_(cluster, LEASES, *merge(n, {"spec": {"taints": theirs}})) == ""
    assert taints(cluster, node) == theirs
    # The same changes are anyone else's to make (the policy judges only this account).
    assert cluster.kubectl("label", "node", node, "x=y").returncode == 0


def test_the_lease_manager_writes_only_node_leases_and_its_own(
        cluster: Cluster, policies: str) -> None:
    planner_lease = "pg-planguard-planner"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": planner_lease, "namespace": NS},
             "spec": {"holderIdentity": "planner-0", "leaseDurationSeconds": 15}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(lease))
    node = unique("n")
    mine = {**lease, "metadata": {"name": f"node-{node}", "namespace": NS,
                                  "labels": {"planguard.io/node": node}}}
    try:
        steal = merge(f"lease/{planner_lease}", {"spec": {"holderIdentity": "leases"}}, "-n", NS)
        refused = as_(cluster, LEASES, *steal)
        assert "writes only node Leases" in refused and planner_lease in refused, refused
        # An update (PUT) of the planner's Lease: not even RBAC allows it.
        put = cluster.kubectl("replace", "-f", "-", "--as", LEASES, check=False,
                              input=json.dumps({**lease, "spec": {"holderIdentity": "x"}}))
        assert put.returncode != 0 and "forbidden" in put.stderr.lower(), put.stderr
        assert "writes only node Leases" in as_(
            cluster, LEASES, *merge(f"lease/{planner_lease}", {"metadata": {"labels": {
                "planguard.io/node": "pg-planguard-planner"}}}, "-n", NS))
        assert cluster.kubectl("get", "lease", planner_lease, "-n", NS, "-o",
                               "jsonpath={.spec.holderIdentity}").stdout == "planner-0"
        # A node Lease, named and labelled for its node: created and renewed.
        r = cluster.kubectl("create", "-f", "-", "--as", LEASES, input=json.dumps(mine),
                            check=False)
        assert r.returncode == 0, r.stderr
        assert as_(cluster, LEASES, *merge(f"lease/node-{node}", {"spec": {
            "holderIdentity": "lm"}}, "-n", NS)) == ""
        # Not a Lease of another name, nor a node Lease under another node's name.
        for name, label in (("anything", node), (f"node-{node}x", node)):
            body = {**mine, "metadata": {**mine["metadata"], "name": name,
                                         "labels": {"planguard.io/node": label}}}
            r = cluster.kubectl("create", "-f", "-", "--as", LEASES, input=json.dumps(body),
                                check=False)
            assert r.returncode != 0 and "writes only node Leases" in r.stderr, r.stderr
        assert "forbidden" in as_(cluster, LEASES, "delete", "lease", f"node-{node}", "-n",
                                  NS).lower()
    finally:
        cluster.kubectl("delete", "lease", planner_lease, f"node-{node}", "-n", NS,
                        check=False)


def test_the_planner_changes_only_the_generation_counter_of_a_zone(
        cluster: Cluster, policies: str, ns: str) -> None:
    zone = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
            "metadata": {"name": "web", "namespace": ns, "annotations": {"team": "a"}},
            "spec": {"zone": f"{unique('z')}.test",
                     "server": {"address": "127.0.0.1", "port": 53}}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(zone))
    z = "dnszone.planguard.io/web"
    only = "may change only the planguard.io/highest-generation annotation"
    counter = "planguard.io/highest-generation"
    assert only in as_(cluster, PLANNER, *merge(z, {"spec": {"server": {
        "address": "10.0.0.53"}}}, "-n", ns))
    assert only in as_(cluster, PLANNER, *merge(z, {"metadata": {"annotations": {
        counter: "7", "team": "b"}}}, "-n", ns))
    assert only in as_(cluster, PLANNER, "annotate", z, "-n", ns, "planguard.io/adopt-from=x")
    assert only in as_(cluster, PLANNER, "label", z, "-n", ns, "x=y")
    assert "forbidden" in as_(cluster, PLANNER, "delete", z, "-n", ns).lower()
    assert as_(cluster, PLANNER, *merge(z, {"metadata": {"annotations": {
        counter: "7"}}}, "-n", ns)) == ""
    got = json.loads(cluster.kubectl("get", z, "-n", ns, "-o", "json").stdout)
    assert got["metadata"]["annotations"] == {"team": "a", counter: "7"}
    assert got["spec"]["server"]["address"] == "127.0.0.1"


def test_the_planners_generation_allocation_works_with_its_token(
        cluster: Cluster, policies: str, ns: str, tmp_path: Path) -> None:
    """kube/generations.py's writes, as the planner's ServiceAccount: the counter bumped
    for a plan created, and put back for a plan the API server refuses."""
    from planguard.kube.api import PlanguardApi, connect
    from planguard.kube.generations import create_plan
    from planguard.kube.rest import ApiError

    cluster.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"zone": f"{unique('z')}.test", "server": {"address": "127.0.0.1",
                                                            "port": 53}}}))
    kc = cluster.token_kubeconfig(NS, "pg-planguard-planner", tmp_path / "p.kc")
    api = PlanguardApi(connect(kc), "planguard-planner-test")
    plan = {"api": ["10.0.0.1"]}
    assert [create_plan(api, ns, "web", lambda g: plan_obj("web", g, plan))
            for _ in range(2)] == [1, 2]
    with pytest.raises(ApiError) as refused:  # a TTL the CRD refuses
        create_plan(api, ns, "web", lambda g: plan_obj("web", g, plan, ttl=-1))
    assert refused.value.status == 422
    assert cluster.get("dnszone", ns, "web")["metadata"]["annotations"] == {
        "planguard.io/highest-generation": "2"}


def test_the_lease_manager_works_under_the_policies(
        cluster: Cluster, policies: str, procs: Processes, tmp_path: Path) -> None:
    """The real `planguard leases` with its ServiceAccount's token: node Leases written,
    a lapsed node tainted and untainted, nothing refused."""
    key = tmp_path / "checkin.key"
    key.write_text(secrets.token_hex(32))
    prefix, port = unique("lpf") + "-", free_port()
    # Two nodes per zone: one lost is that node's problem (a whole zone lost freezes taints).
    procs.start("fleet", "fleet", "--nodes", "6", "--zones", "3", "--prefix", prefix,
                "--listen", f"127.0.0.1:{port}", "--checkin-key-file", str(key),
                metrics_port=None)
    kc = cluster.token_kubeconfig(NS, "pg-planguard-leases", tmp_path / "l.kc")
    nodes = [f"{prefix}{i}" for i in range(6)]

    def control(body: dict) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/control",
                                     data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req, timeout=2).close()

    def leases() -> set[str]:
        out = cluster.kubectl("get", "leases", "-n", NS, "-l", "planguard.io/node", "-o",
                              "jsonpath={.items[*].metadata.labels.planguard\\.io/node}")
        return set(out.stdout.split()) & set(nodes)

    def tainted() -> set[str]:
        return {n for n in nodes if any(t["key"] == TAINT for t in taints(cluster, n))}
    try:
        eventually(lambda: len(cluster.kubectl("get", "nodes", "-l",
                                               f"planguard.io/fleet={prefix[:-1]}", "-o",
                                               "name").stdout.split()) == 6, timeout=30)
        procs.start("leases", "leases", "--id", "lm", "--lease-namespace", NS, "--selector",
                    f"planguard.io/fleet={prefix[:-1]}", "--checkin-key-file", str(key),
                    "--loopback-agent-urls", "--lease-duration", "4", "--renew-interval",
                    "1", kubeconfig=kc)
        eventually(lambda: leases() == set(nodes), timeout=30, what="node leases")
        control({"down": [nodes[1]]})
        eventually(lambda: tainted() == {nodes[1]}, timeout=30, what="the lapsed node tainted")
        control({"up": [nodes[1]]})
        eventually(lambda: tainted() == set(), timeout=30, what="the taint removed")
        log = procs.log("leases")
        assert "Forbidden" not in log and "403" not in log, log[-2000:]
    finally:
        procs.stop_all()
        cluster.kubectl("delete", "nodes", "-l", f"planguard.io/fleet={prefix[:-1]}",
                        "--wait=false", check=False)
        cluster.kubectl("delete", "leases", "-n", NS, "-l", "planguard.io/node",
                        check=False)
        cluster.kubectl("delete", "lease", "planguard-leases", "-n", NS, check=False)


def test_the_checkin_key_reaches_the_agents_and_the_lease_manager_only() -> None:
    docs = render()
    secret = next(d for d in docs if d["kind"] == "Secret"
                  and d["metadata"]["name"] == "pg-planguard-checkin")
    assert len(secret["data"]["key"]) >= 64
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs
            if d["kind"] in ("Deployment", "DaemonSet")}
    holders = {name for name, pod in pods.items()
               if any((v.get("secret") or {}).get("secretName") == "pg-planguard-checkin"
                      for v in pod.get("volumes") or [])}
    assert holders == {"pg-planguard-agent", "pg-planguard-leases"}
    for name in holders:
        pod = pods[name]
        vol = next(v for v in pod["volumes"] if v["name"] == "checkin")
        assert vol["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"]
        assert "--checkin-key-file=/etc/planguard/checkin/key" in pod["containers"][0]["args"]
    assert pods["pg-planguard-agent"]["automountServiceAccountToken"] is False
