"""Helpers for the kind suite: the users' path for real, on a kind cluster made by
hack/kind-up.sh (Docker engine, images built here, one control plane and three workers in
zones zone-a/b/c, BIND in the cluster, planguard installed by its chart)."""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import prober
from harness import Cluster, eventually, run_script

NAMESPACE = "planguard-system"
DNS_NODEPORT = 30053
PROMETHEUS_NODEPORT = 30090
PROBES = ("probe-0", "probe-1", "probe-2")
BULK = 1500  # endpoints beside the probes: applying a plan takes the enactors seconds


@dataclass
class Kind:
    cluster: Cluster
    name: str
    dns_ip: str  # BIND answers here (the control plane's node), on DNS_NODEPORT

    def node_ip(self, node: str) -> str:
        out = self.cluster.kubectl("get", "node", node, "-o", "json").stdout
        addrs = json.loads(out)["status"]["addresses"]
        return next(a["address"] for a in addrs if a["type"] == "InternalIP")

    def helm(self, *args: str, timeout: float = 600) -> str:
        """helm (built into the cache by hack/build-helm.sh) against this cluster."""
        binary = run_script("build-helm.sh").strip().splitlines()[-1]
        env = {**os.environ, "KUBECONFIG": self.cluster.kubeconfig}
        r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                           env=env)
        assert r.returncode == 0, f"helm {' '.join(args)}: {r.stderr}"
        return r.stdout

    def prometheus(self, path: str, **params: str) -> Any:
        """Prometheus' HTTP API in the cluster (hack/kind/monitoring-up.sh), e.g.
        prometheus("query", query="up"): its `data`."""
        url = f"http://{self.dns_ip}:{PROMETHEUS_NODEPORT}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def pause_node(node: str, tries: int = 5) -> int:
    """`docker pause` of a node container; how many tries it took. runc's cgroup freeze
    sometimes gives up on a container this large ("unable to freeze", moby/moby#48205) and
    thaws it again, so a refused freeze is tried again; anything else fails the case."""
    err = ""
    for attempt in range(1, tries + 1):
        r = docker("pause", node)
        if r.returncode == 0:
            return attempt
        err = r.stderr.strip()
        if "unable to freeze" not in err:
            break
        time.sleep(0.5)
    raise AssertionError(f"docker pause {node} failed: {err}")


class KindDns:
    """BIND in the cluster, asked from the host through its NodePort (TCP, no cache)."""

    def __init__(self, kind: Kind, zone: str = "example.test") -> None:
        self.ip, self.zone = kind.dns_ip, zone

    def _ask(self, name: str, rdtype: str) -> list[str]:
        import dns.message
        import dns.query
        import dns.rdatatype

        q = dns.message.make_query(name, rdtype)
        with socket.create_connection((self.ip, DNS_NODEPORT), timeout=2) as sock:
            # Closed with a reset, not a FIN: the prober opens hundreds of connections a
            # second, and each one closed normally waits 60 s in TIME_WAIT on the host's
            # side; to one address (a node's, not loopback, so never reused early) that
            # runs the ephemeral ports out (EADDRNOTAVAIL, seen in CI at ~470/s).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.setblocking(False)  # what dnspython asks of a socket it is given
            r = dns.query.tcp(q, self.ip, port=DNS_NODEPORT, timeout=2, sock=sock)
        want = dns.rdatatype.from_text(rdtype)
        return sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset)

    def query(self, endpoint: str) -> list[str]:
        return self._ask(f"{endpoint}.{self.zone}.", "A")

    def generation(self, endpoint: str | None = None) -> int | None:
        """The generation of an endpoint's marker, or of the zone fence."""
        name = f"_planguard.{endpoint}.{self.zone}." if endpoint else f"_planguard.{self.zone}."
        txt = self._ask(name, "TXT")
        return int(txt[0].strip('"').split()[0].removeprefix("gen=")) if txt else None


def plans_in(kind: Kind, ns: str = "default") -> dict[int, str]:
    """generation -> name of the DNSPlans of zone `dynamo` not being deleted."""
    items = json.loads(kind.cluster.kubectl("get", "dnsplans", "-n", ns, "-o", "json").stdout)
    return {p["spec"]["generation"]: p["metadata"]["name"] for p in items["items"]
            if p["spec"]["zone"] == "dynamo" and not p["metadata"].get("deletionTimestamp")}


class Prober(prober.Prober):
    """The shared prober (tests/prober.py) on the cluster's BIND through its NodePort: one
    retry as a stub resolver makes; a name no plan has published yet is not an outage."""

    def __init__(self, dns: KindDns, endpoints: tuple[str, ...] = PROBES) -> None:
        super().__init__(lambda ep: (dns.query(ep), dns.generation(ep) or 0), endpoints,
                         retries=1, served_from_start=False)

    def assert_clean(self, min_queries: int = 500) -> None:
        super().assert_clean(min_queries)


def plan_body(g: int, rng: random.Random, bulk: int = BULK) -> dict[str, Any]:
    """Plan g of zone `dynamo`: the probes move every plan, `bulk` endpoints beside them
    (so that applying a plan takes the enactors seconds)."""
    eps = [{"name": ep, "ttl": 5, "targets": [
        {"address": f"10.{i}.{g % 250}.{rng.randrange(1, 250)}", "weight": 10}]}
        for i, ep in enumerate(PROBES)]
    eps += [{"name": f"bulk-{i}", "ttl": 60, "addresses": [
        f"10.{100 + i // 250}.{i % 250}.{g % 250 + 1}",
        f"10.{100 + i // 250}.{i % 250}.{(g + 1) % 250 + 1}"]}
        for i in range(bulk)]
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": f"dynamo-{g}"},
            "spec": {"zone": "dynamo", "generation": g, "endpoints": eps}}


def create(kind: Kind, body: dict[str, Any]) -> None:
    kind.cluster.kubectl("create", "-n", "default", "-f", "-", input=json.dumps(body),
                         timeout=120)


def chart_pods(kind: Kind, component: str | None = None) -> list[dict[str, Any]]:
    """The release's pods (of one component), those not being deleted."""
    sel = "app.kubernetes.io/instance=planguard"
    if component:
        sel += f",app.kubernetes.io/component={component}"
    out = json.loads(kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", sel,
                                          "-o", "json").stdout)
    return [p for p in out["items"] if not p["metadata"].get("deletionTimestamp")]


def pod_nodes(kind: Kind) -> dict[str, str]:
    """component (or enactor id) -> node of the running chart pods."""
    nodes = {}
    for p in chart_pods(kind):
        labels = p["metadata"]["labels"]
        name = labels.get("planguard.io/enactor") or labels["app.kubernetes.io/component"]
        nodes[name] = p["spec"].get("nodeName", "")
    return nodes


def zone_status(kind: Kind) -> dict[str, Any]:
    st: dict[str, Any] = kind.cluster.get("dnszones", "default", "dynamo").get("status") or {}
    return st


def converged_at(kind: Kind, dns: KindDns, g: int) -> bool:
    st = zone_status(kind)
    return (all(dns.generation(ep) == g for ep in PROBES) and st.get("activeGeneration") == g
            and any(c["type"] == "Converged" and c["status"] == "True"
                    for c in st.get("conditions") or []))


def wait_converged(kind: Kind, dns: KindDns, g: int, timeout: float, what: str) -> float:
    """Waits for the zone at plan g; returns how long that took."""
    t0 = time.monotonic()
    eventually(lambda: converged_at(kind, dns, g), timeout=timeout, interval=0.5,
               what=f"the zone at plan {g} ({what})")
    return time.monotonic() - t0


def next_generation(kind: Kind) -> int:
    return max(plans_in(kind), default=0) + 1


def signal_process(node: str, pattern: str, sig: str = "STOP") -> list[str]:
    """kill -SIG, from the node (as a wedged process looks to its kubelet), every process
    whose command line contains `pattern`; returns their pids. Write the pattern with a
    bracket (e.g. "[b]in/planguard agent") so it never matches this shell's own command."""
    r = docker("exec", node, "sh", "-c",
               "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | "
               f"grep -q '{pattern}' && kill -{sig} ${{p#/proc/}} && "
               "echo ${p#/proc/}; done; true")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def node_zones(kind: Kind) -> dict[str, str]:
    """node -> its topology.kubernetes.io/zone."""
    items = json.loads(kind.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n["metadata"]["labels"].get("topology.kubernetes.io/zone", "")
            for n in items}


def node_ready(kind: Kind, node: str) -> str:
    """The Ready condition's status: True, False or Unknown (the kubelet went silent)."""
    n = json.loads(kind.cluster.kubectl("get", "node", node, "-o", "json").stdout)
    return next((c["status"] for c in n["status"].get("conditions") or []
                 if c["type"] == "Ready"), "")


def taints(kind: Kind, node: str) -> set[str]:
    n = json.loads(kind.cluster.kubectl("get", "node", node, "-o", "json").stdout)
    return {t["key"] for t in (n.get("spec") or {}).get("taints") or []}
