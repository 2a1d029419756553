"""DNS messages over TCP: each one prefixed by its two-byte length (RFC 1035 4.2.2). One
reader for the zone transfer (a blocking socket with its own timeout) and the pipelined
UPDATEs (a non-blocking socket, waited on with a selector)."""

from __future__ import annotations

import selectors
import socket
import struct
import time

_LENGTH = struct.Struct("!H")


def frame(wire: bytes) -> bytes:
    """`wire` as sent on a stream: its length first."""
    return _LENGTH.pack(len(wire)) + wire


class FrameReader:
    """Whole messages from a stream, however the bytes arrive."""

    def __init__(self, sock: socket.socket, chunk: int = 65536) -> None:
        self.sock, self.chunk, self.buf = sock, chunk, bytearray()

    def next_frame(self, timeout: float, sel: selectors.BaseSelector | None = None) -> bytes:
        """The next message. A blocking socket times out by its own timeout; a
        non-blocking one is waited on (with `sel`, if the caller has one) up to `timeout`.
        Raises TimeoutError, or EOFError when the server closes the stream."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                (n,) = _LENGTH.unpack_from(self.buf)
                if len(self.buf) >= 2 + n:
                    message = bytes(self.buf[2:2 + n])
                    del self.buf[:2 + n]
                    return message
            try:
                data = self.sock.recv(self.chunk)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not _readable(self.sock, sel, left):
                    raise TimeoutError("DNS server did not answer in time") from None
                continue
            if not data:
                raise EOFError("DNS server closed the connection")
            self.buf += data


def _readable(sock: socket.socket, sel: selectors.BaseSelector | None, timeout: float) -> bool:
    if sel is not None:
        return bool(sel.select(timeout))
    with selectors.DefaultSelector() as s:
        s.register(sock, selectors.EVENT_READ)
        return bool(s.select(timeout))
