"""Connecting to the DNS server is one step of an exchange: a SYN nobody answers (a
Service's rule still sending it to a pod that is gone) fails in one timeout, not in the
deadline of the whole batch of UPDATEs (n timeouts), so the enactor soon tries again on a
new connection."""

from __future__ import annotations

import socket
import time

import pytest

from planguard.core.dnsplan.enact import UpdateStep
from planguard.dns.provider import DnsError, DnsErrorKind
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import TsigKey

KEY = TsigKey("k.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")


def test_an_unanswered_connect_fails_in_one_step_however_many_updates_are_sent() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        # Nothing accepts: once the accept queue is full the kernel drops every new SYN.
        held = []
        try:
            while True:
                c = socket.socket()
                held.append(c)
                c.settimeout(0.2)
                c.connect(("127.0.0.1", port))
        except TimeoutError:
            pass
        p = Rfc2136Provider("example.test", "127.0.0.1", port, KEY, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(DnsError) as e:
            p.write_steps([UpdateStep((), None, None)] * 20)  # a deadline of 20 x 0.3 s
        took = time.monotonic() - t0
        for c in held:
            c.close()
    assert e.value.kind == DnsErrorKind.TIMEOUT
    assert "within 0.3 s" in str(e.value)
    assert took < 1.5, took
