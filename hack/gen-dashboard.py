#!/usr/bin/env python3
"""Writes charts/planguard/files/dashboard.json (the Grafana dashboard) from the panel list
below, so panels stay consistent. Run after changing it; the tests check every query names
a metric planguard exports."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "charts" / "planguard" / "files" / "dashboard.json"
DS = {"type": "prometheus", "uid": "${datasource}"}

# (row, title, type, [(expr, legend)], unit)
PANELS = [
    ("Is DNS safe right now?", "Empty endpoints", "stat",
     [("sum(planguard_zone_empty_endpoints) or vector(0)", "empty")], "short"),
    ("Is DNS safe right now?", "Newest plan vs live in DNS, per zone", "timeseries",
     [("max by (zone) (planguard_zone_newest_plan_generation)", "{{zone}} newest plan"),
      ("max by (zone) (planguard_zone_active_generation)", "{{zone}} active (fence)"),
      ("max by (zone) (planguard_zone_live_generation_oldest)", "{{zone}} oldest live")],
     "short"),
    ("Is DNS safe right now?", "Plans refused (1h)", "stat",
     [("sum by (reason) (increase(planguard_plan_refusals_total[1h]))", "{{reason}}")], "short"),
    ("Is DNS safe right now?", "Paused zones", "stat",
     [("count(max by (zone) (planguard_zone_paused) == 1) or vector(0)", "paused")], "short"),
    ("Enactors", "Applied generation per enactor", "timeseries",
     [("max by (zone, enactor) (planguard_enactor_applied_generation)", "{{zone}} {{enactor}}")],
     "short"),
    ("Enactors", "Compare-and-swap outcomes", "timeseries",
     [("sum by (result) (rate(planguard_cas_outcomes_total[5m]))", "{{result}}")], "ops"),
    ("Enactors", "DNS errors by kind", "timeseries",
     [("sum by (kind) (rate(planguard_dns_errors_total[5m]))", "{{kind}}")], "ops"),
    # Only reconciles that wrote to DNS are observed: converged no-ops would make the p50
    # the cost of a check. No writes in the window: no line, which is the truth.
    ("Enactors", "Apply latency (reconciles that wrote)", "timeseries",
     [("histogram_quantile(0.5, sum by (le) (rate(planguard_apply_duration_seconds_bucket[5m])))",
       "p50"),
      ("histogram_quantile(0.99, sum by (le) (rate(planguard_apply_duration_seconds_bucket[5m])))",
       "p99")], "s"),
    ("Enactors", "Endpoint writes by kind", "timeseries",
     [("sum by (kind) (rate(planguard_endpoint_writes_total[5m]))", "{{kind}}")], "ops"),
    ("Planner", "Leader", "stat",
     [("sum(planguard_planner_leader) or vector(0)", "leaders")], "short"),
    ("Planner", "Targets by health-check state", "timeseries",
     [("sum by (state) (planguard_planner_targets)", "{{state}}")], "short"),
    ("Planner", "Changes held back by a limit", "timeseries",
     [("sum by (reason) (increase(planguard_planner_holds_total[15m]))", "{{reason}}")],
     "short"),
    ("Planner", "Plans written", "timeseries",
     [("sum by (zone) (increase(planguard_planner_plans_total[15m]))", "{{zone}}")], "short"),
    ("Leases", "Node leases by state", "timeseries",
     [("max by (state) (planguard_leases)", "{{state}}")], "short"),
    ("Leases", "Lease queue: depth and oldest item", "timeseries",
     [("max(planguard_lease_queue_depth)", "depth"),
      ("max(planguard_lease_queue_oldest_seconds)", "oldest (s)")], "short"),
    ("Leases", "Check-ins and admissions", "timeseries",
     [("sum by (result) (rate(planguard_lease_checkins_total[5m]))", "check-in {{result}}"),
      ("sum(rate(planguard_lease_admissions_total[5m]))", "admitted")], "ops"),
    ("Leases", "Taints applied, removed, held back", "timeseries",
     [("sum by (action) (increase(planguard_taints_total[15m]))", "{{action}}"),
      ("sum(increase(planguard_taints_held_total[15m]))", "held back")], "short"),
    ("Leases", "Dependency up (0: tainting frozen)", "stat",
     [("min(planguard_lease_dependency_up)", "up")], "short"),
    ("Clean-up", "Plans deleted", "timeseries",
     [("sum by (zone) (increase(planguard_cleanup_deleted_plans_total[1h]))", "{{zone}}")],
     "short"),
    ("Clean-up", "Zone cycles completed", "timeseries",
     [("sum(rate(planguard_cleanup_cycle_seconds_count[5m])) or vector(0)", "cycles")], "ops"),
    ("Processes", "Processes up, by component", "timeseries",
     [('sum by (container) (up{job=~".*planguard.*"})', "{{container}}")], "short"),
    ("Processes", "Versions running", "timeseries",
     [("count by (version, python) (planguard_build_info)", "{{version}} (Python {{python}})")],
     "short"),
]


def build() -> dict:
    panels, y, pid, row_seen = [], 0, 1, None
    x = 0
    for row, title, kind, targets, unit in PANELS:
        if row != row_seen:
            y += 8 if row_seen else 0
            panels.append({"id": pid, "type": "row", "title": row, "collapsed": False,
                           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
            pid, y, x, row_seen = pid + 1, y + 1, 0, row
        w = 6 if kind == "stat" else 12
        if x + w > 24:
            x, y = 0, y + 8
        panels.append({
            "id": pid, "type": kind, "title": title, "datasource": DS,
            "gridPos": {"h": 8, "w": w, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": lg, "datasource": DS}
                        for i, (e, lg) in enumerate(targets)],
        })
        pid, x = pid + 1, x + w
    return {
        "title": "planguard", "uid": "planguard", "schemaVersion": 39, "version": 1,
        "tags": ["planguard", "dns"], "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s", "editable": True,
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")
