"""Pipelined DNS exchanges on one TCP connection (RFC 7766 §6.2.1.1).

Up to `window` messages are in flight: the next is sent as soon as an answer arrives, so
the server always has work queued and no round trip is spent idle. Answers may come back
in any order; each is matched to its request by message ID and its TSIG is verified
against that request's MAC.
"""

from __future__ import annotations

import selectors
import socket
import struct
from collections.abc import Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.tsig

from planguard.core.deadline import Deadline
from planguard.dns.frames import FrameReader, send_frame
from planguard.dns.wire import SignedUpdate


def exchange(
    sock: socket.socket, msgs: Iterable[SignedUpdate], key: dns.tsig.Key | None,
    deadline: Deadline, step: float, window: int = 16,
) -> list[dns.rcode.Rcode]:
    """Sends `msgs`, returns their rcodes in the order of `msgs`. They are taken from the
    iterable only as the window allows, so building the next message overlaps the server's
    work on the ones in flight. The whole exchange ends by `deadline`, and each answer
    (each send) comes within `step` seconds of the last one, so a server that stops
    answering part-way fails in `step`, not at the end of a long batch. Raises on a
    transport or TSIG failure; a failure part-way leaves unknown which of the messages
    took effect."""
    pending: dict[int, tuple[int, SignedUpdate]] = {}  # message id -> (index, request)
    rcodes: list[dns.rcode.Rcode | None] = []
    source = iter(msgs)
    more = True
    reader = FrameReader(sock)
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        while more or pending:
            while more and len(pending) < window:
                m = next(source, None)
                if m is None:
                    more = False
                    break
                if m.id in pending:
                    raise ValueError("pipelined messages need distinct IDs")
                send_frame(sock, m.wire, deadline.sooner(step))
                pending[m.id] = (len(rcodes), m)
                rcodes.append(None)
            if not pending:
                break
            wire = reader.next_frame(deadline.sooner(step), sel)
            (mid,) = struct.unpack("!H", wire[:2])
            got = pending.pop(mid, None)
            if got is None:
                raise UnexpectedAnswer(mid)
            i, req = got
            resp = _answer(wire, key, req.mac)
            if not resp.flags & dns.flags.QR or resp.opcode() != dns.opcode.UPDATE:
                raise UnexpectedAnswer(mid)
            rcodes[i] = resp.rcode()
    return [r for r in rcodes if r is not None]


def _answer(wire: bytes, key: dns.tsig.Key | None, request_mac: bytes) -> dns.message.Message:
    """The answer, its TSIG verified. An unsigned answer to a signed request proves nothing,
    whatever it says: UnsignedAnswer, with its rcode for the error message."""
    keyring = None if key is None else {key.name: key}
    try:
        resp = dns.message.from_wire(wire, keyring=keyring, request_mac=request_mac)
    except dns.exception.FormError:
        plain = dns.message.from_wire(wire, ignore_trailing=True)
        if keyring is not None and not plain.had_tsig:
            raise UnsignedAnswer(plain.rcode()) from None
        raise
    if keyring is not None and not resp.had_tsig:
        raise UnsignedAnswer(resp.rcode())
    return resp


class UnsignedAnswer(Exception):
    def __init__(self, rcode: dns.rcode.Rcode) -> None:
        super().__init__(f"server answered {dns.rcode.to_text(rcode)} without a TSIG "
                         "signature: it did not accept this key, or updates from this client")
        self.rcode = rcode


class UnexpectedAnswer(Exception):
    def __init__(self, mid: int) -> None:
        super().__init__(f"answer with unexpected message id {mid}")


def alive(sock: socket.socket) -> bool:
    """False if the server has closed this idle connection (reads as EOF), so a kept
    connection can be replaced before anything is sent on it."""
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
