"""The serving tier on loopback, configured exactly as charts/planguard-dns renders it: one
BIND primary and K secondaries following it by signed NOTIFY and IXFR, planguard's enactor
writing the primary through the API.

  .venv/bin/python bench/serving_tier.py [--endpoints 1000,25000] [--plans 20]
                                         [--secondaries 2] [--seconds 10] [--notify-delays 1,0]

Propagation: per size, a first plan and then `--plans` plans each changing 10 % of the
endpoints (in parts of 5,000 when larger), each created through the API; from the create
call to the last changed endpoint answered at the new generation, at the primary and at
each secondary; p50/p99; for each notify-delay given (the chart's 1 s, and 0). The baseline
in the same run is the primary itself: what the secondaries add is the lag behind it.

Capacity: dnsperf (Debian's) asking names of the zone for `--seconds`, against the primary
alone (the baseline), then against 1..K secondaries at once, one dnsperf each, each named
with one worker thread: answered queries/s, as a ratio to the primary alone. On one machine
every server and every load generator shares its cores, so the curve flattens at the core
count; secondaries on their own nodes (the chart's anti-affinity) each bring their own.
The client layer: CoreDNS (the binary hack/kind/build-node-image.sh builds for kind's node
image) on loopback with the stub zone kind-up gives the cluster (hack/kind/coredns-zone.conf:
cache 30 s, "no such name" 5 s, serve_stale), forwarding to the secondaries; plans use a
TTL of 5 s, so its lag is the secondaries' plus at most one TTL in its cache.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from common import (
    REPO,
    Bind,
    Processes,
    arguments,
    changed,
    free_port,
    hack_env,
    initial_endpoints,
    plan_body,
    real_parts,
    run_script,
    served,
    summary,
    unique,
    write_result,
    zone_obj,
)
from enactor_scale import parts

PART = 5000
TTL = 5  # what clients cache an answer for (planguard's probes use the same)


class Named:
    """One named on loopback, from a config the chart rendered."""

    def __init__(self, root: Path, name: str, conf: str, port: int) -> None:
        self.dir, self.port = root / name, port
        self.client = Bind(port, keys=root / "keys")  # what a client of this server sees
        self.dir.mkdir(parents=True)
        self.conf = self.dir / "named.conf"
        self.conf.write_text(conf.replace("listen-on { any; }",
                                          f"listen-on port {port} {{ 127.0.0.1; }}")
                             .replace("/var/cache/bind", str(self.dir)))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "named.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(["named", "-g", "-n", "1", "-c", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


class CoreDns(Named):
    """CoreDNS on loopback with kind's stub zone, forwarding to the secondaries."""

    def __init__(self, root: Path, port: int, upstreams: list[int]) -> None:
        block = (REPO / "hack/kind/coredns-zone.conf").read_text()
        block = block.replace("ZONES", f"{ZONE}:{port}").replace(
            "UPSTREAMS", " ".join(f"127.0.0.1:{p}" for p in upstreams))
        lines = block.splitlines()
        self.dir, self.port, self.proc = root / "coredns", port, None
        self.client = Bind(port, keys=root / "keys")
        self.dir.mkdir(parents=True)
        self.conf = self.dir / "Corefile"
        self.conf.write_text("\n".join([lines[0], "    bind 127.0.0.1", *lines[1:]]) + "\n")

    def start(self) -> None:
        log = open(self.dir / "coredns.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([coredns_binary(), "-conf", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT)


def coredns_binary() -> str:
    found = sorted(Path(hack_env("PLANGUARD_CACHE")).glob("kind-node-*/bin/coredns"))
    if not found:
        raise SystemExit("no CoreDNS binary: hack/kind/build-node-image.sh builds it "
                         "(hack/setup.sh does, with the kind images)")
    return str(found[-1])


def render(zone: str, secondaries: int, notify_delay: int) -> tuple[dict[str, str], dict[str, str]]:
    """The chart's named configs and zone files (ConfigMap data) and its keys (name -> file)."""
    helm = run_script("build-helm.sh").strip().splitlines()[-1]
    out = subprocess.run([helm, "template", "dns", str(REPO / "charts/planguard-dns"),
                          "--kube-version", "1.34.0", "--set", f"zones={{{zone}}}",
                          "--set", f"secondaries.replicas={secondaries}",
                          "--set", f"primary.notifyDelay={notify_delay}"],
                         capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    cm = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    keys = {d["metadata"]["name"]: base64.b64decode(d["data"]["tsig.key"]).decode()
            for d in docs if d["kind"] == "Secret"}
    return cm, keys


def start_tier(root: Path, zone: str, k: int,
               notify_delay: int) -> tuple[Named, list[Named], Path]:
    cm, keys = render(zone, k, notify_delay)
    kdir = root / "keys"
    kdir.mkdir(parents=True)
    for name, text in keys.items():
        (kdir / f"{name}.key").write_text(text)
    ports = [free_port() for _ in range(k + 1)]
    (root / "notify.conf").write_text("primaries notify-targets { " + "".join(
        f"127.0.0.1 port {p} key dns-xfr; " for p in ports[1:]) + "};\n")
    common = {"/keys/": f"{kdir}/", "/run/named/": f"{root}/"}

    def conf(text: str) -> str:
        for a, b in common.items():
            text = text.replace(a, b)
        return text
    primary = Named(root, "primary", conf(cm["primary.conf"]), ports[0])
    (primary.dir / f"db.{zone}").write_text(cm[f"db.{zone}"])
    secs = [Named(root, f"secondary-{i}", conf(cm["secondary.conf"]).replace(
        "PRIMARY", f"127.0.0.1 port {ports[0]}"), p) for i, p in enumerate(ports[1:])]
    client = CoreDns(root, free_port(), [s.port for s in secs])
    for n in (primary, *secs, client):
        n.start()
    for n in (primary, *secs, client):
        _wait(lambda n=n: bool(_soa(n)), 30, f"{n.dir.name} on port {n.port}")
    return primary, [*secs, client], kdir / "planguard-enactor-az1.key"


def _soa(n: Named) -> list[str]:
    try:
        return n.client.query(ZONE, "SOA")
    except Exception:
        return []


def _wait(fn: Any, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not fn():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.002)
    return time.monotonic()


ZONE = "serving.test"


def propagation(cluster: Any, primary: Named, secs: list[Named], key: Path, n: int,
                plans: int, tmp: Path) -> dict[str, Any]:
    rng = random.Random(n)
    ns = unique("tier-")
    cluster.kubectl("create", "namespace", ns)
    cluster.apply(ns, zone_obj("t", ZONE, primary.port, changeGuard={"maxChangePercent": 100}))
    procs = Processes(cluster, tmp / f"logs-{n}")
    procs.enactor("a", ns, str(key), drift=60)
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    time.sleep(3)
    servers = {"primary": primary, **{f"secondary-{i}": s for i, s in enumerate(secs[:-1])},
               "cluster DNS": secs[-1]}
    eps = initial_endpoints(n, 2)
    runs: list[tuple[dict[str, list[str]], list[str]]] = [(eps, sorted(eps))]
    for g in range(2, plans + 2):
        eps, names = changed(eps, 0.10, rng, g)
        runs.append((eps, names))
    lat: dict[str, list[float]] = {s: [] for s in servers}
    first: dict[str, float] = {}
    try:
        for g, (eps, names) in enumerate(runs, start=1):
            last = max(names, key=lambda x: int(x[1:]))
            t0 = time.monotonic()
            bodies = parts("t", g, eps, PART) if len(eps) > PART else [plan_body("t", g, eps)]
            for body in bodies:
                for ep in body["spec"]["endpoints"]:
                    ep["ttl"] = TTL
                api.create_namespaced_custom_object("planguard.io", "v1alpha1", ns, "dnsplans",
                                                    body)
            pending = dict(servers)
            while pending:
                if time.monotonic() - t0 > 900:
                    raise TimeoutError(f"plan {g} not served at {sorted(pending)}")
                for s, srv in list(pending.items()):
                    if served(srv.client, ZONE, last, eps[last], g):
                        took = time.monotonic() - t0
                        if g == 1:
                            first[s] = took
                        else:
                            lat[s].append(took)
                        del pending[s]
                time.sleep(0.005)
    finally:
        procs.stop_all()
    out: dict[str, Any] = {"first_s": first, "change": {s: summary(v) for s, v in lat.items()}}
    p = out["change"]["primary"]
    out["lag_p50_s"] = {s: out["change"][s]["p50"] - p["p50"] for s in servers if s != "primary"}
    out["lag_p99_s"] = {s: out["change"][s]["p99"] - p["p99"] for s in servers if s != "primary"}
    return out


def dnsperf(port: int, data: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(data),
                             "-l", str(seconds), "-c", "8", "-T", "1", "-q", "64"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def qps(p: subprocess.Popen[str]) -> float:
    out, _ = p.communicate(timeout=600)
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"dnsperf said: {out[-500:]}")
    return float(m.group(1))


def capacity(primary: Named, secs: list[Named], names: list[str], seconds: float,
             tmp: Path) -> dict[str, Any]:
    data = tmp / "queries.txt"
    data.write_text("".join(f"{n}.{ZONE} A\n" for n in names))
    base = qps(dnsperf(primary.port, data, seconds))
    curve = []
    for k in range(1, len(secs) + 1):
        runs = [dnsperf(s.port, data, seconds) for s in secs[:k]]
        total = sum(qps(r) for r in runs)
        curve.append({"secondaries": k, "qps": total, "ratio": total / base})
    return {"primary_qps": base, "secondaries": curve}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", default="1000,25000",
                    help="comma-separated zone sizes (endpoints, two addresses each)")
    ap.add_argument("--plans", type=int, default=20)
    ap.add_argument("--secondaries", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--notify-delays", default="1,0",
                    help="the primary's notify-delay values to compare (the chart's first)")
    args = arguments(ap, endpoints="40", plans=2, secondaries=1, seconds=1, notify_delays="1")
    if not shutil.which("dnsperf"):
        raise SystemExit("dnsperf is missing: hack/install-bind.sh installs it (Debian's)")
    cluster, _ = real_parts()
    tmp = Path(tempfile.mkdtemp(prefix="pg-tier-"))
    result: dict[str, Any] = {"secondaries": args.secondaries, "plans": args.plans,
                              "sizes": {}}
    sizes = [int(x) for x in args.endpoints.split(",")]
    delays = [int(x) for x in args.notify_delays.split(",")]
    for d in delays:
        for n in sizes:
            root = tmp / f"tier-{n}-{d}"
            primary, secs, key = start_tier(root, ZONE, args.secondaries, d)
            try:
                r = propagation(cluster, primary, secs, key, n, args.plans, root)
                if n == max(sizes) and d == delays[0]:
                    result["capacity"] = capacity(primary, secs[:-1],
                                                  [f"e{i}" for i in range(n)], args.seconds,
                                                  root)
            finally:
                for s in (primary, *secs):
                    s.stop()
            result["sizes"][f"{n} endpoints, notify-delay {d}"] = r
            print(f"{n} endpoints, notify-delay {d}: first plan served at " + ", ".join(
                f"{s} {t:.2f} s" for s, t in r["first_s"].items()))
            for s, st in r["change"].items():
                print(f"  10 % changes, create -> last change answered at {s}: "
                      f"p50 {st['p50']:.3f} s p99 {st['p99']:.3f} s")
            print("  lag behind the primary: " + ", ".join(
                f"{s} p50 +{r['lag_p50_s'][s]:.3f} s p99 +{r['lag_p99_s'][s]:.3f} s"
                for s in r["lag_p50_s"]))
    c = result["capacity"]
    print(f"answering capacity (dnsperf, {args.seconds:g} s each): primary alone "
          f"{c['primary_qps']:.0f} q/s; " + "; ".join(
              f"{x['secondaries']} secondaries {x['qps']:.0f} q/s (x{x['ratio']:.2f})"
              for x in c["secondaries"]))
    print(f"written to {write_result('serving_tier', result)}")


if __name__ == "__main__":
    main()
