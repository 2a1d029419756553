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
    worker_ip: str  # BIND answers here, on DNS_NODEPORT

    def node_ip(self, node: str) -> str:
        out = self.cluster.kubectl("get", "node", node, "-o", "json").stdout
        addrs = json.loads(out)["status"]["addresses"]
        return next(a["address"] for a in addrs if a["type"] == "InternalIP")


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
