"""The DNS pod restarted (`kubectl delete pod -l app=bind`): its zone file and journal live on
a PersistentVolume (hack/kind-up.sh), so the new pod serves every record planguard wrote.
With the zone paused, no enactor can put anything back: every endpoint of the live plan must
answer exactly as before. While plans keep coming, a prober asking names of the live plan
every ~10 ms sees no NXDOMAIN, no empty answer and no generation going back; it goes
unanswered only while the one primary restarts (the secondaries of issue 31 are for that)."""

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
    Kind,
    KindDns,
    Prober,
    Stream,
    create,
    next_generation,
    plan_body,
    wait_converged,
    zone_status,
)

from harness import eventually

# dns_frozen: the autouse prober may go unanswered while BIND restarts, never wrong.
pytestmark = [pytest.mark.kind, pytest.mark.dns_frozen, pytest.mark.timeout(600)]
BULK = 300
# The probes, whose addresses every plan moves, and bulk names across the plan.
NAMES = (*PROBES, "bulk-0", "bulk-150", f"bulk-{BULK - 1}")


def _bind_pods(kind: Kind) -> list[dict[str, Any]]:
    out = kind.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", "app=bind", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def restart_bind(kind: Kind) -> tuple[float, float]:
    """Deletes the BIND pod as `kubectl delete pod` does (gracefully); returns the seconds
    until the old pod was gone and until its replacement was Ready."""
    (old,) = _bind_pods(kind)
    t0 = time.monotonic()
    kind.cluster.kubectl("delete", "pod", "-n", NAMESPACE, old["metadata"]["name"],
                         "--timeout=120s", timeout=150)
    gone = time.monotonic() - t0

    def replaced() -> bool:
        pods = _bind_pods(kind)
        return len(pods) == 1 and pods[0]["metadata"]["uid"] != old["metadata"]["uid"] \
            and _ready(pods[0])
    eventually(replaced, timeout=120, interval=0.25, what="a new BIND pod Ready")
    return gone, time.monotonic() - t0


def answers(dns: KindDns, endpoints: list[str]) -> dict[str, tuple[list[str], int | None]]:
    """endpoint -> (its addresses, its marker's generation), and the zone fence under ''.
    A query unanswered is asked again, as a stub resolver would: an answer is compared,
    never a connection (BIND's accept queue is short, and the host busy)."""
    def once(ep: str) -> tuple[list[str], int | None]:
        if not ep:
            return [], dns.generation()
        return dns.query(ep), dns.generation(ep)

    def ask(ep: str) -> tuple[list[str], int | None]:
        for _ in range(3):
            try:
                return once(ep)
            except (OSError, EOFError, dns_exception.Timeout):
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


def test_a_restarted_dns_pod_keeps_every_record(kind: Kind) -> None:
    dns = KindDns(kind)
    g = next_generation(kind)
    create(kind, plan_body(g, random.Random(g), BULK))
    wait_converged(kind, dns, g, 120, "before the restart")
    # Every endpoint of the live plan (answers() adds the zone's fence, under "").
    endpoints = [*PROBES, *(f"bulk-{i}" for i in range(BULK))]
    set_paused(kind, True)
    try:
        before = answers(dns, endpoints)
        assert before[""][1] == g, before[""]
        assert all(a and gen == g for a, gen in (before[ep] for ep in endpoints)), before
        gone, ready = restart_bind(kind)
        after = answers(dns, endpoints)
        lost = {ep: (before[ep], after[ep]) for ep in before if after[ep] != before[ep]}
        print(f"BIND pod deleted with the zone paused: old pod gone in {gone:.1f} s, new "
              f"one Ready after {ready:.1f} s; {len(endpoints)} endpoints of plan {g} and "
              f"the zone fence: {len(before) - len(lost)} answer as before, {len(lost)} not")
        assert not lost, f"answers changed across the restart: {dict(list(lost.items())[:5])}"
    finally:
        set_paused(kind, False)
    assert zone_status(kind).get("activeGeneration") == g


def test_a_restarted_dns_pod_loses_no_answer(kind: Kind) -> None:
    dns = KindDns(kind)
    g = next_generation(kind)
    create(kind, plan_body(g, random.Random(g), BULK))
    wait_converged(kind, dns, g, 120, "before the restart")
    asked = KindDns(kind)  # the prober's own, so its response codes are its alone
    prober = Prober(asked, NAMES, every=0.01)
    prober.start()
    stream = Stream(kind, g + 1, BULK)
    try:
        stream.start()
        time.sleep(4)  # plans landing before the restart
        gone, ready = restart_bind(kind)
        time.sleep(4)  # and after it
        last = stream.finish()
        took = wait_converged(kind, dns, last, 120, "after the restart")
    finally:
        stream.finish()
        seen = prober.finish()
    rcodes = ", ".join(f"{k} x{n}" for k, n in asked.rcodes.most_common())
    print(f"BIND pod deleted while plans {g + 1}..{last} came ({stream.failures} creates "
          f"retried): old pod gone in {gone:.1f} s, new one Ready after {ready:.1f} s; "
          f"converged on plan {last} {took:.1f} s after the stream")
    print(f"names {', '.join(NAMES)} every 10 ms: {seen}; response codes: {rcodes}")
    print(f"DNS pod restart: NXDOMAIN {asked.rcodes['NXDOMAIN']}, empty {seen.empty}, "
          f"regressions {seen.regressions}; unanswered (after a retry) {seen.unavailable}, "
          f"while the single primary restarts: counted, not failed")
    assert seen.queries > 500, seen
    assert (asked.rcodes["NXDOMAIN"], seen.empty, seen.regressions) == (0, 0, 0), seen
