"""Runs a role: kopf watches DNSZones and DNSPlans into a cache; one worker per zone
calls the role's synchronous reconcile in a thread of the role's own pool, on every change
and on a timer, admitted so that slow DNS servers cannot take every thread
(core/dnsplan/reconcile_slots.py)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import importlib.metadata
import logging
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from planguard import logs, metrics, probe_server
from planguard.core import deadline
from planguard.core.contract import GROUP, VERSION, kopf_finalizer
from planguard.core.dnsplan.reconcile_slots import Admission
from planguard.core.liveness import LIVENESS
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.kube import api
from planguard.roles.cache import ObjectCache, ZoneKey

log = logging.getLogger(__name__)
Reconcile = Callable[[ZoneKey], float]  # returns seconds until the next run
LOOP_BEAT = 5.0  # kopf's event loop proves it runs this often
# Reconcile threads of a role. One server's zones hold at most half of them, zones on
# servers that have just run out of their deadline a quarter in all
# (core/dnsplan/reconcile_slots.py).
# Not more: the zones of one server (the usual install) transfer at most 8 at once, as
# many as the 6 of the default executor before, so peak memory stays about the same.
THREADS = 16


def reconcile_budget(dns_timeout: float | None) -> float:
    """`dns_timeout`: --dns-timeout (None: the providers' default)."""
    return deadline.reconcile_budget(dns_timeout or Rfc2136Provider.default_timeout)


class ZoneWorkers:
    def __init__(self, cache: ObjectCache, reconcile: Reconcile,
                 plans_without_zone: bool = False,
                 timed_out: Callable[[ZoneKey], bool] | None = None,
                 budget: float = deadline.RECONCILE_BUDGET, threads: int = THREADS) -> None:
        """`timed_out(zone)`: whether the zone's last reconcile ran out of a DNS deadline."""
        self.cache = cache
        self.reconcile = reconcile
        self.timed_out = timed_out or (lambda key: False)
        self.budget = budget
        self.tasks: dict[ZoneKey, asyncio.Task[None]] = {}
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reconcile")
        self.admission = Admission(per_server=max(1, threads // 2), suspect=max(1, threads // 4))
        self._freed = asyncio.Event()  # set (and replaced) whenever a reconcile ends
        cache.on_zone_added = self.start
        if plans_without_zone:
            cache.on_plan_without_zone = self.start

    def start(self, key: ZoneKey) -> None:
        if key not in self.tasks:
            self.tasks[key] = asyncio.get_running_loop().create_task(self._loop(key))

    async def _loop(self, key: ZoneKey) -> None:
        wake = self.cache.wakeup(key)
        delay = 0.0
        loop = f"zone worker {key[0]}/{key[1]}"
        logs.bind(zone=f"{key[0]}/{key[1]}")  # this task's context, copied into each reconcile
        while self.cache.known(key):
            LIVENESS.beat(loop, delay + self.budget)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
            wake.clear()
            server = self._server(key)
            while not self.admission.try_start(key, server):
                LIVENESS.beat(loop, 2 * LOOP_BEAT)  # waiting for a slot is being alive
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), timeout=LOOP_BEAT)
            LIVENESS.beat(loop, self.budget)
            try:
                delay = await asyncio.get_running_loop().run_in_executor(
                    self.pool, contextvars.copy_context().run, self._run, key, loop)
            except Exception:
                log.exception("reconcile of %s/%s failed unexpectedly; retrying", *key)
                delay = 5.0
            finally:
                self.admission.end(key, self.timed_out(key))
                self._freed.set()
                self._freed = asyncio.Event()
        LIVENESS.forget(loop)
        metrics.forget_zone(f"{key[0]}/{key[1]}")  # the zone is gone: so are its series
        self.tasks.pop(key, None)

    def _run(self, key: ZoneKey, loop: str) -> float:
        LIVENESS.beat(loop, self.budget)  # the budget starts with the thread, not the queue
        return self.reconcile(key)

    def _server(self, key: ZoneKey) -> Hashable:
        """The DNS server a zone's reconcile talks to, as admission counts it."""
        server = ((self.cache.zones.get(key) or {}).get("spec") or {}).get("server") or {}
        return (str(server.get("address", "")), str(server.get("port", 53)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Named(kopf.ConnectionInfo):
    """kopf's connection with our User-Agent: kopf has no setting for it and sends
    kopf/<version> from every role; it keeps a User-Agent given in these headers."""

    user_agent: str = ""

    def as_http_headers(self) -> dict[str, str]:
        return {**super().as_http_headers(), "User-Agent": self.user_agent}


def build_registry(cache: ObjectCache) -> kopf.OperatorRegistry:
    """kopf handlers that only feed the cache: no annotations, no finalizers, no status."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        if info is None:
            return None
        fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
        agent = f"{api.user_agent} kopf/{importlib.metadata.version('kopf')}"
        return _Named(**fields, user_agent=agent)

    @kopf.on.event(GROUP, VERSION, "dnszones", registry=registry)
    async def zone_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        cache.zone_event(event.get("type"), dict(body))

    @kopf.on.event(GROUP, VERSION, "dnsplans", registry=registry)
    async def plan_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        cache.plan_event(event.get("type"), dict(body))
        _drop_endpoints(event)

    return registry


def _drop_endpoints(event: dict[str, Any]) -> None:
    """The cache keeps its own parse of a plan's endpoints; their JSON in kopf's raw event
    (1.9 MB per 1,000 endpoints) is dropped here rather than kept alive for as long as
    kopf holds the event. Watch-only roles: nothing of kopf's reads a spec afterwards."""
    spec = (event.get("object") or {}).get("spec")
    if isinstance(spec, dict):
        spec.pop("endpoints", None)


class WatchOnlyDiffBase(kopf.DiffBaseStorage):
    """Roles register only on.event handlers, so kopf's change detection is unused; its
    default builds a deep copy of every object on every event (a large plan is ~100 KB)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def settings(component: str) -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    s.posting.enabled = False  # our Events are written deliberately, not kopf's log lines
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.networking.error_backoffs = [1, 1, 2, 3, 5, 8]
    # kopf's per-object worker keeps the last raw event it handled while it waits this long
    # for the next one (5 s by default): in a burst of plan parts every part's whole JSON
    # (1.9 MB per 1,000 endpoints) stayed alive at once beside the cache's parse of it,
    # 67 MiB of an enactor's 178 MiB peak at 25,000 endpoints (memray). Our handlers only
    # copy into the cache, so a worker may as well exit at once and be started again.
    s.queueing.idle_timeout = 0.2
    # Unused by watch-only roles, but distinct per component so no two ever collide.
    s.persistence.finalizer = kopf_finalizer(component)
    s.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=f"{component}.{GROUP}"
    )
    s.persistence.diffbase_storage = WatchOnlyDiffBase()
    return s


def run(
    component: str,
    cache: ObjectCache,
    reconcile: Reconcile | None,
    namespaces: list[str],
    liveness_port: int,
    plans_without_zone: bool = False,
    registry: kopf.OperatorRegistry | None = None,
    timed_out: Callable[[ZoneKey], bool] | None = None,
    budget: float = deadline.RECONCILE_BUDGET,
) -> None:
    """Blocks running the kopf operator for one role until interrupted. `reconcile` runs
    per zone; roles with their own loops (the planner) pass None and their own registry."""

    async def heartbeat() -> None:
        while True:  # the event loop itself: kopf's watches and every zone worker run on it
            LIVENESS.beat("kopf event loop", 6 * LOOP_BEAT)
            await asyncio.sleep(LOOP_BEAT)

    async def main() -> None:
        workers = ZoneWorkers(cache, reconcile, plans_without_zone, timed_out, budget) \
            if reconcile is not None else None
        beating = asyncio.get_running_loop().create_task(heartbeat())
        try:
            await kopf.operator(
                registry=registry or build_registry(cache),
                settings=settings(component),
                standalone=True,
                clusterwide=not namespaces,
                namespaces=namespaces,
            )
        finally:
            beating.cancel()
            if workers is not None:
                # SIGTERM (kopf's handler) ends the watches; zone workers are cancelled,
                # and a reconcile already in a thread runs to its end (its DNS exchanges
                # have deadlines), so every UPDATE in flight is answered before the exit.
                log.info("%s stopping: letting the reconciles in flight finish", component)
                for task in list(workers.tasks.values()):
                    task.cancel()
                await asyncio.to_thread(workers.pool.shutdown, wait=True)

    if liveness_port:
        probe_server.serve(liveness_port)
    asyncio.run(main())
