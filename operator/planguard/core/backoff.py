"""Capped, jittered exponential backoff; the randomness is passed in."""

from __future__ import annotations

import random


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """AWS's "full jitter": uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def equal_jitter(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Uniform in [d/2, d] with d = min(cap, base * 2**attempt): the wait grows with every
    failure (full jitter may draw ~0 at any attempt), so a zone whose DNS server keeps
    failing costs one exchange's deadline per ever longer wait, at most every cap/2 s."""
    d = min(cap, base * (2 ** min(attempt, 30)))
    return rng.uniform(d / 2, d)


class EnactorWaits:
    """The enactor's retry table: how long a zone waits before its next reconcile (or
    round), by how the last one ended."""

    @staticmethod
    def contended(rng: random.Random) -> float:
        """Conflicts every round: soon again, spread so racing enactors separate."""
        return 0.05 + rng.uniform(0.0, 0.2)

    @staticmethod
    def withdrawn(rng: random.Random) -> float:
        """The chosen plan is being deleted: soon gone from the cache, and then the newest
        plan left is chosen; look again shortly, not a drift interval later."""
        return 0.5 + rng.uniform(0.0, 0.5)

    @staticmethod
    def conflict_round(attempt: int, rng: random.Random) -> float:
        """RFC 2136 §7.20: retry after a random delay; growing, so that enactors racing on
        one plan mostly let the first finish instead of re-reading the zone in a loop."""
        return full_jitter(attempt, 0.05, 1.0, rng)

    @staticmethod
    def dns_failed(attempts: int, rng: random.Random) -> float:
        """Growing waits: a server that keeps timing out costs this zone one deadline per
        ever longer wait, and never the other zones' threads."""
        return equal_jitter(attempts, 0.5, 30.0, rng)
