"""Shared bench plumbing: the real control plane and BIND through hack/, plan generators,
percentiles, arguments with `--quick`, results. Benchmarks run on demand and report ratios
against a baseline measured in the same run, because these machines are noisy; the test
suite runs each one with `--quick` only (bench/README.md)."""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import (
    REPO,
    Bind,
    Cluster,
    Processes,
    free_port,
    hack_env,
    metrics_text,
    plan_obj,
    run_script,
    unique,
    zone_obj,
)

__all__ = ["REPO", "Bind", "Cluster", "Processes", "free_port", "hack_env", "metrics_text",
           "run_script", "unique", "zone_obj"]


def real_parts() -> tuple[Cluster, Bind]:
    run_script("cluster-up.sh")
    run_script("bind-up.sh")
    state = hack_env("PLANGUARD_STATE")
    c = Cluster(f"{state}/cp/kubeconfig", f"{hack_env('CP_BIN_DIR')}/kubectl")
    c.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    c.kubectl("wait", "--for=condition=Established", "crd/dnsplans.planguard.io",
              "crd/dnszones.planguard.io")
    return c, Bind()


Endpoints = dict[str, list[str]]


def initial_endpoints(n: int, targets: int) -> Endpoints:
    return {f"e{i}": [f"10.{(i // 250) % 250}.{i % 250}.{t + 1}" for t in range(targets)]
            for i in range(n)}


def changed(
    eps: Endpoints, fraction: float, rng: random.Random, g: int
) -> tuple[Endpoints, list[str]]:
    """A copy with `fraction` of endpoints given one new target address."""
    names = sorted(eps, key=lambda n: int(n[1:]))
    pick = sorted(rng.sample(names, max(1, int(len(names) * fraction))), key=lambda n: int(n[1:]))
    out = dict(eps)
    for n in pick:
        addrs = list(out[n])
        addrs[0] = f"172.{16 + g % 16}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        out[n] = sorted(set(addrs))
    return out, pick


def plan_body(zone: str, g: int, eps: Endpoints, ttl: int = 60,
              bare: bool = True) -> dict[str, Any]:
    """A plan as a user writes one: bare `addresses` (no weights), or with `bare=False` the
    same addresses as `targets` objects."""
    return plan_obj(zone, g, eps, ttl=ttl, bare=bare)


def served(server: Bind, zone: str, name: str, addrs: list[str], generation: int | None = None,
           weighted: bool = False) -> bool:
    """Whether a client asking for `name.zone` gets `addrs` (one of them, picked by weight,
    when `weighted` on PowerDNS) and, when given, its marker says `generation`: the change
    is served. Every bench's "served yet" is this."""
    if generation is not None and server.generation(zone, name) != generation:
        return False
    got = server.query(f"{name}.{zone}")
    return len(got) == 1 and got[0] in addrs if weighted else got == sorted(addrs)


def all_served(server: Bind, zone: str, eps: Endpoints, names: list[str]) -> None:
    """Raises unless every one of `names` is served as `eps` says."""
    bad = [n for n in names if not served(server, zone, n, eps[n])]
    if bad:
        raise RuntimeError(f"{len(bad)} endpoints not served as planned in {zone}, e.g. {bad[:3]}")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "p50": pct(xs, 0.5), "p95": pct(xs, 0.95), "p99": pct(xs, 0.99),
            "mean": statistics.fmean(xs) if xs else float("nan")}


def wait_until(fn, timeout: float, interval: float = 0.002) -> float:  # type: ignore[no-untyped-def]
    """Polls fn until true; returns the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if fn():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark wait timed out")
        time.sleep(interval)


def arguments(ap: argparse.ArgumentParser, **quick: Any) -> argparse.Namespace:
    """The bench's arguments, with `--quick`: the same code path at the sizes in `quick`, in
    a few seconds (tests/integration/test_bench_quick.py runs each bench so, so none rots).
    Flags given explicitly still win over the quick sizes."""
    ap.add_argument("--quick", action="store_true",
                    help="the same code path at a tiny size: checks the bench runs, measures "
                         "nothing worth keeping")
    if ap.parse_args().quick:
        ap.set_defaults(**quick)
        # A quick result is no measurement: never over bench/results' real ones.
        os.environ.setdefault("PLANGUARD_BENCH_RESULTS", tempfile.mkdtemp(prefix="bench-quick-"))
    return ap.parse_args()


def control_plane_options(ap: argparse.ArgumentParser) -> dict[str, int]:
    """--api-port/--etcd-port for a bench that starts a kube-apiserver + etcd of its own;
    returns the quick run's: ports free right now."""
    ap.add_argument("--api-port", type=int, default=36443)
    ap.add_argument("--etcd-port", type=int, default=32379)
    return {"api_port": free_port(), "etcd_port": free_port()}


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def exit_unless_ports_free(args: argparse.Namespace) -> None:
    for p in (args.api_port, args.etcd_port, args.etcd_port + 1):
        if not port_free(p):
            sys.exit(f"port {p} is in use: pick others with --api-port/--etcd-port")


def write_result(name: str, result: dict[str, Any]) -> Path:
    """bench/results/<name>.json, or under $PLANGUARD_BENCH_RESULTS (the quick test's)."""
    out = Path(os.environ.get("PLANGUARD_BENCH_RESULTS", REPO / "bench" / "results"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / 100.0
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def start_fleet(procs: Processes, nodes: int, prefix: str, timeout: float) -> int:
    """Starts `planguard fleet` (N simulated node agents and their Node objects) and waits
    until its check-in server answers; returns that server's port."""
    port = free_port()
    # The check-in key the fleet's agents prove with; the lease managers this bench starts
    # later read it from the environment too.
    key = procs.logdir / f"{prefix}checkin.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o400)
    os.environ["PLANGUARD_CHECKIN_KEY_FILE"] = str(key)
    procs.start("fleet", "fleet", "--nodes", str(nodes), "--zones", "3", "--prefix", prefix,
                "--listen", f"127.0.0.1:{port}", metrics_port=None)

    def up() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nodes/x/checkin", timeout=1)
        except urllib.error.HTTPError:
            return True  # any HTTP answer: the server is up
        except OSError:
            return False
        return True
    wait_until(up, timeout=timeout, interval=0.5)
    return port
