"""ListWatch against the real API server: a list once, then every change through the watch
(what the lease manager uses for Nodes instead of listing them on each pass)."""

from __future__ import annotations

import time

from kubernetes.client import CoreV1Api
from kubernetes.config import new_client_from_config

from harness import Cluster, eventually
from planguard.kube import rest
from planguard.kube.api import connect
from planguard.kube.listwatch import ListWatch


def names(w: ListWatch) -> dict[str, str]:
    return {o["metadata"]["name"]: (o.get("data") or {}).get("v", "") for o in w.snapshot()[1]}


def test_list_then_changes_through_the_watch(cluster: Cluster, ns: str) -> None:
    core = CoreV1Api(new_client_from_config(cluster.kubeconfig))

    def cm(name: str, v: str, label: str = "yes") -> dict:
        return {"metadata": {"name": name, "labels": {"lw": label}}, "data": {"v": v}}

    core.create_namespaced_config_map(ns, cm("before", "1"))
    core.create_namespaced_config_map(ns, cm("other", "1", label="no"))
    w = ListWatch(connect(cluster.kubeconfig), rest.path("v1", "configmaps", ns),
                  "configmaps", labelSelector="lw=yes").start()
    try:
        assert w.synced.wait(10), "never listed"
        assert w.healthy
        assert names(w) == {"before": "1"}
        v0 = w.snapshot()[0]
        core.create_namespaced_config_map(ns, cm("after", "2"))
        eventually(lambda: names(w) == {"before": "1", "after": "2"}, what="added")
        core.patch_namespaced_config_map("before", ns, {"data": {"v": "3"}})
        eventually(lambda: names(w) == {"before": "3", "after": "2"}, what="modified")
        core.delete_namespaced_config_map("after", ns)
        eventually(lambda: names(w) == {"before": "3"}, what="deleted")
        # A label change moves an object out of the selection: the watch says DELETED.
        core.patch_namespaced_config_map("before", ns, {"metadata": {"labels": {"lw": "no"}}})
        eventually(lambda: names(w) == {}, what="left the selection")
        assert w.snapshot()[0] > v0
        # Nothing changes: the version stays (callers rebuild only when it moved).
        v1 = w.snapshot()[0]
        time.sleep(1)
        assert w.snapshot()[0] == v1
    finally:
        w.stop()
