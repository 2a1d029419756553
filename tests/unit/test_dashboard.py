"""The Grafana dashboard the chart ships (charts/planguard/files/dashboard.json): what
hack/gen-dashboard.py writes now, read back whole by Grafana's own model, each panel with a
title, a unit and a query, each query reading only metrics planguard exports."""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus, stat, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

from metric_names import unknown_metrics

REPO = Path(__file__).resolve().parents[2]
FILE = REPO / "charts" / "planguard" / "files" / "dashboard.json"
DS = {"type": "prometheus", "uid": "${datasource}"}


def generator() -> ModuleType:
    """hack/gen-dashboard.py as a module (its name has a dash, so not by `import`)."""
    spec = importlib.util.spec_from_file_location("gen_dashboard", REPO / "hack/gen-dashboard.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return json.loads(FILE.read_text())  # type: ignore[no-any-return]


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def test_the_committed_dashboard_is_what_the_generator_writes() -> None:
    have, want = FILE.read_text(), generator().render()
    if have != want:
        diff = difflib.unified_diff(have.splitlines(), want.splitlines(), "committed",
                                    "generated", lineterm="", n=1)
        pytest.fail("charts/planguard/files/dashboard.json is not what the generator writes: "
                    "run .venv/bin/python hack/gen-dashboard.py\n" + "\n".join(list(diff)[:40]),
                    pytrace=False)


def test_every_query_reads_only_metrics_planguard_exports(dash: dict[str, Any]) -> None:
    unknown = {p["title"]: unknown_metrics([t["expr"] for t in p["targets"]])
               for p in panels(dash)}
    assert not {t: u for t, u in unknown.items() if u}


def test_every_panel_has_a_title_a_unit_and_a_query_on_the_chosen_prometheus(
        dash: dict[str, Any]) -> None:
    assert [v["name"] for v in dash["templating"]["list"]] == ["datasource"]
    assert dash["templating"]["list"][0]["query"] == "prometheus"
    assert len(panels(dash)) >= 20
    for p in panels(dash):
        assert p.get("title"), p["id"]
        assert p["fieldConfig"]["defaults"].get("unit"), p["title"]
        assert p["targets"] and all(t["expr"] and t["legendFormat"] for t in p["targets"]), p
        assert p["datasource"] == DS and all(t["datasource"] == DS for t in p["targets"]), p
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]  # within the grid
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["panels"][0] == {**dash["panels"][0], "type": "row",
                                 "title": "Is DNS safe right now?", "collapsed": False}


def test_grafanas_model_reads_the_dashboard_back_whole(dash: dict[str, Any]) -> None:
    """Grafana's model (the SDK's types) decodes the file and encodes it back unchanged: no
    field it does not know (it would drop it), each query a Prometheus query, each panel's
    options those of its panel type."""
    register_default_plugins()
    model = Dashboard.from_json(dash)
    back = json.loads(JSONEncoder().encode(model))
    for p in back["panels"]:  # the decoder gives a time series an empty `custom`: not a change
        if p.get("fieldConfig", {}).get("defaults", {}).get("custom") == {}:
            del p["fieldConfig"]["defaults"]["custom"]
    assert back == dash
    typed = {"stat": stat.Options, "timeseries": timeseries.Options}
    for p in model.panels or []:
        if isinstance(p, Panel):
            assert isinstance(p.options, typed[p.type_val]), p.title
            assert all(isinstance(t, prometheus.Dataquery) for t in p.targets or []), p.title
