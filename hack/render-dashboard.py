#!/usr/bin/env python3
"""Renders the Grafana dashboard's panels with matplotlib from a live Prometheus, for the
README (docs/dashboard.png). Usage: hack/render-dashboard.py http://127.0.0.1:PORT [minutes]
Needs matplotlib (pip install matplotlib)."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[1]


def query_range(base: str, expr: str, start: float, end: float) -> list[dict]:
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": 2})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{q}", timeout=10) as r:
        return json.load(r)["data"]["result"]


def main() -> None:
    base = sys.argv[1].rstrip("/")
    minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    dash = json.loads((REPO / "charts/planguard/files/dashboard.json").read_text())
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    end = time.time()
    start = end - minutes * 60
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 2.6 * rows))
    for ax, p in zip(axes.flat, panels, strict=False):
        for t in p["targets"]:
            for series in query_range(base, t["expr"], start, end):
                xs = [float(v[0]) - end for v in series["values"]]
                ys = [float(v[1]) for v in series["values"]]
                label = t["legendFormat"]
                for k, v in series["metric"].items():
                    label = label.replace("{{" + k + "}}", v)
                ax.plot(xs, ys, label=label[:32])
        ax.set_title(p["title"], fontsize=9)
        ax.tick_params(labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper left")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("planguard (seconds before now)", fontsize=11)
    fig.tight_layout()
    out = REPO / "docs" / "dashboard.png"
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
