"""`planguard canary`: a client that resolves planguard names the way applications do
(through this pod's resolver, i.e. the cluster DNS, no cache of its own) every few
milliseconds, opens a TCP connection to an address it got, and exports what it saw
(`planguard_canary_*`). core/dnsplan/canary.py judges each lookup."""

from __future__ import annotations

import logging
import random
import socket
import time
from dataclasses import dataclass

import dns.exception
import dns.resolver

from planguard import metrics
from planguard.core.dnsplan.canary import RESULTS, Seen, judge
from planguard.core.dnsplan.markers import endpoint_marker_name, generation_of
from planguard.core.liveness import LIVENESS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    endpoint: str  # a name in the zone, e.g. `web`
    port: int | None = None  # connect to an answered address on this TCP port


def parse_target(text: str) -> Target:
    """`web` or `web:8080`; refuses anything else with why."""
    name, _, port = text.partition(":")
    label = name.replace("-", "").replace("_", "").replace(".", "")
    if not name or not label.isalnum() or not label.isascii() or len(name) > 200:
        raise ValueError(f"{text!r}: an endpoint name (letters, digits, '-', '_', '.')")
    if not port:
        return Target(name)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: the port after ':' is 1..65535")
    return Target(name, int(port))


def _lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> tuple[str, ...] | None:
    """The answer's records (NXDOMAIN or no data: none); None when no answer came."""
    try:
        ans = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return ()
    except (dns.resolver.NoNameservers, dns.resolver.NoAnswer, dns.exception.Timeout):
        return None
    return tuple(sorted(rd.to_text() for rd in ans.rrset)) if ans.rrset else ()


def _connect(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class Canary:
    """One client: its resolver and its memory of each target."""

    def __init__(self, zone: str, targets: list[Target], timeout: float,
                 resolver: dns.resolver.Resolver | None = None,
                 cache_window: float = 35.0) -> None:
        if resolver is None:
            resolver = dns.resolver.Resolver()  # /etc/resolv.conf: the cluster DNS in a pod
        resolver.cache = None
        resolver.lifetime = timeout
        self.zone, self.targets, self.timeout, self.resolver = zone.rstrip("."), targets, \
            timeout, resolver
        self.seen = {t.endpoint: Seen() for t in targets}
        self.cache_window = cache_window
        for t in targets:  # every series from the start, so that increase() sees the first
            for r in RESULTS:
                metrics.CANARY_LOOKUPS.labels(t.endpoint, r)
            metrics.CANARY_REGRESSIONS.labels(t.endpoint)
            metrics.CANARY_STALE.labels(t.endpoint)
            if t.port:
                for r in ("ok", "failed"):
                    metrics.CANARY_CONNECTS.labels(t.endpoint, r)

    def round(self) -> None:
        """Each target once: its addresses, its marker, a connection to one address."""
        for t in self.targets:
            addresses = _lookup(self.resolver, f"{t.endpoint}.{self.zone}.", "A")
            marker = _lookup(self.resolver, f"{endpoint_marker_name(t.endpoint)}.{self.zone}.",
                             "TXT")
            generation = generation_of(marker[0]) if marker else None
            self.seen[t.endpoint], verdict = judge(self.seen[t.endpoint], addresses, generation,
                                                   time.monotonic(), self.cache_window)
            metrics.CANARY_LOOKUPS.labels(t.endpoint, verdict.result).inc()
            if verdict.regression:
                metrics.CANARY_REGRESSIONS.labels(t.endpoint).inc()
            if verdict.stale:
                metrics.CANARY_STALE.labels(t.endpoint).inc()
            if generation:
                metrics.CANARY_GENERATION.labels(t.endpoint).set(self.seen[t.endpoint].highest)
            if verdict.connect and t.port and addresses:
                ok = _connect(random.choice(addresses), t.port, self.timeout)
                metrics.CANARY_CONNECTS.labels(t.endpoint, "ok" if ok else "failed").inc()


def run(zone: str, targets: list[Target], every: float, timeout: float,
        cache_window: float) -> None:
    """Rounds over the targets, `every` seconds apart, forever."""
    c = Canary(zone, targets, timeout, cache_window=cache_window)
    log.info("canary: %s in %s through %s", ", ".join(
        f"{t.endpoint}:{t.port}" if t.port else t.endpoint for t in targets), c.zone,
        ", ".join(str(n) for n in c.resolver.nameservers))
    while True:
        c.round()
        LIVENESS.beat("canary", within=60 + timeout * 4 * len(targets))
        time.sleep(every)
