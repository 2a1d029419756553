"""The command line people use: status, diff, rollback, pause/resume, as `kubectl planguard`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import Bind, Cluster, Processes, condition, eventually, plan_obj

pytestmark = pytest.mark.e2e


def cli(cluster: Cluster, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "planguard.cli", *args, "--kubeconfig",
                        cluster.kubeconfig, "-o", "json"], capture_output=True, text=True,
                       env={**os.environ})
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def test_status_diff_rollback_pause(cluster: Cluster, bind: Bind, ns: str, zone: str,
                                   dns_zone: str, procs: Processes) -> None:
    procs.enactor("a", ns, bind.key("enactor-a"))
    procs.cleanup(ns, bind.key("planguard-cleanup"))
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.2"])
    reader = bind.key("planguard-reader")
    st = cli(cluster, "status", "-n", ns, "--tsig-key", reader)
    z = st["zones"][0]
    assert z["newestPlan"] == 2 and z["fromDns"]["fence"] == 2

    d = cli(cluster, "diff", f"{zone}-1", f"{zone}-2", "-n", ns)
    assert d["changes"] == [{"endpoint": "api", f"{zone}-1": ["10.0.0.1"],
                             f"{zone}-2": ["10.0.0.2"]}]
    assert cli(cluster, "diff", f"{zone}-2", "-n", ns, "--tsig-key", reader)["changes"] == []

    rb = cli(cluster, "rollback", "--zone", zone, "--to", "1", "-n", ns)
    assert rb["generation"] == 3  # a NEW plan: generations never go back
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"])
    assert bind.generation(dns_zone, "api") == 3

    assert cli(cluster, "pause", f"zone/{zone}", "-n", ns)["paused"] is True
    eventually(lambda: condition(cluster.get("dnszone", ns, zone), "Paused") == "True")
    cluster.apply(ns, plan_obj(zone, 4, {"api": ["10.0.0.4"]}))
    assert bind.query(f"api.{dns_zone}") == ["10.0.0.1"]
    cli(cluster, "resume", f"zone/{zone}", "-n", ns)
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.4"])
