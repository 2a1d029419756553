"""The lease manager's Kubernetes writes: a node's Lease (created or renewed) and its
NoSchedule taint. Every call raises ApiError (or a transport error) on failure."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from planguard.core import timefmt
from planguard.core.contract import LEASE_LABEL, LEASES_PAUSE_CONFIGMAP, TAINT_KEY, lease_name
from planguard.kube import rest
from planguard.kube.rest import JSON, MERGE_PATCH, ApiError


class NodeLeases:
    def __init__(self, client: rest.Client, namespace: str, identity: str,
                 duration: float) -> None:
        self.client, self.identity, self.duration = client, identity, duration
        self.namespace = namespace
        self.path = rest.path("coordination.k8s.io/v1", "leases", namespace)

    def paused(self) -> bool:
        """The pause flag: data.paused "true" in the leases' ConfigMap (absent: running)."""
        try:
            cm = self.client.json("GET", rest.path(
                "v1", "configmaps", self.namespace, LEASES_PAUSE_CONFIGMAP))
        except ApiError as e:
            if e.status != 404:
                raise
            return False
        return bool((cm.get("data") or {}).get("paused", "false").lower() == "true")

    def list(self) -> list[dict[str, Any]]:
        return self.client.json("GET", self.path,
                                query={"labelSelector": LEASE_LABEL})["items"] or []

    def write(self, node: str, has_lease: bool) -> None:
        """Renews the node's Lease (`has_lease`: one was seen) or creates it."""
        now = timefmt.micro(datetime.fromtimestamp(time.time(), UTC))
        name = lease_name(node)
        spec = {"holderIdentity": self.identity, "renewTime": now,
                "leaseDurationSeconds": int(self.duration)}
        new = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "labels": {LEASE_LABEL: node}},
               "spec": {**spec, "acquireTime": now}}
        # Answers are not parsed (nothing in them is used). A lease never seen is created
        # at once rather than after a patch that can only answer 404.
        patch = ("PATCH", f"{self.path}/{name}", {"spec": spec}, MERGE_PATCH)
        create = ("POST", self.path, new, JSON)
        if has_lease:
            if not self._call(404, *patch):
                self._call(None, *create)
        elif not self._call(409, *create):
            self._call(None, *patch)

    def _call(self, tolerated: int | None, method: str, path: str, body: Any,
              content_type: str) -> bool:
        """False if the API server answered `tolerated` (e.g. 404: no such lease yet)."""
        try:
            self.client.request(method, path, body=body, content_type=content_type)
        except ApiError as e:
            if e.status != tolerated:
                raise
            return False
        return True

    def set_taint(self, node: str, on: bool) -> None:
        """Puts planguard's NoSchedule taint on the node, or takes it off."""
        path = rest.path("v1", "nodes", name=node)
        obj = self.client.json("GET", path)
        taints = [t for t in (obj.get("spec") or {}).get("taints") or []
                  if t.get("key") != TAINT_KEY]
        if on:
            taints.append({"key": TAINT_KEY, "effect": "NoSchedule"})
        # The whole list, conditional on the node read: no other writer's taint lost.
        self.client.request("PATCH", path, content_type=MERGE_PATCH, body={
            "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"taints": taints or None}})
