"""Clean-up under a sustained plan stream (issue 13): does the history stay bounded and the
zone status follow DNS while plans keep coming, and what does clean-up cost the API server
per plan? Measured for this tree's clean-up and, as the baseline in the same run, for the
clean-up of an earlier commit (--baseline-ref, checked out in a git worktree and run with
PYTHONPATH pointing at it). Everything else (enactors, BIND, the plans) is the same.

  .venv/bin/python bench/cleanup_stream.py [--minutes 10] [--interval 1] [--endpoints 2000]
      [--parts 1] [--keep 3] [--baseline-ref 167a1e3]
  e.g. the 25,000-endpoint case: --endpoints 25000 --parts 5 --interval 30

Each variant gets its own kube-apiserver + etcd with an audit log (bench/api_load.py's
ControlPlane, ports 36443/32379), three enactors and one clean-up (--cleanup-interval 1),
a zone with `keep` plans, and a stream of plans of N endpoints x 4 targets (--changed of
them changed per plan, all by default), one every --interval seconds for --minutes. With
partial changes, older generations stay live on the endpoints no later plan rewrote, and
clean-up keeps them (DNS still carries what they wrote): the history is then bounded by
keep plus those live generations, not by keep alone. A sampler (every 0.5 s) records the
number of plans (not being deleted), the fence in DNS and the zone's status.activeGeneration.
Reported: the plan count over time (max, last), the status lag behind DNS in seconds (per
generation: first seen in status minus first seen in DNS; p50/p99), and clean-up's requests
to the API server per plan (audit log, by verb and resource) with the bytes they moved
(each request on a plan object counted at that object's size).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from api_load import Audit, ControlPlane
from common import (
    REPO,
    Bind,
    Cluster,
    Processes,
    arguments,
    changed,
    control_plane_options,
    exit_unless_ports_free,
    initial_endpoints,
    pct,
    plan_body,
    unique,
    write_result,
    zone_obj,
)


def parts_of(body: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    if parts == 1:
        return [body]
    eps = body["spec"]["endpoints"]
    size = -(-len(eps) // parts)
    out = []
    for i in range(parts):
        part = json.loads(json.dumps(body))
        part["metadata"]["name"] = f"{body['metadata']['name']}-p{i}"
        part["spec"]["endpoints"] = eps[i * size:(i + 1) * size]
        part["spec"]["part"] = {"index": i, "count": parts}
        out.append(part)
    return out


class Sampler(threading.Thread):
    def __init__(self, cluster: Cluster, bind: Bind, ns: str, dns_zone: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.bind, self.ns, self.dns_zone = cluster, bind, ns, dns_zone
        self.samples: list[dict[str, Any]] = []
        self.first_dns: dict[int, float] = {}
        self.first_status: dict[int, float] = {}
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic() - self.t0
            try:
                fence = self.bind.generation(self.dns_zone) or 0
                out = self.cluster.kubectl(
                    "get", "dnsplans", "-n", self.ns, "-o",
                    "jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{end}").stdout
                count = sum(1 for d in out.split("|")[:-1] if not d)
                zone = json.loads(self.cluster.kubectl("get", "dnszones", "z", "-n", self.ns,
                                                       "-o", "json").stdout)
                active = int((zone.get("status") or {}).get("activeGeneration") or 0)
            except Exception as e:  # a sample lost is reported, never fatal
                print(f"sample failed: {e}")
                time.sleep(0.5)
                continue
            self.samples.append({"t": round(t, 1), "plans": count, "fence": fence,
                                 "status": active})
            for g in range(1, fence + 1):
                self.first_dns.setdefault(g, t)
            for g in range(1, active + 1):
                self.first_status.setdefault(g, t)
            time.sleep(0.5)

    def lags(self) -> list[float]:
        return [self.first_status[g] - self.first_dns[g]
                for g in self.first_dns if g in self.first_status]


def variant(name: str, args: argparse.Namespace, pythonpath: str | None, bind: Bind,
            tmp: Path) -> dict[str, Any]:
    cp = ControlPlane(tmp / name / "state", args.api_port, args.etcd_port)
    cluster = cp.up()
    audit = Audit(cp.audit)
    procs = Processes(cluster, tmp / name / "logs")
    ns = unique("stream-")
    cluster.kubectl("create", "namespace", ns)
    dns_zone = f"{unique('stream')}.test"
    bind.add_zone(dns_zone)
    try:
        cluster.apply(ns, zone_obj("z", dns_zone, bind.port, keep=args.keep))
        for e in "abc":
            procs.enactor(e, ns, bind.key(f"enactor-{e}"))
        env = {"PYTHONPATH": pythonpath} if pythonpath else None
        procs.start("cleanup", "cleanup", "-n", ns, "--tsig-key", bind.key("planguard-cleanup"),
                    "--interval", str(args.cleanup_interval), env=env)
        time.sleep(5)
        rng = random.Random(args.seed)
        eps = initial_endpoints(args.endpoints, 4)
        sampler = Sampler(cluster, bind, ns, dns_zone)
        mark, t_wall0 = audit.mark(), time.time()
        sampler.start()
        sizes: list[int] = []
        deadline = time.monotonic() + args.minutes * 60
        g = 0
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            g += 1
            if g > 1:
                eps = ({n: [f"172.{16 + g % 16}.{i % 256}.{(t + g) % 250 + 1}"
                            for t in range(4)] for i, n in enumerate(eps)}
                       if args.changed >= 1 else changed(eps, args.changed, rng, g)[0])
            for part in parts_of(plan_body("z", g, eps, ttl=5), args.parts):
                text = json.dumps(part)
                sizes.append(len(text))
                cluster.kubectl("create", "-n", ns, "-f", "-", input=text, timeout=120)
            next_at += args.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        stream_end = time.monotonic() - sampler.t0
        t_settle = time.monotonic()
        while time.monotonic() - t_settle < args.settle:
            last = sampler.samples[-1] if sampler.samples else {}
            if last.get("status") == g and last.get("plans") <= args.keep * args.parts:
                break
            time.sleep(1)
        settle_s = time.monotonic() - t_settle
        sampler.stop.set()
        sampler.join()
        window = audit.window("stream", mark, t_wall0, time.time())
        reqs: Counter[str] = window.by_process.get("planguard-cleanup", Counter())
        plan_size = sum(sizes) / len(sizes)
        per_plan_obj = sum(n for k, n in reqs.items() if " dnsplans" in k)
        lags = sampler.lags()
        during = [s for s in sampler.samples if s["t"] <= stream_end]
        return {
            "plans_created": g, "objects_per_plan": args.parts,
            "plan_object_bytes": round(plan_size),
            "plan_count": {"max_during_stream": max(s["plans"] for s in during),
                           "at_stream_end": during[-1]["plans"],
                           "after_settle": sampler.samples[-1]["plans"],
                           "series": [(s["t"], s["plans"]) for s in sampler.samples[::10]]},
            "status_lag_s": {"p50": pct(lags, 0.5), "p99": pct(lags, 0.99),
                             "max": max(lags) if lags else float("nan"),
                             "generations_never_seen_in_status": g - len(lags)},
            "settle_s": round(settle_s, 1),
            "cleanup_requests": dict(reqs.most_common()),
            "cleanup_requests_per_plan": round(sum(reqs.values()) / g, 2),
            "cleanup_plan_object_mb_per_plan": round(per_plan_obj * plan_size / g / 1e6, 2),
        }
    finally:
        procs.stop_all()
        cp.down()
        bind.del_zone(dns_zone)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between plans")
    ap.add_argument("--endpoints", type=int, default=2000)
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--changed", type=float, default=1.0,
                    help="fraction of endpoints each plan changes (1: every one)")
    ap.add_argument("--keep", type=int, default=3)
    ap.add_argument("--cleanup-interval", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=300, help="max seconds after the stream")
    ap.add_argument("--baseline-ref", default="167a1e3")
    ap.add_argument("--only", choices=["baseline", "planguard"])
    quick_ports = control_plane_options(ap)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--result-name", default="cleanup_stream")
    # --quick: this tree's clean-up only (the baseline is the same code path on an older tree)
    args = arguments(ap, minutes=0.1, interval=0.5, endpoints=50, settle=60, only="planguard",
                     **quick_ports)
    exit_unless_ports_free(args)
    subprocess.run([str(REPO / "hack" / "bind-up.sh")], check=True, capture_output=True)
    bind = Bind()
    tmp = Path(tempfile.mkdtemp(prefix="pg-stream-"))
    result: dict[str, Any] = {"args": vars(args)}
    if args.only != "planguard":
        tree = tmp / "baseline-tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree),
                        args.baseline_ref], check=True, capture_output=True)
        try:
            print(f"baseline: clean-up of {args.baseline_ref}")
            result["baseline"] = variant("baseline", args, str(tree / "operator"), bind, tmp)
            print(json.dumps(result["baseline"], indent=1)[:3000])
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
    if args.only != "baseline":
        print("planguard: this tree's clean-up")
        result["planguard"] = variant("planguard", args, None, bind, tmp)
        print(json.dumps(result["planguard"], indent=1)[:3000])
    path = write_result(args.result_name, result)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
