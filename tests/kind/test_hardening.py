"""Issue 29 on the real cluster: TSIG keys only in Secrets (BIND's config in its ConfigMap
holds none), key and token files readable by the process's group only, /metrics and the
probes on the pod IP only, and the chart's NetworkPolicy admitted and enforced."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from kindharness import NAMESPACE, Kind, chart_pods, docker

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(600)]
TSIG = re.compile(r'secret\s+"([^"]+)"')
CONNECT = """
import socket, sys
for host, port in (a.rsplit(":", 1) for a in sys.argv[1:]):
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print(host, port, "open")
    except OSError as e:
        print(host, port, type(e).__name__)
"""


def _exec(kind: Kind, pod: str, *cmd: str) -> str:
    return str(kind.cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", *cmd, timeout=60).stdout)


def _connect(kind: Kind, pod: str, *addrs: str) -> dict[str, str]:
    out = _exec(kind, pod, "python3", "-c", CONNECT, *addrs)
    return {f"{h}:{p}": r for h, p, r in (ln.split() for ln in out.splitlines())}


def _pod_name(kind: Kind, component: str) -> str:
    return str(chart_pods(kind, component)[0]["metadata"]["name"])


def test_no_configmap_holds_a_tsig_secret(kind: Kind) -> None:
    secrets = json.loads(kind.cluster.kubectl("get", "secrets", "-n", NAMESPACE,
                                              "-o", "json").stdout)["items"]
    keys = {TSIG.search(base64.b64decode(s["data"]["tsig.key"]).decode())[1]  # type: ignore[index]
            for s in secrets if "tsig.key" in (s.get("data") or {})}
    files = ("planguard-cleanup", "planguard-enactor-az1", "planguard-enactor-az2",
             "planguard-enactor-az3", "dns-xfr")
    assert len(keys) == len(files), "one TSIG key Secret per writer, reader and transfers"
    cms = json.loads(kind.cluster.kubectl("get", "configmaps", "-A", "-o", "json").stdout)
    for cm in cms["items"]:
        text = json.dumps(cm.get("data") or {})
        assert not [k for k in keys if k in text], cm["metadata"]
        assert not TSIG.search(text), cm["metadata"]  # nor any other key
    conf = kind.cluster.get("configmaps", NAMESPACE, "dns")["data"]["primary.conf"]
    assert 'include "/keys/planguard-enactor-az1.key";' in conf  # read from the Secrets
    # ...as the bind user alone (named drops root before reading its config).
    bind = json.loads(kind.cluster.kubectl(
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=dns-primary",
        "-o", "json").stdout)["items"][0]["metadata"]["name"]
    modes = _exec(kind, bind, "sh", "-c", "stat -c '%a %U %n' /keys/*.key").split("\n")
    assert sorted(m for m in modes if m) == sorted(f"400 bind /keys/{k}.key" for k in files)


def test_key_and_token_files_only_for_the_process_group(kind: Kind) -> None:
    stat = ("import os, sys\nfor p in sys.argv[1:]:\n    s = os.stat(p)\n"
            "    print(p, oct(s.st_mode & 0o777), s.st_uid, s.st_gid, os.getgid())")
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    for component in ("enactor", "cleanup", "planner", "leases"):
        pod: dict[str, Any] = chart_pods(kind, component)[0]
        assert pod["spec"]["automountServiceAccountToken"] is False
        files = [token] + (["/etc/planguard/tsig/tsig.key"]
                           if component in ("enactor", "cleanup") else [])
        out = _exec(kind, pod["metadata"]["name"], "python3", "-c", stat, *files)
        for line in out.splitlines():
            path, mode, uid, gid, mygid = line.split()
            if path == token:  # the kubelet's choice (0600 for the pod's user): no others
                assert int(mode, 8) & 0o007 == 0, (component, line)
            else:  # root-owned, group = the process's (fsGroup), no one else
                assert (mode, uid, gid) == ("0o440", "0", mygid), (component, line)


def test_metrics_and_probes_only_on_the_pod_ip(kind: Kind) -> None:
    pod = chart_pods(kind, "enactor")[0]
    ip, name = pod["status"]["podIP"], pod["metadata"]["name"]
    got = _connect(kind, name, f"{ip}:9100", f"{ip}:8080", "127.0.0.1:9100", "127.0.0.1:8080")
    assert got == {f"{ip}:9100": "open", f"{ip}:8080": "open",
                   "127.0.0.1:9100": "ConnectionRefusedError",
                   "127.0.0.1:8080": "ConnectionRefusedError"}, got


def test_the_network_policy_is_admitted_and_selects_every_role(kind: Kind) -> None:
    np = kind.cluster.get("networkpolicies", NAMESPACE, "planguard")
    sel = np["spec"]["podSelector"]["matchLabels"]
    assert np["spec"]["policyTypes"] == ["Ingress"]
    for p in chart_pods(kind):
        assert sel.items() <= p["metadata"]["labels"].items(), p["metadata"]["name"]
    (rule,) = np["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "prometheus"}}}]


def test_a_pod_outside_the_allowed_set_cannot_reach_an_enactor(kind: Kind) -> None:
    """Enforced, not only admitted: hack/kind's node image pairs its kindnet stand-in (routes
    only) with kube-router's firewall (hack/kind/kube-router.yaml); kind's own kindnetd
    (--images public) enforces NetworkPolicy itself."""
    pod = chart_pods(kind, "enactor")[0]
    ip, node = pod["status"]["podIP"], pod["spec"]["nodeName"]
    # Both ports listen, and the node reaches them (kubelet's probes come from there).
    for port, path in ((9100, "/metrics"), (8080, "/readyz")):
        r = docker("exec", node, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                   "-m", "5", f"http://{ip}:{port}{path}")
        assert r.stdout in ("200", "503"), (node, port, r.stdout, r.stderr)
    # The planner is no Prometheus pod: neither port of an enactor answers it.
    got = _connect(kind, _pod_name(kind, "planner"), f"{ip}:9100", f"{ip}:8080")
    assert "open" not in got.values(), got
    # Prometheus is one: it still scrapes that enactor.
    eventually(lambda: [s["value"][1] for s in kind.prometheus(
        "query", query=f'up{{instance="{ip}:9100"}}')["result"]] == ["1"],
        what=f"Prometheus scraping {ip}:9100")
