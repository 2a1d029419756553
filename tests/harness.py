"""Test access to the real parts: the local kube-apiserver + etcd, BIND, PowerDNS, planguard
processes.

Everything here starts or talks to real processes through the repo's own hack/ scripts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update
import pytest
import yaml

from planguard.dns.tsig import load_key

REPO = Path(__file__).resolve().parents[1]
HACK = REPO / "hack"
T = TypeVar("T")


# The test runs once on BIND and once on PowerDNS: its `server`, `dns_zone` and `zone` are
# those of each in turn (conftest.py).
on_both_servers = pytest.mark.parametrize("server", ["bind", "pdns"], indirect=True)
# The test's `server`, `dns_zone` and `zone` are on PowerDNS.
on_powerdns = pytest.mark.parametrize("server", ["pdns"], indirect=True)


def hack_env(var: str, lib: str = "bind") -> str:
    """A value computed by hack/lib/*.sh, so tests and scripts agree on paths and ports."""
    out = subprocess.run(
        ["bash", "-c", f'. "{HACK}/lib/{lib}.sh"; printf %s "${var}"'],
        capture_output=True, text=True, check=True,
    )
    return out.stdout


def run_script(name: str, *args: str, timeout: float = 3600) -> str:
    p = subprocess.run([str(HACK / name), *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"hack/{name} {' '.join(args)} failed ({p.returncode}):\n"
                           f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def free_port() -> int:
    """A loopback TCP port free right now (for a process's --metrics-port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics_text(port: int, timeout: float = 2) -> str:
    """What a planguard process serves on /metrics (its --metrics-port), as text."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        return r.read().decode()


def http_status(port: int, path: str, timeout: float = 3) -> int:
    """The HTTP status a planguard process answers on `path` (/healthz, /readyz); 0 when
    nothing listens (yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def eventually(fn: Callable[[], T], timeout: float = 30, interval: float = 0.2,
               what: str = "condition") -> T:
    """Polls until fn returns a truthy value (returned) or raises AssertionError at timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


_QUALIFIED = {k: f"{k.rstrip('s')}s.planguard.io" for k in
              ("dnsplan", "dnsplans", "dnszone", "dnszones", "dnsendpointpool",
               "dnsendpointpools")}
_QUALIFIED["dnsplans,dnszones"] = "dnsplans.planguard.io,dnszones.planguard.io"


class Cluster:
    def __init__(self, kubeconfig: str, kubectl: str) -> None:
        self.kubeconfig, self.kubectl_bin = kubeconfig, kubectl

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # Fully qualified, so another group's DNSPlan kind can never be picked instead.
        args = tuple(_QUALIFIED.get(a, a) for a in args)
        p = subprocess.run([self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {p.stderr}")
        return p

    def get(self, kind: str, ns: str, name: str | None = None) -> dict[str, Any]:
        args = ["get", kind, "-n", ns, "-o", "json"] + ([name] if name else [])
        out: dict[str, Any] = json.loads(self.kubectl(*args).stdout)
        return out

    def token_kubeconfig(self, ns: str, sa: str, path: Path) -> str:
        """A kubeconfig that acts as ServiceAccount ns/sa (a TokenRequest token)."""
        token = self.kubectl("create", "token", sa, "-n", ns, "--duration=1h").stdout.strip()
        cfg = yaml.safe_load(Path(self.kubeconfig).read_text())
        cfg["users"] = [{"name": sa, "user": {"token": token}}]
        cfg["contexts"][0]["context"]["user"] = sa
        path.write_text(yaml.safe_dump(cfg))
        return str(path)

    def can_i(self, sa: str, verb: str, resource: str, ns: str) -> bool:
        resource, _, sub = resource.partition("/")
        extra = ("--subresource", sub) if sub else ()
        r = self.kubectl("auth", "can-i", verb, resource, *extra, "-n", ns, "--as", sa,
                         check=False)
        return r.stdout.strip() == "yes"

    def exists(self, kind: str, ns: str, name: str) -> bool:
        return self.kubectl("get", kind, name, "-n", ns, check=False).returncode == 0

    def apply(self, ns: str, objs: dict[str, Any] | Iterable[dict[str, Any]],
              check: bool = True) -> subprocess.CompletedProcess[str]:
        docs = [objs] if isinstance(objs, dict) else list(objs)
        return self.kubectl("apply", "-n", ns, "-f", "-",
                            input=yaml.safe_dump_all(docs), check=check)


class Bind:
    kind = "bind"  # the DNSZone's spec.server.kind

    def __init__(self, port: int | None = None, keys: Path | None = None) -> None:
        """The shared loopback BIND of hack/bind-up.sh, or (`port`) another one on loopback,
        e.g. a bench's own."""
        self.port = port or int(hack_env("BIND_PORT"))
        self.keys = keys or Path(hack_env("BIND_DIR")) / "keys"

    def restart(self, down: float) -> None:
        """Stops the server, stays down `down` seconds, starts it again (same data)."""
        subprocess.run([str(HACK / "bind-restart.sh"), f"{down:.1f}"], check=True,
                       capture_output=True)

    def zone(self, name: str, zone: str, **spec: Any) -> dict[str, Any]:
        """A DNSZone object for `zone` on this server."""
        return zone_obj(name, zone, self.port, **spec)

    def key(self, writer: str) -> str:
        return str(self.keys / f"{writer}.key")

    def add_zone(self, zone: str) -> None:
        run_script("bind-addzone.sh", zone)

    def admin_update(self, zone: str,
                     build: Callable[[dns.update.UpdateMessage], object]) -> None:
        """A hand edit: an UPDATE `build` fills, signed with the dns-admin key; must succeed."""
        key = load_key(self.key("dns-admin"))
        u = dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.keyname,
                                     keyalgorithm=key.algorithm)
        build(u)
        assert dns.query.tcp(u, "127.0.0.1", port=self.port, timeout=5).rcode() == 0

    def del_zone(self, zone: str) -> None:
        run_script("bind-delzone.sh", zone)

    def rndc(self, *args: str) -> str:
        out = subprocess.run(["bash", "-c", f'. "{HACK}/lib/bind.sh"; rndc_ "$@"', "rndc", *args],
                             capture_output=True, text=True, check=True)
        return out.stdout

    def query(self, name: str, rdtype: str = "A") -> list[str]:
        """The answer BIND serves right now (TCP, no cache between)."""
        q = dns.message.make_query(name, rdtype)
        r = dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=2)
        if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise AssertionError(f"{name}/{rdtype}: {dns.rcode.to_text(r.rcode())}")
        want = dns.rdatatype.from_text(rdtype)
        return sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset)

    def generation(self, zone: str, endpoint: str | None = None) -> int | None:
        """Generation of an endpoint's marker, or of the zone fence."""
        name = f"_planguard.{endpoint}.{zone}" if endpoint else f"_planguard.{zone}"
        txt = self.query(name, "TXT")
        if not txt:
            return None
        return int(txt[0].strip('"').split()[0].removeprefix("gen="))


class PowerDns(Bind):
    """The PowerDNS Authoritative of hack/pdns-up.sh: same keys, same questions as Bind.
    A weighted endpoint answers one address per query, picked by its weight."""

    kind = "powerdns"

    def __init__(self) -> None:
        self.port = int(hack_env("PDNS_PORT", "pdns"))
        self.dir = Path(hack_env("PDNS_DIR", "pdns"))
        self.keys = Path(hack_env("PDNS_KEY_DIR", "pdns"))  # BIND's key files

    def add_zone(self, zone: str) -> None:
        run_script("pdns-addzone.sh", zone)

    def del_zone(self, zone: str) -> None:
        run_script("pdns-delzone.sh", zone)

    def rndc(self, *args: str) -> str:
        raise NotImplementedError("rndc is BIND's")

    def restart(self, down: float) -> None:
        subprocess.run([str(HACK / "pdns-restart.sh"), f"{down:.1f}"], check=True,
                       capture_output=True)

    def zone(self, name: str, zone: str, **spec: Any) -> dict[str, Any]:
        obj = zone_obj(name, zone, self.port, **spec)
        obj["spec"]["server"]["kind"] = "powerdns"
        return obj

    def split(self, name: str, n: int, rdtype: str = "A") -> dict[str, int]:
        """Answers to `n` queries (UDP, as resolvers ask), counted by address; rcodes other
        than NOERROR counted under their name."""
        counts: dict[str, int] = {}
        q = dns.message.make_query(name, rdtype)
        for _ in range(n):
            q.id = (q.id + 1) & 0xFFFF
            r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=2)
            got = [rd.to_text() for rr in r.answer for rd in rr] if r.rcode() == 0 \
                else [dns.rcode.to_text(r.rcode())]
            for a in got or ["(empty)"]:
                counts[a] = counts.get(a, 0) + 1
        return counts


class Processes:
    """planguard role processes started as real subprocesses, logs kept per process."""

    def __init__(self, cluster: Cluster, logdir: Path) -> None:
        self.cluster, self.logdir = cluster, logdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        logdir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None,
              kubeconfig: str | None = None, metrics_port: int | None = 0,
              liveness_port: int = 0, fault: tuple[str, ...] = ()) -> None:
        """Starts `planguard ARGS`; metrics_port=None for commands without the option;
        fault: through tests/faults.py, e.g. ("stop-after-decide", "2")."""
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        ports = () if metrics_port is None else (
            "--metrics-port", str(metrics_port), "--liveness-port", str(liveness_port))
        command = ("faults", *fault, "--") if fault else ("planguard.cli",)
        path = os.pathsep.join(p for p in (str(REPO / "tests"), os.environ.get("PYTHONPATH"))
                               if p)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", *command, *args,
             "--kubeconfig", kubeconfig or self.cluster.kubeconfig, *ports],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}),
                 **({"PYTHONPATH": path} if fault else {})},
        )

    def enactor(self, eid: str, ns: str, key: str, drift: float = 1.0,
                env: dict[str, str] | None = None, via: str | None = None,
                kubeconfig: str | None = None, metrics_port: int = 0,
                fault: tuple[str, ...] = ()) -> None:
        extra = ("--dns-via", via) if via else ()
        self.start(f"enactor-{eid}", "enactor", "--id", eid, "-n", ns, "--tsig-key", key,
                   "--drift-interval", str(drift), *extra, env=env, kubeconfig=kubeconfig,
                   metrics_port=metrics_port, fault=fault)

    def cleanup(self, ns: str, key: str, interval: float = 0.5,
                kubeconfig: str | None = None, metrics_port: int = 0) -> None:
        self.start("cleanup", "cleanup", "-n", ns, "--tsig-key", key,
                   "--interval", str(interval), kubeconfig=kubeconfig,
                   metrics_port=metrics_port)

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.procs[name].send_signal(sig)

    def state(self, name: str) -> str:
        """The kernel's process state letter: R, S, T (stopped), Z..."""
        return Path(f"/proc/{self.procs[name].pid}/stat").read_text().split(") ")[1][0]

    def log(self, name: str) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def zone_obj(name: str, zone: str, port: int, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone", "metadata": {"name": name},
            "spec": {"zone": zone, "server": {"address": "127.0.0.1", "port": port}, **spec}}


def plan_obj(zone: str, generation: int, endpoints: dict[str, list[str]] | list[dict[str, Any]],
             ttl: int = 30, bare: bool = False) -> dict[str, Any]:
    """`bare`: addresses in the short form (`addresses`), else as `targets`."""
    eps = endpoints if isinstance(endpoints, list) else [
        {"name": n, "ttl": ttl, **({"addresses": list(addrs)} if bare else
                                   {"targets": [{"address": a} for a in addrs]})}
        for n, addrs in endpoints.items()
    ]
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": f"{zone}-{generation}"},
            "spec": {"zone": zone, "generation": generation, "endpoints": eps}}


def condition(obj: dict[str, Any], ctype: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get("status"))
    return None


def zone_at(cluster: Cluster, ns: str, zone: str, generation: int, enactors: str,
            ctype: str = "Ready") -> bool:
    """What `kubectl get dnszone -o yaml` shows once the zone converged: `ctype` True, the
    active generation `generation`, and each of `enactors` (ids, one letter each) at it."""
    z = cluster.get("dnszone", ns, zone)
    st = z.get("status") or {}
    return (condition(z, ctype) == "True" and st.get("activeGeneration") == generation
            and {e: v.get("generation") for e, v in st.get("enactors", {}).items()}
            == dict.fromkeys(enactors, generation))
