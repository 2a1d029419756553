"""Racing authors, not racing enactors (issue 28): another namespace, another spelling of
the zone, a fat-fingered generation, a recreated plan, names planguard never wrote, a
name DNS cannot hold, a careless giant change. Each is run with kubectl against the real
API server and BIND (the takeover also on PowerDNS): refused or held with a message that
says why, DNS unchanged by it, and the team's next plan served."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import dns.query
import dns.update
import pytest

from harness import (
    REPO,
    Bind,
    Cluster,
    PowerDns,
    Processes,
    condition,
    eventually,
    free_port,
    metrics_text,
    on_powerdns,
    plan_obj,
    unique,
)
from planguard.dns.tsig import load_key

pytestmark = pytest.mark.integration


def roles(procs: Processes, server: Bind, *namespaces: str, tag: str = "",
          owner: str = "", cleanup_metrics: int = 0, drift: float = 1) -> None:
    """An enactor and clean-up watching `namespaces` (an install: `owner` its --owner-id)."""
    watch = [a for n in namespaces for a in ("-n", n)]
    extra = ("--owner-id", owner) if owner else ()
    procs.start(f"enactor{tag}", "enactor", "--id", f"a{tag}", *watch, "--tsig-key",
                server.key("enactor-a"), "--drift-interval", str(drift), *extra)
    procs.start(f"cleanup{tag}", "cleanup", *watch, "--tsig-key",
                server.key("planguard-cleanup"), "--interval", "0.5", *extra,
                metrics_port=cleanup_metrics)


def reason(cluster: Cluster, kind: str, ns: str, name: str, ctype: str) -> str | None:
    for c in (cluster.get(kind, ns, name).get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return f"{c['status']}/{c['reason']}: {c['message']}"
    return None


def events(cluster: Cluster, ns: str) -> list[dict]:
    return json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]


def event_with(cluster: Cluster, ns: str, why: str, text: str = "") -> bool:
    return any(e["reason"] == why and text in e["message"] for e in events(cluster, ns))


def admin(server: Bind, zone: str, build: Callable[[dns.update.UpdateMessage], None]) -> None:
    """A change by someone else (the DNS admin's key), not by planguard."""
    key = load_key(server.key("dns-admin"))
    u = dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.keyname,
                                 keyalgorithm=key.algorithm)
    build(u)
    assert dns.query.tcp(u, "127.0.0.1", port=server.port, timeout=5).rcode() == 0


def ctl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planguard.cli", *args, "--kubeconfig",
                           cluster.kubeconfig], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


# -- one owner per zone -----------------------------------------------------------------
def _takeover(cluster: Cluster, server: Bind, ns: str, ns2: str, dns_zone: str,
              procs: Processes) -> None:
    cluster.apply(ns, [server.zone("web", dns_zone), plan_obj("web", 1, {"api": ["10.0.0.1"]})])
    roles(procs, server, ns, ns2)  # the chart's default: one install watching every team
    roles(procs, server, ns2, tag="-b")  # and one that sees only the other team
    eventually(lambda: server.query(f"api.{dns_zone}") == ["10.0.0.1"], timeout=30)
    # Another team's DNSZone for the same zone (another spelling), and a plan at the
    # highest generation admission lets through.
    cluster.apply(ns2, [server.zone("steal", f"{dns_zone}."),
                        plan_obj("steal", 2**53, {"api": ["10.9.9.9"]})])
    eventually(lambda: (reason(cluster, "dnszone", ns2, "steal", "Ready") or "")
               .startswith("False/ZoneClaimed"), timeout=30, what="steal: Ready=False")
    ready = reason(cluster, "dnszone", ns2, "steal", "Ready") or ""
    assert f"{ns}/web" in ready, ready
    eventually(lambda: event_with(cluster, ns2, "ZoneClaimed", f"{ns}/web"), timeout=20)
    # The install that cannot see the first DNSZone is stopped by the claim in DNS.
    # (what the second team sees on its plan: install 2's enactor, a-b, refusing it)
    eventually(lambda: any(e["message"].startswith("a-b: ") and "claimed in DNS by" in e["message"]
                           for e in events(cluster, ns2) if e["reason"] == "ZoneClaimed"),
               timeout=20, what="the DNS claim refusing the second install")
    assert server.query(f"api.{dns_zone}") == ["10.0.0.1"]
    assert server.generation(dns_zone) == 1
    # The team goes on; after the other team gives up, nothing is frozen either.
    cluster.apply(ns, plan_obj("web", 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: server.query(f"api.{dns_zone}") == ["10.0.0.2"], timeout=30)
    cluster.kubectl("delete", "dnsplans,dnszones", "--all", "-n", ns2, "--wait=false")
    cluster.apply(ns, plan_obj("web", 3, {"api": ["10.0.0.3"]}))
    eventually(lambda: server.query(f"api.{dns_zone}") == ["10.0.0.3"], timeout=30)
    assert server.query(f"api.{dns_zone}") == ["10.0.0.3"]


def test_takeover_from_another_namespace_is_refused_on_bind(cluster, bind, ns, ns2,
                                                            dns_zone, procs) -> None:
    _takeover(cluster, bind, ns, ns2, dns_zone, procs)


@on_powerdns
def test_takeover_from_another_namespace_is_refused_on_powerdns(cluster, pdns: PowerDns, ns,
                                                                ns2, dns_zone,
                                                                procs) -> None:
    _takeover(cluster, pdns, ns, ns2, dns_zone, procs)


def test_the_same_zone_by_another_spelling_in_one_namespace(cluster, bind, ns, zone,
                                                            dns_zone, procs) -> None:
    roles(procs, bind, ns)
    cluster.apply(ns, plan_obj(zone, 1, {"www": ["10.0.0.1"]}))
    eventually(lambda: bind.query(f"www.{dns_zone}") == ["10.0.0.1"], timeout=30)
    cluster.apply(ns, [bind.zone("web2", f"{dns_zone}."),
                       plan_obj("web2", 1000, {"www": ["10.6.6.6"]})])
    eventually(lambda: (reason(cluster, "dnszone", ns, "web2", "Ready") or "")
               .startswith("False/ZoneClaimed"), timeout=30)
    cluster.apply(ns, plan_obj(zone, 2, {"www": ["10.0.0.2"]}))
    eventually(lambda: bind.query(f"www.{dns_zone}") == ["10.0.0.2"], timeout=30)
    assert bind.generation(dns_zone) == 2


def test_an_explicit_hand_over_to_another_namespace(cluster, bind, ns, ns2, zone,
                                                    dns_zone, procs) -> None:
    roles(procs, bind, ns, tag="-old")
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"], timeout=30)
    procs.stop_all()  # the old owner's install is gone; the new one sees only its namespace
    roles(procs, bind, ns2, tag="-new")
    cluster.apply(ns2, [bind.zone("web", dns_zone), plan_obj("web", 2, {"api": ["10.0.0.2"]})])
    eventually(lambda: (reason(cluster, "dnszone", ns2, "web", "Ready") or "")
               .startswith("False/ZoneClaimed"), timeout=30)
    cluster.kubectl("annotate", "dnszone", "web", "-n", ns2,
                    f"planguard.io/adopt-from={ns}/{zone}")
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.2"], timeout=30)
    fence = bind.query(f"_planguard.{dns_zone}", "TXT")[0]
    assert f"owner={ns2}/web" in fence, fence


# -- no stuck state ---------------------------------------------------------------------
def _jump_refused(cluster: Cluster, server: Bind, ns: str, zone: str, dns_zone: str, g: int,
                  address: str) -> str:
    """Plan 1 served, then plan `g` (far above it) refused with DNS unchanged; returns the
    refused plan's Accepted condition."""
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: server.query(f"api.{dns_zone}") == ["10.0.0.1"], timeout=30)
    cluster.apply(ns, plan_obj(zone, g, {"api": [address]}))
    eventually(lambda: (reason(cluster, "dnsplan", ns, f"{zone}-{g}", "Accepted") or "")
               .startswith("False/GenerationJump"), timeout=30)
    assert server.query(f"api.{dns_zone}") == ["10.0.0.1"]
    return reason(cluster, "dnsplan", ns, f"{zone}-{g}", "Accepted") or ""


def test_a_fat_fingered_generation_is_refused_and_the_next_plan_served(cluster, bind, ns, zone,
                                                                       dns_zone,
                                                                       procs) -> None:
    roles(procs, bind, ns)
    typo = 1_000_000_000_002
    refused = _jump_refused(cluster, bind, ns, zone, dns_zone, typo, "10.9.9.9")
    assert "planguard.io/allow-generation-jump=true" in refused
    eventually(lambda: event_with(cluster, ns, "GenerationJump"), timeout=20)
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.2"], timeout=30)
    assert bind.generation(dns_zone) == 2


def test_a_jump_annotated_as_deliberate_goes_ahead(cluster, bind, ns, zone, dns_zone,
                                                  procs) -> None:
    """The annotation changes no spec: the enactor must still decide again at once (its
    converged shortcut compares the plans' consents too), not at its next full zone
    transfer (6 drift intervals: 6 minutes here)."""
    roles(procs, bind, ns, drift=60)
    jump = 5_000_000_000
    _jump_refused(cluster, bind, ns, zone, dns_zone, jump, "10.0.0.5")
    cluster.kubectl("annotate", "dnsplan", f"{zone}-{jump}", "-n", ns,
                    "planguard.io/allow-generation-jump=true")
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.5"], timeout=20)
    assert bind.generation(dns_zone) == jump


def test_a_zone_frozen_before_bounds_existed_is_rebased_by_its_owner(cluster, bind, ns, zone,
                                                                     dns_zone,
                                                                     procs) -> None:
    frozen = 9223372036854775807
    admin(bind, dns_zone, lambda u: (
        u.replace("_planguard", 0, "TXT", f'"gen={frozen} by=x"'),
        u.replace("api", 30, "A", "10.9.9.9"),
        u.replace("_planguard.api", 0, "TXT", f'"gen={frozen} plan=steal by=x"')))
    roles(procs, bind, ns)
    cluster.apply(ns, plan_obj(zone, 3, {"api": ["10.0.0.3"]}))
    eventually(lambda: "no such plan exists" in (reason(cluster, "dnszone", ns, zone,
                                                        "Converged") or ""), timeout=30)
    assert bind.query(f"api.{dns_zone}") == ["10.9.9.9"]
    cluster.kubectl("annotate", "dnszone", zone, "-n", ns, f"planguard.io/rebase-fence={frozen}")
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.3"], timeout=30)
    assert bind.generation(dns_zone) == 3 and bind.generation(dns_zone, "api") == 3
    cluster.apply(ns, plan_obj(zone, 4, {"api": ["10.0.0.4"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.4"], timeout=30)


def test_a_recreated_plan_with_other_content_is_refused(cluster, bind, ns, zone, dns_zone,
                                                        procs) -> None:
    roles(procs, bind, ns)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"], timeout=30)
    cluster.kubectl("patch", "dnsplan", f"{zone}-1", "-n", ns, "--type", "merge",
                    "-p", '{"metadata":{"finalizers":null}}')
    cluster.kubectl("delete", "dnsplan", f"{zone}-1", "-n", ns)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.6.6.6"]}))
    eventually(lambda: (reason(cluster, "dnsplan", ns, f"{zone}-1", "Accepted") or "")
               .startswith("False/GenerationReused"), timeout=30)
    eventually(lambda: event_with(cluster, ns, "GenerationReused"), timeout=20)
    assert bind.query(f"api.{dns_zone}") == ["10.0.0.1"]
    cluster.apply(ns, plan_obj(zone, 2, {"api": ["10.0.0.2"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.2"], timeout=30)


# -- never adopt what planguard did not write -------------------------------------------
def test_names_planguard_did_not_write_are_left_alone(cluster, bind, ns, zone, dns_zone,
                                                      procs) -> None:
    admin(bind, dns_zone, lambda u: (u.add("www", 60, "CNAME", f"elsewhere.{dns_zone}."),
                                     u.add("sub", 60, "NS", "ns.elsewhere.test."),
                                     u.add("glue.sub", 60, "A", "192.0.2.53")))
    roles(procs, bind, ns)
    cluster.apply(ns, plan_obj(zone, 1, {"api": ["10.0.0.1"], "ns": ["10.9.9.9"],
                                         "www": ["10.9.9.8"], "glue.sub": ["10.9.9.7"]}))
    eventually(lambda: bind.query(f"api.{dns_zone}") == ["10.0.0.1"], timeout=30)
    eventually(lambda: (reason(cluster, "dnsplan", ns, f"{zone}-1", "EndpointsRefused") or "")
               .startswith("True/"), timeout=30)
    why = reason(cluster, "dnsplan", ns, f"{zone}-1", "EndpointsRefused") or ""
    assert "endpoint 'ns': the name holds A records planguard did not write" in why, why
    assert "endpoint 'www': the name holds CNAME records" in why, why
    assert "endpoint 'glue.sub': sub is delegated" in why, why
    eventually(lambda: event_with(cluster, ns, "ForeignRecords", "'ns'"), timeout=20)
    assert bind.query(f"ns.{dns_zone}") == ["127.0.0.1"]
    assert bind.query(f"_planguard.ns.{dns_zone}", "TXT") == []
    # The owner lists `ns` as adoptable: then, and only then, it is taken over.
    cluster.kubectl("patch", "dnszone", zone, "-n", ns, "--type", "merge",
                    "-p", '{"spec":{"adoptable":["ns"]}}')
    eventually(lambda: bind.query(f"ns.{dns_zone}") == ["10.9.9.9"], timeout=30)
    assert bind.query(f"www.{dns_zone}", "CNAME") == [f"elsewhere.{dns_zone}."]


def test_a_name_too_long_for_dns_is_refused_alone(cluster, bind, ns, procs) -> None:
    long_zone = f"{'l' * 60}.{unique('z')}.test"
    bind.add_zone(long_zone)
    try:
        roles(procs, bind, ns)
        name = ".".join(["n" * 60] * 3) + ".x"
        cluster.apply(ns, [bind.zone("web", long_zone),
                           plan_obj("web", 1, {"ok": ["10.0.0.1"], name: ["10.0.0.2"]})])
        eventually(lambda: bind.query(f"ok.{long_zone}") == ["10.0.0.1"], timeout=30)
        eventually(lambda: (reason(cluster, "dnsplan", ns, "web-1", "EndpointsRefused") or "")
                   .startswith("True/NameTooLong"), timeout=30)
        eventually(lambda: (reason(cluster, "dnszone", ns, "web", "Degraded") or "")
                   .startswith("True/"), timeout=30)
    finally:
        bind.del_zone(long_zone)


# -- a guard against incorrect plans -----------------------------------------------------
def test_a_giant_change_is_held_until_its_content_is_approved(cluster, bind, ns, zone,
                                                              dns_zone, procs) -> None:
    mport = free_port()
    roles(procs, bind, ns, cleanup_metrics=mport)
    names = [f"e{i}" for i in range(10)]
    cluster.apply(ns, plan_obj(zone, 1, {n: ["10.0.0.1"] for n in names}))
    eventually(lambda: bind.query(f"e9.{dns_zone}") == ["10.0.0.1"], timeout=30)
    cluster.apply(ns, plan_obj(zone, 2, {n: ["10.0.0.2" if i < 5 else "10.0.0.1"]
                                         for i, n in enumerate(names)}))
    eventually(lambda: (reason(cluster, "dnsplan", ns, f"{zone}-2", "Held") or "")
               .startswith("True/Held"), timeout=30)
    held = reason(cluster, "dnsplan", ns, f"{zone}-2", "Held") or ""
    assert "5 of 10 managed endpoints (50 %)" in held, held
    eventually(lambda: f'planguard_zone_held{{zone="{ns}/{zone}"}} 1.0' in metrics_text(mport),
               timeout=20)
    eventually(lambda: event_with(cluster, ns, "Held"), timeout=20)
    assert (reason(cluster, "dnszone", ns, zone, "Ready") or "").startswith("False/Held")
    assert bind.query(f"e0.{dns_zone}") == ["10.0.0.1"]
    diff = ctl(cluster, "diff", f"{zone}-2", "-n", ns, "--tsig-key", bind.key("planguard-cleanup"))
    assert diff.returncode == 0, diff.stderr
    digest = diff.stdout.split("digest ")[1].split()[0]
    wrong = ctl(cluster, "approve", f"{zone}-2", "-n", ns, "--digest", "0" * 16)
    assert wrong.returncode == 1 and "not what you reviewed" in wrong.stderr
    assert bind.query(f"e0.{dns_zone}") == ["10.0.0.1"]
    ok = ctl(cluster, "approve", f"{zone}-2", "-n", ns, "--digest", digest)
    assert ok.returncode == 0, ok.stderr
    eventually(lambda: bind.query(f"e0.{dns_zone}") == ["10.0.0.2"], timeout=30)
    assert bind.query(f"e9.{dns_zone}") == ["10.0.0.1"]
    eventually(lambda: condition(cluster.get("dnsplan", ns, f"{zone}-2"), "Held") is None,
               timeout=30, what="Held gone once approved")
    # A small change of the same zone goes straight through.
    cluster.apply(ns, plan_obj(zone, 3, {n: ["10.0.0.3" if i < 3 else "10.0.0.2" if i < 5
                                             else "10.0.0.1"] for i, n in enumerate(names)}))
    eventually(lambda: bind.query(f"e0.{dns_zone}") == ["10.0.0.3"], timeout=30)
