"""What a client saw of one planguard name, judged one lookup at a time: the decision of
`planguard canary` (a pod resolving names through the cluster's DNS, as applications do),
pure so that every rule has a unit test.

A name is `unpublished` until it first answers with an address: a name no plan has
published yet is not an outage. From then on an answer without an address (NXDOMAIN or
an empty NOERROR) is `empty`, the post-mortem's failure as a client saw it. A lookup that
got no answer at all (timeout, SERVFAIL, refused) is `failed`.

A marker generation below the highest this client has seen for the name is `stale` while
it is within `window` seconds of that highest one's first sight: the cluster DNS is several
caching resolvers, each keeping its copy for up to the answer's TTL, so a client may be
handed an older copy for that long after a plan. Later than that it is a `regression`: an
older plan served after a newer one, which no cache explains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Result = Literal["answered", "empty", "failed", "unpublished"]
RESULTS: tuple[Result, ...] = ("answered", "empty", "failed", "unpublished")


@dataclass(frozen=True)
class Seen:
    """One client's memory of one name."""

    published: bool = False
    highest: int = 0  # the highest marker generation answered
    since: float = 0.0  # when it was first answered


@dataclass(frozen=True)
class Verdict:
    result: Result
    regression: bool = False
    stale: bool = False  # an older copy, within the cache window
    connect: bool = False  # worth a connection: an address came back


def judge(seen: Seen, addresses: tuple[str, ...] | None, generation: int | None,
          now: float, window: float) -> tuple[Seen, Verdict]:
    """`addresses`: the answer (None: no answer came); `generation`: the name's marker in
    the same round (None: none answered). Returns the name's new memory and the verdict."""
    if addresses is None:
        return seen, Verdict("failed")
    older = generation is not None and generation < seen.highest
    stale = older and window > 0 and now - seen.since <= window
    regression = older and not stale
    if generation is not None and generation > seen.highest:
        seen = Seen(seen.published, generation, now)
    if addresses:
        return Seen(True, seen.highest, seen.since), Verdict("answered", regression, stale,
                                                             connect=True)
    return seen, Verdict("empty" if seen.published else "unpublished", regression, stale)
