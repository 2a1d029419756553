"""A key file that is read again when it changes: a Secret volume is updated in place by
the kubelet (an atomic symlink swap), so a rotated check-in key reaches the agents and the
lease manager within the kubelet's sync period, without a restart."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class KeyFile:
    def __init__(self, path: str, parse: Callable[[bytes], bytes]) -> None:
        self.path, self._parse = path, parse
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._key = b""
        self.get()  # a missing or bad key fails at start, not at the first check-in

    def get(self) -> bytes:
        """The key; re-read only when the file changed. A file that became unreadable or
        invalid keeps the last good key (the volume is mid-update, or broken: not a reason
        to stop every check-in)."""
        with self._lock:
            try:
                st = os.stat(self.path)
                seen = (st.st_ino, st.st_mtime_ns, st.st_size)
                if seen != self._seen:
                    with open(self.path, "rb") as f:
                        self._key = self._parse(f.read())
                    self._seen = seen
            except (OSError, ValueError):
                if not self._key:
                    raise
            return self._key
