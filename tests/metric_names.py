"""Which metric names planguard exports, and which metric names a PromQL expression reads: the
alert rules and the Grafana dashboard may only read the first (plus Prometheus' own `up`)."""

from __future__ import annotations

import re

from prometheus_client.metrics import MetricWrapperBase

from planguard import metrics

# Written by Prometheus itself for every scrape target, not exported by planguard.
PROMETHEUS_OWN = frozenset({"up"})
# PromQL words that look like names but are not metrics.
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left",
                       "group_right"})


def exported() -> set[str]:
    """Every sample name operator/planguard/metrics.py's collectors serve: counters with
    `_total`, histograms with `_bucket`, `_sum` and `_count`."""
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


def metrics_read(expr: str) -> set[str]:
    """The metric names in `expr`: each name that is not a function being called, a keyword,
    a label in `by`/`without`/`on`/`ignoring (...)`, in a matcher `{...}` or a range `[...]`."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", e):
        if not e[m.end():].lstrip().startswith("(") and m.group() not in _KEYWORDS:
            names.add(m.group())
    return names


def unknown_metrics(exprs: list[str]) -> set[str]:
    """The metric names `exprs` read that neither planguard nor Prometheus produce."""
    return {n for e in exprs for n in metrics_read(e)} - exported() - PROMETHEUS_OWN
