"""RFC 2136 dynamic updates (BIND; PowerDNS in powerdns.py): one TCP connection, TSIG on
every message.

Reads are one zone transfer (AXFR), which BIND serves from a single committed version of
the zone, so the snapshot is consistent across endpoints. Writes are UPDATE messages whose
prerequisites are the exact records just read (TTL 0, value-dependent) plus the zone fence.
A server with weighted answers (`lua` set) also has its LUA RRset compared and replaced in
the same message.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable, Sequence
from dataclasses import replace

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.xfr

from planguard.core.deadline import Deadline, DeadlineExceeded
from planguard.core.dnsplan import cas
from planguard.core.dnsplan.cas import Rdata, RRType, UpdateMessage
from planguard.core.dnsplan.enact import EndpointWrite, UpdateStep
from planguard.core.dnsplan.model import ZoneState
from planguard.core.dnsplan.weights import LUA
from planguard.dns import axfr, pipeline, resolve, wire
from planguard.dns.provider import DnsError, DnsErrorKind, WriteOutcome
from planguard.dns.tsig import TsigKey

_CONFLICT = {dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN}
_A, _AAAA, _TXT = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT
_TYPES = {RRType.A: _A, RRType.AAAA: _AAAA, RRType.TXT: _TXT, RRType.LUA: LUA}


def _order(v: Rdata) -> bytes:
    return v.encode() if isinstance(v, str) else v


def _rdatas(rdtype: RRType, values: Iterable[Rdata]) -> list[bytes]:
    """Record data of cas.py's message in wire form (LUA's is already)."""
    if rdtype is RRType.TXT:
        return [wire.txt_rdata(str(v)) for v in values]
    if rdtype is RRType.LUA:
        return [v.encode("latin-1") if isinstance(v, str) else v for v in values]
    return [wire.address_rdata(_TYPES[rdtype], str(v)) for v in values]


def _rcode_error(rcode: dns.rcode.Rcode, what: str) -> DnsError:
    kind = {
        dns.rcode.REFUSED: DnsErrorKind.REFUSED,
        dns.rcode.NOTAUTH: DnsErrorKind.ZONE_MISSING,
        dns.rcode.NOTZONE: DnsErrorKind.ZONE_MISSING,
        dns.rcode.SERVFAIL: DnsErrorKind.SERVFAIL,
    }.get(rcode, DnsErrorKind.PROTOCOL)
    return DnsError(kind, f"{what}: server answered {dns.rcode.to_text(rcode)}")


class Rfc2136Provider:
    lua: str | None = None  # no weighted answers: every target with weight > 0, equally
    max_records = 400  # BIND applies a 400-record UPDATE in a few milliseconds
    # One exchange (connect included) ends within this: a whole zone transfer, an SOA
    # query, each UPDATE of a batch. A transfer of 100,000 records (50,000 endpoints) from
    # BIND on loopback took 3 s on an idle machine and up to 16 s with its 2 cores at a load
    # of 11: twice that. A server slower than this fails its own zone only.
    default_timeout = 30.0

    def __init__(
        self, zone: str, server: str, port: int, key: TsigKey, timeout: float | None = None,
        window: int = 16,
    ) -> None:
        self.zone = dns.name.from_text(zone)
        self.server, self.port, self.key = server, port, key
        self.timeout = self.default_timeout if timeout is None else timeout
        self.window = window  # UPDATEs in flight at once on the connection
        self._sock: socket.socket | None = None

    # -- reads -------------------------------------------------------------------------
    def read_zone(self) -> ZoneState:
        what = f"zone transfer of {self.zone}"
        deadline = Deadline.within(self.timeout)
        try:
            with self._open(what, deadline) as sock:
                got = axfr.read(sock, self.zone, self.key.dns_key, deadline)
        except axfr.TransferFailed as e:
            raise _rcode_error(dns.rcode.Rcode(e.rcode), what) from e
        except Exception as e:  # classified, never swallowed
            raise self._failed(e, what, deadline) from e
        foreign = {
            # RdataType.to_text takes any type number (TYPE<n> for one it has no name for)
            name: frozenset(dns.rdatatype.RdataType.to_text(t) for t in types)
            for name, types in (got.other or {}).items()}
        return replace(cas.zone_state(got.records, got.ttls, got.lua, foreign),
                       serial=got.serial)

    def read_serial(self) -> int:
        """The zone's SOA serial from the primary: one small query instead of a transfer."""
        q = dns.message.make_query(self.zone, dns.rdatatype.SOA)
        what, deadline = f"SOA query for {self.zone}", Deadline.within(self.timeout)
        try:
            with self._open(what, deadline) as sock:
                # dnspython's timeout is one expiration for the whole query
                r = dns.query.tcp(q, self.server, timeout=deadline.left(), sock=sock)
        except Exception as e:  # classified, never swallowed
            raise self._failed(e, what, deadline) from e
        if r.rcode() != dns.rcode.NOERROR:
            raise _rcode_error(r.rcode(), f"SOA query for {self.zone}")
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA and rrset.name == self.zone:
                return int(rrset[0].serial)
        raise DnsError(DnsErrorKind.ZONE_MISSING, f"{self.zone}: no SOA in the answer")

    # -- writes ------------------------------------------------------------------------
    def build_update(self, msg: UpdateMessage, msg_id: int = 0) -> wire.SignedUpdate:
        """`msg` (core/dnsplan/cas.py) on the wire, signed: nothing decided here. Sets, so
        no record is listed twice in a prerequisite (a duplicate can make PowerDNS 4.7
        match a different set)."""
        u = wire.UpdateBuilder(self.zone)
        for p in msg.prerequisites:
            if p.rdatas is None:
                u.absent(p.name, _TYPES[p.rdtype])
            else:
                u.present(p.name, _TYPES[p.rdtype], _rdatas(p.rdtype, sorted(p.rdatas, key=_order)))
        for up in msg.updates:
            if up.rdatas:
                u.replace(up.name, _TYPES[up.rdtype], up.ttl, _rdatas(up.rdtype, up.rdatas))
            else:
                u.delete(up.name, _TYPES[up.rdtype])
        return u.sign(msg_id, self.key.dns_key)

    def write(
        self, writes: Sequence[EndpointWrite], fence_expect: str | None, fence_new: str | None
    ) -> WriteOutcome:
        """One atomic UPDATE: all of it or none of it."""
        return self.write_steps([UpdateStep(tuple(writes), fence_expect, fence_new)])[0]

    def write_steps(self, steps: Sequence[UpdateStep]) -> list[WriteOutcome]:
        """Each step is one atomic UPDATE with its own prerequisites, so they can be in
        flight together: a step that loses a race fails alone (and every later step that
        requires the fence an earlier one was to raise fails with it)."""
        base = random.getrandbits(16)  # then consecutive: answers are matched by ID
        # A generator: each message is built as the window opens, while BIND works.
        msgs = (self.build_update(cas.message(s, self.lua is not None), (base + i) & 0xFFFF)
                for i, s in enumerate(steps))
        outcomes = []
        for rcode in self._exchange(msgs, len(steps)):
            if rcode == dns.rcode.NOERROR:
                outcomes.append(WriteOutcome.APPLIED)
            elif rcode in _CONFLICT:
                outcomes.append(WriteOutcome.CONFLICT)
            else:
                raise _rcode_error(rcode, f"update of {self.zone}")
        return outcomes

    def _exchange(self, msgs: Iterable[wire.SignedUpdate], n: int) -> list[dns.rcode.Rcode]:
        """Pipelined on the kept TCP connection (RFC 2136 §7.8: TCP for accurate rcodes).
        A kept connection the server closed while idle is replaced before sending; after
        a failure part-way the zone is re-read before anything else is decided. The `n`
        UPDATEs together end within `n` timeouts (a server applies them one at a time),
        and each answer comes within one timeout of the last."""
        what, deadline = f"update of {self.zone}", Deadline.within(self.timeout * max(1, n))
        try:
            sock = self._connect(deadline)
            if not pipeline.alive(sock):
                self.close()
                sock = self._connect(deadline)
            return pipeline.exchange(sock, msgs, self.key.dns_key, deadline, self.timeout,
                                     self.window)
        except Exception as e:  # classified, never swallowed
            self.close()
            if isinstance(e, DeadlineExceeded):
                deadline = replace(deadline, seconds=e.seconds)  # the one that ran out
            raise self._failed(e, what, deadline) from e

    def _open(self, what: str, deadline: Deadline) -> socket.socket:
        """A new non-blocking TCP connection to the server. A host name (e.g. a Service's)
        is resolved here, on every connection, like external-dns's --rfc2136-host:
        getaddrinfo (dns/resolve.py), then each address in turn, all within `deadline`,
        so a server that moves is followed without a restart and a name that resolves
        slowly or to many dead addresses costs no more than one exchange. Connecting is
        one step (one timeout), however many UPDATEs the exchange's deadline allows for:
        a SYN to a Service whose pod just went away can be sent to the dead pod's address
        and go unanswered (seen on kind: three enactors stalled 150 s after a BIND pod
        restart); the next try, on a new connection, reaches the new pod."""
        try:
            addrs = resolve.addresses(self.server, self.port, deadline)
        except (socket.gaierror, UnicodeError) as e:
            raise DnsError(DnsErrorKind.UNRESOLVABLE,
                           f"{what}: cannot resolve server {self.server!r}: {e}") from e
        err: OSError | None = None
        for family, kind, proto, _, addr in addrs:
            step = deadline.sooner(self.timeout)
            left = step.left()
            if left <= 0:
                raise DeadlineExceeded(step)
            s = socket.socket(family, kind, proto)
            try:
                s.settimeout(left)
                s.connect(addr)
                s.setblocking(False)
                return s
            except TimeoutError:
                s.close()
                raise DeadlineExceeded(step) from None
            except OSError as e:
                s.close()
                err = e
        assert err is not None  # getaddrinfo answers at least one address or raises
        raise self._classify(err, f"{what}: connect to {self.server}:{self.port}") from err

    def _connect(self, deadline: Deadline) -> socket.socket:
        if self._sock is None:
            s = self._open(f"update of {self.zone}", deadline)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = s
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _failed(self, e: BaseException, what: str, deadline: Deadline) -> DnsError:
        """`e` classified; a timeout names the server and the deadline that ran out."""
        if isinstance(e, (dns.exception.Timeout, TimeoutError)):
            return DnsError(DnsErrorKind.TIMEOUT,
                            f"{what}: DNS server {self.server}:{self.port} did not finish "
                            f"within {deadline.seconds:g} s")
        return self._classify(e, what)

    @staticmethod
    def _classify(e: BaseException, what: str) -> DnsError:
        if isinstance(e, DnsError):
            return e
        if isinstance(e, (dns.tsig.PeerError, dns.tsig.BadSignature, dns.message.UnknownTSIGKey,
                          dns.tsig.BadTime, axfr.Unsigned)):
            return DnsError(DnsErrorKind.TSIG, f"{what}: TSIG rejected ({type(e).__name__})")
        if isinstance(e, pipeline.UnsignedAnswer):
            # PowerDNS answers an unknown key, a bad signature or a client it does not
            # take updates from with REFUSED and no TSIG (BIND signs its BADKEY/BADSIG).
            return DnsError(DnsErrorKind.TSIG, f"{what}: {e}")
        if isinstance(e, (dns.exception.Timeout, TimeoutError, socket.timeout)):
            return DnsError(DnsErrorKind.TIMEOUT, f"{what}: timed out")
        if isinstance(e, OSError | EOFError):
            return DnsError(DnsErrorKind.UNREACHABLE, f"{what}: {e}")
        return DnsError(DnsErrorKind.PROTOCOL, f"{what}: {type(e).__name__}: {e}")
