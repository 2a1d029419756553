"""core/dnsplan/canary.py: what a client's lookup of a planguard name counts as."""

from __future__ import annotations

from planguard.core.dnsplan.canary import Seen, Verdict, judge


def test_a_name_never_published_is_not_an_outage() -> None:
    seen, v = judge(Seen(), (), None)
    assert v == Verdict("unpublished") and seen == Seen()


def test_an_empty_answer_after_an_address_is_the_outage() -> None:
    seen, v = judge(Seen(), ("10.0.0.1",), 4)
    assert v == Verdict("answered", connect=True) and seen == Seen(True, 4)
    seen, v = judge(seen, (), None)
    assert v.result == "empty" and not v.connect and seen.published


def test_no_answer_is_a_failure_and_forgets_nothing() -> None:
    seen = Seen(True, 7)
    after, v = judge(seen, None, None)
    assert v == Verdict("failed") and after == seen


def test_an_older_marker_after_a_newer_one_is_a_regression() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9)
    seen, v = judge(seen, ("10.0.0.2",), 8)
    assert v.regression and v.result == "answered" and seen.highest == 9
    _, v = judge(seen, ("10.0.0.3",), 9)
    assert not v.regression  # the same generation again is no regression


def test_a_missing_marker_is_never_a_regression() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9)
    _, v = judge(seen, ("10.0.0.1",), None)
    assert not v.regression


def test_an_empty_answer_can_also_go_back() -> None:
    seen, _ = judge(Seen(), ("10.0.0.1",), 9)
    _, v = judge(seen, (), 3)
    assert (v.result, v.regression) == ("empty", True)
