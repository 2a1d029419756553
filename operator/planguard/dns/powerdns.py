"""PowerDNS Authoritative through RFC 2136 only: plan weights served as LUA records.

The compare-and-swap is BIND's (rfc2136.py): one UPDATE whose prerequisites are the exact
fence, marker and records read, LUA RRset included. Each endpoint is served by one LUA A
and/or LUA AAAA record from the fixed template in core/dnsplan/weights.py; a plain A/AAAA set at
the name would be served beside it, so it is deleted in the same message, and asserted
absent in the next. The reading is one zone transfer, as on BIND.

Measured on PowerDNS 4.7.3 (docs/how-to/weights.md): the prerequisite
check and the update share one transaction under a process-wide lock, so this holds only
while every UPDATE for the zone reaches ONE pdns_server process (not several sharing a
database). Its HTTP API is atomic but unconditional, so it is never a write path here.
Two deviations are designed around: TXT prerequisites compare without letter case
(markers are written in lowercase, markers.py) and a prerequisite listing one record twice
may match another set (prerequisites are built from sets).
"""

from __future__ import annotations

from planguard.core.dnsplan.model import ZoneState
from planguard.core.dnsplan.weights import SELECTORS
from planguard.dns.provider import DnsError, DnsErrorKind
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import TsigKey


class PowerDnsProvider(Rfc2136Provider):
    # PowerDNS 4.7 (gsqlite3) spends 10-20 ms per RRset changed or compared in a zone of
    # 1,000 endpoints, growing with the zone (a 100-endpoint UPDATE took ~10 s at 5,000):
    # smaller UPDATEs, each answered well within the timeout (bench/dns_raw_limit.py).
    max_records = 40

    def __init__(
        self, zone: str, server: str, port: int, key: TsigKey, selector: str = "pickwrandom",
        timeout: float | None = None, window: int = 16,
    ) -> None:
        if selector not in SELECTORS:
            raise ValueError(f"selector must be one of {', '.join(SELECTORS)}, not {selector!r}")
        super().__init__(zone, server, port, key, timeout=timeout, window=window)
        self.lua = selector

    def read_zone(self) -> ZoneState:
        try:
            return super().read_zone()
        except DnsError as e:
            if e.kind is not DnsErrorKind.TSIG:
                raise
            # PowerDNS answers a transfer of a zone it does not serve exactly as one with a
            # key it does not accept: NOTAUTH, unsigned. One plain SOA query tells which.
            try:
                self.read_serial()
            except DnsError as soa:
                if soa.kind in (DnsErrorKind.REFUSED, DnsErrorKind.ZONE_MISSING):
                    raise DnsError(DnsErrorKind.ZONE_MISSING,
                                   f"{self.zone}: the server does not serve this zone") from e
            raise
