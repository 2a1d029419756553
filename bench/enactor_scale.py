"""A zone at the post-mortem's scale: 25,000 endpoints x 4 targets (100,000 A records), as
plans in parts (the API server takes at most ~3 MiB per object).

  .venv/bin/python bench/enactor_scale.py [--endpoints 25000] [--part-size 5000]

Phases, each timed from the first part's create call to the last changed answer served:
first apply; a 1 % change (a new generation, all parts); a 10 % change; then a second zone
of the same size applied at the same time as a third one, by the same enactor process.
Also the enactor's CPU seconds and peak memory (from /proc).

Baselines, same run, same changes:
- DNS alone: the raw limit (bench/dns_raw_limit.py): pre-signed UPDATEs, one per changed
  endpoint, pipelined on one TCP connection, nothing read or checked;
- the API server alone: creating the same parts, until a bare watch client has seen each.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes.watch

from common import (
    Processes,
    all_served,
    arguments,
    changed,
    initial_endpoints,
    plan_body,
    proc_stats,
    real_parts,
    served,
    unique,
    wait_until,
    write_result,
    zone_obj,
)
from dns_raw_limit import raw_messages, raw_push
from planguard.dns.tsig import load_key

Endpoints = dict[str, list[str]]


def parts(zone: str, g: int, eps: Endpoints, size: int) -> list[dict[str, Any]]:
    names = list(eps)
    count = (len(names) + size - 1) // size
    out = []
    for i in range(count):
        body = plan_body(zone, g, {n: eps[n] for n in names[i * size:(i + 1) * size]})
        body["metadata"]["name"] = f"{zone}-{g}-p{i}"
        body["spec"]["part"] = {"index": i, "count": count}
        out.append(body)
    return out


def create_all(api: Any, ns: str, bodies: list[dict[str, Any]]) -> None:
    for b in bodies:
        api.create_namespaced_custom_object("planguard.io", "v1alpha1", ns, "dnsplans", b)


def timed_phase(api: Any, ns: str, bodies: list[dict[str, Any]], pid: int, bind: Any, dz: str,
                eps: Endpoints, names: list[str], g: int, timeout: float) -> dict[str, Any]:
    """Creates `bodies` and waits until DNS serves their change: its time from the first
    create, the creates' own time, the enactor's CPU and peak RSS; then every changed name
    is checked."""
    cpu0, _ = proc_stats(pid)
    t0 = time.monotonic()
    create_all(api, ns, bodies)
    created = time.monotonic() - t0
    t1 = wait_until(lambda: last_served(bind, dz, eps, names, g), timeout=timeout,
                    interval=0.02)
    cpu1, peak = proc_stats(pid)
    all_served(bind, dz, eps, names)
    return {"changed": len(names), "s": t1 - t0, "creates_s": created, "cpu_s": cpu1 - cpu0,
            "peak_rss_mib": peak / 2**20}


def last_served(bind: Any, dz: str, eps: Endpoints, names: list[str], g: int) -> bool:
    """The last changed name served at `g`: the enactor writes in order, so all are."""
    return served(bind, dz, names[-1], eps[names[-1]], g)


def api_floor(cluster: Any, gens: list[Endpoints], size: int) -> list[float]:
    ns = unique("floor-")
    cluster.kubectl("create", "namespace", ns)
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    seen: set[str] = set()

    def watch() -> None:
        for ev in kubernetes.watch.Watch().stream(
                api.list_namespaced_custom_object, "planguard.io", "v1alpha1", ns, "dnsplans",
                timeout_seconds=3600):
            seen.add(ev["object"]["metadata"]["name"])

    threading.Thread(target=watch, daemon=True).start()
    time.sleep(1)
    out = []
    for g, eps in enumerate(gens, start=1):
        bodies = parts("f", g, eps, size)
        t0 = time.monotonic()
        create_all(api, ns, bodies)
        wait_until(lambda bodies=bodies: all(b["metadata"]["name"] in seen for b in bodies),
                   timeout=600, interval=0.005)
        out.append(time.monotonic() - t0)
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=25000)
    ap.add_argument("--part-size", type=int, default=5000)
    ap.add_argument("--window", type=int, default=16)
    args = arguments(ap, endpoints=300, part_size=100)
    cluster, bind = real_parts()
    key = load_key(bind.key("enactor-a"))
    rng = random.Random(5)
    g1 = initial_endpoints(args.endpoints, 4)
    g2, ch2 = changed(g1, 0.01, rng, 2)
    g3, ch3 = changed(g2, 0.10, rng, 3)
    gens, changes = [g1, g2, g3], [list(g1), ch2, ch3]
    labels = ["first apply", "1 % change", "10 % change"]

    # Baseline 1: DNS alone, the raw limit, on its own zone.
    raw_zone = f"{unique('raw')}.test"
    bind.add_zone(raw_zone)
    raw_s = []
    for eps, names in zip(gens, changes, strict=True):
        dt, ok = raw_push(bind.port, raw_messages(raw_zone, key, {n: eps[n] for n in names}, 1),
                          args.window)
        if ok != len(names):
            raise RuntimeError("raw baseline: an UPDATE was refused")
        raw_s.append(dt)
    bind.del_zone(raw_zone)
    # Baseline 2: the API server alone.
    floor_s = api_floor(cluster, gens, args.part_size)

    ns = unique("scale-")
    cluster.kubectl("create", "namespace", ns)
    zones = {z: f"{unique(z)}.test" for z in ("s", "t", "u")}
    for z, dz in zones.items():
        bind.add_zone(dz)
        cluster.apply(ns, zone_obj(z, dz, bind.port))
    procs = Processes(cluster, Path(tempfile.mkdtemp(prefix="pg-scale-")))
    procs.enactor("a", ns, bind.key("enactor-a"), drift=600)
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    time.sleep(3)
    pid = procs.procs["enactor-a"].pid
    phases = []
    try:
        dz = zones["s"]
        for g, (eps, names, label) in enumerate(zip(gens, changes, labels, strict=True),
                                                 start=1):
            m = timed_phase(api, ns, parts("s", g, eps, args.part_size), pid, bind, dz, eps,
                            names, g, timeout=1800)
            phases.append({"phase": label, **m})
            print(f"{label}: {m['s']:.1f} s (creates {m['creates_s']:.1f} s), "
                  f"CPU {m['cpu_s']:.1f} s", flush=True)
        # Two more zones of the same size at once, same enactor process.
        both = parts("t", 1, g1, args.part_size), parts("u", 1, g1, args.part_size)
        cpu0, _ = proc_stats(pid)
        t0 = time.monotonic()
        for bt, bu in zip(*both, strict=True):
            create_all(api, ns, [bt, bu])
        created = time.monotonic() - t0
        names = list(g1)
        t1 = wait_until(lambda: last_served(bind, zones["t"], g1, names, 1)
                        and last_served(bind, zones["u"], g1, names, 1),
                        timeout=1800, interval=0.05)
        cpu1, peak = proc_stats(pid)
        for z in ("t", "u"):
            all_served(bind, zones[z], g1, names)
        phases.append({"phase": "two zones at once, first apply", "changed": 2 * len(names),
                       "s": t1 - t0, "creates_s": created, "cpu_s": cpu1 - cpu0,
                       "peak_rss_mib": peak / 2**20})
    finally:
        procs.stop_all()
    for i, p in enumerate(phases[:3]):
        p["raw_s"], p["api_s"] = raw_s[i], floor_s[i]
        p["ratio_raw"] = raw_s[i] / p["s"]
        p["ratio_floor"] = (raw_s[i] + floor_s[i]) / p["s"]
    two = phases[3]
    two["raw_s"], two["api_s"] = 2 * raw_s[0], 2 * floor_s[0]
    two["ratio_raw"] = two["raw_s"] / two["s"]
    two["ratio_floor"] = (two["raw_s"] + two["api_s"]) / two["s"]
    result = {"endpoints": args.endpoints, "records": args.endpoints * 4,
              "part_size": args.part_size, "phases": phases,
              "bench_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    path = write_result("enactor_scale", result)
    print(f"\n{args.endpoints} endpoints x 4 A records, parts of {args.part_size}; "
          "ratio = baseline time / planguard time (1.0: as fast as the baseline)")
    print(f"{'phase':34} {'planguard':>9} {'raw DNS':>8} {'x raw':>6} {'API only':>8} "
          f"{'x raw+API':>9} {'CPU s':>6} {'peak MiB':>8}")
    for p in phases:
        print(f"{p['phase']:34} {p['s']:9.1f} {p['raw_s']:8.1f} {p['ratio_raw']:6.2f} "
              f"{p['api_s']:8.1f} {p['ratio_floor']:9.2f} {p['cpu_s']:6.1f} "
              f"{p['peak_rss_mib']:8.0f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
