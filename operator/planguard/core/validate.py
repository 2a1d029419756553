"""Plan checks the enactor repeats at enactment, whatever admission let through.

The API server's schema and CEL rules are the first line; these are the same rules in
Python, so a plan that reached the cluster some other way (older CRD, edited storage)
is still refused before a single record is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planguard.core.model import Endpoint, Plan, canonical_address

TTL_MIN, TTL_MAX = 1, 86400
MAX_ADDRESSES_PER_RRSET = 100  # BIND 9.18's default max-records-per-type
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
NAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


@dataclass(frozen=True)
class Problem:
    reason: str  # CamelCase, for conditions and the refusals metric
    message: str


def endpoint_problems(e: Endpoint) -> list[Problem]:
    out: list[Problem] = []
    where = f"endpoint {e.name!r}"
    if not NAME_RE.match(e.name) or len(e.name) > 200:
        out.append(Problem("InvalidName", f"{where}: not a relative DNS name of lowercase labels"))
    if not TTL_MIN <= e.ttl <= TTL_MAX:
        out.append(Problem("InvalidTTL", f"{where}: ttl {e.ttl} outside {TTL_MIN}..{TTL_MAX}"))
    seen: set[str] = set()
    for t in e.targets:
        try:
            addr = canonical_address(t.address)
        except ValueError:
            out.append(Problem("InvalidAddress", f"{where}: {t.address!r} is not an IP address"))
            continue
        if addr in seen:
            out.append(Problem("DuplicateTarget", f"{where}: target {addr} listed twice"))
        seen.add(addr)
        if not 0 <= t.weight <= 255:
            out.append(Problem("InvalidWeight", f"{where}: weight {t.weight} outside 0..255"))
    if out:
        return out
    v4, v6 = e.published
    if e.remove and e.targets:
        out.append(Problem("RemoveWithTargets", f"{where}: remove=true but targets are listed"))
    elif not e.remove and not v4 and not v6 and not e.allow_empty:
        out.append(Problem(
            "EmptyEndpoint",
            f"{where}: no target with weight > 0 would be served; "
            "set allowEmpty: true on the endpoint if emptying it is intended",
        ))
    if max(len(v4), len(v6)) > MAX_ADDRESSES_PER_RRSET:
        out.append(Problem(
            "TooManyTargets",
            f"{where}: more than {MAX_ADDRESSES_PER_RRSET} addresses of one family",
        ))
    return out


def duplicate_endpoints(plan: Plan) -> list[Problem]:
    names: set[str] = set()
    out: list[Problem] = []
    for e in plan.endpoints:
        if e.name in names:
            out.append(Problem("DuplicateEndpoint", f"endpoint {e.name!r} listed twice"))
        names.add(e.name)
    return out


def plan_problems(plan: Plan, require_endpoints: bool = True) -> list[Problem]:
    out: list[Problem] = []
    if plan.generation < 1:
        out.append(Problem("InvalidGeneration", f"generation {plan.generation} must be >= 1"))
    if require_endpoints and not plan.endpoints:
        out.append(Problem("NoEndpoints", "the plan lists no endpoints"))
    out.extend(duplicate_endpoints(plan))
    for e in plan.endpoints:
        out.extend(endpoint_problems(e))
    return out
