"""The probe server with a real zone worker: a reconcile that wedges turns /healthz from
200 to 503 naming the loop, and back once it moves; /readyz follows readiness checks."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request

from planguard import probe_server
from planguard.core.liveness import Liveness
from planguard.roles import runtime
from planguard.roles.cache import ObjectCache


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_wedged_zone_worker_fails_liveness_and_recovers(monkeypatch) -> None:
    lv = Liveness()
    monkeypatch.setattr(runtime, "LIVENESS", lv)
    port = probe_server.serve(0, lv, host="127.0.0.1")
    release, wedged = threading.Event(), threading.Event()

    def reconcile(key: tuple[str, str]) -> float:
        if not release.is_set():
            wedged.set()
            release.wait(30)  # a reconcile that hangs (a deadlock, a call with no timeout)
        return 0.1

    cache = ObjectCache()
    zone = {"metadata": {"namespace": "ns", "name": "web", "uid": "u"}, "spec": {}}

    async def main() -> None:
        runtime.ZoneWorkers(cache, reconcile, budget=1.0)
        cache.zone_event("ADDED", zone)
        await asyncio.to_thread(wedged.wait, 5)
        assert get(port, "/healthz") == (200, "ok\n")  # within its budget still
        await asyncio.sleep(1.5)
        code, body = get(port, "/healthz")
        assert code == 503 and "zone worker ns/web: no heartbeat" in body, body
        release.set()
        await asyncio.sleep(0.5)
        assert get(port, "/healthz") == (200, "ok\n")
        cache.zone_event("DELETED", zone)
        await asyncio.sleep(0.5)

    asyncio.run(main())
    time.sleep(1.5)
    assert get(port, "/healthz") == (200, "ok\n")  # a zone that went away is not expected


def test_readyz_reports_failing_checks_and_unknown_paths_are_404() -> None:
    lv = Liveness()
    port = probe_server.serve(0, lv, host="127.0.0.1")
    assert get(port, "/readyz") == (200, "ok\n")
    lv.ready("leader election", False, "API server unreachable")
    assert get(port, "/readyz") == (503, "leader election: API server unreachable\n")
    assert get(port, "/healthz")[0] == 200
    assert get(port, "/metrics")[0] == 404
