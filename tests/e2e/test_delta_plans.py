"""Delta plans on the real API server and BIND: a small change is a small object, the base
is kept (and protected) while a kept delta names it, and a delta that cannot be resolved
is refused whole with a reason, DNS untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import Bind, Cluster, Processes, condition, eventually, plan_obj

pytestmark = pytest.mark.e2e

FINALIZER = "planguard.io/live-plan"


def _delta(zone: str, g: int, base: int, eps: dict[str, list[str]]) -> dict[str, Any]:
    obj = plan_obj(zone, g, eps)
    obj["spec"]["base"] = base
    return obj


def _accepted_reason(cluster: Cluster, ns: str, name: str) -> str | None:
    for c in (cluster.get("dnsplan", ns, name).get("status") or {}).get("conditions") or []:
        if c["type"] == "Accepted":
            return str(c["reason"])
    return None


def test_a_delta_plan_applies_only_its_changes_and_keeps_its_base_alive(
        cluster: Cluster, bind: Bind, ns: str, zone: str, dns_zone: str,
        procs: Processes) -> None:
    for e in "ab":
        procs.enactor(e, ns, bind.key(f"enactor-{e}"))
    procs.cleanup(ns, bind.key("planguard-cleanup"))
    full = {f"ep{i}": [f"10.0.{i}.1"] for i in range(10)}
    cluster.apply(ns, plan_obj(zone, 1, full))
    eventually(lambda: bind.generation(dns_zone, "ep9") == 1, what="plan 1 in DNS")

    # A delta of one endpoint: only it is written; every other name stays the base's.
    cluster.apply(ns, _delta(zone, 2, 1, {"ep0": ["10.9.0.1"]}))
    eventually(lambda: bind.query(f"ep0.{dns_zone}") == ["10.9.0.1"], what="delta 2 served")
    assert bind.generation(dns_zone) == 2 and bind.generation(dns_zone, "ep1") == 1
    assert bind.query(f"ep5.{dns_zone}") == ["10.0.5.1"]
    # The next delta on the same base: its content is the base's plus its own changes, so
    # ep0 goes back to the base's address (a delta is against its base, not the last plan).
    cluster.apply(ns, _delta(zone, 3, 1, {"ep1": ["10.9.1.1"], "ep10": ["10.0.10.1"]}))
    eventually(lambda: bind.query(f"ep10.{dns_zone}") == ["10.0.10.1"], what="delta 3 served")
    assert bind.query(f"ep1.{dns_zone}") == ["10.9.1.1"]
    assert bind.query(f"ep0.{dns_zone}") == ["10.0.0.1"]

    # keep=1: plan 2 goes; plan 1 is superseded by every rule but the base of the live
    # delta, so it stays, holds the live-plan finalizer and says why.
    cluster.kubectl("patch", "dnszones", zone, "-n", ns, "--type=merge",
                    "-p", json.dumps({"spec": {"keep": 1}}))
    eventually(lambda: not cluster.exists("dnsplan", ns, f"{zone}-2"), what="plan 2 deleted")

    def base_held() -> bool:
        base = cluster.get("dnsplan", ns, f"{zone}-1")
        sup = [c for c in (base.get("status") or {}).get("conditions") or []
               if c["type"] == "Superseded"]
        return FINALIZER in (base["metadata"].get("finalizers") or []) and bool(sup) \
            and sup[0]["status"] == "False" and sup[0]["reason"] == "BaseOfLivePlan"
    eventually(base_held, what="plan 1 held as the base of live plan 3")
    # A manual delete of the base waits; DNS does not change meanwhile.
    cluster.kubectl("delete", "dnsplan", f"{zone}-1", "-n", ns, "--wait=false")
    assert cluster.get("dnsplan", ns, f"{zone}-1")["metadata"].get("deletionTimestamp")
    assert bind.query(f"ep5.{dns_zone}") == ["10.0.5.1"]

    # A delta on a base that is gone is refused whole: nothing of it is written.
    cluster.apply(ns, _delta(zone, 4, 2, {"ep5": ["10.9.5.1"]}))
    eventually(lambda: _accepted_reason(cluster, ns, f"{zone}-4") == "BaseMissing",
               what="plan 4 refused: its base is gone")
    assert bind.query(f"ep5.{dns_zone}") == ["10.0.5.1"] and bind.generation(dns_zone) == 3

    # A full plan that reproduces every name supersedes both: the base, released, finishes
    # its deletion. (Without ep10, which only delta 3 asks for, DNS would still depend on
    # plan 3 there, and so on plan 1.)
    cluster.apply(ns, plan_obj(zone, 5, {**full, "ep7": ["10.5.7.1"],
                                         "ep10": ["10.0.10.1"]}))
    eventually(lambda: bind.generation(dns_zone) == 5, what="plan 5 fenced")
    eventually(lambda: not cluster.exists("dnsplan", ns, f"{zone}-1"),
               what="plan 1 deleted once no kept plan needs it")
    # Its status comes in the same cycle, after the deletes.
    eventually(lambda: condition(cluster.get("dnsplan", ns, f"{zone}-5"), "Accepted") == "True",
               what="plan 5 accepted")


def test_the_api_server_refuses_a_base_that_is_not_older(cluster: Cluster, ns: str,
                                                           zone: str) -> None:
    r = cluster.apply(ns, _delta(zone, 3, 3, {"a": ["10.0.0.1"]}), check=False)
    assert r.returncode != 0
    assert "spec.base must be an older generation than spec.generation" in r.stderr
