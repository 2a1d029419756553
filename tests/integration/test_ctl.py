"""`kubectl planguard` as krew's plugin guide asks, against the real API server: the
namespace of the current context, --context, -A, -o yaml, usage text, errors as one line
with exit 1, and `status` listing plans once however many zones there are."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import Cluster, plan_obj, unique, zone_obj

pytestmark = pytest.mark.integration
PLUGIN = str(Path(sys.executable).parent / "kubectl-planguard")


def run(*args: str, kubeconfig: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    if kubeconfig:
        environ["KUBECONFIG"] = kubeconfig
    return subprocess.run([PLUGIN, *args], capture_output=True, text=True, timeout=60,
                          env={**environ, **(env or {})})


def ok(r: subprocess.CompletedProcess[str]) -> Any:
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def one_clear_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, r.stderr + r.stdout
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("kubectl planguard: "), lines[0]
    return lines[0]


def kubeconfig_with(cluster: Cluster, path: Path, **context: Any) -> str:
    """The test cluster's kubeconfig, its current context given `context` fields; plus a
    context `elsewhere` on namespace kube-public."""
    cfg = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    cur = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])
    cur["context"].update(context)
    cfg["contexts"].append({"name": "elsewhere",
                            "context": {**cur["context"], "namespace": "kube-public"}})
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture
def other_ns(cluster: Cluster) -> Iterator[str]:
    name = unique("t-")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "dnsplans,dnszones", "--all", "-n", name, "--wait=false",
                    check=False)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_namespace_comes_from_the_current_context(cluster: Cluster, ns: str,
                                                  tmp_path: Path) -> None:
    cluster.apply(ns, [zone_obj("web", "web.test", 53), plan_obj("web", 1, {"a": ["10.0.0.1"]})])
    cfg = kubeconfig_with(cluster, tmp_path / "kubeconfig", namespace=ns)
    st = ok(run("status", "-o", "json", kubeconfig=cfg))
    assert [(z["namespace"], z["name"], z["newestPlan"]) for z in st["zones"]] == \
        [(ns, "web", 1)]
    # --context picks another context and its namespace; -n still wins over both.
    assert ok(run("status", "-o", "json", "--context", "elsewhere", kubeconfig=cfg))["zones"] \
        == []
    assert ok(run("status", "-o", "json", "--kubeconfig", cfg, "--context", "elsewhere",
                  "-n", ns))["zones"][0]["name"] == "web"
    # Through kubectl itself, as a plugin found on the PATH.
    kubectl_dir = str(Path(cluster.kubectl_bin).parent)
    r = subprocess.run(["kubectl", "planguard", "status", "-o", "json"], capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, "KUBECONFIG": cfg,
                            "PATH": f"{Path(PLUGIN).parent}:{kubectl_dir}:{os.environ['PATH']}"})
    assert ok(r)["zones"][0]["namespace"] == ns


def test_usage_says_kubectl_planguard() -> None:
    r = run("status", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: kubectl planguard status"), r.stdout
    assert "-A, --all-namespaces" in r.stdout and "--context" in r.stdout
    r = run("status", "-o", "xml")
    assert r.returncode == 2 and "kubectl planguard status: error" in r.stderr


def test_all_namespaces_and_yaml(cluster: Cluster, ns: str, other_ns: str) -> None:
    cluster.apply(ns, [zone_obj("web", "web.test", 53), plan_obj("web", 3, {"a": ["10.0.0.1"]})])
    cluster.apply(other_ns, [zone_obj("api", "api.test", 53),
                             plan_obj("api", 7, {"a": ["10.0.0.2"]})])
    st = ok(run("status", "-A", "-o", "json", "--kubeconfig", cluster.kubeconfig))
    mine = {(z["namespace"], z["name"]): z["newestPlan"] for z in st["zones"]
            if z["namespace"] in (ns, other_ns)}
    assert mine == {(ns, "web"): 3, (other_ns, "api"): 7}
    text = run("status", "-A", "--kubeconfig", cluster.kubeconfig)
    assert f"zone {other_ns}/api (api.test)" in text.stdout, text.stdout
    y = run("status", "-n", ns, "-o", "yaml", "--kubeconfig", cluster.kubeconfig)
    assert y.returncode == 0, y.stderr
    assert yaml.safe_load(y.stdout) == ok(run("status", "-n", ns, "-o", "json",
                                              "--kubeconfig", cluster.kubeconfig))
    assert yaml.safe_load(y.stdout)["zones"][0]["newestPlan"] == 3


def test_forbidden_not_found_and_unreachable_are_one_line_and_exit_1(
        cluster: Cluster, ns: str, tmp_path: Path) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", ns)
    cfg = cluster.token_kubeconfig(ns, "nobody", tmp_path / "nobody")
    line = one_clear_line(run("status", "-n", ns, "--kubeconfig", cfg))
    assert "Forbidden (403)" in line and f"system:serviceaccount:{ns}:nobody" in line, line
    line = one_clear_line(run("pause", "zone/web", "-n", ns, "--kubeconfig", cfg))
    assert "Forbidden (403)" in line, line

    line = one_clear_line(run("diff", "no-such-plan", "other", "-n", ns,
                              "--kubeconfig", cluster.kubeconfig))
    assert 'Not Found (404): dnsplans.planguard.io "no-such-plan" not found' in line, line

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    dead["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "dead").write_text(yaml.safe_dump(dead))
    line = one_clear_line(run("status", "-n", ns, "--kubeconfig", str(tmp_path / "dead")))
    assert f"cannot reach the Kubernetes API server at https://127.0.0.1:{port}" in line, line
    assert "refused" in line.lower(), line

    line = one_clear_line(run("status", "--kubeconfig", str(tmp_path / "missing")))
    assert "kubeconfig" in line.lower() or "config" in line.lower(), line


def test_status_lists_plans_once_whatever_the_number_of_zones(cluster: Cluster, ns: str,
                                                              tmp_path: Path) -> None:
    for i in range(5):
        cluster.apply(ns, [zone_obj(f"z{i}", f"z{i}.test", 53),
                           plan_obj(f"z{i}", 1, {"a": ["10.0.0.1"]})])
    # kubectl proxy logs every request it forwards (-v=6): the real API server, counted.
    proxy = subprocess.Popen([cluster.kubectl_bin, "--kubeconfig", cluster.kubeconfig, "proxy",
                              "--port=0", "-v=6"], stdout=subprocess.PIPE,
                             stderr=(tmp_path / "proxy.log").open("w"), text=True)
    try:
        assert proxy.stdout is not None
        m = re.search(r"127\.0\.0\.1:(\d+)", proxy.stdout.readline())
        assert m, "kubectl proxy did not say where it serves"
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "p",
               "clusters": [{"name": "p", "cluster": {"server": f"http://127.0.0.1:{m[1]}"}}],
               "users": [{"name": "p", "user": {}}],
               "contexts": [{"name": "p", "context": {"cluster": "p", "user": "p",
                                                      "namespace": ns}}]}
        (tmp_path / "via-proxy").write_text(yaml.safe_dump(cfg))
        st = ok(run("status", "-o", "json", "--kubeconfig", str(tmp_path / "via-proxy")))
        assert sorted(z["name"] for z in st["zones"]) == [f"z{i}" for i in range(5)]
        assert all(z["newestPlan"] == 1 for z in st["zones"])
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    log = (tmp_path / "proxy.log").read_text()
    # One "Response" line per request forwarded to the API server.
    plan_requests = [ln for ln in log.splitlines() if '"Response"' in ln and "/dnsplans" in ln]
    assert len(plan_requests) == 1, log[-3000:]
