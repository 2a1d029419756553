"""`planguard leases`: a Lease per managed Node, renewed after a real check-in with the
node's agent; a NoSchedule taint on nodes whose lease lapsed, velocity-limited per zone and
frozen when the view itself is failing. DWFM's job, without congestive collapse.

Every decision (what to renew or establish and when, admission, which leases are live,
which nodes to taint) is core/nodelease/scheduler.py, the same code `planguard replay dwfm`
runs; this module does the I/O: listing Nodes and Leases, HTTP check-ins, Lease writes,
taint patches.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planguard import metrics
from planguard.core.contract import (
    LEASE_LABEL,
    LEASES_PAUSE_CONFIGMAP,
    MANAGED_LABEL,
    TAINT_KEY,
    ZONE_LABEL,
    lease_name,
)
from planguard.core.liveness import LIVENESS
from planguard.core.nodelease import checkin
from planguard.core.nodelease.queue import AdmissionLimits, Work
from planguard.core.nodelease.scheduler import BreakerLimits, LeasePolicy, LeaseScheduler
from planguard.kube import rest
from planguard.kube.leader import LeaderElector
from planguard.kube.listwatch import ListWatch
from planguard.kube.rest import JSON, MERGE_PATCH, ApiError, micro_time

log = logging.getLogger(__name__)


@dataclass
class LeaseConfig:
    namespace: str
    selector: str = f"{MANAGED_LABEL}=true"
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
    agent_port: int = 10251  # `planguard agent` on the node's InternalIP (hostNetwork)
    # The check-in key (core/nodelease/checkin.py), read again when its file changes (keyfile.py).
    checkin_key: Callable[[], bytes] = field(default=lambda: b"", repr=False)
    loopback_agent_urls: bool = False  # honour loopback agent-url annotations (the fleet)

    def policy(self) -> LeasePolicy:
        # The breaker judges the dependency over a few rounds of every worker.
        return LeasePolicy(
            lease_duration=self.lease_duration, renew_interval=self.renew_interval,
            workers=self.workers, rate=self.rate, burst=self.burst, admission=self.admission,
            breaker=BreakerLimits(window=max(50, self.workers * 4),
                                  min_samples=max(10, self.workers),
                                  probe_interval=min(5.0, self.renew_interval)),
            taint_delay=self.taint_delay)


MAX_ANSWER = 4096  # bytes of a check-in answer read at most


def http_get(target: checkin.Target, query: str, timeout: float) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.0 GET, within `timeout` seconds overall (connect and
    every read): an agent, or whatever squats its port, that answers a byte at a time holds
    a worker no longer than that. Raises OSError or ValueError."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((target.host, target.port), timeout=timeout) as s:
        host = f"[{target.host}]" if ":" in target.host else target.host
        s.sendall(f"GET {target.path}?{query} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while len(data) <= MAX_ANSWER:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("check-in answer too slow")
            s.settimeout(left)
            chunk = s.recv(MAX_ANSWER + 1 - len(data))
            if not chunk:
                break
            data += chunk
    if len(data) > MAX_ANSWER:
        raise ValueError("check-in answer too long")
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/"):
        raise ValueError("not an HTTP answer")
    return int(status[1]), body


@dataclass
class Node:
    name: str
    zone: str
    target: checkin.Target | None
    tainted: bool
    resource_version: str


@dataclass(frozen=True)
class Outcome:
    """A worker's report, handed back to the loop thread (the only one that touches the
    scheduler). Times are monotonic."""

    work: Work
    checked_in: bool
    renewed_at: float | None  # the lease written then; None: not written
    api_ok: bool | None  # the lease write reached the API server; None: not tried
    finished: float
    duration: float


class LeaseManager:
    """Wiring only: the policy is core/nodelease/scheduler.py; this class lists Nodes and
    Leases, makes the HTTP check-ins, writes the Leases and patches the taints."""

    def __init__(self, client: rest.Client, cfg: LeaseConfig, elector: LeaderElector,
                 nonce: Callable[[], str] = lambda: secrets.token_hex(16)) -> None:
        if len(cfg.checkin_key()) < checkin.MIN_KEY_BYTES:
            raise ValueError("the lease manager needs the check-in key")
        self.client, self.nonce = client, nonce
        self.leases = rest.path("coordination.k8s.io/v1", "leases", cfg.namespace)
        self.cfg, self.elector = cfg, elector
        self.sched = LeaseScheduler(cfg.policy())
        self.nodes: dict[str, Node] = {}
        self.paused = False
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="lease")
        self._busy = 0
        self._inventory_at = 0.0
        self._leases_at = -math.inf  # last list of the Leases: at each takeover, then rarely
        self._nodes_version = -1
        # Nodes by list + watch: listing 5,000 of them every inventory (5 MB of JSON every
        # 2 s) cost the API server and this process more than all the lease writes.
        self._node_watch = ListWatch(client, rest.path("v1", "nodes"), "nodes",
                                     labelSelector=cfg.selector)
        self._stop = threading.Event()
        self._freed = threading.Event()  # a worker finished: hand out more work now
        self._finished: queue.SimpleQueue[Outcome] = queue.SimpleQueue()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        self._node_watch.start().synced.wait(timeout=10)
        last, was_leading = time.monotonic(), False
        while not self._stop.is_set():
            # Lease writes run in workers; the loop itself only schedules, so a minute of
            # silence means it is wedged.
            LIVENESS.beat("lease manager loop", self.cfg.tick + 60.0)
            now = time.monotonic()
            gap, last = now - last, now
            if self.sched.stalled(gap, now):
                log.warning("lease manager stalled %.1f s: every lease deadline reset", gap)
            leading = self.elector.leading
            metrics.LEASE_LEADER.set(1 if leading else 0)
            if leading and not was_leading:
                self._leases_at = -math.inf  # a takeover: learn every renewal from the Leases
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
        here; planning over the due nodes stays once per tick."""
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
                o = self._finished.get_nowait()
            except queue.Empty:
                return
            self._busy -= 1
            metrics.LEASE_CHECKINS.labels("ok" if o.checked_in else "failed").inc()
            if o.api_ok is not None:
                self._api_result(o.api_ok, o.finished)
            if self.sched.record(o.work, o.checked_in, o.renewed_at, o.finished, o.duration):
                log.warning("check-ins work again: every lease deadline reset to a full lease")

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
        metrics.LEASE_ADMISSIONS.inc(self.sched.plan(now).admitted)
        self._dispatch(now)
        self._taints(now)
        q = self.sched.queue
        metrics.LEASE_QUEUE_DEPTH.set(len(q))
        metrics.LEASE_QUEUE_OLDEST.set(q.oldest_age(now))
        metrics.LEASE_TOKENS.set(max(self.sched.bucket.tokens, 0))
        metrics.LEASE_DEPENDENCY_UP.set(0 if self.sched.dependency_failing else 1)

    # -- inventory ---------------------------------------------------------------------
    def _inventory(self) -> None:
        """Nodes from the watch; the pause flag (a one-object read that doubles as the API
        health probe) every pass; the Leases at a takeover and once per lease duration
        (between those, this leader's own writes are the renewals)."""
        now = time.monotonic()
        leases = None
        try:
            try:
                cm = self.client.json("GET", rest.path(
                    "v1", "configmaps", self.cfg.namespace, LEASES_PAUSE_CONFIGMAP))
                self.paused = (cm.get("data") or {}).get("paused", "false").lower() == "true"
            except ApiError as e:
                if e.status != 404:
                    raise
                self.paused = False
            if not self._node_watch.healthy or not self._node_watch.synced.is_set():
                raise RuntimeError("the Node watch is not current")
            if now - self._leases_at >= self.cfg.lease_duration:
                leases = self.client.json("GET", self.leases,
                                          query={"labelSelector": LEASE_LABEL})["items"] or []
                self._leases_at = now
        except Exception as e:  # the API is down: nothing is judged from stale data
            self._api_result(False, now)
            log.warning("lease inventory failed: %s", e)
            return
        self._api_result(True, now)
        # Renewals before nodes: a node whose lease is known is due when that lease is.
        wall_offset = time.time() - time.monotonic()  # Lease times are wall clock
        for lease in leases or []:
            node = (lease["metadata"].get("labels") or {}).get(LEASE_LABEL)
            renew = (lease.get("spec") or {}).get("renewTime")
            if node and renew:
                self.sched.observe_renewal(
                    node, datetime.fromisoformat(renew).timestamp() - wall_offset)
        version, nodes = self._node_watch.snapshot()
        if version != self._nodes_version:
            self._nodes_version = version
            fresh = {}
            for n in nodes:
                meta = n["metadata"]
                target = checkin.target(n, self.cfg.agent_port, self.cfg.loopback_agent_urls)
                taints = (n.get("spec") or {}).get("taints") or []
                fresh[meta["name"]] = Node(
                    meta["name"], (meta.get("labels") or {}).get(ZONE_LABEL, ""), target,
                    any(t.get("key") == TAINT_KEY for t in taints), meta["resourceVersion"])
            self.nodes = fresh
            self.sched.observe_nodes({n.name: n.zone for n in fresh.values()}, now)

    def _api_result(self, ok: bool, now: float) -> None:
        if ok and self.sched.api_failing:
            log.warning("API server reachable again: every lease deadline reset")
        self.sched.api_result(ok, now)

    # -- handing out work --------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        while self._busy < self.cfg.workers:
            w, dropped = self.sched.next_work(now)
            if dropped:
                metrics.LEASE_DROPPED.inc(dropped)
            if w is None:
                return
            self._busy += 1
            self._pool.submit(self._work, w, self.nodes[w.node], w.node in self.sched.renewed)

    def _work(self, w: Work, node: Node, has_lease: bool) -> None:
        t0 = time.monotonic()
        ok, renewed_at, api_ok = False, None, None
        try:
            ok = self._checkin(node)
            if ok and not w.expired(time.monotonic()):
                api_ok = False
                renewed_at = self._write_lease(node.name, has_lease)
                api_ok = True
        except Exception as e:
            log.warning("could not renew the lease of %s: %s", node.name, e)
        finally:
            t1 = time.monotonic()
            self._finished.put(Outcome(w, ok, renewed_at, api_ok, t1, t1 - t0))
            self._freed.set()

    def _checkin(self, node: Node) -> bool:
        """True only if the node's agent proved it saw this fresh nonce
        (core/nodelease/checkin.py)."""
        if node.target is None:
            return False
        nonce = self.nonce()
        try:
            status, body = http_get(node.target, f"nonce={nonce}", self.cfg.checkin_timeout)
            answer = json.loads(body).get("proof") if status == 200 else None
        except (OSError, ValueError, AttributeError):
            return False
        if checkin.verify(self.cfg.checkin_key(), node.name, nonce, answer):
            return True
        if status == 200:
            log.warning("check-in of %s at %s: a wrong proof (not its agent, or another key)",
                        node.name, node.target.url())
        return False

    def _write_lease(self, node: str, has_lease: bool) -> float:
        """Writes the node's Lease; returns when (monotonic), or raises."""
        at = time.monotonic()
        now = micro_time(datetime.fromtimestamp(time.time(), UTC))
        name = lease_name(node)
        spec = {"holderIdentity": self.cfg.identity, "renewTime": now,
                "leaseDurationSeconds": int(self.cfg.lease_duration)}
        new = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "labels": {LEASE_LABEL: node}},
               "spec": {**spec, "acquireTime": now}}
        # Answers are not parsed (nothing in them is used). A lease never seen is created
        # at once rather than after a patch that can only answer 404.
        patch = ("PATCH", f"{self.leases}/{name}", {"spec": spec}, MERGE_PATCH)
        create = ("POST", self.leases, new, JSON)
        if has_lease:
            if not self._lease_call(404, *patch):
                self._lease_call(None, *create)
        elif not self._lease_call(409, *create):
            self._lease_call(None, *patch)
        return at

    def _lease_call(self, tolerated: int | None, method: str, path: str, body: Any,
                    content_type: str) -> bool:
        """False if the API server answered `tolerated` (e.g. 404: no such lease yet)."""
        try:
            self.client.request(method, path, body=body, content_type=content_type)
        except ApiError as e:
            if e.status != tolerated:
                raise
            return False
        return True

    # -- taints ------------------------------------------------------------------------
    def _taints(self, now: float) -> None:
        plan = self.sched.taints(now, {n.name for n in self.nodes.values() if n.tainted})
        metrics.LEASES.labels("live").set(plan.live)
        metrics.LEASES.labels("lapsed").set(plan.lapsed)
        for zone, held in plan.held.items():
            metrics.TAINTS_HELD.labels(zone).inc(held)
        for name in plan.lift:
            self._set_taint(self.nodes[name], False)
        for name in plan.apply:
            self._set_taint(self.nodes[name], True)

    def _set_taint(self, n: Node, on: bool) -> None:
        try:
            path = rest.path("v1", "nodes", name=n.name)
            node = self.client.json("GET", path)
            taints = [t for t in (node.get("spec") or {}).get("taints") or []
                      if t.get("key") != TAINT_KEY]
            if on:
                taints.append({"key": TAINT_KEY, "effect": "NoSchedule"})
            # The whole list, conditional on the node read: no other writer's taint lost.
            self.client.request("PATCH", path, content_type=MERGE_PATCH, body={
                "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                "spec": {"taints": taints or None}})
        except ApiError as e:
            log.warning("could not %s taint on %s: %s", "set" if on else "clear", n.name, e)
            return
        n.tainted = on
        metrics.TAINTS.labels("applied" if on else "removed").inc()
        log.info("%s taint %s on node %s", "applied" if on else "removed", TAINT_KEY, n.name)
