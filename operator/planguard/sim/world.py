"""An immutable world: DNS, the plans that exist, and each enactor's in-flight work.

Both protocols are written as pure step functions `World -> World`, so the same
transitions serve the exhaustive explorer (hashable states), randomized schedules and the
scenario replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from planguard.core import deltas
from planguard.core.enact import UpdateStep, after, prerequisites_hold
from planguard.core.markers import generation_of
from planguard.core.model import EndpointState, Plan, ZoneState


@dataclass(frozen=True)
class Dns:
    """DNS as a client sees it: per endpoint (generation, addresses), plus planguard's fence
    and, for the naive protocol, its zone-level "active plan" record."""

    fence: str | None = None
    endpoints: tuple[EndpointState, ...] = ()
    active: int = 0  # naive protocol only: generation of the last fully applied plan

    def endpoint(self, name: str) -> EndpointState:
        for e in self.endpoints:
            if e.name == name:
                return e
        return EndpointState(name)

    def with_endpoint(self, st: EndpointState) -> Dns:
        rest = tuple(e for e in self.endpoints if e.name != st.name)
        return replace(self, endpoints=tuple(sorted((*rest, st), key=lambda e: e.name)))

    def snapshot(self) -> ZoneState:
        return ZoneState(fence=self.fence, fence_generation=generation_of(self.fence),
                         endpoints={e.name: e for e in self.endpoints})

    def cas(self, step: UpdateStep) -> Dns | None:
        """RFC 2136 semantics: every prerequisite holds and all updates apply, or nothing."""
        state = self.snapshot()
        if not prerequisites_hold(state, step):
            return None
        z = after(state, step)
        return replace(self, fence=z.fence, endpoints=tuple(
            sorted(z.endpoints.values(), key=lambda e: e.name)))


@dataclass(frozen=True)
class Enactor:
    name: str
    plan: int = 0  # generation it is working on (0: idle)
    applied: int = 0  # the last plan it finished applying
    pending: tuple[object, ...] = ()  # protocol-specific queued writes
    crashed: bool = False


@dataclass(frozen=True)
class World:
    plans: Mapping[int, Plan] = field(default_factory=dict, hash=False, compare=False)
    published: int = 0  # plans 1..published have been created
    deleted: frozenset[int] = frozenset()
    dns: Dns = Dns()
    enactors: tuple[Enactor, ...] = ()

    def key(self) -> tuple[object, ...]:
        """What distinguishes two states (the plans themselves are fixed per run)."""
        return (self.published, self.deleted, self.dns, self.enactors)

    def existing(self) -> list[int]:
        return [g for g in range(1, self.published + 1) if g not in self.deleted]

    def resolved(self, g: int) -> Plan | None:
        """Plan `g` as the full plan it stands for (a delta resolved against its base, as
        core/selection.py does), or None when it cannot be applied: deleted, or a delta
        whose base is gone."""
        if g in self.deleted or g not in self.plans or g > self.published:
            return None
        plan = self.plans[g]
        if plan.base is None:
            return plan
        base = self.plans.get(plan.base) if plan.base in self.existing() else None
        if deltas.base_problem(plan, base) is not None or base is None:
            return None
        return deltas.resolve(plan, base)

    def resolvable(self) -> list[int]:
        return [g for g in self.existing() if self.resolved(g) is not None]

    def enactor(self, name: str) -> Enactor:
        return next(e for e in self.enactors if e.name == name)

    def with_enactor(self, e: Enactor) -> World:
        return replace(self, enactors=tuple(e if x.name == e.name else x for x in self.enactors))
