"""Every bench in bench/ run with `--quick` (its whole code path at a tiny size) so that none
rots unseen: each must exit 0, print its result and, if it keeps results, write them (to a
directory of the test's own, never over bench/results). The benches run side by side, a few
at a time, from the first test on: most of their time is waiting on the API server and BIND.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import REPO, Bind, Cluster

pytestmark = pytest.mark.integration

# bench -> whether it writes bench/results/<name>*.json
BENCHES = {
    "api_load": True, "authoring_overhead": False, "cache_memory": False,
    "cleanup_stream": True, "cost_curve": True, "crd_admission_cost": True,
    "dns_raw_limit": True, "enactor_latency": True, "enactor_scale": True, "lease_api": True,
    "lease_recovery": True, "peer_external_dns": True, "serving_tier": True,
}
TIMEOUT = 240
Runs = dict[str, tuple[Path, "Future[subprocess.CompletedProcess[str]]"]]


def test_every_bench_is_here() -> None:
    assert sorted(p.stem for p in (REPO / "bench").glob("*.py") if p.stem != "common") \
        == sorted(BENCHES)


def _run(bench: str, results: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLANGUARD_BENCH_RESULTS": str(results)}
    return subprocess.run([sys.executable, str(REPO / "bench" / f"{bench}.py"), "--quick"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def runs(cluster: Cluster, bind: Bind) -> Runs:
    """Every bench started at once on the session's control plane and BIND (three at a time)."""
    root = Path(tempfile.mkdtemp(prefix="bench-quick-"))
    pool = ThreadPoolExecutor(3)
    out = {b: (root / b, pool.submit(_run, b, root / b)) for b in BENCHES}
    pool.shutdown(wait=False)
    return out


@pytest.mark.parametrize("bench", sorted(BENCHES))
def test_bench_quick(bench: str, runs: Runs) -> None:
    results, future = runs[bench]
    p = future.result(timeout=TIMEOUT * 3)
    assert p.returncode == 0, f"{bench} --quick failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert p.stdout.strip(), f"{bench} --quick printed nothing"
    if BENCHES[bench]:
        written = sorted(results.glob(f"{bench}*.json"))
        assert written, f"{bench} --quick wrote no result under {results}"
        assert json.loads(written[0].read_text()), f"{bench}: an empty result"
