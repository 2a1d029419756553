"""An immutable world: DNS, the plans that exist, and each enactor's in-flight work.

Both protocols are written as pure step functions `World -> World`, so the same
transitions serve the exhaustive explorer (hashable states), randomized schedules and the
scenario replay.

Each enactor acts for an owner (a DNSZone object: core/dnsplan/authoring.py). By default every
one acts for the team's DNSZone, TEAM, whose plans are `plans`; a `Rival` is a second
DNSZone (another namespace or another cluster) naming the same DNS zone, with its own
plans and rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from planguard.core.dnsplan import cas, deltas
from planguard.core.dnsplan.authoring import Authority, Consent, owner_of
from planguard.core.dnsplan.enact import UpdateStep
from planguard.core.dnsplan.markers import generation_of
from planguard.core.dnsplan.model import EndpointState, Plan, ZoneState


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

    @staticmethod
    def of(state: ZoneState) -> Dns:
        """`state` as a (hashable) Dns value: an enactor's cached snapshot."""
        return Dns(fence=state.fence, endpoints=tuple(
            sorted(state.endpoints.values(), key=lambda e: e.name)))

    def cas(self, step: UpdateStep) -> Dns | None:
        """RFC 2136 semantics: every prerequisite holds and all updates apply, or nothing."""
        state, msg = self.snapshot(), cas.message(step, lua=True)
        if not cas.holds(state, msg):
            return None
        return replace(Dns.of(cas.applied(state, msg)), active=self.active)


TEAM = "team/web"  # the owner (core/dnsplan/authoring.owner_id) every enactor acts for by default
DNS_ZONE = "ten.test"


@dataclass(frozen=True)
class Rival:
    """Another DNSZone naming the same DNS zone: its rules, its plans in the order they are
    created, and what those plans say about themselves (a deliberate jump)."""

    auth: Authority
    plans: tuple[Plan, ...] = ()
    consent: Mapping[int, Consent] = field(default_factory=dict)


@dataclass(frozen=True)
class Enactor:
    name: str
    plan: int = 0  # generation it is working on (0: idle)
    applied: int = 0  # the last plan it finished applying
    pending: tuple[object, ...] = ()  # protocol-specific queued writes
    # planguard: the zone as last read plus its own writes since (core/dnsplan/enactment.Reads)
    snapshot: Dns | None = None
    crashed: bool = False
    owner: str = TEAM  # the DNSZone it acts for


@dataclass(frozen=True)
class Setup:
    """What is fixed for a whole run, so no part of a state."""

    order: tuple[int, ...] = ()  # the team's generations in creation order; () = ascending
    typos: frozenset[int] = frozenset()  # the team's generations nobody meant
    rules: Mapping[str, Authority] = field(default_factory=dict)  # owner -> its DNSZone's
    consent: Mapping[int, Consent] = field(default_factory=dict)  # the team's, by generation
    rival: Rival | None = None


@dataclass(frozen=True)
class World:
    plans: Mapping[int, Plan] = field(default_factory=dict, hash=False, compare=False)
    published: int = 0  # the first `published` plans of `sequence` have been created
    deleted: frozenset[int] = frozenset()
    dns: Dns = Dns()
    enactors: tuple[Enactor, ...] = ()
    rival_published: int = 0  # the first ones of `setup.rival.plans` have been created
    setup: Setup = field(default=Setup(), hash=False, compare=False)
    # The team's plans a user `kubectl delete`d: they carry a deletionTimestamp until the
    # API server removes them (then they are in `deleted` too). `held`: those the clean-up's
    # live-plan finalizer kept, because they were live when the deletion began.
    withdrawn: frozenset[int] = frozenset()
    held: frozenset[int] = frozenset()

    def key(self) -> tuple[object, ...]:
        """What distinguishes two states (the plans themselves are fixed per run)."""
        return (self.published, self.rival_published, self.deleted, self.dns, self.enactors,
                self.withdrawn, self.held)

    @property
    def sequence(self) -> tuple[int, ...]:
        """The team's generations in the order they are created."""
        return self.setup.order or tuple(sorted(self.plans))

    @cached_property
    def _created(self) -> tuple[int, ...]:
        return self.sequence[: self.published]

    def created(self) -> tuple[int, ...]:
        return self._created

    def existing(self) -> list[int]:
        return sorted(g for g in self._created if g not in self.deleted)

    def newest(self) -> int:
        """The team's newest plan that someone meant (typos are the rules' to refuse) and
        did not withdraw; 0 before the first."""
        return max((g for g in self._created
                    if g not in self.setup.typos and g not in self.withdrawn), default=0)

    def authority(self, owner: str) -> Authority:
        """The rules of `owner`'s DNSZone (defaults: core/dnsplan/authoring.py's)."""
        rival = self.setup.rival
        if rival is not None and owner == rival.auth.owner:
            return rival.auth
        return self.setup.rules.get(owner) or Authority(owner=owner, zone=DNS_ZONE)

    def owner_of_writer(self, writer: str | None) -> str | None:
        """Whom the enactor that signed a marker or fence (`by=`) acts for."""
        return next((e.owner for e in self.enactors if e.name.lower() == writer), None)

    def plans_of(self, owner: str) -> list[tuple[Plan, Consent]]:
        """The plans `owner`'s enactors may apply now (resolved), with their consent."""
        rival = self.setup.rival
        if rival is not None and owner == rival.auth.owner:
            return [(p, rival.consent.get(p.generation, Consent()))
                    for p in rival.plans[: self.rival_published]]
        return [(p, self.setup.consent.get(g, Consent())) for g in self.resolvable()
                if (p := self.resolved(g)) is not None]

    def live_generation(self) -> int | None:
        """The team's plan in the fence, which the clean-up holds with its finalizer."""
        return generation_of(self.dns.fence) if owner_of(self.dns.fence) == TEAM else None

    def removable(self, g: int) -> bool:
        """The API server removes a plan a user deleted once no finalizer holds it: the
        clean-up lets go of its live-plan finalizer when the plan is superseded."""
        return g in self.withdrawn and g not in self.deleted and (
            g not in self.held or g != self.live_generation())

    def resolved(self, g: int) -> Plan | None:
        """Plan `g` as the full plan it stands for (a delta resolved against its base, as
        core/dnsplan/selection.py does), or None when it cannot be applied: deleted, or a delta
        whose base is gone."""
        if g in self.deleted or g not in self.plans or g not in self._created:
            return None
        plan = self.plans[g]
        if plan.base is None:
            return plan
        base = self.plans.get(plan.base) if plan.base in self.existing() else None
        if deltas.base_problem(plan, base) is not None or base is None:
            return None
        return deltas.resolve(plan, base)

    def content(self, g: int) -> Plan:
        """What plan `g` says once resolved, whether or not it still exists (the digest a
        fence carries for it)."""
        plan = self.plans[g]
        return plan if plan.base is None else deltas.resolve(plan, self.plans[plan.base])

    def resolvable(self) -> list[int]:
        return [g for g in self.existing() if self.resolved(g) is not None]

    def enactor(self, name: str) -> Enactor:
        return next(e for e in self.enactors if e.name == name)

    def with_enactor(self, e: Enactor) -> World:
        # The explorer's hottest step: built directly, dataclasses.replace costs twice as much.
        return World(self.plans, self.published, self.deleted, self.dns,
                     tuple(e if x.name == e.name else x for x in self.enactors),
                     self.rival_published, self.setup, self.withdrawn, self.held)
