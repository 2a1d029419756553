"""Flap damping for health checks: a target changes state only after enough consecutive
results the other way (failures to go down, successes to come up)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Health(Enum):
    PENDING = "pending"  # new, or nothing known yet (e.g. a planner that just took over)
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class TargetHealth:
    state: Health = Health.PENDING
    streak: int = 0  # consecutive results disagreeing with `state` (PENDING: successes)
    since: float = 0.0  # clock time of the last state change

    def observe(self, ok: bool, now: float, to_down: int, to_up: int) -> TargetHealth:
        if self.state is Health.UP:
            if ok:
                return TargetHealth(Health.UP, 0, self.since)
            n = self.streak + 1
            return TargetHealth(Health.DOWN, 0, now) if n >= to_down else \
                TargetHealth(Health.UP, n, self.since)
        if self.state is Health.DOWN:
            if not ok:
                return TargetHealth(Health.DOWN, 0, self.since)
            n = self.streak + 1
            return TargetHealth(Health.UP, 0, now) if n >= to_up else \
                TargetHealth(Health.DOWN, n, self.since)
        # PENDING: comes up after `to_up` successes, goes down after `to_down` failures.
        if ok:
            n = max(self.streak, 0) + 1
            return TargetHealth(Health.UP, 0, now) if n >= to_up else \
                TargetHealth(Health.PENDING, n, self.since)
        n = min(self.streak, 0) - 1
        return TargetHealth(Health.DOWN, 0, now) if -n >= to_down else \
            TargetHealth(Health.PENDING, n, self.since)
