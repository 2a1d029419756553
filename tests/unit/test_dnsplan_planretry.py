"""A refused plan stops the pool's writes for a growing backoff; one pool per zone; Events
aggregated in a bounded memory."""

from __future__ import annotations

from planguard.core.dnsplan import planretry
from planguard.core.dnsplan.selection import candidates
from planguard.core.dnsplan.zonepools import zone_planners
from planguard.core.events import RecentEvents, Seen


def test_backoff_doubles_to_its_cap_and_a_spec_change_retries_at_once() -> None:
    r = None
    waits = []
    now = 1000.0
    for _ in range(12):
        assert planretry.may_write(r, now, spec_generation=1)
        r = planretry.after_failure(r, "PlanRefused", "quota", now, spec_generation=1)
        assert not planretry.may_write(r, now, 1)
        waits.append(r.retry_at - now)
        now = r.retry_at
    assert waits[:5] == [2, 4, 8, 16, 32] and max(waits) == planretry.CAP_SECONDS
    assert r is not None and r.failures == 12
    assert planretry.may_write(r, r.retry_at - 100, spec_generation=2)  # the pool was edited
    again = planretry.after_failure(r, "PlanRefused", "quota", now, spec_generation=2)
    assert again.failures == 1


def test_storm_attempts_are_logarithmic() -> None:
    """One failing pool, ticked every 0.5 s for an hour: a handful of attempts, not 7,200."""
    r, attempts, now = None, 0, 0.0
    while now < 3600:
        if planretry.may_write(r, now, 1):
            attempts += 1
            r = planretry.after_failure(r, "PlanRefused", "x", now, 1)
        now += 0.5
    assert attempts < 20, attempts


def _plan_obj(gen: int, address: str) -> dict:
    return {"metadata": {"name": f"z-{gen}", "uid": f"u{gen}"},
            "spec": {"zone": "z", "generation": gen,
                     "endpoints": [{"name": "api", "addresses": [address]}]}}


def test_a_plan_the_enactors_refuse_is_reported() -> None:
    cands = candidates([_plan_obj(1, "10.0.0.1"), _plan_obj(2, "0.0.0.1")])
    why = planretry.refused_by_rules(cands, 2)
    assert why is not None and "z-2" in why and "0.0.0.1" in why
    assert planretry.refused_by_rules(cands, 1) is None
    assert planretry.refused_by_rules(cands, 3) is None


def test_the_oldest_pool_plans_a_zone_then_the_name() -> None:
    got = zone_planners([
        (("ns", "b"), "z", "2026-01-01T00:00:00Z"),
        (("ns", "a"), "z", "2026-01-01T00:00:01Z"),
        (("ns", "c"), "z", "2026-01-01T00:00:00Z"),
        (("other", "x"), "z", "2025-01-01T00:00:00Z"),  # another namespace's zone z
        (("ns", "y"), "w", "2027-01-01T00:00:00Z"),
    ])
    assert got == {("ns", "z"): ("ns", "b"), ("other", "z"): ("other", "x"),
                   ("ns", "w"): ("ns", "y")}


def test_same_event_within_the_window_is_raised_not_repeated() -> None:
    ev = RecentEvents(size=2, window=600)
    assert ev.lookup("k", 0) is None
    ev.record("k", Seen("e1", 1, 0))
    assert ev.lookup("k", 599) == Seen("e1", 1, 0)
    assert ev.lookup("k", 600) is None  # past the window: a new Event
    ev.record("k", Seen("e2", 1, 600))
    ev.record("j", Seen("e3", 1, 601))
    ev.lookup("k", 602)  # k used last: j is the least recent
    ev.record("i", Seen("e4", 1, 603))
    assert len(ev) == 2 and ev.lookup("j", 603) is None and ev.lookup("k", 603) is not None
