"""What an enactor needs from a DNS server: a consistent read, and a conditional write."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from planguard.core.dnsplan.cas import WriteOutcome
from planguard.core.dnsplan.enact import EndpointWrite, UpdateStep
from planguard.core.dnsplan.model import ZoneState


class DnsErrorKind(StrEnum):
    UNREACHABLE = "unreachable"  # connection refused or reset
    UNRESOLVABLE = "unresolvable"  # the server's host name does not resolve (now)
    TIMEOUT = "timeout"
    TSIG = "tsig"  # bad key name, secret or clock: the server did not trust us
    REFUSED = "refused"  # policy or a frozen zone
    ZONE_MISSING = "zone_missing"  # the server is not authoritative for the zone
    SERVFAIL = "servfail"
    PROTOCOL = "protocol"  # FORMERR or an answer we could not parse


__all__ = ["DnsError", "DnsErrorKind", "DnsProvider", "WriteOutcome"]


class DnsError(Exception):
    """The state of the zone is unknown: never treated as empty, never written over."""

    def __init__(self, kind: DnsErrorKind, message: str) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind


class DnsProvider(Protocol):
    """One zone on one server. The enactor and clean-up see only this; dns/pool.py picks
    the implementation from the DNSZone's spec.server.kind (rfc2136.py for BIND,
    powerdns.py for PowerDNS)."""

    # The PowerDNS LUA selector when the server serves weights (core/dnsplan/weights.py), else None:
    # what core.dnsplan.enact.decide and core.dnsplan.cleanup.depended_on compare and write.
    lua: str | None
    # Records per UPDATE this server handles well within the timeout (the enactor sends
    # at most this many, and at most its own --max-records-per-update).
    max_records: int

    def read_zone(self) -> ZoneState:
        """Every endpoint, marker and the fence from one consistent version of the zone."""
        ...

    def read_serial(self) -> int:
        """The zone's SOA serial: one small query that says whether anything changed."""
        ...

    def write(
        self, writes: Sequence[EndpointWrite], fence_expect: str | None, fence_new: str | None
    ) -> WriteOutcome:
        """One atomic compare-and-swap: applied whole, or nothing changed."""
        ...

    def write_steps(self, steps: Sequence[UpdateStep]) -> list[WriteOutcome]:
        """Each step its own compare-and-swap, in flight together; outcomes in order."""
        ...

    def close(self) -> None: ...
