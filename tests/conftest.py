"""Session fixtures: the real control plane, BIND and PowerDNS, started by hack/ scripts (or
reused), CRDs installed; per test: a namespace, a DNS zone of its own, and planguard
processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import (
    REPO,
    Bind,
    Cluster,
    PowerDns,
    Processes,
    hack_env,
    run_script,
    unique,
)


def _say(config: pytest.Config, line: str) -> None:
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(line)


def _up(script: str, what: str) -> str:
    """Starts a real part through hack/ (or reuses a running one); the session stops with
    one line, not a traceback, when it cannot."""
    try:
        return run_script(script)
    except Exception as e:
        pytest.fail(f"{what} could not be started: {e}", pytrace=False)


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    """A real kube-apiserver + etcd: hack/cluster-up.sh (builds once, reuses a running one)."""
    out = _up("cluster-up.sh", "the local control plane")
    state = hack_env("PLANGUARD_STATE")
    c = Cluster(os.path.join(state, "cp", "kubeconfig"),
                os.path.join(hack_env("CP_BIN_DIR"), "kubectl"))
    version = c.kubectl("version", "-o", "yaml").stdout
    server = [ln.strip() for ln in version.splitlines() if "gitVersion" in ln]
    _say(pytestconfig, f"control plane: {out.strip().splitlines()[0]} | server {server}")
    c.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    c.kubectl("wait", "--for=condition=Established", "crd/dnsplans.planguard.io",
              "crd/dnszones.planguard.io", "--timeout=60s")
    return c


@pytest.fixture(scope="session")
def bind(pytestconfig: pytest.Config) -> Bind:
    """A real BIND 9 on loopback: hack/bind-up.sh (installs bind9 when missing)."""
    _up("bind-up.sh", "BIND")
    import subprocess

    _say(pytestconfig, "dns: " + subprocess.run(["named", "-v"], capture_output=True,
                                                text=True).stdout.strip())
    return Bind()


@pytest.fixture(scope="session")
def pdns(pytestconfig: pytest.Config) -> PowerDns:
    """A real PowerDNS Authoritative on loopback: hack/pdns-up.sh (installs it when missing)."""
    out = _up("pdns-up.sh", "PowerDNS")
    _say(pytestconfig, "dns: " + out.strip().splitlines()[0])
    return PowerDns()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Bind:
    """The DNS server of the test's zone (`dns_zone`, `zone`): BIND, or BIND then PowerDNS
    for a test marked `@on_both_servers` (harness.py), whose body runs unchanged on each."""
    return request.getfixturevalue(getattr(request, "param", "bind"))  # type: ignore[no-any-return]


def _own_zone(server: Bind) -> Iterator[str]:
    zone = f"{unique('z')}.test"
    server.add_zone(zone)
    yield zone
    server.del_zone(zone)


def _namespace(cluster: Cluster, prefix: str) -> Iterator[str]:
    """A fresh namespace. Namespaces never finish deleting here (no controller-manager), so
    teardown removes planguard's objects one by one, finalizers first."""
    name = unique(prefix)
    cluster.kubectl("create", "namespace", name)
    yield name
    for kind in ("dnsplans", "dnszones"):
        names = cluster.kubectl("get", kind, "-n", name, "-o", "name", check=False).stdout.split()
        for obj in names:
            cluster.kubectl("patch", obj, "-n", name, "--type", "merge",
                            "-p", '{"metadata":{"finalizers":null}}', check=False)
        cluster.kubectl("delete", kind, "--all", "-n", name, "--wait=false", check=False)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def ns(cluster: Cluster) -> Iterator[str]:
    yield from _namespace(cluster, "t-")


@pytest.fixture
def ns2(cluster: Cluster) -> Iterator[str]:
    """A second team's namespace."""
    yield from _namespace(cluster, "t2-")


@pytest.fixture
def dns_zone(server: Bind) -> Iterator[str]:
    """A zone of this test's own on the shared BIND (or `server`)."""
    yield from _own_zone(server)


@pytest.fixture
def zone(cluster: Cluster, server: Bind, ns: str, dns_zone: str) -> str:
    """A DNSZone object `web` in the test's namespace, pointing at the test's zone."""
    cluster.apply(ns, server.zone("web", dns_zone))
    return "web"


@pytest.fixture
def procs(cluster: Cluster, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Processes]:
    p = Processes(cluster, tmp_path / "logs")
    yield p
    p.stop_all()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for name in p.procs:
            print(f"----- {name} log (tail) -----\n{p.log(name)[-4000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(scope="session")
def helm() -> str:
    """helm, built into the cache from the Go module proxy (hack/build-helm.sh)."""
    try:
        return run_script("build-helm.sh").strip().splitlines()[-1]
    except Exception as e:  # a failure that says why, never a skip
        pytest.fail(f"helm could not be built: {e}", pytrace=False)
