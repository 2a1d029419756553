"""`planguard leases`: a Lease per managed Node, renewed after a real check-in with the
node's agent; a NoSchedule taint on nodes whose lease lapsed, velocity-limited per zone and
frozen when the view itself is failing. DWFM's job, without congestive collapse.

Every decision (what to renew or establish and when, admission, which leases are live,
which nodes to taint) is core/nodelease/scheduler.py, the same code `planguard replay dwfm`
runs; this module does the I/O: listing Nodes and Leases, HTTP check-ins, Lease writes,
taint patches.
"""

from __future__ import annotations

import logging
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from planguard import metrics
from planguard.core import timefmt
from planguard.core.contract import LEASE_LABEL, MANAGED_LABEL
from planguard.core.liveness import LIVENESS
from planguard.core.nodelease import checkin
from planguard.core.nodelease.nodes import Node, parse_node
from planguard.core.nodelease.queue import Work
from planguard.core.nodelease.scheduler import LeasePolicy, LeaseScheduler
from planguard.kube import rest
from planguard.kube.leader import LeaderElector
from planguard.kube.listwatch import ListWatch
from planguard.kube.nodeleases import NodeLeases
from planguard.roles.node_actions import Outcome, Renewer, apply_taints

log = logging.getLogger(__name__)


@dataclass
class LeaseConfig:
    namespace: str
    selector: str = f"{MANAGED_LABEL}=true"
    # What to renew and when, admission, the breaker: core/nodelease/scheduler.py.
    policy: LeasePolicy = field(default_factory=LeasePolicy)
    checkin_timeout: float = 2.0
    tick: float = 0.2
    inventory_interval: float = 2.0
    identity: str = "planguard-leases"
    agent_port: int = 10251  # `planguard agent` on the node's InternalIP (hostNetwork)
    # The check-in key (core/nodelease/checkin.py), read again when its file changes (keyfile.py).
    checkin_key: Callable[[], bytes] = field(default=lambda: b"", repr=False)
    loopback_agent_urls: bool = False  # honour loopback agent-url annotations (the fleet)


class LeaseManager:
    """Wiring only: the policy is core/nodelease/scheduler.py; this class lists Nodes and
    Leases, makes the HTTP check-ins, writes the Leases and patches the taints."""

    def __init__(self, client: rest.Client, cfg: LeaseConfig, elector: LeaderElector,
                 nonce: Callable[[], str] = lambda: secrets.token_hex(16)) -> None:
        if len(cfg.checkin_key()) < checkin.MIN_KEY_BYTES:
            raise ValueError("the lease manager needs the check-in key")
        self.client = client
        self.api = NodeLeases(client, cfg.namespace, cfg.identity, cfg.policy.lease_duration)
        self.cfg, self.elector = cfg, elector
        self._renewer = Renewer(self.api, cfg.checkin_key, nonce, cfg.checkin_timeout)
        self.sched = LeaseScheduler(cfg.policy)
        self.nodes: dict[str, Node] = {}
        self.paused = False
        self._pool = ThreadPoolExecutor(max_workers=cfg.policy.workers, thread_name_prefix="lease")
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
            self.paused = self.api.paused()
            if not self._node_watch.healthy or not self._node_watch.synced.is_set():
                raise RuntimeError("the Node watch is not current")
            if now - self._leases_at >= self.cfg.policy.lease_duration:
                leases = self.api.list()
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
                    node, timefmt.parse(renew).timestamp() - wall_offset)
        version, nodes = self._node_watch.snapshot()
        if version != self._nodes_version:
            self._nodes_version = version
            fresh = [parse_node(n, self.cfg.agent_port, self.cfg.loopback_agent_urls)
                     for n in nodes]
            self.nodes = {n.name: n for n in fresh}
            self.sched.observe_nodes({n.name: n.zone for n in fresh}, now)

    def _api_result(self, ok: bool, now: float) -> None:
        if ok and self.sched.api_failing:
            log.warning("API server reachable again: every lease deadline reset")
        self.sched.api_result(ok, now)

    # -- handing out work --------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        while self._busy < self.cfg.policy.workers:
            w, dropped = self.sched.next_work(now)
            if dropped:
                metrics.LEASE_DROPPED.inc(dropped)
            if w is None:
                return
            self._busy += 1
            self._pool.submit(self._work, w, self.nodes[w.node], w.node in self.sched.renewed)

    def _work(self, w: Work, node: Node, has_lease: bool) -> None:
        # An Outcome even if the renewal itself dies: a lost one would keep _busy up for good.
        o = Outcome(w, False, None, None, time.monotonic(), 0.0)
        try:
            o = self._renewer.renew(w, node, has_lease)
        finally:
            self._finished.put(o)
            self._freed.set()

    # -- taints ------------------------------------------------------------------------
    def _taints(self, now: float) -> None:
        tainted = {n.name for n in self.nodes.values() if n.tainted}
        apply_taints(self.api, self.sched.taints(now, tainted), self.nodes)
