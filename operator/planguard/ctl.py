"""Operator commands for people: status, diff, rollback, pause and resume.

Human-readable by default, `-o json|yaml` for scripts. Installed as `planguard` and as
`kubectl-planguard`, so on the PATH it is a kubectl plugin (`kubectl planguard status`) and
behaves as krew's guide asks: the namespace of the current context unless `-n` (or `-A`),
`--context` and `--kubeconfig` as kubectl reads them, and an error from the API server or
the network is one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Any

import urllib3
import yaml

from planguard.core import timefmt
from planguard.core.contract import (
    APPROVE_ANNOTATION,
    LEASE_LABEL,
    ROLLBACK_OF_ANNOTATION,
    TAINT_KEY,
    plan_name,
)
from planguard.core.dnsplan import authoring, plandiff, rollback
from planguard.core.dnsplan.model import Plan, endpoint_spec, plan_body
from planguard.core.dnsplan.selection import candidates, newest_valid
from planguard.core.nodelease.scheduler import lease_live
from planguard.dns.pool import ProviderPool
from planguard.dns.provider import DnsError
from planguard.dns.tsig import load_key
from planguard.kube import api as kube_api
from planguard.kube import rest
from planguard.kube.api import PlanguardApi
from planguard.kube.generations import create_plan
from planguard.kube.rest import ApiError, ConfigError


def prog_name(argv0: str) -> str:
    """`kubectl planguard` when kubectl runs us as its plugin, else `planguard`."""
    base = os.path.basename(argv0)
    return "kubectl planguard" if base.startswith(("kubectl-planguard", "kubectl_planguard")) \
        else "planguard"


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, "
                                            "~/.kube/config, or in-cluster config)")
        p.add_argument("--context", help="kubeconfig context (default: the current one)")
        p.add_argument("-n", "--namespace",
                       help="namespace (default: the context's namespace, else default)")
        p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")

    s = sub.add_parser("status", help="per zone: plans, what DNS serves, enactors, holds")
    common(s)
    s.add_argument("-A", "--all-namespaces", action="store_true",
                   help="every namespace (the zones, plans and pools the caller may list)")
    s.add_argument("--tsig-key", help="read live generations from DNS itself with this key")
    s.add_argument("--lease-namespace", help="also summarise node leases kept here")
    d = sub.add_parser("diff", help="between two plans, or a plan and what DNS serves")
    common(d)
    d.add_argument("plan")
    d.add_argument("other", nargs="?", help="another plan (default: what DNS serves)")
    d.add_argument("--tsig-key", help="key to read the zone from DNS")
    a = sub.add_parser("approve", help="let a plan held by its zone's change guard go ahead: "
                                       "approves exactly its content (its digest)")
    common(a)
    a.add_argument("plan")
    a.add_argument("--digest", help="the digest you reviewed (planguard diff shows it); "
                                    "refused if the plan's content is another")
    r = sub.add_parser("rollback", help="a NEW plan with an older plan's content and the "
                                        "next generation (generations never go back)")
    common(r)
    r.add_argument("--zone", required=True)
    r.add_argument("--to", type=int, required=True)
    for verb in ("pause", "resume"):
        p = sub.add_parser(verb, help=f"{verb} all writes to a zone (or a pool's planning)")
        common(p)
        p.add_argument("target", help="zone/NAME or pool/NAME")


def _connect(args: argparse.Namespace) -> rest.Client:
    """The API client, chosen the way kubectl chooses (kube/rest.load); its credentials
    carry the context's default namespace."""
    return rest.Client(rest.load(args.kubeconfig, args.context), kube_api.user_agent)


def _error_line(e: Exception, host: str | None) -> str:
    if isinstance(e, ApiError):
        line = str(e)
        if e.status == 404 and "could not find the requested resource" in e.message:
            line += " (are planguard's CRDs installed?)"
        return line
    if isinstance(e, urllib3.exceptions.MaxRetryError):
        why = str(e.reason).rsplit(": ", 1)[-1] if e.reason else str(e)
        return f"cannot reach the Kubernetes API server at {host}: {why}"
    if isinstance(e, urllib3.exceptions.HTTPError | OSError):
        return f"cannot reach the Kubernetes API server at {host}: {e}"
    return str(e)  # ConfigError, DnsError: their own message says it


def run(args: argparse.Namespace) -> int:
    prog = prog_name(sys.argv[0])
    host = None
    try:
        client = _connect(args)
        host = client.host
        if args.namespace is None:
            args.namespace = client.creds.namespace
        api = PlanguardApi(client, "planguard-cli")
        out: dict[str, Any] = {
            "status": _status, "diff": _diff, "rollback": _rollback, "approve": _approve,
            "pause": _pause, "resume": _pause,
        }[args.command](api, args)
    except (ApiError, ConfigError, DnsError, urllib3.exceptions.HTTPError, OSError) as e:
        print(f"{prog}: {_error_line(e, host)}", file=sys.stderr)
        return 1
    if out.get("error"):
        print(f"{prog}: {out['error']}", file=sys.stderr)
        return 1
    text = out.pop("_text", "")
    if args.output == "json":
        print(json.dumps(out, indent=2, default=str))
    elif args.output == "yaml":
        print(yaml.safe_dump(out, sort_keys=False), end="")
    else:
        print(text)
    return 0


def _list(api: PlanguardApi, args: argparse.Namespace, plural: str) -> list[dict[str, Any]]:
    return api.list(plural, None if getattr(args, "all_namespaces", False) else args.namespace)


def _plans_by_zone(items: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Plans grouped by (namespace, spec.zone): one list call serves every zone."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in items:
        out[(p["metadata"]["namespace"], str(p["spec"].get("zone", "")))].append(p)
    return out


def _dns_state(zone: dict[str, Any], key_file: str | None) -> Any:
    if not key_file:
        return None
    pool = ProviderPool(load_key(key_file))
    meta = zone["metadata"]
    return pool.get((meta["namespace"], meta["name"]), zone["spec"]).read_zone()


def _status(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    every = bool(getattr(args, "all_namespaces", False))
    zones = _list(api, args, "dnszones")
    plans = _plans_by_zone(_list(api, args, "dnsplans"))
    pools = _list(api, args, "dnsendpointpools")
    result: dict[str, Any] = {"zones": [], "pools": []}
    lines = []
    for z in zones:
        zns, name, st = z["metadata"]["namespace"], z["metadata"]["name"], z.get("status") or {}
        newest = newest_valid(candidates(plans.get((zns, name), [])))
        shown = f"{zns}/{name}" if every else name
        entry: dict[str, Any] = {
            "namespace": zns, "name": name, "zone": z["spec"]["zone"],
            "paused": bool(z["spec"].get("paused")),
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
            if plandiff.weighted(z):
                entry["servedWeights"] = {n: plandiff.of_endpoint(e, True) for n, e in
                                          sorted(state.endpoints.items()) if e.marker}
        result["zones"].append(entry)
        lines.append(f"zone {shown} ({entry['zone']}){' PAUSED' if entry['paused'] else ''}: "
                     f"newest plan {entry['newestPlan']}, active {entry['activeGeneration']}, "
                     f"live {entry['liveGenerations']}")
        if "fromDns" in entry:
            lines.append(f"  from DNS itself: {entry['fromDns']}")
        if "servedWeights" in entry:
            shown_w = list(entry["servedWeights"].items())
            lines.append("  weights served: " + "; ".join(
                f"{n} {' '.join(t)}" for n, t in shown_w[:5])
                + (f"; ... ({len(shown_w)} endpoints, -o json for all)"
                   if len(shown_w) > 5 else ""))
        lines.append("  " + " ".join(f"{k}={v}" for k, v in sorted(entry["conditions"].items())))
        for eid, en in sorted(entry["enactors"].items()):
            err = f" error({en.get('lastErrorKind')}): {en.get('lastError')}" \
                if en.get("lastError") else ""
            lines.append(f"  enactor {eid}: generation {en.get('generation')}{err}")
    for p in pools:
        st = p.get("status") or {}
        pname = p["metadata"]["name"]
        entry = {"namespace": p["metadata"]["namespace"], "name": pname,
                 "zone": p["spec"]["zone"],
                 "targets": st.get("targets"), "holds": st.get("holds") or [],
                 "paused": bool(p["spec"].get("paused"))}
        result["pools"].append(entry)
        holds = "; ".join(f"{h['reason']}: {h['message']}" for h in entry["holds"]) or "none"
        shown = f"{entry['namespace']}/{pname}" if every else pname
        lines.append(f"pool {shown} -> {entry['zone']}: {entry['targets']}, "
                     f"guards tripped: {holds}")
    if getattr(args, "lease_namespace", None):
        result["leases"] = _lease_summary(api, args.lease_namespace)
        lines.append("leases: " + ", ".join(f"{k} {v}" for k, v in result["leases"].items()))
    where = "any namespace" if every else f"namespace {args.namespace}"
    result["_text"] = "\n".join(lines) or f"no DNSZones in {where}"
    return result


def _lease_summary(api: PlanguardApi, ns: str) -> dict[str, int]:
    """Live, lapsed and tainted, by the lease manager's own rule."""
    import time

    leases = [lease.get("spec") or {} for lease in api.client.json(
        "GET", rest.path("coordination.k8s.io/v1", "leases", ns),
        query={"labelSelector": LEASE_LABEL})["items"] or []]
    now = time.time()
    live = sum(1 for s in leases if s.get("renewTime") and
               lease_live(timefmt.epoch(s["renewTime"]),
                          s.get("leaseDurationSeconds") or 0, now))
    nodes = api.client.json("GET", rest.path("v1", "nodes"))["items"] or []
    tainted = sum(1 for n in nodes if any(t.get("key") == TAINT_KEY
                                          for t in (n.get("spec") or {}).get("taints") or []))
    return {"live": live, "lapsed": len(leases) - live, "tainted": tainted}


def _diff(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    try:
        return _diff_plans(api, args)
    except Unresolvable as e:
        return {"error": str(e), "_text": str(e)}


def _diff_plans(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    a_obj = api.get("dnsplans", args.namespace, args.plan)
    a = _resolved(api, args.namespace, a_obj)
    try:
        zone: dict[str, Any] | None = api.get("dnszones", args.namespace, a.zone)
    except ApiError as e:
        if e.status != 404 or not args.other:
            raise
        zone = None  # two plans still compare; their zone only says whether weights count
    weights = plandiff.weighted(zone)
    left = plandiff.of_plan(a, weights)
    if args.other:
        b = _resolved(api, args.namespace, api.get("dnsplans", args.namespace, args.other))
        right, rname = plandiff.of_plan(b, weights), args.other
    else:
        state = _dns_state(zone or {}, args.tsig_key)
        if state is None:
            return {"error": "--tsig-key is needed to read DNS", "_text": "--tsig-key needed"}
        right, rname = plandiff.of_dns(state, left, weights), "DNS"
    changes = plandiff.changes(left, right, args.plan, rname)
    text = "\n".join(f"{c['endpoint']}: {c[args.plan]} -> {c[rname]}" for c in changes)
    head = f"plan {args.plan}: digest {a.digest} (planguard approve {args.plan} --digest " \
           f"{a.digest})"
    return {"digest": a.digest, "changes": changes,
            "_text": f"{head}\n{text or 'no difference'}"}


def _approve(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    """Writes the plan's digest into its approval annotation (on every part: whichever
    part an enactor reads, the approval is there)."""
    obj = api.get("dnsplans", args.namespace, args.plan)
    g, zone = obj["spec"]["generation"], str(obj["spec"]["zone"])
    objs = [o for o in _zone_plans(api, args.namespace, zone) if o["spec"]["generation"] == g]
    if (obj.get("spec") or {}).get("base") is not None:
        plan = _resolved(api, args.namespace, obj)
    else:
        cand = next(c for c in candidates(objs) if c.plan.generation == g)
        if not cand.complete:
            msg = f"plan {args.plan}: {cand.waiting}; approve it once every part exists"
            return {"error": msg, "_text": msg}
        plan = cand.plan
    if args.digest and args.digest.lower() != plan.digest:
        msg = (f"plan {args.plan}'s content has digest {plan.digest}, not {args.digest}: "
               "it is not what you reviewed; nothing approved")
        return {"error": msg, "_text": msg}
    for o in objs:
        api.patch("dnsplans", args.namespace, o["metadata"]["name"],
                  {"metadata": {"annotations": {APPROVE_ANNOTATION: plan.digest}}})
    return {"approved": args.plan, "digest": plan.digest,
            "_text": f"approved plan {args.plan} (digest {plan.digest}): the enactors "
                     "apply it, and only this content"}


def _resolved(api: PlanguardApi, ns: str, obj: dict[str, Any]) -> Plan:
    """A plan object as the full plan it stands for: a delta plan with its base applied
    (the base read from the API server), so a diff shows what DNS would serve."""
    base = (obj.get("spec") or {}).get("base")
    if base is None:
        return candidates([obj])[0].plan
    zone = str(obj["spec"]["zone"])
    objs = [obj, *(o for o in _zone_plans(api, ns, zone)
                   if (o.get("spec") or {}).get("generation") == base)]
    cand = next(c for c in candidates(objs) if c.plan.generation == obj["spec"]["generation"])
    if cand.problems:
        raise Unresolvable(f"plan {obj['metadata']['name']}: {cand.problems[0].message}")
    return cand.plan


class Unresolvable(Exception):
    """A delta plan whose base cannot be applied: nothing to compare."""


def _zone_plans(api: PlanguardApi, ns: str, zone: str) -> list[dict[str, Any]]:
    items = api.list("dnsplans", ns)
    return [o for o in items if (o.get("spec") or {}).get("zone") == zone]


def _rollback(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    mine = _plans_by_zone(_list(api, args, "dnsplans")).get((args.namespace, args.zone), [])
    old = rollback.source(candidates(mine), args.zone, args.to)
    if isinstance(old, str):
        return {"error": old, "_text": old}
    endpoints = [endpoint_spec(e) for e in old.plan.endpoints]

    def body(g: int) -> dict[str, Any]:
        # A rollback is a person's deliberate act: approved for the change guard.
        return authoring.approved(plan_body(args.zone, g, endpoints,
                                            annotations={ROLLBACK_OF_ANNOTATION: str(args.to)}))
    top = max((p["spec"]["generation"] for p in mine), default=0)
    gen = create_plan(api, args.namespace, args.zone, body, at_least=top)
    name = plan_name(args.zone, gen)
    return {"created": name, "generation": gen,
            "_text": f"created plan {name} with the content of generation {args.to}"}


def _pause(api: PlanguardApi, args: argparse.Namespace) -> dict[str, Any]:
    kind, _, name = args.target.partition("/")
    plural = {"zone": "dnszones", "pool": "dnsendpointpools"}.get(kind)
    if plural is None or not name:
        return {"error": "target must be zone/NAME or pool/NAME", "_text": "bad target"}
    paused = args.command == "pause"
    api.patch(plural, args.namespace, name, {"spec": {"paused": paused}})
    return {"target": args.target, "paused": paused,
            "_text": f"{args.target} {'paused' if paused else 'resumed'}"}
