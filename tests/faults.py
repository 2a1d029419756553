"""`python -m faults stop-after-decide GENERATION -- ARGS...`: `planguard ARGS` (an
enactor) with a fault injected from outside production code: once, after it has read DNS
and decided its writes for GENERATION and before it sends them, the enactor's own thread
stops the process (SIGSTOP), the exact point where the post-mortem's enactor stalled."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

from planguard import cli


def stop_after_decide(generation: int) -> Callable[[int], None]:
    fired = threading.Event()

    def hook(g: int) -> None:
        if g == generation and not fired.is_set():
            fired.set()
            # Directed at this thread: a process-wide kill() lets the calling thread run on
            # for a moment while another thread starts the group stop, long enough to send.
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
    return hook


def main(argv: list[str]) -> int:
    fault, generation, sep, *args = argv
    if fault != "stop-after-decide" or sep != "--":
        print(__doc__, file=sys.stderr)
        return 2
    return cli.main(args, after_decide=stop_after_decide(int(generation)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
