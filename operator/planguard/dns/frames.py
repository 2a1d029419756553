"""DNS messages over TCP: each one prefixed by its two-byte length (RFC 1035 4.2.2).

Sockets here are non-blocking and every wait is given what is left of the exchange's one
deadline (core/deadline.py), so a server that drips its answer a byte at a time cannot
hold an exchange past it."""

from __future__ import annotations

import selectors
import socket
import struct

from planguard.core.deadline import Deadline, DeadlineExceeded

_LENGTH = struct.Struct("!H")


def frame(wire: bytes) -> bytes:
    """`wire` as sent on a stream: its length first."""
    return _LENGTH.pack(len(wire)) + wire


def send_frame(sock: socket.socket, wire: bytes, deadline: Deadline) -> None:
    """Sends one message on a non-blocking socket, waiting while the server's window is
    full, up to `deadline`."""
    data = memoryview(frame(wire))
    while data:
        try:
            data = data[sock.send(data):]
        except BlockingIOError:
            _wait(sock, selectors.EVENT_WRITE, deadline, None)
        if data and deadline.expired():
            raise DeadlineExceeded(deadline)


class FrameReader:
    """Whole messages from a non-blocking stream, however the bytes arrive."""

    def __init__(self, sock: socket.socket, chunk: int = 65536) -> None:
        self.sock, self.chunk, self.buf = sock, chunk, bytearray()

    def next_frame(self, deadline: Deadline, sel: selectors.BaseSelector | None = None) -> bytes:
        """The next message, waited on (with `sel`, if the caller has one registered for
        reading) up to `deadline`. Raises DeadlineExceeded, or EOFError when the server
        closes the stream."""
        while True:
            if len(self.buf) >= 2:
                (n,) = _LENGTH.unpack_from(self.buf)
                if len(self.buf) >= 2 + n:
                    message = bytes(self.buf[2:2 + n])
                    del self.buf[:2 + n]
                    return message
            if deadline.expired():  # checked even while bytes keep coming
                raise DeadlineExceeded(deadline)
            try:
                data = self.sock.recv(self.chunk)
            except BlockingIOError:
                _wait(self.sock, selectors.EVENT_READ, deadline, sel)
                continue
            if not data:
                raise EOFError("DNS server closed the connection")
            self.buf += data


def _wait(sock: socket.socket, event: int, deadline: Deadline,
          sel: selectors.BaseSelector | None) -> None:
    left = deadline.left()
    if left > 0:
        if sel is not None:
            if sel.select(left):
                return
        else:
            with selectors.DefaultSelector() as s:
                s.register(sock, event)
                if s.select(left):
                    return
    raise DeadlineExceeded(deadline)
