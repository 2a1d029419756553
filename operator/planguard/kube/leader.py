"""Leader election on a coordination.k8s.io/v1 Lease (client-go semantics, see
core/leader_election.py). Every write is conditional on the resourceVersion read, so two
candidates can never both win the same round."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from planguard.core import timefmt
from planguard.core.leader_election import (
    RETRY_PERIOD,
    LeaseRecord,
    Observation,
    claim,
    observe,
    still_leading,
)
from planguard.core.liveness import LIVENESS
from planguard.kube import rest
from planguard.kube.rest import ApiError

log = logging.getLogger(__name__)


def _ts(text: str | None) -> float:
    return timefmt.parse(text).timestamp() if text else 0.0


def _spec(holder: str | None, duration: int, acquired: float, renewed: float,
          transitions: int) -> dict[str, Any]:
    return {"holderIdentity": holder, "leaseDurationSeconds": duration,
            "acquireTime": timefmt.micro(datetime.fromtimestamp(acquired, UTC)),
            "renewTime": timefmt.micro(datetime.fromtimestamp(renewed, UTC)),
            "leaseTransitions": transitions}


class LeaderElector:
    def __init__(self, client: rest.Client, namespace: str, name: str, identity: str) -> None:
        self.client = client
        self.leases = rest.path("coordination.k8s.io/v1", "leases", namespace)
        self.ns, self.name, self.me = namespace, name, identity
        self._obs: Observation | None = None
        self._renewed = -1e9  # monotonic time of our last successful write
        self._stop = threading.Event()

    @property
    def leading(self) -> bool:
        return still_leading(self._renewed, time.monotonic())

    def try_acquire_or_renew(self) -> bool:
        now, wall = time.monotonic(), time.time()
        try:
            lease: dict[str, Any] | None = self.client.json("GET", self._lease_path)
        except ApiError as e:
            if e.status != 404:
                raise
            lease = None
        rec = self._record(lease)
        self._obs = observe(self._obs, rec, now)
        new = claim(self._obs, self.me, now, wall)
        if new is None:
            return False
        spec = _spec(new.holder, int(new.duration), new.acquired, new.renewed,
                     new.transitions)
        try:
            if lease is None:
                self.client.request("POST", self.leases, body={
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name}, "spec": spec})
            else:
                lease["spec"] = spec  # resourceVersion from the read: a conditional write
                self.client.request("PUT", self._lease_path, body=lease)
        except ApiError as e:
            if e.status in (409, 422):
                return False  # someone else wrote first; judge again next round
            raise
        self._renewed = now
        return True

    @property
    def _lease_path(self) -> str:
        return f"{self.leases}/{self.name}"

    @staticmethod
    def _record(lease: dict[str, Any] | None) -> LeaseRecord | None:
        s = (lease or {}).get("spec")
        if not s:
            return None
        return LeaseRecord(s.get("holderIdentity"), float(s.get("leaseDurationSeconds") or 15),
                           _ts(s.get("acquireTime")), _ts(s.get("renewTime")),
                           s.get("leaseTransitions") or 0)

    def run(self) -> None:
        """Campaigns and renews every retry period until stopped (call in a thread)."""
        was = False
        loop, check = f"leader election {self.ns}/{self.name}", "leader election"
        while not self._stop.is_set():
            # API calls time out well within this (kube/rest.py), so a silent thread is stuck.
            LIVENESS.beat(loop, 60.0)
            try:
                self.try_acquire_or_renew()
                LIVENESS.ready(check, True)  # leader or standby: either way it can work
            except Exception as e:  # API down: leadership lapses by the renew deadline
                log.warning("leader election: %s", e)
                LIVENESS.ready(check, False, f"Lease {self.ns}/{self.name} unreachable: {e}")
            now = self.leading
            if now != was:
                log.warning("%s %s leadership of %s/%s", self.me,
                            "acquired" if now else "lost", self.ns, self.name)
                was = now
            self._stop.wait(RETRY_PERIOD)

    def stop(self) -> None:
        self._stop.set()
        LIVENESS.forget(f"leader election {self.ns}/{self.name}")

    def release(self) -> bool:
        """Gives the Lease up at once if we hold it (client-go's ReleaseOnCancel): holder
        cleared, duration 1 s, so a standby takes over on its next round instead of waiting
        out the lease. Call after stopping the work the leadership guards. Conditional on
        the resourceVersion read: a Lease someone else took meanwhile is left alone."""
        self._renewed = -1e9  # from here on this process never acts as the leader
        try:
            lease = self.client.json("GET", self._lease_path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.me:
                return False
            now = time.time()
            lease["spec"] = _spec(None, 1, now, now, spec.get("leaseTransitions") or 0)
            self.client.request("PUT", self._lease_path, body=lease)
        except Exception as e:  # the Lease expires by itself; nothing else to do
            log.warning("could not release leadership of %s/%s: %s", self.ns, self.name, e)
            return False
        log.warning("%s released leadership of %s/%s", self.me, self.ns, self.name)
        return True
