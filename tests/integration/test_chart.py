"""The Helm chart on the real API server: lint, render, server-side dry-run, the CRDs as
templates that upgrades reach, and least privilege per process tested by acting as each
ServiceAccount (`kubectl auth can-i --as`), cluster-wide and with watchNamespaces."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import REPO, Bind, Cluster, Processes, eventually, plan_obj, unique

pytestmark = pytest.mark.integration
CHART = REPO / "charts" / "planguard"
RELEASE_NS = "planguard-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
# The control plane the tests run (helm built from source defaults to 1.20 otherwise).
KUBE_VERSION = re.search(r"^K8S_VERSION=v?(\S+)", (REPO / "hack/lib/versions.sh").read_text(),
                         re.M).group(1)  # type: ignore[union-attr]


def render(helm: str, *args: str, release: str = "pg") -> list[dict]:
    out = subprocess.run([helm, "template", release, str(CHART), "--namespace", RELEASE_NS,
                          "--kube-version", KUBE_VERSION, *args],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(docs: list[dict], *kinds: str) -> list[dict]:
    return [d for d in docs if d["kind"] in kinds]


def named(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.fixture(scope="session")
def installed_rbac(cluster: Cluster, helm: str) -> str:
    """The chart's ServiceAccounts and RBAC (lease manager on), applied for real."""
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    docs = of_kind(render(helm, "--set", "leases.enabled=true"), *RBAC_KINDS)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    return RELEASE_NS


def can(cluster: Cluster, who: str, verb: str, resource: str, ns: str | None,
        *extra: str) -> bool:
    where = ("-n", ns) if ns else ()
    r = cluster.kubectl("auth", "can-i", verb, resource, *where, "--as", who, *extra,
                        check=False)
    return r.stdout.strip() == "yes"


def test_chart_lints_strictly(helm: str) -> None:
    r = subprocess.run([helm, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_chart_refuses_kubernetes_before_1_33(helm: str) -> None:
    r = subprocess.run([helm, "template", "pg", str(CHART), "--kube-version", "1.32.9"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "kubeVersion" in r.stderr


# What crds/ holds: the CRDs and the admission policy that keeps plans immutable.
API_KINDS = ("CustomResourceDefinition", "ValidatingAdmissionPolicy",
             "ValidatingAdmissionPolicyBinding")


def test_chart_crds_match_the_source_of_truth(helm: str) -> None:
    """The rendered CRDs (and plan policy) are crds/ plus the chart's labels and the keep
    annotation."""
    r = subprocess.run([REPO / "hack" / "sync-chart-crds.sh", "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not (CHART / "crds").exists()  # Helm would install those once, never upgrade them
    files = sorted((REPO / "crds").glob("*.yaml"))
    # Only the templates generated from crds/: the chart's own policies (least privilege,
    # zone ownership) are tested beside their values.
    shown = [a for f in files for a in ("--show-only", f"templates/crds/{f.name}")]
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in
                of_kind(render(helm, *shown), *API_KINDS)}
    sources = [yaml.safe_load(f.read_text()) for f in files]
    assert sorted(rendered) == sorted((s["kind"], s["metadata"]["name"]) for s in sources)
    assert {s["kind"] for s in sources} == set(API_KINDS)
    for src in sources:
        got = rendered[(src["kind"], src["metadata"]["name"])]
        meta = got["metadata"]
        assert meta.pop("annotations") == {"helm.sh/resource-policy": "keep"}
        assert meta.pop("labels")["app.kubernetes.io/managed-by"] == "Helm"
        assert got == src, src["metadata"]["name"]
    unkept = of_kind(render(helm, "--set", "crds.keep=false", *shown), *API_KINDS)
    assert len(unkept) == len(sources)
    assert all("annotations" not in d["metadata"] for d in unkept)
    assert not of_kind(render(helm, "--set", "crds.enabled=false", "--set", "leases.enabled=false"),
                       "CustomResourceDefinition")
    assert not any(d["metadata"]["name"].startswith("dnsplans") for d in
                   of_kind(render(helm, "--set", "crds.enabled=false"), *API_KINDS))


def test_rendered_manifests_pass_server_side_dry_run(cluster: Cluster, helm: str) -> None:
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    docs = render(helm, "--set", "leases.enabled=true")
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "DaemonSet", "ClusterRole", "Role", "ServiceAccount", "Service",
            "PodDisruptionBudget", "CustomResourceDefinition", "Pod", "NetworkPolicy",
            "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= kinds
    # The helm test Pod needs its (hook) ServiceAccount to exist: admission checks it.
    r = cluster.kubectl("apply", "--dry-run=server", "-f", "-",
                        input=yaml.safe_dump_all([d for d in docs if d["kind"] != "Pod"]))
    assert "planguard-enactor-az1" in r.stdout
    deployments = of_kind(docs, "Deployment")
    assert len(deployments) == 6  # 3 enactors (one per zone), clean-up, planner, leases
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = pod["containers"][0]["securityContext"]
        assert c["readOnlyRootFilesystem"] and not c["allowPrivilegeEscalation"]


def test_every_deployment_has_liveness_and_readiness_probes(helm: str) -> None:
    for d in of_kind(render(helm, "--set", "leases.enabled=true"), "Deployment"):
        c = d["spec"]["template"]["spec"]["containers"][0]
        name = d["metadata"]["name"]
        assert "--liveness-port=8080" in c["args"], name
        assert {"name": "health", "containerPort": 8080} in c["ports"], name
        live, ready = c["livenessProbe"], c["readinessProbe"]
        assert live["httpGet"] == {"path": "/healthz", "port": "health"}, name
        assert (live["periodSeconds"], live["failureThreshold"], live["timeoutSeconds"]) == \
            (10, 3, 5), name
        assert ready["httpGet"] == {"path": "/readyz", "port": "health"}, name
        assert ready["periodSeconds"] == 5, name


def test_the_agent_runs_on_managed_nodes_with_no_api_access(helm: str) -> None:
    docs = render(helm, "--set", "leases.enabled=true", "--set", "agent.port=10300")
    ds = named(docs, "DaemonSet", "pg-planguard-agent")
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"planguard.io/managed": "true"}
    assert {"key": "planguard.io/lease-lapsed", "operator": "Exists",
            "effect": "NoSchedule"} in pod["tolerations"]
    c = pod["containers"][0]
    assert c["args"][:3] == ["agent", "--node=$(NODE_NAME)", "--listen=0.0.0.0:10300"]
    assert c["securityContext"]["readOnlyRootFilesystem"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert named(docs, "ServiceAccount", "pg-planguard-agent")[
        "automountServiceAccountToken"] is False
    # No binding names the agent's account: it may do nothing at all in the API.
    bound = [s["name"] for d in of_kind(docs, "RoleBinding", "ClusterRoleBinding")
             for s in d.get("subjects") or ()]
    assert "pg-planguard-agent" not in bound
    leases = named(docs, "Deployment", "pg-planguard-leases")["spec"]["template"]["spec"]
    assert "--agent-port=10300" in leases["containers"][0]["args"]
    assert not [d for d in render(helm) if d["kind"] == "DaemonSet"]
    assert not [d for d in render(helm, "--set", "leases.enabled=true", "--set",
                                  "agent.enabled=false") if d["kind"] == "DaemonSet"]


def test_a_dns_only_install_gets_no_node_rights(helm: str) -> None:
    docs = render(helm)
    assert not any(d["metadata"]["name"].endswith("-leases") for d in docs
                   if d["kind"] in ("Deployment", "ServiceAccount", "PodDisruptionBudget"))
    rules = [r for d in of_kind(docs, "ClusterRole", "Role") for r in d["rules"]]
    assert not [r for r in rules if "nodes" in r["resources"]]
    assert not [r for r in rules if "configmaps" in r["resources"]]


def test_values_schema_refuses_bad_values(helm: str) -> None:
    for bad in ("enactors[0].id=Bad_Id", "planner.replica=2", "leases.leaseNamespace=Bad_NS",
                "podDisruptionBudget.maxUnavailable=half",
                # a claim is one TXT word: no quotes, spaces or upper case
                'ownerId=we"ird id', "ownerId=Cluster-A",
                "zoneOwnership[0].namespaces[0]=team",  # a rule without zones
                "zoneOwnership[0].zones[0]=Team.Test.", "zoneOwnership[0].bogus=1",
                # a digest is sha256 and 64 lower-case hex digits, nothing else
                "image.digest=sha256:abc", "image.digest=md5:" + "a" * 64,
                "image.digest=sha256:" + "A" * 64, "image.digest=latest",
                "tmpSizeLimit=lots", "networkPolicy.egress.bogus=1"):
        r = subprocess.run([helm, "template", "pg", str(CHART), "--kube-version", KUBE_VERSION,
                            "--set", bad], capture_output=True, text=True)
        assert r.returncode != 0 and "schema" in r.stderr, bad


def test_pod_values_reach_every_deployment(helm: str) -> None:
    docs = render(
        helm, "--set", "leases.enabled=true", "--set", "imagePullSecrets[0].name=reg",
        "--set", "nodeSelector.pool=infra", "--set", "planner.nodeSelector.disk=ssd",
        "--set", "tolerations[0].key=infra", "--set", "tolerations[0].operator=Exists",
        "--set", "priorityClassName=system-cluster-critical", "--set", "podLabels.team=dns",
        "--set", "podAnnotations.a=b", "--set", "cleanup.podAnnotations.c=d",
        "--set", "extraArgs[0]=--x", "--set", "leases.extraArgs[0]=--y",
        "--set", "extraEnv[0].name=TZ", "--set", "extraEnv[0].value=UTC",
        "--set", "topologySpreadConstraints[0].maxSkew=1",
        "--set", "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
        "--set", "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "--set", "nameOverride=pguard", "--set", "canary.enabled=true",
        "--set", "canary.zone=example.test", "--set", "canary.endpoints={api}")
    deployments = of_kind(docs, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} >= {"pg-pguard-planner", "pg-pguard-leases",
                                                           "pg-pguard-canary"}
    for d in deployments:
        tpl = d["spec"]["template"]
        pod, c = tpl["spec"], tpl["spec"]["containers"][0]
        assert pod["imagePullSecrets"] == [{"name": "reg"}]
        assert pod["nodeSelector"]["pool"] == "infra"
        assert pod["tolerations"] == [{"key": "infra", "operator": "Exists"}]
        assert pod["priorityClassName"] == "system-cluster-critical"
        assert tpl["metadata"]["labels"]["team"] == "dns"
        assert tpl["metadata"]["annotations"]["a"] == "b"
        assert c["args"][-1 if "leases" not in c["args"] else -2] == "--x"
        assert {"name": "TZ", "value": "UTC"} in c["env"]
        # The spread is over the component's own pods, not every pod of the release.
        [spread] = pod["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
        assert pod["serviceAccountName"].startswith("pg-pguard-")
    assert named(docs, "Deployment", "pg-pguard-planner")["spec"]["template"]["spec"][
        "nodeSelector"] == {"pool": "infra", "disk": "ssd"}
    assert named(docs, "Deployment", "pg-pguard-leases")["spec"]["template"]["spec"][
        "containers"][0]["args"][-2:] == ["--x", "--y"]
    assert named(docs, "Deployment", "pg-pguard-cleanup")["spec"]["template"]["metadata"][
        "annotations"] == {"a": "b", "c": "d"}


def test_enactor_keeps_its_zone_with_a_users_affinity(helm: str) -> None:
    term = "enactor.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution" \
           ".nodeSelectorTerms"
    docs = render(helm, "--set", f"{term}[0].matchExpressions[0].key=pool",
                  "--set", f"{term}[0].matchExpressions[0].operator=Exists",
                  "--set", f"{term}[1].matchExpressions[0].key=spare",
                  "--set", f"{term}[1].matchExpressions[0].operator=Exists",
                  "--set", "enactor.affinity.podAntiAffinity.preferredDuringScheduling"
                           "IgnoredDuringExecution[0].weight=1",
                  "--set", "enactor.affinity.podAntiAffinity.preferredDuringScheduling"
                           "IgnoredDuringExecution[0].podAffinityTerm.topologyKey=x")
    aff = named(docs, "Deployment", "pg-planguard-enactor-az2")["spec"]["template"]["spec"][
        "affinity"]
    zone = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-b"]}
    terms = aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    # Terms are ORed: the zone must be in every one of them, or a term could escape it.
    assert terms == [{"matchExpressions": [{"key": "pool", "operator": "Exists"}, zone]},
                     {"matchExpressions": [{"key": "spare", "operator": "Exists"}, zone]}]
    assert aff["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0][
        "weight"] == 1
    plain = named(render(helm), "Deployment", "pg-planguard-enactor-az1")["spec"]["template"][
        "spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert plain == {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-a"]}]}]}


def test_disruption_budgets_for_every_role(helm: str) -> None:
    docs = render(helm, "--set", "leases.enabled=true")
    pdbs = of_kind(docs, "PodDisruptionBudget")
    assert sorted(p["metadata"]["name"] for p in pdbs) == [
        "pg-planguard-cleanup", "pg-planguard-enactor", "pg-planguard-leases",
        "pg-planguard-planner"]
    for p in pdbs:
        assert p["spec"]["maxUnavailable"] == 1
        assert p["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    # One budget over the three zones' enactors: a drain never stops two zones together.
    enactors = named(docs, "PodDisruptionBudget", "pg-planguard-enactor")["spec"]["selector"]
    covered = [d["metadata"]["name"] for d in of_kind(docs, "Deployment")
               if enactors["matchLabels"].items()
               <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert covered == [f"pg-planguard-enactor-az{i}" for i in (1, 2, 3)]
    assert not of_kind(render(helm, "--set", "podDisruptionBudget.enabled=false"),
                       "PodDisruptionBudget")


def test_service_accounts_can_be_brought(helm: str) -> None:
    docs = render(helm, "--set", "serviceAccount.create=false",
                  "--set", "planner.serviceAccount.name=mine",
                  "--set", "serviceAccount.annotations.x=y")
    assert not of_kind(docs, "ServiceAccount") or all(
        d["metadata"]["name"].endswith("-test") for d in of_kind(docs, "ServiceAccount"))
    planner = named(docs, "Deployment", "pg-planguard-planner")
    assert planner["spec"]["template"]["spec"]["serviceAccountName"] == "mine"
    binding = named(docs, "ClusterRoleBinding", "pg-planguard-planner")
    assert binding["subjects"][0]["name"] == "mine"
    made = render(helm, "--set", "serviceAccount.annotations.x=y",
                  "--set", "enactor.serviceAccount.annotations.z=w")
    assert named(made, "ServiceAccount", "pg-planguard-enactor")["metadata"]["annotations"] == \
        {"x": "y", "z": "w"}
    assert not of_kind(render(helm, "--set", "rbac.create=false"),
                       "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def sa(name: str, release: str = "pg") -> str:
    return f"system:serviceaccount:{RELEASE_NS}:{release}-planguard-{name}"


@pytest.mark.parametrize(("who", "verb", "resource", "allowed"), [
    ("enactor", "list", "dnsplans.planguard.io", True),
    ("enactor", "patch", "dnsplans.planguard.io", False),  # clean-up holds the finalizer
    ("cleanup", "patch", "dnsplans.planguard.io", True),  # the live-plan finalizer
    ("enactor", "create", "dnsplans.planguard.io", False),
    ("enactor", "delete", "dnsplans.planguard.io", False),
    ("enactor", "patch", "dnszones.planguard.io/status", True),
    ("enactor", "patch", "dnszones.planguard.io", False),
    ("enactor", "delete", "dnszones.planguard.io", False),
    ("enactor", "get", "secrets", False),
    ("enactor", "update", "leases.coordination.k8s.io", False),
    ("cleanup", "delete", "dnsplans.planguard.io", True),
    ("cleanup", "create", "dnsplans.planguard.io", False),
    ("cleanup", "patch", "dnszones.planguard.io", False),
    ("cleanup", "patch", "dnsplans.planguard.io/status", True),
    ("cleanup", "get", "secrets", False),
    ("planner", "create", "dnsplans.planguard.io", True),
    ("planner", "delete", "dnsplans.planguard.io", False),
    ("planner", "patch", "dnsplans.planguard.io", False),
    ("planner", "get", "secrets", False),  # no TSIG keys: it cannot write DNS
    ("planner", "list", "endpointslices.discovery.k8s.io", True),
    ("planner", "update", "leases.coordination.k8s.io", False),  # only in its lease namespace
    ("leases", "patch", "nodes", True),
    ("leases", "delete", "nodes", False),
    ("leases", "update", "leases.coordination.k8s.io", False),  # only in its lease namespace
    ("leases", "get", "configmaps", False),
    ("leases", "list", "dnsplans.planguard.io", False),
    ("leases", "get", "secrets", False),
])
def test_least_privilege(cluster: Cluster, installed_rbac: str, ns: str, who, verb, resource,
                         allowed) -> None:
    assert cluster.can_i(sa(who), verb, resource, ns) is allowed


@pytest.mark.parametrize(("who", "verb", "resource", "allowed"), [
    # What each needs, in the release namespace (their lease namespace by default).
    ("planner", "create", "leases.coordination.k8s.io", True),
    ("planner", "get", "leases.coordination.k8s.io/pg-planguard-planner", True),
    ("planner", "update", "leases.coordination.k8s.io/pg-planguard-planner", True),
    ("planner", "update", "leases.coordination.k8s.io/planguard-leases", False),
    # Node Leases by create and patch (templates/least-privilege.yaml holds those to node
    # Leases); update only of its own leader Lease, never the planner's.
    ("leases", "patch", "leases.coordination.k8s.io", True),
    ("leases", "update", "leases.coordination.k8s.io/planguard-leases", True),
    ("leases", "update", "leases.coordination.k8s.io/pg-planguard-planner", False),
    ("leases", "delete", "leases.coordination.k8s.io", False),
    ("leases", "list", "leases.coordination.k8s.io", True),
    ("leases", "create", "leases.coordination.k8s.io", True),
    ("leases", "get", "configmaps/planguard-leases", True),
    ("leases", "get", "configmaps/kube-root-ca.crt", False),
    ("leases", "list", "configmaps", False),
])
def test_lease_rights_in_the_release_namespace(cluster: Cluster, installed_rbac: str, who, verb,
                                               resource, allowed) -> None:
    assert can(cluster, sa(who), verb, resource, RELEASE_NS) is allowed


@pytest.mark.parametrize(("who", "verb", "resource", "ns", "allowed"), [
    # Never the kubelets' heartbeats, nor kube-system's leader locks and ConfigMaps.
    ("planner", "update", "leases.coordination.k8s.io", "kube-node-lease", False),
    ("planner", "update", "leases.coordination.k8s.io", "kube-system", False),
    ("planner", "create", "leases.coordination.k8s.io", "kube-system", False),
    ("leases", "update", "leases.coordination.k8s.io", "kube-node-lease", False),
    ("leases", "update", "leases.coordination.k8s.io", "kube-system", False),
    ("leases", "create", "leases.coordination.k8s.io", "kube-node-lease", False),
    ("leases", "get", "configmaps", "kube-system", False),
    ("leases", "get", "configmaps/kube-proxy", "kube-system", False),
])
def test_leases_and_configmaps_only_in_the_lease_namespace(
        cluster: Cluster, installed_rbac: str, who, verb, resource, ns, allowed) -> None:
    assert can(cluster, sa(who), verb, resource, ns) is allowed


def test_lease_namespace_value_moves_the_lease_rights(helm: str) -> None:
    docs = render(helm, "--set", "leases.enabled=true", "--set", "leases.leaseNamespace=fleet",
                  "--set", "planner.leaseNamespace=elect")
    assert named(docs, "Role", "pg-planguard-leases-leasing")["metadata"]["namespace"] == "fleet"
    assert named(docs, "Role", "pg-planguard-planner-leasing")["metadata"]["namespace"] == \
        "elect"
    args = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["args"]
            for d in of_kind(docs, "Deployment")}
    assert "--lease-namespace=fleet" in args["pg-planguard-leases"]
    assert "--lease-namespace=elect" in args["pg-planguard-planner"]


@pytest.fixture
def watched_release(cluster: Cluster, helm: str, ns: str) -> Iterator[tuple[str, str]]:
    """Release `pgw` watching only `ns` (RBAC applied for real); yields (ns, an unwatched
    namespace). Its cluster-scoped objects are deleted afterwards."""
    other = unique("t-")
    cluster.kubectl("create", "namespace", other)
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    docs = of_kind(render(helm, "--set", f"watchNamespaces={{{ns}}}",
                          "--set", "leases.enabled=true", release="pgw"), *RBAC_KINDS)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    yield ns, other
    cluster.kubectl("delete", "--ignore-not-found", "-f", "-", check=False,
                    input=yaml.safe_dump_all(docs))


@pytest.mark.parametrize(("who", "verb", "resource"), [
    ("enactor", "list", "dnsplans.planguard.io"),
    ("enactor", "patch", "dnszones.planguard.io/status"),
    ("enactor", "create", "events"),
    ("cleanup", "delete", "dnsplans.planguard.io"),
    ("planner", "create", "dnsplans.planguard.io"),
    ("planner", "watch", "endpointslices.discovery.k8s.io"),
    ("planner", "create", "events.events.k8s.io"),
])
def test_watch_namespaces_gives_namespaced_rbac(cluster: Cluster, watched_release, who, verb,
                                                resource) -> None:
    watched, other = watched_release
    assert cluster.can_i(sa(who, "pgw"), verb, resource, watched)
    assert not cluster.can_i(sa(who, "pgw"), verb, resource, other)
    kind, _, sub = resource.partition("/")
    assert not can(cluster, sa(who, "pgw"), verb, kind, None, "--all-namespaces",
                   *(("--subresource", sub) if sub else ()))


def test_watch_namespaces_keeps_only_discovery_cluster_wide(cluster: Cluster,
                                                            watched_release) -> None:
    for who in ("enactor", "cleanup", "planner"):  # kopf reads CRDs and Namespaces
        assert can(cluster, sa(who, "pgw"), "watch", "customresourcedefinitions", None)
        assert can(cluster, sa(who, "pgw"), "list", "namespaces", None)
    assert can(cluster, sa("leases", "pgw"), "patch", "nodes", None)
    assert not can(cluster, sa("leases", "pgw"), "list", "customresourcedefinitions", None)


def test_an_enactor_works_with_only_watched_namespace_rbac(
        cluster: Cluster, bind: Bind, watched_release, zone: str, dns_zone: str,
        procs: Processes, tmp_path: Path) -> None:
    watched, _ = watched_release
    kc = cluster.token_kubeconfig(RELEASE_NS, "pgw-planguard-enactor", tmp_path / "e.kc")
    procs.enactor("a", watched, bind.key("enactor-a"), kubeconfig=kc)
    cluster.apply(watched, plan_obj(zone, 1, {"api": ["10.0.0.7"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.7"])
    # Its one write to the API: its own entry in the zone's status (plans it only reads;
    # clean-up holds the live-plan finalizer).
    eventually(lambda: ((cluster.get("dnszone", watched, zone).get("status") or {})
                        .get("enactors") or {}).get("a", {}).get("generation") == 1,
               what="the enactor's status entry")
    log = procs.log("enactor-a")
    assert "Forbidden" not in log and "403" not in log, log[-2000:]


def test_viewer_role_only_reads(cluster: Cluster, installed_rbac: str, ns: str) -> None:
    cluster.kubectl("create", "serviceaccount", "looker", "-n", ns)
    cluster.kubectl("create", "rolebinding", "looker", "-n", ns,
                    "--clusterrole=pg-planguard-viewer", f"--serviceaccount={ns}:looker")
    viewer = f"system:serviceaccount:{ns}:looker"
    assert cluster.can_i(viewer, "list", "dnsplans.planguard.io", ns)
    assert cluster.can_i(viewer, "get", "dnszones.planguard.io", ns)
    for verb in ("create", "patch", "delete"):
        assert not cluster.can_i(viewer, verb, "dnsplans.planguard.io", ns)


def test_helm_test_runs_status_as_a_viewer(cluster: Cluster, helm: str, installed_rbac: str,
                                           tmp_path: Path) -> None:
    """The `helm test` Pod's command, run here with its account's token: the viewer's
    rights are enough for `planguard status -o json`, and nothing more is granted."""
    docs = render(helm)
    pod = named(docs, "Pod", "pg-planguard-test-status")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    [c] = pod["spec"]["containers"]
    assert c["args"] == ["status", "-o", "json", "-n", RELEASE_NS]
    hooks = [d for d in docs if d["kind"] in ("ServiceAccount", "RoleBinding")
             and d["metadata"]["name"] == "pg-planguard-test"]
    assert all(d["metadata"]["annotations"]["helm.sh/hook"] == "test" for d in hooks)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(hooks))
    tester = f"system:serviceaccount:{RELEASE_NS}:pg-planguard-test"
    assert not can(cluster, tester, "create", "dnsplans.planguard.io", RELEASE_NS)
    assert not can(cluster, tester, "list", "dnsplans.planguard.io", None, "--all-namespaces")
    kc = cluster.token_kubeconfig(RELEASE_NS, "pg-planguard-test", tmp_path / "t.kc")
    r = subprocess.run([sys.executable, "-m", "planguard.cli", *c["args"], "--kubeconfig", kc],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {"zones", "pools"} <= set(json.loads(r.stdout))
    watching = named(render(helm, "--set", "watchNamespaces={a,b}"), "Pod",
                     "pg-planguard-test-status")
    assert [c["args"][-1] for c in watching["spec"]["containers"]] == ["a", "b"]


def test_notes_give_the_tsig_secrets_and_the_key_policy(cluster: Cluster, helm: str) -> None:
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    # A release of its own name: pg's objects exist here without Helm's ownership marks.
    r = subprocess.run([helm, "install", "notes", str(CHART), "-n", RELEASE_NS,
                        "--dry-run=server",
                        "--set", "crds.enabled=false", "--kubeconfig", cluster.kubeconfig],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    notes = r.stdout.split("NOTES:", 1)[1]
    for key in ("planguard-enactor-az1", "planguard-enactor-az2", "planguard-enactor-az3",
                "planguard-cleanup"):
        assert f"kubectl create secret generic {key} -n {RELEASE_NS} " \
               f"--from-file=tsig.key={key}.key" in notes
    for key in ("planguard-enactor-az1", "planguard-enactor-az2", "planguard-enactor-az3"):
        assert f"grant {key} zonesub A AAAA TXT;" in notes
    assert "grant planguard-cleanup" not in notes
    assert "key planguard-cleanup;" in notes.split("allow-transfer", 1)[1]
    assert f"helm test notes -n {RELEASE_NS}" in notes


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


def test_zone_ownership_is_the_platform_teams_word(cluster: Cluster, helm: str, ns: str,
                                                   ns2: str) -> None:
    """values zoneOwnership: a DNSZone only where a rule lets its namespace own its zone
    (any spelling), refused at admission with a message that says which rule is missing."""
    other = ns2
    docs = [d for d in render(helm, "--set", f"zoneOwnership[0].namespaces[0]={ns}",
                              "--set", "zoneOwnership[0].zones[0]=team.test",
                              "--set", "zoneOwnership[1].namespaces[0]=" + other,
                              "--set", "zoneOwnership[1].zones[0]=other.test",
                              "--set", "zoneOwnership[1].servers[0]=10.0.0.53")
            if "zone-ownership" in d["metadata"]["name"]]
    assert sorted(d["kind"] for d in docs) == ["ValidatingAdmissionPolicy",
                                               "ValidatingAdmissionPolicyBinding"]
    # Bound to this test's namespaces only, so that no other test sees the policy.
    docs[1 if docs[1]["kind"].endswith("Binding") else 0]["spec"]["matchResources"] = {
        "namespaceSelector": {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name", "operator": "In", "values": [ns, other]}]}}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def create(where: str, name: str, zone: str, server: str = "127.0.0.1") -> str:
        body = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
                "metadata": {"name": name, "namespace": where},
                "spec": {"zone": zone, "server": {"address": server, "port": 53}}}
        r = cluster.kubectl("create", "-f", "-", input=json.dumps(body), check=False)
        return "" if r.returncode == 0 else r.stderr
    try:
        # A new name each try: one created before the policy was in force would otherwise
        # make every later try fail as AlreadyExists.
        eventually(lambda: "may not own" in create(ns, unique("probe-"), "elsewhere.test"),
                   timeout=60, what="the policy in force")
        refused = create(ns, "steal", "other.test")
        assert f"namespace {ns} may not own DNS zone other.test on server 127.0.0.1" in \
            refused and "zoneOwnership" in refused, refused
        assert create(ns, "web", "team.test") == ""
        assert create(ns, "sub", "api.team.test.") == ""  # a zone below, another spelling
        assert "may not own" in create(other, "web", "team.test")
        assert "may not own" in create(other, "web", "other.test")  # not on that server
        assert create(other, "web", "other.test.", server="10.0.0.53") == ""
    finally:
        cluster.kubectl("delete", "-f", "-", input=yaml.safe_dump_all(docs), check=False)


def test_every_install_claims_its_zones_under_its_own_owner_id(helm: str) -> None:
    docs = render(helm, "--set", "ownerId=cluster-a")
    for d in of_kind(docs, "Deployment"):
        args = d["spec"]["template"]["spec"]["containers"][0]["args"]
        if args[0] in ("enactor", "cleanup"):
            assert "--owner-id=cluster-a" in args, d["metadata"]["name"]
    # helm template cannot look the cluster up: no flag, and the processes claim without
    # a cluster part (an install reads the kube-system namespace's uid).
    for d in of_kind(render(helm), "Deployment"):
        assert not any(a.startswith("--owner-id") for a in
                       d["spec"]["template"]["spec"]["containers"][0]["args"])


def _pods(docs: list[dict]) -> dict[str, dict]:
    """Every pod spec the chart renders, by its workload's name (the helm test Pod too)."""
    return {d["metadata"]["name"]: d["spec"] if d["kind"] == "Pod" else
            d["spec"]["template"]["spec"] for d in of_kind(docs, "Deployment", "DaemonSet", "Pod")}


def test_network_policy_admits_only_metrics_scrapers(cluster: Cluster, helm: str) -> None:
    docs = render(helm, "--set", "leases.enabled=true")
    (np,) = of_kind(docs, "NetworkPolicy")
    spec = np["spec"]
    assert spec["policyTypes"] == ["Ingress"]  # egress is the platform team's (values.yaml)
    # It selects every planguard pod: each workload's pod labels include its selector.
    for d in of_kind(docs, "Deployment", "DaemonSet"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= labels.items(), d["metadata"]
    # One way in: the metrics port, from Prometheus' pods only; the health port and
    # anything else from no pod at all.
    assert spec["ingress"] == [{"from": [{"namespaceSelector": {}, "podSelector": {
        "matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
        "ports": [{"port": "metrics", "protocol": "TCP"}]}]
    none = of_kind(render(helm, "--set", "networkPolicy.metricsFrom=null"), "NetworkPolicy")
    assert none[0]["spec"]["ingress"] == []
    egress = of_kind(render(helm, "--set", "networkPolicy.egress.enabled=true",
                            "--set", "networkPolicy.egress.to[0].to[0].ipBlock.cidr=10.0.0.1/32",
                            "--set", "networkPolicy.egress.to[0].ports[0].port=6443"),
                     "NetworkPolicy")[0]["spec"]
    assert egress["policyTypes"] == ["Ingress", "Egress"]
    assert egress["egress"][1] == {"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
                                   "ports": [{"port": 6443}]}
    assert {"port": 53, "protocol": "UDP"} in egress["egress"][0]["ports"]
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    r = cluster.kubectl("apply", "--dry-run=server", "-f", "-",
                        input=yaml.safe_dump_all([np, {"kind": "NetworkPolicy", **{
                            k: v for k, v in np.items() if k != "spec"}, "spec": egress}]))
    assert "networkpolicy.networking.k8s.io/pg-planguard" in r.stdout
    assert not of_kind(render(helm, "--set", "networkPolicy.enabled=false"), "NetworkPolicy")


def test_secrets_stay_in_secrets_and_out_of_reach(helm: str) -> None:
    docs = render(helm, "--set", "leases.enabled=true")
    # No ConfigMap (readable by the built-in view role) carries key material.
    for cm in of_kind(docs, "ConfigMap"):
        assert "secret \"" not in yaml.safe_dump(cm.get("data")), cm["metadata"]["name"]
    api_roles = {"planner", "leases", "cleanup", "enactor-az1", "enactor-az2", "enactor-az3",
                 "test-status"}
    for name, pod in _pods(docs).items():
        role = name.removeprefix("pg-planguard-")
        # No pod gets the ServiceAccount token by default; the API roles mount a projected
        # one, readable by their group only; the agent, which calls no API, has none.
        assert pod["automountServiceAccountToken"] is False, name
        vols = {v["name"]: v for v in pod.get("volumes") or ()}
        assert ("api-token" in vols) == (role in api_roles), name
        if "api-token" in vols:
            assert vols["api-token"]["projected"]["defaultMode"] == 0o440, name
            mounts = [m for c in pod["containers"] for m in c["volumeMounts"]
                      if m["name"] == "api-token"]
            assert mounts and all(m["readOnly"] and m["mountPath"] ==
                                  "/var/run/secrets/kubernetes.io/serviceaccount"
                                  for m in mounts), name
        if "tsig" in vols:  # TSIG keys: 0440, the group is the process's (fsGroup)
            assert vols["tsig"]["secret"]["defaultMode"] == 0o440, name
            assert pod["securityContext"]["fsGroup"] == 65532, name
        if "tmp" in vols:
            assert vols["tmp"]["emptyDir"] == {"sizeLimit": "64Mi"}, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    assert sum("tsig" in {v["name"] for v in p.get("volumes") or ()}
               for p in _pods(docs).values()) == 4


def test_metrics_and_probes_listen_on_the_pod_ip(helm: str) -> None:
    for d in of_kind(render(helm, "--set", "leases.enabled=true"), "Deployment"):
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} \
            in c["env"], d["metadata"]["name"]
        assert not [a for a in c["args"] if a.startswith("--listen-address")]  # $POD_IP


def test_an_image_digest_pins_every_pod(helm: str) -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    pods = _pods(render(helm, "--set", "leases.enabled=true", "--set", f"image.digest={digest}",
                        "--set", "image.tag=ignored"))
    images = {c["image"] for p in pods.values() for c in p["containers"]}
    assert images == {f"ghcr.io/planguard/planguard@{digest}"}
    tagged = {c["image"] for p in _pods(render(helm)).values() for c in p["containers"]}
    assert len(tagged) == 1 and tagged.pop().startswith("ghcr.io/planguard/planguard:")


def test_the_canary_is_off_by_default_and_has_no_api_access(helm: str) -> None:
    assert not [d for d in render(helm) if d["metadata"]["name"].endswith("-canary")]
    # A release made before the canary, upgraded with --reuse-values, has no canary values.
    assert not [d for d in render(helm, "--set", "canary=null")
                if d["metadata"]["name"].endswith("-canary")]
    docs = render(helm, "--set", "canary.enabled=true", "--set", "canary.zone=example.test",
                  "--set", "canary.endpoints={api,web:8080}")
    d = named(docs, "Deployment", "pg-planguard-canary")
    pod = d["spec"]["template"]["spec"]
    # Its own account, bound to nothing, its token never mounted.
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "pg-planguard-canary"
    assert named(docs, "ServiceAccount", "pg-planguard-canary")[
        "automountServiceAccountToken"] is False
    assert not [b for b in of_kind(docs, "RoleBinding", "ClusterRoleBinding")
                if any(s["name"] == "pg-planguard-canary" for s in b["subjects"])]
    c = pod["containers"][0]
    assert c["args"][:4] == ["canary", "--zone=example.test", "--endpoint=api",
                             "--endpoint=web:8080"]
    assert c["livenessProbe"] and c["readinessProbe"]
    assert c["securityContext"]["readOnlyRootFilesystem"]
    for bad, why in ((("canary.enabled=true",), "canary.zone is required"),
                     (("canary.enabled=true", "canary.zone=x"), "canary.endpoints is required"),
                     (("canary.endpoints={bad name}",), "/canary/endpoints/0"),
                     (("canary.zone=Bad_Zone",), "/canary/zone"),
                     (("canary.every=0",), "/canary/every")):
        r = subprocess.run([helm, "template", "pg", str(CHART), "--kube-version", KUBE_VERSION,
                            *(x for b in bad for x in ("--set", b))], capture_output=True,
                           text=True)
        assert r.returncode != 0 and why in r.stderr, (bad, r.stderr)
