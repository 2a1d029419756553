"""Allocating plan generations without a race.

The zone's annotation `planguard.io/highest-generation` is a counter bumped by a write
conditional on the zone's resourceVersion; a plan's name is `<zone>-<generation>`, so the
API server itself refuses a second plan with the same generation. Two planners that both
believe they lead get distinct generations, each above every one allocated before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planguard.core.contract import HIGHEST_GENERATION_ANNOTATION as HIGHEST
from planguard.kube.api import PlanguardApi
from planguard.kube.rest import ApiError


class AllocationFailed(Exception):
    pass


def allocate(api: PlanguardApi, ns: str, zone: str, at_least: int = 0) -> int:
    """Reserves the next generation for `zone` (above `at_least`, e.g. the newest plan seen)."""
    for _ in range(20):
        obj = api.get("dnszones", ns, zone)
        meta = obj["metadata"]
        highest = int((meta.get("annotations") or {}).get(HIGHEST, "0"))
        gen = max(highest, at_least) + 1
        body = {"metadata": {"annotations": {HIGHEST: str(gen)},
                             "resourceVersion": meta["resourceVersion"]}}
        try:
            api.patch("dnszones", ns, zone, body)
        except ApiError as e:
            if e.status == 409:
                continue  # someone else moved the counter: read it again
            raise
        return gen
    raise AllocationFailed(f"could not reserve a generation for zone {ns}/{zone}")


def create_plan(
    api: PlanguardApi, ns: str, zone: str, body_for: Callable[[int], dict[str, Any]],
    at_least: int = 0,
) -> int:
    """Allocates a generation and creates the plan; a name already taken (a person created
    that generation by hand) moves on to the next generation."""
    for _ in range(20):
        gen = allocate(api, ns, zone, at_least)
        try:
            api.create("dnsplans", ns, body_for(gen))
        except ApiError as e:
            if e.status == 409:
                at_least = gen
                continue
            raise
        return gen
    raise AllocationFailed(f"could not create a plan for zone {ns}/{zone}")
