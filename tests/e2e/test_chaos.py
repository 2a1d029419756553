"""Chaos on the real parts: enactors frozen, killed and slowed, BIND and kube-apiserver
restarted, while plans keep coming and a prober asks BIND every few milliseconds.

Seeded and repeatable: PLANGUARD_CHAOS_SEED=<n> replays a run (the seed is printed on
failure); PLANGUARD_CHAOS_SECONDS sets how long faults are injected (default 25).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

import pytest

from harness import HACK, Bind, Cluster, Processes, eventually, on_both_servers, plan_obj
from latency_proxy import LatencyProxy
from prober import Prober, asker

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("PLANGUARD_CHAOS_SEED", random.SystemRandom().randrange(1 << 30)))
SECONDS = float(os.environ.get("PLANGUARD_CHAOS_SECONDS", "25"))
ENDPOINTS = ("api", "ipv6", "fips")


def plan(zone: str, g: int, rng: random.Random) -> dict:
    # Every generation changes a random, non-empty set of endpoints' addresses.
    return plan_obj(zone, g, {ep: [f"10.{i}.{g % 250}.{rng.randrange(1, 250)}"]
                              for i, ep in enumerate(ENDPOINTS)})


@on_both_servers
def test_chaos(cluster: Cluster, server: Bind, ns: str, zone: str, dns_zone: str,
               procs: Processes) -> None:
    rng = random.Random(SEED)
    print(f"chaos seed {SEED}")
    proxy = LatencyProxy(("127.0.0.1", server.port), delay=0.05)
    keys = {"a": "enactor-a", "b": "enactor-b", "c": "enactor-c"}

    def start(e: str) -> None:
        procs.enactor(e, ns, server.key(keys[e]),
                      via=f"127.0.0.1:{proxy.port}" if e == "c" else None)

    for e in keys:
        start(e)
    procs.cleanup(ns, server.key("planguard-cleanup"))
    cluster.apply(ns, plan(zone, 1, rng))
    eventually(lambda: all(server.generation(dns_zone, ep) == 1 for ep in ENDPOINTS))
    prober = Prober(asker(server, dns_zone), ENDPOINTS)
    prober.start()

    newest = 1
    stop_producing = threading.Event()
    plan_rng = random.Random(SEED + 1)

    def produce() -> None:
        nonlocal newest
        while not stop_producing.is_set():
            body = plan(zone, newest + 1, plan_rng)
            if cluster.apply(ns, body, check=False).returncode == 0:
                newest += 1
            time.sleep(plan_rng.uniform(0.3, 0.8))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    faults: list[str] = []
    stopped: set[str] = set()
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        action = rng.choice(["stop", "stop", "kill", "dns", "apiserver", "cont"])
        e = rng.choice(sorted(keys))
        if action == "stop" and e not in stopped:
            procs.signal(f"enactor-{e}", signal.SIGSTOP)
            stopped.add(e)
        elif action == "cont" and stopped:
            e = rng.choice(sorted(stopped))
            procs.signal(f"enactor-{e}", signal.SIGCONT)
            stopped.discard(e)
        elif action == "kill":
            procs.signal(f"enactor-{e}", signal.SIGKILL)
            stopped.discard(e)
            time.sleep(0.3)
            start(e)
        elif action == "dns":
            server.restart(rng.uniform(0.3, 1.5))
        elif action == "apiserver":
            subprocess.run([str(HACK / "apiserver-restart.sh"), "0.5"], check=True,
                           capture_output=True)
        faults.append(f"{action}:{e}")
        time.sleep(rng.uniform(0.3, 1.5))
    stop_producing.set()
    producer.join()
    for e in stopped:
        procs.signal(f"enactor-{e}", signal.SIGCONT)
    t_quiet = time.monotonic()
    eventually(lambda: all(server.generation(dns_zone, ep) == newest for ep in ENDPOINTS),
               timeout=120, what=f"every endpoint at the newest plan {newest} (seed {SEED})")
    converge = time.monotonic() - t_quiet
    time.sleep(1)
    seen = prober.finish()
    proxy.close()
    summary = (f"seed {SEED}: {len(faults)} faults ({', '.join(faults)}); {newest} plans; "
               f"{seen} (unavailable: while BIND was down); converged "
               f"{converge:.1f} s after the faults stopped")
    print(summary)
    assert seen.queries > 500, summary
    assert (seen.empty, seen.regressions) == (0, 0), summary
