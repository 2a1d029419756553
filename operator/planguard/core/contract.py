"""The names planguard shares with the cluster and with people: API group and version,
finalizers, labels, annotations, the taint, and how plan objects are named and ordered.

The lowest module of all (it imports nothing of planguard), so every layer reads these
from here: a name changed in one place changes everywhere, including in the CRDs' CEL
rules' expectations (`<spec.zone>-<spec.generation>[-p<i>]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "planguard.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# On every plan DNS may depend on: a manual delete waits until it is superseded.
LIVE_PLAN_FINALIZER = f"{GROUP}/live-plan"
# The zone's generation counter (kube/generations.py bumps it conditionally).
HIGHEST_GENERATION_ANNOTATION = f"{GROUP}/highest-generation"
ROLLBACK_OF_ANNOTATION = f"{GROUP}/rollback-of"
POOL_LABEL = f"{GROUP}/pool"  # on a plan: the DNSEndpointPool that wrote it
# On a plan: the digest of the content a person approved (`planguard approve`), so a held
# plan goes ahead, and an approval never carries over to other content.
APPROVE_ANNOTATION = f"{GROUP}/approve"
# On a plan: "true" lets its generation jump further above the zone's fence than the
# DNSZone's spec.maxGenerationJump.
ALLOW_JUMP_ANNOTATION = f"{GROUP}/allow-generation-jump"
# On a DNSZone: the claim (fence owner) this DNSZone takes over, e.g. from a deleted owner.
ADOPT_FROM_ANNOTATION = f"{GROUP}/adopt-from"
# On a DNSZone: the fence generation (left too high) its newest plan may lower.
REBASE_ANNOTATION = f"{GROUP}/rebase-fence"

# The lease manager's contract with Nodes and their agents.
MANAGED_LABEL = f"{GROUP}/managed"  # the default selector of managed Nodes
FLEET_LABEL = f"{GROUP}/fleet"  # Nodes created by `planguard fleet`
AGENT_ANNOTATION = f"{GROUP}/agent-url"  # where a Node's agent answers check-ins
ZONE_LABEL = "topology.kubernetes.io/zone"  # Kubernetes' own, read as the node's zone
LEASE_LABEL = f"{GROUP}/node"  # on a node's Lease: the node it belongs to
TAINT_KEY = f"{GROUP}/lease-lapsed"
LEASES_PAUSE_CONFIGMAP = "planguard-leases"  # `paused: "true"` in it pauses the manager


def kopf_finalizer(component: str) -> str:
    """kopf's own finalizer, distinct per component so no two roles ever collide."""
    return f"{GROUP}/kopf-{component}"


def plan_name(zone: str, generation: int, part: int | None = None) -> str:
    """`<zone>-<generation>`, or `<zone>-<generation>-p<part>` for a plan in parts: the
    API server refuses any other name (a CEL rule), so no two plans share a generation."""
    base = f"{zone}-{generation}"
    return base if part is None else f"{base}-p{part}"


def lease_name(node: str) -> str:
    return f"node-{node}"


def part_of(obj: Mapping[str, Any]) -> tuple[int, int]:
    """(index, count) of a plan object's `spec.part`; (0, 1) for a plan in one piece."""
    part = (obj.get("spec") or {}).get("part") or {}
    return int(part.get("index", 0)), int(part.get("count", 1))


def part_index(obj: Mapping[str, Any]) -> int:
    """The sort key that puts a generation's parts in order."""
    return part_of(obj)[0]
