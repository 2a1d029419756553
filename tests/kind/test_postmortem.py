"""The post-mortem on a real cluster: a whole availability zone freezes while its enactor
is in the middle of applying a plan (`docker pause` of that zone's worker: the enactor, its
kubelet and everything else stop at once, as a delayed zone would). Newer plans are applied
by the other zones' enactors and clean-up deletes old plans meanwhile; then the zone comes
back. A prober on the host asks BIND all along: no empty answer, no generation going back,
no live plan deleted, and the zone converges on the newest plan."""

from __future__ import annotations

import os
import random
import time

import pytest
from kindharness import (
    Kind,
    KindDns,
    Prober,
    create,
    docker,
    pause_node,
    plan_body,
    plans_in,
    pod_nodes,
    wait_converged,
)

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]
SEED = int(os.environ.get("PLANGUARD_KIND_SEED", random.SystemRandom().randrange(1 << 30)))
ROUNDS = 3
OTHERS = ("dynamodb", "dynamodb-fips", "ipv6.dynamodb", "kind-check", "web")


def test_a_zone_frozen_mid_apply_never_sets_dns_back(kind: Kind) -> None:
    rng = random.Random(SEED)
    print(f"seed {SEED} (PLANGUARD_KIND_SEED to repeat)")
    dns = KindDns(kind)
    g = max(plans_in(kind), default=0) + 1
    create(kind, plan_body(g, rng))
    wait_converged(kind, dns, g, 120, "before the rounds")
    prober = Prober(dns)
    prober.start()
    try:
        for r in range(ROUNDS):
            nodes = pod_nodes(kind)
            # A zone whose worker does not run clean-up: clean-up must go on deleting.
            zones = [e for e in ("az1", "az2", "az3") if nodes[e] != nodes.get("cleanup")]
            frozen_enactor = rng.choice(zones)
            node = nodes[frozen_enactor]
            delay = rng.uniform(0.1, 1.5)
            g += 1
            create(kind, plan_body(g, rng))
            time.sleep(delay)
            tries = pause_node(node)
            t_pause = time.monotonic()
            try:
                fenced_plan_missing = 0
                for _ in range(3):  # newer plans while the zone is frozen
                    g += 1
                    create(kind, plan_body(g, rng))
                    time.sleep(1)
                wait_converged(kind, dns, g, 120, "through the enactors left")

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
            create(kind, plan_body(g, rng))
            wait_converged(kind, dns, g, 180, f"after {node} came back")
            print(f"round {r}: paused {node} (enactor {frozen_enactor}, {tries} tries) "
                  f"{delay:.2f} s into a plan's apply for {frozen_for:.0f} s; converged on "
                  f"plan {g}")
    finally:
        print(prober.finish())
    prober.assert_clean()
