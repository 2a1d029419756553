"""The lease manager's scheduling core: queue, admission, token bucket, circuit breaker."""

from hypothesis import given, settings
from hypothesis import strategies as st

from planguard.core.nodelease import queue as wq

R, E = wq.Kind.RENEW, wq.Kind.ESTABLISH


def test_renewals_go_first_and_aging_prevents_starvation():
    q = wq.WorkQueue(aging=10)
    q.add(wq.Work("new", E, 0, 100))
    q.add(wq.Work("held", R, 5, 100))
    assert q.pop(5)[0].node == "held"
    q.add(wq.Work("held2", R, 14, 100))
    assert q.pop(14.5)[0].node == "new"  # waited 14.5 s > aging: now ahead of a fresh renewal


def test_one_entry_per_node_and_never_two_workers_on_a_node():
    q = wq.WorkQueue()
    assert q.add(wq.Work("n1", E, 0, 50))
    assert not q.add(wq.Work("n1", R, 1, 40))  # de-duplicated, the more urgent kind kept
    assert len(q) == 1
    w, _ = q.pop(2)
    assert w.kind is R and w.enqueued == 0
    q.add(wq.Work("n1", R, 3, 60))  # while in flight: held back
    assert q.pop(3) == (None, [])
    q.done("n1")
    assert q.pop(4)[0].node == "n1"


def test_expired_work_is_dropped_not_executed():
    q = wq.WorkQueue()
    q.add(wq.Work("late", R, 0, 10))
    q.add(wq.Work("ok", E, 0, 100))
    w, expired = q.pop(11)
    assert w.node == "ok" and [e.node for e in expired] == ["late"]


def test_admission_by_queue_length_age_and_throughput():
    lim = wq.AdmissionLimits(max_queue=100, max_oldest_age=20, lease_period=40)
    assert wq.admit(0, 0, throughput=2.0, limits=lim) == 80
    assert wq.admit(50, 5, throughput=2.0, limits=lim) == 30
    assert wq.admit(10, 25, throughput=100.0, limits=lim) == 0  # the oldest waited too long
    assert wq.admit(100, 0, throughput=100.0, limits=lim) == 0


def test_token_bucket_never_exceeds_its_rate():
    b = wq.TokenBucket(rate=10, burst=5)
    taken = sum(b.take(i / 100) for i in range(1000))  # 10 s, asked 100 times a second
    assert taken <= 5 + 10 * 10


def test_breaker_ignores_a_few_dead_nodes_but_opens_when_nearly_all_fail():
    c = wq.CircuitBreaker(window=30, min_samples=10, open_share=0.9)
    for i in range(300):  # a third of the fleet dead, in long runs: stays closed
        c.record(i % 30 >= 10, i)
    assert not c.open


def test_breaker_opens_probes_slowly_and_reports_recovery():
    c = wq.CircuitBreaker(window=10, min_samples=3, open_share=0.9, probe_interval=5)
    for t in range(3):
        assert c.allow(t)
        c.record(False, t)
    assert c.open
    assert c.allow(8) and not c.allow(9) and not c.allow(12) and c.allow(13)
    assert c.record(True, 13) is True and not c.open


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from([R, E]),
                          st.floats(0, 50), st.booleans()), max_size=60))
def test_queue_invariants_under_any_sequence(ops):
    q = wq.WorkQueue(aging=5)
    now = 0.0
    running: set[str] = set()
    for node, kind, ttl, finish in ops:
        now += 0.5
        q.add(wq.Work(node, kind, now, now + ttl))
        if finish and running:
            n = sorted(running)[0]
            running.discard(n)
            q.done(n)
        w, expired = q.pop(now)
        assert all(e.deadline <= now for e in expired)
        if w is not None:
            assert w.node not in running  # never two workers on one node
            assert w.deadline > now  # never executed after its deadline
            running.add(w.node)
        assert q.in_flight() == running
