"""One deadline for a whole exchange with a server (connect, every send, every read).

A timeout per socket operation bounds nothing: a server that sends one byte just before
each read would time out never. Every step of an exchange is given only what is left of
one deadline, so the whole exchange ends by it, however the bytes arrive. The clock is
injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    at: float  # on `clock`'s scale
    seconds: float  # the whole allowance, for the message that names it
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def within(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, seconds, clock)

    def left(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.clock() >= self.at

    def sooner(self, seconds: float) -> Deadline:
        """This deadline, or one `seconds` from now if that comes first (a step of an
        exchange with its own, shorter allowance)."""
        now = self.clock()
        return self if self.at <= now + seconds else Deadline(now + seconds, seconds,
                                                                  self.clock)


class DeadlineExceeded(TimeoutError):
    """The exchange did not finish within its deadline."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__(f"did not finish within {deadline.seconds:g} s")
        self.seconds = deadline.seconds


# A reconcile (read the zone, send every UPDATE) must end within a budget: DNS and API
# calls all have deadlines, so a worker silent for longer is wedged and liveness fails.
RECONCILE_BUDGET = 120.0


def reconcile_budget(dns_timeout: float) -> float:
    """At least a few DNS deadlines: a reconcile whose server is slow ends by the first
    deadline that runs out (a read, then up to a few UPDATEs), and is alive meanwhile."""
    return max(RECONCILE_BUDGET, 4 * dns_timeout)
