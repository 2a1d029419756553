"""What only PowerDNS can show: the plans' weights served, by three enactors and clean-up as
processes, hand edits beside them, all-zero weights. The tests that hold on either server
(the post-mortem's sequence, the chaos suite, a wrong key) run on both from test_enactors.py
and test_chaos.py (`@on_both_servers`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import test_enactors as bind_suite

from harness import Cluster, PowerDns, Processes, eventually, on_powerdns, plan_obj, zone_at

pytestmark = pytest.mark.e2e


def weighted(zone: str, g: int, targets: list[tuple[str, int]], **more: list[str]) -> dict:
    eps = [{"name": "api", "ttl": 30,
            "targets": [{"address": a, "weight": w} for a, w in targets]}]
    eps += [{"name": n, "ttl": 30, "targets": [{"address": a} for a in addrs]}
            for n, addrs in more.items()]
    return plan_obj(zone, g, eps)


@on_powerdns
def test_three_enactors_serve_the_plans_weights(cluster: Cluster, pdns: PowerDns, ns: str,
                                                zone: str, dns_zone: str,
                                                procs: Processes) -> None:
    bind_suite.start_roles(procs, pdns, ns)
    cluster.apply(ns, weighted(zone, 1, [("10.0.0.1", 10), ("10.0.0.2", 30), ("10.0.0.3", 0)],
                               fips=["10.0.1.1"], ipv6=["2001:db8::2"]))
    name = f"api.{dns_zone}"
    eventually(lambda: pdns.generation(dns_zone, "api") == 1, what="api at generation 1")
    split = pdns.split(name, 1000)
    print(f"plan 1 (10/30/0) through three enactors, 1,000 queries: {split}")
    assert set(split) == {"10.0.0.1", "10.0.0.2"} and abs(split["10.0.0.1"] / 10 - 25) <= 5
    assert pdns.query(f"ipv6.{dns_zone}", "AAAA") == ["2001:db8::2"]
    cluster.apply(ns, weighted(zone, 2, [("10.0.0.1", 30), ("10.0.0.2", 10), ("10.0.0.3", 0)],
                               fips=["10.0.1.1"], ipv6=["2001:db8::2"]))
    eventually(lambda: pdns.generation(dns_zone, "api") == 2, what="api at generation 2")
    split = pdns.split(name, 1000)
    print(f"plan 2 (30/10/0), 1,000 queries: {split}")
    assert set(split) == {"10.0.0.1", "10.0.0.2"} and abs(split["10.0.0.1"] / 10 - 75) <= 5
    # Only the changed endpoint was written; the rest still carry generation 1.
    assert pdns.generation(dns_zone, "fips") == 1 and pdns.generation(dns_zone) == 2

    eventually(lambda: zone_at(cluster, ns, zone, 2, "abc"),
               what="zone Ready at generation 2 for every enactor")
    # Clean-up attributes the unchanged endpoints to plan 2, weights compared too.
    assert cluster.get("dnszone", ns, zone)["status"]["liveGenerations"] == {
        "oldest": 2, "newest": 2}
    # What a person sees: the weights as DNS serves them, and how plans differ in them.
    status = ctl(cluster, "status", "-n", ns, "-o", "json", "--tsig-key",
                 pdns.key("planguard-reader"))
    (z,) = json.loads(status)["zones"]
    assert z["servedWeights"] == {"api": ["10.0.0.1=30", "10.0.0.2=10"],
                                  "fips": ["10.0.1.1=1"], "ipv6": ["2001:db8::2=1"]}
    text = ctl(cluster, "status", "-n", ns, "--tsig-key", pdns.key("planguard-reader"))
    assert "weights served: api 10.0.0.1=30 10.0.0.2=10;" in text, text
    head, same = ctl(cluster, "diff", f"{zone}-2", "-n", ns, "--tsig-key",
                     pdns.key("planguard-reader")).strip().splitlines()
    assert head.startswith(f"plan {zone}-2: digest ") and same == "no difference"
    assert ctl(cluster, "diff", f"{zone}-1", f"{zone}-2", "-n", ns).strip().splitlines()[1:] \
        == ["api: ['10.0.0.1=10', '10.0.0.2=30'] -> ['10.0.0.1=30', '10.0.0.2=10']"]


def ctl(cluster: Cluster, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "planguard.cli", *args, "--kubeconfig",
                        cluster.kubeconfig], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


@on_powerdns
def test_hand_edit_beside_the_weights_is_repaired(cluster, pdns, ns, zone, dns_zone,
                                                  procs) -> None:
    """A plain A record added next to the LUA record would be served with it."""
    bind_suite.start_roles(procs, pdns, ns, "a")
    cluster.apply(ns, weighted(zone, 1, [("10.0.0.1", 1), ("10.0.0.2", 3)]))
    eventually(lambda: pdns.generation(dns_zone, "api") == 1)
    pdns.admin_update(dns_zone, lambda u: u.add("api", 30, "A", "6.6.6.6"))
    eventually(lambda: "6.6.6.6" not in pdns.split(f"api.{dns_zone}", 20),
               what="the plain record removed")
    assert set(pdns.split(f"api.{dns_zone}", 200)) == {"10.0.0.1", "10.0.0.2"}
    assert pdns.generation(dns_zone, "api") == 1


@on_powerdns
def test_all_zero_weights_are_the_plans_question_not_the_servers(
        cluster, pdns, ns, zone, dns_zone, procs) -> None:
    """PowerDNS answers SERVFAIL for a LUA record whose weights are all 0; planguard never
    writes one: such a plan is refused unless it says allowEmpty, and then the name is
    emptied (NXDOMAIN/NODATA), not broken."""
    bind_suite.start_roles(procs, pdns, ns, "a")
    cluster.apply(ns, weighted(zone, 1, [("10.0.0.1", 1)]))
    eventually(lambda: pdns.generation(dns_zone, "api") == 1)
    bad = weighted(zone, 2, [("10.0.0.1", 0)])
    r = cluster.apply(ns, bad, check=False)
    assert r.returncode != 0 and "no target with weight > 0" in r.stderr, r.stderr
    empty = weighted(zone, 3, [("10.0.0.1", 0)])
    empty["spec"]["endpoints"][0]["allowEmpty"] = True
    cluster.apply(ns, empty)
    eventually(lambda: pdns.generation(dns_zone, "api") == 3)
    assert pdns.split(f"api.{dns_zone}", 20) == {"(empty)": 20}
