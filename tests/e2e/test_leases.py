"""The lease manager against a simulated fleet on loopback and the real API server."""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import (
    HACK,
    Cluster,
    Processes,
    eventually,
    free_port,
    http_status,
    metrics_text,
    unique,
)

pytestmark = pytest.mark.e2e
DURATION, RENEW = 6.0, 1.5


def key_file(path: Path, key: str | None = None) -> str:
    path.write_text(key or secrets.token_hex(32))
    path.chmod(0o400)
    return str(path)


class Fleet:
    def __init__(self, procs: Processes, cluster: Cluster, nodes: int) -> None:
        self.prefix = unique("f") + "-"
        self.port = free_port()
        self.cluster, self.nodes = cluster, [f"{self.prefix}{i}" for i in range(nodes)]
        self.key = key_file(procs.logdir / f"{self.prefix}checkin.key")
        procs.start("fleet", "fleet", "--nodes", str(nodes), "--zones", "3", "--prefix",
                    self.prefix, "--listen", f"127.0.0.1:{self.port}",
                    "--checkin-key-file", self.key, metrics_port=None)
        eventually(self._up, timeout=30, what="fleet serving")

    def lease_args(self, key: str | None = None) -> tuple[str, ...]:
        """What a lease manager needs for this fleet: its key, its loopback agent URLs."""
        return ("--selector", f"planguard.io/fleet={self.prefix[:-1]}",
                "--checkin-key-file", key or self.key, "--loopback-agent-urls")

    def _up(self) -> bool:
        try:
            self.control({})
            return True
        except OSError:
            return False

    def control(self, body: dict) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/control",
                                     data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.load(r)

    def zone(self, name: str) -> list[str]:
        return [n for i, n in enumerate(self.nodes) if "abc"[i % 3] == name[-1]]

    def tainted(self) -> set[str]:
        items = self.cluster.kubectl("get", "nodes", "-l", f"planguard.io/fleet={self.prefix[:-1]}",
                                     "-o", "json").stdout
        return {n["metadata"]["name"] for n in json.loads(items)["items"]
                if any(t["key"] == "planguard.io/lease-lapsed"
                       for t in n.get("spec", {}).get("taints") or [])}

    def renewed(self, ns: str) -> dict[str, str]:
        items = json.loads(self.cluster.kubectl("get", "leases", "-n", ns, "-l",
                                                "planguard.io/node", "-o", "json").stdout)
        return {i["metadata"]["labels"]["planguard.io/node"]: i["spec"]["renewTime"]
                for i in items["items"]}


@pytest.fixture
def fleet(cluster: Cluster, ns: str, procs: Processes) -> Iterator[Fleet]:
    f = Fleet(procs, cluster, 30)
    procs.start("leases", "leases", "--id", "lm1", "--lease-namespace", ns, *f.lease_args(),
                "--lease-duration", str(DURATION), "--renew-interval", str(RENEW),
                "--workers", "8")
    yield f
    cluster.kubectl("delete", "nodes", "-l", f"planguard.io/fleet={f.prefix[:-1]}",
                    "--wait=false", check=False)


class TaintWatch(threading.Thread):
    def __init__(self, fleet: Fleet) -> None:
        super().__init__(daemon=True)
        self.fleet, self.ever, self.stop = fleet, set(), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.ever |= self.fleet.tainted()
            time.sleep(0.3)


@contextlib.contextmanager
def nobody_tainted(fleet: Fleet, during: str) -> Iterator[None]:
    """Watches every node's taints while the body runs: none may appear."""
    watch = TaintWatch(fleet)
    watch.start()
    try:
        yield
    finally:
        watch.stop.set()
        watch.join()
    assert watch.ever == set(), f"tainted {during}: {sorted(watch.ever)}"


def test_probes_and_a_sigterm_that_hands_the_leases_over(cluster: Cluster, ns: str,
                                                          procs: Processes) -> None:
    """`planguard leases` serves /healthz and /readyz, and on SIGTERM gives its leader
    Lease up at once (the standby takes over within a retry period)."""
    f = Fleet(procs, cluster, 6)
    ports = {m: free_port() for m in ("lm1", "lm2")}
    for m, port in ports.items():
        procs.start(f"leases-{m}", "leases", "--id", m, "--lease-namespace", ns,
                    *f.lease_args(), "--lease-duration", str(DURATION), "--renew-interval",
                    str(RENEW), liveness_port=port)
    for port in ports.values():
        eventually(lambda p=port: http_status(p, "/healthz") == 200 == http_status(p, "/readyz"),
                   timeout=20, what="liveness and readiness")

    def holder() -> str:
        return cluster.kubectl("get", "lease", "planguard-leases", "-n", ns, "-o",
                               "jsonpath={.spec.holderIdentity}", check=False).stdout
    eventually(lambda: holder() in ports, timeout=20, what="a leader")
    leader = holder()
    other = next(m for m in ports if m != leader)
    t0 = time.monotonic()
    procs.signal(f"leases-{leader}", signal.SIGTERM)
    eventually(lambda: holder() == other, timeout=20, interval=0.1, what="the standby leads")
    took = time.monotonic() - t0
    print(f"lease manager handover after SIGTERM: {took:.1f} s")
    assert took < 4, took
    assert procs.procs[f"leases-{leader}"].wait(timeout=10) == 0
    eventually(lambda: len(f.renewed(ns)) == 6, timeout=30, what="leases kept by the new leader")
    cluster.kubectl("delete", "nodes", "-l", f"planguard.io/fleet={f.prefix[:-1]}",
                    "--wait=false", check=False)


def test_leases_are_created_and_renewed(fleet: Fleet, ns: str) -> None:
    eventually(lambda: len(fleet.renewed(ns)) == 30, timeout=30, what="30 leases")
    first = fleet.renewed(ns)
    eventually(lambda: all(v > first[n] for n, v in fleet.renewed(ns).items()),
               timeout=RENEW * 2.5, interval=0.1, what="every lease renewed")
    assert fleet.tainted() == set()


def test_a_stopped_agent_loses_its_lease_and_gets_the_taint_then_recovers(
        fleet: Fleet, ns: str) -> None:
    eventually(lambda: len(fleet.renewed(ns)) == 30, timeout=30)
    victim = fleet.nodes[4]
    fleet.control({"down": [victim]})
    eventually(lambda: fleet.tainted() == {victim}, timeout=DURATION * 4, what="victim tainted")
    fleet.control({"up": [victim]})
    eventually(lambda: fleet.tainted() == set(), timeout=DURATION * 4, what="taint removed")


def test_zone_wide_loss_freezes_tainting(fleet: Fleet, ns: str) -> None:
    eventually(lambda: len(fleet.renewed(ns)) == 30, timeout=30)
    with nobody_tainted(fleet, "during a zone-wide loss"):
        fleet.control({"zone_down": "zone-a"})
        time.sleep(DURATION * 3)  # the loss, held
        fleet.control({"zone_up": "zone-a"})
        time.sleep(RENEW * 3)


def test_check_in_outage_then_recovery_taints_nobody(fleet: Fleet, ns: str) -> None:
    eventually(lambda: len(fleet.renewed(ns)) == 30, timeout=30)
    with nobody_tainted(fleet, "because of our own outage"):
        fleet.control({"outage": True})
        time.sleep(DURATION * 3)  # the outage, held
        fleet.control({"outage": False})
        before = fleet.renewed(ns)
        eventually(lambda: all(v > before[n] for n, v in fleet.renewed(ns).items()),
                   timeout=DURATION * 3, what="every lease renewed after the outage")
        time.sleep(RENEW * 2)


def test_api_server_outage_taints_nobody(fleet: Fleet, ns: str) -> None:
    eventually(lambda: len(fleet.renewed(ns)) == 30, timeout=30)
    subprocess.run([str(HACK / "apiserver-restart.sh"), str(DURATION * 2)], check=True,
                   capture_output=True)
    with nobody_tainted(fleet, "because of the API server's outage"):
        time.sleep(DURATION * 2)


def test_a_wrong_checkin_proof_renews_nothing(cluster: Cluster, ns: str, ns2: str,
                                              procs: Processes) -> None:
    """Check-ins answered 200 but without the proof for the lease manager's key (a pod
    squatting the agent's port, an agent of another install) renew no lease and establish
    none; the same agents with the right key do (in another lease namespace)."""
    f = Fleet(procs, cluster, 6)
    wrong = key_file(procs.logdir / "wrong.key")
    wrong_metrics = free_port()
    for name, where, key in (("right", ns, None), ("wrong", ns2, wrong)):
        procs.start(f"leases-{name}", "leases", "--id", name, "--lease-namespace", where,
                    *f.lease_args(key), "--lease-duration", str(DURATION), "--renew-interval",
                    str(RENEW), metrics_port=wrong_metrics if key else 0)
    eventually(lambda: len(f.renewed(ns)) == 6, timeout=30, what="leases of the right key")
    # The wrong-key manager leads, asks the same agents, and is answered 200 every time.
    eventually(lambda: 'planguard_lease_checkins_total{result="failed"}'
               in metrics_text(wrong_metrics), timeout=30,
               what="the wrong-key manager's check-ins, failed in its metrics")
    time.sleep(DURATION)  # a whole lease duration of its check-ins
    assert f.renewed(ns2) == {}
    assert f.control({})["checkins"] > 0


def test_an_annotation_aims_check_ins_only_when_allowed_and_only_at_loopback(
        cluster: Cluster, ns: str, ns2: str, procs: Processes, tmp_path: Path) -> None:
    """A Node's agent-url annotation is where whoever may annotate Nodes would aim the lease
    manager's requests (SSRF). Without --loopback-agent-urls (production) it is never
    followed: a real listener at the annotated address sees no connection; with it (the
    fleet simulator) the same listener is asked (the control)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        fleet = unique("ssrf")
        name = f"{fleet}-0"
        cluster.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"planguard.io/fleet": fleet},
                         "annotations": {"planguard.io/agent-url":
                                         f"http://127.0.0.1:{port}/latest/meta-data"}}}))
        key = key_file(tmp_path / "checkin.key")
        try:
            common = ("--selector", f"planguard.io/fleet={fleet}", "--checkin-key-file", key,
                      "--lease-duration", str(DURATION), "--renew-interval", str(RENEW))
            procs.start("leases-prod", "leases", "--id", "prod", "--lease-namespace", ns,
                        *common)
            eventually(lambda: cluster.kubectl(
                "get", "lease", "planguard-leases", "-n", ns, "-o",
                "jsonpath={.spec.holderIdentity}", check=False).stdout == "prod",
                timeout=20, what="the production-mode manager leads")
            deadline = time.monotonic() + DURATION * 2
            while time.monotonic() < deadline:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                conn.close()
                raise AssertionError("the lease manager followed a Node's annotation")
            procs.start("leases-sim", "leases", "--id", "sim", "--lease-namespace", ns2,
                        *common, "--loopback-agent-urls")
            listener.settimeout(30)
            conn, _ = listener.accept()
            with conn:
                request = conn.recv(4096).decode()
            assert request.startswith(f"GET /nodes/{name}/checkin?nonce="), request
        finally:
            cluster.kubectl("delete", "node", name, "--wait=false", check=False)
