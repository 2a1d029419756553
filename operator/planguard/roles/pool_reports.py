"""What the planner (roles/planner.py) tells people about a DNSEndpointPool: its status, and
one Event per change of what held it back, refused its targets or failed its plan write.
`PoolMemo` is what was last said, so nothing is said twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planguard import metrics
from planguard.core import conditions
from planguard.core.conditions import Condition
from planguard.core.dnsplan import planretry, pools
from planguard.core.dnsplan.damping import Health
from planguard.core.dnsplan.planner import Decision, Hold
from planguard.core.dnsplan.pools import Pool
from planguard.kube.api import PlanguardApi
from planguard.roles.pool_checks import PoolChecks

log = logging.getLogger("planguard.roles.planner")  # the planner's lines: one logger


@dataclass
class PoolMemo:
    holds: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)
    refused: planretry.Refused | None = None  # the last plan write failed: backing off
    wrote: int | None = None  # the generation this planner last wrote for the pool
    refusals: tuple[str, ...] = ()  # target refusals last reported in an Event


class PoolReports:
    def __init__(self, api: PlanguardApi, checks: PoolChecks) -> None:
        self.api, self.checks = api, checks

    def failed(self, obj: dict[str, Any], memo: PoolMemo, pool: Pool, reason: str,
               message: str, now: float) -> None:
        """A plan refused or not written: the pool backs off (core/dnsplan/planretry.py)."""
        memo.refused = planretry.after_failure(memo.refused, reason, message, now,
                                               pool.spec_generation)
        log.warning("%s: %s; backing off %.0f s", reason, message, memo.refused.retry_at - now)
        metrics.PLANNER_FAILURES.labels(f"{pool.key[0]}/{pool.zone}", reason).inc()
        self.api.event(obj, "DNSEndpointPool", "Warning", reason, message)

    def backing_off(self, pool: Pool, obj: dict[str, Any], memo: PoolMemo,
                    states: dict[str, Health]) -> None:
        assert memo.refused is not None
        self.status(pool, obj, memo, None, states, [pools.backing_off(memo.refused)])

    def refusals(self, pool: Pool, obj: dict[str, Any], memo: PoolMemo) -> None:
        """One Warning Event per target refusal when the set changes."""
        why = (*self.checks.refusals(pool).values(), *pool.bad_slice_addresses)
        if why != memo.refusals:
            memo.refusals = why
            for w in sorted(set(why))[:pools.REFUSALS_SHOWN]:
                self.api.event(obj, "DNSEndpointPool", "Warning", "TargetRefused", w)

    def holds(self, obj: dict[str, Any], memo: PoolMemo, zlabel: str,
              holds: tuple[Hold, ...]) -> None:
        """What held the plan back: counted and told when the set changes."""
        sig = tuple(f"{h.reason}:{','.join(h.targets)}" for h in holds)
        if sig != memo.holds:
            memo.holds = sig
            for h in holds:
                metrics.PLANNER_HOLDS.labels(zlabel, h.reason).inc()
                self.api.event(obj, "DNSEndpointPool", "Warning", "HeldBack",
                               f"{h.reason}: {h.message} ({', '.join(h.targets) or 'all'})")

    def cannot_plan(self, pool: Pool, obj: dict[str, Any], memo: PoolMemo,
                    states: dict[str, Health], cond: Condition) -> None:
        """Bad input: a condition, one Event per change, and no plan."""
        if memo.holds != (cond.reason,):
            memo.holds = (cond.reason,)
            self.api.event(obj, "DNSEndpointPool", "Warning", cond.reason, cond.message)
        self.status(pool, obj, memo, None, states, [cond])

    def status(self, pool: Pool, obj: dict[str, Any], memo: PoolMemo, d: Decision | None,
               states: dict[str, Health], conds: list[Condition],
               extra: dict[str, Any] | None = None) -> None:
        refused_cond, counts = pools.pool_status(pool, states, self.checks.refusals(pool), d,
                                                 obj.get("status") or {})
        conds = [*conds, refused_cond]
        new = {"observedGeneration": (obj.get("metadata") or {}).get("generation"), **counts,
               **(extra or {})}
        # Fields compared with what this planner last wrote, not with the cached pool.
        body = conditions.status_update(obj.get("status") or {}, conds, datetime.now(UTC),
                                        new["observedGeneration"], new, previous=memo.status)
        if body is None:
            return
        written = self.api.write_status("dnsendpointpools", pool.key[0], pool.key[1], body)
        memo.status = new if written else {}
