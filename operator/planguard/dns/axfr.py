"""A zone transfer (AXFR over TCP) read straight off the wire, TSIG verified on every message.

dnspython builds an rdata object, a name object and an RRset search for every record; on a
zone of 25,000 endpoints (125,000 records) that is seconds of CPU for each read. An enactor
needs only owner names and the A, AAAA and TXT records (and PowerDNS's LUA records, kept
as raw rdata), so they are decoded here in one pass. The TSIG of each message is checked
with dnspython's own code, chained across the messages as RFC 8945 §5.3.1 requires; a
message without one fails the transfer.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig

from planguard.core.deadline import Deadline
from planguard.core.dnsplan.model import canonical_address
from planguard.core.dnsplan.weights import LUA
from planguard.dns.frames import FrameReader, send_frame
from planguard.dns.wire import AAAA, SOA, TSIG, TXT, A

_RR = struct.Struct("!HHIH")
_HEADER = struct.Struct("!HHHHHH")


class BadTransfer(Exception):
    """The answer is not a well-formed transfer of this zone."""


class Unsigned(Exception):
    """A transfer message came without the TSIG every message must carry."""


class TransferFailed(Exception):
    def __init__(self, rcode: int, what: str) -> None:
        super().__init__(f"{what}: server answered {dns.rcode.to_text(dns.rcode.Rcode(rcode))}")
        self.rcode = rcode


@dataclass
class ZoneRecords:
    """Owner name (relative, '@' for the apex) -> type -> presentation texts; A/AAAA/LUA
    TTLs; LUA rdata (wire form) by owner name."""

    serial: int | None = None
    records: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    ttls: dict[str, int] = field(default_factory=dict)
    lua: dict[str, set[bytes]] = field(default_factory=dict)
    # Owner name -> the types of its records that are none of the above (CNAME, NS, MX...):
    # names planguard must never take over.
    other: dict[str, set[int]] = field(default_factory=dict)


def _txt(wire: bytes, start: int, end: int) -> str:
    """TXT rdata as dnspython's to_text prints it (quoted strings, space separated)."""
    out, i = [], start
    while i < end:
        n = wire[i]
        s = wire[i + 1:i + 1 + n]
        if any(c < 0x20 or c > 0x7E or c in (0x22, 0x5C) for c in s):
            rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, wire, start,
                                     end - start)
            return rd.to_text()
        out.append('"' + s.decode("ascii") + '"')
        i += 1 + n
    return " ".join(out)


class _Names:
    """Owner names decoded (pointers followed) relative to the zone, memoised by offset."""

    def __init__(self, wire: bytes, zone_labels: tuple[bytes, ...]) -> None:
        self.wire, self.zone = wire, tuple(x.lower() for x in zone_labels)
        self.memo: dict[tuple[bytes, ...], str] = {}

    def labels(self, off: int) -> tuple[tuple[bytes, ...], int]:
        """(labels, offset after the name in place)."""
        wire, end, hops = self.wire, -1, 0
        labels: list[bytes] = []
        while True:
            n = wire[off]
            if n == 0:
                if end < 0:
                    end = off + 1
                return tuple(labels), end
            if n & 0xC0 == 0xC0:
                if end < 0:
                    end = off + 2
                off = ((n & 0x3F) << 8) | wire[off + 1]
                hops += 1
                if hops > 127:
                    raise BadTransfer("name compression loop")
                continue
            labels.append(wire[off + 1:off + 1 + n])
            off += 1 + n

    def relative(self, off: int) -> tuple[str, int]:
        labels, end = self.labels(off)
        got = self.memo.get(labels)
        if got is None:
            k = len(self.zone)
            if k and tuple(x.lower() for x in labels[-k:]) != self.zone:
                raise BadTransfer("record outside the zone in a transfer")
            rel = labels[: len(labels) - k]
            got = "@" if not rel else _text(rel)
            self.memo[labels] = got
        return got, end


_PLAIN = re.compile(rb"[A-Za-z0-9_-]+")


def _text(labels: tuple[bytes, ...]) -> str:
    """Relative name text; dnspython's escaping only where a label needs it."""
    if all(_PLAIN.fullmatch(x) for x in labels):
        return b".".join(labels).decode("ascii")
    return dns.name.Name(labels).to_text()


def read(
    sock: socket.socket, zone: dns.name.Name, key: dns.tsig.Key, deadline: Deadline,
) -> ZoneRecords:
    """Every A, AAAA and TXT record of `zone` from one AXFR (one committed version), on
    `sock`, a non-blocking TCP connection to the primary that the caller opens and closes;
    the whole transfer ends by `deadline`."""
    q = dns.message.make_query(zone, dns.rdatatype.AXFR, dns.rdataclass.IN)
    q.use_tsig({key.name: key}, keyname=key.name, algorithm=key.algorithm)
    out = ZoneRecords()
    send_frame(sock, q.to_wire(), deadline)
    reader = FrameReader(sock, chunk=1 << 20)  # a transfer is many full-size messages
    ctx = None
    soa_seen = 0
    while soa_seen < 2:
        msg = reader.next_frame(deadline)
        ctx = _verify(msg, key, q.mac or b"", ctx)
        soa_seen += _parse(msg, q.id, zone, out, first=soa_seen == 0)
    return out


def _skip_question(wire: bytes, off: int, count: int) -> int:
    for _ in range(count):
        while True:
            n = wire[off]
            if n & 0xC0 == 0xC0:
                off += 2
                break
            off += 1 + n
            if n == 0:
                break
        off += 4
    return off


def _verify(wire: bytes, key: dns.tsig.Key, request_mac: bytes, ctx: object) -> object:
    """Checks this message's TSIG (it must be the last record) and returns the context
    the next message's TSIG is chained to."""
    _, _, qd, an, ns, ar = _HEADER.unpack_from(wire)
    if ar == 0:
        raise Unsigned("a zone transfer message without TSIG")
    off = _skip_question(wire, 12, qd)
    for _ in range(an + ns + ar - 1):
        off = _skip_rr(wire, off)
    start = off
    names = _Names(wire, ())
    owner_labels, off = names.labels(off)
    rdtype, _, _, rdlen = _RR.unpack_from(wire, off)
    off += _RR.size
    if rdtype != TSIG:
        raise Unsigned("a zone transfer message without TSIG")
    rd = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, wire, off, rdlen)
    return dns.tsig.validate(wire, key, dns.name.Name((*owner_labels, b"")), rd,  # type: ignore[no-untyped-call]
                             int(time.time()), request_mac, start, ctx, True)


def _skip_rr(wire: bytes, off: int) -> int:
    off = _skip_question(wire, off, 1) - 4
    rdlen: int = _RR.unpack_from(wire, off)[3]
    return off + _RR.size + rdlen


def _parse(wire: bytes, qid: int, zone: dns.name.Name, out: ZoneRecords, first: bool) -> int:
    """Adds this message's records to `out`; returns how many SOA records it held."""
    mid, flags, qd, an, _, _ = _HEADER.unpack_from(wire)
    if mid != qid:
        raise BadTransfer("zone transfer answer with another message ID")
    if flags & 0x000F:
        raise TransferFailed(flags & 0x000F, f"zone transfer of {zone}")
    names = _Names(wire, zone.labels[:-1])
    off = _skip_question(wire, 12, qd)
    soas = 0
    recs, ttls = out.records, out.ttls

    def add(name: str, rdtype: int, text: str) -> None:
        recs.setdefault(name, {}).setdefault(rdtype, []).append(text)

    for i in range(an):
        name, off = names.relative(off)
        rdtype, _, ttl, rdlen = _RR.unpack_from(wire, off)
        off += _RR.size
        if rdtype in (A, AAAA):
            add(name, rdtype, canonical_address(wire[off:off + rdlen]))
            ttls[name] = ttl
        elif rdtype == TXT:
            add(name, rdtype, _txt(wire, off, off + rdlen))
        elif rdtype == LUA:
            out.lua.setdefault(name, set()).add(wire[off:off + rdlen])
            ttls[name] = ttl
        elif rdtype == SOA:
            if first and i == 0:
                out.serial = int(struct.unpack_from("!I", wire, off + rdlen - 20)[0])
            soas += 1
        elif rdtype != TSIG:
            out.other.setdefault(name, set()).add(rdtype)
        off += rdlen
    if first and an and soas == 0:
        raise BadTransfer("zone transfer does not start with the SOA")
    return soas
