"""The oracle's counting: what a client saw, from a scripted sequence of answers."""

from __future__ import annotations

import threading

import pytest

from prober import Prober, Tally


def test_a_lower_generation_than_one_seen_is_a_regression() -> None:
    t = Tally()
    for gen in (1, 2, 2, 1, 3, 2):
        t.answer("api", ["10.0.0.1"], gen, now=0)
    assert (t.queries, t.regressions, t.empty) == (6, 2, 0)


def test_generations_are_per_endpoint() -> None:
    t = Tally()
    t.answer("api", ["10.0.0.1"], 5, now=0)
    t.answer("web", ["10.0.0.2"], 1, now=0)
    assert t.regressions == 0 and t.clean()


def test_empty_answers_count_and_the_longest_empty_stretch_is_timed() -> None:
    t = Tally()
    t.answer("api", ["10.0.0.1"], 1, now=0)
    t.answer("api", [], 1, now=1)
    t.answer("api", [], 1, now=2)
    t.answer("api", ["10.0.0.1"], 1, now=4)
    t.answer("web", [], 0, now=5)
    t.close(now=10)
    assert t.empty == 3 and t.first_empty == 1
    assert t.longest_empty == 5  # web, empty from 5 to the end at 10
    assert not t.clean()


def test_empty_before_first_served_counts_only_when_served_from_start() -> None:
    late = Tally(served_from_start=False)
    late.answer("api", [], 0, now=0)
    late.answer("api", ["10.0.0.1"], 1, now=1)
    late.answer("api", [], 1, now=2)
    assert late.empty == 1
    early = Tally()
    early.answer("api", [], 0, now=0)
    assert early.empty == 1


def _scripted(replies: list[object]) -> Prober:
    it = iter(replies)

    def ask(ep: str) -> tuple[list[str], int]:
        r = next(it)
        if isinstance(r, Exception):
            raise r
        assert isinstance(r, tuple)
        return r

    return Prober(ask, ("api",), retries=1)


def test_a_failure_answered_on_the_retry_is_not_an_outage() -> None:
    p = _scripted([TimeoutError(), (["10.0.0.1"], 1)])
    p._probe("api")
    assert (p.tally.unavailable, p.tally.retried, p.tally.queries) == (0, 1, 1)
    assert p.tally.errors == {"TimeoutError": 1}


def test_failing_every_try_is_unavailable() -> None:
    p = _scripted([ConnectionRefusedError(), OSError()])
    p._probe("api")
    assert (p.tally.unavailable, p.tally.queries) == (1, 0)
    assert p.tally.errors == {"ConnectionRefusedError": 1, "OSError": 1}


def test_assert_clean_fails_on_a_regression() -> None:
    gens = iter(range(1000, 0, -1))
    asked = threading.Semaphore(0)

    def ask(ep: str) -> tuple[list[str], int]:
        asked.release()
        return ["10.0.0.1"], next(gens)

    p = Prober(ask, ("api",), every=0)
    p.start()
    for _ in range(3):
        assert asked.acquire(timeout=5)
    with pytest.raises(AssertionError, match="regressions"):
        p.assert_clean(min_queries=0)


def test_an_older_copy_within_the_cache_window_is_stale_not_a_regression() -> None:
    t = Tally(cache_window=5.0)
    t.answer("api", ["10.0.0.2"], 8, now=100.0)
    t.answer("api", ["10.0.0.1"], 7, now=104.0)  # another cache's copy, within its TTL
    assert (t.stale, t.regressions) == (1, 0)
    t.answer("api", ["10.0.0.1"], 7, now=105.5)  # still 7 after the window: the plan went back
    assert (t.stale, t.regressions) == (1, 1)
    assert "1 older copies within the 5 s cache window" in str(t)


def test_the_window_runs_from_the_first_sight_of_the_highest() -> None:
    t = Tally(cache_window=5.0)
    t.answer("api", ["10.0.0.2"], 8, now=100.0)
    t.answer("api", ["10.0.0.2"], 8, now=104.0)  # seen again: the window does not restart
    t.answer("api", ["10.0.0.1"], 7, now=106.0)
    assert t.regressions == 1
