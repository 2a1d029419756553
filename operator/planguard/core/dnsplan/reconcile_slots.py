"""Which zone reconciles may start now, so that slow or dead DNS servers cannot take the
threads every other zone needs.

Every reconcile holds a thread for at most a few DNS deadlines. A server that fails (a
slow drip, a dead address) still holds one for a whole deadline per attempt, so:
- no one server's zones hold more than `per_server` threads at once, in good standing or
  not (a tenant's many zones on one server, or a server that turns slow);
- zones on a server whose last exchange ran out of its deadline ("suspect") hold at most
  `suspect` threads in all, whatever the number of servers and zones.
The rest of the pool stays free for zones whose servers answer. Pure state, driven by
the role's loop (one thread): no lock. Memory is bounded: at most `max_suspects` suspect
servers are remembered (the oldest is forgotten first: it loses only its narrower lane,
never the per-server cap), so DNSZones made and deleted against ever new dead servers
cannot grow it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class Admission:
    per_server: int
    suspect: int
    max_suspects: int = 1024
    _running: dict[Hashable, tuple[Hashable, bool]] = field(default_factory=dict)
    _by_server: dict[Hashable, int] = field(default_factory=dict)
    _suspect_running: int = 0
    _suspect_servers: dict[Hashable, None] = field(default_factory=dict)  # oldest first

    def try_start(self, zone: Hashable, server: Hashable) -> bool:
        """Whether `zone` (whose DNS server is `server`) may start a reconcile now; if so it
        counts as running until end(zone)."""
        if zone in self._running:
            return False
        suspect = server in self._suspect_servers
        if self._by_server.get(server, 0) >= self.per_server:
            return False
        if suspect and self._suspect_running >= self.suspect:
            return False
        self._running[zone] = (server, suspect)
        self._by_server[server] = self._by_server.get(server, 0) + 1
        self._suspect_running += suspect
        return True

    def end(self, zone: Hashable, timed_out: bool) -> None:
        """The zone's reconcile ended; `timed_out`: an exchange with its server ran out of
        its deadline, and the server stays suspect until a reconcile of one of its zones
        ends without that (failures that cost no time, a refusal, do not count)."""
        got = self._running.pop(zone, None)
        if got is None:
            return
        server, suspect = got
        self._by_server[server] -= 1
        if not self._by_server[server]:
            del self._by_server[server]
        self._suspect_running -= suspect
        self._suspect_servers.pop(server, None)
        if timed_out:
            self._suspect_servers[server] = None
            if len(self._suspect_servers) > self.max_suspects:
                del self._suspect_servers[next(iter(self._suspect_servers))]

    def is_suspect(self, server: Hashable) -> bool:
        return server in self._suspect_servers
