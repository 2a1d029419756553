"""Health-check scheduling: one check in flight per target, a bounded number per pool."""

from __future__ import annotations

from planguard.core.dnsplan.checkqueue import CheckQueue


def test_a_target_is_never_checked_twice_at_once() -> None:
    q = CheckQueue(per_pool=8)
    assert q.take("p", ["a", "b"], now=0, interval=1) == ["a", "b"]
    # Interval over, but both still running (a slow target): nothing new starts.
    assert q.take("p", ["a", "b"], now=100, interval=1) == []
    q.done("p", "a")
    assert q.take("p", ["a", "b"], now=100, interval=1) == ["a"]


def test_the_interval_is_kept() -> None:
    q = CheckQueue()
    assert q.take("p", ["a"], now=0, interval=5) == ["a"]
    q.done("p", "a")
    assert q.take("p", ["a"], now=4.9, interval=5) == []
    assert q.take("p", ["a"], now=5, interval=5) == ["a"]


def test_a_pool_holds_at_most_its_share_and_others_are_untouched() -> None:
    q = CheckQueue(per_pool=3)
    slow = [f"s{i}" for i in range(10)]
    assert len(q.take("slow", slow, now=0, interval=1)) == 3
    assert q.take("slow", slow, now=50, interval=1) == []  # its three never finish
    assert q.running("slow") == 3
    assert q.take("fast", ["x", "y"], now=50, interval=1) == ["x", "y"]


def test_a_capped_pool_checks_every_target_in_turn() -> None:
    q = CheckQueue(per_pool=2)
    seen: list[str] = []
    for t in range(6):
        got = q.take("p", ["a", "b", "c", "d"], now=float(t), interval=1)
        seen += got
        for a in got:
            q.done("p", a)
    assert set(seen[:4]) == {"a", "b", "c", "d"}


def test_retain_forgets_targets_no_pool_lists() -> None:
    q = CheckQueue()
    q.take("p", ["a", "b"], now=0, interval=100)
    q.done("p", "a")
    q.done("p", "b")
    q.retain([("p", "a")])
    assert q.take("p", ["a", "b"], now=1, interval=100) == ["b"]
