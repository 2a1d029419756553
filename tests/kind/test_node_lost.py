"""A node lost for good: `docker stop` of a worker (its enactor, its kubelet, everything on
it gone). The two enactors left keep DNS converging on new plans; the real node lifecycle
controller marks the node not ready and taints it unreachable. Last in the suite (see
conftest.py); the node is started again at the end so the cluster can be used again."""

from __future__ import annotations

import random
import time

import pytest
from kindharness import (
    Kind,
    KindDns,
    Prober,
    chart_pods,
    create,
    docker,
    next_generation,
    node_ready,
    plan_body,
    pod_nodes,
    taints,
    wait_converged,
)

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1200)]


def test_a_lost_node_leaves_dns_converging_through_the_other_zones(kind: Kind) -> None:
    dns = KindDns(kind)
    rng = random.Random(7)
    g = next_generation(kind)
    create(kind, plan_body(g, rng))
    wait_converged(kind, dns, g, 120, "before the node is lost")
    nodes = pod_nodes(kind)
    # A worker with an enactor but not clean-up (its zone status is what says Converged).
    enactor, node = next((e, nodes[e]) for e in ("az1", "az2", "az3")
                         if nodes[e] != nodes.get("cleanup"))
    prober = Prober(dns)
    prober.start()
    try:
        t0 = time.monotonic()
        assert docker("stop", "-t", "0", node).returncode == 0
        converge = []
        for _ in range(3):
            g += 1
            create(kind, plan_body(g, rng))
            converge.append(wait_converged(kind, dns, g, 180,
                                           f"with {node} (enactor {enactor}) gone"))
        eventually(lambda: node_ready(kind, node) == "Unknown", timeout=180, interval=2,
                   what=f"{node} NotReady (status Unknown) by the node lifecycle controller")
        t_notready = time.monotonic() - t0
        eventually(lambda: "node.kubernetes.io/unreachable" in taints(kind, node),
                   timeout=60, interval=2, what=f"{node} tainted unreachable")
        print(f"docker stop {node} (enactor {enactor}): plans converged in "
              f"{', '.join(f'{c:.1f}' for c in converge)} s through the other two; node "
              f"NotReady after {t_notready:.0f} s")
    finally:
        print(prober.finish())
        # Back for whatever runs next on this cluster (kind-up reuses it).
        docker("start", node)
    prober.assert_clean()
    eventually(lambda: node_ready(kind, node) == "True", timeout=300, interval=3,
               what=f"{node} Ready again after docker start")

    def enactor_back() -> bool:
        return any(p["metadata"]["labels"].get("planguard.io/enactor") == enactor and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions") or []) for p in chart_pods(kind, "enactor"))
    eventually(enactor_back, timeout=300, interval=3, what=f"enactor {enactor} Ready again")
    g += 1
    create(kind, plan_body(g, rng))
    wait_converged(kind, dns, g, 180, "with every zone back")
