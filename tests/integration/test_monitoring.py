"""Alerts, dashboard and metrics: promtool on the rules, the dashboard's queries against the
metrics planguard exports, and a real Prometheus scraping a running enactor."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from harness import REPO, Bind, Cluster, Processes, eventually, plan_obj, run_script
from planguard import metrics

pytestmark = pytest.mark.integration
FILES = REPO / "charts" / "planguard" / "files"


@pytest.fixture(scope="session")
def promtool() -> str:
    try:
        run_script("install-prometheus.sh")
    except Exception as e:  # a failure that says why, never a skip
        pytest.fail(f"prometheus/promtool could not be installed: {e}", pytrace=False)
    return "promtool"


def exported() -> set[str]:
    names = set()
    for obj in vars(metrics).values():
        if not isinstance(obj, MetricWrapperBase):
            continue
        for m in obj.describe():
            names.add(m.name)
            if m.type == "counter":
                names.add(m.name + "_total")
            if m.type == "histogram":
                names |= {m.name + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_alert_rules_check_and_unit_tests_pass(promtool: str) -> None:
    subprocess.run([promtool, "check", "rules", str(FILES / "alerts.yaml")], check=True,
                   capture_output=True)
    r = subprocess.run([promtool, "test", "rules", str(REPO / "tests/alerts/alerts_test.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_alerts_and_dashboard_only_name_metrics_that_exist() -> None:
    have = exported()
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((FILES / "dashboard.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"planguard_[a-z_]+", e)}
    assert used and used <= have, used - have
    titles = [p["title"] for p in dash["panels"]]
    assert titles[0] == "Is DNS safe right now?" and "Empty endpoints" in titles


def test_chart_ships_the_same_rules_and_dashboard(helm_bin: str) -> None:
    out = subprocess.run([helm_bin, "template", "pg", str(REPO / "charts/planguard"),
                          "--set", "prometheusRule.enabled=true"], capture_output=True,
                         text=True, check=True).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(out) if d and d["kind"] in
            ("PrometheusRule", "ConfigMap")}
    assert docs["PrometheusRule"]["spec"] == yaml.safe_load((FILES / "alerts.yaml").read_text())
    cm = docs["ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["planguard.json"]) == json.loads(
        (FILES / "dashboard.json").read_text())


@pytest.fixture(scope="session")
def helm_bin() -> str:
    return run_script("build-helm.sh").strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_prometheus_scrapes_an_enactor(promtool: str, cluster: Cluster, bind: Bind,
                                            ns: str, zone: str, dns_zone: str,
                                            procs: Processes, tmp_path: Path) -> None:
    mport, pport = free_port(), free_port()
    procs.enactor("a", ns, bind.key("enactor-a"), metrics_port=mport)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"])
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(FILES / "alerts.yaml")],
        "scrape_configs": [{"job_name": "planguard",
                            "static_configs": [{"targets": [f"127.0.0.1:{mport}"]}]}]}))
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def query(q: str) -> list[dict]:
            url = f"http://127.0.0.1:{pport}/api/v1/query?query={urllib.parse.quote(q)}"
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.load(r)["data"]["result"]

        def applied() -> bool:
            try:
                res = query(f'planguard_enactor_applied_generation{{zone="{ns}/{zone}"}}')
            except OSError:
                return False
            return bool(res) and res[0]["value"][1] == "1"
        eventually(applied, timeout=60, what="the applied generation, read back via Prometheus")
        assert query('planguard_cas_outcomes_total{result="applied"}')
        with urllib.request.urlopen(f"http://127.0.0.1:{pport}/api/v1/rules", timeout=2) as r:
            groups = json.load(r)["data"]["groups"]
        assert {g["name"] for g in groups} == {"planguard-dns", "planguard-planner",
                                               "planguard-leases"}
    finally:
        prom.terminate()
        prom.wait(timeout=10)
