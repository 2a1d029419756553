"""Plan-to-answer latency of planguard's enactors against a raw dnspython baseline.

  .venv/bin/python bench/enactor_latency.py [--endpoints 1000] [--targets 4] [--plans 100]

For 1 and 3 enactors: a first plan of N endpoints x T targets, then `--plans` successive
plans each changing 10 % of endpoints, each created through the API; the time from the
create call to the last changed answer served by BIND (its marker at the new generation
and its new addresses). Two baselines in the same run, on the same changes:
- DNS alone: the simplest raw dnspython loop on one TCP connection, one UPDATE per changed
  endpoint, no reads, no checks;
- the API server alone: from the create call to the ADDED event at a bare watch client.
Their sum is the floor for any controller that reads plans from the API and writes DNS.
"""

from __future__ import annotations

import argparse
import random
import socket
import threading
import time

import dns.query
import dns.update
import kubernetes
import kubernetes.watch

from common import (
    Processes,
    arguments,
    changed,
    initial_endpoints,
    plan_body,
    real_parts,
    served,
    summary,
    unique,
    wait_until,
    write_result,
    zone_obj,
)
from planguard.dns.tsig import load_key


def raw_baseline(bind, dns_zone: str, plans: list[tuple[dict, list[str]]]) -> list[float]:  # type: ignore[no-untyped-def]
    key = load_key(bind.key("enactor-a"))
    sock = socket.create_connection(("127.0.0.1", bind.port))
    sock.setblocking(False)
    times = []
    for eps, names in plans:
        t0 = time.monotonic()
        for n in names:
            u = dns.update.UpdateMessage(dns_zone, keyring=key.keyring(), keyname=key.keyname)
            u.replace(n, 60, "A", *eps[n])
            dns.query.tcp(u, "127.0.0.1", port=bind.port, sock=sock)
        times.append(time.monotonic() - t0)
    sock.close()
    return times


def api_floor(cluster, plans) -> list[float]:  # type: ignore[no-untyped-def]
    """Create -> ADDED event at a bare watch client, for the same plan bodies."""
    ns = unique("floor-")
    cluster.kubectl("create", "namespace", ns)
    client = kubernetes.config.new_client_from_config(cluster.kubeconfig)
    api = kubernetes.client.CustomObjectsApi(client)
    seen: dict[str, float] = {}
    ready = threading.Event()

    def watch() -> None:
        w = kubernetes.watch.Watch()
        ready.set()
        for ev in w.stream(api.list_namespaced_custom_object, "planguard.io", "v1alpha1", ns,
                           "dnsplans", timeout_seconds=3600):
            seen[ev["object"]["metadata"]["name"]] = time.monotonic()
            if len(seen) == len(plans):
                return

    threading.Thread(target=watch, daemon=True).start()
    ready.wait()
    time.sleep(1)
    out = []
    for g, (eps, _) in enumerate(plans, start=1):
        t0 = time.monotonic()
        api.create_namespaced_custom_object("planguard.io", "v1alpha1", ns, "dnsplans",
                                            plan_body("f", g, eps))
        wait_until(lambda g=g: f"f-{g}" in seen, timeout=60, interval=0.001)
        out.append(seen[f"f-{g}"] - t0)
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
    return out


def run_enactors(cluster, bind, n_enactors: int, plans, tmp) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    ns, dns_zone = unique("bench-"), f"{unique('b')}.test"
    cluster.kubectl("create", "namespace", ns)
    bind.add_zone(dns_zone)
    cluster.apply(ns, zone_obj("b", dns_zone, bind.port))
    procs = Processes(cluster, tmp / f"logs-{n_enactors}")
    for i in range(n_enactors):
        procs.enactor("abc"[i], ns, bind.key(f"enactor-{'abc'[i]}"), drift=60)
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    time.sleep(3)  # let the enactors list and start their zone workers
    lat = []
    try:
        for g, (eps, names) in enumerate(plans, start=1):
            last = names[-1]
            t0 = time.monotonic()
            api.create_namespaced_custom_object("planguard.io", "v1alpha1", ns, "dnsplans",
                                                plan_body("b", g, eps))
            t1 = wait_until(
                lambda last=last, addrs=eps[last], g=g: served(bind, dns_zone, last, addrs, g),
                timeout=300,
            )
            lat.append(t1 - t0)
    finally:
        procs.stop_all()
    return lat[0], lat[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--plans", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    args = arguments(ap, endpoints=40, plans=3)
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp(prefix="pg-bench-"))
    cluster, bind = real_parts()
    rng = random.Random(args.seed)
    eps = initial_endpoints(args.endpoints, args.targets)
    plans = [(eps, sorted(eps, key=lambda n: int(n[1:])))]
    for g in range(2, args.plans + 2):
        eps, names = changed(eps, 0.10, rng, g)
        plans.append((eps, names))

    base_zone = f"{unique('raw')}.test"
    bind.add_zone(base_zone)
    raw = raw_baseline(bind, base_zone, plans)
    floor = api_floor(cluster, plans)
    result = {"endpoints": args.endpoints, "targets": args.targets, "plans": args.plans,
              "raw_first_s": raw[0], "raw_change": summary(raw[1:]),
              "api_first_s": floor[0], "api_change": summary(floor[1:]),
              "floor_change": summary([a + b for a, b in zip(raw[1:], floor[1:], strict=True)])}
    for n in (1, 3):
        first, lat = run_enactors(cluster, bind, n, plans, tmp)
        result[f"enactors_{n}"] = {"first_s": first, "change": summary(lat),
                                   "first_ratio": first / raw[0],
                                   "p50_ratio": summary(lat)["p50"] / result["raw_change"]["p50"],
                                   "p95_ratio": summary(lat)["p95"] / result["raw_change"]["p95"],
                                   "p99_ratio": summary(lat)["p99"] / result["raw_change"]["p99"],
                                   "p50_floor_ratio":
                                       summary(lat)["p50"] / result["floor_change"]["p50"],
                                   "p99_floor_ratio":
                                       summary(lat)["p99"] / result["floor_change"]["p99"]}
    path = write_result("enactor_latency", result)
    print(f"{args.endpoints} endpoints x {args.targets} targets, "
          f"{args.plans} plans of 10 % changes")
    print(f"raw dnspython (1 UPDATE per endpoint, no checks): first {raw[0]:.3f} s, "
          f"change p50 {result['raw_change']['p50']:.3f} s p99 {result['raw_change']['p99']:.3f} s")
    print(f"API server alone (create -> watch event): first {floor[0]:.3f} s, change p50 "
          f"{result['api_change']['p50']:.3f} s p99 {result['api_change']['p99']:.3f} s")
    print(f"floor (DNS alone + API alone): change p50 {result['floor_change']['p50']:.3f} s "
          f"p99 {result['floor_change']['p99']:.3f} s")
    for n in (1, 3):
        r = result[f"enactors_{n}"]
        print(f"planguard, {n} enactor(s): first {r['first_s']:.3f} s (x{r['first_ratio']:.2f}), "
              f"change p50 {r['change']['p50']:.3f} s (x{r['p50_ratio']:.2f}) "
              f"p99 {r['change']['p99']:.3f} s (x{r['p99_ratio']:.2f}); against the floor: "
              f"p50 x{r['p50_floor_ratio']:.2f} p99 x{r['p99_floor_ratio']:.2f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
