"""The planner on real readiness: a Deployment of small HTTP servers behind a Service, its
EndpointSlices kept by the real EndpointSlice controller from the kubelet's readiness
probes, a DNSEndpointPool on that Service. A pod failing readiness leaves DNS; flapping
faster than the probes' thresholds moves nothing; many failing at once are removed only as
fast as the pool's velocity limits allow, and too many look like a broken checker (fail
static); a scale-down is followed, and an answer is never empty."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kindharness import (
    SCRAPE_SETTLE,
    Kind,
    KindDns,
    canary_counts,
    canary_delta,
    chart_pods,
    say,
)

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1200)]
NS = "default"
WINDOW = 40  # the pool's velocity window, seconds
# Healthy unless /state/down exists (gone altogether with /state/stop); with /state/flap,
# down one third of every 1.5 s, so neither the kubelet's probe (1 s, 3 failures) nor the
# planner's check (1 s, 3 failures) ever sees enough failures in a row.
SERVER = """
import http.server, os, threading, time
def stop():  # /state/stop: the server goes away (the container keeps failing to start)
    while not os.path.exists('/state/stop'):
        time.sleep(0.2)
    os._exit(1)
threading.Thread(target=stop, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = not os.path.exists('/state/down')
        if os.path.exists('/state/flap'):
            ok = (time.time() % 1.5) >= 0.5
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b'ok' if ok else b'down')
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()
"""


def _objects(image: str, replicas: int) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                       "template": {"metadata": {"labels": labels}, "spec": {
                           "terminationGracePeriodSeconds": 5,
                           "containers": [{
                               "name": "web", "image": image, "imagePullPolicy": "Never",
                               "command": ["python3", "-c", SERVER],
                               "ports": [{"containerPort": 8080}],
                               "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                  "periodSeconds": 1, "failureThreshold": 3,
                                                  "successThreshold": 1, "timeoutSeconds": 1},
                               "volumeMounts": [{"name": "state", "mountPath": "/state"}]}],
                           "volumes": [{"name": "state", "emptyDir": {}}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": labels, "ports": [{"port": 8080}]}}
    pool = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSEndpointPool",
            "metadata": {"name": "web"},
            "spec": {"zone": "dynamo", "endpoints": [{"name": "web", "ttl": 5}],
                     "service": {"name": "web", "capacity": 10},
                     "healthCheck": {"type": "HTTP", "port": 8080, "path": "/healthz",
                                     "intervalSeconds": 1, "timeoutSeconds": 0.5,
                                     "failuresToDown": 3, "successesToUp": 2},
                     "limits": {"maxRemovePerPlan": 0.34, "maxRemovePerWindow": 0.34,
                                "windowSeconds": WINDOW, "failStaticBelow": 0.5,
                                "minTargets": 1}}}
    return [deploy, svc, pool]


def _pods(kind: Kind) -> dict[str, str]:
    """name -> IP of the web pods that are running and not being deleted."""
    out = json.loads(kind.cluster.kubectl("get", "pods", "-n", NS, "-l", "app=web",
                                          "-o", "json").stdout)
    return {p["metadata"]["name"]: p["status"]["podIP"] for p in out["items"]
            if not p["metadata"].get("deletionTimestamp") and p["status"].get("podIP")}


def _touch(kind: Kind, pod: str, what: str, on: bool) -> None:
    cmd = ["touch"] if on else ["rm", "-f"]
    kind.cluster.kubectl("exec", "-n", NS, pod, "--", *cmd, f"/state/{what}")


def _pool(kind: Kind) -> dict[str, Any]:
    return kind.cluster.get("dnsendpointpool", NS, "web")


def _holds(kind: Kind) -> set[str]:
    return {h["reason"] for h in (_pool(kind).get("status") or {}).get("holds") or []}


def _newest_web_plan(kind: Kind) -> int:
    """The highest generation of a plan that mentions the web endpoint (clean-up deletes
    old ones, so a count would fall; a plan written raises this)."""
    items = json.loads(kind.cluster.kubectl("get", "dnsplans", "-n", NS, "-o", "json")
                       .stdout)["items"]
    return max((p["spec"]["generation"] for p in items
                if any(e["name"] == "web" for e in p["spec"].get("endpoints") or ())),
               default=0)


class Watch(threading.Thread):
    """The web endpoint's answers all along: how many, the smallest."""

    def __init__(self, dns: KindDns) -> None:
        super().__init__(daemon=True)
        self.dns, self.queries, self.smallest, self.errors = dns, 0, 1 << 30, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                n = len(self.dns.query("web"))
            except Exception:
                self.errors += 1
                continue
            self.queries += 1
            self.smallest = min(self.smallest, n)
            time.sleep(0.05)


def test_dns_follows_real_readiness_within_the_pools_limits(kind: Kind) -> None:
    dns = KindDns(kind)
    image = chart_pods(kind, "enactor")[0]["spec"]["containers"][0]["image"]
    for obj in _objects(image, 6):
        kind.cluster.apply(NS, obj)
    watch = None
    try:
        kind.cluster.kubectl("rollout", "status", "-n", NS, "deploy/web", "--timeout=180s",
                             timeout=200)
        pods = _pods(kind)
        assert len(pods) == 6
        ips = sorted(pods.values())
        t0 = time.monotonic()
        eventually(lambda: dns.query("web") == ips, timeout=90, interval=0.5,
                   what="every Ready pod published")
        say(f"6 pods published in {time.monotonic() - t0:.1f} s")
        watch = Watch(dns)
        watch.start()
        names = sorted(pods)

        # One pod fails its readiness probe: it leaves DNS; it comes back when it passes.
        t0 = time.monotonic()
        _touch(kind, names[0], "down", True)
        eventually(lambda: dns.query("web") == sorted(set(ips) - {pods[names[0]]}),
                   timeout=60, interval=0.5, what="the unready pod out of DNS")
        t_out = time.monotonic() - t0
        t_removed = time.monotonic()
        _touch(kind, names[0], "down", False)
        eventually(lambda: dns.query("web") == ips, timeout=60, interval=0.5,
                   what="the pod back in DNS when Ready again")
        say(f"unready pod out in {t_out:.1f} s, back in {time.monotonic() - t0 - t_out:.1f} s")

        # Flapping faster than the thresholds: nothing moves.
        before, marker = _newest_web_plan(kind), dns.generation("web")
        _touch(kind, names[1], "flap", True)
        flap_until = time.monotonic() + 20
        while time.monotonic() < flap_until:
            assert dns.query("web") == ips
            time.sleep(0.5)
        _touch(kind, names[1], "flap", False)
        assert _newest_web_plan(kind) == before, "a flapping pod wrote a plan"
        assert dns.generation("web") == marker
        print("a pod flapping for 20 s: no plan written, DNS unchanged")

        # Three of six fail at once: a third of the capacity may go per plan and per window,
        # so two go and the third is held back.
        time.sleep(max(0.0, WINDOW + 2 - (time.monotonic() - t_removed)))
        for n in names[:3]:
            _touch(kind, n, "down", True)
        eventually(lambda: len(dns.query("web")) == 4, timeout=60, interval=0.5,
                   what="two of the three failing pods removed")
        eventually(lambda: "VelocityWindow" in _holds(kind), timeout=30, interval=1,
                   what="the third held back by the velocity window")
        time.sleep(3)
        assert len(dns.query("web")) == 4
        print("3 of 6 unready at once: 2 removed, the third held (VelocityWindow)")
        # A fourth: two thirds look dead, more likely the checking than the fleet.
        _touch(kind, names[3], "down", True)
        eventually(lambda: "FailStatic" in _holds(kind), timeout=60, interval=1,
                   what="fail-static when most of the pool looks down")
        time.sleep(3)
        assert len(dns.query("web")) == 4
        print("4 of 6 unready: FailStatic, DNS kept at 4")
        for n in names[:4]:
            _touch(kind, n, "down", False)
        eventually(lambda: dns.query("web") == ips, timeout=90, interval=0.5,
                   what="every pod back once Ready")

        # Scale down to three: followed within the limits, never empty.
        t0 = time.monotonic()
        kind.cluster.kubectl("scale", "-n", NS, "deploy/web", "--replicas=3")
        eventually(lambda: len(_pods(kind)) == 3, timeout=120, interval=1)
        eventually(lambda: dns.query("web") == sorted(_pods(kind).values()), timeout=180,
                   interval=1, what="DNS at the three pods left")
        say(f"scaled 6 -> 3: DNS followed in {time.monotonic() - t0:.1f} s")
        watch.stop.set()
        watch.join()
        say(f"web answers: {watch.queries} queries, smallest {watch.smallest}, "
              f"{watch.errors} errors")
        assert watch.queries > 100 and watch.smallest >= 3 and watch.errors == 0
        t_scaled = time.monotonic()  # the scale-down's removals count in the window

        # A backend drained as an SRE would: marked unready, it leaves DNS within the
        # pool's limits; once the clients' answers have expired (TTL 5 s in CoreDNS's cache,
        # a second to reach the secondaries), its server stops. No client connects to it
        # any more: the canaries' failed connections do not move.
        time.sleep(max(0.0, WINDOW + 2 - (time.monotonic() - t_scaled)))
        left = _pods(kind)
        victim = sorted(left)[0]
        t0 = time.monotonic()
        _touch(kind, victim, "down", True)
        eventually(lambda: dns.query("web") == sorted(ip for n, ip in left.items()
                                                       if n != victim),
                   timeout=90, interval=0.5, what="the drained pod out of DNS")
        t_out = time.monotonic() - t0
        time.sleep(5 + 2 + SCRAPE_SETTLE)
        before = canary_counts(kind)
        _touch(kind, victim, "stop", True)
        time.sleep(15 + SCRAPE_SETTLE)
        clients = canary_delta(before, canary_counts(kind))
        say(f"a drained backend: out of DNS {t_out:.1f} s after it turned unready; its "
              f"server then stopped; the clients in the next 15 s: {clients}")
        assert clients["connects ok"] > 0, clients
        assert clients.get("connects failed", 0) == 0, clients
        assert clients.get("lookups failed", 0) == 0, clients
    finally:
        if watch is not None:
            watch.stop.set()
        for kind_name in ("dnsendpointpool", "service", "deployment"):
            kind.cluster.kubectl("delete", kind_name, "web", "-n", NS, "--ignore-not-found",
                                 "--wait=false", check=False)
