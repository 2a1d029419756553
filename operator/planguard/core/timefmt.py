"""Times as the API server writes and reads them: one formatter per precision, one parser.

Status times are RFC 3339 in UTC with a `Z` (metav1.Time: seconds; the planner's removal
window: milliseconds; Lease times are metav1.MicroTime: microseconds). A stamp without an
offset is taken as UTC: the API server never writes one, and a local reading would move
it by the host's offset.
"""

from __future__ import annotations

from datetime import UTC, datetime


def seconds(t: datetime) -> str:
    """A metav1.Time: whole seconds (conditions, enactor entries, events)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def millis(wall: float) -> str:
    """Epoch seconds as RFC 3339 with milliseconds (the planner's removals)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def micro(t: datetime) -> str:
    """A metav1.MicroTime (Lease times): always six fractional digits."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    """Any of the above (or another RFC 3339 stamp) back to an aware datetime."""
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def epoch(value: object) -> float:
    """A status time as epoch seconds; a number is what earlier versions wrote."""
    if isinstance(value, int | float):
        return float(value)
    return parse(str(value)).timestamp()
