"""What the lease manager (roles/leases.py) does to nodes: check in with a node's agent
and renew its Lease (on a worker thread, reporting an Outcome); carry out a taint pass.
Which node and when is decided in core/nodelease/scheduler.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from planguard import metrics
from planguard.checkin_client import CheckIn, check_in
from planguard.core.contract import TAINT_KEY
from planguard.core.nodelease.nodes import Node
from planguard.core.nodelease.queue import Work
from planguard.core.nodelease.scheduler import TaintPlan
from planguard.kube.nodeleases import NodeLeases
from planguard.kube.rest import ApiError

log = logging.getLogger("planguard.roles.leases")  # the lease manager's lines: one logger


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


@dataclass(frozen=True)
class Renewer:
    """One check-in, then the Lease write if the check-in proved the agent in time."""

    api: NodeLeases
    key: Callable[[], bytes]  # the check-in key, as read now (core/nodelease/checkin.py)
    nonce: Callable[[], str]
    timeout: float  # one check-in's deadline

    def renew(self, w: Work, node: Node, has_lease: bool) -> Outcome:
        t0 = time.monotonic()
        ok, renewed_at, api_ok = False, None, None
        try:
            ok = self.check_in(node)
            if ok and not w.expired(time.monotonic()):
                api_ok = False
                at = time.monotonic()  # the lease's renewal as written, or nothing
                self.api.write(node.name, has_lease)
                renewed_at = at
                api_ok = True
        except Exception as e:
            log.warning("could not renew the lease of %s: %s", node.name, e)
        t1 = time.monotonic()
        return Outcome(w, ok, renewed_at, api_ok, t1, t1 - t0)

    def check_in(self, node: Node) -> bool:
        """True only if the node's agent proved it saw this fresh nonce
        (core/nodelease/checkin.py)."""
        if node.target is None:
            return False
        got = check_in(node.target, node.name, self.key(), self.nonce(), self.timeout)
        if got is CheckIn.WRONG_PROOF:
            log.warning("check-in of %s at %s: a wrong proof (not its agent, or another key)",
                        node.name, node.target.url())
        return got is CheckIn.PROVED


def apply_taints(api: NodeLeases, plan: TaintPlan, nodes: dict[str, Node]) -> None:
    """What the scheduler's taint pass decided: its counts as metrics, then the writes."""
    metrics.LEASES.labels("live").set(plan.live)
    metrics.LEASES.labels("lapsed").set(plan.lapsed)
    for zone, held in plan.held.items():
        metrics.TAINTS_HELD.labels(zone).inc(held)
    for name in plan.lift:
        set_taint(api, nodes[name], False)
    for name in plan.apply:
        set_taint(api, nodes[name], True)


def set_taint(api: NodeLeases, n: Node, on: bool) -> None:
    """The NoSchedule taint on or off; `n.tainted` follows only a write that succeeded."""
    try:
        api.set_taint(n.name, on)
    except ApiError as e:
        log.warning("could not %s taint on %s: %s", "set" if on else "clear", n.name, e)
        return
    n.tainted = on
    metrics.TAINTS.labels("applied" if on else "removed").inc()
    log.info("%s taint %s on node %s", "applied" if on else "removed", TAINT_KEY, n.name)
