"""Helpers for the kind suite: the users' path for real, on a kind cluster made by
hack/kind-up.sh (Docker engine, images built here, one control plane and three workers in
zones zone-a/b/c, BIND in the cluster, planguard installed by its chart)."""

from __future__ import annotations

import collections
import json
import os
import random
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from dns.exception import Timeout as DnsTimeout

import prober
from harness import Cluster, eventually, run_script

NAMESPACE = "planguard-system"
# The session's pytest config (set by conftest.py): what say() writes reaches the run's
# output, passing cases included (CI keeps only the output).
CONFIG: Any = None


def say(text: str) -> None:
    """A measurement for the run's output, as the case goes (print() shows only on failure)."""
    print(text)
    tr = CONFIG and CONFIG.pluginmanager.get_plugin("terminalreporter")
    capture = CONFIG and CONFIG.pluginmanager.get_plugin("capturemanager")
    if tr is None or capture is None:
        return
    with capture.global_and_fixture_disabled():  # past the capture of the case's output
        for line in text.splitlines():
            tr.write_line("    " + line)

DNS_NODEPORT = 30053
PROMETHEUS_NODEPORT = 30090
PROBES = ("probe-0", "probe-1", "probe-2")
BULK = 1500  # endpoints beside the probes: applying a plan takes the enactors seconds


@dataclass
class Kind:
    cluster: Cluster
    name: str
    dns_ip: str  # BIND answers here (the control plane's node), on DNS_NODEPORT

    def node_ip(self, node: str) -> str:
        out = self.cluster.kubectl("get", "node", node, "-o", "json").stdout
        addrs = json.loads(out)["status"]["addresses"]
        return next(a["address"] for a in addrs if a["type"] == "InternalIP")

    def helm(self, *args: str, timeout: float = 600) -> str:
        """helm (built into the cache by hack/build-helm.sh) against this cluster."""
        binary = run_script("build-helm.sh").strip().splitlines()[-1]
        env = {**os.environ, "KUBECONFIG": self.cluster.kubeconfig}
        r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                           env=env)
        assert r.returncode == 0, f"helm {' '.join(args)}: {r.stderr}"
        return r.stdout

    def prometheus(self, path: str, **params: str) -> Any:
        """Prometheus' HTTP API in the cluster (hack/kind/monitoring-up.sh), e.g.
        prometheus("query", query="up"): its `data`."""
        url = f"http://{self.dns_ip}:{PROMETHEUS_NODEPORT}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def pause_node(node: str, tries: int = 5) -> int:
    """`docker pause` of a node container; how many tries it took. runc's cgroup freeze
    sometimes gives up on a container this large ("unable to freeze", moby/moby#48205) and
    thaws it again, so a refused freeze is tried again; anything else fails the case."""
    err = ""
    for attempt in range(1, tries + 1):
        r = docker("pause", node)
        if r.returncode == 0:
            return attempt
        err = r.stderr.strip()
        if "unable to freeze" not in err:
            break
        time.sleep(0.5)
    raise AssertionError(f"docker pause {node} failed: {err}")


class Unanswered(Exception):
    """The server answered SERVFAIL or REFUSED: what a client sees as a failed lookup (not an
    empty answer)."""


class KindDns:
    """A DNS server of the kind cluster asked from the host (TCP, no cache of ours): BIND's
    primary through its NodePort by default, or any Service address (`layers`). `rcodes`
    counts the answers' response codes (NXDOMAIN apart from an empty NOERROR)."""

    def __init__(self, kind: Kind, zone: str = "example.test", ip: str = "",
                 port: int = DNS_NODEPORT, layer: str = "primary",
                 cache_window: float = 0.0) -> None:
        self.ip, self.port, self.zone, self.layer = ip or kind.dns_ip, port, zone, layer
        # How long an older copy is a cache's, not a regression (tests/prober.py Tally).
        self.cache_window = cache_window
        self.rcodes: collections.Counter[str] = collections.Counter()

    def _ask(self, name: str, rdtype: str) -> list[str]:
        import dns.message
        import dns.query
        import dns.rcode
        import dns.rdatatype

        q = dns.message.make_query(name, rdtype)
        with socket.create_connection((self.ip, self.port), timeout=2) as sock:
            # Closed with a reset, not a FIN: the prober opens hundreds of connections a
            # second, and each one closed normally waits 60 s in TIME_WAIT on the host's
            # side; to one address (a node's, not loopback, so never reused early) that
            # runs the ephemeral ports out (EADDRNOTAVAIL, seen in CI at ~470/s).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.setblocking(False)  # what dnspython asks of a socket it is given
            r = dns.query.tcp(q, self.ip, port=self.port, timeout=2, sock=sock)
        rcode = dns.rcode.to_text(r.rcode())
        self.rcodes[rcode] += 1
        if rcode not in ("NOERROR", "NXDOMAIN"):
            raise Unanswered(f"{self.layer}: {rcode} for {name} {rdtype}")
        want = dns.rdatatype.from_text(rdtype)
        return sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset)

    def query(self, endpoint: str) -> list[str]:
        return self._ask(f"{endpoint}.{self.zone}.", "A")

    def generation(self, endpoint: str | None = None) -> int | None:
        """The generation of an endpoint's marker, or of the zone fence."""
        name = f"_planguard.{endpoint}.{self.zone}." if endpoint else f"_planguard.{self.zone}."
        txt = self._ask(name, "TXT")
        return int(txt[0].strip('"').split()[0].removeprefix("gen=")) if txt else None


def plans_in(kind: Kind, ns: str = "default") -> dict[int, str]:
    """generation -> name of the DNSPlans of zone `dynamo` not being deleted."""
    items = json.loads(kind.cluster.kubectl("get", "dnsplans", "-n", ns, "-o", "json").stdout)
    return {p["spec"]["generation"]: p["metadata"]["name"] for p in items["items"]
            if p["spec"]["zone"] == "dynamo" and not p["metadata"].get("deletionTimestamp")}


class Prober(prober.Prober):
    """The shared prober (tests/prober.py) on one layer of the cluster's DNS: one retry as a
    stub resolver makes; a name no plan has published yet is not an outage."""

    def __init__(self, dns: KindDns, endpoints: tuple[str, ...] = PROBES,
                 every: float = 0.003) -> None:
        super().__init__(lambda ep: (dns.query(ep), dns.generation(ep) or 0), endpoints,
                         every=every, retries=1, served_from_start=False,
                         cache_window=dns.cache_window)
        self.dns = dns

    def assert_clean(self, min_queries: int = 500) -> None:
        super().assert_clean(min_queries)


def plan_body(g: int, rng: random.Random, bulk: int = BULK) -> dict[str, Any]:
    """Plan g of zone `dynamo`: the probes move every plan, `bulk` endpoints beside them
    (so that applying a plan takes the enactors seconds)."""
    eps = [{"name": ep, "ttl": 5, "targets": [
        {"address": f"10.{i}.{g % 250}.{rng.randrange(1, 250)}", "weight": 10}]}
        for i, ep in enumerate(PROBES)]
    eps += [{"name": f"bulk-{i}", "ttl": 60, "addresses": [
        f"10.{100 + i // 250}.{i % 250}.{g % 250 + 1}",
        f"10.{100 + i // 250}.{i % 250}.{(g + 1) % 250 + 1}"]}
        for i in range(bulk)]
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": f"dynamo-{g}"},
            "spec": {"zone": "dynamo", "generation": g, "endpoints": eps}}


def create(kind: Kind, body: dict[str, Any]) -> None:
    kind.cluster.kubectl("create", "-n", "default", "-f", "-", input=json.dumps(body),
                         timeout=120)


class Stream(threading.Thread):
    """A new plan (of `bulk` endpoints beside the probes) every `every` seconds until
    stopped; `last` is the newest created."""

    def __init__(self, kind: Kind, first: int, bulk: int, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.kind, self.next, self.bulk, self.every = kind, first, bulk, every
        self.last, self.rng, self.failures = first - 1, random.Random(first), 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                create(self.kind, plan_body(self.next, self.rng, self.bulk))
                self.last = self.next
                self.next += 1
            except Exception:  # the API server busy: the plan is tried again
                self.failures += 1
            self.stop.wait(self.every)

    def finish(self) -> int:
        self.stop.set()
        if self.is_alive():
            self.join()
        return self.last


def chart_pods(kind: Kind, component: str | None = None) -> list[dict[str, Any]]:
    """The release's pods (of one component), those not being deleted."""
    sel = "app.kubernetes.io/instance=planguard"
    if component:
        sel += f",app.kubernetes.io/component={component}"
    out = json.loads(kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", sel,
                                          "-o", "json").stdout)
    return [p for p in out["items"] if not p["metadata"].get("deletionTimestamp")]


def pod_nodes(kind: Kind) -> dict[str, str]:
    """component (or enactor id) -> node of the running chart pods."""
    nodes = {}
    for p in chart_pods(kind):
        labels = p["metadata"]["labels"]
        name = labels.get("planguard.io/enactor") or labels["app.kubernetes.io/component"]
        nodes[name] = p["spec"].get("nodeName", "")
    return nodes


def zone_status(kind: Kind) -> dict[str, Any]:
    st: dict[str, Any] = kind.cluster.get("dnszones", "default", "dynamo").get("status") or {}
    return st


def converged_at(kind: Kind, dns: KindDns, g: int) -> bool:
    st = zone_status(kind)
    try:
        served = all(dns.generation(ep) == g for ep in PROBES)
    except (OSError, EOFError, DnsTimeout, Unanswered):
        return False  # not answered: not yet (a DNS pod being replaced)
    return (served and st.get("activeGeneration") == g
            and any(c["type"] == "Converged" and c["status"] == "True"
                    for c in st.get("conditions") or []))


def wait_converged(kind: Kind, dns: KindDns, g: int, timeout: float, what: str) -> float:
    """Waits for the zone at plan g; returns how long that took."""
    t0 = time.monotonic()
    eventually(lambda: converged_at(kind, dns, g), timeout=timeout, interval=0.5,
               what=f"the zone at plan {g} ({what})")
    return time.monotonic() - t0


def next_generation(kind: Kind) -> int:
    return max(plans_in(kind), default=0) + 1


def signal_process(node: str, pattern: str, sig: str = "STOP") -> list[str]:
    """kill -SIG, from the node (as a wedged process looks to its kubelet), every process
    whose command line contains `pattern`; returns their pids. Write the pattern with a
    bracket (e.g. "[b]in/planguard agent") so it never matches this shell's own command."""
    r = docker("exec", node, "sh", "-c",
               "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | "
               f"grep -q '{pattern}' && kill -{sig} ${{p#/proc/}} && "
               "echo ${p#/proc/}; done; true")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def node_zones(kind: Kind) -> dict[str, str]:
    """node -> its topology.kubernetes.io/zone."""
    items = json.loads(kind.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n["metadata"]["labels"].get("topology.kubernetes.io/zone", "")
            for n in items}


def node_ready(kind: Kind, node: str) -> str:
    """The Ready condition's status: True, False or Unknown (the kubelet went silent)."""
    n = json.loads(kind.cluster.kubectl("get", "node", node, "-o", "json").stdout)
    return next((c["status"] for c in n["status"].get("conditions") or []
                 if c["type"] == "Ready"), "")


def taints(kind: Kind, node: str) -> set[str]:
    n = json.loads(kind.cluster.kubectl("get", "node", node, "-o", "json").stdout)
    return {t["key"] for t in (n.get("spec") or {}).get("taints") or []}


def snapshot(kind: Kind) -> str:
    """What an on-call engineer would look at first, as text; never raises."""
    c = kind.cluster
    steps = [("pods", ("get", "pods", "-A", "-o", "wide")),
             ("nodes", ("get", "nodes", "-o", "wide")),
             ("zones", ("get", "dnszones", "-A", "-o", "custom-columns=NS:.metadata.namespace,"
                        "NAME:.metadata.name,ACTIVE:.status.activeGeneration,"
                        "CONDITIONS:.status.conditions[*].message")),
             ("plans", ("get", "dnsplans", "-A", "-o", "custom-columns=NS:.metadata.namespace,"
                        "NAME:.metadata.name,GEN:.spec.generation,"
                        "DELETING:.metadata.deletionTimestamp,FINALIZERS:.metadata.finalizers,"
                        "CONDITIONS:.status.conditions[*].reason")),
             ("events", ("get", "events", "-A", "--sort-by=.lastTimestamp")),
             *[(f"logs {role}", ("logs", "-n", NAMESPACE, "--tail=40", "--prefix",
                                 "--all-containers", "-l",
                                 f"app.kubernetes.io/component={role}"))
               for role in ("enactor", "cleanup", "planner")]]
    out = []
    for title, args in steps:
        try:
            p = c.kubectl(*args, check=False, timeout=30)
            text = (p.stdout + p.stderr).splitlines()
        except Exception as e:  # a snapshot must never hide the failure it explains
            text = [f"({e!r})"]
        out.append(f"--- {title}\n" + "\n".join(text[-60:]))
    return "\n".join(out)


# kind's Service network: the host reaches Service addresses through the control plane's
# node (hack/kind-up.sh routes it), as a pod would, kube-proxy choosing the pod.
SERVICE_CIDR = "10.96.0.0/16"


def route_services(kind: Kind) -> None:
    """The host's route to Service addresses (idempotent; gone with a host reboot)."""
    r = subprocess.run(["ip", "route", "replace", SERVICE_CIDR, "via", kind.dns_ip],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# Several CoreDNS pods behind one Service, each caching an answer up to its TTL (capped at
# 30 s, hack/kind/cluster-dns.sh): for that long after a plan a client may be handed either
# pod's copy, older or newer. An older generation later than this is a regression.
CLUSTER_DNS_CACHE_WINDOW = 32.0


def layers(kind: Kind) -> list[KindDns]:
    """Every layer a client's answer passes: the primary (NodePort), each secondary (its own
    Service), and the cluster DNS (CoreDNS's Service, which asks the secondaries)."""
    route_services(kind)
    svcs = json.loads(kind.cluster.kubectl("get", "svc", "-A", "-o", "json").stdout)["items"]
    ip = {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s["spec"]["clusterIP"]
          for s in svcs}
    out = [KindDns(kind)]
    i = 0
    while f"{NAMESPACE}/dns-secondary-{i}" in ip:
        out.append(KindDns(kind, ip=ip[f"{NAMESPACE}/dns-secondary-{i}"], port=53,
                           layer=f"secondary-{i}"))
        i += 1
    out.append(KindDns(kind, ip=ip["kube-system/kube-dns"], port=53, layer="cluster DNS",
                       cache_window=CLUSTER_DNS_CACHE_WINDOW))
    return out


def serves_probes(dns: KindDns, g: int | None = None) -> bool:
    """Every probe endpoint answered by this layer (at generation g, if given); unanswered
    is not yet."""
    try:
        gens = [dns.generation(ep) for ep in PROBES]
    except (OSError, EOFError, DnsTimeout, Unanswered):
        return False
    return all(gens) if g is None else all(x == g for x in gens)


def forget_stale_connections(kind: Kind, port: int = DNS_NODEPORT) -> None:
    """After a DNS pod is replaced: the node's connection-tracking entries of connections
    the host began to the old pod (or while none was ready) go, so that a source port the
    host picks again is sent to the new pod, not after the old one (kube-proxy clears such
    entries for UDP only)."""
    docker("exec", f"{kind.name}-control-plane", "conntrack", "-D", "-p", "tcp",
           "--orig-port-dst", str(port))


# Prometheus scrapes every 5 s (hack/kind/monitoring-up.sh): two scrapes and a margin.
SCRAPE_SETTLE = 12.0


def canary_counts(kind: Kind) -> collections.Counter[str]:
    """What the canaries (`planguard canary`, hack/kind/values-kind.yaml: pods resolving
    through the cluster DNS) have counted, as Prometheus last scraped them, summed over
    replicas and endpoints: 'lookups answered', 'lookups empty', 'lookups failed',
    'regressions', 'stale' (older copies within the cache window), 'connects ok',
    'connects failed'. Call after SCRAPE_SETTLE seconds."""
    out: collections.Counter[str] = collections.Counter()
    for query, key in (("sum by (result) (planguard_canary_lookups_total)", "lookups"),
                       ("sum(planguard_canary_regressions_total)", "regressions"),
                       ("sum(planguard_canary_stale_answers_total)", "stale"),
                       ("sum by (result) (planguard_canary_connects_total)", "connects")):
        for r in kind.prometheus("query", query=query)["result"]:
            out[f"{key} {r['metric'].get('result', '')}".strip()] += float(r["value"][1])
    return out


def canary_delta(before: collections.Counter[str],
                 after: collections.Counter[str]) -> dict[str, int]:
    """after - before, every key of either (a counter that went back: a canary restarted)."""
    return {k: int(after[k] - before[k]) for k in sorted(set(before) | set(after))}
