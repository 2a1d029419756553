"""core/nodelease/breaker.py: breaker settings grow with the workers, never below the
defaults, and a failing dependency is probed at least once a renew interval; and
core/nodelease/nodes.py: what the lease manager reads of a Node."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from planguard.core.contract import TAINT_KEY, ZONE_LABEL
from planguard.core.nodelease import breaker
from planguard.core.nodelease.nodes import parse_node
from planguard.core.nodelease.scheduler import BreakerLimits


def test_few_workers_keep_the_defaults_many_widen_the_window() -> None:
    assert breaker.for_workers(1, 10.0) == BreakerLimits()
    assert breaker.for_workers(16, 10.0) == BreakerLimits(window=64, min_samples=16)
    assert breaker.for_workers(16, 2.0).probe_interval == 2.0


@given(st.integers(1, 10_000), st.floats(0.1, 600))
def test_never_below_the_defaults(workers: int, renew: float) -> None:
    b, d = breaker.for_workers(workers, renew), BreakerLimits()
    assert b.window >= max(d.window, 4 * workers) and b.min_samples >= workers
    assert b.min_samples <= b.window  # it can open at all
    assert b.probe_interval <= renew


def test_a_node_as_the_lease_manager_reads_it() -> None:
    obj = {"metadata": {"name": "n1", "resourceVersion": "7",
                        "labels": {ZONE_LABEL: "az1"}},
           "spec": {"taints": [{"key": "other"}, {"key": TAINT_KEY, "effect": "NoSchedule"}]},
           "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
    n = parse_node(obj, 10251, False)
    assert (n.name, n.zone, n.tainted, n.resource_version) == ("n1", "az1", True, "7")
    assert n.target is not None and (n.target.host, n.target.port) == ("10.0.0.5", 10251)
    bare = parse_node({"metadata": {"name": "n2", "resourceVersion": "1"}}, 10251, False)
    assert (bare.zone, bare.tainted, bare.target) == ("", False, None)
