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
        self.on_change = lambda leading: None

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
        while not self._stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception as e:  # API down: leadership lapses by the renew deadline
                log.warning("leader election: %s", e)
            now = self.leading
            if now != was:
                log.warning("%s %s leadership of %s/%s", self.me,
                            "acquired" if now else "lost", self.ns, self.name)
                self.on_change(now)
                was = now
            self._stop.wait(RETRY_PERIOD)

    def stop(self) -> None:
        self._stop.set()
