"""What an enactor needs from a DNS server: a consistent read, and a conditional write."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from planguard.core.enact import EndpointWrite
from planguard.core.model import ZoneState


class DnsErrorKind(StrEnum):
    UNREACHABLE = "unreachable"  # connection refused or reset
    UNRESOLVABLE = "unresolvable"  # the server's host name does not resolve (now)
    TIMEOUT = "timeout"
    TSIG = "tsig"  # bad key name, secret or clock: the server did not trust us
    REFUSED = "refused"  # policy or a frozen zone
    ZONE_MISSING = "zone_missing"  # the server is not authoritative for the zone
    SERVFAIL = "servfail"
    PROTOCOL = "protocol"  # FORMERR or an answer we could not parse


class DnsError(Exception):
    """The state of the zone is unknown: never treated as empty, never written over."""

    def __init__(self, kind: DnsErrorKind, message: str) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind


class WriteOutcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"  # a prerequisite failed: someone else wrote; re-read and decide again


class DnsProvider(Protocol):
    def read_zone(self) -> ZoneState: ...

    def write(
        self, writes: Sequence[EndpointWrite], fence_expect: str | None, fence_new: str | None
    ) -> WriteOutcome: ...

    def close(self) -> None: ...
