"""The same evidence as on BIND, on a real PowerDNS serving the plans' weights: three
enactors and clean-up as processes, the post-mortem's sequence forced, the chaos suite,
hand edits, a wrong key. The BIND tests' bodies run unchanged against PowerDNS (PowerDns
answers the same questions as Bind); what only PowerDNS can show, the weights, is here."""

from __future__ import annotations

import json
import subprocess
import sys

import dns.query
import dns.rcode
import dns.update
import pytest
import test_chaos as chaos_suite
import test_enactors as bind_suite

from harness import Cluster, PowerDns, Processes, condition, eventually, plan_obj
from planguard.dns.tsig import load_key

pytestmark = pytest.mark.e2e


def weighted(zone: str, g: int, targets: list[tuple[str, int]], **more: list[str]) -> dict:
    eps = [{"name": "api", "ttl": 30,
            "targets": [{"address": a, "weight": w} for a, w in targets]}]
    eps += [{"name": n, "ttl": 30, "targets": [{"address": a} for a in addrs]}
            for n, addrs in more.items()]
    return plan_obj(zone, g, eps)


def test_three_enactors_serve_the_plans_weights(cluster: Cluster, pdns: PowerDns, ns: str,
                                                pzone: str, pdns_zone: str,
                                                procs: Processes) -> None:
    bind_suite.start_roles(procs, pdns, ns)
    cluster.apply(ns, weighted(pzone, 1, [("10.0.0.1", 10), ("10.0.0.2", 30), ("10.0.0.3", 0)],
                               fips=["10.0.1.1"], ipv6=["2001:db8::2"]))
    name = f"api.{pdns_zone}"
    eventually(lambda: pdns.generation(pdns_zone, "api") == 1, what="api at generation 1")
    split = pdns.split(name, 1000)
    print(f"plan 1 (10/30/0) through three enactors, 1,000 queries: {split}")
    assert set(split) == {"10.0.0.1", "10.0.0.2"} and abs(split["10.0.0.1"] / 10 - 25) <= 5
    assert pdns.query(f"ipv6.{pdns_zone}", "AAAA") == ["2001:db8::2"]
    cluster.apply(ns, weighted(pzone, 2, [("10.0.0.1", 30), ("10.0.0.2", 10), ("10.0.0.3", 0)],
                               fips=["10.0.1.1"], ipv6=["2001:db8::2"]))
    eventually(lambda: pdns.generation(pdns_zone, "api") == 2, what="api at generation 2")
    split = pdns.split(name, 1000)
    print(f"plan 2 (30/10/0), 1,000 queries: {split}")
    assert set(split) == {"10.0.0.1", "10.0.0.2"} and abs(split["10.0.0.1"] / 10 - 75) <= 5
    # Only the changed endpoint was written; the rest still carry generation 1.
    assert pdns.generation(pdns_zone, "fips") == 1 and pdns.generation(pdns_zone) == 2

    def converged() -> bool:
        z = cluster.get("dnszone", ns, pzone)
        st = z.get("status") or {}
        return (condition(z, "Ready") == "True" and st.get("activeGeneration") == 2
                and {e: v.get("generation") for e, v in st.get("enactors", {}).items()}
                == {"a": 2, "b": 2, "c": 2})
    eventually(converged, what="zone Ready at generation 2 for every enactor")
    # Clean-up attributes the unchanged endpoints to plan 2, weights compared too.
    assert cluster.get("dnszone", ns, pzone)["status"]["liveGenerations"] == {
        "oldest": 2, "newest": 2}
    # What a person sees: the weights as DNS serves them, and how plans differ in them.
    status = ctl(cluster, "status", "-n", ns, "-o", "json", "--tsig-key",
                 pdns.key("planguard-reader"))
    (z,) = json.loads(status)["zones"]
    assert z["servedWeights"] == {"api": ["10.0.0.1=30", "10.0.0.2=10"],
                                  "fips": ["10.0.1.1=1"], "ipv6": ["2001:db8::2=1"]}
    text = ctl(cluster, "status", "-n", ns, "--tsig-key", pdns.key("planguard-reader"))
    assert "weights served: api 10.0.0.1=30 10.0.0.2=10;" in text, text
    head, same = ctl(cluster, "diff", f"{pzone}-2", "-n", ns, "--tsig-key",
                     pdns.key("planguard-reader")).strip().splitlines()
    assert head.startswith(f"plan {pzone}-2: digest ") and same == "no difference"
    assert ctl(cluster, "diff", f"{pzone}-1", f"{pzone}-2", "-n", ns).strip().splitlines()[1:] \
        == ["api: ['10.0.0.1=10', '10.0.0.2=30'] -> ['10.0.0.1=30', '10.0.0.2=10']"]


def ctl(cluster: Cluster, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "planguard.cli", *args, "--kubeconfig",
                        cluster.kubeconfig], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def test_postmortem_sequence_forced(cluster, pdns, ns, pzone, pdns_zone, procs) -> None:
    bind_suite.test_postmortem_sequence_forced(cluster, pdns, ns, pzone, pdns_zone, procs)


def test_chaos(cluster, pdns, ns, pzone, pdns_zone, procs) -> None:
    chaos_suite.test_chaos(cluster, pdns, ns, pzone, pdns_zone, procs)


def test_hand_edit_beside_the_weights_is_repaired(cluster, pdns, ns, pzone, pdns_zone,
                                                  procs) -> None:
    """A plain A record added next to the LUA record would be served with it."""
    bind_suite.start_roles(procs, pdns, ns, "a")
    cluster.apply(ns, weighted(pzone, 1, [("10.0.0.1", 1), ("10.0.0.2", 3)]))
    eventually(lambda: pdns.generation(pdns_zone, "api") == 1)
    key = load_key(pdns.key("dns-admin"))
    u = dns.update.UpdateMessage(pdns_zone, keyring=key.keyring(), keyname=key.keyname)
    u.add("api", 30, "A", "6.6.6.6")
    assert dns.query.tcp(u, "127.0.0.1", port=pdns.port).rcode() == dns.rcode.NOERROR
    eventually(lambda: "6.6.6.6" not in pdns.split(f"api.{pdns_zone}", 20),
               what="the plain record removed")
    assert set(pdns.split(f"api.{pdns_zone}", 200)) == {"10.0.0.1", "10.0.0.2"}
    assert pdns.generation(pdns_zone, "api") == 1


def test_wrong_tsig_key_is_reported_and_writes_nothing(cluster, pdns, ns, pzone, pdns_zone,
                                                       procs, tmp_path) -> None:
    bind_suite.test_wrong_tsig_key_is_reported_and_writes_nothing(
        cluster, pdns, ns, pzone, pdns_zone, procs, tmp_path)


def test_all_zero_weights_are_the_plans_question_not_the_servers(
        cluster, pdns, ns, pzone, pdns_zone, procs) -> None:
    """PowerDNS answers SERVFAIL for a LUA record whose weights are all 0; planguard never
    writes one: such a plan is refused unless it says allowEmpty, and then the name is
    emptied (NXDOMAIN/NODATA), not broken."""
    bind_suite.start_roles(procs, pdns, ns, "a")
    cluster.apply(ns, weighted(pzone, 1, [("10.0.0.1", 1)]))
    eventually(lambda: pdns.generation(pdns_zone, "api") == 1)
    bad = weighted(pzone, 2, [("10.0.0.1", 0)])
    r = cluster.apply(ns, bad, check=False)
    assert r.returncode != 0 and "no target with weight > 0" in r.stderr, r.stderr
    empty = weighted(pzone, 3, [("10.0.0.1", 0)])
    empty["spec"]["endpoints"][0]["allowEmpty"] = True
    cluster.apply(ns, empty)
    eventually(lambda: pdns.generation(pdns_zone, "api") == 3)
    assert pdns.split(f"api.{pdns_zone}", 20) == {"(empty)": 20}
