"""Per-zone disruption states and tainting rates, as Kubernetes' node lifecycle controller
computes them (ComputeZoneState, ReducedQPSFunc, master disruption mode), pure.

A zone where most leases lapse at once is more likely suffering from our own view (or the
dependency) than from every host failing: tainting slows to a trickle there, stops in
small zones, and stops everywhere when every zone looks fully down or the dependency
itself is failing. One deliberate difference from Kubernetes: a zone whose leases ALL
lapse is frozen too (Kubernetes drains it at the normal rate to move work away); for a
lease manager, a whole zone going silent at once is its own view failing far more often
than every host of the zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

NORMAL_RATE = 0.1  # nodes/s (--node-eviction-rate)
SECONDARY_RATE = 0.01  # nodes/s (--secondary-node-eviction-rate)
LARGE_ZONE = 50  # --large-cluster-size-threshold
UNHEALTHY_SHARE = 0.55  # --unhealthy-zone-threshold
MIN_UNHEALTHY = 3  # "notReady > 2"


class Disruption(Enum):
    """How disrupted a zone's leases look (the node lifecycle controller's zone states)."""

    NORMAL = "Normal"
    PARTIAL = "PartialDisruption"
    FULL = "FullDisruption"


@dataclass(frozen=True)
class ZoneCount:
    live: int
    lapsed: int


def zone_state(c: ZoneCount) -> Disruption:
    if c.live == 0 and c.lapsed > 0:
        return Disruption.FULL
    if c.lapsed >= MIN_UNHEALTHY and c.lapsed / (c.live + c.lapsed) >= UNHEALTHY_SHARE:
        return Disruption.PARTIAL
    return Disruption.NORMAL


def taint_rates(zones: Mapping[str, ZoneCount], dependency_ok: bool) -> dict[str, float]:
    """Taints per second allowed in each zone. Zero everywhere (fail static) while the
    dependency fails or every zone looks fully disrupted."""
    states = {z: zone_state(c) for z, c in zones.items()}
    if not dependency_ok or (states and all(s is Disruption.FULL for s in states.values())):
        return dict.fromkeys(zones, 0.0)
    out = {}
    for z, s in states.items():
        if s is Disruption.PARTIAL:
            out[z] = SECONDARY_RATE if zones[z].live + zones[z].lapsed > LARGE_ZONE else 0.0
        elif s is Disruption.FULL:
            out[z] = 0.0
        else:
            out[z] = NORMAL_RATE
    return out
