"""Where the planner's health checks may go: the platform team's allowed ranges, minus the
cloud metadata and link-local addresses that no list can open, and loopback only when a
listed range is itself loopback. Also the rules of a check's HTTP path and of an address
taken from an EndpointSlice (which no admission rule of ours has seen).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from planguard.core.dnsplan.model import canonical_address
from planguard.core.dnsplan.validate import unservable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never checked, whatever the list says: instance metadata and credential services, and
# the link-local ranges they live in.
_METADATA = (
    ("169.254.0.0/16", "a metadata/link-local address"),  # AWS, GCP, Azure, OCI, DO IMDS
    ("fe80::/10", "a metadata/link-local address"),
    ("fd00:ec2::254/128", "a metadata address (AWS IMDS over IPv6)"),
    ("100.100.100.200/32", "a metadata address (Alibaba Cloud)"),
    ("168.63.129.16/32", "a metadata address (Azure WireServer)"),
)
ALWAYS_REFUSED: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(n), why) for n, why in _METADATA)
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# The chart's default (planner.healthCheck.allowedCIDRs): private ranges (RFC 1918, ULA),
# which hold pod, node and kind/docker addresses. Public load balancers must be listed.
DEFAULT_ALLOWED = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")

MAX_PATH = 1024
# The CRD's CEL rule, the same: origin-form, printable ASCII without spaces, so neither a
# scheme and host (absolute-form through a proxy) nor a second request line fits in it.
_PATH = re.compile(r"/[!-~]*")


def parse_cidrs(text: str | Iterable[str]) -> tuple[Network, ...]:
    """Comma-separated (or listed) CIDRs; ValueError names the bad one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in (i.strip() for i in items):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=True))
            except ValueError as e:
                raise ValueError(f"not a CIDR: {item!r} ({e})") from e
    return tuple(out)


@dataclass(frozen=True)
class TargetPolicy:
    allowed: tuple[Network, ...]

    def refusal(self, address: str) -> str | None:
        """Why the planner never checks `address`, or None when it may."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"target {address!r} is not an IP address; health checks never go there"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return (f"target {address} is an IPv4-mapped IPv6 address; health checks never "
                    "go there")
        for net, why in ALWAYS_REFUSED:
            if ip.version == net.version and ip in net:
                return f"target {address} is {why}; health checks never go there"
        if (v4 := _embedded_ipv4(ip)) is not None and (
                v4.is_loopback or any(v4 in n for n, _ in ALWAYS_REFUSED if n.version == 4)):
            return (f"target {address} carries {v4} inside (NAT64, 6to4 or Teredo); health "
                    "checks never go there")
        if ip.is_loopback:
            # 0.0.0.0/0 does not open loopback: only a range that is itself loopback does.
            explicit = any(n.version == ip.version and ip in n and _is_loopback(n)
                           for n in self.allowed)
            return None if explicit else (
                f"target {address} is a loopback address, which the planner checks only when "
                "a loopback range is listed in planner.healthCheck.allowedCIDRs")
        if any(n.version == ip.version and ip in n for n in self.allowed):
            return None
        listed = ", ".join(map(str, self.allowed)) or "none"
        return (f"target {address} is outside the ranges health checks may reach "
                f"(planner.healthCheck.allowedCIDRs: {listed})")


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address
                   ) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translated IPv6 address reaches (a NAT64 prefix, 6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if any(ip in n for n in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


def _is_loopback(net: Network) -> bool:
    return any(net.version == lo.version and net.subnet_of(lo)  # type: ignore[arg-type]
               for lo in _LOOPBACK)


def path_problem(path: str) -> str | None:
    """Why a check's HTTP path is refused (the CRD's rule, repeated), or None."""
    if len(path) > MAX_PATH or not _PATH.fullmatch(path) or path.startswith("//"):
        return (f"healthCheck.path {path[:64]!r} is refused: a relative path only (starts "
                "with '/', not '//'; no scheme or host; printable ASCII without spaces)")
    return None


def slice_address(address: str) -> tuple[str | None, str | None]:
    """An EndpointSlice address as a plan would carry it, or why it cannot be a target
    (the plan rules of core/dnsplan/validate.py: the API server checks none of ours on slices)."""
    try:
        addr = canonical_address(address)
    except ValueError:
        return None, f"EndpointSlice address {address[:64]!r} is not an IP address"
    if (why := unservable(addr)) is not None:
        return None, f"EndpointSlice address {addr} is {why}, which no load balancer has"
    return addr, None
