"""core/dnsplan/canary.py: what a client's lookup of a planguard name counts as."""

from __future__ import annotations

from planguard.core.dnsplan.canary import Seen, Verdict, judge

W = 30.0  # the cache window


def test_a_name_never_published_is_not_an_outage() -> None:
    seen, v = judge(Seen(), (), None, 0.0, W)
    assert v == Verdict("unpublished") and seen == Seen()


def test_an_empty_answer_after_an_address_is_the_outage() -> None:
    seen, v = judge(Seen(), ("10.0.0.1",), 4, 1.0, W)
    assert v == Verdict("answered", connect=True) and seen == Seen(True, 4, 1.0)
    seen, v = judge(seen, (), None, 2.0, W)
    assert v.result == "empty" and not v.connect and seen.published


def test_no_answer_is_a_failure_and_forgets_nothing() -> None:
    seen = Seen(True, 7, 3.0)
    after, v = judge(seen, None, None, 4.0, W)
    assert v == Verdict("failed") and after == seen


def test_an_older_copy_within_the_window_is_stale() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9, 100.0, W)
    seen, v = judge(seen, ("10.0.0.2",), 8, 129.0, W)
    assert (v.stale, v.regression, v.result) == (True, False, "answered")
    assert (seen.highest, seen.since) == (9, 100.0)


def test_an_older_marker_past_the_window_is_a_regression() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9, 100.0, W)
    seen, _ = judge(seen, ("10.0.0.1",), 9, 120.0, W)  # seen again: the window does not restart
    _, v = judge(seen, ("10.0.0.2",), 8, 131.0, W)
    assert (v.regression, v.stale) == (True, False)


def test_with_no_window_every_older_marker_regresses() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9, 100.0, 0.0)
    _, v = judge(seen, ("10.0.0.1",), 8, 100.0, 0.0)
    assert v.regression


def test_a_missing_marker_is_never_older() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9, 0.0, W)
    _, v = judge(seen, ("10.0.0.1",), None, 100.0, W)
    assert not v.regression and not v.stale


def test_an_empty_answer_can_also_go_back() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9, 0.0, W)
    _, v = judge(seen, (), 3, 100.0, W)
    assert (v.result, v.regression) == ("empty", True)
