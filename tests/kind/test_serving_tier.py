"""The serving tier on the users' path (charts/planguard-dns installed by hack/kind-up.sh):
a BIND primary whose zone lives on a PersistentVolume, two secondaries following it by
NOTIFY and IXFR, and CoreDNS answering pods from the secondaries. Measured at every layer:
the primary, each secondary, and the cluster DNS (the autouse prober asks all of them
throughout every kind case; tests/kind/conftest.py)."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dns.exception as dns_exception
import pytest
from kindharness import (
    NAMESPACE,
    PROBES,
    SCRAPE_SETTLE,
    Kind,
    KindDns,
    Prober,
    Stream,
    Unanswered,
    canary_counts,
    canary_delta,
    chart_pods,
    create,
    docker,
    forget_stale_connections,
    layers,
    next_generation,
    pause_node,
    plan_body,
    say,
    serves_probes,
    wait_converged,
    zone_status,
)

from harness import eventually
from prober import Tally

pytestmark = [pytest.mark.kind, pytest.mark.timeout(900)]
BULK = 300
# The probes, whose addresses every plan moves, and bulk names across the plan.
NAMES = (*PROBES, "bulk-0", "bulk-150", f"bulk-{BULK - 1}")
RESOLVE = """
import socket, sys
for name in sys.argv[1:]:
    try:
        got = sorted({a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)})
    except socket.gaierror as e:
        got = [f"error:{e.errno}"]
    print(name, ",".join(got))
"""


def _primary(kind: Kind) -> list[dict[str, Any]]:
    out = kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l",
                               "app.kubernetes.io/component=dns-primary", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def restart_primary(kind: Kind) -> tuple[float, float]:
    """Deletes the primary's pod as `kubectl delete pod` does (gracefully); returns the
    seconds until the old pod was gone and until its replacement was Ready."""
    (old,) = _primary(kind)
    t0 = time.monotonic()
    kind.cluster.kubectl("delete", "pod", "-n", NAMESPACE, old["metadata"]["name"],
                         "--timeout=120s", timeout=150)
    gone = time.monotonic() - t0

    def replaced() -> bool:
        pods = _primary(kind)
        return len(pods) == 1 and pods[0]["metadata"]["uid"] != old["metadata"]["uid"] \
            and _ready(pods[0])
    eventually(replaced, timeout=120, interval=0.25, what="a new primary pod Ready")
    forget_stale_connections(kind)
    return gone, time.monotonic() - t0


def answers(dns: KindDns, endpoints: list[str]) -> dict[str, tuple[list[str], int | None]]:
    """endpoint -> (its addresses, its marker's generation), and the zone fence under ''.
    A query unanswered is asked again, as a stub resolver would."""
    def once(ep: str) -> tuple[list[str], int | None]:
        if not ep:
            return [], dns.generation()
        return dns.query(ep), dns.generation(ep)

    def ask(ep: str) -> tuple[list[str], int | None]:
        for _ in range(3):
            try:
                return once(ep)
            except (OSError, EOFError, dns_exception.Timeout, Unanswered):
                time.sleep(0.5)
        return once(ep)
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(["", *endpoints], pool.map(ask, ["", *endpoints]), strict=True))


def set_paused(kind: Kind, paused: bool) -> None:
    kind.cluster.kubectl("patch", "dnszone", "dynamo", "-n", "default", "--type", "merge",
                         "-p", json.dumps({"spec": {"paused": paused}}))

    def in_force() -> bool:
        zone = kind.cluster.get("dnszones", "default", "dynamo")
        st = zone.get("status") or {}
        return st.get("observedGeneration") == zone["metadata"]["generation"] and any(
            c["type"] == "Paused" and c["status"] == str(paused)
            for c in st.get("conditions") or [])
    eventually(in_force, timeout=60, interval=0.5, what=f"the zone reported paused={paused}")


def resolve_in_a_pod(kind: Kind, names: list[str]) -> dict[str, list[str]]:
    """What a pod's own resolver (its resolv.conf: the cluster DNS) answers for `names`."""
    image = chart_pods(kind, "enactor")[0]["spec"]["containers"][0]["image"]
    pod = f"resolve-{random.randrange(10**6)}"
    c = kind.cluster
    c.kubectl("run", pod, "-n", "default", f"--image={image}", "--image-pull-policy=Never",
              "--restart=Never", "--command", "--", "python3", "-c", RESOLVE, *names)
    try:
        eventually(lambda: c.kubectl("get", "pod", pod, "-n", "default", "-o",
                                     "jsonpath={.status.phase}").stdout == "Succeeded",
                   timeout=120, interval=1, what=f"pod {pod} done")
        out = c.kubectl("logs", pod, "-n", "default").stdout
    finally:
        c.kubectl("delete", "pod", pod, "-n", "default", "--wait=false", check=False)
    return {n: a.split(",") for n, a in (ln.split() for ln in out.splitlines() if ln.strip())}


def new_plan(kind: Kind, dns: KindDns, what: str) -> int:
    """The zone's next plan (BULK endpoints beside the probes), created and converged."""
    g = next_generation(kind)
    create(kind, plan_body(g, random.Random(g), BULK))
    wait_converged(kind, dns, g, 120, what)
    return g


class Watch:
    """A plan converged, then probers at every layer (theirs alone, so that their response
    codes are theirs) and the canaries' counts from now until finish()."""

    def __init__(self, kind: Kind, what: str) -> None:
        self.kind, self.primary = kind, KindDns(kind)
        self.first = new_plan(kind, self.primary, what)
        time.sleep(SCRAPE_SETTLE)
        self.clients_before = canary_counts(kind)
        self.asked = layers(kind)
        self.probers = [Prober(d, NAMES, every=0.01) for d in self.asked]
        for p in self.probers:
            p.start()

    def caught_up(self, last: int, timeout: float, what: str) -> float:
        """Plan `last` converged at the primary and served by every other layer; returns
        how long the primary took."""
        took = wait_converged(self.kind, self.primary, last, timeout, what)
        for d in self.asked[1:]:
            eventually(lambda d=d: serves_probes(d, last), timeout=timeout, interval=0.5,
                       what=f"plan {last} at {d.layer}")
        return took

    def finish(self) -> list[Tally]:
        return [p.finish() for p in self.probers]

    def report(self, seen: list[Tally]) -> dict[str, int]:
        """Says what each layer saw, then what the clients saw (returned)."""
        for d, tally in zip(self.asked, seen, strict=True):
            rcodes = ", ".join(f"{k} x{n}" for k, n in d.rcodes.most_common())
            say(f"  at {d.layer}: NXDOMAIN {d.rcodes['NXDOMAIN']}, {tally}; rcodes: {rcodes}")
        time.sleep(SCRAPE_SETTLE)
        clients = canary_delta(self.clients_before, canary_counts(self.kind))
        say(f"  at the clients (planguard canary pods, through CoreDNS): {clients}")
        return clients


def test_a_pod_resolves_planguard_names_through_the_cluster_dns(kind: Kind) -> None:
    primary = KindDns(kind)
    g = new_plan(kind, primary, "before resolving in a pod")
    for layer in layers(kind)[1:]:
        eventually(lambda d=layer: serves_probes(d, g), timeout=60, interval=0.5,
                   what=f"plan {g} at {layer.layer}")
    time.sleep(6)  # the probes' TTL (5 s): CoreDNS holds no older answer now
    names = [f"{ep}.example.test" for ep in NAMES]
    got = resolve_in_a_pod(kind, names)
    want = {f"{ep}.example.test": primary.query(ep) for ep in NAMES}
    say(f"a pod resolved through CoreDNS: {got}")
    assert got == want


def test_secondaries_and_the_cluster_dns_follow_the_primary_within_seconds(kind: Kind) -> None:
    every = layers(kind)
    times: dict[str, list[float]] = {d.layer: [] for d in every}
    for _ in range(3):
        g = next_generation(kind)
        t0 = time.monotonic()
        create(kind, plan_body(g, random.Random(g), BULK))
        pending = list(every)
        while pending:
            assert time.monotonic() - t0 < 120, f"plan {g} not at {[d.layer for d in pending]}"
            for d in list(pending):
                if serves_probes(d, g):
                    times[d.layer].append(time.monotonic() - t0)
                    pending.remove(d)
            time.sleep(0.1)
    report = "; ".join(f"{k}: {', '.join(f'{t:.1f}' for t in v)} s" for k, v in times.items())
    say(f"plan created -> its probes answered ({BULK} endpoints beside them): {report}")
    lag = max(max(times[d.layer]) - min(times["primary"]) for d in every[1:])
    # NOTIFY (1 s apart at most) and an IXFR, then at most one TTL (5 s) in CoreDNS's cache.
    assert all(t - p < 12 for d in every[1:] for t, p in zip(times[d.layer], times["primary"],
                                                               strict=True)), report
    assert lag < 60, report


@pytest.mark.dns_frozen
def test_a_restarted_primary_keeps_every_record(kind: Kind) -> None:
    dns = KindDns(kind)
    g = new_plan(kind, dns, "before the restart")
    # Every endpoint of the live plan (answers() adds the zone's fence, under "").
    endpoints = [*PROBES, *(f"bulk-{i}" for i in range(BULK))]
    set_paused(kind, True)
    try:
        before = answers(dns, endpoints)
        assert before[""][1] == g, before[""]
        assert all(a and gen == g for a, gen in (before[ep] for ep in endpoints)), before
        gone, ready = restart_primary(kind)
        after = answers(dns, endpoints)
        lost = {ep: (before[ep], after[ep]) for ep in before if after[ep] != before[ep]}
        say(f"primary's pod deleted with the zone paused: old pod gone in {gone:.1f} s, "
              f"new one Ready after {ready:.1f} s; {len(endpoints)} endpoints of plan {g} "
              f"and the zone fence: {len(before) - len(lost)} answer as before, {len(lost)} not")
        assert not lost, f"answers changed across the restart: {dict(list(lost.items())[:5])}"
    finally:
        set_paused(kind, False)
    assert zone_status(kind).get("activeGeneration") == g


@pytest.mark.dns_frozen
def test_a_restarted_primary_loses_no_answer_at_any_layer(kind: Kind) -> None:
    watch = Watch(kind, "before the restart")
    g = watch.first
    stream = Stream(kind, g + 1, BULK)
    try:
        stream.start()
        time.sleep(4)  # plans landing before the restart
        gone, ready = restart_primary(kind)
        time.sleep(4)  # and after it
        last = stream.finish()
        took = watch.caught_up(last, 120, "after the restart")
    finally:
        stream.finish()
        seen = watch.finish()
    say(f"primary's pod deleted while plans {g + 1}..{last} came ({stream.failures} "
        f"creates retried): old pod gone in {gone:.1f} s, new one Ready after {ready:.1f} s; "
        f"converged on plan {last} {took:.1f} s after the stream")
    clients = watch.report(seen)
    assert clients["lookups answered"] > 100, clients
    assert (clients.get("lookups empty", 0), clients.get("lookups failed", 0),
            clients.get("regressions", 0)) == (0, 0, 0), clients
    for d, tally in zip(watch.asked, seen, strict=True):
        assert tally.queries > 200, f"{d.layer}: {tally}"
        assert (d.rcodes["NXDOMAIN"], tally.empty, tally.regressions) == (0, 0, 0), \
            f"{d.layer}: {tally}"
    # The primary alone goes unanswered while it restarts: every other layer answers.
    for d, tally in zip(watch.asked[1:], seen[1:], strict=True):
        assert tally.unavailable == 0, f"{d.layer}: {tally}"


def test_a_secondarys_node_lost_leaves_clients_answered(kind: Kind) -> None:
    """The node of one secondary frozen (`docker pause`) for a minute while plans keep
    coming: the other secondary and the cluster DNS keep answering, nothing empty or going
    back at any layer, the clients resolve every name; thawed, the secondary catches up."""
    out = kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l",
                               "app.kubernetes.io/component=dns-secondary", "-o", "json")
    nodes = {p["metadata"]["name"]: p["spec"]["nodeName"]
             for p in json.loads(out.stdout)["items"]}
    node = nodes["dns-secondary-0"]
    watch = Watch(kind, "before the node is lost")
    g = watch.first
    stream = Stream(kind, g + 1, BULK, every=3.0)
    paused = False
    try:
        stream.start()
        pause_node(node)
        paused = True
        time.sleep(60)
        assert docker("unpause", node).returncode == 0
        paused = False
        last = stream.finish()
        watch.caught_up(last, 180, "after the node came back")
    finally:
        if paused:
            docker("unpause", node)
        stream.finish()
        seen = watch.finish()
    say(f"{node} (dns-secondary-0) paused 60 s while plans {g + 1}..{last} came")
    clients = watch.report(seen)
    for d, tally in zip(watch.asked, seen, strict=True):
        assert (d.rcodes["NXDOMAIN"], tally.empty, tally.regressions) == (0, 0, 0), \
            f"{d.layer}: {tally}"
    by_layer = {d.layer: t for d, t in zip(watch.asked, seen, strict=True)}
    assert by_layer["primary"].unavailable == 0 and by_layer["secondary-1"].unavailable == 0
    assert (clients.get("lookups empty", 0), clients.get("regressions", 0)) == (0, 0), clients
