"""Operating the release: `helm upgrade` with a changed value rolls every pod while plans
keep coming and DNS keeps answering; `helm uninstall` removes planguard and DNS still
serves the last plan (deleting the operator never changes DNS); installing again picks up
where it was. The prober asks BIND all along."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from kindharness import (
    NAMESPACE,
    PROBES,
    Kind,
    KindDns,
    Prober,
    Stream,
    chart_pods,
    create,
    next_generation,
    plan_body,
    wait_converged,
)

from harness import REPO, eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1500)]
CHART = str(REPO / "charts/planguard")
BULK = 300


def _uids(kind: Kind) -> dict[str, str]:
    return {p["metadata"]["uid"]: p["metadata"]["labels"]["app.kubernetes.io/component"]
            for p in chart_pods(kind)}


def _all_ready(kind: Kind) -> bool:
    pods = chart_pods(kind)
    return bool(pods) and all(
        any(c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions") or []) for p in pods)


def test_upgrade_uninstall_and_reinstall_never_touch_dns(kind: Kind, tmp_path: Path) -> None:
    dns = KindDns(kind)
    values = tmp_path / "values.yaml"
    values.write_text(kind.helm("get", "values", "planguard", "-n", NAMESPACE, "-o", "yaml"))
    g = next_generation(kind)
    create(kind, plan_body(g, random.Random(g), BULK))
    wait_converged(kind, dns, g, 120, "before the upgrade")
    prober = Prober(dns)
    prober.start()
    try:
        before = _uids(kind)
        stream = Stream(kind, g + 1, BULK)
        stream.start()
        t0 = time.monotonic()
        kind.helm("upgrade", "planguard", CHART, "-n", NAMESPACE, "--reuse-values",
                  "--set", f"podAnnotations.planguard\\.io/rollout=r{int(time.time())}",
                  "--wait", "--timeout", "10m", timeout=700)
        eventually(lambda: _all_ready(kind) and not set(_uids(kind)) & set(before),
                   timeout=300, interval=2, what="every pod replaced and Ready")
        t_roll = time.monotonic() - t0
        last = stream.finish()
        took = wait_converged(kind, dns, last, 180, "after the rolling upgrade")
        rolled = sorted(set(before.values()))
        print(f"helm upgrade: {len(before)} pods ({', '.join(rolled)}) replaced in "
              f"{t_roll:.0f} s while {last - g} plans were created "
              f"({stream.failures} creates retried); converged on {last} {took:.1f} s after")

        t0 = time.monotonic()
        kind.helm("uninstall", "planguard", "-n", NAMESPACE, "--wait", "--timeout", "5m",
                  timeout=400)
        eventually(lambda: not chart_pods(kind), timeout=180, interval=2,
                   what="every planguard pod gone")
        # Nothing of planguard runs: DNS must go on serving the last plan, untouched.
        served = {ep: dns.query(ep) for ep in PROBES}
        time.sleep(15)
        assert {ep: dns.query(ep) for ep in PROBES} == served
        assert all(dns.generation(ep) == last for ep in PROBES)
        assert last in {p["spec"]["generation"] for p in kind.cluster.get(
            "dnsplans", "default")["items"]}, "the live plan must outlive the operator"
        print(f"helm uninstall: pods gone in {time.monotonic() - t0:.0f} s; DNS unchanged "
              f"at plan {last}")

        t0 = time.monotonic()
        kind.helm("install", "planguard", CHART, "-n", NAMESPACE, "-f", str(values),
                  "--wait", "--timeout", "10m", timeout=700)
        g = last + 1
        create(kind, plan_body(g, random.Random(g), BULK))
        took = wait_converged(kind, dns, g, 180, "after installing again")
        print(f"helm install again: Ready and converged on the next plan {g} in "
              f"{time.monotonic() - t0:.0f} s")
    finally:
        print(prober.finish())
    prober.assert_clean()
