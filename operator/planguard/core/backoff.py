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
