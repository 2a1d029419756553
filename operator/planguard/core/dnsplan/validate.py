"""Plan checks the enactor repeats at enactment, whatever admission let through.

The API server's schema and CEL rules are the first line; these are the same rules in
Python, so a plan that reached the cluster some other way (older CRD, edited storage)
is still refused before a single record is written.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from planguard.core.dnsplan.model import Endpoint, Plan, canonical_address, ipv4_octets

TTL_MIN, TTL_MAX = 1, 86400
# The CRD's targets and addresses maxItems: with 5,000 endpoints per plan it keeps the
# address rules' CEL cost within the API server's budget (and well under BIND's
# max-records-per-type, 100).
MAX_TARGETS = 32
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
NAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


_THIS_NETWORK = "an address in 0.0.0.0/8 ('this network')"
_RESERVED = "a reserved address (240.0.0.0/4)"


# Cached: a zone's addresses repeat in every generation, and parsing them was a tenth of an
# enactor's CPU while it read a 100,000-record plan (py-spy, BENCHMARKS.md).
@lru_cache(maxsize=1 << 18)
def unservable(address: str) -> str | None:
    """Why no load balancer can have this address (an answer with it black-holes clients
    without ever looking empty), or None. Loopback is allowed: local tests and the demo
    serve on 127.0.0.0/8. The CRDs' CEL rules refuse the same addresses (isIP() refuses
    IPv4-mapped IPv6; isGlobalUnicast() the unspecified, broadcast, multicast and link-local
    ones; cidr() the rest).
    """
    if (o := ipv4_octets(address)) is not None:  # ipaddress's answers, without parsing twice
        if o == (0, 0, 0, 0):
            return "the unspecified address"
        if o[0] == 0:
            return _THIS_NETWORK
        if o[0] == 127:
            return None
        if 224 <= o[0] <= 239:
            return "a multicast address"
        if o[:2] == (169, 254):
            return "a link-local address"
        if o == (255, 255, 255, 255):
            return "the broadcast address"
        return _RESERVED if o[0] >= 240 else None
    return unservable_ip(ipaddress.ip_address(address))


def unservable_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """unservable() of a parsed address: every IPv6 address, and what the IPv4 fast path
    must agree with (tests/unit/test_dnsplan_validate.py)."""
    v6 = isinstance(ip, ipaddress.IPv6Address)
    # An IPv4 address written as IPv6 (::ffff:a.b.c.d) is no host's IPv6 address; asked
    # first, as Python 3.13 answers the other questions for the IPv4 address inside.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return None
    if v6 and int(ip) >> 32 == 0:  # ::/96, deprecated (RFC 4291); :: and ::1 are above
        return "an IPv4-compatible IPv6 address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if not v6:
        if ip == ipaddress.IPv4Address("255.255.255.255"):
            return "the broadcast address"
        if ip.packed[0] == 0:
            return _THIS_NETWORK
        if ip.packed[0] >= 240:
            return _RESERVED
    return None


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
        if (why := unservable(addr)) is not None:
            out.append(Problem("UnservableAddress",
                               f"{where}: {addr} is {why}, which no load balancer has"))
        if addr in seen:
            out.append(Problem("DuplicateTarget", f"{where}: target {addr} listed twice"))
        seen.add(addr)
        if not 0 <= t.weight <= 255:
            out.append(Problem("InvalidWeight", f"{where}: weight {t.weight} outside 0..255"))
    if out:
        return out
    v4, v6 = e.published
    if e.remove and e.targets:
        out.append(Problem("RemoveWithTargets",
                           f"{where}: remove=true but targets or addresses are listed"))
    elif not e.remove and not v4 and not v6 and not e.allow_empty:
        out.append(Problem(
            "EmptyEndpoint",
            f"{where}: no target with weight > 0 would be served; "
            "set allowEmpty: true on the endpoint if emptying it is intended",
        ))
    if len(e.targets) > MAX_TARGETS:
        out.append(Problem("TooManyTargets", f"{where}: more than {MAX_TARGETS} targets"))
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
