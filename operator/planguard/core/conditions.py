"""Kubernetes-style status conditions (metav1.Condition), merged so lastTransitionTime
only moves on change.

Every entry written carries all six fields the CRDs require (type, status, reason,
message, lastTransitionTime, observedGeneration), entries kept from an older writer
included: the status subresource validates the whole list on every write, so one entry
missing a field would make every later status write fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from planguard.core import timefmt

# metav1.Condition's reason: CamelCase, non-empty, at most 1024 characters.
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
REASON_MAX, MESSAGE_MAX = 1024, 32768


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""


def camel(text: str, default: str = "Unknown") -> str:
    """A valid reason from `text`: itself if valid and capitalised, else its words joined
    in CamelCase (zone_missing -> ZoneMissing), else `default`."""
    if REASON.match(text) and text[0].isupper() and len(text) <= REASON_MAX:
        return text
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    out = "".join(w[0].upper() + w[1:] for w in words).lstrip("0123456789")[:REASON_MAX]
    return out if out and REASON.match(out) else default


def _status(value: object) -> str:
    return str(value) if value in ("True", "False", "Unknown") else "Unknown"


def merge(
    old: Iterable[Mapping[str, Any]] | None,
    new: Iterable[Condition],
    now: datetime,
    observed_generation: int | None,
    drop: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The conditions list to write: `new` replaces same-type entries, types in `drop`
    (retired ones) are removed, the others are kept, completed where a field is missing.
    `observed_generation` None (an object without metadata.generation) is written as 0."""
    gen = int(observed_generation or 0)
    stamp = timefmt.seconds(now)
    dropped = set(drop)
    prev = {str(c.get("type")): c for c in old or () if c.get("type")}
    out: dict[str, dict[str, Any]] = {
        k: {
            "type": k,
            "status": _status(v.get("status")),
            "reason": camel(str(v.get("reason") or "")),
            "message": str(v.get("message") or "")[:MESSAGE_MAX],
            "lastTransitionTime": v.get("lastTransitionTime") or stamp,
            "observedGeneration": int(v.get("observedGeneration") or 0),
        }
        for k, v in prev.items() if k not in dropped
    }
    for c in new:
        status = "True" if c.status else "False"
        before = prev.get(c.type)
        changed = before is None or before.get("status") != status
        out[c.type] = {
            "type": c.type,
            "status": status,
            "reason": camel(c.reason),
            "message": c.message[:MESSAGE_MAX],
            "lastTransitionTime": stamp if changed or before is None
            else before.get("lastTransitionTime") or stamp,
            "observedGeneration": gen,
        }
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


def status_update(
    old: Mapping[str, Any] | None,
    conds: Iterable[Condition],
    now: datetime,
    observed_generation: int | None,
    fields: Mapping[str, Any] | None = None,
    drop: Iterable[str] = (),
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The status to write, or None when writing it would change nothing: `conds` merged
    into the old conditions, `fields` beside them. Unchanged means the same conditions
    (ignoring timestamps) and the same fields: equal to `previous` when given (what the
    caller last wrote), otherwise to what the old status holds."""
    old = old or {}
    extra = dict(fields or {})
    merged = merge(old.get("conditions"), conds, now, observed_generation, drop)
    same_fields = extra == previous if previous is not None else all(
        old.get(k) == v for k, v in extra.items())
    if same_fields and same(old.get("conditions"), merged):
        return None
    return {**extra, "conditions": merged}
