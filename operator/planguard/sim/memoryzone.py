"""An in-memory DNS primary with RFC 2136's all-or-nothing prerequisite semantics, for
the unit and property tests: the same EndpointWrite batches the real provider sends to
BIND are built into the same messages (core/dnsplan/cas.py), checked and applied here in
one atomic step, LUA records compared as on a server with weights. Mutable; sim/world.Dns is its
immutable twin for the model checker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from planguard.core.dnsplan import cas
from planguard.core.dnsplan.enact import EndpointWrite, UpdateStep
from planguard.core.dnsplan.markers import generation_of
from planguard.core.dnsplan.model import EndpointState, ZoneState


@dataclass
class MemoryZone:
    fence: str | None = None
    endpoints: dict[str, EndpointState] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def snapshot(self) -> ZoneState:
        return ZoneState(fence=self.fence, fence_generation=generation_of(self.fence),
                         endpoints=dict(self.endpoints))

    def write(
        self, writes: Sequence[EndpointWrite], fence_expect: str | None, fence_new: str | None
    ) -> bool:
        """True if applied; False (nothing changed) if any prerequisite failed."""
        state = self.snapshot()
        msg = cas.message(UpdateStep(tuple(writes), fence_expect, fence_new), lua=True)
        if not cas.holds(state, msg):
            return False
        z = cas.applied(state, msg)
        self.fence, self.endpoints = z.fence, dict(z.endpoints)
        return True

    def blind_write(self, name: str, state: EndpointState) -> None:
        """What the post-mortem's enactor did: replace without a prerequisite."""
        self.endpoints[name] = replace(state, name=name)
