from datetime import UTC, datetime, timedelta

from planguard.core.conditions import Condition, merge, same


def test_transition_time_moves_only_when_status_changes():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = merge(None, [Condition("Ready", True, "Ok")], t0, 1)
    b = merge(a, [Condition("Ready", True, "Ok", "again")], t0 + timedelta(minutes=1), 1)
    c = merge(b, [Condition("Ready", False, "Down")], t0 + timedelta(minutes=2), 1)
    assert a[0]["lastTransitionTime"] == b[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert c[0]["lastTransitionTime"] == "2026-01-01T00:02:00Z"
    assert same(a, merge(a, [Condition("Ready", True, "Ok")], t0 + timedelta(hours=1), 1))
    assert not same(a, c)
