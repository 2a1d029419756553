"""Operator commands for people: status, diff, rollback, pause and resume.

Human-readable by default, `-o json` for scripts. Installed as `planguard`; a symlink named
`kubectl-planguard` on the PATH makes it a kubectl plugin (`kubectl planguard status`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from planguard.core.model import Plan
from planguard.core.selection import candidates, newest_valid
from planguard.dns.provider import DnsError
from planguard.dns.rfc2136 import ProviderPool
from planguard.dns.tsig import load_key
from planguard.kube.api import GROUP, VERSION, PlanguardApi, connect
from planguard.kube.generations import create_plan


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kubeconfig")
        p.add_argument("-n", "--namespace", default="default")
        p.add_argument("-o", "--output", choices=["text", "json"], default="text")

    s = sub.add_parser("status", help="per zone: plans, what DNS serves, enactors, holds")
    common(s)
    s.add_argument("--tsig-key", help="read live generations from DNS itself with this key")
    s.add_argument("--lease-namespace", help="also summarise node leases kept here")
    d = sub.add_parser("diff", help="between two plans, or a plan and what DNS serves")
    common(d)
    d.add_argument("plan")
    d.add_argument("other", nargs="?", help="another plan (default: what DNS serves)")
    d.add_argument("--tsig-key", help="key to read the zone from DNS")
    r = sub.add_parser("rollback", help="a NEW plan with an older plan's content and the "
                                        "next generation (generations never go back)")
    common(r)
    r.add_argument("--zone", required=True)
    r.add_argument("--to", type=int, required=True)
    for verb in ("pause", "resume"):
        p = sub.add_parser(verb, help=f"{verb} all writes to a zone (or a pool's planning)")
        common(p)
        p.add_argument("target", help="zone/NAME or pool/NAME")


def run(args: argparse.Namespace) -> int:
    api = PlanguardApi(connect(args.kubeconfig), "planguard-cli")
    out: dict[str, Any] = {
        "status": _status, "diff": _diff, "rollback": _rollback,
        "pause": _pause, "resume": _pause,
    }[args.command](api, args)
    text = out.pop("_text", "")
    print(json.dumps(out, indent=2, default=str) if args.output == "json" else text)
    return 1 if out.get("error") else 0


def _plans(api: PlanguardApi, ns: str, zone: str) -> list[dict[str, Any]]:
    items = api.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "dnsplans")["items"]
    return [p for p in items if p["spec"].get("zone") == zone]


def _dns_state(zone: dict[str, Any], key_file: str | None) -> Any:
    if not key_file:
        return None
    pool = ProviderPool(load_key(key_file))
    meta = zone["metadata"]
    return pool.get((meta["namespace"], meta["name"]), zone["spec"]).read_zone()


def _status(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    zones = api.custom.list_namespaced_custom_object(GROUP, VERSION, args.namespace,
                                                     "dnszones")["items"]
    pools = api.custom.list_namespaced_custom_object(GROUP, VERSION, args.namespace,
                                                     "dnsendpointpools")["items"]
    result: dict[str, Any] = {"zones": [], "pools": []}
    lines = []
    for z in zones:
        name, st = z["metadata"]["name"], z.get("status") or {}
        newest = newest_valid(candidates(_plans(api, args.namespace, name)))
        entry: dict[str, Any] = {
            "name": name, "zone": z["spec"]["zone"], "paused": bool(z["spec"].get("paused")),
            "newestPlan": newest.plan.generation if newest else None,
            "activeGeneration": st.get("activeGeneration"),
            "liveGenerations": st.get("liveGenerations"),
            "conditions": {c["type"]: c["status"] for c in st.get("conditions") or []},
            "enactors": st.get("enactors") or {},
        }
        try:
            state = _dns_state(z, getattr(args, "tsig_key", None))
        except DnsError as e:
            state, entry["dnsError"] = None, str(e)
        if state is not None:
            live = sorted(state.live_generations)
            entry["fromDns"] = {"fence": state.fence_generation,
                                "oldestLive": live[0] if live else None,
                                "newestLive": live[-1] if live else None}
        result["zones"].append(entry)
        lines.append(f"zone {name} ({entry['zone']}){' PAUSED' if entry['paused'] else ''}: "
                     f"newest plan {entry['newestPlan']}, active {entry['activeGeneration']}, "
                     f"live {entry['liveGenerations']}")
        if "fromDns" in entry:
            lines.append(f"  from DNS itself: {entry['fromDns']}")
        lines.append("  " + " ".join(f"{k}={v}" for k, v in sorted(entry["conditions"].items())))
        for eid, e in sorted(entry["enactors"].items()):
            err = f" error({e.get('lastErrorKind')}): {e.get('lastError')}" \
                if e.get("lastError") else ""
            lines.append(f"  enactor {eid}: generation {e.get('generation')}{err}")
    for p in pools:
        st = p.get("status") or {}
        entry = {"name": p["metadata"]["name"], "zone": p["spec"]["zone"],
                 "targets": st.get("targets"), "holds": st.get("holds") or [],
                 "paused": bool(p["spec"].get("paused"))}
        result["pools"].append(entry)
        holds = "; ".join(f"{h['reason']}: {h['message']}" for h in entry["holds"]) or "none"
        lines.append(f"pool {entry['name']} -> {entry['zone']}: {entry['targets']}, "
                     f"guards tripped: {holds}")
    if getattr(args, "lease_namespace", None):
        result["leases"] = _lease_summary(api, args.lease_namespace)
        lines.append("leases: " + ", ".join(f"{k} {v}" for k, v in result["leases"].items()))
    result["_text"] = "\n".join(lines) or f"no DNSZones in namespace {args.namespace}"
    return result


def _lease_summary(api: PlanguardApi, ns: str) -> dict[str, int]:
    """Live, lapsed and tainted, as the lease manager keeps them."""
    import time

    from kubernetes.client import CoordinationV1Api, CoreV1Api

    from planguard.roles.leases import LEASE_LABEL, TAINT_KEY

    client = api.custom.api_client
    leases = CoordinationV1Api(client).list_namespaced_lease(ns, label_selector=LEASE_LABEL)
    now = time.time()
    live = sum(1 for lease in leases.items if lease.spec.renew_time and
               lease.spec.renew_time.timestamp() + (lease.spec.lease_duration_seconds or 0) > now)
    nodes = CoreV1Api(client).list_node().items
    tainted = sum(1 for n in nodes if any(t.key == TAINT_KEY for t in n.spec.taints or []))
    return {"live": live, "lapsed": len(leases.items) - live, "tainted": tainted}


def _endpoint_map(plan: Plan) -> dict[str, list[str]]:
    return {e.name: sorted(e.published[0] | e.published[1]) for e in plan.endpoints}


def _diff(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    a_obj = api.get("dnsplans", args.namespace, args.plan)
    a = candidates([a_obj])[0].plan
    if args.other:
        b = candidates([api.get("dnsplans", args.namespace, args.other)])[0].plan
        left, right, rname = _endpoint_map(a), _endpoint_map(b), args.other
    else:
        zone = api.get("dnszones", args.namespace, a.zone)
        state = _dns_state(zone, args.tsig_key)
        if state is None:
            return {"error": "--tsig-key is needed to read DNS", "_text": "--tsig-key needed"}
        left = _endpoint_map(a)
        right = {n: sorted(e.a | e.aaaa) for n, e in state.endpoints.items()
                 if e.marker is not None or n in left}
        rname = "DNS"
    changes = []
    for n in sorted(set(left) | set(right)):
        if left.get(n) != right.get(n):
            changes.append({"endpoint": n, args.plan: left.get(n), rname: right.get(n)})
    text = "\n".join(f"{c['endpoint']}: {c[args.plan]} -> {c[rname]}" for c in changes)
    return {"changes": changes, "_text": text or "no difference"}


def _rollback(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    old = [p for p in _plans(api, args.namespace, args.zone)
           if p["spec"]["generation"] == args.to]
    if not old:
        msg = f"no plan of zone {args.zone} has generation {args.to} (clean-up may have " \
              "deleted it)"
        return {"error": msg, "_text": msg}
    old.sort(key=lambda o: (o["spec"].get("part") or {}).get("index", 0))
    endpoints = [e for o in old for e in o["spec"]["endpoints"]]

    def body(g: int) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DNSPlan",
                "metadata": {"name": f"{args.zone}-{g}",
                             "annotations": {"planguard.io/rollback-of": str(args.to)}},
                "spec": {"zone": args.zone, "generation": g, "endpoints": endpoints}}
    top = max((p["spec"]["generation"] for p in _plans(api, args.namespace, args.zone)),
              default=0)
    gen = create_plan(api, args.namespace, args.zone, body, at_least=top)
    return {"created": f"{args.zone}-{gen}", "generation": gen,
            "_text": f"created plan {args.zone}-{gen} with the content of generation {args.to}"}


def _pause(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    kind, _, name = args.target.partition("/")
    plural = {"zone": "dnszones", "pool": "dnsendpointpools"}.get(kind)
    if plural is None or not name:
        return {"error": "target must be zone/NAME or pool/NAME", "_text": "bad target"}
    paused = args.command == "pause"
    try:
        api.custom.patch_namespaced_custom_object(GROUP, VERSION, args.namespace, plural, name,
                                                  {"spec": {"paused": paused}})
    except ApiException as e:
        return {"error": e.reason, "_text": f"{args.target}: {e.reason}"}
    return {"target": args.target, "paused": paused,
            "_text": f"{args.target} {'paused' if paused else 'resumed'}"}
