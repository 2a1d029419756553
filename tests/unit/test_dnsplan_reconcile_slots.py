"""Admission of zone reconciles: one server's zones never hold more than their share of
the threads; zones on a server that has just run out of its deadline share a small lane;
zones on servers that answer are never kept waiting by them."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from planguard.core.backoff import equal_jitter
from planguard.core.dnsplan.reconcile_slots import Admission

SLOW, BIND = ("127.0.0.1", "5300"), ("127.0.0.1", "53")


def test_one_servers_zones_hold_at_most_per_server_threads() -> None:
    a = Admission(per_server=2, suspect=1)
    assert a.try_start("s1", SLOW) and a.try_start("s2", SLOW)
    assert not a.try_start("s3", SLOW)
    assert a.try_start("web", BIND)  # another server's zone goes on
    a.end("s1", timed_out=False)
    assert a.try_start("s3", SLOW)


def test_a_server_that_timed_out_gets_the_suspect_lane_until_it_answers() -> None:
    a = Admission(per_server=16, suspect=2)
    assert a.try_start("s1", SLOW)
    a.end("s1", timed_out=True)
    assert a.is_suspect(SLOW)
    assert a.try_start("s1", SLOW) and a.try_start("s2", SLOW)
    assert not a.try_start("s3", SLOW)  # the lane is full; zones on BIND are not in it
    assert all(a.try_start(f"w{i}", BIND) for i in range(16))
    a.end("s1", timed_out=False)  # answered in time: no longer suspect
    assert not a.is_suspect(SLOW)
    assert a.try_start("s3", SLOW) and a.try_start("s4", SLOW)  # in good standing again


def test_a_zone_runs_once_at_a_time_and_an_unknown_end_is_ignored() -> None:
    a = Admission(per_server=4, suspect=4)
    assert a.try_start("z", BIND) and not a.try_start("z", BIND)
    a.end("never-started", timed_out=True)
    assert not a.is_suspect(BIND)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 3),
                          st.booleans()), max_size=200))
def test_the_caps_hold_whatever_the_order(ops: list[tuple[bool, int, int, bool]]) -> None:
    """Random starts and ends over 6 zones and 4 servers: per server at most per_server,
    suspect at most suspect, however the calls interleave."""
    a = Admission(per_server=3, suspect=2)
    running: dict[str, tuple[int, bool]] = {}
    for start, zone, server, timed_out in ops:
        z = f"z{zone}"
        if start:
            suspect = a.is_suspect(server)
            if a.try_start(z, server):
                running[z] = (server, suspect)
        elif z in running:
            running.pop(z)
            a.end(z, timed_out)
        for s in range(4):
            assert sum(1 for v in running.values() if v[0] == s) <= 3
        assert sum(1 for v in running.values() if v[1]) <= 2


def test_a_failing_zone_waits_longer_each_time_up_to_the_cap() -> None:
    rng = random.Random(7)
    waits = [equal_jitter(n, 0.5, 60.0, rng) for n in range(1, 12)]
    assert 0.5 <= waits[0] <= 1.0
    assert all(30.0 <= w <= 60.0 for w in waits[7:])  # at most every 30 s, never sooner
    lows = [min(0.5 * 2**n, 60.0) / 2 for n in range(1, 12)]
    assert all(w >= lo for w, lo in zip(waits, lows, strict=True))


def test_suspect_servers_remembered_are_bounded_oldest_forgotten_first() -> None:
    a = Admission(per_server=4, suspect=1, max_suspects=3)
    for i in range(10):  # zones made and deleted against ever new dead servers
        assert a.try_start(f"z{i}", f"dead{i}")
        a.end(f"z{i}", timed_out=True)
    assert [s for s in (f"dead{i}" for i in range(10)) if a.is_suspect(s)] == [
        "dead7", "dead8", "dead9"]
    assert a.try_start("again", "dead8")  # a suspect server timing out again is the newest
    a.end("again", timed_out=True)
    assert a.try_start("z10", "dead10")
    a.end("z10", timed_out=True)
    assert a.is_suspect("dead8") and not a.is_suspect("dead7")
