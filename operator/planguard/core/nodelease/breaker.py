"""The lease manager's circuit-breaker settings, from how many check-ins run at once."""

from __future__ import annotations

from planguard.core.nodelease.scheduler import BreakerLimits


def for_workers(workers: int, renew_interval: float) -> BreakerLimits:
    """The breaker judges the dependency over a few rounds of every worker (never fewer
    than the defaults' samples), and probes a failing one at least once a renew interval."""
    default = BreakerLimits()
    return BreakerLimits(window=max(default.window, workers * 4),
                         min_samples=max(default.min_samples, workers),
                         probe_interval=min(default.probe_interval, renew_interval))
