"""`planguard canary` (operator/planguard/canary.py) against a real BIND on loopback: what
it counts for a name served, one never published, an answer gone empty, an older marker
after a newer one, a server that does not answer, and a backend that refuses connections;
and its command line refusing bad endpoints with why."""

from __future__ import annotations

import socket
import subprocess
import sys

import dns.resolver
import pytest
from prometheus_client import REGISTRY

from harness import Bind, unique
from planguard import canary

pytestmark = pytest.mark.integration


def _count(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def _resolver(port: int) -> dns.resolver.Resolver:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers, r.port = ["127.0.0.1"], port
    return r


def test_the_canary_counts_what_a_client_saw(bind: Bind) -> None:
    zone = f"{unique('canary')}.test"
    bind.add_zone(zone)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    bind.admin_update(zone, lambda u: (u.add("web", 5, "A", "127.0.0.1"),
                                       u.add("_planguard.web", 5, "TXT", '"gen=5 by=test"')))
    targets = [canary.Target("web", port), canary.Target("never")]
    try:
        before = {r: _count("planguard_canary_lookups_total", endpoint="web", result=r)
                  for r in ("answered", "empty", "failed")}
        # Asking BIND itself: no cache between, so an older marker regresses at once.
        client = canary.Canary(zone, targets, timeout=1, resolver=_resolver(bind.port),
                               cache_window=0)
        # Behind caches it is a stale copy while within the window.
        cached = canary.Canary(zone, [canary.Target("web")], timeout=1,
                               resolver=_resolver(bind.port), cache_window=60)
        for _ in range(3):
            client.round()
        assert _count("planguard_canary_lookups_total", endpoint="web",
                      result="answered") - before["answered"] == 3
        assert _count("planguard_canary_connects_total", endpoint="web", result="ok") >= 3
        assert _count("planguard_canary_lookups_total", endpoint="never",
                      result="unpublished") >= 3
        assert _count("planguard_canary_generation", endpoint="web") == 5
        cached.round()  # it has seen generation 5 now
        # The name emptied, its marker back at an older plan: both counted.
        bind.admin_update(zone, lambda u: (u.delete("web", "A"),
                                           u.replace("_planguard.web", 5, "TXT",
                                                     '"gen=4 by=test"')))
        regressions = _count("planguard_canary_regressions_total", endpoint="web")
        stale = _count("planguard_canary_stale_answers_total", endpoint="web")
        client.round()
        cached.round()
        assert _count("planguard_canary_stale_answers_total", endpoint="web") - stale == 1
        assert _count("planguard_canary_lookups_total", endpoint="web",
                      result="empty") - before["empty"] == 2  # one each
        assert _count("planguard_canary_regressions_total", endpoint="web") - regressions == 1
        # No server answering: failed, never empty.
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dead.bind(("127.0.0.1", 0))  # bound, never read: every query times out
        away = canary.Canary(zone, [canary.Target("web")], timeout=0.3,
                             resolver=_resolver(dead.getsockname()[1]))
        away.round()
        away.round()
        dead.close()
        assert _count("planguard_canary_lookups_total", endpoint="web",
                      result="failed") - before["failed"] == 2
        # A backend that refuses connections, the name served again.
        bind.admin_update(zone, lambda u: u.add("web", 5, "A", "127.0.0.1"))
        listener.close()
        failed = _count("planguard_canary_connects_total", endpoint="web", result="failed")
        client.round()
        client.round()
        assert _count("planguard_canary_connects_total", endpoint="web",
                      result="failed") - failed == 2
    finally:
        listener.close()
        bind.del_zone(zone)


@pytest.mark.parametrize("bad", ["bad name", "web:0", "web:65536", "web:http", ":80", "wéb",
                                 "x" * 300])
def test_the_canary_refuses_a_bad_endpoint_with_why(bad: str) -> None:
    r = subprocess.run([sys.executable, "-m", "planguard.cli", "canary", "--zone", "example.test",
                        "--endpoint", bad], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--endpoint" in r.stderr and repr(bad)[:20] in r.stderr, r.stderr
