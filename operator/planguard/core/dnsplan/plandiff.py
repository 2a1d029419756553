"""`planguard diff`: what a plan asks each endpoint to serve, against another plan or
against what DNS serves, endpoint by endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planguard.core.dnsplan.model import EndpointState, Plan, ZoneState
from planguard.core.dnsplan.weights import served_weights

Served = dict[str, list[str]]  # endpoint name -> addresses (address=weight when weighted)


def weighted(zone: Mapping[str, Any] | None) -> bool:
    """The zone's server serves weights (spec.server.kind powerdns): weights count."""
    server = ((zone or {}).get("spec") or {}).get("server") or {}
    return bool(server.get("kind") == "powerdns")


def of_plan(plan: Plan, weights: bool = False) -> Served:
    """What each endpoint of the plan serves: its addresses, or each with its weight."""
    if weights:
        return {e.name: [f"{a}={w}" for a, w in e.weighted] for e in plan.endpoints}
    return {e.name: sorted(e.published[0] | e.published[1]) for e in plan.endpoints}


def of_endpoint(st: EndpointState, weights: bool) -> list[str]:
    """What DNS serves at a name, as of_plan writes it; LUA that planguard did not write
    is shown as such, never guessed at."""
    plain = sorted(st.a | st.aaaa)
    if not weights:
        return plain
    w = served_weights(st.lua)
    lua = ["(LUA not written by planguard)"] if w is None else [
        f"{a}={n}" for a, n in sorted(w.items())]
    return lua + [f"{a} (plain, unweighted)" for a in plain]


def of_dns(state: ZoneState, plan: Served, weights: bool) -> Served:
    """What DNS serves at the names planguard manages and at those the plan names (a
    name planguard never wrote elsewhere in the zone is not its business)."""
    return {n: of_endpoint(e, weights) for n, e in state.endpoints.items()
            if e.marker is not None or n in plan}


def changes(left: Served, right: Served, lname: str, rname: str) -> list[dict[str, Any]]:
    """Every endpoint whose two sides differ (one side absent included), by name."""
    return [{"endpoint": n, lname: left.get(n), rname: right.get(n)}
            for n in sorted(set(left) | set(right)) if left.get(n) != right.get(n)]
