"""First apply of a large zone: 25,000 endpoints x 4 targets (100,000 A records), as one
plan generation in parts of 1,000 endpoints (the API server takes at most ~3 MiB per
object), against the raw dnspython baseline pushing the same records in the same run.

  .venv/bin/python bench/enactor_scale.py [--endpoints 25000] [--part-size 1000]

Reports time from the first part's create to the last record served, the enactor's CPU
seconds and peak memory (from /proc), and the same records pushed raw (one UPDATE per
endpoint on one TCP connection, no reads, no checks).
"""

from __future__ import annotations

import argparse
import resource
import socket
import tempfile
import time
from pathlib import Path

import dns.query
import dns.update
import kubernetes

from common import (
    Processes,
    initial_endpoints,
    plan_body,
    real_parts,
    unique,
    wait_until,
    write_result,
    zone_obj,
)
from planguard.dns.tsig import load_key


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    tick = 100.0
    cpu = (int(fields[11]) + int(fields[12])) / tick
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def raw(bind, zone: str, eps: dict[str, list[str]]) -> float:  # type: ignore[no-untyped-def]
    key = load_key(bind.key("enactor-a"))
    sock = socket.create_connection(("127.0.0.1", bind.port))
    sock.setblocking(False)
    t0 = time.monotonic()
    for n, addrs in eps.items():
        u = dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.keyname)
        u.replace(n, 60, "A", *addrs)
        dns.query.tcp(u, "127.0.0.1", port=bind.port, sock=sock)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=25000)
    ap.add_argument("--part-size", type=int, default=1000)
    args = ap.parse_args()
    cluster, bind = real_parts()
    eps = initial_endpoints(args.endpoints, 4)
    names = list(eps)

    raw_zone = f"{unique('raw')}.test"
    bind.add_zone(raw_zone)
    raw_s = raw(bind, raw_zone, eps)

    ns, dz = unique("scale-"), f"{unique('s')}.test"
    cluster.kubectl("create", "namespace", ns)
    bind.add_zone(dz)
    cluster.apply(ns, zone_obj("s", dz, bind.port))
    procs = Processes(cluster, Path(tempfile.mkdtemp(prefix="pg-scale-")))
    procs.enactor("a", ns, bind.key("enactor-a"), drift=600)
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    time.sleep(3)
    pid = procs.procs["enactor-a"].pid
    cpu0, _ = proc_stats(pid)
    count = (len(names) + args.part_size - 1) // args.part_size
    t0 = time.monotonic()
    for i in range(count):
        chunk = {n: eps[n] for n in names[i * args.part_size:(i + 1) * args.part_size]}
        body = plan_body("s", 1, chunk)
        body["metadata"]["name"] = f"s-1-p{i}"
        body["spec"]["part"] = {"index": i, "count": count}
        api.create_namespaced_custom_object("planguard.io", "v1alpha1", ns, "dnsplans", body)
    created = time.monotonic() - t0
    last = names[-1]
    t1 = wait_until(lambda: bind.generation(dz, last) == 1
                    and bind.query(f"{last}.{dz}") == sorted(eps[last]),
                    timeout=1800, interval=0.05)
    cpu1, peak = proc_stats(pid)
    procs.stop_all()
    total = t1 - t0
    result = {"endpoints": args.endpoints, "records": args.endpoints * 4, "parts": count,
              "raw_s": raw_s, "planguard_s": total, "creates_s": created,
              "ratio": total / raw_s, "enactor_cpu_s": cpu1 - cpu0,
              "enactor_peak_rss_mib": peak / 2**20,
              "bench_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    path = write_result("enactor_scale", result)
    print(f"{args.endpoints} endpoints ({args.endpoints * 4} A records) in {count} parts")
    print(f"raw dnspython, 1 UPDATE per endpoint: {raw_s:.1f} s")
    print(f"planguard, 1 enactor: {total:.1f} s from first create to last answer "
          f"(creating the {count} parts took {created:.1f} s) = x{total / raw_s:.2f}; "
          f"enactor CPU {cpu1 - cpu0:.1f} s, peak RSS {peak / 2**20:.0f} MiB")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
