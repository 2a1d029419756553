from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planguard.core.conditions import REASON, Condition, camel, merge, same


def test_transition_time_moves_only_when_status_changes():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = merge(None, [Condition("Ready", True, "Ok")], t0, 1)
    b = merge(a, [Condition("Ready", True, "Ok", "again")], t0 + timedelta(minutes=1), 1)
    c = merge(b, [Condition("Ready", False, "Down")], t0 + timedelta(minutes=2), 1)
    assert a[0]["lastTransitionTime"] == b[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert c[0]["lastTransitionTime"] == "2026-01-01T00:02:00Z"
    assert same(a, merge(a, [Condition("Ready", True, "Ok")], t0 + timedelta(hours=1), 1))
    assert not same(a, c)


FIELDS = {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}


def test_every_entry_carries_every_metav1_field():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    # An entry from an older writer, without message or observedGeneration, is completed:
    # the status subresource validates the whole list, so it would fail every write.
    old = [{"type": "Paused", "status": "False", "reason": "Running"}]
    out = merge(old, [Condition("Ready", True, "Converged")], t0, None)
    assert [c["type"] for c in out] == ["Paused", "Ready"]
    for c in out:
        assert set(c) == FIELDS and c["message"] == "" and c["observedGeneration"] == 0
    assert out[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_retired_types_are_dropped():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    old = merge(None, [Condition("Accepted", False, "EmptyEndpoint", "x"),
                       Condition("Refused", True, "EmptyEndpoint", "x")], t0, 1)
    out = merge(old, [Condition("Accepted", False, "EmptyEndpoint", "x")], t0, 1,
                drop=["Refused"])
    assert [c["type"] for c in out] == ["Accepted"]


@pytest.mark.parametrize(("raw", "reason"), [
    ("Valid", "Valid"), ("zone_missing", "ZoneMissing"), ("DNS unreadable!", "DNSUnreadable"),
    ("", "Unknown"), ("404 error", "Error"), ("---", "Unknown"), ("A:B,C", "A:B,C"),
])
def test_reasons_are_camel_case(raw: str, reason: str) -> None:
    assert camel(raw) == reason
    out = merge(None, [Condition("X", True, raw)], datetime(2026, 1, 1, tzinfo=UTC), 3)
    assert out[0]["reason"] == reason and REASON.match(reason)


@given(st.text(max_size=40))
def test_any_text_makes_a_valid_reason(raw: str) -> None:
    assert REASON.match(camel(raw))


def test_status_update_writes_only_what_changes():
    from datetime import UTC, datetime

    from planguard.core.conditions import status_update

    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    ready = [Condition("Ready", True, "Ok", "fine")]
    first = status_update(None, ready, t0, 3, {"endpoints": 2})
    assert first is not None and first["endpoints"] == 2
    assert first["conditions"][0]["observedGeneration"] == 3
    assert status_update(first, ready, t1, 3, {"endpoints": 2}) is None  # timestamps aside
    assert status_update(first, ready, t1, 3, {"endpoints": 5}) is not None
    assert status_update(first, [Condition("Ready", False, "No", "")], t1, 3) is not None
    # against what the caller last wrote, when the object it holds may be older
    assert status_update({}, [], t1, 3, {"a": 1}, previous={"a": 1}) is None
    assert status_update(first, ready, t1, 3, {"a": 1}, previous={}) is not None
