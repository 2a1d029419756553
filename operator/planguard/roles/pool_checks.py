"""The planner's health checks of its pools' targets: which targets get checked when (one
in flight per target, a bounded number per pool: core/dnsplan/checkqueue.py), what the
checks said (core/dnsplan/damping.py), and which targets are never checked
(core/dnsplan/targets.py). The checks themselves run in targetchecks.Checker."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from planguard.core.dnsplan import pools
from planguard.core.dnsplan.checkqueue import CheckQueue
from planguard.core.dnsplan.damping import Health, TargetHealth
from planguard.core.dnsplan.pools import Pool, PoolKey
from planguard.core.dnsplan.targets import TargetPolicy
from planguard.targetchecks import Checker


class PoolChecks:
    def __init__(self, policy: TargetPolicy, checks_per_pool: int) -> None:
        # Asked for every target several times a tick: answered once per address.
        self._refusal = functools.lru_cache(maxsize=1 << 16)(policy.refusal)
        self.health: dict[tuple[PoolKey, str], TargetHealth] = {}
        self._lock = threading.Lock()
        self._queue = CheckQueue(checks_per_pool)  # guarded by _lock
        self._checker = Checker()

    def refusals(self, pool: Pool) -> dict[str, str]:
        return pools.refusals(pool, self._refusal)

    def round(self, found: Iterable[Pool], planners: Mapping[tuple[str, str], PoolKey],
              now: float) -> None:
        """Starts the checks due now, of the pools that plan their zone."""
        live = []
        for pool in found:
            if pool.check.type == "None" or planners.get((pool.key[0], pool.zone)) != pool.key:
                continue
            refused = self.refusals(pool)
            allowed = [t.address for t in pool.targets if t.address not in refused]
            live += [(pool.key, a) for a in allowed]
            with self._lock:
                due = self._queue.take(pool.key, allowed, now, pool.check.interval)
            c = pool.check
            for a in due:
                self._checker.submit(c.type, a, pool.check_ports.get(a, c.port), c.path,
                                     c.timeout, self._observer(pool, a))
        with self._lock:
            self._queue.retain(live)

    def _observer(self, pool: Pool, address: str) -> Callable[[bool], None]:
        c, k = pool.check, (pool.key, address)

        def done(ok: bool) -> None:
            with self._lock:
                self._queue.done(pool.key, address)
                self.health[k] = self.health.get(k, TargetHealth()).observe(
                    ok, time.monotonic(), c.to_down, c.to_up)
        return done

    def states(self, pool: Pool) -> dict[str, Health]:
        with self._lock:
            checked = {t.address: h.state for t in pool.targets
                       if (h := self.health.get((pool.key, t.address))) is not None}
        return pools.target_states(pool, checked, self.refusals(pool))

    def stop(self) -> None:
        self._checker.stop()
