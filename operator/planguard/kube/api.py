"""planguard's own calls to the API server, over kube/rest.py.

Called from worker threads (asyncio.to_thread) so a slow API server never blocks kopf's
event loop. Every write is either a merge-patch of planguard's own keys, or guarded by
resourceVersion or uid (finalizers, deletes) so it cannot clobber another writer.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from planguard import __version__
from planguard.core import timefmt
from planguard.core.contract import API_VERSION, GROUP, LIVE_PLAN_FINALIZER, VERSION
from planguard.core.events import RecentEvents, Seen
from planguard.kube import rest
from planguard.kube.rest import JSON_PATCH, MERGE_PATCH, ApiError

log = logging.getLogger(__name__)
GROUP_VERSION = f"{GROUP}/{VERSION}"
# How this process names itself to the API server (audit log, request metrics, flow
# control): without it no one can tell which process sends what.
user_agent = f"planguard/{__version__}"


def identify(role: str) -> None:
    """Names every API client this process creates afterwards: planguard-<role>/<version>."""
    global user_agent
    user_agent = f"planguard-{role}/{__version__}"


def connect(kubeconfig: str | None = None, pool_size: int = 10) -> rest.Client:
    """In-cluster config when running in a Pod, the kubeconfig otherwise. `pool_size`: the
    connections kept open; at least the number of threads calling at once."""
    return rest.Client(rest.load(kubeconfig), user_agent, pool_size)


class DeleteOutcome(enum.Enum):
    DELETED = "deleted"
    GONE = "gone"  # already deleted by someone else
    REFUSED = "refused"  # the precondition failed: another object holds the name now


class PlanguardApi:
    def __init__(self, client: rest.Client, component: str) -> None:
        self.client = client
        self.component = component

    @staticmethod
    def path(plural: str, ns: str | None = None, name: str | None = None,
             sub: str | None = None) -> str:
        return rest.path(GROUP_VERSION, plural, ns, name, sub)

    def patch_status(self, plural: str, ns: str, name: str, status: dict[str, Any]) -> None:
        self.client.request("PATCH", self.path(plural, ns, name, "status"),
                            body={"status": status}, content_type=MERGE_PATCH)

    def write_status(self, plural: str, ns: str, name: str, status: dict[str, Any]) -> bool:
        """patch_status, best effort: a failure is logged and reported, never raised (the
        next cycle writes status again)."""
        try:
            self.patch_status(plural, ns, name, status)
        except Exception as e:
            log.warning("could not write status of %s %s/%s: %s", plural, ns, name, e)
            return False
        return True

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        return self.client.json("GET", self.path(plural, ns, name))

    def list(self, plural: str, ns: str | None = None) -> list[dict[str, Any]]:
        """Every object of a kind in `ns` (None: every namespace the caller may list)."""
        return list(self.client.json("GET", self.path(plural, ns)).get("items") or [])

    def create(self, plural: str, ns: str, body: dict[str, Any]) -> None:
        self.client.request("POST", self.path(plural, ns), body=body)

    def patch(self, plural: str, ns: str, name: str, body: dict[str, Any]) -> None:
        """A merge-patch of the object (not its status)."""
        self.client.request("PATCH", self.path(plural, ns, name), body=body,
                            content_type=MERGE_PATCH)

    def set_finalizer(self, ns: str, plan: dict[str, Any], present: bool) -> bool:
        """Adds or removes the live-plan finalizer, guarded by the object's resourceVersion
        so no other writer's finalizers are lost. False if the plan changed underneath
        (the caller decides again from fresh state) or is gone."""
        meta = plan["metadata"]
        fins = list(meta.get("finalizers") or [])
        if (LIVE_PLAN_FINALIZER in fins) == present:
            return True
        fins = [*fins, LIVE_PLAN_FINALIZER] if present else [
            f for f in fins if f != LIVE_PLAN_FINALIZER
        ]
        body = {"metadata": {"finalizers": fins, "resourceVersion": meta["resourceVersion"]}}
        return self._patch_plan(ns, meta["name"], body, MERGE_PATCH)

    def release_finalizer(self, ns: str, plan: dict[str, Any]) -> bool:
        """Takes the live-plan finalizer off with a JSON patch that tests the entry it
        removes, so it needs no fresh resourceVersion (a status write since the cache saw
        the plan changes nothing) and never drops another writer's finalizer. True when
        the finalizer is gone; False if the plan is gone or its finalizers moved (the
        caller decides again next cycle from fresh state)."""
        meta = plan["metadata"]
        fins = list(meta.get("finalizers") or [])
        if LIVE_PLAN_FINALIZER not in fins:
            return True
        i = fins.index(LIVE_PLAN_FINALIZER)
        ops = [{"op": "test", "path": "/metadata/uid", "value": meta["uid"]},
               {"op": "test", "path": f"/metadata/finalizers/{i}", "value": LIVE_PLAN_FINALIZER},
               {"op": "remove", "path": f"/metadata/finalizers/{i}"}]
        return self._patch_plan(ns, meta["name"], ops, JSON_PATCH)

    def _patch_plan(self, ns: str, name: str, body: Any, content_type: str) -> bool:
        """False when its precondition failed (409, 422) or the plan is gone (404)."""
        try:
            # The answer is the whole plan (maybe megabytes): not parsed, it is not needed.
            self.client.request("PATCH", self.path("dnsplans", ns, name), body=body,
                                content_type=content_type)
        except ApiError as e:
            if e.status in (404, 409, 422):
                return False
            raise
        return True

    def delete_plan(self, ns: str, plan: dict[str, Any]) -> DeleteOutcome:
        """Deletes this very plan object, guarded by its uid only: a plan's spec is
        immutable and its deletion is decided from DNS, so a newer resourceVersion (a status
        or finalizer write) changes nothing about the decision, while a uid precondition
        still never deletes a different object created under the same name."""
        meta = plan["metadata"]
        try:
            self.client.request("DELETE", self.path("dnsplans", ns, meta["name"]), body={
                "apiVersion": "v1", "kind": "DeleteOptions",
                "preconditions": {"uid": meta["uid"]}})
        except ApiError as e:
            if e.status == 404:
                return DeleteOutcome.GONE
            if e.status == 409:
                return DeleteOutcome.REFUSED
            raise
        return DeleteOutcome.DELETED

    def event(
        self, obj: dict[str, Any], kind: str, type_: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event on the object, as `kubectl describe` shows them. The same Event
        again (object, type, reason, message) within ten minutes raises the count and
        lastTimestamp of the existing one, as Kubernetes' recorder does: a storm of the
        same Event is one object, not thousands."""
        meta = obj["metadata"]
        now = timefmt.seconds(datetime.now(UTC))
        message = message[:1024]
        key = (self.component, meta["namespace"], kind, meta["name"], meta.get("uid"), type_,
               reason, message)
        try:
            with _EVENTS_LOCK:
                seen = _RECENT_EVENTS.lookup(key, time.monotonic())
            if seen is not None and self._raise_count(meta["namespace"], seen, now):
                with _EVENTS_LOCK:
                    _RECENT_EVENTS.record(key, Seen(seen.name, seen.count + 1, seen.first))
                return
            body = {
                "metadata": {"generateName": f"{meta['name']}."},
                "involvedObject": {
                    "apiVersion": API_VERSION, "kind": kind, "name": meta["name"],
                    "namespace": meta["namespace"], "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
                "type": type_, "reason": reason, "message": message,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "source": {"component": self.component},
                "reportingComponent": self.component, "reportingInstance": self.component,
            }
            created = self.client.json("POST", rest.path("v1", "events", meta["namespace"]),
                                       body=body)
            with _EVENTS_LOCK:
                _RECENT_EVENTS.record(key, Seen(created["metadata"]["name"], 1,
                                                time.monotonic()))
        except Exception as e:
            # An Event is a courtesy; never fail the decision because of one.
            log.warning("could not post event %s on %s: %s", reason, meta["name"], e)

    def _raise_count(self, ns: str, seen: Seen, now: str) -> bool:
        """False when the Event is gone (expired, deleted): a new one is posted."""
        try:
            self.client.request("PATCH", rest.path("v1", "events", ns, seen.name),
                                body={"count": seen.count + 1, "lastTimestamp": now},
                                content_type=MERGE_PATCH)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True


# Per process, bounded: the Events recently posted, by what makes them the same.
_RECENT_EVENTS = RecentEvents(size=1024, window=600.0)
_EVENTS_LOCK = threading.Lock()
