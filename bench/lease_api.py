"""How many node leases planguard keeps renewed on the real local API server at a 10 s
renew period without a single lapse, against a plain sequential client's write rate.

  .venv/bin/python bench/lease_api.py [--nodes 1000 2000] [--seconds 60]

For each N: a simulated fleet of N agents and N Node objects, `planguard leases` with a
40 s lease and a 10 s renew period; once every lease exists, lease ages are sampled for
`--seconds`: a lapse is any lease older than its duration. Baseline, same run: one client
patching the same Lease objects one after another as fast as it can (writes/s).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.config import new_client_from_config

from common import Processes, arguments, real_parts, start_fleet, unique, wait_until, write_result


def lease_ages(coord: k8s.CoordinationV1Api, ns: str) -> list[float]:
    now = time.time()
    return [now - i.spec.renew_time.timestamp() for i in
            coord.list_namespaced_lease(ns, label_selector="planguard.io/node").items
            if i.spec.renew_time]


def run(cluster, n: int, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    ns = unique("lbench-")
    cluster.kubectl("create", "namespace", ns)
    prefix = unique("lb") + "-"
    procs = Processes(cluster, Path(tempfile.mkdtemp(prefix="pg-lbench-")))
    start_fleet(procs, n, prefix, timeout=300)
    api = new_client_from_config(cluster.kubeconfig)
    coord = k8s.CoordinationV1Api(api)
    procs.start("leases", "leases", "--id", "bench", "--lease-namespace", ns, "--selector",
                f"planguard.io/fleet={prefix[:-1]}", "--lease-duration", "40",
                "--renew-interval", "10", "--workers", "32", "--rate", "2000",
                "--loopback-agent-urls")
    t0 = time.monotonic()
    wait_until(lambda: len(lease_ages(coord, ns)) == n, timeout=600, interval=1)
    established = time.monotonic() - t0
    worst, lapses, end = 0.0, 0, time.monotonic() + seconds
    while time.monotonic() < end:
        ages = lease_ages(coord, ns)
        worst = max(worst, max(ages))
        lapses += sum(1 for a in ages if a > 40)
        time.sleep(2)
    procs.stop_all()
    # Baseline: the same Lease writes from one plain client, one after another.
    names = [i.metadata.name for i in coord.list_namespaced_lease(
        ns, label_selector="planguard.io/node").items]
    t1 = time.monotonic()
    for name in names:
        coord.patch_namespaced_lease(name, ns, {"spec": {
            "renewTime": datetime.now(UTC).isoformat()}})
    plain = len(names) / (time.monotonic() - t1)
    cluster.kubectl("delete", "nodes", "-l", f"planguard.io/fleet={prefix[:-1]}",
                    "--wait=false", check=False)
    need = n / 10.0
    return {"nodes": n, "renewals_needed_per_s": need, "established_in_s": established,
            "worst_lease_age_s": worst, "lapses": lapses,
            "plain_sequential_writes_per_s": plain, "ratio_needed_to_plain": need / plain}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 2000])
    ap.add_argument("--seconds", type=float, default=60)
    args = arguments(ap, nodes=[30], seconds=3)
    cluster, _ = real_parts()
    rows = [run(cluster, n, args.seconds) for n in args.nodes]
    for r in rows:
        print(json.dumps(r))
    write_result("lease_api", {"rows": rows})


if __name__ == "__main__":
    main()
