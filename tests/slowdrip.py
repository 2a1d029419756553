"""An attacker's DNS server on loopback: every TCP connection is answered with a length of
65,535 bytes and then one byte every `interval` seconds, for as long as the client stays;
UDP queries are read and never answered. A per-read timeout never fires against it."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from targets import accept_each


class SlowDrip:
    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.connections = 0  # accepted so far, to show the victims did come
        self._stop = threading.Event()
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.tcp.getsockname()[1])
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp.settimeout(0.2)
        self.udp.settimeout(0.2)

    def __enter__(self) -> SlowDrip:
        threading.Thread(target=self._accept, daemon=True, name="slowdrip-tcp").start()
        threading.Thread(target=self._swallow, daemon=True, name="slowdrip-udp").start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self.tcp.close()
        self.udp.close()

    def _accept(self) -> None:
        accept_each(self.tcp, self._stop, self._drip)

    def _drip(self, conn: socket.socket) -> None:
        self.connections += 1
        with conn:
            try:
                conn.sendall(b"\xff\xff")  # a message of 65,535 bytes is coming...
                while not self._stop.wait(self.interval):
                    conn.sendall(b"\x00")  # ...one byte at a time
            except OSError:
                return  # the client gave up: the point

    def _swallow(self) -> None:
        while not self._stop.is_set():
            try:
                self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
