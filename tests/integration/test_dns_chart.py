"""charts/planguard-dns (the optional DNS tier) rendered and checked by the real parts: the
named.conf of each side and every zone file through BIND's own named-checkconf and
named-checkzone, every TSIG key a key BIND reads, the manifests through the API server's
server-side dry run, and bad values refused by the schema with the field named. The tier
running (NOTIFY, IXFR, a restarted primary, CoreDNS in front) is the kind suite's
(tests/kind/test_serving_tier.py)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_chart import KUBE_VERSION, RELEASE_NS, named, of_kind

from harness import REPO, Cluster

pytestmark = pytest.mark.integration
CHART = REPO / "charts" / "planguard-dns"


def render(helm: str, *args: str) -> list[dict]:
    out = subprocess.run([helm, "template", "dns", str(CHART), "--namespace", RELEASE_NS,
                          "--kube-version", KUBE_VERSION, *args],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _bind_tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/sbin/{name}"
    assert Path(path).exists(), f"{name} missing (hack/install-bind.sh installs BIND)"
    return path


def test_dns_chart_lints_strictly(helm: str) -> None:
    r = subprocess.run([helm, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("zones", [["example.test"], ["a.test", "b.example"]])
def test_named_reads_what_the_chart_renders(helm: str, tmp_path: Path, zones: list[str]) -> None:
    """Both sides' named.conf, with the keys and NOTIFY targets the pods put beside them,
    pass named-checkconf; each zone's first file passes named-checkzone."""
    docs = render(helm, "--set", "zones={" + ",".join(zones) + "}")
    cm = named(docs, "ConfigMap", "dns")["data"]
    secrets = of_kind(docs, "Secret")
    for s in secrets:
        key = base64.b64decode(s["data"]["tsig.key"]).decode()
        assert key.startswith(f'key "{s["metadata"]["name"]}" {{'), key
        (tmp_path / f"{s['metadata']['name']}.key").write_text(key)
    (tmp_path / "notify.conf").write_text(
        "primaries notify-targets { 10.96.0.20 key dns-xfr; 10.96.0.21 key dns-xfr; };\n")
    for side in ("primary.conf", "secondary.conf"):
        text = (cm[side].replace("/keys/", f"{tmp_path}/").replace("/run/named/", f"{tmp_path}/")
                .replace("/var/cache/bind", str(tmp_path)).replace("PRIMARY", "10.96.0.10"))
        (tmp_path / side).write_text(text)
        r = subprocess.run([_bind_tool("named-checkconf"), str(tmp_path / side)],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{side}: {r.stdout}{r.stderr}"
    for z in zones:
        (tmp_path / f"db.{z}").write_text(cm[f"db.{z}"])
        r = subprocess.run([_bind_tool("named-checkzone"), z, str(tmp_path / f"db.{z}")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    primary = cm["primary.conf"]
    # Writers may update addresses and markers only; the clean-up and secondaries transfer.
    assert primary.count("zonesub A AAAA TXT;") == 3 * len(zones)
    assert "key planguard-cleanup;" in primary and "key dns-xfr;" in primary
    assert "notify explicit;" in primary and "also-notify { notify-targets; }" in primary
    assert "allow-notify { key dns-xfr; }" in cm["secondary.conf"]  # signed NOTIFYs only
    # Authoritative only: nothing makes named reach past the cluster (the root's keys).
    for side in ("primary.conf", "secondary.conf"):
        assert "recursion no; dnssec-validation no;" in cm[side], side


def test_keys_and_zone_data_outlive_the_release(helm: str) -> None:
    docs = render(helm)
    names = {s["metadata"]["name"] for s in of_kind(docs, "Secret")}
    assert names == {"planguard-enactor-az1", "planguard-enactor-az2", "planguard-enactor-az3",
                     "planguard-cleanup", "dns-xfr"}
    for d in of_kind(docs, "Secret", "PersistentVolumeClaim"):
        assert d["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", d
    # No key in a ConfigMap (readable by the built-in view role).
    for cm in of_kind(docs, "ConfigMap"):
        assert not [k for k, v in cm["data"].items() if 'secret "' in v], cm


def test_a_primary_on_one_journal_and_secondaries_on_separate_nodes(helm: str) -> None:
    docs = render(helm, "--set", "secondaries.replicas=3")
    primary = named(docs, "Deployment", "dns-primary")
    assert primary["spec"]["replicas"] == 1
    assert primary["spec"]["strategy"]["type"] == "Recreate"
    pod = primary["spec"]["template"]["spec"]
    assert "flock 9" in pod["containers"][0]["command"][2]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "dns-primary-data"}} \
        in pod["volumes"]
    sts = named(docs, "StatefulSet", "dns-secondary")
    anti = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == \
        "kubernetes.io/hostname"
    # One Service per secondary: the primary's NOTIFY targets.
    assert {f"dns-secondary-{i}" for i in range(3)} <= {s["metadata"]["name"]
                                                       for s in of_kind(docs, "Service")}
    assert "for i in $(seq 0 $((3 - 1)))" in pod["initContainers"][0]["command"][2]
    for d in (primary, sts):
        probe = d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        assert "SOA" in probe["exec"]["command"][2]  # Ready once the zone is loaded
    off = render(helm, "--set", "primary.persistence.enabled=false")
    assert not of_kind(off, "PersistentVolumeClaim")


def test_dns_values_schema_refuses_bad_values(helm: str) -> None:
    for bad, field in (("zones[0]=example.test.", "/zones/0"),  # a trailing dot
                       ("zones[0]=Example.Test", "/zones/0"),
                       ("secondaries.replicas=-1", "/secondaries/replicas"),
                       ("soa.expire=60", "/soa/expire"),
                       ("writers[0]=Bad_Key", "/writers/0"),
                       ("named=named;rm", "/named"),
                       ("primary.service.nodePort=53", "/primary/service/nodePort"),
                       ("primary.bogus=1", "bogus")):
        r = subprocess.run([helm, "template", "dns", str(CHART), "--kube-version", KUBE_VERSION,
                            "--set", bad], capture_output=True, text=True)
        assert r.returncode != 0 and "schema" in r.stderr and field in r.stderr, (bad, r.stderr)


def test_dns_chart_passes_server_side_dry_run(cluster: Cluster, helm: str) -> None:
    cluster.kubectl("create", "namespace", RELEASE_NS, check=False)
    docs = render(helm, "--set", "primary.service.type=NodePort")
    assert {d["kind"] for d in docs} == {"Secret", "ConfigMap", "PersistentVolumeClaim",
                                         "Deployment", "StatefulSet", "Service"}
    r = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs))
    assert "statefulset.apps/dns-secondary created (server dry run)" in r.stdout, r.stdout
