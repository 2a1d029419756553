"""Enactors and clean-up as real processes against the real API server and BIND."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import dns.query
import dns.rcode
import dns.update
import pytest

from harness import (
    HACK,
    Bind,
    Cluster,
    Processes,
    condition,
    eventually,
    free_port,
    hack_env,
    metrics_text,
    on_both_servers,
    plan_obj,
    zone_at,
)
from planguard.dns.tsig import load_key
from prober import Prober, asker

pytestmark = pytest.mark.e2e


def served(bind: Bind, zone: str, endpoint: str) -> tuple[list[str], int | None]:
    return bind.query(f"{endpoint}.{zone}"), bind.generation(zone, endpoint)


def start_roles(procs: Processes, bind: Bind, ns: str, enactors: str = "abc") -> None:
    for e in enactors:
        procs.enactor(e, ns, bind.key(f"enactor-{e}"))
    procs.cleanup(ns, bind.key("planguard-cleanup"))


def test_three_enactors_converge_a_zone(cluster: Cluster, bind: Bind, ns: str, zone: str,
                                        dns_zone: str, procs: Processes) -> None:
    start_roles(procs, bind, ns)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1", "10.0.0.2", "2001:db8::1"],
                                         "fips": ["10.0.1.1"], "ipv6": ["2001:db8::2"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1", "10.0.0.2"], 1),
               what="api at generation 1")
    assert bind.query(f"api.{dns_zone}", "AAAA") == ["2001:db8::1"]
    assert served(bind, dns_zone, "fips") == (["10.0.1.1"], 1)
    assert bind.query(f"ipv6.{dns_zone}", "AAAA") == ["2001:db8::2"]
    assert bind.generation(dns_zone) == 1

    # Plan 2 in the short form (`addresses`): what it says of fips and ipv6 is what plan 1
    # said as targets, so they are not written again.
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.1", "10.0.0.3", "2001:db8::1"],
                                         "fips": ["10.0.1.1"], "ipv6": ["2001:db8::2"]},
                               bare=True))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1", "10.0.0.3"], 2))
    assert bind.query(f"api.{dns_zone}", "AAAA") == ["2001:db8::1"]
    # Only the changed endpoint was written; the others still carry generation 1.
    assert bind.generation(dns_zone, "fips") == 1 and bind.generation(dns_zone) == 2

    eventually(lambda: zone_at(cluster, ns, zone, 2, "abc", "Converged"),
               what="zone status converged at 2 for all enactors")
    z = cluster.get("dnszone", ns, zone)["status"]
    # fips and ipv6 keep generation-1 markers, but plan 2 reproduces them exactly, so DNS
    # depends on plan 2 alone (clean-up's attribution, core/dnsplan/cleanup.depended_on).
    assert z["liveGenerations"] == {"oldest": 2, "newest": 2}
    # Ready means converged, not degraded, not paused: what `kubectl wait` users assume.
    cluster.kubectl("wait", "--for=condition=Ready", f"dnszones.planguard.io/{zone}", "-n", ns,
                    "--timeout=30s")
    conds = {c["type"]: c for c in cluster.get("dnszone", ns, zone)["status"]["conditions"]}
    assert {t: c["status"] for t, c in conds.items()} == {
        "Converged": "True", "DNSReadable": "True", "Degraded": "False", "Paused": "False",
        "Ready": "True"}
    assert conds["Ready"]["reason"] == "Converged"
    eventually(lambda: condition(cluster.get("dnsplan", ns, f"{zone}-2"), "Live") == "True")
    plan = cluster.get("dnsplan", ns, f"{zone}-2")["status"]["conditions"]
    assert {c["type"] for c in plan} == {"Accepted", "Live", "Superseded"}  # no Refused
    table = cluster.kubectl("get", "dnsplans,dnszones", "-n", ns).stdout
    assert "web-2" in table and "example" not in table
    head = table.splitlines()[0].split()
    assert head[:6] == ["NAME", "ZONE", "GENERATION", "ACCEPTED", "REASON", "LIVE"], table
    # BIND attributes every change to the enactor's own key.
    named_log = (Path(hack_env("BIND_DIR")) / "named.log").read_text()
    writers = {k for k in ("enactor-a", "enactor-b", "enactor-c")
               if f"/key {k}: updating zone '{dns_zone}" in named_log}
    assert writers, "no update in BIND's log attributed to an enactor key"


@on_both_servers
def test_postmortem_sequence_forced(cluster: Cluster, server: Bind, ns: str, zone: str,
                                    dns_zone: str, procs: Processes) -> None:
    """A delayed enactor holding an old plan, newer plans applied by another, clean-up
    deleting old plans, then the delayed one resumes: the 2025-10-19 sequence."""
    cluster.kubectl("patch", "dnszone", zone, "-n", ns, "--type", "merge",
                    "-p", '{"spec":{"keep":1}}')
    mport = free_port()
    procs.enactor("slow", ns, server.key("enactor-a"), metrics_port=mport,
                  fault=("stop-after-decide", "2"))
    procs.cleanup(ns, server.key("planguard-cleanup"))
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: served(server, dns_zone, "api") == (["10.0.0.1"], 1))
    prober = Prober(asker(server, dns_zone), ("api",), every=0.005)
    prober.start()

    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: procs.state("enactor-slow") == "T", what="slow enactor frozen after read")

    procs.enactor("fast", ns, server.key("enactor-b"))
    for g in (3, 4, 5):
        cluster.apply(ns, plan_obj(zone, g, {"api": [f"10.0.0.{g}"]}))
    eventually(lambda: served(server, dns_zone, "api") == (["10.0.0.5"], 5), timeout=60)
    # Clean-up removes the superseded plans, including the one the slow enactor holds.
    eventually(lambda: not cluster.exists("dnsplan", ns, f"{zone}-2"), what="plan 2 deleted")

    procs.signal("enactor-slow", signal.SIGCONT)
    # Its stale UPDATE reaches BIND and is refused by the prerequisite, not by luck.
    conflict = ('planguard_cas_outcomes_total{enactor="slow",result="conflict",'
                f'zone="{ns}/{zone}"}}')
    eventually(lambda: conflict in metrics_text(mport),
               what="the resumed enactor's stale write refused (a CAS conflict in its metrics)")
    time.sleep(2)  # give the resumed enactor every chance to do damage
    prober.assert_clean(min_queries=100)
    assert served(server, dns_zone, "api") == (["10.0.0.5"], 5)
    assert cluster.exists("dnsplan", ns, f"{zone}-5"), "the live plan was deleted"
    # The new plan still applies: nothing is stuck.
    cluster.apply(ns, plan_obj(zone, 6, {"api": ["10.0.0.6"]}))
    eventually(lambda: served(server, dns_zone, "api") == (["10.0.0.6"], 6))


def live_plan_1(cluster: Cluster, bind: Bind, ns: str, zone: str, dns_zone: str,
                procs: Processes, enactors: str) -> None:
    """Plan 1 served and protected: clean-up puts the live-plan finalizer on once the plan is
    a cycle old (before that a delete goes through at once and there is nothing to hold)."""
    start_roles(procs, bind, ns, enactors)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1))
    eventually(lambda: "planguard.io/live-plan" in cluster.get("dnsplan", ns, f"{zone}-1")
               ["metadata"].get("finalizers", []), what="plan 1 protected")


def test_deleting_the_live_plan_waits_until_superseded(cluster, bind, ns, zone, dns_zone,
                                                       procs) -> None:
    live_plan_1(cluster, bind, ns, zone, dns_zone, procs, "a")
    cluster.kubectl("delete", "dnsplan", f"{zone}-1", "-n", ns, "--wait=false")
    time.sleep(2)
    held = cluster.get("dnsplan", ns, f"{zone}-1")
    assert held["metadata"].get("deletionTimestamp"), "delete was not recorded"
    assert served(bind, dns_zone, "api") == (["10.0.0.1"], 1)
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.2"], 2))
    eventually(lambda: not cluster.exists("dnsplan", ns, f"{zone}-1"), what="plan 1 released")


def test_force_removed_live_plan_does_not_block_a_newer_plan(cluster, bind, ns, zone, dns_zone,
                                                            procs) -> None:
    live_plan_1(cluster, bind, ns, zone, dns_zone, procs, "ab")
    # Force removal as an operator would do it: delete, then strip the finalizer (removing it
    # first would race clean-up, which puts it back on a plan DNS depends on).
    cluster.kubectl("delete", "dnsplan", f"{zone}-1", "-n", ns, "--wait=false")
    cluster.kubectl("patch", "dnsplan", f"{zone}-1", "-n", ns, "--type", "merge",
                    "-p", '{"metadata":{"finalizers":null}}')
    eventually(lambda: not cluster.exists("dnsplan", ns, f"{zone}-1"), what="plan 1 gone")
    assert served(bind, dns_zone, "api") == (["10.0.0.1"], 1)  # deleting a plan changes no DNS
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.2"], 2))


def test_paused_zone_is_not_written(cluster, bind, ns, zone, dns_zone, procs) -> None:
    cluster.kubectl("patch", "dnszone", zone, "-n", ns, "--type", "merge",
                    "-p", '{"spec":{"paused":true}}')
    start_roles(procs, bind, ns, "a")
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: condition(cluster.get("dnszone", ns, zone), "Paused") == "True")
    ready = [c for c in cluster.get("dnszone", ns, zone)["status"]["conditions"]
             if c["type"] == "Ready"]
    assert [(c["status"], c["reason"]) for c in ready] == [("False", "Paused")]
    time.sleep(2)
    assert served(bind, dns_zone, "api") == ([], None)
    cluster.kubectl("patch", "dnszone", zone, "-n", ns, "--type", "merge",
                    "-p", '{"spec":{"paused":false}}')
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1))
    eventually(lambda: condition(cluster.get("dnszone", ns, zone), "Paused") == "False")


@on_both_servers
def test_wrong_tsig_key_is_reported_and_writes_nothing(cluster, server, ns, zone, dns_zone, procs,
                                                       tmp_path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text('key "enactor-a" { algorithm hmac-sha256; secret "d3Jvbmcgc2VjcmV0IQ=="; };')
    procs.enactor("bad", ns, str(bad))
    procs.cleanup(ns, server.key("planguard-cleanup"))
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))

    def reported() -> bool:
        st = cluster.get("dnszone", ns, zone).get("status") or {}
        return (st.get("enactors") or {}).get("bad", {}).get("lastErrorKind") == "tsig"
    eventually(reported, what="tsig error in status.enactors.bad")
    events = cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    assert "DNSError" in events and "TSIG rejected" in events
    eventually(lambda: condition(cluster.get("dnszone", ns, zone), "Degraded") == "True")
    assert condition(cluster.get("dnszone", ns, zone), "Converged") == "False"
    assert condition(cluster.get("dnszone", ns, zone), "Ready") == "False"
    assert condition(cluster.get("dnszone", ns, zone), "DNSReadable") == "True"  # clean-up's key
    assert served(server, dns_zone, "api") == ([], None)


def test_bind_down_mid_apply_then_back(cluster, bind, ns, zone, dns_zone, procs) -> None:
    start_roles(procs, bind, ns, "ab")
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1))
    restart = subprocess.Popen([str(HACK / "bind-restart.sh"), "4"], stdout=subprocess.PIPE)

    def down() -> bool:
        try:
            bind.query(f"api.{dns_zone}")
        except Exception:  # refused or timed out: BIND is away
            return True
        return False
    eventually(down, timeout=10, interval=0.05, what="BIND down")
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"], "new": ["10.0.2.1"]}))

    def unreachable_reported() -> bool:
        st = cluster.get("dnszone", ns, zone).get("status") or {}
        kinds = {v.get("lastErrorKind") for v in (st.get("enactors") or {}).values()}
        return bool(kinds & {"unreachable", "timeout"})
    eventually(unreachable_reported, timeout=10, what="DNS error in zone status")
    assert restart.wait(timeout=30) == 0
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.2"], 2), timeout=60)
    assert served(bind, dns_zone, "new") == (["10.0.2.1"], 2)
    eventually(lambda: condition(cluster.get("dnszone", ns, zone), "Converged") == "True")
    # Ready once the enactors' errors are older than clean-up's window for them (120 s)
    # is too long to wait for here; DNS readable again is what this test can see.
    eventually(lambda: condition(cluster.get("dnszone", ns, zone), "DNSReadable") == "True")


def test_apiserver_restart_does_not_stop_enactors(cluster, bind, ns, zone, dns_zone,
                                                  procs) -> None:
    start_roles(procs, bind, ns, "a")
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1))
    subprocess.run([str(HACK / "apiserver-restart.sh"), "2"], check=True, capture_output=True)
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.2"], 2), timeout=90)


def test_hand_edit_is_repaired_through_the_cas(cluster, bind, ns, zone, dns_zone, procs) -> None:
    start_roles(procs, bind, ns, "a")
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1))
    key = load_key(bind.key("dns-admin"))
    u = dns.update.UpdateMessage(dns_zone, keyring=key.keyring(), keyname=key.keyname)
    u.replace("api", 30, "A", "6.6.6.6")
    assert dns.query.tcp(u, "127.0.0.1", port=bind.port).rcode() == dns.rcode.NOERROR
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1), what="drift repaired")


def test_a_plan_in_parts_applies_once_every_part_exists(cluster, bind, ns, zone, dns_zone,
                                                       procs) -> None:
    start_roles(procs, bind, ns, "a")
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.1"], 1))
    p0 = plan_obj(zone, 2, {"api": ["10.0.0.2"]})
    p0["metadata"]["name"] = f"{zone}-2-p0"
    p0["spec"]["part"] = {"index": 0, "count": 2}
    cluster.apply(ns, p0)
    eventually(lambda: condition(cluster.get("dnsplan", ns, f"{zone}-2-p0"), "Accepted")
               == "False", what="part 0 waiting")
    assert served(bind, dns_zone, "api") == (["10.0.0.1"], 1)
    p1 = plan_obj(zone, 2, {"fips": ["10.0.1.2"]})
    p1["metadata"]["name"] = f"{zone}-2-p1"
    p1["spec"]["part"] = {"index": 1, "count": 2}
    cluster.apply(ns, p1)
    eventually(lambda: served(bind, dns_zone, "api") == (["10.0.0.2"], 2))
    assert served(bind, dns_zone, "fips") == (["10.0.1.2"], 2)
    bad = plan_obj(zone, 3, {"api": ["10.0.0.3"]})
    bad["spec"]["part"] = {"index": 1, "count": 2}
    r = cluster.apply(ns, bad, check=False)
    assert r.returncode != 0 and "-p<spec.part.index>" in r.stderr
