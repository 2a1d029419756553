"""`planguard leases`: a Lease per managed Node, renewed after a real check-in with the
node's agent; a NoSchedule taint on nodes whose lease lapsed, velocity-limited per zone and
frozen when the view itself is failing. DWFM's job, without congestive collapse.

The scheduling decisions are core/leasequeue.py and core/zones.py; this module does the
I/O: listing Nodes and Leases, HTTP check-ins, Lease writes, taints.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiClient, CoordinationV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from planguard import metrics
from planguard.core.leasequeue import (
    AdmissionLimits,
    CircuitBreaker,
    Kind,
    TokenBucket,
    Work,
    WorkQueue,
    admit,
)
from planguard.core.liveness import LIVENESS
from planguard.core.zones import ZoneCount, taint_rates
from planguard.fleet import AGENT_ANNOTATION, ZONE_LABEL
from planguard.kube.api import discard
from planguard.kube.leader import LeaderElector
from planguard.kube.listwatch import ListWatch

log = logging.getLogger(__name__)
TAINT_KEY = "planguard.io/lease-lapsed"
LEASE_LABEL = "planguard.io/node"


@dataclass
class LeaseConfig:
    namespace: str
    selector: str = "planguard.io/managed=true"
    lease_duration: float = 40.0
    renew_interval: float = 10.0
    workers: int = 16
    rate: float = 200.0  # check-ins per second, first attempts included
    burst: float = 50.0
    checkin_timeout: float = 2.0
    tick: float = 0.2
    inventory_interval: float = 2.0
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    identity: str = "planguard-leases"
    taint_delay: float = 0.0  # lapsed this long before a taint (0: two renew intervals)


@dataclass
class Node:
    name: str
    zone: str
    url: str
    tainted: bool
    resource_version: str


class LeaseManager:
    def __init__(self, client: ApiClient, cfg: LeaseConfig, elector: LeaderElector) -> None:
        self.core, self.coord = CoreV1Api(client), CoordinationV1Api(client)
        self.cfg, self.elector = cfg, elector
        self.queue = WorkQueue(aging=cfg.renew_interval)
        self.bucket = TokenBucket(cfg.rate, cfg.burst)
        self.breaker = CircuitBreaker(window=max(50, cfg.workers * 4),
                                      min_samples=max(10, cfg.workers),
                                      probe_interval=min(5.0, cfg.renew_interval))
        self.nodes: dict[str, Node] = {}
        self.renewed: dict[str, float] = {}  # node -> wall time of its last renewal
        self.first_seen: dict[str, float] = {}  # node -> wall time this manager first saw it
        self.lapsed_since: dict[str, float] = {}
        self.recovered_at = 0.0  # grace: deadlines count from here after an outage
        self.api_failing = False
        self.paused = False
        self.throughput = float(cfg.workers)  # completions per second, measured (EWMA)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="lease")
        self._busy = 0
        self._inventory_at = 0.0
        self._leases_at = 0.0  # last list of the Leases: at each takeover, then rarely
        self._nodes_version = -1
        # Nodes by list + watch: listing 5,000 of them every inventory (5 MB of JSON every
        # 2 s) cost the API server and this process more than all the lease writes.
        self._node_watch = ListWatch(self.core.list_node, "nodes",
                                     label_selector=cfg.selector)
        self._taint_buckets: dict[str, TokenBucket] = {}
        self._stop = threading.Event()
        self._freed = threading.Event()  # a worker finished: hand out more work now
        # Nodes whose work finished, handed back to the loop thread: the queue is only ever
        # touched by that one thread.
        self._finished: queue.SimpleQueue[str] = queue.SimpleQueue()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        self._node_watch.start().synced.wait(timeout=10)
        last, was_leading = time.monotonic(), False
        while not self._stop.is_set():
            # Lease writes run in workers; the loop itself only schedules, so a minute of
            # silence means it is wedged.
            LIVENESS.beat("lease manager loop", self.cfg.tick + 60.0)
            gap, last = time.monotonic() - last, time.monotonic()
            if gap > self.cfg.renew_interval:
                # We were stalled (CPU starvation, a pause): that is our own outage.
                self.recovered_at = time.time()
                log.warning("lease manager stalled %.1f s: every lease deadline reset", gap)
            leading = self.elector.leading
            metrics.LEASE_LEADER.set(1 if leading else 0)
            if leading and not was_leading:
                self._leases_at = 0.0  # a takeover: learn every renewal from the Leases
            was_leading = leading
            if leading:
                try:
                    self.tick()
                except Exception:
                    log.exception("lease manager tick failed; retrying")
            self._between_ticks(leading)

    def _between_ticks(self, leading: bool) -> None:
        """Until the next tick, a worker that finishes gets the next item at once: handing
        out work only on ticks capped throughput at workers / tick (160/s with 32 workers),
        below what 5,000 nodes at a 30 s renew period need (167/s). Only the dispatch runs
        here; scheduling over every node stays once per tick."""
        deadline = time.monotonic() + self.cfg.tick
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._freed.wait(left):
                self._freed.clear()
                self._reap()
                if leading and not self.paused:
                    self._dispatch(time.monotonic())

    def _reap(self) -> None:
        while True:
            try:
                self.queue.done(self._finished.get_nowait())
            except queue.Empty:
                return

    def stop(self) -> None:
        self._stop.set()
        self._freed.set()
        LIVENESS.forget("lease manager loop")
        self._node_watch.stop()

    def tick(self) -> None:
        self._reap()
        now = time.monotonic()
        if now - self._inventory_at >= self.cfg.inventory_interval:
            self._inventory()
            self._inventory_at = now
        metrics.LEASE_PAUSED.set(1 if self.paused else 0)
        if self.paused:
            return
        wall = time.time()
        self._schedule(now, wall)
        self._dispatch(now)
        self._taints(now, wall)
        metrics.LEASE_QUEUE_DEPTH.set(len(self.queue))
        metrics.LEASE_QUEUE_OLDEST.set(self.queue.oldest_age(now))
        metrics.LEASE_TOKENS.set(max(self.bucket.tokens, 0))
        metrics.LEASE_DEPENDENCY_UP.set(0 if self._dependency_failing() else 1)

    def live(self, node: str, wall: float) -> bool:
        """A lease is live for a full duration after its last renewal; a node first seen
        (or seen by a manager that just took over) and every node after an outage of our
        own get a full duration of grace before they are judged."""
        since = max(self.renewed.get(node, 0.0), self.recovered_at,
                    self.first_seen.get(node, 0.0))
        return since + self.cfg.lease_duration > wall

    def _dependency_failing(self) -> bool:
        return self.breaker.open or self.api_failing

    # -- inventory ---------------------------------------------------------------------
    def _inventory(self) -> None:
        """Nodes from the watch; the pause flag (a one-object read that doubles as the API
        health probe) every pass; the Leases at a takeover and once per lease duration
        (between those, this leader's own writes are the renewals)."""
        now = time.monotonic()
        leases = None
        try:
            try:
                cm = self.core.read_namespaced_config_map("planguard-leases", self.cfg.namespace)
                self.paused = (cm.data or {}).get("paused", "false").lower() == "true"
            except ApiException as e:
                if e.status != 404:
                    raise
                self.paused = False
            if not self._node_watch.healthy or not self._node_watch.synced.is_set():
                raise RuntimeError("the Node watch is not current")
            if now - self._leases_at >= self.cfg.lease_duration:
                # Plain JSON, not the client's models: for thousands of objects, building
                # those cost more CPU than all the check-ins and lease writes.
                leases = json.loads(self.coord.list_namespaced_lease(
                    self.cfg.namespace, label_selector=LEASE_LABEL, _preload_content=False
                ).data)["items"] or []
                self._leases_at = now
        except Exception as e:  # the API is down: nothing is judged from stale data
            self._api_result(False)
            log.warning("lease inventory failed: %s", e)
            return
        self._api_result(True)
        version, nodes = self._node_watch.snapshot()
        fresh = None
        if version != self._nodes_version:
            self._nodes_version = version
            fresh = {}
            for n in nodes:
                meta = n["metadata"]
                url = (meta.get("annotations") or {}).get(AGENT_ANNOTATION) or \
                    self._url_from_address(n)
                taints = (n.get("spec") or {}).get("taints") or []
                fresh[meta["name"]] = Node(
                    meta["name"], (meta.get("labels") or {}).get(ZONE_LABEL, ""), url,
                    any(t.get("key") == TAINT_KEY for t in taints), meta["resourceVersion"])
        with self._lock:
            if fresh is not None:
                seen = time.time()
                for name in fresh:
                    self.first_seen.setdefault(name, seen)
                self.nodes = fresh
            for lease in leases or []:
                node = (lease["metadata"].get("labels") or {}).get(LEASE_LABEL)
                renew = (lease.get("spec") or {}).get("renewTime")
                if node and renew:
                    self.renewed[node] = max(self.renewed.get(node, 0.0),
                                             datetime.fromisoformat(renew).timestamp())

    @staticmethod
    def _url_from_address(n: dict[str, Any]) -> str:
        for a in (n.get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                return f"http://{a['address']}:10250/planguard/checkin"
        return ""

    def _api_result(self, ok: bool) -> None:
        if ok and self.api_failing:
            self.recovered_at = time.time()  # a full lease for everyone before judging
            log.warning("API server reachable again: every lease deadline reset")
        self.api_failing = not ok

    # -- scheduling --------------------------------------------------------------------
    def _schedule(self, now: float, wall: float) -> None:
        waiting = []
        in_flight = self.queue.in_flight()
        for name in self.nodes:
            renewed = self.renewed.get(name)
            if renewed is not None and self.live(name, wall):
                if wall - renewed >= self.cfg.renew_interval:
                    left = max(renewed, self.recovered_at) + self.cfg.lease_duration - wall
                    self.queue.add(Work(name, Kind.RENEW, now, now + max(left, 0.001)))
            elif name not in in_flight:
                waiting.append(name)  # no lease yet, or lapsed: an establishment
        n = admit(len(self.queue), self.queue.oldest_age(now), self.throughput,
                  self.cfg.admission)
        for name in sorted(waiting, key=lambda x: self.renewed.get(x, 0.0))[:n]:
            if self.queue.add(Work(name, Kind.ESTABLISH, now,
                                   now + self.cfg.lease_duration / 2)):
                metrics.LEASE_ADMISSIONS.inc()

    def _dispatch(self, now: float) -> None:
        while self._busy < self.cfg.workers:
            if not self.breaker.allow(now):
                return  # the dependency is down: no per-node retries, one probe at a time
            if not self.bucket.take(now):
                return
            w, expired = self.queue.pop(now)
            if expired:
                metrics.LEASE_DROPPED.inc(len(expired))
            if w is None:
                self.bucket.tokens += 1  # unused
                return
            node = self.nodes.get(w.node)
            if node is None:
                self.queue.done(w.node)
                continue
            with self._lock:
                self._busy += 1
            self._pool.submit(self._work, w, node)
            if self.breaker.open:
                return  # the probe

    def _work(self, w: Work, node: Node) -> None:
        t0 = time.monotonic()
        try:
            ok = self._checkin(node)
            metrics.LEASE_CHECKINS.labels("ok" if ok else "failed").inc()
            if self.breaker.record(ok, time.monotonic()):
                self.recovered_at = time.time()
                log.warning("check-ins work again: every lease deadline reset to a full lease")
            if ok and time.monotonic() < w.deadline:
                self._write_lease(node.name)
        finally:
            dt = max(time.monotonic() - t0, 1e-3)
            with self._lock:
                self._busy -= 1
                self.throughput = 0.9 * self.throughput + 0.1 * (self.cfg.workers / dt)
            self._finished.put(w.node)
            self._freed.set()

    def _checkin(self, node: Node) -> bool:
        u = urllib.parse.urlsplit(node.url)
        if not u.hostname:
            return False
        conn = http.client.HTTPConnection(u.hostname, u.port or 80,
                                          timeout=self.cfg.checkin_timeout)
        try:
            conn.request("GET", u.path or "/")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _write_lease(self, node: str) -> None:
        wall = time.time()
        now = datetime.fromtimestamp(wall, UTC)
        name = f"node-{node}"
        spec = {"holderIdentity": self.cfg.identity, "renewTime": now.isoformat(),
                "leaseDurationSeconds": int(self.cfg.lease_duration)}
        new = {"metadata": {"name": name, "labels": {LEASE_LABEL: node}},
               "spec": {**spec, "acquireTime": now.isoformat()}}
        # Answers are not parsed (nothing in them is used). A lease never seen is created
        # at once rather than after a patch that can only answer 404.
        try:
            if node in self.renewed:
                if not self._lease_call(404, self.coord.patch_namespaced_lease, name,
                                        self.cfg.namespace, {"spec": spec}):
                    self._lease_call(None, self.coord.create_namespaced_lease,
                                     self.cfg.namespace, new)
            elif not self._lease_call(409, self.coord.create_namespaced_lease,
                                      self.cfg.namespace, new):
                self._lease_call(None, self.coord.patch_namespaced_lease, name,
                                 self.cfg.namespace, {"spec": spec})
        except Exception as e:
            self._api_result(False)
            log.warning("could not renew the lease of %s: %s", node, e)
            return
        self._api_result(True)
        with self._lock:
            self.renewed[node] = wall

    @staticmethod
    def _lease_call(tolerated: int | None, call: Any, *args: Any) -> bool:
        """False if the API server answered `tolerated` (e.g. 404: no such lease yet)."""
        try:
            discard(call(*args, _preload_content=False))
        except ApiException as e:
            if e.status != tolerated:
                raise
            return False
        return True

    # -- taints ------------------------------------------------------------------------
    def _taints(self, now: float, wall: float) -> None:
        zones: dict[str, ZoneCount] = {}
        lapsed: dict[str, list[Node]] = {}
        for n in self.nodes.values():
            is_live = self.live(n.name, wall)
            c = zones.get(n.zone, ZoneCount(0, 0))
            zones[n.zone] = ZoneCount(c.live + is_live, c.lapsed + (not is_live))
            if is_live:
                self.lapsed_since.pop(n.name, None)
                if n.tainted:
                    self._set_taint(n, False)  # a live lease is a candidate again, at once
            elif not n.tainted:
                lapsed.setdefault(n.zone, []).append(n)
        metrics.LEASES.labels("live").set(sum(c.live for c in zones.values()))
        metrics.LEASES.labels("lapsed").set(sum(c.lapsed for c in zones.values()))
        rates = taint_rates(zones, dependency_ok=not self._dependency_failing())
        delay = self.cfg.taint_delay or 2 * self.cfg.renew_interval
        for zone, nodes in lapsed.items():
            if rates[zone] == 0:
                # Frozen: the lapse clock restarts, so a zone coming back from a wide loss
                # does not taint its last few nodes in the seconds before they renew.
                for n in nodes:
                    self.lapsed_since[n.name] = wall
                metrics.TAINTS_HELD.labels(zone).inc(len(nodes))
                continue
            bucket = self._taint_buckets.setdefault(zone, TokenBucket(rates[zone], 1.0))
            bucket.rate = rates[zone]
            for n in nodes:
                # Judged only once the lapse has lasted a while in a zone that looks normal,
                # so a loss happening all at once is seen as one, not lease by lease.
                if wall - self.lapsed_since.setdefault(n.name, wall) < delay:
                    continue
                if not bucket.take(now):
                    metrics.TAINTS_HELD.labels(zone).inc()
                    break
                self._set_taint(n, True)

    def _set_taint(self, n: Node, on: bool) -> None:
        try:
            node = self.core.read_node(n.name)
            taints = [t for t in (node.spec.taints or []) if t.key != TAINT_KEY]
            body_taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in taints]
            if on:
                body_taints.append({"key": TAINT_KEY, "effect": "NoSchedule"})
            self.core.patch_node(n.name, {
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": body_taints or None}})
        except ApiException as e:
            log.warning("could not %s taint on %s: %s", "set" if on else "clear", n.name,
                        e.reason)
            return
        n.tainted = on
        metrics.TAINTS.labels("applied" if on else "removed").inc()
        log.info("%s taint %s on node %s", "applied" if on else "removed", TAINT_KEY, n.name)
