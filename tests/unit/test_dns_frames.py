"""Length-prefixed DNS messages over a stream: whole messages however the bytes arrive; one
deadline for a whole exchange, however slowly the bytes drip; a timeout and a closed
stream told apart."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from planguard.core.deadline import Deadline, DeadlineExceeded
from planguard.dns.frames import FrameReader, frame, send_frame


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    b.setblocking(False)  # the reader's end, as every exchange's socket is
    return a, b


def test_messages_split_and_joined_arbitrarily_come_out_whole() -> None:
    a, b = pair()
    with a, b:
        big = b"x" * 65535  # the largest a message can be
        stream = frame(big) + frame(b"hello") + frame(b"") + frame(b"z" * 3)
        reader = FrameReader(b, chunk=7)
        a.sendall(stream[:3])
        assert reader.buf == b""  # nothing read before it is asked for
        threading.Thread(target=a.sendall, args=(stream[3:],)).start()
        d = Deadline.within(5)
        assert reader.next_frame(d) == big
        assert reader.next_frame(d) == b"hello"
        assert reader.next_frame(d) == b""
        assert reader.next_frame(d) == b"zzz"


def test_waits_then_times_out_at_the_deadline() -> None:
    a, b = pair()
    with a, b:
        reader = FrameReader(b)
        a.sendall(frame(b"one") + frame(b"tw")[:3])
        assert reader.next_frame(Deadline.within(1)) == b"one"
        with pytest.raises(DeadlineExceeded, match=r"within 0\.2 s"):
            reader.next_frame(Deadline.within(0.2))  # half a message at the deadline
        a.sendall(b"w")
        assert reader.next_frame(Deadline.within(1)) == b"tw"


def test_a_server_that_drips_a_byte_at_a_time_fails_at_the_deadline() -> None:
    """The attack: a 65,535-byte message announced, then one byte every 50 ms. A timeout
    per read never fires (each read gets a byte in time); the exchange's deadline does."""
    a, b = pair()
    stop = threading.Event()

    def drip() -> None:
        a.sendall(b"\xff\xff")
        while not stop.wait(0.05):
            a.sendall(b"x")

    with a, b:
        threading.Thread(target=drip, daemon=True).start()
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"within 0\.6 s"):
            FrameReader(b).next_frame(Deadline.within(0.6))
        took = time.monotonic() - t0
        stop.set()
        assert 0.55 < took < 1.0, took


def test_a_reader_that_never_reads_fails_the_send_at_the_deadline() -> None:
    """The other direction: a server that stops reading fills the socket's buffers."""
    a, b = pair()
    with a, b:
        d = Deadline.within(0.3)
        with pytest.raises(DeadlineExceeded):
            for _ in range(10_000):  # far more than any socket buffer
                send_frame(b, b"x" * 65535, d)
        assert d.expired()


def test_a_closed_stream_is_eof_not_a_timeout() -> None:
    a, b = pair()
    with b:
        a.sendall(frame(b"abc")[:4])
        a.close()
        with pytest.raises(EOFError):
            FrameReader(b).next_frame(Deadline.within(2))
