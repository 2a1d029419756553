"""Kubernetes-style status conditions, merged so lastTransitionTime only moves on change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    old: Iterable[Mapping[str, Any]] | None,
    new: Iterable[Condition],
    now: datetime,
    observed_generation: int | None,
) -> list[dict[str, Any]]:
    """The conditions list to write: `new` replaces same-type entries, others are kept."""
    prev = {c.get("type"): c for c in old or ()}
    out: dict[str, dict[str, Any]] = {str(k): dict(v) for k, v in prev.items() if k}
    for c in new:
        status = "True" if c.status else "False"
        before = prev.get(c.type)
        changed = before is None or before.get("status") != status
        entry: dict[str, Any] = {
            "type": c.type,
            "status": status,
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": rfc3339(now) if changed or before is None
            else before.get("lastTransitionTime", rfc3339(now)),
        }
        if observed_generation is not None:
            entry["observedGeneration"] = observed_generation
        out[c.type] = entry
    return [out[k] for k in sorted(out)]


def same(a: Iterable[Mapping[str, Any]] | None, b: Iterable[Mapping[str, Any]] | None) -> bool:
    """Equal ignoring timestamps: lets callers skip writes that change nothing."""
    def key(cs: Iterable[Mapping[str, Any]] | None) -> list[tuple[Any, ...]]:
        return sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"),
             c.get("observedGeneration"))
            for c in cs or ()
        )
    return key(a) == key(b)
