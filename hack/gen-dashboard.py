#!/usr/bin/env python3
"""Writes charts/planguard/files/dashboard.json, the Grafana dashboard, with Grafana's typed
builder (grafana-foundation-sdk, in the dev extra). Run it after changing a panel below;
tests/unit/test_dashboard.py fails while the committed file differs from what this writes,
and checks every query names a metric planguard exports."""

from __future__ import annotations

from pathlib import Path

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement, SortOrder
from grafana_foundation_sdk.models.common import TooltipDisplayMode as Tooltip
from grafana_foundation_sdk.models.dashboard import Dashboard, DataSourceRef

OUT = Path(__file__).resolve().parents[1] / "charts" / "planguard" / "files" / "dashboard.json"
# Every panel and query reads the Prometheus the user picks in the `datasource` variable.
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
HEIGHT = 8

Panel = stat.Panel | timeseries.Panel


def query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).datasource(DS)


def _panel(p: Panel, title: str, unit: str, width: int,
           queries: tuple[prometheus.Dataquery, ...]) -> Panel:
    p.title(title).unit(unit).datasource(DS).height(HEIGHT).span(width)
    for i, q in enumerate(queries):
        p.with_target(q.ref_id(chr(ord("A") + i)))
    return p


def single(title: str, unit: str, *queries: prometheus.Dataquery) -> Panel:
    """A stat, a quarter of the width: the newest value of each series."""
    p = stat.Panel().reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    return _panel(p, title, unit, 6, queries)


def graph(title: str, unit: str, *queries: prometheus.Dataquery, width: int = 12) -> Panel:
    """A time series, half the width unless told, its legend shown below it (the model's
    default legend is hidden)."""
    p = (timeseries.Panel()
         .legend(common.VizLegendOptions().show_legend(True)
                 .display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM))
         .tooltip(common.VizTooltipOptions().mode(Tooltip.SINGLE).sort(SortOrder.NONE)))
    return _panel(p, title, unit, width, queries)


def rows() -> list[tuple[str, list[Panel]]]:
    """Each row's title and panels, fresh builders on every call."""
    return [
        ("Is DNS safe right now?", [
            single("Empty endpoints", "short",
                   query("sum(planguard_zone_empty_endpoints) or vector(0)", "empty")),
            graph("Newest plan vs live in DNS, per zone", "short",
                  query("max by (zone) (planguard_zone_newest_plan_generation)",
                        "{{zone}} newest plan"),
                  query("max by (zone) (planguard_zone_active_generation)",
                        "{{zone}} active (fence)"),
                  query("max by (zone) (planguard_zone_live_generation_oldest)",
                        "{{zone}} oldest live")),
            single("Plans refused (1h)", "short",
                   query("sum by (reason) (increase(planguard_plan_refusals_total[1h]))",
                         "{{reason}}")),
            single("Paused zones", "short",
                   query("count(max by (zone) (planguard_zone_paused) == 1) or vector(0)",
                         "paused")),
        ]),
        ("Enactors", [
            graph("Applied generation per enactor", "short",
                  query("max by (zone, enactor) (planguard_enactor_applied_generation)",
                        "{{zone}} {{enactor}}")),
            graph("Compare-and-swap outcomes", "ops",
                  query("sum by (result) (rate(planguard_cas_outcomes_total[5m]))", "{{result}}")),
            graph("DNS errors by kind", "ops",
                  query("sum by (kind) (rate(planguard_dns_errors_total[5m]))", "{{kind}}")),
            # Only reconciles that wrote to DNS are observed: converged no-ops would make the p50
            # the cost of a check. No writes in the window: no line, which is the truth.
            graph("Apply latency (reconciles that wrote)", "s",
                  query("histogram_quantile(0.5, sum by (le) "
                        "(rate(planguard_apply_duration_seconds_bucket[5m])))", "p50"),
                  query("histogram_quantile(0.99, sum by (le) "
                        "(rate(planguard_apply_duration_seconds_bucket[5m])))", "p99")),
            graph("Endpoint writes by kind", "ops",
                  query("sum by (kind) (rate(planguard_endpoint_writes_total[5m]))", "{{kind}}")),
        ]),
        ("Planner", [
            single("Leader", "short",
                   query("sum(planguard_planner_leader) or vector(0)", "leaders")),
            graph("Targets by health-check state", "short",
                  query("sum by (state) (planguard_planner_targets)", "{{state}}"), width=18),
            graph("Changes held back by a limit", "short",
                  query("sum by (reason) (increase(planguard_planner_holds_total[15m]))",
                        "{{reason}}")),
            graph("Plans written", "short",
                  query("sum by (zone) (increase(planguard_planner_plans_total[15m]))",
                        "{{zone}}")),
        ]),
        ("Leases", [
            graph("Node leases by state", "short",
                  query("max by (state) (planguard_leases)", "{{state}}")),
            graph("Lease queue: depth and oldest item", "short",
                  query("max(planguard_lease_queue_depth)", "depth"),
                  query("max(planguard_lease_queue_oldest_seconds)", "oldest (s)")),
            graph("Check-ins and admissions", "ops",
                  query("sum by (result) (rate(planguard_lease_checkins_total[5m]))",
                        "check-in {{result}}"),
                  query("sum(rate(planguard_lease_admissions_total[5m]))", "admitted")),
            graph("Taints applied, removed, held back", "short",
                  query("sum by (action) (increase(planguard_taints_total[15m]))", "{{action}}"),
                  query("sum(increase(planguard_taints_held_total[15m]))", "held back")),
            single("Dependency up (0: tainting frozen)", "short",
                   query("min(planguard_lease_dependency_up)", "up")),
        ]),
        ("Clean-up", [
            graph("Plans deleted", "short",
                  query("sum by (zone) (increase(planguard_cleanup_deleted_plans_total[1h]))",
                        "{{zone}}")),
            graph("Zone cycles completed", "ops",
                  query("sum(rate(planguard_cleanup_cycle_seconds_count[5m])) or vector(0)",
                        "cycles")),
        ]),
        ("Processes", [
            graph("Processes up, by component", "short",
                  query('sum by (container) (up{job=~".*planguard.*"})', "{{container}}")),
            graph("Versions running", "short",
                  query("count by (version, python) (planguard_build_info)",
                        "{{version}} (Python {{python}})")),
        ]),
    ]


def build() -> Dashboard:
    """The dashboard as Grafana's model. Rows are expanded, so their panels follow each row at
    the top level (Grafana drops panels nested in an expanded row). The builder lays them out
    left to right and starts a new line only when one is full (24 wide), so a row's widths
    add up to whole lines; the test checks no panel runs over the edge."""
    d = (dashboard.Dashboard("planguard").uid("planguard").tags(["planguard", "dns"])
         .time("now-1h", "now").refresh("30s").editable().version(1)
         .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus")
                        .type("prometheus")))
    pid = 0
    for title, panels in rows():
        pid += 1
        d.with_row(dashboard.Row(title).id(pid).collapsed(False))
        for p in panels:
            pid += 1
            d.with_panel(p.id(pid))
    return d.build()


def render() -> str:
    """The file's text: keys sorted, so it is the same on every run."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build()) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
