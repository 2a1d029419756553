"""Lease-based leader election with client-go's semantics, as a pure decision.

A candidate judges another holder's lease by when IT last saw the record change (not by
the holder's clock): the lease is expired once `duration` has passed since then with no
change. Defaults are client-go's: 15 s lease, 10 s renew deadline, 2 s retry period.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 15.0, 10.0, 2.0


@dataclass(frozen=True)
class LeaseRecord:
    holder: str | None
    duration: float = LEASE_DURATION
    acquired: float = 0.0  # wall-clock seconds, as written in the Lease
    renewed: float = 0.0
    transitions: int = 0


@dataclass(frozen=True)
class Observation:
    """The last record this candidate saw, and when (on its own monotonic clock)."""

    record: LeaseRecord | None
    at: float


def observe(prev: Observation | None, record: LeaseRecord | None, now: float) -> Observation:
    if prev is not None and prev.record == record:
        return prev
    return Observation(record, now)


def claim(obs: Observation, me: str, now: float, wall: float) -> LeaseRecord | None:
    """The record to write to acquire or renew leadership, or None while someone else's
    lease is live. The write itself must be conditional on the record read."""
    rec = obs.record
    if rec is None or not rec.holder:
        return LeaseRecord(me, LEASE_DURATION, wall, wall, rec.transitions if rec else 0)
    if rec.holder == me:
        return replace(rec, renewed=wall)
    if obs.at + rec.duration > now:
        return None
    return LeaseRecord(me, LEASE_DURATION, wall, wall, rec.transitions + 1)


def still_leading(last_renewed: float, now: float) -> bool:
    """A leader that has not renewed within the renew deadline must stop acting."""
    return now - last_renewed < RENEW_DEADLINE
