"""Length-prefixed DNS messages over a stream: whole messages however the bytes arrive,
on a blocking and a non-blocking socket; a timeout and a closed stream told apart."""

from __future__ import annotations

import socket

import pytest

from planguard.dns.frames import FrameReader, frame


def test_messages_split_and_joined_arbitrarily_come_out_whole() -> None:
    a, b = socket.socketpair()
    with a, b:
        big = b"x" * 65535  # the largest a message can be
        stream = frame(big) + frame(b"hello") + frame(b"") + frame(b"z" * 3)
        b.settimeout(2)
        reader = FrameReader(b, chunk=7)
        a.sendall(stream[:3])
        assert reader.buf == b""  # nothing read before it is asked for
        a.sendall(stream[3:])
        assert reader.next_frame(2) == big
        assert reader.next_frame(2) == b"hello"
        assert reader.next_frame(2) == b""
        assert reader.next_frame(2) == b"zzz"


def test_non_blocking_waits_then_times_out() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        reader = FrameReader(b)
        a.sendall(frame(b"one") + frame(b"tw")[:3])
        assert reader.next_frame(1) == b"one"
        with pytest.raises(TimeoutError):
            reader.next_frame(0.2)  # half a message: still waiting at the deadline
        a.sendall(b"w")
        assert reader.next_frame(1) == b"tw"


def test_a_closed_stream_is_eof_not_a_timeout() -> None:
    a, b = socket.socketpair()
    with b:
        b.settimeout(2)
        a.sendall(frame(b"abc")[:4])
        a.close()
        with pytest.raises(EOFError):
            FrameReader(b).next_frame(2)
