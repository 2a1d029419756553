"""Allocating plan generations without a race.

The zone's annotation `planguard.io/highest-generation` is a counter bumped by a write
conditional on the zone's resourceVersion; a plan's name is `<zone>-<generation>`, so the
API server itself refuses a second plan with the same generation. Two planners that both
believe they lead get distinct generations, each above every one allocated before.

A generation is kept only by a plan that was created: when the API server refuses the
plan (admission, quota, policy), the counter is put back, conditional on nobody having
moved it since, so refused plans never make it run away. (Creating first and counting
after would leave a window in which a created plan is above the counter, and a deleted
plan's generation could be handed out again.) If it cannot be put back, someone else
allocated above it: the gap is theirs too, and the planner's backoff bounds the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from planguard.core.contract import HIGHEST_GENERATION_ANNOTATION as HIGHEST
from planguard.kube.api import PlanguardApi
from planguard.kube.rest import MERGE_PATCH, ApiError

log = logging.getLogger(__name__)


class AllocationFailed(Exception):
    pass


def _set(api: PlanguardApi, ns: str, zone: str, value: str | None,
         resource_version: str) -> str:
    """The counter set (None: removed) if the zone is still at `resource_version`; the
    zone's new resourceVersion. The only write the planner makes to a DNSZone."""
    body = {"metadata": {"annotations": {HIGHEST: value},
                         "resourceVersion": resource_version}}
    obj = api.client.json("PATCH", api.path("dnszones", ns, zone), body=body,
                          content_type=MERGE_PATCH)
    return str(obj["metadata"]["resourceVersion"])


def _reserve(api: PlanguardApi, ns: str, zone: str,
             at_least: int) -> tuple[int, str | None, str]:
    """Reserves the next generation for `zone` (above `at_least`, e.g. the newest plan
    seen): it, the counter's value before it and the zone's resourceVersion after it."""
    for _ in range(20):
        meta = api.get("dnszones", ns, zone)["metadata"]
        before = (meta.get("annotations") or {}).get(HIGHEST)
        gen = max(int(before or "0"), at_least) + 1
        try:
            return gen, before, _set(api, ns, zone, str(gen), meta["resourceVersion"])
        except ApiError as e:
            if e.status == 409:
                continue  # someone else moved the counter: read it again
            raise
    raise AllocationFailed(f"could not reserve a generation for zone {ns}/{zone}")


def _put_back(api: PlanguardApi, ns: str, zone: str, before: str | None, rv: str) -> None:
    """Best effort, never hiding the refusal being handled: 409 or 404 means someone moved
    the counter on or the zone is gone, so there is nothing of ours to undo."""
    try:
        _set(api, ns, zone, before, rv)
    except ApiError as e:
        if e.status not in (404, 409):
            log.warning("could not put the generation counter of %s/%s back: %s", ns, zone, e)


def create_plan(
    api: PlanguardApi, ns: str, zone: str, body_for: Callable[[int], dict[str, Any]],
    at_least: int = 0,
) -> int:
    """Allocates a generation and creates the plan; a name already taken (a person created
    that generation by hand) moves on to the next generation."""
    for _ in range(20):
        gen, before, rv = _reserve(api, ns, zone, at_least)
        try:
            api.create("dnsplans", ns, body_for(gen))
        except ApiError as e:
            if e.status == 409:
                at_least = gen
                continue
            if 400 <= e.status < 500:  # refused: nothing was created under this generation
                _put_back(api, ns, zone, before, rv)
            raise
        return gen
    raise AllocationFailed(f"could not create a plan for zone {ns}/{zone}")
