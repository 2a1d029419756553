"""The kind cluster, made (or reused) once per session by hack/kind-up.sh."""

from __future__ import annotations

import random
from collections.abc import Iterator

import kindharness
import pytest
from kindharness import (
    PROBES,
    Kind,
    KindDns,
    Prober,
    create,
    layers,
    next_generation,
    plan_body,
    say,
    serves_probes,
    snapshot,
    wait_converged,
)

from harness import Cluster, eventually, hack_env, run_script


@pytest.fixture(scope="session")
def kind(pytestconfig: pytest.Config) -> Kind:
    try:
        out = run_script("kind-up.sh", timeout=3600)
    except Exception as e:
        pytest.fail(f"hack/kind-up.sh failed: {e}", pytrace=False)
    kindharness.CONFIG = pytestconfig
    say("\n".join("kind-up: " + line for line in out.splitlines()
                   if line.startswith("==>") or "dig @" in line or "a pod (" in line))
    cache = hack_env("PLANGUARD_CACHE")
    name = "planguard"
    c = Cluster(f"{cache}/state/kind-{name}.kubeconfig", f"{hack_env('CP_BIN_DIR')}/kubectl")
    k = Kind(c, name, "")
    k.dns_ip = k.node_ip(f"{name}-control-plane")
    return k



# The cases in an order where each leaves the cluster as the next needs it: the gentle
# ones first, a node lost for good (and started again) last.
ORDER = ("test_kind_cluster", "test_hardening", "test_prometheus", "test_operability",
         "test_racing_authors", "test_postmortem", "test_serving_tier",
         "test_node_leases", "test_readiness", "test_upgrade", "test_node_lost")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        if item.path.parent.name != "kind":
            return -1  # the rest of the suite first, as collected
        return ORDER.index(item.path.stem) if item.path.stem in ORDER else len(ORDER)
    items.sort(key=rank)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """On a failed kind case, the cluster as it stood, in the report: pods, the zone's and
    plans' conditions, recent events and the roles' last log lines (CI keeps only the
    output, never the cluster)."""
    report = yield
    kind = getattr(item, "funcargs", {}).get("kind")
    if report.failed and call.when == "call" and isinstance(kind, Kind):
        report.sections.append(("kind cluster at the failure", snapshot(kind)))
    return report


@pytest.fixture(scope="session")
def served(kind: Kind) -> KindDns:
    """BIND serving the probe endpoints, so that every case runs with answers to lose: at
    the primary, and through it at every secondary and the cluster DNS."""
    dns = KindDns(kind)
    if any(dns.generation(ep) is None for ep in PROBES):
        g = next_generation(kind)
        create(kind, plan_body(g, random.Random(g)))
        wait_converged(kind, dns, g, 180, "the probe endpoints served")
    for layer in layers(kind)[1:]:
        eventually(lambda d=layer: serves_probes(d), timeout=120,
                   interval=1, what=f"the probe endpoints at {layer.layer}")
    return dns


@pytest.fixture(autouse=True)
def prober(request: pytest.FixtureRequest, kind: Kind, served: KindDns) -> Iterator[Prober]:
    """A prober on the host throughout every kind case, at every layer of the cluster's DNS
    (the primary, each secondary, the cluster DNS): the case fails on any empty answer or
    generation going back at any layer, and on any unanswered query at the primary unless
    it freezes BIND itself. Unanswered queries at the other layers are counted (a case may
    stop the node a secondary or a CoreDNS pod runs on)."""
    p = Prober(served)
    others = [Prober(layer, every=0.02) for layer in layers(kind)[1:]]
    for one in (p, *others):
        one.start()
    yield p
    seen = p.finish()
    tallies = [(o.dns.layer, o.finish()) for o in others]
    say(f"{request.node.name}: at primary: {seen}\n" + "\n".join(
        f"  at {layer}: {tally}" for layer, tally in tallies))
    assert seen.queries > 0, seen
    assert (seen.empty, seen.regressions) == (0, 0), seen
    if request.node.get_closest_marker("dns_frozen") is None:
        assert seen.unavailable == 0, seen
    for layer, tally in tallies:
        assert tally.queries > 0, f"{layer}: {tally}"
        assert (tally.empty, tally.regressions) == (0, 0), f"{layer}: {tally}"
