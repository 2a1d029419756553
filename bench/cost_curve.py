"""How cost grows with the size of a zone: first apply, a 1 % and a 10 % change (each as a
full plan and as a delta plan), enactor CPU and peak memory, at 10k, 100k, 250k and 500k
A records (4 per endpoint), each size in its own zone and its own enactor process.

  .venv/bin/python bench/cost_curve.py [--records 10000 100000 250000 500000] [--plot]

Each phase is timed from the first create call to the last changed answer served (new
address and marker), then every changed name is checked. Phases, in order, each against
what DNS serves at that moment:
  first apply    generation 1, full, in parts of 5,000 endpoints
  1 % full       generation 2, the whole zone again with 1 % of endpoints changed
  1 % delta      generation 3, `spec.base: 2`, listing only that 1 % (core/dnsplan/deltas.py)
  10 % full      generation 4, the whole zone again with 10 % changed
  10 % delta     generation 5, `spec.base: 4`, listing only that 10 %
Baseline in the same run: the raw limit of DNS for the same changes (bench/dns_raw_limit.py:
pre-signed UPDATEs, one per changed endpoint, pipelined, nothing read or checked) on a
zone of the same size. Ratio = raw / planguard (above 1: faster than raw DNS alone).
`--plot` writes docs/cost-curve.png (needs matplotlib: .venv/bin/pip install -e '.[bench]'),
`--plot-only` draws it again from the last run's bench/results/cost_curve.json.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import kubernetes

from common import (
    REPO,
    Processes,
    arguments,
    changed,
    initial_endpoints,
    plan_body,
    real_parts,
    unique,
    write_result,
    zone_obj,
)
from dns_raw_limit import raw_messages, raw_push
from enactor_scale import parts, timed_phase
from planguard.dns.tsig import load_key

Endpoints = dict[str, list[str]]
PART = 5000


def full_body(zone: str, g: int, eps: Endpoints) -> list[dict[str, Any]]:
    if len(eps) <= PART:
        return [plan_body(zone, g, eps)]
    return parts(zone, g, eps, PART)


def delta_body(zone: str, g: int, base: int, eps: Endpoints, names: list[str]
               ) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(names), PART):
        body = plan_body(zone, g, {n: eps[n] for n in names[i:i + PART]})
        body["spec"]["base"] = base
        if len(names) > PART:
            count = (len(names) + PART - 1) // PART
            body["metadata"]["name"] = f"{zone}-{g}-p{i // PART}"
            body["spec"]["part"] = {"index": i // PART, "count": count}
        out.append(body)
    return out


def one_size(cluster: Any, bind: Any, key: Any, records: int) -> dict[str, Any]:
    n = records // 4
    rng = random.Random(records)
    g1 = initial_endpoints(n, 4)
    g2, ch2 = changed(g1, 0.01, rng, 2)
    g3, ch3 = changed(g2, 0.01, rng, 3)
    g4, ch4 = changed(g3, 0.10, rng, 4)
    g5, ch5 = changed(g4, 0.10, rng, 5)
    ns = unique("curve-")
    cluster.kubectl("create", "namespace", ns)
    dz = f"{unique('c')}.test"
    bind.add_zone(dz)
    cluster.apply(ns, zone_obj("c", dz, bind.port))
    procs = Processes(cluster, Path(tempfile.mkdtemp(prefix="pg-curve-")))
    procs.enactor("a", ns, bind.key("enactor-a"), drift=600)
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    time.sleep(3)
    pid = procs.procs["enactor-a"].pid
    phases: list[dict[str, Any]] = []
    plan = [("first apply", 1, g1, list(g1), None), ("1 % full", 2, g2, ch2, None),
            ("1 % delta", 3, g3, ch3, 2), ("10 % full", 4, g4, ch4, None),
            ("10 % delta", 5, g5, ch5, 4)]
    try:
        for label, g, eps, names, base in plan:
            bodies = full_body("c", g, eps) if base is None else \
                delta_body("c", g, base, eps, names)
            size = sum(len(json.dumps(b)) for b in bodies)
            m = timed_phase(api, ns, bodies, pid, bind, dz, eps, names, g, timeout=3600)
            phases.append({"phase": label, **m, "objects": len(bodies),
                           "sent_mib": size / 2**20})
            print(f"  {records:>7} records, {label:12}: {m['s']:7.2f} s (creates "
                  f"{m['creates_s']:.2f} s, {len(bodies)} objects, {size / 2**20:.1f} MiB), "
                  f"CPU {m['cpu_s']:.1f} s, peak {m['peak_rss_mib']:.0f} MiB", flush=True)
    finally:
        procs.stop_all()
        cluster.kubectl("delete", "namespace", ns, "--wait=false")
        bind.del_zone(dz)
    # The raw limit for the same changes, on a zone of its own with the same content.
    raw_zone = f"{unique('raw')}.test"
    bind.add_zone(raw_zone)
    raw: dict[str, float] = {}
    try:
        for label, _g, eps, names, _base in plan:
            dt, ok = raw_push(bind.port, raw_messages(raw_zone, key,
                                                      {m: eps[m] for m in names}, 1), 16)
            if ok != len(names):
                raise RuntimeError("raw baseline: an UPDATE was refused")
            raw[label] = dt
    finally:
        bind.del_zone(raw_zone)
    for p in phases:
        p["raw_s"] = raw[p["phase"]]
        p["ratio_raw"] = p["raw_s"] / p["s"]
    return {"records": records, "endpoints": n, "phases": phases}


def _log_axes(ax: Any, title: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("A records in the zone")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["records"] for r in result["sizes"]]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, style in (("first apply", "o-"), ("1 % full", "s--"), ("1 % delta", "s-"),
                         ("10 % full", "^--"), ("10 % delta", "^-")):
        ys = [next(p["s"] for p in r["phases"] if p["phase"] == label) for r in result["sizes"]]
        ax.plot(sizes, ys, style, label=label)
    raw = [next(p["raw_s"] for p in r["phases"] if p["phase"] == "10 % full")
           for r in result["sizes"]]
    ax.plot(sizes, raw, ":", color="grey", label="raw DNS, 10 % (baseline)")
    _log_axes(ax, "time per change")
    ax.set_ylabel("create to last answer served (s)")
    peak = [max(p["peak_rss_mib"] for p in r["phases"]) for r in result["sizes"]]
    cpu = [sum(p["cpu_s"] for p in r["phases"]) for r in result["sizes"]]
    ax2.plot(sizes, peak, "o-", label="enactor peak RSS (MiB)")
    ax2.plot(sizes, cpu, "s-", label="enactor CPU, all five phases (s)")
    _log_axes(ax2, "enactor resources")
    fig.suptitle("planguard cost curve (bench/cost_curve.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, nargs="+", default=[10000, 100000, 250000, 500000])
    ap.add_argument("--plot", action="store_true")
    ap.add_argument("--plot-only", action="store_true",
                    help="only draw docs/cost-curve.png from bench/results/cost_curve.json")
    args = arguments(ap, records=[2000])
    if args.plot or args.plot_only:
        import matplotlib  # noqa: F401  (fail now, not after 18 minutes of measuring)
    if args.plot_only:
        plot(json.loads((REPO / "bench" / "results" / "cost_curve.json").read_text()),
             REPO / "docs" / "cost-curve.png")
        return
    cluster, bind = real_parts()
    key = load_key(bind.key("enactor-a"))
    sizes = []
    for r in args.records:
        print(f"{r} records ({r // 4} endpoints x 4):", flush=True)
        sizes.append(one_size(cluster, bind, key, r))
        write_result("cost_curve", {"sizes": sizes})
    result = {"sizes": sizes}
    path = write_result("cost_curve", result)
    print(f"\n{'records':>8} {'phase':12} {'planguard s':>11} {'raw DNS s':>9} {'x raw':>6} "
          f"{'sent MiB':>8} {'CPU s':>6} {'peak MiB':>8}")
    for r in sizes:
        for p in r["phases"]:
            print(f"{r['records']:>8} {p['phase']:12} {p['s']:11.2f} {p['raw_s']:9.2f} "
                  f"{p['ratio_raw']:6.2f} {p['sent_mib']:8.1f} {p['cpu_s']:6.1f} "
                  f"{p['peak_rss_mib']:8.0f}")
    print(f"raw JSON: {path}")
    if args.plot:
        png = REPO / "docs" / "cost-curve.png"
        plot(result, png)
        print(f"plot: {png}")


if __name__ == "__main__":
    main()
