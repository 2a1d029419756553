"""Alerts, dashboard and metrics: promtool on the rules, the dashboard's queries against the
metrics planguard exports, and a real Prometheus scraping a running enactor."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness import (
    REPO,
    Bind,
    Cluster,
    Processes,
    eventually,
    free_port,
    metrics_text,
    plan_obj,
    run_script,
)
from metric_names import unknown_metrics
from planguard import __version__

pytestmark = pytest.mark.integration
FILES = REPO / "charts" / "planguard" / "files"


@pytest.fixture(scope="session")
def promtool() -> str:
    try:
        run_script("install-prometheus.sh")
    except Exception as e:  # a failure that says why, never a skip
        pytest.fail(f"prometheus/promtool could not be installed: {e}", pytrace=False)
    return "promtool"


def test_alert_rules_check_and_unit_tests_pass(promtool: str) -> None:
    subprocess.run([promtool, "check", "rules", str(FILES / "alerts.yaml")], check=True,
                   capture_output=True)
    r = subprocess.run([promtool, "test", "rules", str(REPO / "tests/alerts/alerts_test.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


RUNBOOK_BASE = "https://github.com/planguard/planguard/blob/main/docs/runbooks/"


def test_every_alert_links_a_runbook_that_exists() -> None:
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 16
    for r in alerts:
        url = r["annotations"].get("runbook_url", "")
        assert url == f"{RUNBOOK_BASE}{r['alert']}.md", (r["alert"], url)
        page = REPO / "docs" / "runbooks" / f"{r['alert']}.md"
        assert page.read_text().startswith(f"# {r['alert']}\n"), page


def test_every_new_alert_has_a_promtool_test_that_fires_and_one_that_does_not() -> None:
    tests = yaml.safe_load((REPO / "tests/alerts/alerts_test.yaml").read_text())["tests"]
    cases = [c for t in tests for c in t.get("alert_rule_test", [])]
    for name in ("PlanguardProcessDown", "PlanguardEnactorAbsent", "PlanguardCleanupAbsent",
                 "PlanguardCleanupStalled", "PlanguardLeaseManagerAbsent",
                 "PlanguardNoActivePlanner", "PlanguardPlannerPlanFailing"):
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine) and any(not c["exp_alerts"] for c in mine), name


def test_alerts_and_dashboard_only_name_metrics_that_exist() -> None:
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((FILES / "dashboard.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs and not unknown_metrics(exprs), unknown_metrics(exprs)
    titles = [p["title"] for p in dash["panels"]]
    assert titles[0] == "Is DNS safe right now?" and "Empty endpoints" in titles


def test_chart_ships_the_same_rules_and_dashboard(helm_bin: str) -> None:
    out = subprocess.run([helm_bin, "template", "pg", str(REPO / "charts/planguard"),
                          "--kube-version", "1.34.0",  # the chart's kubeVersion floor
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


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The samples a process serves on /metrics, by sample name."""
    text = metrics_text(port)
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


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
        build = query("planguard_build_info")
        assert len(build) == 1 and build[0]["metric"]["version"] == __version__
        assert build[0]["metric"]["python"] and build[0]["value"][1] == "1"
        with urllib.request.urlopen(f"http://127.0.0.1:{pport}/api/v1/rules", timeout=2) as r:
            groups = json.load(r)["data"]["groups"]
        assert {g["name"] for g in groups} == {"planguard-processes", "planguard-dns",
                                               "planguard-planner", "planguard-leases"}
    finally:
        prom.terminate()
        prom.wait(timeout=10)


def test_apply_latency_counts_writes_only_and_a_deleted_zone_leaves_no_series(
        cluster: Cluster, bind: Bind, ns: str, zone: str, dns_zone: str,
        procs: Processes) -> None:
    mport = free_port()
    label = f"{ns}/{zone}"
    procs.enactor("a", ns, bind.key("enactor-a"), metrics_port=mport, drift=0.5)

    def of_zone(name: str) -> list[tuple[dict[str, str], float]]:
        return [s for s in scrape(mport).get(name, []) if s[0].get("zone") == label]

    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"])
    eventually(lambda: of_zone("planguard_apply_duration_seconds_count"), timeout=10)
    reads = sum(v for _, v in of_zone("planguard_enactor_zone_reads_total"))
    # Several drift passes find the zone converged: none of them is an apply.
    eventually(lambda: sum(v for _, v in of_zone("planguard_enactor_zone_reads_total"))
               >= reads + 4, timeout=30, what="drift passes")
    assert [v for _, v in of_zone("planguard_apply_duration_seconds_count")] == [1.0]
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.2"])
    eventually(lambda: [v for _, v in of_zone("planguard_apply_duration_seconds_count")]
               == [2.0], timeout=10, what="one more apply observed")

    cluster.kubectl("delete", "dnsplans", "--all", "-n", ns, "--wait=false")
    for obj in cluster.kubectl("get", "dnsplans", "-n", ns, "-o", "name").stdout.split():
        cluster.kubectl("patch", obj, "-n", ns, "--type", "merge",
                        "-p", '{"metadata":{"finalizers":null}}', check=False)
    cluster.kubectl("delete", "dnszone", zone, "-n", ns)

    def zone_series() -> list[str]:
        return sorted({n for n, samples in scrape(mport).items()
                       for labels, _ in samples if labels.get("zone") == label})
    eventually(lambda: zone_series() == [], timeout=30, what="the deleted zone's series gone")
    assert scrape(mport)["planguard_build_info"][0][1] == 1.0
