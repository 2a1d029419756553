"""SIGTERM to an enactor in the middle of a large apply (a rolling update): the UPDATEs
in flight are answered and the process exits cleanly; no endpoint is left half-written
or empty, and another enactor finishes the plan."""

from __future__ import annotations

import json
import signal
import time

import pytest

from harness import Bind, Cluster, Processes, eventually, plan_obj

pytestmark = pytest.mark.e2e
ENDPOINTS = 1500


def _plan(zone: str, g: int) -> dict:
    return plan_obj(zone, g, {f"ep{i}": [f"10.{g}.{i // 250}.{i % 250 + 1}"]
                              for i in range(ENDPOINTS)})


def test_sigterm_mid_apply_exits_cleanly_and_leaves_nothing_half_done(
        cluster: Cluster, bind: Bind, ns: str, zone: str, dns_zone: str,
        procs: Processes) -> None:
    procs.enactor("a", ns, bind.key("enactor-a"))
    cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(_plan(zone, 1)))
    # Terminate as soon as the first endpoints of the plan are served: mid-apply.
    eventually(lambda: bind.generation(dns_zone) == 1, timeout=60, interval=0.05,
               what="the apply under way")
    t0 = time.monotonic()
    procs.signal("enactor-a", signal.SIGTERM)
    rc = procs.procs["enactor-a"].wait(timeout=30)
    took = time.monotonic() - t0
    print(f"enactor exited {rc} {took:.1f} s after SIGTERM")
    assert rc == 0 and took < 20, (rc, took)
    assert "Traceback" not in procs.log("enactor-a")  # no crash for `kubectl logs` to show
    # Each endpoint is either untouched (no records yet) or exactly plan 1's: every UPDATE
    # was one compare-and-swap, answered or never sent.
    sample = [0, 1, ENDPOINTS // 2, ENDPOINTS - 1]
    for i in sample:
        got = bind.query(f"ep{i}.{dns_zone}")
        assert got in ([], [f"10.1.{i // 250}.{i % 250 + 1}"]), (i, got)
    procs.enactor("b", ns, bind.key("enactor-b"))
    eventually(lambda: all(bind.query(f"ep{i}.{dns_zone}") == [f"10.1.{i // 250}.{i % 250 + 1}"]
                           for i in sample), timeout=60, what="the other enactor finishes it")
