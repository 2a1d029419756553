"""Monitoring for real: Prometheus in the cluster (Debian's package, an image built here;
hack/kind/monitoring-up.sh) scrapes every planguard pod (found through cluster DNS: Debian
builds Prometheus without Kubernetes discovery) and loads the chart's alert rules.
An enactor frozen inside its pod makes PlanguardProcessDown fire; the kubelet restarts it
through its liveness probe and the alert resolves. All asked through Prometheus' HTTP API.

The chart's rules wait minutes (`for: 5m`) before firing, as they should in production; the
test loads a copy of the same rules with `for` shortened to 10 s, labelled test="kind", and
asserts on that copy (same expressions, same labels otherwise)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
import yaml
from kindharness import NAMESPACE, PROMETHEUS_NODEPORT, Kind, chart_pods, signal_process

from harness import REPO, eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(900)]
ALERTS = REPO / "charts/planguard/files/alerts.yaml"


def _scraped(kind: Kind) -> dict[str, str]:
    """pod IP -> value of up, for every planguard target Prometheus has."""
    res = kind.prometheus("query", query='up{job=~"planguard-.*"}')["result"]
    return {r["metric"]["instance"].rsplit(":", 1)[0]: r["value"][1] for r in res}


def _firing(kind: Kind, name: str) -> list[dict[str, Any]]:
    return [a for a in kind.prometheus("alerts")["alerts"]
            if a["labels"]["alertname"] == name and a["labels"].get("test") == "kind"
            and a["state"] == "firing"]


def _short_rules() -> str:
    doc = yaml.safe_load(ALERTS.read_text())
    for group in doc["groups"]:
        group["name"] += "-kind"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "10s"
            rule.setdefault("labels", {})["test"] = "kind"
    return yaml.safe_dump(doc)


def test_prometheus_scrapes_every_pod_and_an_alert_fires_and_resolves(kind: Kind) -> None:
    pods = {p["status"]["podIP"] for p in chart_pods(kind)
            if p["metadata"]["labels"]["app.kubernetes.io/component"] != "agent"}
    eventually(lambda: {p for p, v in _scraped(kind).items() if v == "1"} >= pods,
               timeout=120, interval=2, what="every planguard pod scraped and up")
    names = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"]
             for r in g["rules"] if "alert" in r}
    loaded = {r["name"] for g in kind.prometheus("rules")["groups"] for r in g["rules"]}
    assert names <= loaded, f"chart rules not loaded: {names - loaded}"
    build = kind.prometheus("query", query="planguard_build_info")["result"]
    assert {r["metric"]["instance"].rsplit(":", 1)[0] for r in build} >= pods

    prom = json.loads(kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l",
                                           "app=prometheus", "-o", "json").stdout)["items"][0]
    kind.cluster.kubectl("exec", "-i", "-n", NAMESPACE, prom["metadata"]["name"], "--",
                         "sh", "-c", "cat > /rules.d/kind.yaml", input=_short_rules())
    req = urllib.request.Request(f"http://{kind.dns_ip}:{PROMETHEUS_NODEPORT}/-/reload",
                                 method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    eventually(lambda: any(g["name"].endswith("-kind")
                           for g in kind.prometheus("rules")["groups"]),
               timeout=30, interval=1, what="the short-`for` copy of the rules loaded")
    # A cluster reused from an earlier run may still have a target of a pod replaced since.
    eventually(lambda: not _firing(kind, "PlanguardProcessDown"), timeout=120, interval=2,
               what="no PlanguardProcessDown firing before the fault")

    enactor = next(p for p in chart_pods(kind, "enactor")
                   if p["metadata"]["labels"]["planguard.io/enactor"] == "az3")
    pod, node, ip = (enactor["metadata"]["name"], enactor["spec"]["nodeName"],
                     enactor["status"]["podIP"])
    t0 = time.monotonic()
    assert signal_process(node, "[b]in/planguard enactor"), f"no enactor process on {node}"
    eventually(lambda: any(a["labels"]["instance"].startswith(f"{ip}:")
                           for a in _firing(kind, "PlanguardProcessDown")),
               timeout=120, interval=2, what=f"PlanguardProcessDown firing for {pod}")
    t_fire = time.monotonic() - t0
    eventually(lambda: not _firing(kind, "PlanguardProcessDown"), timeout=300, interval=2,
               what="the alert resolved once the kubelet restarted the enactor")
    t_resolved = time.monotonic() - t0
    assert _scraped(kind).get(ip) == "1"
    print(f"enactor {pod} frozen: PlanguardProcessDown firing after {t_fire:.0f} s, "
          f"resolved after {t_resolved:.0f} s (liveness restart)")
