"""The plan and DNS-state value types every other module speaks."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from planguard.core.contract import API_VERSION, plan_name

# Names under this label are planguard's own bookkeeping, never a user's endpoint.
MARKER_LABEL = "_planguard"


def ipv4_octets(text: str) -> tuple[int, ...] | None:
    """The octets of an IPv4 address written as Python's ipaddress accepts it (four decimal
    octets, no leading zeros), else None: ipaddress's rules at a fraction of its cost, which
    was a tenth of an enactor's CPU reading a large plan of new addresses."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    for p in parts:
        if not (0 < len(p) <= 3 and p.isascii() and p.isdigit()) or (p[0] == "0" and len(p) > 1):
            return None
    octets = tuple(int(p) for p in parts)
    return octets if max(octets) <= 255 else None


@lru_cache(maxsize=1 << 18)
def canonical_address(address: str | bytes) -> str:
    """One text per address (RFC 5952 for IPv6), from text or from packed rdata, so what a
    plan says and what a zone transfer reads compare equal."""
    if isinstance(address, bytes) and len(address) == 4:
        return ".".join(map(str, address))
    if isinstance(address, str) and ipv4_octets(address) is not None:
        return address  # dotted decimal without leading zeros is its own canonical text
    return str(ipaddress.ip_address(address))


@dataclass(frozen=True, slots=True)  # slots: a zone holds hundreds of thousands
class Target:
    address: str
    weight: int = 1
    load_balancer: str = ""
    availability_zone: str = ""

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4  # validated addresses: only IPv6 has a colon


@dataclass(frozen=True)
class Endpoint:
    """What one name of the zone should answer. `remove` and `allow_empty` are explicit."""

    name: str
    ttl: int
    targets: tuple[Target, ...] = ()
    allow_empty: bool = False
    remove: bool = False

    @cached_property
    def published(self) -> tuple[frozenset[str], frozenset[str]]:
        """(A, AAAA) addresses served: every target with weight > 0 (BIND has no weights)."""
        v4 = frozenset(
            canonical_address(t.address) for t in self.targets if t.weight > 0 and t.family == 4
        )
        v6 = frozenset(
            canonical_address(t.address) for t in self.targets if t.weight > 0 and t.family == 6
        )
        return v4, v6

    @cached_property
    def weighted(self) -> tuple[tuple[str, int], ...]:
        """(address, weight) of every target served, sorted: what a server with weighted
        answers serves. Weight 0 drains a target; all-zero is the plan's `allow_empty`
        question (validate.py), never the server's."""
        return tuple(sorted((canonical_address(t.address), t.weight)
                            for t in self.targets if t.weight > 0))


@dataclass(frozen=True)
class Plan:
    name: str
    zone: str  # the DNSZone object's name
    generation: int
    endpoints: tuple[Endpoint, ...]
    uid: str = ""
    # A delta plan (core/dnsplan/deltas.py): the generation of the full plan it changes. Resolved
    # plans keep it, so clean-up knows which base they still need.
    base: int | None = None

    def endpoint(self, name: str) -> Endpoint | None:
        for e in self.endpoints:
            if e.name == name:
                return e
        return None

    @cached_property
    def digest(self) -> str:
        """What the plan says, as 16 hex digits: every endpoint (sorted by name) with its
        TTL, targets and weights (sorted), allowEmpty and remove. Part boundaries, object
        names and list order do not count, nor the generation (compared on its own). A
        generation names one content: the fence carries this (core/dnsplan/authoring.py)."""
        h = hashlib.blake2b(digest_size=8)
        for e in sorted(self.endpoints, key=lambda e: e.name):
            targets = sorted((canonical_address(t.address), t.weight, t.load_balancer,
                              t.availability_zone) for t in e.targets)
            h.update(repr((e.name, e.ttl, targets, e.allow_empty, e.remove)).encode())
            h.update(b"\n")
        return h.hexdigest()


@dataclass(frozen=True)
class EndpointState:
    """What DNS holds for one endpoint, exactly as read (the compare half of the CAS)."""

    name: str
    marker: str | None = None  # raw TXT text of the generation marker, None when absent
    generation: int | None = None
    a: frozenset[str] = frozenset()
    aaaa: frozenset[str] = frozenset()
    ttl: int | None = None
    # Weighted records exactly as read (PowerDNS LUA rdata, wire form), compared exactly
    # like the addresses; empty on a server without weighted answers (BIND).
    lua: frozenset[bytes] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.a and not self.aaaa and not self.lua


@dataclass(frozen=True)
class ZoneState:
    """A consistent snapshot of one zone: the zone-wide fence and every endpoint."""

    fence: str | None = None  # raw TXT of the zone fence marker
    fence_generation: int | None = None
    endpoints: Mapping[str, EndpointState] = field(default_factory=dict)
    serial: int | None = None  # the zone's SOA serial when read, if the reader knows it
    # Names holding records planguard never writes there (CNAME, NS, MX, TXT outside its
    # markers...; the apex as "@"), by type name: never taken over (core/dnsplan/authoring.py).
    foreign: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def endpoint(self, name: str) -> EndpointState:
        return self.endpoints.get(name) or EndpointState(name=name)

    @property
    def live_generations(self) -> set[int]:
        return {e.generation for e in self.endpoints.values() if e.generation is not None}


def _targets(e: Mapping[str, Any]) -> tuple[Target, ...]:
    if "addresses" in e:
        if "targets" in e:  # refused at admission; read without it, refused here
            raise ValueError(f"endpoint {e.get('name')!r} lists both targets and addresses")
        return tuple(Target(address=str(a)) for a in e["addresses"] or ())
    return tuple(
        Target(
            address=str(t["address"]),
            weight=int(t.get("weight", 1)),
            load_balancer=str(t.get("loadBalancer", "")),
            availability_zone=str(t.get("availabilityZone", "")),
        )
        for t in e.get("targets") or ()
    )


def plan_from_object(obj: Mapping[str, Any]) -> Plan:
    """Builds a Plan from a DNSPlan object (dict as the API server returns it). An endpoint
    lists its addresses as `targets` (with weights and placement) or as `addresses` (bare:
    weight 1)."""
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    endpoints = tuple(
        Endpoint(
            name=str(e["name"]),
            ttl=int(e.get("ttl", 60)),
            targets=_targets(e),
            allow_empty=bool(e.get("allowEmpty", False)),
            remove=bool(e.get("remove", False)),
        )
        for e in spec.get("endpoints") or ()
    )
    base = spec.get("base")
    return Plan(
        name=str(meta.get("name", "")),
        zone=str(spec.get("zone", "")),
        generation=int(spec.get("generation", 0)),
        endpoints=endpoints,
        uid=str(meta.get("uid", "")),
        base=None if base is None else int(base),
    )


def endpoint_spec(e: Endpoint) -> dict[str, Any]:
    """An Endpoint as a DNSPlan's spec holds it: the inverse of plan_from_object's reading,
    writing only what differs from the defaults, as bare `addresses` when no target has a
    weight or placement of its own (half the API server's work to admit)."""
    if all(t == Target(t.address) for t in e.targets):
        listed: dict[str, Any] = {"addresses": [t.address for t in e.targets]}
    else:
        listed = {"targets": [
            {"address": t.address, "weight": t.weight,
             **({"availabilityZone": t.availability_zone} if t.availability_zone else {}),
             **({"loadBalancer": t.load_balancer} if t.load_balancer else {})}
            for t in e.targets]}
    return {"name": e.name, "ttl": e.ttl, **listed,
            **({"allowEmpty": True} if e.allow_empty else {}),
            **({"remove": True} if e.remove else {})}


def plan_body(zone: str, generation: int, endpoints: Sequence[Mapping[str, Any]],
              namespace: str | None = None, labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None,
              base: int | None = None) -> dict[str, Any]:
    """A DNSPlan object to create: named `<zone>-<generation>` as the API server demands;
    with `base`, a delta plan listing only what changed since that full plan."""
    meta: dict[str, Any] = {"name": plan_name(zone, generation)}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": API_VERSION, "kind": "DNSPlan", "metadata": meta,
            "spec": {"zone": zone, "generation": generation, "endpoints": list(endpoints),
                     **({"base": base} if base is not None else {})}}
