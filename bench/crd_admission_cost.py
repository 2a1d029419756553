"""What the API server's admission of a DNSPlan costs, by part of the CRD.

  .venv/bin/python bench/crd_admission_cost.py [--endpoints 1000] [--rounds 8]

Installs copies of the DNSPlan CRD under throw-away groups (<variant>.planguard.io), each
with one thing removed, and times creates of the same plan against each, interleaved round
by round so drift hits all alike; medians (the first round is dropped as warm-up).
Each created plan then gets --patches status patches (what clean-up writes: the API server
validates the whole object again on every write, status included), then is deleted (the
API server decodes, prunes and defaults the stored object on each of its reads), timed the
same way.
The plan is sent as users write one without weights (bare `addresses`, one CEL rule per
endpoint's list); variant `targets` sends the same addresses as `targets` objects (two CEL
rules per address) to the CRD as shipped, `addressitems` runs those two rules on each bare
address instead. Variants of the targets form (sent as targets): the per-endpoint CEL rules removed,
or merged into one; every CEL rule removed; targets an atomic list instead of a list-map;
every endpoint and address rule moved to the list and skipped on updates (`guarded`,
optionalOldSelf: an update cannot change an immutable spec, so its checks at creation
stand); immutability as the CRD rule `self == oldSelf` (as shipped before the policy in
crds/dnsplans-immutable.policy.yaml; the policy is not installed for these copies, and
does not run on status writes), alone and with `guarded`; the address rules as one per
endpoint (`addrperendpoint`), or every rule as one per endpoint (`onerule`).
Baseline: the CRD as shipped, in the same run. The copies are deleted at the end.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import kubernetes
import yaml

from common import REPO, arguments, initial_endpoints, plan_body, real_parts, unique, write_result

Schema = dict[str, Any]
IP_REGEX = (r"^(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
            r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$")


def ip_regex(ep: Schema) -> None:
    a = ep["items"]["properties"]["targets"]["items"]["properties"]["address"]
    del a["x-kubernetes-validations"]
    a["pattern"] = IP_REGEX


def no_endpoint_rules(ep: Schema) -> None:
    del ep["items"]["x-kubernetes-validations"]


def no_cel(ep: Schema) -> None:
    ip_regex(ep)
    no_endpoint_rules(ep)
    del ep["x-kubernetes-validations"]


def one_endpoint_rule(ep: Schema) -> None:
    """The two per-endpoint rules as one, its message chosen by messageExpression."""
    remove = "(has(self.remove) && self.remove)"
    ep["items"]["x-kubernetes-validations"] = [{
        "rule": f"{remove} ? (!has(self.targets) || size(self.targets) == 0) : "
                "((has(self.allowEmpty) && self.allowEmpty) || (has(self.targets) && "
                "self.targets.exists(t, !has(t.weight) || t.weight > 0)))",
        "messageExpression": f"{remove} ? 'an endpoint with remove=true must list no targets'"
                             " : 'the endpoint would answer with no address'"}]


def guarded(ep: Schema) -> None:
    """Every rule below spec.endpoints as one list-level rule each, evaluated on create only."""
    items = ep["items"]
    address = items["properties"]["targets"]["items"]["properties"]["address"]
    moved = [(r, "self.all(e, " + r["rule"].replace("self.", "e.") + ")")
             for r in items.pop("x-kubernetes-validations")]
    # ip() once per address: twice, the rule's estimated cost over 5,000 x 32 addresses is
    # over the API server's budget (cel.bind is not in its CEL environment).
    address_rules = [r["rule"].replace("ip(self).isLoopback()",
                                       "self.startsWith('127.') || self == '::1'")
                     for r in address["x-kubernetes-validations"]]
    moved += [(r, "self.all(e, !has(e.targets) || e.targets.all(t, "
                  + rule.replace("self", "t.address") + "))")
              for r, rule in zip(address.pop("x-kubernetes-validations"), address_rules,
                                 strict=True)]
    moved += [(r, r["rule"]) for r in ep.pop("x-kubernetes-validations")]
    ep["x-kubernetes-validations"] = [
        {"rule": f"oldSelf.hasValue() || ({rule})", "optionalOldSelf": True,
         "message": r["message"], "reason": r.get("reason", "FieldValueInvalid")}
        for r, rule in moved]


def cel_immutable(spec: Schema) -> None:
    """Immutability as a CRD rule (before 2026-12-04; now a ValidatingAdmissionPolicy that
    checks updates of the plan itself, crds/dnsplans-immutable.policy.yaml)."""
    spec["x-kubernetes-validations"].insert(0, {
        "rule": "self == oldSelf", "reason": "FieldValueInvalid",
        "message": "a DNSPlan is immutable; apply a new plan with a higher generation"})


def atomic_targets(ep: Schema) -> None:
    t = ep["items"]["properties"]["targets"]
    t["x-kubernetes-list-type"] = "atomic"
    del t["x-kubernetes-list-map-keys"]


def no_name_pattern(ep: Schema) -> None:
    del ep["items"]["properties"]["name"]["pattern"]


def no_defaults(ep: Schema) -> None:
    props = ep["items"]["properties"]
    del props["ttl"]["default"]
    del props["targets"]["items"]["properties"]["weight"]["default"]


# ip() once per address: twice, the estimated cost over 32 addresses is over the budget of
# one rule (cel.bind is not in the API server's CEL environment).
ADDRESS_OK = ("isIP({a}) && ({a}.startsWith('127.') || {a} == '::1' || "
              "ip({a}).isGlobalUnicast())")
ADDRESS_MESSAGE = ("every target must be a unicast IPv4 or IPv6 address: unspecified (0.0.0.0, "
                   "::), broadcast, multicast and link-local addresses are refused")


def address_rule_per_endpoint(ep: Schema) -> None:
    """The two per-address rules as one per endpoint: a CEL program run per endpoint rather
    than twice per address (each run sets up a cost tracker: a third of CEL's time in a
    kube-apiserver profile of these creates)."""
    address = ep["items"]["properties"]["targets"]["items"]["properties"]["address"]
    del address["x-kubernetes-validations"]
    ep["items"]["x-kubernetes-validations"].append({
        "rule": "!has(self.targets) || self.targets.all(t, "
                + ADDRESS_OK.format(a="t.address") + ")",
        "message": ADDRESS_MESSAGE,
        "fieldPath": ".targets", "reason": "FieldValueInvalid"})


def one_rule_per_endpoint(ep: Schema) -> None:
    """Every endpoint and address rule as one rule per endpoint."""
    one_endpoint_rule(ep)
    address_rule_per_endpoint(ep)
    a, b = ep["items"]["x-kubernetes-validations"]
    ep["items"]["x-kubernetes-validations"] = [{
        "rule": f"({a['rule']}) && ({b['rule']})",
        "messageExpression": f"!({a['rule']}) ? ({a['messageExpression']}) : "
                             f"'{ADDRESS_MESSAGE}'"}]


def address_items(ep: Schema) -> None:
    """`addresses` checked by the per-target rules on each string, not one rule per list."""
    rules = ep["items"]["properties"]["targets"]["items"]["properties"]["address"][
        "x-kubernetes-validations"]
    addresses = ep["items"]["properties"]["addresses"]
    del addresses["x-kubernetes-validations"]
    addresses["items"]["x-kubernetes-validations"] = rules


def schemaless(ep: Schema) -> None:
    """A floor, not a candidate: endpoints stored as they come, nothing checked."""
    ep.clear()
    ep.update({"type": "array", "x-kubernetes-list-type": "atomic",
               "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}})


VARIANTS: dict[str, Callable[[Schema], None]] = {
    "shipped": lambda ep: None, "ipregex": ip_regex, "noeprules": no_endpoint_rules,
    "nocel": no_cel, "atomictargets": atomic_targets, "oneeprule": one_endpoint_rule,
    "guarded": guarded, "nopattern": no_name_pattern, "nodefaults": no_defaults,
    "schemaless": schemaless, "addrperendpoint": address_rule_per_endpoint,
    "onerule": one_rule_per_endpoint, "addressitems": address_items, "targets": lambda ep: None,
}
# Variants sent the plan with bare `addresses`, as shipped; the others (the CRD's targets
# changed, or "targets": the CRD as shipped) the same addresses as `targets` objects.
BARE = {"shipped", "addressitems", "schemaless", "nopattern"}
SPEC_VARIANTS: dict[str, Callable[[Schema], None]] = {
    "celimmutable": cel_immutable,
    "celimmguarded": lambda spec: (guarded(spec["properties"]["endpoints"]),
                                   cel_immutable(spec)),
}


def crd(variant: str) -> dict[str, Any]:
    c = copy.deepcopy(yaml.safe_load((REPO / "crds" / "dnsplans.planguard.io.yaml").read_text()))
    group = f"{variant}.planguard.io"
    c["metadata"]["name"], c["spec"]["group"] = f"dnsplans.{group}", group
    spec = c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    if variant in SPEC_VARIANTS:
        SPEC_VARIANTS[variant](spec)
    else:
        VARIANTS[variant](spec["properties"]["endpoints"])
    return c


ALL = [*VARIANTS, *SPEC_VARIANTS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--patches", type=int, default=3, help="status patches per created plan")
    ap.add_argument("--variants", default=",".join(ALL),
                    help=f"comma-separated, 'shipped' always included: {', '.join(ALL)}")
    args = arguments(ap, endpoints=20, rounds=2, patches=1)
    chosen = ["shipped", *(v for v in args.variants.split(",") if v and v != "shipped")]
    cluster, _ = real_parts()
    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(cluster.kubeconfig))
    ns = unique("crdcost-")
    cluster.kubectl("create", "namespace", ns)
    refused: dict[str, str] = {}
    try:
        for v in list(chosen):
            # A variant the API server will not install (a CEL rule over its cost budget as
            # the CRD grew) is a result too, not the end of the run.
            p = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                                input=yaml.safe_dump(crd(v)), check=v == "shipped")
            if p.returncode:
                refused[v] = p.stderr.strip()
                chosen.remove(v)
                print(f"  {v}: refused by the API server: {refused[v]}")
        cluster.kubectl("wait", "--for=condition=Established",
                        *[f"crd/dnsplans.{v}.planguard.io" for v in chosen])
        time.sleep(3)  # a just-established CRD may still answer 429 for a moment
        eps = initial_endpoints(args.endpoints, 4)
        times: dict[str, list[float]] = {v: [] for v in chosen}
        patches: dict[str, list[float]] = {v: [] for v in chosen}
        deletes: dict[str, list[float]] = {v: [] for v in chosen}
        for r in range(args.rounds):
            for v in chosen:
                body = plan_body("z", r + 1, eps, bare=v in BARE)
                body["apiVersion"] = f"{v}.planguard.io/v1alpha1"
                t = time.monotonic()
                api.create_namespaced_custom_object(
                    f"{v}.planguard.io", "v1alpha1", ns, "dnsplans", body,
                    _preload_content=False).read()
                times[v].append(time.monotonic() - t)
                for k in range(args.patches):
                    t = time.monotonic()
                    api.patch_namespaced_custom_object_status(
                        f"{v}.planguard.io", "v1alpha1", ns, "dnsplans", f"z-{r + 1}",
                        {"status": {"endpoints": k + 1}},
                        _preload_content=False).read()
                    patches[v].append(time.monotonic() - t)
                t = time.monotonic()
                api.delete_namespaced_custom_object(
                    f"{v}.planguard.io", "v1alpha1", ns, "dnsplans", f"z-{r + 1}",
                    _preload_content=False).read()
                deletes[v].append(time.monotonic() - t)
    finally:
        for v in [*chosen, *refused]:
            cluster.kubectl("delete", "crd", f"dnsplans.{v}.planguard.io", "--wait=false",
                            check=False)
    base = statistics.median(times["shipped"][1:])
    print(f"create of one plan of {args.endpoints} endpoints x 4 targets; medians of "
          f"{args.rounds - 1} rounds; ratio = variant / shipped")
    pbase = statistics.median(patches["shipped"][args.patches:])
    print(f"  {'':14s} create            status patch (x of the shipped create)   delete")
    result = {}
    for v, ts in times.items():
        med = statistics.median(ts[1:])
        pmed = statistics.median(patches[v][args.patches:])
        dmed = statistics.median(deletes[v][1:])
        result[v] = {"median_s": med, "ratio": med / base, "all_s": ts,
                     "patch_median_s": pmed, "patch_ratio": pmed / pbase,
                     "patch_of_create": pmed / base, "delete_median_s": dmed,
                     "delete_of_create": dmed / base}
        print(f"  {v:14s} {med:.3f} s  x{med / base:.2f}   {pmed:.3f} s  x{pmed / pbase:.2f}"
              f"  ({pmed / base:.2f})   {dmed:.3f} s ({dmed / base:.2f})")
    write_result("crd_admission_cost", {"endpoints": args.endpoints, "variants": result,
                                        "refused": refused})


if __name__ == "__main__":
    main()
