"""Which provider serves a DNSZone: its spec.server.kind, address and port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planguard.dns.powerdns import PowerDnsProvider
from planguard.dns.provider import DnsProvider
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import TsigKey

KINDS = ("bind", "powerdns")
_Ident = tuple[str, str, int, str, str]  # zone, address, port, kind, selector


def provider_for(ident: _Ident, key: TsigKey, timeout: float | None = None) -> DnsProvider:
    """`timeout`: the deadline of one DNS exchange; None: the server kind's default."""
    zone, address, port, kind, selector = ident
    if kind == "powerdns":
        return PowerDnsProvider(zone, address, port, key, selector=selector, timeout=timeout)
    if kind == "bind":
        return Rfc2136Provider(zone, address, port, key, timeout=timeout)
    raise ValueError(f"spec.server.kind {kind!r} is not one of {', '.join(KINDS)}")


def ident_of(spec: Mapping[str, Any]) -> _Ident:
    server = spec.get("server") or {}
    pdns = server.get("powerdns") or {}
    return (str(spec["zone"]), str(server["address"]), int(server.get("port", 53)),
            str(server.get("kind", "bind")), str(pdns.get("selector", "pickwrandom")))


class ProviderPool:
    """One provider (and TCP connection) per DNSZone object, rebuilt if its server moves.
    `via` (host, port) sends every zone's traffic through that address instead, e.g. a
    local proxy; the zone's own server stays what status reports."""

    def __init__(self, key: TsigKey, via: tuple[str, int] | None = None,
                 timeout: float | None = None) -> None:
        self.key, self.via, self.timeout = key, via, timeout
        self._by_zone: dict[tuple[str, str], tuple[_Ident, DnsProvider]] = {}

    def get(self, zone_key: tuple[str, str], spec: Mapping[str, Any]) -> DnsProvider:
        ident = ident_of(spec)
        if self.via is not None:
            ident = (ident[0], *self.via, *ident[3:])
        have = self._by_zone.get(zone_key)
        if have is None or have[0] != ident:
            if have is not None:
                have[1].close()
            have = (ident, provider_for(ident, self.key, self.timeout))
            self._by_zone[zone_key] = have
        return have[1]

    def forget(self, zone_key: tuple[str, str]) -> None:
        """The zone is gone: close its connection and keep nothing for it."""
        have = self._by_zone.pop(zone_key, None)
        if have is not None:
            have[1].close()
