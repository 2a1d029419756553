"""Liveness and readiness as pure state: a broken heartbeat promise fails liveness, a
failing check fails readiness only."""

from planguard.core.liveness import Liveness


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_loop_is_stale_only_once_its_promise_is_broken():
    clock = Clock()
    lv = Liveness(clock)
    lv.beat("zone worker ns/a", 30)
    clock.t += 30
    assert lv.stale() == []
    clock.t += 1
    assert lv.stale() == ["zone worker ns/a: no heartbeat for 31 s (promised within 30 s)"]
    lv.beat("zone worker ns/a", 30)
    assert lv.stale() == []


def test_a_loop_that_ended_on_purpose_is_no_longer_expected():
    clock = Clock()
    lv = Liveness(clock)
    lv.beat("zone worker ns/a", 5)
    lv.forget("zone worker ns/a")
    clock.t += 60
    assert lv.stale() == []


def test_readiness_checks_fail_readiness_not_liveness():
    clock = Clock()
    lv = Liveness(clock)
    lv.ready("DNS of zone ns/a", False, "connection refused")
    assert lv.unready() == ["DNS of zone ns/a: connection refused"]
    assert lv.stale() == []
    lv.ready("DNS of zone ns/a", True)
    assert lv.unready() == []


def test_one_zones_unreadable_dns_leaves_the_process_ready():
    """A tenant's slow or dead server is that zone's condition; only when no zone's server
    can be read (the process's own network, or the one server every zone uses) is the
    process unready."""
    lv = Liveness(Clock())
    lv.zone_dns("ns/web", True)
    lv.zone_dns("evil/slow-1", False, "timeout: did not finish within 30 s")
    lv.zone_dns("evil/slow-2", False, "timeout: did not finish within 30 s")
    assert lv.unready() == [] and lv.stale() == []
    lv.zone_dns("ns/web", False, "unreachable: connection refused")
    assert lv.unready() == ["DNS: no zone's server can be read (3 of 3), e.g. evil/slow-1: "
                            "timeout: did not finish within 30 s"]
    lv.forget_zone("evil/slow-1")
    lv.zone_dns("ns/web", True)
    assert lv.unready() == []


def test_a_wedged_process_is_not_ready_either():
    clock = Clock()
    lv = Liveness(clock)
    lv.beat("planner loop", 10)
    clock.t += 11
    assert lv.unready() == lv.stale() != []
