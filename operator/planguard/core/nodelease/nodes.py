"""A managed Node as the lease manager reads it: its availability zone, where its agent
is checked in, and whether planguard's taint is on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planguard.core.contract import TAINT_KEY, ZONE_LABEL
from planguard.core.nodelease import checkin


@dataclass
class Node:
    name: str
    zone: str
    target: checkin.Target | None
    tainted: bool  # the lease manager's view; set again after each taint write
    resource_version: str


def parse_node(obj: Mapping[str, Any], agent_port: int, loopback_agent_urls: bool) -> Node:
    meta = obj["metadata"]
    taints = (obj.get("spec") or {}).get("taints") or []
    return Node(meta["name"], (meta.get("labels") or {}).get(ZONE_LABEL, ""),
                checkin.target(obj, agent_port, loopback_agent_urls),
                any(t.get("key") == TAINT_KEY for t in taints), meta["resourceVersion"])
