"""Event aggregation as Kubernetes' event recorder does it: an Event identical to a recent
one (same object, type, reason, message and source) raises that Event's count and
lastTimestamp instead of creating another object. The memory is a bounded LRU."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Seen:
    name: str  # the Event object's name
    count: int
    first: float  # when it was created (clock seconds)


class RecentEvents:
    def __init__(self, size: int = 1024, window: float = 600.0) -> None:
        self.size, self.window = size, window
        self._seen: OrderedDict[Hashable, Seen] = OrderedDict()

    def lookup(self, key: Hashable, now: float) -> Seen | None:
        """The Event to raise the count of, or None: a new Event is posted."""
        s = self._seen.get(key)
        if s is None or now - s.first >= self.window:
            self._seen.pop(key, None)
            return None
        self._seen.move_to_end(key)
        return s

    def record(self, key: Hashable, seen: Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)
