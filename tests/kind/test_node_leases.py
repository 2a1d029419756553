"""The lease manager on real nodes: the chart's agent DaemonSet answers check-ins on every
managed node, the lease manager keeps a Lease per node, a stopped agent gets its node
tainted, and a whole one-node zone going silent at once (its worker paused) is held as a
zone-wide loss, never tainted. Both clear when the node comes back.

kind-up makes zone-a two managed nodes (the control plane and a worker) and zones b and c
one each; the leases run on short clocks there (hack/kind/values-kind.yaml: 10 s lease,
3 s renewal)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from kindharness import (
    NAMESPACE,
    Kind,
    chart_pods,
    docker,
    node_zones,
    pause_node,
    signal_process,
    taints,
)

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(900)]
TAINT = "planguard.io/lease-lapsed"
AGENT = "[b]in/planguard agent"


def _renewed(kind: Kind) -> dict[str, float]:
    """node -> when its Lease (written by the lease manager) was last renewed."""
    items = json.loads(kind.cluster.kubectl("get", "leases", "-n", NAMESPACE, "-l",
                                            "planguard.io/node", "-o", "json").stdout)["items"]
    return {lease["metadata"]["labels"]["planguard.io/node"]:
            datetime.fromisoformat(lease["spec"]["renewTime"]).timestamp()
            for lease in items if (lease.get("spec") or {}).get("renewTime")}


def _all_live(kind: Kind, nodes: list[str], within: float = 10) -> bool:
    r = _renewed(kind)
    return all(time.time() - r.get(n, 0) < within for n in nodes)


def test_a_stopped_agent_taints_its_node_and_a_lost_zone_is_held(kind: Kind) -> None:
    zones = node_zones(kind)
    managed = sorted(zones)
    agents = {p["spec"]["nodeName"] for p in chart_pods(kind, "agent")}
    assert agents == set(managed), f"agents on {agents}, nodes {managed}"
    eventually(lambda: _all_live(kind, managed), timeout=90, interval=1,
               what="a live Lease for every managed node")
    worker_a = next(n for n in managed if zones[n] == "zone-a" and "control-plane" not in n)
    # The zone to lose whole: one not running both lease managers (one must stay to judge).
    managers = [p["spec"]["nodeName"] for p in chart_pods(kind, "leases")]
    lost = min((n for n in managed if zones[n] in ("zone-b", "zone-c")),
               key=lambda n: (managers.count(n), n))
    assert not {TAINT} & (taints(kind, worker_a) | taints(kind, lost))

    t0 = time.monotonic()
    assert signal_process(worker_a, AGENT, "STOP"), f"no agent process on {worker_a}"
    lost_tainted, paused = 0, False
    try:
        pause_tries, paused = pause_node(lost), True
        def node_tainted() -> bool:
            nonlocal lost_tainted
            lost_tainted += TAINT in taints(kind, lost)
            return TAINT in taints(kind, worker_a)
        eventually(node_tainted, timeout=120, interval=1,
                   what=f"{worker_a} (its agent stopped) tainted {TAINT}")
        t_taint = time.monotonic() - t0
        # The lost zone's lease lapsed long ago by now; watch it a while longer.
        hold_until = time.monotonic() + 20
        while time.monotonic() < hold_until:
            lost_tainted += TAINT in taints(kind, lost)
            time.sleep(1)
        lapsed = _renewed(kind)
        assert time.time() - lapsed[lost] > 20, "the paused zone's lease should have lapsed"
    finally:
        signal_process(worker_a, AGENT, "CONT")
        if paused:
            assert docker("unpause", lost).returncode == 0
    assert lost_tainted == 0, f"{lost} (a whole zone lost at once) was tainted"
    t1 = time.monotonic()
    eventually(lambda: TAINT not in taints(kind, worker_a) and _all_live(kind, managed),
               timeout=120, interval=1, what=f"{worker_a}'s taint lifted, every lease live")
    assert TAINT not in taints(kind, lost)
    print(f"agent stopped on {worker_a}: tainted after {t_taint:.1f} s; {lost} paused "
          f"(zone {zones[lost]}, {pause_tries} pause tries) never tainted; "
          f"recovered in {time.monotonic() - t1:.1f} s")
