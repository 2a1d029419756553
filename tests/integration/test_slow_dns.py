"""Slow DNS servers delay only their own zones (issue 29): eight DNSZones whose server is
a loopback slow-drip server (a 65,535-byte answer announced, then a byte a second) beside
one zone on real BIND, one enactor and the clean-up. The healthy zone's plans are served
as fast as before the attack, /healthz and /readyz of both processes stay 200 throughout,
and each slow zone says why in its own status: the deadline its server ran out of.

On the code before the fix the enactor's six shared threads were all held by transfers
that never timed out: the healthy zone's plans went unserved for 154 s, /healthz turned
503, and one unreadable zone turned /readyz 503 for the whole process."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import harness as h
from slowdrip import SlowDrip

SLOW_ZONES = 8
DNS_TIMEOUT = 5  # --dns-timeout: short, so the slow zones' conditions come quickly


class ProbeWatch:
    """Polls /healthz and /readyz of each process twice a second, keeping every failure."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports, self.failures, self._stop = ports, list[str](), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProbeWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for name, port in self.ports.items():
                for path in ("/healthz", "/readyz"):
                    code = h.http_status(port, path)
                    if code != 200:
                        self.failures.append(f"{time.strftime('%T')} {name} {path} {code}")


def test_slow_drip_servers_delay_only_their_own_zones(
        cluster: h.Cluster, bind: h.Bind, ns: str, dns_zone: str, zone: str,
        procs: h.Processes) -> None:
    ports = {"enactor": h.free_port(), "cleanup": h.free_port()}
    mport = h.free_port()
    timeout = ("--dns-timeout", str(DNS_TIMEOUT))
    procs.start("enactor", "enactor", "--id", "a", "-n", ns, "--tsig-key",
                bind.key("enactor-a"), "--drift-interval", "1", *timeout,
                liveness_port=ports["enactor"], metrics_port=mport)
    procs.start("cleanup", "cleanup", "-n", ns, "--tsig-key", bind.key("planguard-cleanup"),
                "--interval", "1", *timeout, liveness_port=ports["cleanup"])
    for name, port in ports.items():
        h.eventually(lambda p=port: h.http_status(p, "/readyz") == 200, timeout=60,
                     what=f"{name} ready")

    generation = 0

    def converge() -> float:
        """Seconds from a new plan of the healthy zone to BIND serving it."""
        nonlocal generation
        generation += 1
        want = f"10.0.0.{generation}"
        t0 = time.monotonic()
        cluster.apply(ns, h.plan_obj(zone, generation, {"api": [want]}))
        h.eventually(lambda: bind.query(f"api.{dns_zone}") == [want], timeout=60, interval=0.05,
                     what=f"plan {generation} of the healthy zone served")
        return time.monotonic() - t0

    with ProbeWatch(ports) as watch, SlowDrip(interval=1.0) as drip:
        before = [converge() for _ in range(3)]
        slow = [f"slow-{i}" for i in range(SLOW_ZONES)]
        for name in slow:
            cluster.apply(ns, [h.zone_obj(name, f"{h.unique('drip')}.test", drip.port),
                               h.plan_obj(name, 1, {"api": ["10.9.9.9"]})])
        # The processes are in the slow servers' grip.
        h.eventually(lambda: drip.connections >= SLOW_ZONES, timeout=30,
                     what="the slow zones' transfers under way")
        attacked_at = time.monotonic()
        during = [converge() for _ in range(3)]
        # Each slow zone's own status says what happened, naming the deadline.
        want = f"did not finish within {DNS_TIMEOUT} s"

        def slow_zones_say_so() -> list[str]:
            told = []
            for name in slow:
                st: dict[str, Any] = cluster.get("dnszones", ns, name).get("status") or {}
                ready = next((c for c in st.get("conditions") or []
                              if c.get("type") == "Ready"), {})
                enactor = (st.get("enactors") or {}).get("a") or {}
                if ready.get("status") == "False" and want in str(ready.get("message")) \
                        and enactor.get("lastErrorKind") == "timeout" \
                        and want in str(enactor.get("lastError")):
                    told.append(name)
            return told

        h.eventually(lambda: len(slow_zones_say_so()) == SLOW_ZONES, timeout=90, interval=1,
                     what="every slow zone's own Ready=False and enactor error naming the "
                          "deadline")
        # Several deadlines and retries later the healthy zone still converges as before,
        # and liveness and readiness held all along.
        while time.monotonic() - attacked_at < 6 * DNS_TIMEOUT:
            time.sleep(0.5)
        during.append(converge())
        web = cluster.get("dnszones", ns, zone)
        ready = next(c for c in web["status"]["conditions"] if c["type"] == "Ready")
        print(f"healthy zone converged in {[round(t, 2) for t in before]} s before the "
              f"attack, {[round(t, 2) for t in during]} s with {SLOW_ZONES} slow zones; "
              f"{drip.connections} slow connections")
    assert ready["status"] == "True", ready
    # ...and its own metric: timeouts counted for each slow zone, none for the healthy one.
    timed_out = set(re.findall(r'planguard_dns_errors_total\{[^}]*zone="([^"]+)"[^}]*\}',
                               "\n".join(ln for ln in h.metrics_text(mport).splitlines()
                                          if 'kind="timeout"' in ln)))
    assert timed_out == {f"{ns}/{name}" for name in slow}, timed_out
    assert watch.failures == [], watch.failures
    assert max(during) < max(5.0, 3 * max(before)), (before, during)


def test_zones_on_slow_servers_hold_only_their_share_of_the_threads(bind: h.Bind,
                                                                     dns_zone: str) -> None:
    """The admission itself, in one process with a pool of 4 threads: twelve zones on a
    slow-drip server (three times the pool) and one on BIND. The slow zones hold at most
    half the pool at first and a quarter once their server has timed out, so the healthy
    zone's transfers keep coming at their own pace."""
    import asyncio

    from planguard.dns.provider import DnsError, DnsErrorKind
    from planguard.dns.rfc2136 import Rfc2136Provider
    from planguard.dns.tsig import load_key
    from planguard.roles import runtime
    from planguard.roles.cache import ObjectCache

    key = load_key(bind.key("enactor-a"))
    healthy_reads: list[float] = []
    timed_out: dict[tuple[str, str], bool] = {}
    in_flight, most = [0], [0]
    lock = threading.Lock()

    with SlowDrip(interval=0.2) as drip:
        servers = {"web": (dns_zone, bind.port)}
        servers.update({f"slow-{i}": (f"drip{i}.test", drip.port) for i in range(12)})

        def reconcile(k: tuple[str, str]) -> float:
            zone, port = servers[k[1]]
            slow = k[1] != "web"
            with lock:
                in_flight[0] += slow
                most[0] = max(most[0], in_flight[0])
            try:
                Rfc2136Provider(zone, "127.0.0.1", port, key, timeout=1.0).read_zone()
                timed_out[k] = False
                if not slow:
                    healthy_reads.append(time.monotonic())
            except DnsError as e:
                timed_out[k] = e.kind is DnsErrorKind.TIMEOUT
            finally:
                with lock:
                    in_flight[0] -= slow
            return 0.1  # no backoff here: the admission alone must hold them

        async def main() -> None:
            cache = ObjectCache()
            runtime.ZoneWorkers(cache, reconcile, timed_out=lambda k: timed_out.get(k, False),
                                threads=4)
            for name, (zone, port) in servers.items():
                cache.zone_event("ADDED", h.zone_obj(name, zone, port) | {
                    "metadata": {"namespace": "ns", "name": name, "uid": name}})
            await asyncio.sleep(6)

        t0 = time.monotonic()
        asyncio.run(main())
    assert most[0] <= 2, most  # never more than per_server = threads // 2
    # The healthy zone ran all along: reads ~0.1 s apart, none of its waits near the
    # slow servers' 1 s deadline.
    gaps = [b - a for a, b in zip([t0, *healthy_reads], healthy_reads, strict=False)]
    assert len(healthy_reads) > 20 and max(gaps) < 1.0, (len(healthy_reads), max(gaps))
