"""The Helm chart on the real API server: lint, render, server-side dry-run, and least
privilege per process tested by acting as each ServiceAccount."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harness import REPO, Bind, Cluster, Processes, eventually, plan_obj, run_script

pytestmark = pytest.mark.integration
CHART = REPO / "charts" / "planguard"
RELEASE_NS = "planguard-system"


@pytest.fixture(scope="session")
def helm() -> str:
    try:
        return run_script("build-helm.sh").strip().splitlines()[-1]
    except Exception as e:  # a failure that says why, never a skip
        pytest.fail(f"helm could not be built: {e}", pytrace=False)


def render(helm: str, *args: str) -> list[dict]:
    out = subprocess.run([helm, "template", "pg", str(CHART), "--namespace", RELEASE_NS, *args],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="session")
def installed_rbac(cluster: Cluster, helm: str) -> str:
    """The chart's ServiceAccounts and RBAC, applied for real (cluster-scoped, idempotent)."""
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    docs = [d for d in render(helm) if d["kind"] in
            ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    return RELEASE_NS


def test_chart_lints_strictly(helm: str) -> None:
    r = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_chart_crds_match_the_source_of_truth() -> None:
    for f in (REPO / "crds").glob("*.yaml"):
        assert (CHART / "crds" / f.name).read_text() == f.read_text(), f.name


def test_rendered_manifests_pass_server_side_dry_run(cluster: Cluster, helm: str) -> None:
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    docs = render(helm)
    kinds = sorted({d["kind"] for d in docs})
    assert {"Deployment", "ClusterRole", "ServiceAccount", "Service"} <= set(kinds)
    r = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs))
    assert "planguard-enactor-az1" in r.stdout
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 6  # 3 enactors (one per zone), clean-up, planner, leases
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = pod["containers"][0]["securityContext"]
        assert c["readOnlyRootFilesystem"] and not c["allowPrivilegeEscalation"]


def test_values_schema_refuses_bad_values(helm: str) -> None:
    r = subprocess.run([helm, "template", "pg", str(CHART), "--set", "enactors[0].id=Bad_Id"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "enactors" in r.stderr


def sa(name: str) -> str:
    return f"system:serviceaccount:{RELEASE_NS}:pg-planguard-{name}"


@pytest.mark.parametrize(("who", "verb", "resource", "allowed"), [
    ("enactor", "list", "dnsplans.planguard.io", True),
    ("enactor", "patch", "dnsplans.planguard.io", True),  # the live-plan finalizer only
    ("enactor", "create", "dnsplans.planguard.io", False),
    ("enactor", "delete", "dnsplans.planguard.io", False),
    ("enactor", "patch", "dnszones.planguard.io/status", True),
    ("enactor", "patch", "dnszones.planguard.io", False),
    ("enactor", "delete", "dnszones.planguard.io", False),
    ("enactor", "get", "secrets", False),
    ("cleanup", "delete", "dnsplans.planguard.io", True),
    ("cleanup", "create", "dnsplans.planguard.io", False),
    ("cleanup", "patch", "dnszones.planguard.io", False),
    ("cleanup", "patch", "dnsplans.planguard.io/status", True),
    ("cleanup", "get", "secrets", False),
    ("planner", "create", "dnsplans.planguard.io", True),
    ("planner", "delete", "dnsplans.planguard.io", False),
    ("planner", "patch", "dnsplans.planguard.io", False),
    ("planner", "get", "secrets", False),  # no TSIG keys: it cannot write DNS
    ("planner", "update", "leases.coordination.k8s.io", True),
    ("planner", "list", "endpointslices.discovery.k8s.io", True),
    ("leases", "patch", "nodes", True),
    ("leases", "delete", "nodes", False),
    ("leases", "update", "leases.coordination.k8s.io", True),
    ("leases", "list", "dnsplans.planguard.io", False),
    ("leases", "get", "secrets", False),
])
def test_least_privilege(cluster: Cluster, installed_rbac: str, ns: str, who, verb, resource,
                         allowed) -> None:
    assert cluster.can_i(sa(who), verb, resource, ns) is allowed


def test_viewer_role_only_reads(cluster: Cluster, installed_rbac: str, ns: str) -> None:
    cluster.kubectl("create", "serviceaccount", "looker", "-n", ns)
    cluster.kubectl("create", "rolebinding", "looker", "-n", ns,
                    "--clusterrole=pg-planguard-viewer", f"--serviceaccount={ns}:looker")
    viewer = f"system:serviceaccount:{ns}:looker"
    assert cluster.can_i(viewer, "list", "dnsplans.planguard.io", ns)
    assert cluster.can_i(viewer, "get", "dnszones.planguard.io", ns)
    for verb in ("create", "patch", "delete"):
        assert not cluster.can_i(viewer, verb, "dnsplans.planguard.io", ns)


def test_roles_work_with_only_the_charts_rbac(cluster: Cluster, bind: Bind, installed_rbac: str,
                                             ns: str, zone: str, dns_zone: str,
                                             procs: Processes, tmp_path: Path) -> None:
    """Enactor and clean-up run as their ServiceAccounts (TokenRequest tokens), not admin."""
    enactor_kc = cluster.token_kubeconfig(RELEASE_NS, "pg-planguard-enactor", tmp_path / "e.kc")
    cleanup_kc = cluster.token_kubeconfig(RELEASE_NS, "pg-planguard-cleanup", tmp_path / "c.kc")
    procs.enactor("a", ns, bind.key("enactor-a"), kubeconfig=enactor_kc)
    procs.cleanup(ns, bind.key("planguard-cleanup"), kubeconfig=cleanup_kc)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"])
    eventually(lambda: (cluster.get("dnszone", ns, zone).get("status") or {})
               .get("enactors", {}).get("a", {}).get("generation") == 1)
    eventually(lambda: "planguard.io/live-plan" in
               cluster.get("dnsplan", ns, f"{zone}-1")["metadata"].get("finalizers", []))
    logs = procs.log("enactor-a") + procs.log("cleanup")
    assert "Forbidden" not in logs and "403" not in logs, logs[-2000:]
