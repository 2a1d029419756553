"""A server's addresses within the exchange's deadline: an address literal at once, a name
through the system resolver, and a lookup that hangs abandoned at the deadline."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from planguard.core.deadline import Deadline, DeadlineExceeded
from planguard.dns import resolve


def test_an_address_literal_and_a_real_name() -> None:
    got = resolve.addresses("127.0.0.1", 53, Deadline.within(1))
    assert [a[4] for a in got] == [("127.0.0.1", 53)]
    assert any(a[4][0] in ("127.0.0.1", "::1")
               for a in resolve.addresses("localhost", 53, Deadline.within(5)))
    with pytest.raises(socket.gaierror):
        resolve.addresses("bind.nosuch.invalid", 53, Deadline.within(5))


def test_a_lookup_that_hangs_ends_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system resolver's own timeouts (per server, per search domain) can add up to
    minutes; the exchange waits only until its deadline."""
    real, release = socket.getaddrinfo, threading.Event()

    def slow(host: str, *args: object, **kw: object) -> object:
        numeric = int(kw.get("flags", 0)) & socket.AI_NUMERICHOST  # type: ignore[call-overload]
        if host == "slow.example" and not numeric:  # a literal is never looked up
            release.wait(10)
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"within 0\.3 s"):
        resolve.addresses("slow.example", 53, Deadline.within(0.3))
    assert time.monotonic() - t0 < 1.0
    release.set()
