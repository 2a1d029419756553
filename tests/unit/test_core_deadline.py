"""One deadline per exchange: what is left, never negative; a step's own shorter
allowance; the message names the whole allowance."""

from __future__ import annotations

from planguard.core.deadline import RECONCILE_BUDGET, Deadline, DeadlineExceeded, reconcile_budget


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_left_counts_down_to_zero_never_below() -> None:
    c = Clock()
    d = Deadline.within(10, c)
    assert d.left() == 10 and not d.expired()
    c.t += 7.5
    assert d.left() == 2.5
    c.t += 5
    assert d.left() == 0 and d.expired()


def test_a_step_gets_its_own_allowance_or_what_is_left_whichever_is_sooner() -> None:
    c = Clock()
    whole = Deadline.within(100, c)
    step = whole.sooner(10)
    assert step.left() == 10 and step.seconds == 10  # a stalled step fails in 10 s
    c.t += 95
    assert whole.sooner(10) is whole  # ... but never past the whole exchange's deadline
    assert whole.sooner(10).left() == 5


def test_the_error_names_the_allowance() -> None:
    assert str(DeadlineExceeded(Deadline.within(30, Clock()))) == "did not finish within 30 s"
    assert str(DeadlineExceeded(Deadline.within(2.5, Clock()))) == "did not finish within 2.5 s"


def test_a_reconcile_has_at_least_a_few_dns_deadlines() -> None:
    assert reconcile_budget(5) == RECONCILE_BUDGET  # the floor: API calls take time too
    assert reconcile_budget(30) == RECONCILE_BUDGET
    assert reconcile_budget(60) == 240  # a read and three UPDATEs, each to its deadline
