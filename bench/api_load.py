"""API server load of planguard (issue 8): requests per second per process, counted by the
API server itself (its audit log), in steady state and during a burst of plans; peak memory
of an enactor with 1,000 plans and of the lease manager with 5,000 node leases.

  .venv/bin/python bench/api_load.py [--steady 120] [--burst 50] [--nodes 5000]

Starts its OWN kube-apiserver + etcd with an audit log (hack/cluster-up.sh with
PLANGUARD_STATE=<tmp>, ports 36443/32379 and PLANGUARD_AUDIT_LOG) and stops it at the end;
the shared BIND is only given zones of its own. Every planguard process names itself in its
User-Agent (planguard-<role>/<version>, plus kopf/<version> on kopf's own connection), so
each audit event is attributed to one process and to kopf or planguard's own client.
Beside the requests: CPU seconds of each process and of kube-apiserver/etcd per window,
connections urllib3 threw away (each a new TLS handshake the audit log cannot show), and
the bytes/s of every list (each list URI fetched once more by the bench, times its count).

Phases, each a window of the same audit log:
- DNS roles (1 enactor, then 3): enactors, clean-up and a planner (a DNSEndpointPool of three
  static targets, TCP-checked, on a zone of its own), all at their CLI defaults. `steady`:
  nothing changes for --steady s. `burst`: --burst plans of 1,000 endpoints x 4 targets,
  10 % changed each, created back to back, until DNS serves the last one, every enactor
  reported it and clean-up saw it, plus --tail s.
- Memory: an enactor with 1,000 plans of 10 endpoints (generations 1..1000) in its zone,
  alone and beside clean-up (zone keep: 1000, so all stay); peak RSS (VmHWM).
- Leases: `planguard fleet` with --nodes Nodes, `planguard leases` (--renew-interval,
  --lease-duration); `establish` until every lease exists (or --establish-timeout), then
  `steady` for whole renew periods.

Baselines, same run:
- burst: the bench's own creates (one request per plan, counted in the same audit log);
  what planguard adds is reported per plan created, and above its steady rate. Server side:
  kube-apiserver CPU in the burst against the same creates made first with no planguard
  process running.
- steady: a floor for the same work: each watched resource re-watched once per watch
  timeout (300 s, planguard's setting), client-go's leader election (a get and an update
  every 2 s), and for the lease manager one Lease update per renewal (N / renew interval).
- memory: an idle `python -c 'import kopf, kubernetes, dns'` process (and one that imports
  planguard's role modules), and the size of the objects as the API server serves them (JSON).

To compare two versions of planguard, run the bench with PYTHONPATH pointing at the other
tree's `operator/` (the role processes inherit it) and --result-name for a second file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client import ApiClient, CoordinationV1Api, CustomObjectsApi

from common import (
    REPO,
    Bind,
    Cluster,
    Endpoints,
    Processes,
    arguments,
    changed,
    control_plane_options,
    exit_unless_ports_free,
    hack_env,
    initial_endpoints,
    plan_body,
    served,
    start_fleet,
    unique,
    wait_until,
    write_result,
    zone_obj,
)

GROUP, VERSION = "planguard.io", "v1alpha1"
BENCH_AGENT = "api-load-bench"  # the bench's own client; never counted as planguard
WATCH_TIMEOUT = 300.0  # planguard's kopf watch timeout (roles/runtime.py settings)
LEADER_RPS = 1.0  # client-go leader election: a get and an update every 2 s retry period


# -- the control plane of this bench -----------------------------------------------------
class ControlPlane:
    """kube-apiserver + etcd with an audit log, in a state dir and on ports of its own, so
    the shared control plane (default state dir, 16443/12379) is never touched."""

    def __init__(self, state: Path, api_port: int, etcd_port: int) -> None:
        self.state = state
        self.pids = state / "cp"
        self.audit = state / "audit.log"
        self.env = {**os.environ, "PLANGUARD_STATE": str(state),
                    "PLANGUARD_APISERVER_PORT": str(api_port),
                    "PLANGUARD_ETCD_PORT": str(etcd_port),
                    "PLANGUARD_AUDIT_LOG": str(self.audit)}
        self.kubeconfig = str(state / "cp" / "kubeconfig")

    def _script(self, name: str) -> None:
        p = subprocess.run([str(REPO / "hack" / name)], env=self.env, capture_output=True,
                           text=True, timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"hack/{name} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")

    def up(self) -> Cluster:
        self._script("cluster-up.sh")
        c = Cluster(self.kubeconfig, f"{hack_env('CP_BIN_DIR')}/kubectl")
        c.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        c.kubectl("wait", "--for=condition=Established", "crd/dnsplans.planguard.io",
                  "crd/dnszones.planguard.io", "crd/dnsendpointpools.planguard.io")
        # Right after a CRD is established its storage may still answer 429 for a moment.
        wait_until(lambda: c.kubectl("get", "dnsplans", "-A", check=False).returncode == 0,
                   timeout=30, interval=0.5)
        return c

    def down(self) -> None:
        self._script("cluster-down.sh")

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of kube-apiserver and etcd (cluster-up.sh's pid files)."""
        return {p: cpu_seconds(int((self.pids / f"{p}.pid").read_text()))
                for p in ("kube-apiserver", "etcd")}


# -- the audit log ---------------------------------------------------------------------
@dataclass
class Window:
    """Requests the API server received in [t0, t1), by process (from the User-Agent)."""

    name: str
    t0: float
    t1: float
    by_process: dict[str, Counter[str]] = field(default_factory=dict)
    errors: dict[str, Counter[str]] = field(default_factory=dict)
    watches: dict[str, set[str]] = field(default_factory=dict)
    lists: dict[str, Counter[str]] = field(default_factory=dict)  # process -> URI -> count
    # urllib3 "Connection pool is full, discarding connection": each is a TLS connection
    # thrown away, so a later request pays a new handshake the audit log does not show.
    discarded: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds, incl. kube-apiserver

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    def total(self, proc: str) -> int:
        return sum(self.by_process.get(proc, Counter()).values())

    def rps(self, proc: str) -> float:
        return self.total(proc) / self.seconds

    def planguard(self) -> list[str]:
        return sorted(p for p in self.by_process if p.startswith("planguard-")
                      and p != "planguard-fleet")


def process_of(agent: str) -> str:
    """'planguard-enactor-a/0.1.0 kopf/1.45.2' -> 'planguard-enactor-a'."""
    name = agent.split("/", 1)[0]
    return name if name.startswith("planguard-") or name == BENCH_AGENT else f"other:{name}"


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


class Audit:
    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def window(self, name: str, offset: int, t0: float, t1: float) -> Window:
        """Each request once (by auditID; a watch logs ResponseStarted and later
        ResponseComplete), at the time it was received. Reads from `offset`, a mark taken
        before t0, so a watch opened in the window is found."""
        time.sleep(1.0)  # events are written when the response completes
        w = Window(name, t0, t1)
        seen: set[str] = set()
        with self.path.open("rb") as f:
            f.seek(offset)
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if ev["auditID"] in seen:
                    continue
                seen.add(ev["auditID"])
                t = _epoch(ev["requestReceivedTimestamp"])
                if not t0 <= t < t1:
                    continue
                agent = ev.get("userAgent", "")
                proc = process_of(agent)
                via = "kopf" if " kopf/" in agent else "client"
                ref = ev.get("objectRef") or {}
                res = ref.get("resource") or ev["requestURI"].split("?")[0]
                if ref.get("subresource"):
                    res += "/" + ref["subresource"]
                key = f"{ev['verb']} {res} ({via})"
                w.by_process.setdefault(proc, Counter())[key] += 1
                code = (ev.get("responseStatus") or {}).get("code", 0)
                if code >= 400:
                    w.errors.setdefault(proc, Counter())[f"{key} -> {code}"] += 1
                if ev["verb"] == "watch":
                    w.watches.setdefault(proc, set()).add(res)
                if ev["verb"] == "list":
                    w.lists.setdefault(proc, Counter())[ev["requestURI"]] += 1
        return w


def raw_get(api: ApiClient, uri: str, metadata_only: bool = False) -> bytes:
    """The body of GET `uri` (path and query) as the API server sends it."""
    headers = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
               } if metadata_only else {}
    method, url, hdrs, _, _ = api.param_serialize("GET", uri, header_params=headers,
                                                  auth_settings=["BearerToken"])
    resp = api.call_api(method, url, header_params=hdrs)
    if resp.status != 200:
        raise RuntimeError(f"GET {uri}: {resp.status}")
    return bytes(resp.read())


def list_bytes(api: ApiClient, w: Window) -> dict[str, float]:
    """Bytes/s each process lists: every list URI it used, fetched once by the bench
    (sizes now, not at the time: the same objects, so close enough), times its count."""
    out: dict[str, float] = {}
    for proc, uris in w.lists.items():
        if not proc.startswith("planguard-"):
            continue
        total = 0
        for uri, n in uris.items():
            total += len(raw_get(api, uri)) * n
        out[proc] = total / w.seconds
    return out


# -- planguard's processes ---------------------------------------------------------------
def vm(pid: int) -> dict[str, float]:
    """Peak and current resident set (MiB) of a process, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS"):
            out[k] = int(v.split()[0]) / 1024
    return out


def discarded(procs: Processes) -> dict[str, int]:
    """Per process, how many connections urllib3 has discarded so far (from its log)."""
    return {n: procs.log(n).count("Connection pool is full, discarding connection")
            for n in procs.procs}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_of(procs: Processes) -> dict[str, dict[str, float]]:
    return {n: vm(p.pid) for n, p in procs.procs.items() if p.poll() is None}


def idle_rss(imports: str) -> float:
    """VmHWM (MiB) of a Python process that only imports `imports`."""
    code = (f"import {imports}\n"
            "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO / "operator").stdout
    return int(out.split()[1]) / 1024


class TcpTargets:
    """Listeners on 127.0.0.51-53 that accept and close: the planner's healthy targets."""

    def __init__(self, n: int) -> None:
        self.socks = []
        for i in range(n):
            s = socket.socket()
            s.bind((f"127.0.0.{51 + i}", 0))
            s.listen(64)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    @staticmethod
    def _accept(s: socket.socket) -> None:
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.close()

    def targets(self) -> list[dict[str, Any]]:
        return [{"address": s.getsockname()[0], "capacity": 10, "checkPort": s.getsockname()[1],
                 "availabilityZone": f"az{i + 1}", "loadBalancer": f"lb-{i + 1}"}
                for i, s in enumerate(self.socks)]

    def close(self) -> None:
        for s in self.socks:
            s.close()


# -- the bench -------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, cp: ControlPlane, cluster: Cluster,
                 bind: Bind, tmp: Path) -> None:
        self.args, self.cp, self.cluster, self.bind, self.tmp = args, cp, cluster, bind, tmp
        self.audit = Audit(cp.audit)
        self.api = kubernetes.config.new_client_from_config(cluster.kubeconfig)
        self.api.user_agent = BENCH_AGENT
        self.custom = CustomObjectsApi(self.api)
        self.dns_zones: list[str] = []

    def zone(self, ns: str, name: str, **spec: Any) -> str:
        dns_zone = f"{unique('load')}.test"
        self.bind.add_zone(dns_zone)
        self.dns_zones.append(dns_zone)
        self.cluster.apply(ns, zone_obj(name, dns_zone, self.bind.port, **spec))
        return dns_zone

    def namespace(self, prefix: str) -> str:
        ns = unique(prefix)
        self.cluster.kubectl("create", "namespace", ns)
        return ns

    def snap(self, procs: Processes) -> tuple[int, float, dict[str, int], dict[str, float]]:
        """Where a window starts: audit log offset, time, per-process counters."""
        cpu = {n: cpu_seconds(p.pid) for n, p in procs.procs.items() if p.poll() is None}
        return self.audit.mark(), time.time(), discarded(procs), {**cpu, **self.cp.cpu()}

    def window(self, name: str, start: tuple[int, float, dict[str, int], dict[str, float]],
               procs: Processes) -> Window:
        mark, t0, d0, c0 = start
        _, _, d1, c1 = self.snap(procs)
        w = self.audit.window(name, mark, t0, time.time())
        w.discarded, w.cpu = _minus(d1, d0), _minus(c1, c0)
        return w

    def create_plan(self, ns: str, body: dict[str, Any]) -> None:
        resp = self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "dnsplans", body,
                                                           _preload_content=False)
        # Read to the end before the connection goes back to the pool: released unread,
        # urllib3 either drops it or, if the body is still arriving, reads it as the next
        # response (BadStatusLine).
        resp.drain_conn()
        resp.release_conn()

    def zone_status(self, ns: str, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "dnszones", name)
        return dict(obj.get("status") or {})

    # -- DNS roles ---------------------------------------------------------------------
    def burst_plans(self) -> list[tuple[int, dict[str, Any], Endpoints, list[str]]]:
        """Generations 2.. of the burst: (generation, body, endpoints, changed names)."""
        rng = random.Random(self.args.seed)
        eps, out = initial_endpoints(1000, 4), []
        for g in range(2, self.args.burst + 2):
            eps, names = changed(eps, 0.10, rng, g)
            out.append((g, plan_body("burst", g, eps), eps, names))
        return out

    def creates_alone(self) -> dict[str, float]:
        """Server-side baseline: the same plan 1 and burst, created the same way with no
        planguard process running; kube-apiserver and etcd CPU seconds and wall time."""
        ns = self.namespace("base-")
        self.create_plan(ns, plan_body("burst", 1, initial_endpoints(1000, 4)))
        plans = self.burst_plans()
        c0, t0 = self.cp.cpu(), time.monotonic()
        for _, body, _, _ in plans:
            self.create_plan(ns, body)
        out = {"wall_s": time.monotonic() - t0, "plans": len(plans),
               **{f"{k}_cpu_s": v for k, v in _minus(self.cp.cpu(), c0).items()}}
        self.cluster.kubectl("delete", "dnsplans", "--all", "-n", ns, "--wait=false",
                             timeout=300)
        return out

    def dns_run(self, n_enactors: int) -> dict[str, Any]:
        a = self.args
        ns = self.namespace(f"load{n_enactors}-")
        burst_zone = self.zone(ns, "burst")
        pool_zone = self.zone(ns, "pool")
        targets = TcpTargets(3)
        self.cluster.apply(ns, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "DNSEndpointPool",
            "metadata": {"name": "regional"},
            "spec": {"zone": "pool", "endpoints": [{"name": "api", "ttl": 5},
                                                   {"name": "fips", "ttl": 5}],
                     "targets": targets.targets(), "healthCheck": {"type": "TCP"}}})
        procs = Processes(self.cluster, self.tmp / f"logs-dns-{n_enactors}")
        ids = "abc"[:n_enactors]
        run_mark, run_t0 = self.audit.mark(), time.time()
        try:
            # CLI defaults throughout (drift 10 s, clean-up every 5 s, keep 10).
            for eid in ids:
                procs.start(f"enactor-{eid}", "enactor", "--id", eid, "-n", ns,
                            "--tsig-key", self.bind.key(f"enactor-{eid}"))
            procs.start("cleanup", "cleanup", "-n", ns,
                        "--tsig-key", self.bind.key("planguard-cleanup"))
            procs.start("planner-p1", "planner", "--id", "p1", "-n", ns, "--lease-namespace", ns,
                        "--health-check-allowed-cidrs", "127.0.0.0/8")
            eps = initial_endpoints(1000, 4)
            self.create_plan(ns, plan_body("burst", 1, eps))
            wait_until(lambda: served(self.bind, burst_zone, "e999", eps["e999"], 1), 180, 0.2)
            wait_until(lambda: bool(self.bind.query(f"api.{pool_zone}")), 120, 0.5)
            time.sleep(a.settle)
            start = self.snap(procs)
            time.sleep(a.steady)
            steady = self.window("steady", start, procs)

            plans = self.burst_plans()
            start = self.snap(procs)
            t0 = start[1]
            for _, body, _, _ in plans:
                self.create_plan(ns, body)
            created = time.time()
            g, _, eps, names = plans[-1]

            def done() -> bool:
                if not served(self.bind, burst_zone, names[-1], eps[names[-1]], g):
                    return False
                st = self.zone_status(ns, "burst")
                return all((st.get("enactors") or {}).get(e, {}).get("generation") == g
                           for e in ids) and st.get("newestPlan") == g
            converged = wait_until(done, 600, 0.5)
            converged_wall = time.time() - (time.monotonic() - converged)
            time.sleep(a.tail)
            burst = self.window("burst", start, procs)
            mem = memory_of(procs)
        finally:
            procs.stop_all()
            targets.close()
        run = self.audit.window("run", run_mark, run_t0, time.time())
        return {"enactors": n_enactors, "steady": steady, "burst": burst, "run": run,
                "burst_create_s": created - t0, "burst_converged_s": converged_wall - t0,
                "memory": mem, "plans": a.burst}

    # -- leases ------------------------------------------------------------------------
    def lease_run(self) -> dict[str, Any]:
        a = self.args
        ns = self.namespace("leases-")
        prefix = unique("ld") + "-"
        procs = Processes(self.cluster, self.tmp / "logs-leases")
        coord = CoordinationV1Api(self.api)
        try:
            start_fleet(procs, a.nodes, prefix, timeout=900)

            def count() -> int:  # metadata only: the bench's own polling stays small
                return len(json.loads(self._raw(
                    f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
                    "?labelSelector=planguard.io/node", metadata_only=True))["items"] or [])
            start = self.snap(procs)
            procs.start("leases-bench", "leases", "--id", "bench", "--lease-namespace", ns,
                        "--selector", f"planguard.io/fleet={prefix[:-1]}",
                        "--lease-duration", str(a.lease_duration),
                        "--renew-interval", str(a.renew_interval),
                        "--workers", "32", "--rate", "2000", "--loopback-agent-urls")
            # Measured as it is after the timeout: how many got established is reported.
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: count() == a.nodes, timeout=a.establish_timeout, interval=5)
            established = count()
            establish = self.window("establish", start, procs)
            time.sleep(a.renew_interval)  # into the renewal rhythm
            start = self.snap(procs)
            # Whole renew periods: the renewals come in cohorts (all leases were new at once).
            time.sleep(a.renew_interval * max(1, round(a.steady / a.renew_interval)))
            steady = self.window("steady", start, procs)
            now = time.time()
            leases = coord.list_namespaced_lease(ns, label_selector="planguard.io/node").items
            ages = [now - i.spec.renew_time.timestamp() for i in leases]
            worst = max(ages)
            lapsed = sum(1 for x in ages if x > a.lease_duration)
            mem = memory_of(procs)["leases-bench"]
            json_bytes = {
                "nodes": len(self._raw(f"/api/v1/nodes?labelSelector=planguard.io/fleet%3D"
                                       f"{prefix[:-1]}")),
                "leases": len(self._raw(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
                                        "?labelSelector=planguard.io/node")),
            }
        finally:
            procs.stop_all()
            self.cluster.kubectl("delete", "nodes", "-l", f"planguard.io/fleet={prefix[:-1]}",
                                 "--wait=false", check=False, timeout=600)
        return {"nodes": a.nodes, "establish": establish, "steady": steady,
                "established": established, "lapsed_at_end": lapsed,
                "worst_lease_age_s": worst, "memory": mem, "json_bytes": json_bytes}

    def _raw(self, uri: str, metadata_only: bool = False) -> bytes:
        return raw_get(self.api, uri, metadata_only)

    # -- memory with 1,000 plans -------------------------------------------------------
    def plans_ns(self, n: int) -> tuple[str, str]:
        """A namespace whose zone holds n small plans (10 endpoints x 2 targets)."""
        ns = self.namespace("mem-")
        # Every plan rewrites every endpoint: the change guard (30 % by default) would hold
        # them all; memory, not the guard, is measured here.
        dns_zone = self.zone(ns, "mem", keep=1000, changeGuard={"maxChangePercent": 100})
        bodies = [plan_body("mem", g, {f"e{i}": [f"10.1.{g % 250}.{i + 1}", f"10.2.{i}.{g % 250}"]
                                       for i in range(10)}) for g in range(1, n + 1)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda b: self.create_plan(ns, b), bodies))
        return ns, dns_zone

    def memory_run(self) -> dict[str, Any]:
        out: dict[str, Any] = {"plans": self.args.mem_plans}
        out["alone"] = self._memory_case("alone", with_cleanup=False)
        out["with_cleanup"] = self._memory_case("with_cleanup", with_cleanup=True)
        return out

    def _memory_case(self, case: str, with_cleanup: bool) -> dict[str, Any]:
        a = self.args
        ns, dns_zone = self.plans_ns(a.mem_plans)
        procs = Processes(self.cluster, self.tmp / f"logs-mem-{case}")
        try:
            if with_cleanup:
                procs.start("cleanup", "cleanup", "-n", ns,
                            "--tsig-key", self.bind.key("planguard-cleanup"))
            procs.start("enactor-a", "enactor", "--id", "a", "-n", ns,
                        "--tsig-key", self.bind.key("enactor-a"))
            last = a.mem_plans
            wait_until(lambda: self.bind.generation(dns_zone) == last, 600, 0.5)
            wait_until(lambda: (self.zone_status(ns, "mem").get("enactors") or {}).get(
                "a", {}).get("generation") == last, 120, 0.5)
            if with_cleanup:
                # Clean-up has written every plan's status: each object grew.
                wait_until(lambda: self._all_have_status(ns), 600, 2)
            time.sleep(a.settle)
            return {"memory": memory_of(procs), "json_bytes": len(self._raw(
                f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/dnsplans"))}
        finally:
            procs.stop_all()

    def _all_have_status(self, ns: str) -> bool:
        items = json.loads(self._raw(f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/dnsplans"))
        return all((i.get("status") or {}).get("conditions") for i in items["items"])


def _minus(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: v - b.get(k, 0) for k, v in a.items()}


# -- report ----------------------------------------------------------------------------
def steady_floor(proc: str, run: Window, leases_per_s: float = 0.0) -> float:
    """Requests/s a minimal client needs for the same steady state (see the module doc):
    each resource the process watched during the run re-watched once per watch timeout,
    leader election at client-go's rate, and one Lease update per renewal. The lease
    manager lists instead of watching; its floor counts one watch, of Nodes."""
    floor = len(run.watches.get(proc, ())) / WATCH_TIMEOUT
    if proc.startswith(("planguard-planner", "planguard-leases")):
        floor += LEADER_RPS
    if proc.startswith("planguard-leases"):
        floor += leases_per_s + 1 / WATCH_TIMEOUT
    return floor


def window_json(w: Window, top: int = 12) -> dict[str, Any]:
    return {"seconds": w.seconds, "processes": {
        p: {"requests": w.total(p), "rps": w.rps(p),
            "by_verb_resource": dict(w.by_process[p].most_common(top)),
            "errors": dict(w.errors.get(p, Counter())),
            "watched": sorted(w.watches.get(p, ()))}
        for p in sorted(w.by_process)}, "connections_discarded": w.discarded,
        "cpu_seconds": w.cpu}


def print_window(title: str, w: Window, floors: dict[str, float] | None = None,
                 bytes_s: dict[str, float] | None = None, top: int = 6) -> None:
    server = ", ".join(f"{k} {w.cpu[k]:.1f}" for k in ("kube-apiserver", "etcd") if k in w.cpu)
    print(f"\n{title}: {w.seconds:.1f} s; CPU s: {server}")
    print(f"  {'process':<24} {'CPU s':>6} {'requests':>8} {'req/s':>7} {'floor/s':>7} "
          f"{'ratio':>6} {'list MB/s':>9}  top (verb resource (library) count)")
    for p in [*w.planguard(), BENCH_AGENT]:
        if p not in w.by_process:
            continue
        fl = (floors or {}).get(p)
        cpu = w.cpu.get(p.removeprefix("planguard-"))
        mb = (bytes_s or {}).get(p)
        print(f"  {p:<24} {(f'{cpu:6.1f}' if cpu is not None else ''):>6} {w.total(p):>8} "
              f"{w.rps(p):>7.2f} {(f'{fl:7.3f}' if fl else ''):>7} "
              f"{(f'{w.rps(p) / fl:6.1f}' if fl else ''):>6} "
              f"{(f'{mb / 1e6:9.2f}' if mb is not None else ''):>9}  "
              + ", ".join(f"{k} {n}" for k, n in w.by_process[p].most_common(top)))
        for k, n in w.errors.get(p, Counter()).most_common(3):
            print(f"  {'':<24} error: {k} x{n}")
    if any(w.discarded.values()):
        print("  connections discarded by urllib3 (a new TLS handshake each): "
              + ", ".join(f"{k} {n}" for k, n in w.discarded.items() if n))


def report_dns(bench: Bench, r: dict[str, Any], alone: dict[str, float]) -> dict[str, Any]:
    n, st, bu, run = r["enactors"], r["steady"], r["burst"], r["run"]
    floors = {p: steady_floor(p, run) for p in st.planguard()}
    lb = list_bytes(bench.api, st)
    print_window(f"== {n} enactor(s) + clean-up + planner, steady (nothing changes)",
                 st, floors, lb)
    creates = bu.by_process.get(BENCH_AGENT, Counter())
    n_creates = max(1, sum(v for k, v in creates.items() if k.startswith("create dnsplans")))
    print_window(f"== {n} enactor(s): burst of {r['plans']} plans x 1,000 endpoints (created "
                 f"in {r['burst_create_s']:.1f} s, converged at {r['burst_converged_s']:.1f} s)",
                 bu)
    pg = sum(bu.total(p) for p in bu.planguard())
    excess = {p: bu.total(p) - st.rps(p) * bu.seconds for p in bu.planguard()}
    print(f"  baseline: the bench's {n_creates} creates; planguard made {pg} requests = "
          f"{pg / n_creates:.2f} per create ({sum(excess.values()) / n_creates:.2f} above its "
          f"steady rate): " + ", ".join(f"{p.removeprefix('planguard-')} "
                                        f"{v / n_creates:.2f}" for p, v in excess.items()))
    server = bu.cpu.get("kube-apiserver", 0.0)
    print(f"  kube-apiserver CPU {server:.1f} s vs {alone['kube-apiserver_cpu_s']:.1f} s for the "
          f"same creates with no planguard running: x{server / alone['kube-apiserver_cpu_s']:.2f}")
    print("  peak RSS: " + ", ".join(f"{k} {v['VmHWM']:.0f} MiB" for k, v in r["memory"].items()))
    print("  watched (whole run): " + "; ".join(
        f"{p.removeprefix('planguard-')}: {', '.join(sorted(run.watches.get(p, ())))}"
        for p in run.planguard()))
    return {"enactors": n, "steady": window_json(st), "run": window_json(run),
            "steady_floor_rps": floors, "steady_list_bytes_per_s": lb,
            "steady_ratio": {p: st.rps(p) / f for p, f in floors.items() if f},
            "burst": window_json(bu), "burst_plans": r["plans"],
            "burst_bench_creates": n_creates, "burst_planguard_requests": pg,
            "burst_ratio_per_create": pg / n_creates,
            "burst_above_steady_per_create": {p: v / n_creates for p, v in excess.items()},
            "burst_create_s": r["burst_create_s"], "burst_converged_s": r["burst_converged_s"],
            "burst_apiserver_cpu_ratio_to_creates_alone":
                server / alone["kube-apiserver_cpu_s"],
            "memory": r["memory"]}


def report_leases(bench: Bench, r: dict[str, Any], baseline: dict[str, float]) -> dict[str, Any]:
    a = bench.args
    need = a.nodes / a.renew_interval
    st, es = r["steady"], r["establish"]
    floors = {p: steady_floor(p, es, need) for p in st.planguard()}
    print_window(f"== leases: {a.nodes} nodes, renew every {a.renew_interval:g} s (lease "
                 f"{a.lease_duration:g} s), establishing ({r['established']} established)", es)
    lb = list_bytes(bench.api, st)
    print_window("== leases: steady", st, floors, lb)
    print(f"  baseline: {need:.1f} lease updates/s needed (N / renew interval) + {LEADER_RPS:g}/s"
          f" leader election; at the end: worst lease age {r['worst_lease_age_s']:.1f} s, "
          f"{r['lapsed_at_end']} lapsed")
    mem, jb = r["memory"], r["json_bytes"]
    idle, idle_pg = (baseline["idle_import_kopf_kubernetes_dns_mib"],
                     baseline["idle_import_planguard_roles_mib"])
    above = (mem["VmHWM"] - idle_pg) * 2**20 / (jb["nodes"] + jb["leases"])
    print(f"  lease manager peak RSS {mem['VmHWM']:.0f} MiB (now {mem['VmRSS']:.0f}) = "
          f"{mem['VmHWM'] / idle:.2f} x idle import; {a.nodes} Nodes as JSON "
          f"{jb['nodes'] / 2**20:.1f} MiB + Leases {jb['leases'] / 2**20:.1f} MiB; "
          f"{above:.1f} bytes above idle per JSON byte")
    return {"nodes": a.nodes, "renew_interval": a.renew_interval,
            "lease_duration": a.lease_duration, "renewals_needed_per_s": need,
            "established": r["established"], "lapsed_at_end": r["lapsed_at_end"],
            "worst_lease_age_s": r["worst_lease_age_s"],
            "establish": window_json(es), "steady": window_json(st),
            "steady_floor_rps": floors,
            "steady_ratio": {p: st.rps(p) / f for p, f in floors.items() if f},
            "list_bytes_per_s": lb, "memory": mem, "json_bytes": jb,
            "rss_ratio_to_idle": mem["VmHWM"] / idle, "rss_above_idle_per_json_byte": above}


def report_memory(r: dict[str, Any], baseline: dict[str, float]) -> dict[str, Any]:
    idle, idle_pg = (baseline["idle_import_kopf_kubernetes_dns_mib"],
                     baseline["idle_import_planguard_roles_mib"])
    print(f"\n== memory: enactor with {r['plans']} plans of 10 endpoints in its zone")
    for case in ("alone", "with_cleanup"):
        c = r[case]
        for proc, m in c["memory"].items():
            m["ratio_to_idle"] = m["VmHWM"] / idle
            m["above_idle_per_json_byte"] = (m["VmHWM"] - idle_pg) * 2**20 / c["json_bytes"]
            print(f"  {case:<13} {proc:<10} peak RSS {m['VmHWM']:6.1f} MiB (now "
                  f"{m['VmRSS']:6.1f}) = {m['ratio_to_idle']:.2f} x idle import; plans as "
                  f"JSON {c['json_bytes'] / 2**20:.2f} MiB; "
                  f"{m['above_idle_per_json_byte']:.1f} bytes above idle per JSON byte")
    return r


def _sigterm(*_: Any) -> None:
    raise SystemExit("terminated")  # so the control plane is stopped on the way out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady", type=float, default=120, help="steady window, seconds")
    ap.add_argument("--settle", type=float, default=20, help="seconds after start-up first")
    ap.add_argument("--burst", type=int, default=50, help="plans in the burst")
    ap.add_argument("--tail", type=float, default=10, help="seconds after the burst converged")
    ap.add_argument("--enactors", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--renew-interval", type=float, default=30)
    ap.add_argument("--lease-duration", type=float, default=90)
    ap.add_argument("--establish-timeout", type=float, default=900,
                    help="go on measuring after this long even if not every lease exists")
    ap.add_argument("--mem-plans", type=int, default=1000)
    quick_ports = control_plane_options(ap)
    ap.add_argument("--skip", nargs="*", default=[], choices=["dns", "leases", "memory"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--result-name", default="api_load", help="bench/results/<name>.json")
    args = arguments(ap, steady=2, settle=1, burst=3, tail=1, enactors=[1], nodes=30,
                     renew_interval=2, lease_duration=10, establish_timeout=60, mem_plans=20,
                     **quick_ports)
    exit_unless_ports_free(args)
    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with `&`

    tmp = Path(tempfile.mkdtemp(prefix="pg-apiload-"))
    cp = ControlPlane(tmp / "state", args.api_port, args.etcd_port)
    subprocess.run([str(REPO / "hack" / "bind-up.sh")], check=True, capture_output=True)
    bind = Bind()
    t_start = time.monotonic()
    result: dict[str, Any] = {"args": vars(args), "state": str(tmp)}
    bench: Bench | None = None
    try:
        bench = Bench(args, cp, cp.up(), bind, tmp)
        baseline = {
            "idle_import_kopf_kubernetes_dns_mib": idle_rss("kopf, kubernetes, dns"),
            "idle_import_planguard_roles_mib": idle_rss(
                "planguard.cli, planguard.roles.runtime, planguard.roles.enactor, "
                "planguard.roles.cleanup, planguard.roles.leases, planguard.metrics")}
        result["memory_baseline"] = baseline
        print(f"audit log: {cp.audit}; process logs under {tmp}")
        print(f"idle python importing kopf, kubernetes, dns: VmHWM "
              f"{baseline['idle_import_kopf_kubernetes_dns_mib']:.1f} MiB; importing "
              f"planguard's role modules: {baseline['idle_import_planguard_roles_mib']:.1f} MiB")
        if "dns" not in args.skip:
            alone = result["creates_alone"] = bench.creates_alone()
            print(f"baseline: {alone['plans']} burst plans created with no planguard running: "
                  f"{alone['wall_s']:.1f} s, kube-apiserver CPU {alone['kube-apiserver_cpu_s']:.1f}"
                  f" s, etcd {alone['etcd_cpu_s']:.1f} s")
            result["dns"] = [report_dns(bench, bench.dns_run(n), alone) for n in args.enactors]
        if "memory" not in args.skip:
            result["memory"] = report_memory(bench.memory_run(), baseline)
        if "leases" not in args.skip:
            result["leases"] = report_leases(bench, bench.lease_run(), baseline)
    finally:
        cp.down()
        for z in bench.dns_zones if bench else []:
            with contextlib.suppress(RuntimeError):
                bind.del_zone(z)
    result["wall_s"] = time.monotonic() - t_start
    path = write_result(args.result_name, result)
    print(f"\nwritten to {path} ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
