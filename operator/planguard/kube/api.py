"""A thin, synchronous wrapper over the official client for planguard's own objects.

Called from worker threads (asyncio.to_thread) so a slow API server never blocks kopf's
event loop. Every write is either a status merge-patch of planguard's own keys, or guarded
by resourceVersion (finalizers, deletes) so it cannot clobber another writer.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

import kubernetes
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from planguard import __version__
from planguard.core.contract import API_VERSION, GROUP, LIVE_PLAN_FINALIZER, VERSION

log = logging.getLogger(__name__)
# How this process names itself to the API server (audit log, request metrics, flow
# control). The libraries' own agents (kopf/1.x, OpenAPI-Generator/x/python) are the same
# for every role, so without this no one can tell which process sends what.
user_agent = f"planguard/{__version__}"


def identify(role: str) -> None:
    """Names every API client this process creates afterwards: planguard-<role>/<version>."""
    global user_agent
    user_agent = f"planguard-{role}/{__version__}"


def connect(kubeconfig: str | None = None, pool_size: int | None = None) -> ApiClient:
    """In-cluster config when running in a Pod, the kubeconfig otherwise. `pool_size`: the
    connections kept open; at least the number of threads calling at once, or urllib3
    (10 by default) closes the extra ones and their next requests pay a new TLS handshake."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config()
        cfg = kubernetes.client.Configuration.get_default_copy()
    else:
        cfg = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    if pool_size:
        cfg.connection_pool_maxsize = pool_size
    client = ApiClient(cfg)
    client.user_agent = user_agent
    return client


def discard(resp: Any) -> None:
    """Ends a response whose body is not wanted (`_preload_content=False`). Released
    unread, its connection is dropped by urllib3 (a new TLS handshake later) or, if the
    body is still arriving, read by the next request as its answer (BadStatusLine)."""
    resp.drain_conn()
    resp.release_conn()


class DeleteOutcome(enum.Enum):
    DELETED = "deleted"
    GONE = "gone"  # already deleted by someone else
    REFUSED = "refused"  # the precondition failed: another object holds the name now


class PlanguardApi:
    def __init__(self, client: ApiClient, component: str) -> None:
        self.custom = CustomObjectsApi(client)
        self.core = CoreV1Api(client)
        self.component = component

    def patch_status(self, plural: str, ns: str, name: str, status: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, plural, name, {"status": status}
        )

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
        resp = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, ns, plural, name, _preload_content=False
        )
        obj: dict[str, Any] = json.loads(resp.data)
        return obj

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
        return self._patch_plan(ns, meta["name"], body)

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
        return self._patch_plan(ns, meta["name"], ops,
                                _content_type="application/json-patch+json")

    def _patch_plan(self, ns: str, name: str, body: Any, **kwargs: Any) -> bool:
        """False when its precondition failed (409, 422) or the plan is gone (404)."""
        try:
            # The answer is the whole plan (maybe megabytes): not parsed, it is not needed.
            discard(self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, ns, "dnsplans", name, body, _preload_content=False, **kwargs))
        except ApiException as e:
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
            discard(self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, ns, "dnsplans", meta["name"],
                body=kubernetes.client.V1DeleteOptions(
                    preconditions=kubernetes.client.V1Preconditions(uid=meta["uid"])
                ),
                _preload_content=False,
            ))
        except ApiException as e:
            if e.status == 404:
                return DeleteOutcome.GONE
            if e.status == 409:
                return DeleteOutcome.REFUSED
            raise
        return DeleteOutcome.DELETED

    def event(
        self, obj: dict[str, Any], kind: str, type_: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event on the object, as `kubectl describe` shows them."""
        meta = obj["metadata"]
        now = datetime.now(UTC)
        body = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}."),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=API_VERSION, kind=kind, name=meta["name"],
                namespace=meta["namespace"], uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            type=type_, reason=reason, message=message[:1024],
            first_timestamp=now, last_timestamp=now, count=1,
            source=kubernetes.client.V1EventSource(component=self.component),
            reporting_component=self.component, reporting_instance=self.component,
        )
        try:
            self.core.create_namespaced_event(meta["namespace"], body)
        except ApiException as e:
            # An Event is a courtesy; never fail the decision because of one.
            log.warning("could not post event %s on %s: %s", reason, meta["name"], e.reason)
