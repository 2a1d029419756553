"""The peer: kubernetes-sigs/external-dns against planguard, same API server, same BIND, same run.

  .venv/bin/python bench/peer_external_dns.py                                # ~2.5 min
  .venv/bin/python bench/peer_external_dns.py --endpoints 25000 --changes 1 \
      --batch-sizes 50,200,400 --round-timeout 240                           # ~10 min

external-dns (built from source by bench/build-external-dns.sh, ~10 min the first time)
runs with source=crd (DNSEndpoint objects of <= --object-size endpoints), provider=rfc2136
against our BIND with the enactor-a TSIG key and AXFR, registry=txt, policy=sync, once per
rfc2136 batch size in --batch-sizes; planguard runs one enactor (DNSZone + DNSPlan, in
parts above --object-size). Each has its own namespace and zone; they take turns round by
round, the others frozen meanwhile (see Measure).

For each: a first publish of N endpoints x 4 A targets, then --changes rounds of a 10 %
change (the same changes for all), timed from the first create/patch call to the moment
every changed name answers its new addresses (queried over UDP from BIND); CPU seconds and
peak RSS of the process from /proc; idle CPU. Then "the source briefly reads as empty",
with a prober asking 5 names every 20 ms: external-dns sees its DNSEndpoint objects
deleted for --hold seconds and restored; planguard gets an empty plan (refused by the API
server), a plan listing one endpoint only, and every DNSPlan object deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import kubernetes
import urllib3
import yaml

from common import (
    REPO,
    Bind,
    Cluster,
    Endpoints,
    Processes,
    arguments,
    changed,
    free_port,
    hack_env,
    initial_endpoints,
    metrics_text,
    plan_body,
    proc_stats,
    real_parts,
    summary,
    unique,
    write_result,
    zone_obj,
)
from planguard.dns.tsig import load_key
from prober import Prober

EDNS_GROUP, EDNS_VERSION, EDNS_PLURAL = "externaldns.k8s.io", "v1alpha1", "dnsendpoints"
TTL = 60


# ---------------------------------------------------------------- DNS answers, as served


class Answers:
    """A records as BIND serves them right now, over UDP on one socket (fast enough to sweep
    25,000 names; a TCP connection per query would dominate what is measured)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = self._socket()

    @staticmethod
    def _socket() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)  # dnspython's timeout only works on a non-blocking socket
        return s

    def a(self, fqdn: str) -> list[str]:
        """Sorted addresses; [] for NXDOMAIN or no A records."""
        q = dns.message.make_query(fqdn, "A")
        for _ in range(30):  # BIND may be restarted under us by other tests; wait it out
            try:
                r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=1, sock=self.sock,
                                  ignore_unexpected=True)
                break
            except (dns.exception.Timeout, dns.query.BadResponse, OSError):
                self.sock.close()
                self.sock = self._socket()
        else:
            raise TimeoutError(f"BIND did not answer {fqdn}")
        if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise RuntimeError(f"{fqdn}: {dns.rcode.to_text(r.rcode())}")
        return addresses(r)

    def served(self, want: dict[str, list[str]], window: int = 256) -> dict[str, float]:
        """{fqdn: time its answer arrived} for the names answering exactly their wanted
        addresses. Queries are pipelined (up to `window` in flight on one socket): one at a
        time, a sweep of 25,000 names takes ~20 s here, which would swamp what is measured."""
        todo = list(want)
        inflight: dict[int, tuple[str, dns.message.Message]] = {}
        ok: dict[str, float] = {}
        qid = random.randrange(65536)
        sock = self._socket()
        sock.connect(("127.0.0.1", self.port))
        try:
            while todo or inflight:
                while todo and len(inflight) < window:
                    fqdn = todo.pop()
                    qid = (qid + 1) % 65536
                    query = dns.message.make_query(fqdn, "A", id=qid)
                    try:
                        sock.send(query.to_wire())
                    except BlockingIOError:
                        todo.append(fqdn)
                        break
                    except ConnectionRefusedError:  # BIND restarting: this pass ends here
                        time.sleep(0.2)
                        return ok
                    inflight[qid] = (fqdn, query)
                # No answer for 0.1 s: those queries are lost (BIND drops some while it
                # applies a burst of UPDATEs, or it restarted) and count as not served yet,
                # so the next pass asks again. A 1 s wait here made every first publish
                # look a whole second late whenever a pass met such a burst.
                if not select.select([sock], [], [], 0.1)[0]:
                    inflight.clear()
                    continue
                while True:
                    try:
                        wire = sock.recv(65535)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    t = time.monotonic()
                    try:
                        r = dns.message.from_wire(wire)
                    except dns.exception.DNSException:
                        continue
                    if r.id not in inflight or not inflight[r.id][1].is_response(r):
                        continue
                    fqdn = inflight.pop(r.id)[0]
                    if addresses(r) == sorted(want[fqdn]):
                        ok[fqdn] = t
        finally:
            sock.close()
        return ok

    def close(self) -> None:
        self.sock.close()


def addresses(r: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rr in r.answer if rr.rdtype == dns.rdatatype.A for rd in rr)


def wait_served(ans: Answers, zone: str, want: dict[str, list[str]], timeout: float) -> float:
    """Monotonic time at which every name in `want` answered its addresses.

    Neither tool writes in a known order, so every name is checked, in pipelined passes over
    the names not yet served; the answer that confirms the last one is when the whole change
    was served (late by at most one pass over what was still pending)."""
    pending = {f"{n}.{zone}": addrs for n, addrs in want.items()}
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while pending:
        t0 = time.monotonic()
        ok = ans.served(pending)
        for fqdn, t in ok.items():
            del pending[fqdn]
            last = max(last, t)
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(want)} names not served after "
                               f"{timeout:.0f} s, e.g. {next(iter(pending))}")
        time.sleep(max(0.0, 0.002 - (time.monotonic() - t0)))
    return last


def api_call(fn: Callable[..., Any], *args: Any) -> Any:
    """One API call, retried while kube-apiserver is away: other people's tests on this
    machine restart it (the round is then marked disturbed, see shared_parts)."""
    deadline, retried = time.monotonic() + 120, False
    while True:
        try:
            return fn(*args)
        except (urllib3.exceptions.HTTPError, kubernetes.client.ApiException) as e:
            status = getattr(e, "status", None)
            if status == 409 and retried:
                return None  # the first attempt was committed, its answer lost
            retried = True
            if (status is not None and status < 500 and status != 429) \
                    or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# ---------------------------------------------------------------- external-dns


def build_external_dns() -> tuple[Path, Path, str, float]:
    """(binary, DNSEndpoint CRD, version, seconds the build script took)."""
    t0 = time.monotonic()
    p = subprocess.run([str(REPO / "bench" / "build-external-dns.sh")], stdout=subprocess.PIPE,
                       text=True, check=True)  # progress goes to our stderr as it happens
    binary = Path(p.stdout.strip().splitlines()[-1])
    version = binary.parent.parent.name.removeprefix("external-dns-")
    return binary, binary.parent.parent / "dnsendpoints.externaldns.k8s.io.yaml", version, \
        time.monotonic() - t0


def edns_flags(ns: str, zone: str, port: int, key_path: str, owner: str, batch: int,
               kubeconfig: str) -> list[str]:
    key = load_key(key_path)
    return [
        "--source=crd", f"--crd-source-apiversion={EDNS_GROUP}/{EDNS_VERSION}",
        "--crd-source-kind=DNSEndpoint", f"--namespace={ns}",
        "--provider=rfc2136", "--rfc2136-host=127.0.0.1", f"--rfc2136-port={port}",
        f"--rfc2136-zone={zone}", f"--rfc2136-tsig-keyname={key.name}",
        f"--rfc2136-tsig-secret-alg={key.algorithm}",
        # Without AXFR external-dns cannot read the zone and acts as policy=create-only.
        "--rfc2136-axfr", f"--rfc2136-batch-change-size={batch}",
        "--registry=txt", f"--txt-owner-id={owner}", "--policy=sync",
        f"--domain-filter={zone}",
        # Its loop ticks every second; an event only schedules a run within 5 s, so the
        # prompt setting is a 1 s interval (a full AXFR + list each time), events as well.
        "--interval=1s", "--events", "--min-event-sync-interval=1s",
        f"--kubeconfig={kubeconfig}", f"--metrics-address=127.0.0.1:{free_port()}",
    ]


def dnsendpoints(zone: str, eps: Endpoints, size: int) -> list[dict[str, Any]]:
    names = list(eps)
    return [{"apiVersion": f"{EDNS_GROUP}/{EDNS_VERSION}", "kind": "DNSEndpoint",
             "metadata": {"name": f"eps-{i // size}"},
             "spec": {"endpoints": [{"dnsName": f"{n}.{zone}", "recordType": "A",
                                     "recordTTL": TTL, "targets": eps[n]}
                                    for n in names[i:i + size]]}}
            for i in range(0, len(names), size)]


class ExternalDNS:
    """One external-dns process on its own namespace and zone."""

    def __init__(self, binary: Path, cluster: Cluster, bind: Bind, batch: int, logdir: Path,
                 object_size: int) -> None:
        self.cluster, self.bind, self.batch, self.object_size = cluster, bind, batch, object_size
        self.ns, self.zone = unique("peer-edns-"), f"{unique('x')}.test"
        cluster.kubectl("create", "namespace", self.ns)
        bind.add_zone(self.zone)
        self.log = logdir / f"external-dns-b{batch}-{self.ns}.log"
        self.flags = edns_flags(self.ns, self.zone, bind.port, bind.key("enactor-a"),
                                unique("peer-"), batch, cluster.kubeconfig)
        secret = load_key(bind.key("enactor-a")).secret
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(binary), *self.flags], stdout=out, stderr=subprocess.STDOUT,
                # The secret goes through the environment (kingpin's EXTERNAL_DNS_<FLAG>), so
                # it never shows in `ps`.
                env={**os.environ, "EXTERNAL_DNS_RFC2136_TSIG_SECRET": secret})
        self.api = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(cluster.kubeconfig))
        self.objects: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while "All records are already up to date" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"external-dns did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def publish(self, eps: Endpoints) -> None:
        """Creates the objects, or patches those whose endpoints changed."""
        for body in dnsendpoints(self.zone, eps, self.object_size):
            name = body["metadata"]["name"]
            old = self.objects.get(name)
            if old is None:
                api_call(self.api.create_namespaced_custom_object, EDNS_GROUP, EDNS_VERSION,
                         self.ns, EDNS_PLURAL, body)
            elif old["spec"] != body["spec"]:
                # A merge patch replaces the whole list: what a GitOps apply would send.
                api_call(self.api.patch_namespaced_custom_object, EDNS_GROUP, EDNS_VERSION,
                         self.ns, EDNS_PLURAL, name, {"spec": body["spec"]})
            self.objects[name] = body

    def delete_all(self) -> None:
        for name in list(self.objects):
            api_call(self.api.delete_namespaced_custom_object, EDNS_GROUP, EDNS_VERSION,
                     self.ns, EDNS_PLURAL, name)
        self.objects.clear()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- planguard


def _scrape(port: int) -> str:
    try:
        return metrics_text(port)
    except OSError:
        return ""  # not listening yet


class Planguard:
    """One planguard enactor on its own namespace, DNSZone and zone."""

    def __init__(self, cluster: Cluster, bind: Bind, logdir: Path, object_size: int,
                 drift: float) -> None:
        self.cluster, self.bind, self.object_size = cluster, bind, object_size
        self.ns, self.zone = unique("peer-pg-"), f"{unique('p')}.test"
        cluster.kubectl("create", "namespace", self.ns)
        bind.add_zone(self.zone)
        cluster.apply(self.ns, zone_obj("p", self.zone, bind.port))
        self.procs = Processes(cluster, logdir / f"planguard-{self.ns}")
        metrics = free_port()
        self.procs.enactor("a", self.ns, bind.key("enactor-a"), drift=drift,
                           metrics_port=metrics)
        self.proc = self.procs.procs["enactor-a"]
        self.api = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(cluster.kubeconfig))
        self.generation = 0
        # Started once its zone worker has run (the zone's series in its metrics), as
        # external-dns is once its first sync is done: frozen (Measure) before then, the
        # first publish would also carry the rest of its start-up.
        deadline, series = time.monotonic() + 60, f'planguard_zone_paused{{zone="{self.ns}/p"}}'
        while series not in _scrape(metrics):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the enactor did not start:\n{self.procs.log('enactor-a')}")
            time.sleep(0.1)

    def publish(self, eps: Endpoints) -> None:
        """A new generation with every endpoint (a plan is the whole desired state)."""
        self.generation += 1
        g, names = self.generation, list(eps)
        count = (len(names) + self.object_size - 1) // self.object_size
        for i in range(count):
            body = plan_body("p", g, {n: eps[n] for n in
                                      names[i * self.object_size:(i + 1) * self.object_size]},
                             ttl=TTL)
            if count > 1:
                body["metadata"]["name"] = f"p-{g}-p{i}"
                body["spec"]["part"] = {"index": i, "count": count}
            api_call(self.api.create_namespaced_custom_object, "planguard.io", "v1alpha1",
                     self.ns, "dnsplans", body)

    def stop(self) -> None:
        self.procs.stop_all()


# ---------------------------------------------------------------- one tool, one size


def shared_parts() -> dict[str, Any]:
    """PIDs of BIND and kube-apiserver and the load: other people's tests share them (and
    restart them), so a run during which they changed is marked as disturbed."""
    state = Path(hack_env("PLANGUARD_STATE"))
    pids = {}
    for name, f in (("named", "bind/named.pid"), ("kube-apiserver", "cp/kube-apiserver.pid")):
        with contextlib.suppress(OSError):
            pids[name] = (state / f).read_text().strip()
    return {"pids": pids, "loadavg_1m": os.getloadavg()[0],
            "foreign_planguard_processes": _foreign_planguard()}


def _foreign_planguard() -> int:
    """planguard processes running that this bench did not start (someone else's tests)."""
    n = 0
    for d in Path("/proc").iterdir():
        try:
            if not d.name.isdigit() or b"planguard.cli" not in (d / "cmdline").read_bytes():
                continue
            ppid = int((d / "stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        n += ppid != os.getpid()
    return n


class Measure:
    """One tool's rounds. The tools take turns round by round, each frozen (SIGSTOP) while
    another is measured: the machine is shared with other people's tests and benches, and
    a load that changes over minutes would otherwise land on one tool only."""

    def __init__(self, name: str, tool: ExternalDNS | Planguard, timeout: float) -> None:
        self.name, self.tool, self.timeout = name, tool, timeout
        self.pid = tool.proc.pid
        self.lat: list[float | None] = []  # None: not served within the timeout
        self.failure: str | None = None
        self.disturbed: list[int] = []
        self.loads: list[float] = []
        self.cpu = 0.0  # CPU seconds while measured
        self.cpu_first = 0.0
        self.pause()

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def round(self, i: int, eps: Endpoints, names: list[str]) -> None:
        if self.failure:  # its DNS is not where the next round starts from
            self.lat.append(None)
            return
        self.resume()
        # external-dns runs on a 1 s tick that restarts on SIGCONT: settle, then publish at
        # a random phase of it, as in steady state (planguard waits the same, for symmetry).
        time.sleep(1.0 + random.random())
        ans = Answers(self.tool.bind.port)
        cpu0, _ = proc_stats(self.pid)
        pids, load = shared_parts()["pids"], os.getloadavg()[0]
        t0 = time.monotonic()
        self.tool.publish(eps)
        calls = time.monotonic() - t0
        try:
            t1: float | None = wait_served(ans, self.tool.zone, {n: eps[n] for n in names},
                                           timeout=max(3600, self.timeout) if i == 0
                                           else self.timeout)
        except TimeoutError as e:
            t1, self.failure = None, f"round {i}: {e}"
        ans.close()
        self.lat.append(None if t1 is None else t1 - t0)
        self.loads.append(load)
        if shared_parts()["pids"] != pids:
            self.disturbed.append(i)
        time.sleep(1.5)  # past external-dns's next tick: its follow-up run belongs here
        cpu = proc_stats(self.pid)[0] - cpu0
        self.cpu += cpu
        if i == 0:
            self.cpu_first = cpu
        label = "first publish" if i == 0 else f"change {i}"
        took = "NOT SERVED" if t1 is None else f"{t1 - t0:.2f} s"
        print(f"  {self.name:20} {label}: {took} (API calls {calls:.2f} s, load "
              f"{load:.1f})" + (" DISTURBED: BIND or kube-apiserver restarted meanwhile"
                                if i in self.disturbed else ""), flush=True)
        self.pause()

    def result(self, idle_s: float) -> dict[str, Any]:
        self.resume()
        cpu1, peak = proc_stats(self.pid)
        time.sleep(idle_s)
        cpu2, _ = proc_stats(self.pid)
        clean = [x for i, x in enumerate(self.lat)
                 if i and i not in self.disturbed and x is not None]
        return {"disturbed_rounds": self.disturbed,  # 0 = first publish; not in "change"
                "failure": self.failure,
                "loadavg_1m_at_rounds": self.loads,
                "first_s": self.lat[0], "change": summary(clean), "change_all_s": self.lat[1:],
                "cpu_first_s": self.cpu_first, "cpu_changes_s": self.cpu - self.cpu_first,
                "peak_rss_mib": peak / 2**20,
                "idle_cpu_per_min_s": (cpu2 - cpu1) * 60 / idle_s if idle_s else None}


def probe_names(zone: str, eps: Endpoints, k: int = 5) -> list[str]:
    names = list(eps)
    return [f"{names[i * (len(names) - 1) // (k - 1)]}.{zone}" for i in range(k)]


def served_once(port: int, zone: str, want: Endpoints, timeout: float) -> float:
    """wait_served on a socket of its own."""
    ans = Answers(port)
    try:
        return wait_served(ans, zone, want, timeout=timeout)
    finally:
        ans.close()


@contextlib.contextmanager
def probing(tool: ExternalDNS | Planguard, eps: Endpoints) -> Iterator[dict[str, Any]]:
    """A prober on a few of `eps` for the duration; yields the result dict, which gets the
    prober's report from the moment the body starts, and whether a shared part (BIND, the
    API server) was restarted meanwhile."""
    pids = shared_parts()["pids"]
    names = probe_names(tool.zone, eps)
    ans = Answers(tool.bind.port)
    prober = Prober(lambda fqdn: (ans.a(fqdn), 0), names, every=0.02)
    t0 = time.monotonic()
    prober.start()
    out: dict[str, Any] = {}
    try:
        yield out
    finally:
        seen = prober.finish()
        ans.close()
    out.update({"queries": seen.queries, "empty_answers": seen.empty, "names": len(names),
                "first_empty_after_s": None if seen.first_empty is None
                else seen.first_empty - t0, "longest_empty_s": seen.longest_empty},
               disturbed=shared_parts()["pids"] != pids)


def edns_empty_source(tool: ExternalDNS, eps: Endpoints, hold: float) -> dict[str, Any]:
    """Deletes every DNSEndpoint for `hold` seconds, restores them; what the prober saw."""
    with probing(tool, eps) as out:
        tool.delete_all()
        time.sleep(hold)
        t_restore = time.monotonic()
        tool.publish(eps)
        t_back = served_once(tool.bind.port, tool.zone, eps, timeout=3600)
        time.sleep(1)
    return {"action": f"deleted every DNSEndpoint for {hold:.0f} s, then recreated them",
            "hold_s": hold, **out, "all_served_again_after_restore_s": t_back - t_restore}


def kubectl_refusal(cluster: Cluster, ns: str, body: dict[str, Any]) -> str:
    p = cluster.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(body), check=False)
    if p.returncode == 0:
        return "ACCEPTED (unexpected)"
    return str(p.stderr).strip()


def planguard_empty_source(tool: Planguard, eps: Endpoints, hold: float) -> dict[str, Any]:
    """The equivalents for planguard; the prober must see no empty answer."""
    names = list(eps)
    keep = names[len(names) // 2 + 1]
    with probing(tool, eps) as out:
        g = tool.generation + 1
        empty_plan = plan_body("p", g, {}, ttl=TTL)
        no_targets = plan_body("p", g, {"e0": []}, ttl=TTL)
        refusals = {"plan with endpoints: []": kubectl_refusal(tool.cluster, tool.ns, empty_plan),
                    "plan with an endpoint with targets: []":
                        kubectl_refusal(tool.cluster, tool.ns, no_targets)}
        # A plan that lacks every endpoint but one: the others are left alone (orphaned).
        moved = {keep: sorted([*eps[keep][1:], "192.0.2.77"])}
        tool.publish(moved)
        served_once(tool.bind.port, tool.zone, moved, timeout=600)
        time.sleep(hold)
        # Every DNSPlan object deleted (the live ones wait on their finalizer): DNS unchanged.
        deleted = tool.cluster.kubectl("delete", "dnsplans", "--all", "-n", tool.ns,
                                       "--wait=false").stdout.count("deleted")
        time.sleep(hold)
    return {"refused": refusals,
            "action": f"a plan listing 1 of {len(names)} endpoints ({keep}), held {hold:.0f} s; "
                      f"then all {deleted} DNSPlan objects deleted, held {hold:.0f} s", **out}


# ---------------------------------------------------------------- main


def plan_rounds(n: int, changes: int, seed: int) -> list[tuple[Endpoints, list[str]]]:
    rng = random.Random(seed)
    eps = initial_endpoints(n, 4)
    rounds = [(eps, list(eps))]
    for g in range(2, changes + 2):
        eps, names = changed(eps, 0.10, rng, g)
        rounds.append((eps, names))
    return rounds


def fmt_s(x: float | None) -> str:
    return "not served" if x is None or x != x else f"{x:.2f} s"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a != a or b != b:  # not served / no clean round (NaN)
        return None
    return a / b


def fmt_x(x: float | None) -> str:
    return "-" if x is None else f"x{x:.2f}"


def print_table(res: dict[str, Any]) -> None:
    cols = [k for k in res["runs"] if k.startswith("external-dns")] + ["planguard"]
    runs = res["runs"]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
            ("first publish", lambda r: fmt_s(r["first_s"])),
            ("10 % change p50", lambda r: fmt_s(r["change"]["p50"])),
            ("10 % change p95", lambda r: fmt_s(r["change"]["p95"])),
            ("CPU, first publish", lambda r: f"{r['cpu_first_s']:.1f} s"),
            ("CPU, all changes", lambda r: f"{r['cpu_changes_s']:.1f} s"),
            ("CPU idle, per minute", lambda r: fmt_s(r["idle_cpu_per_min_s"])),
            ("peak RSS", lambda r: f"{r['peak_rss_mib']:.0f} MiB"),
            ("rounds disturbed", lambda r: ",".join(map(str, r["disturbed_rounds"])) or "none")]
    w = max(len(c) for c in cols) + 2
    print(f"\n{res['endpoints']:,} endpoints x 4 A targets, {res['changes']} rounds of 10 % "
          f"changes; external-dns {res.get('external_dns', {}).get('version', 'not run')}")
    print(f"{'':24}" + "".join(f"{c:>{w}}" for c in cols))
    for label, get in rows:
        print(f"{label:24}" + "".join(f"{get(runs[c]):>{w}}" for c in cols))
    print("\nratio planguard / external-dns (below 1: planguard faster)")
    for c in cols[:-1]:
        r = res["ratios"][c]
        print(f"  vs {c}: first publish {fmt_x(r['first'])}, change p50 "
              f"{fmt_x(r['change_p50'])}, p95 {fmt_x(r['change_p95'])}")
        if runs[c].get("failure"):
            print(f"    {c} failed: {runs[c]['failure']}")
    print("\nthe source briefly reads as empty (prober: 5 names every 20 ms)")
    for who, e in res["empty_source"].items():
        print(f"  {who}: {e['action']}"
              + (" (DISTURBED: BIND or kube-apiserver restarted)" if e["disturbed"] else ""))
        print(f"    {e['empty_answers']} of {e['queries']} answers empty (NXDOMAIN/no A); "
              f"longest a name stayed empty {e['longest_empty_s']:.2f} s"
              + (f"; first empty {e['first_empty_after_s']:.2f} s after the delete"
                 if e["first_empty_after_s"] is not None else "")
              + (f"; all served again {e['all_served_again_after_restore_s']:.2f} s "
                 "after the restore" if "all_served_again_after_restore_s" in e else ""))
        for what, msg in e.get("refused", {}).items():
            print(f"    {what}: {msg}")


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=5, help="rounds of 10 %% changes")
    ap.add_argument("--batch-sizes", default="50,400",
                    help="external-dns --rfc2136-batch-change-size values (50 is its default)")
    ap.add_argument("--object-size", type=int, default=1000,
                    help="endpoints per DNSEndpoint object and per DNSPlan part")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds the source reads empty")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    ap.add_argument("--round-timeout", type=float, default=300,
                    help="seconds a change may take before the tool is marked as failing")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-external-dns", action="store_true",
                    help="planguard's side only (no Go build, no external-dns run)")
    args = arguments(ap, endpoints=40, changes=1, object_size=20, hold=1, idle=1,
                     round_timeout=60, no_external_dns=True)
    peers = not args.no_external_dns

    # SIGTERM runs the finally blocks too: external-dns stopped, zones removed from BIND.
    signal.signal(signal.SIGTERM, _exit_on_term)
    started = time.monotonic()
    if peers:
        binary, crd, version, build_s = build_external_dns()
    cluster, bind = real_parts()
    if peers:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
        cluster.kubectl("wait", "--for=condition=Established",
                        f"crd/{EDNS_PLURAL}.{EDNS_GROUP}")
    logdir = Path(tempfile.mkdtemp(prefix="pg-peer-"))
    rounds = plan_rounds(args.endpoints, args.changes, args.seed)
    final = rounds[-1][0]
    batches = [int(b) for b in args.batch_sizes.split(",")] if peers else []
    res: dict[str, Any] = {"endpoints": args.endpoints, "targets": 4, "changes": args.changes,
                           "object_size": args.object_size, "runs": {}, "empty_source": {},
                           "logs": str(logdir)}
    tools: dict[str, ExternalDNS | Planguard] = {}
    try:
        for b in batches:
            tools[f"external-dns b={b}"] = ExternalDNS(binary, cluster, bind, b, logdir,
                                                       args.object_size)
        tools["planguard"] = Planguard(cluster, bind, logdir, args.object_size,
                                       drift=600 if args.endpoints > 5000 else 60)
        first = tools[f"external-dns b={batches[0]}"] if peers else None
        if isinstance(first, ExternalDNS):
            res["external_dns"] = {"version": version, "build_script_s": build_s,
                                   "flags": [f for f in first.flags
                                             if not f.startswith("--kubeconfig")]}
        res["shared_before"] = shared_parts()
        ms = [Measure(name, tool, args.round_timeout) for name, tool in tools.items()]
        for i, (eps, names) in enumerate(rounds):
            for m in ms:
                m.round(i, eps, names)
        for m in ms:
            res["runs"][m.name] = m.result(args.idle)
            if m.tool is first or m.tool is tools["planguard"]:
                print(f"  {m.name}: the source reads empty ...", flush=True)
                res["empty_source"][m.name.split(" ")[0]] = (
                    edns_empty_source(m.tool, final, args.hold)
                    if isinstance(m.tool, ExternalDNS)
                    else planguard_empty_source(m.tool, final, args.hold))
            if isinstance(m.tool, ExternalDNS):
                res["runs"][m.name]["log_lines"] = m.tool.log_text().count("\n")
                res["runs"][m.name]["log"] = str(m.tool.log)
            m.tool.stop()
        res["shared_after"] = shared_parts()
    finally:
        for tool in tools.values():
            with contextlib.suppress(Exception):
                os.kill(tool.proc.pid, signal.SIGCONT)
            tool.stop()
            with contextlib.suppress(Exception):
                bind.del_zone(tool.zone)
    p = res["runs"]["planguard"]
    res["ratios"] = {name: {"first": ratio(p["first_s"], r["first_s"]),
                            "change_p50": ratio(p["change"]["p50"], r["change"]["p50"]),
                            "change_p95": ratio(p["change"]["p95"], r["change"]["p95"])}
                     for name, r in res["runs"].items() if name != "planguard"}
    res["wall_s"] = time.monotonic() - started
    path = write_result("peer_external_dns" if args.endpoints == 1000
                        else f"peer_external_dns_{args.endpoints}", res)
    print_table(res)
    print(f"\nwhole run {res['wall_s']:.0f} s; logs in {logdir}; written to {path}")


if __name__ == "__main__":
    main()
