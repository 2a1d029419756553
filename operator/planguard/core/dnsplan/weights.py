"""Weighted answers as PowerDNS LUA records: the fixed template, built and read back.

A LUA record is code the server runs for every query ("Under NO circumstances serve LUA
records from zones from untrusted sources"), so nothing of a plan's text reaches it: the
code is one fixed template filled with addresses re-printed from their parsed form and
integer weights, and reading a record back accepts only what this template would write.

Wire form (TYPE65402): a 2-byte inner type (A or AAAA), then character-strings that
PowerDNS concatenates into the code. A string holds at most 255 bytes, so the code is cut
between two `{weight,'address'}` entries, where Lua does not care.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from planguard.core.dnsplan.model import Endpoint

LUA = 65402  # PowerDNS's record type on the wire
_A, _AAAA = 1, 28
# pickwrandom: each query picks a target at random in proportion to its weight (a split of
# traffic); pickwhashed: the same choice for the same client address, in that proportion.
SELECTORS = ("pickwrandom", "pickwhashed")
WEIGHT_MAX = 255  # the plan's limit (as Route 53's); 0 is never published
_ENTRY = re.compile(r"\{(\d{1,3}),'([0-9a-f.:]{2,39})'\}")


class UnsafeTarget(ValueError):
    """A value that could not be printed into Lua as a plain address or weight."""


def _entry(address: str, weight: int) -> str:
    if type(weight) is not int or not 1 <= weight <= WEIGHT_MAX:
        raise UnsafeTarget(f"refusing to print weight {weight!r} into Lua")
    # Only what parses as an address, re-printed by ipaddress: digits, a-f, dots, colons.
    entry = f"{{{weight},'{ipaddress.ip_address(address)}'}}"
    if not _ENTRY.fullmatch(entry):
        raise UnsafeTarget(f"refusing to print {address!r} into Lua")
    return entry


def _rdata(selector: str, inner: int, pairs: Iterable[tuple[str, int]]) -> bytes:
    if selector not in SELECTORS:
        raise UnsafeTarget(f"unknown selector {selector!r}")
    entries = [_entry(a, w) for a, w in pairs]
    head, tail = f"{selector}({{", "})"
    strings: list[str] = []
    cur = head
    for i, e in enumerate(entries):
        piece = e + ("," if i < len(entries) - 1 else "")
        if len(cur) + len(piece) > 255:
            strings.append(cur)
            cur = ""
        cur += piece
    if len(cur) + len(tail) > 255:
        strings.append(cur)
        cur = ""
    strings.append(cur + tail)
    out = bytearray(struct.pack("!H", inner))
    for s in strings:
        raw = s.encode("ascii")
        out += bytes([len(raw)]) + raw
    return bytes(out)


@lru_cache(maxsize=1 << 16)
def records(selector: str, e: Endpoint) -> frozenset[bytes]:
    """The LUA rdata (wire form) that serve `e` with its weights: one per address family
    that has a target with weight > 0, entries sorted by address so that the same plan
    always gives the same bytes (they are compared exactly, as prerequisites)."""
    by_family: dict[int, list[tuple[str, int]]] = {_A: [], _AAAA: []}
    for address, weight in e.weighted:
        by_family[_AAAA if ":" in address else _A].append((address, weight))
    return frozenset(_rdata(selector, inner, pairs) for inner, pairs in by_family.items() if pairs)


@dataclass(frozen=True)
class Served:
    """What one LUA record written from the template serves."""

    family: int  # 4 or 6
    selector: str
    weights: tuple[tuple[str, int], ...]  # (address, weight), sorted by address


def parse(rdata: bytes) -> Served | None:
    """The record's weights if it is exactly what the template writes, else None (someone
    else's Lua: served as it is, never reproduced by a plan, replaced by the next write)."""
    if len(rdata) < 3:
        return None
    (inner,) = struct.unpack_from("!H", rdata)
    if inner not in (_A, _AAAA):
        return None
    parts, i = [], 2
    while i < len(rdata):
        n = rdata[i]
        parts.append(rdata[i + 1:i + 1 + n])
        i += 1 + n
    try:
        code = b"".join(parts).decode("ascii")
    except UnicodeDecodeError:
        return None
    m = re.fullmatch(r"(pickwrandom|pickwhashed)\(\{(.*)\}\)", code)
    if m is None:
        return None
    pairs = tuple((a, int(w)) for w, a in _ENTRY.findall(m.group(2)))
    try:
        again = _rdata(m.group(1), inner, pairs)
    except (UnsafeTarget, ValueError):
        return None
    if again != rdata:
        return None
    return Served(4 if inner == _A else 6, m.group(1), pairs)


def selector_of(rdatas: Iterable[bytes]) -> str | None:
    """The selector planguard wrote these LUA records with; None if none is ours."""
    for rd in rdatas:
        s = parse(rd)
        if s is not None:
            return s.selector
    return None


def served_weights(rdatas: Iterable[bytes]) -> dict[str, int] | None:
    """Address -> weight across an endpoint's LUA records; None if any is not ours."""
    out: dict[str, int] = {}
    for rd in rdatas:
        s = parse(rd)
        if s is None:
            return None
        out.update(s.weights)
    return out
