"""The post-mortem on a real cluster: a whole availability zone freezes while its enactor
is in the middle of applying a plan (`docker pause` of that zone's worker: the enactor, its
kubelet and everything else stop at once, as a delayed zone would). Newer plans are applied
by the other zones' enactors and clean-up deletes old plans meanwhile; then the zone comes
back. A prober on the host asks BIND all along: no empty answer, no generation going back,
no live plan deleted, and the zone converges on the newest plan."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from typing import Any

import pytest
from kindharness import NAMESPACE, Kind, KindDns, docker, plans_in

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]
SEED = int(os.environ.get("PLANGUARD_KIND_SEED", random.SystemRandom().randrange(1 << 30)))
PROBES = ("probe-0", "probe-1", "probe-2")
BULK = 1500  # endpoints beside the probes: applying a plan takes the enactors seconds
ROUNDS = 2
OTHERS = ("dynamodb", "dynamodb-fips", "ipv6.dynamodb", "kind-check")


class Prober(threading.Thread):
    """What clients saw, every few milliseconds: answers, empties, regressions, and whether
    the plan of the zone's fenced generation ever went missing."""

    def __init__(self, dns: KindDns) -> None:
        super().__init__(daemon=True)
        self.dns = dns
        self.queries = self.empty = self.regressions = self.unavailable = 0
        self.highest = dict.fromkeys(PROBES, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for ep in PROBES:
                try:
                    answer = self.dns.query(ep)
                    gen = self.dns.generation(ep) or 0
                except Exception:
                    self.unavailable += 1
                    continue
                self.queries += 1
                self.empty += not answer
                self.regressions += gen < self.highest[ep]
                self.highest[ep] = max(self.highest[ep], gen)
            time.sleep(0.003)


def _plan(g: int, rng: random.Random) -> dict[str, Any]:
    eps = [{"name": ep, "ttl": 5, "targets": [
        {"address": f"10.{i}.{g % 250}.{rng.randrange(1, 250)}", "weight": 10}]}
        for i, ep in enumerate(PROBES)]
    eps += [{"name": f"bulk-{i}", "ttl": 60, "targets": [
        {"address": f"10.{100 + i // 250}.{i % 250}.{g % 250 + 1}"},
        {"address": f"10.{100 + i // 250}.{i % 250}.{(g + 1) % 250 + 1}"}]}
        for i in range(BULK)]
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": f"dynamo-{g}"},
            "spec": {"zone": "dynamo", "generation": g, "endpoints": eps}}


def _create(kind: Kind, body: dict[str, Any]) -> None:
    kind.cluster.kubectl("create", "-n", "default", "-f", "-", input=json.dumps(body),
                         timeout=120)


def _pod_nodes(kind: Kind) -> dict[str, str]:
    """component (or enactor id) -> node of the running chart pods."""
    out = json.loads(kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l",
                                          "app.kubernetes.io/instance=planguard",
                                          "-o", "json").stdout)
    nodes = {}
    for p in out["items"]:
        labels = p["metadata"]["labels"]
        name = labels.get("planguard.io/enactor") or labels["app.kubernetes.io/component"]
        nodes[name] = p["spec"].get("nodeName", "")
    return nodes


def _zone(kind: Kind) -> dict[str, Any]:
    st: dict[str, Any] = kind.cluster.get("dnszones", "default", "dynamo").get("status") or {}
    return st


def _converged_at(kind: Kind, dns: KindDns, g: int) -> bool:
    st = _zone(kind)
    return (all(dns.generation(ep) == g for ep in PROBES) and st.get("activeGeneration") == g
            and any(c["type"] == "Converged" and c["status"] == "True"
                    for c in st.get("conditions") or []))


def _wait_converged(kind: Kind, dns: KindDns, g: int, timeout: float, what: str) -> None:
    eventually(lambda: _converged_at(kind, dns, g), timeout=timeout, interval=1,
               what=f"the zone at plan {g} ({what})")


def test_a_zone_frozen_mid_apply_never_sets_dns_back(kind: Kind) -> None:
    rng = random.Random(SEED)
    print(f"seed {SEED} (PLANGUARD_KIND_SEED to repeat)")
    dns = KindDns(kind)
    g = max(plans_in(kind), default=0) + 1
    _create(kind, _plan(g, rng))
    _wait_converged(kind, dns, g, 120, "before the rounds")
    prober = Prober(dns)
    prober.start()
    try:
        for r in range(ROUNDS):
            nodes = _pod_nodes(kind)
            # A zone whose worker does not run clean-up: clean-up must go on deleting.
            zones = [e for e in ("az1", "az2", "az3") if nodes[e] != nodes.get("cleanup")]
            frozen_enactor = rng.choice(zones)
            node = nodes[frozen_enactor]
            delay = rng.uniform(0.1, 1.5)
            g += 1
            _create(kind, _plan(g, rng))
            time.sleep(delay)
            assert docker("pause", node).returncode == 0
            t_pause = time.monotonic()
            try:
                fenced_plan_missing = 0
                for _ in range(3):  # newer plans while the zone is frozen
                    g += 1
                    _create(kind, _plan(g, rng))
                    time.sleep(1)
                _wait_converged(kind, dns, g, 120, "through the enactors left")

                def history_cut(newest: int = g) -> bool:
                    nonlocal fenced_plan_missing
                    have = plans_in(kind)
                    fence = dns.generation()
                    fenced_plan_missing += fence not in have
                    # Plans still live on endpoints these plans never mention (the sample
                    # plan's, the other test's) stay; every other old plan must go.
                    others = {dns.generation(e) for e in OTHERS} - {None}
                    return set(have) - others == set(range(newest - 2, newest + 1))
                eventually(history_cut, timeout=90, interval=1,
                           what="clean-up to cut the history to keep=3 while the zone is frozen")
                assert fenced_plan_missing == 0
                frozen_for = time.monotonic() - t_pause
            finally:
                assert docker("unpause", node).returncode == 0
            # The frozen enactor wakes up mid-apply with a stale view: its writes are refused
            # by the compare-and-swap, and it catches up with the newest plan.
            g += 1
            _create(kind, _plan(g, rng))
            _wait_converged(kind, dns, g, 180, f"after {node} came back")
            print(f"round {r}: paused {node} (enactor {frozen_enactor}) {delay:.2f} s into "
                  f"a plan's apply for {frozen_for:.0f} s; converged on plan {g}")
    finally:
        prober.stop.set()
        prober.join()
        print(f"prober: {prober.queries} queries, {prober.empty} empty, "
              f"{prober.regressions} regressions, {prober.unavailable} unavailable")
    assert prober.queries > 500
    assert prober.empty == 0
    assert prober.regressions == 0
    assert prober.unavailable == 0
