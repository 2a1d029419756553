"""A DNS server's addresses within an exchange's deadline.

getaddrinfo has no timeout of its own: a host name whose resolution is slow (the system
resolver's own timeouts and retries over every search domain) would hold the exchange
past its deadline. An address literal is taken at once; a name is looked up in a thread
of its own that the exchange stops waiting for at its deadline. At most LOOKUPS run at
once, so names that never resolve cannot pile up threads either.
"""

from __future__ import annotations

import socket
import threading

from planguard.core.deadline import Deadline, DeadlineExceeded

LOOKUPS = 16
_slots = threading.BoundedSemaphore(LOOKUPS)
# getaddrinfo's socket address: (host, port) for IPv4, (host, port, flowinfo, scope_id)
# for IPv6, (int, bytes) when Python is built without IPv6 support.
SockAddr = tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, SockAddr]


def addresses(host: str, port: int, deadline: Deadline) -> list[AddrInfo]:
    """getaddrinfo(host, port) for TCP, ending by `deadline` (DeadlineExceeded); its own
    errors (socket.gaierror, UnicodeError) as getaddrinfo raises them."""
    try:
        return list[AddrInfo](socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                 flags=socket.AI_NUMERICHOST))
    except (socket.gaierror, UnicodeError):
        pass  # a name, not an address: looked up below
    if not _slots.acquire(timeout=deadline.left()):
        raise DeadlineExceeded(deadline)
    done, box = threading.Event(), list[list[AddrInfo] | Exception]()

    def lookup() -> None:
        try:
            box.append(list[AddrInfo](socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
        except Exception as e:  # handed to the caller, if it still waits
            box.append(e)
        finally:
            _slots.release()
            done.set()

    threading.Thread(target=lookup, daemon=True, name="resolve").start()
    if not done.wait(deadline.left()):
        raise DeadlineExceeded(deadline)
    got = box[0]
    if isinstance(got, Exception):
        raise got
    return got
