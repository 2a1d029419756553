"""Racing authors on the users' path: planguard installed by its chart (every namespace
watched, as by default), another team's namespace trying to take the zone over with an
absurd generation, and a fat-fingered generation in the team's own namespace. The prober
(tests/kind/conftest.py) asks BIND throughout: no empty answer, no generation going back;
the team's next plans are served."""

from __future__ import annotations

import json
import random

import pytest
from kindharness import PROBES, Kind, KindDns, create, next_generation, plan_body, wait_converged

from harness import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]
THIEF = "thief"
HOSTILE = 2**53  # the highest generation admission lets through


def _probe_plan(zone: str, g: int, address: str) -> dict:
    return {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSPlan",
            "metadata": {"name": f"{zone}-{g}"},
            "spec": {"zone": zone, "generation": g,
                     "endpoints": [{"name": p, "addresses": [address]} for p in PROBES]}}


def _condition(kind: Kind, plural: str, ns: str, name: str, ctype: str) -> str:
    obj = kind.cluster.get(plural, ns, name)
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return f"{c['status']}/{c['reason']}: {c['message']}"
    return ""


def _drop(kind: Kind, ns: str, *objs: str) -> None:
    """Deletes what a case planted and waits until it is gone, so that the next case never
    takes a planted generation for the newest plan (the clean-up may put its finalizer
    back between the patch and the delete, hence the loop)."""
    objs = tuple(o.replace("dnsplan/", "dnsplans.planguard.io/")
                 .replace("dnszone/", "dnszones.planguard.io/") for o in objs)

    def gone() -> bool:
        left = []
        for obj in objs:
            kind.cluster.kubectl("patch", obj, "-n", ns, "--type", "merge",
                                 "-p", '{"metadata":{"finalizers":null}}', check=False)
            p = kind.cluster.kubectl("delete", obj, "-n", ns, "--wait=false",
                                     "--ignore-not-found", check=False)
            if p.returncode != 0 or kind.cluster.kubectl(
                    "get", obj, "-n", ns, "--ignore-not-found", "-o", "name",
                    check=False).stdout.strip():
                left.append(f"{obj}: {p.stderr.strip()}")
        return not left
    eventually(gone, timeout=120, interval=2, what=f"{', '.join(objs)} gone from {ns}")


def test_another_namespace_cannot_take_over_or_freeze_the_zone(kind: Kind,
                                                               served: KindDns) -> None:
    c = kind.cluster
    server = c.get("dnszones", "default", "dynamo")["spec"]["server"]
    c.kubectl("create", "namespace", THIEF, check=False)
    steal = {"apiVersion": "planguard.io/v1alpha1", "kind": "DNSZone",
             "metadata": {"name": "steal"},
             "spec": {"zone": "example.test.", "server": server}}
    try:
        c.kubectl("apply", "-n", THIEF, "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List",
             "items": [steal, _probe_plan("steal", HOSTILE, "10.9.9.9")]}))
        eventually(lambda: _condition(kind, "dnszones", THIEF, "steal", "Ready")
                   .startswith("False/ZoneClaimed"), timeout=120, interval=1,
                   what="the second DNSZone refused")
        assert "default/dynamo" in _condition(kind, "dnszones", THIEF, "steal", "Ready")
        g = next_generation(kind)
        create(kind, plan_body(g, random.Random(g)))
        wait_converged(kind, served, g, 240, "the team's next plan, beside the thief")
        assert all("10.9.9.9" not in served.query(p) for p in PROBES)
        assert served.generation() == g
    finally:
        _drop(kind, THIEF, "dnsplan/steal-9007199254740992", "dnszone/steal")
    g = next_generation(kind)
    create(kind, plan_body(g, random.Random(g)))
    wait_converged(kind, served, g, 240, "the team's plan after the thief left")


def test_a_fat_fingered_generation_does_not_freeze_the_zone(kind: Kind,
                                                            served: KindDns) -> None:
    g = next_generation(kind)
    typo = g + 10**12
    try:
        create(kind, _probe_plan("dynamo", typo, "10.9.9.9"))
        eventually(lambda: _condition(kind, "dnsplans", "default", f"dynamo-{typo}", "Accepted")
                   .startswith("False/GenerationJump"), timeout=120, interval=1,
                   what="the typo refused")
        create(kind, plan_body(g, random.Random(g)))
        wait_converged(kind, served, g, 240, "the next plan, beside the typo")
        assert served.generation() == g
    finally:
        _drop(kind, "default", f"dnsplan/dynamo-{typo}")
