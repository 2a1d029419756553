"""RFC 2136 dynamic updates against BIND: one TCP connection, TSIG on every message.

Reads are one zone transfer (AXFR), which BIND serves from a single committed version of
the zone, so the snapshot is consistent across endpoints. Writes are UPDATE messages whose
prerequisites are the exact records just read (TTL 0, value-dependent) plus the zone fence.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr

from planguard.core.enact import EndpointWrite
from planguard.core.markers import (
    endpoint_marker_name,
    endpoint_of_marker,
    fence_name,
    generation_of,
)
from planguard.core.model import EndpointState, ZoneState
from planguard.dns.provider import DnsError, DnsErrorKind, WriteOutcome
from planguard.dns.tsig import TsigKey

_CONFLICT = {dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN}
_A, _AAAA, _TXT = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT


def _rcode_error(rcode: dns.rcode.Rcode, what: str) -> DnsError:
    kind = {
        dns.rcode.REFUSED: DnsErrorKind.REFUSED,
        dns.rcode.NOTAUTH: DnsErrorKind.ZONE_MISSING,
        dns.rcode.NOTZONE: DnsErrorKind.ZONE_MISSING,
        dns.rcode.SERVFAIL: DnsErrorKind.SERVFAIL,
    }.get(rcode, DnsErrorKind.PROTOCOL)
    return DnsError(kind, f"{what}: server answered {dns.rcode.to_text(rcode)}")


class Rfc2136Provider:
    def __init__(
        self, zone: str, server: str, port: int, key: TsigKey, timeout: float = 5.0
    ) -> None:
        self.zone = dns.name.from_text(zone)
        self.server, self.port, self.key, self.timeout = server, port, key, timeout
        self._keyring = key.keyring()
        self._sock: socket.socket | None = None

    # -- reads -------------------------------------------------------------------------
    def read_zone(self) -> ZoneState:
        recs: dict[str, dict[int, list[dns.rdata.Rdata]]] = defaultdict(lambda: defaultdict(list))
        ttls: dict[str, int] = {}
        try:
            for msg in dns.query.xfr(
                self.server, self.zone, port=self.port, timeout=self.timeout,
                lifetime=self.timeout * 6, keyring=self._keyring, keyname=self.key.keyname,
                keyalgorithm=self.key.algorithm, relativize=True,
            ):
                for rrset in msg.answer:
                    if rrset.rdtype not in (_A, _AAAA, _TXT):
                        continue
                    name = rrset.name.to_text()
                    recs[name][rrset.rdtype].extend(rrset)
                    if rrset.rdtype in (_A, _AAAA):
                        ttls[name] = rrset.ttl
        except dns.xfr.TransferError as e:
            raise _rcode_error(e.rcode, f"zone transfer of {self.zone}") from e
        except Exception as e:  # classified, never swallowed
            raise self._classify(e, f"zone transfer of {self.zone}") from e
        return self._state(recs, ttls)

    @staticmethod
    def _state(
        recs: dict[str, dict[int, list[dns.rdata.Rdata]]], ttls: dict[str, int]
    ) -> ZoneState:
        fence = None
        markers: dict[str, str] = {}
        for name, types in recs.items():
            txt = types.get(_TXT)
            if not txt:
                continue
            if name == fence_name():
                fence = txt[0].to_text()
            elif (ep := endpoint_of_marker(name)) is not None:
                markers[ep] = txt[0].to_text()
        endpoints: dict[str, EndpointState] = {}
        for name in set(markers) | {n for n, t in recs.items() if _A in t or _AAAA in t}:
            if endpoint_of_marker(name) is not None or name in ("@", fence_name()):
                continue
            types = recs.get(name, {})
            endpoints[name] = EndpointState(
                name=name,
                marker=markers.get(name),
                generation=generation_of(markers.get(name)),
                a=frozenset(r.to_text() for r in types.get(_A, ())),
                aaaa=frozenset(r.to_text() for r in types.get(_AAAA, ())),
                ttl=ttls.get(name),
            )
        return ZoneState(fence=fence, fence_generation=generation_of(fence), endpoints=endpoints)

    # -- writes ------------------------------------------------------------------------
    def build_update(
        self, writes: Sequence[EndpointWrite], fence_expect: str | None, fence_new: str | None
    ) -> dns.update.UpdateMessage:
        u = dns.update.UpdateMessage(
            self.zone, keyring=self._keyring, keyname=self.key.keyname,
            keyalgorithm=self.key.algorithm,
        )
        fence = fence_name()
        if fence_expect is None:
            u.absent(fence, _TXT)
        else:
            u.present(fence, _TXT, fence_expect)  # text form: dnspython sends TTL 0
        if fence_new is not None:
            u.replace(fence, 0, _TXT, fence_new)
        for w in writes:
            st, marker = w.expect, endpoint_marker_name(w.name)
            if st.marker is None:
                u.absent(marker, _TXT)
            else:
                u.present(marker, _TXT, st.marker)
            for rdtype, have in ((_A, st.a), (_AAAA, st.aaaa)):
                if have:
                    u.present(w.name, rdtype, *sorted(have))
                else:
                    u.absent(w.name, rdtype)
            for rdtype, want in ((_A, w.a), (_AAAA, w.aaaa)):
                if want:
                    u.replace(w.name, w.ttl, rdtype, *sorted(want))
                else:
                    u.delete(w.name, rdtype)
            u.replace(marker, 0, _TXT, w.marker)
        return u

    def write(
        self, writes: Sequence[EndpointWrite], fence_expect: str | None, fence_new: str | None
    ) -> WriteOutcome:
        """One atomic UPDATE: all of it or none of it."""
        rcode = self.send(self.build_update(writes, fence_expect, fence_new))
        if rcode == dns.rcode.NOERROR:
            return WriteOutcome.APPLIED
        if rcode in _CONFLICT:
            return WriteOutcome.CONFLICT
        raise _rcode_error(rcode, f"update of {self.zone}")

    def send(self, msg: dns.message.Message) -> dns.rcode.Rcode:
        """Sends on the kept TCP connection (RFC 2136 §7.8: TCP for accurate rcodes)."""
        for attempt in (0, 1):
            fresh = self._sock is None
            sock = self._connect()
            try:
                resp = dns.query.tcp(msg, self.server, timeout=self.timeout, port=self.port,
                                     sock=sock)
                return resp.rcode()
            except (ConnectionError, EOFError, BrokenPipeError) as e:
                self.close()
                # A kept connection the server closed while idle: reconnect once. The update
                # may only be resent when it cannot have reached the server at all.
                if fresh or attempt:
                    raise self._classify(e, f"update of {self.zone}") from e
            except Exception as e:  # classified, never swallowed
                self.close()
                raise self._classify(e, f"update of {self.zone}") from e
        raise AssertionError("unreachable")

    def _connect(self) -> socket.socket:
        if self._sock is None:
            try:
                s = socket.create_connection((self.server, self.port), timeout=self.timeout)
            except OSError as e:
                raise self._classify(e, f"connect to {self.server}:{self.port}") from e
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            self._sock = s
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    @staticmethod
    def _classify(e: BaseException, what: str) -> DnsError:
        if isinstance(e, DnsError):
            return e
        if isinstance(e, (dns.tsig.PeerError, dns.tsig.BadSignature, dns.message.UnknownTSIGKey,
                          dns.tsig.BadTime)):
            return DnsError(DnsErrorKind.TSIG, f"{what}: TSIG rejected ({type(e).__name__})")
        if isinstance(e, (dns.exception.Timeout, TimeoutError, socket.timeout)):
            return DnsError(DnsErrorKind.TIMEOUT, f"{what}: timed out")
        if isinstance(e, OSError | EOFError):
            return DnsError(DnsErrorKind.UNREACHABLE, f"{what}: {e}")
        return DnsError(DnsErrorKind.PROTOCOL, f"{what}: {type(e).__name__}: {e}")


class ProviderPool:
    """One provider (and TCP connection) per DNSZone object, rebuilt if its server moves.
    `via` (host, port) sends every zone's traffic through that address instead, e.g. a
    local proxy; the zone's own server stays what status reports."""

    def __init__(self, key: TsigKey, via: tuple[str, int] | None = None) -> None:
        self.key, self.via = key, via
        self._by_zone: dict[tuple[str, str], tuple[tuple[str, str, int], Rfc2136Provider]] = {}

    def get(self, zone_key: tuple[str, str], spec: Mapping[str, Any]) -> Rfc2136Provider:
        server = spec.get("server") or {}
        ident = (str(spec["zone"]), str(server["address"]), int(server.get("port", 53)))
        if self.via is not None:
            ident = (ident[0], *self.via)
        have = self._by_zone.get(zone_key)
        if have is None or have[0] != ident:
            if have is not None:
                have[1].close()
            have = (ident, Rfc2136Provider(*ident, key=self.key))
            self._by_zone[zone_key] = have
        return have[1]
