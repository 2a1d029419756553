"""The marker TXT records planguard keeps in DNS, and how they are written and read.

Two kinds, both plain TXT so any RFC 2136 server holds them:
- the endpoint marker at `_planguard.<endpoint>`: the generation whose records the endpoint serves;
- the zone fence at `_planguard` (zone apex): the newest generation any enactor has started to
  apply. Every write carries the exact fence it read as a prerequisite, so once a newer plan has
  started, a delayed enactor with an older plan cannot write anything anywhere in the zone.
"""

from __future__ import annotations

import re

from planguard.core.dnsplan.model import MARKER_LABEL

_GEN = re.compile(r"(?:^|[\s\"])gen=(\d+)")


def endpoint_marker_name(endpoint: str) -> str:
    return f"{MARKER_LABEL}.{endpoint}"


def endpoint_of_marker(name: str) -> str | None:
    """`_planguard.api` -> `api`; None for names that are not endpoint markers."""
    prefix = MARKER_LABEL + "."
    return name[len(prefix):] if name.startswith(prefix) else None


def fence_name() -> str:
    return MARKER_LABEL


TXT_MAX = 255  # octets in one TXT character-string


def marker_text(generation: int, plan: str, writer: str, removed: bool = False) -> str:
    """TXT presentation text: one quoted string, easy to read in `dig` and in BIND's journal.
    Lowercase: PowerDNS compares TXT prerequisites without letter case, so two writers'
    markers must never differ in case alone. The plan's name is only for people: it is
    shortened when the string would not fit one TXT string."""
    extra = " removed" if removed else ""
    fixed = len(f"gen={generation} plan= by={writer}{extra}")
    if fixed + len(plan) > TXT_MAX:
        plan = plan[:max(0, TXT_MAX - fixed - 1)] + "~"
    return f'"gen={generation} plan={plan} by={writer}{extra}"'.lower()


def fence_text(generation: int, writer: str, owner: str | None = None,
               digest: str | None = None) -> str:
    """The zone fence: the newest generation started, who started it, and (since owners
    exist) the DNSZone that owns the zone and the digest of what that generation says."""
    extra = (f" owner={owner}" if owner else "") + (f" d={digest}" if digest else "")
    return f'"gen={generation} by={writer}{extra}"'.lower()


def generation_of(text: str | None) -> int | None:
    """The generation in a marker's text; 0 for a marker someone wrote by hand without one.

    A malformed marker counts as older than every plan, so it never blocks a newer plan;
    the compare-and-swap still uses its exact text.
    """
    if text is None:
        return None
    m = _GEN.search(text)
    return int(m.group(1)) if m else 0
