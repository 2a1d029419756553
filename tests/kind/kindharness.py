"""Helpers for the kind suite: the users' path for real, on a kind cluster made by
hack/kind-up.sh (Docker engine, images built here, one control plane and three workers in
zones zone-a/b/c, BIND in the cluster, planguard installed by its chart)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from harness import Cluster

NAMESPACE = "planguard-system"
DNS_NODEPORT = 30053


@dataclass
class Kind:
    cluster: Cluster
    name: str
    dns_ip: str  # BIND answers here (the control plane's node), on DNS_NODEPORT

    def node_ip(self, node: str) -> str:
        out = self.cluster.kubectl("get", "node", node, "-o", "json").stdout
        addrs = json.loads(out)["status"]["addresses"]
        return next(a["address"] for a in addrs if a["type"] == "InternalIP")


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


class KindDns:
    """BIND in the cluster, asked from the host through its NodePort (TCP, no cache)."""

    def __init__(self, kind: Kind, zone: str = "example.test") -> None:
        self.ip, self.zone = kind.dns_ip, zone

    def _ask(self, name: str, rdtype: str) -> list[str]:
        import dns.message
        import dns.query
        import dns.rdatatype

        q = dns.message.make_query(name, rdtype)
        r = dns.query.tcp(q, self.ip, port=DNS_NODEPORT, timeout=2)
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
