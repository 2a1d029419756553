"""Leader election on a coordination.k8s.io/v1 Lease (client-go semantics, see
core/leadership.py). Every write is conditional on the resourceVersion read, so two
candidates can never both win the same round."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from kubernetes.client import ApiClient, CoordinationV1Api, V1Lease, V1LeaseSpec, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

from planguard.core.leadership import (
    RETRY_PERIOD,
    LeaseRecord,
    Observation,
    claim,
    observe,
    still_leading,
)
from planguard.core.liveness import LIVENESS

log = logging.getLogger(__name__)


def _ts(dt: datetime | None) -> float:
    return dt.timestamp() if dt else 0.0


class LeaderElector:
    def __init__(self, client: ApiClient, namespace: str, name: str, identity: str) -> None:
        self.api = CoordinationV1Api(client)
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
            lease: V1Lease | None = self.api.read_namespaced_lease(self.name, self.ns)
        except ApiException as e:
            if e.status != 404:
                raise
            lease = None
        rec = self._record(lease)
        self._obs = observe(self._obs, rec, now)
        new = claim(self._obs, self.me, now, wall)
        if new is None:
            return False
        spec = V1LeaseSpec(
            holder_identity=new.holder, lease_duration_seconds=int(new.duration),
            acquire_time=datetime.fromtimestamp(new.acquired, UTC),
            renew_time=datetime.fromtimestamp(new.renewed, UTC),
            lease_transitions=new.transitions,
        )
        try:
            if lease is None:
                self.api.create_namespaced_lease(
                    self.ns, V1Lease(metadata=V1ObjectMeta(name=self.name), spec=spec))
            else:
                lease.spec = spec  # resourceVersion from the read: a conditional write
                self.api.replace_namespaced_lease(self.name, self.ns, lease)
        except ApiException as e:
            if e.status in (409, 422):
                return False  # someone else wrote first; judge again next round
            raise
        self._renewed = now
        return True

    @staticmethod
    def _record(lease: V1Lease | None) -> LeaseRecord | None:
        if lease is None or lease.spec is None:
            return None
        s = lease.spec
        return LeaseRecord(s.holder_identity, float(s.lease_duration_seconds or 15),
                           _ts(s.acquire_time), _ts(s.renew_time), s.lease_transitions or 0)

    def run(self) -> None:
        """Campaigns and renews every retry period until stopped (call in a thread)."""
        was = False
        loop, check = f"leader election {self.ns}/{self.name}", "leader election"
        while not self._stop.is_set():
            # API calls time out well within this (kube/api.py), so a silent thread is stuck.
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
            lease = self.api.read_namespaced_lease(self.name, self.ns)
            if lease.spec is None or lease.spec.holder_identity != self.me:
                return False
            now = datetime.now(UTC)
            lease.spec = V1LeaseSpec(
                holder_identity=None, lease_duration_seconds=1, acquire_time=now,
                renew_time=now, lease_transitions=lease.spec.lease_transitions)
            self.api.replace_namespaced_lease(self.name, self.ns, lease)
        except Exception as e:  # the Lease expires by itself; nothing else to do
            log.warning("could not release leadership of %s/%s: %s", self.ns, self.name, e)
            return False
        log.warning("%s released leadership of %s/%s", self.me, self.ns, self.name)
        return True
