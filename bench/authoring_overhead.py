"""What the authoring rules (core/dnsplan/authoring.py) add to an enactor's decision, in process.

  .venv/bin/python bench/authoring_overhead.py                  # ~30 s
  .venv/bin/python bench/authoring_overhead.py --endpoints 25000 --rounds 5

The same plan and snapshot decided two ways, interleaved round by round so both see the
same machine: the baseline is core/dnsplan/enact.decide without rules (what the enactor did
before issue 28); the other is core/dnsplan/enact.choose with a DNSZone's Authority and the plan's
Consent (what it does now: the claim, generation bounds and digest, foreign names, the
change guard). Three cases: a first publish into an empty zone, a 10 % change, and a
converged zone (nothing to write). The plan's digest is computed once per plan object
(a cached property), as in the enactor; `--fresh-digest` counts it in every decision.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

from common import arguments
from planguard.core.dnsplan.authoring import Authority
from planguard.core.dnsplan.enact import choose, decide, update_steps
from planguard.core.dnsplan.model import Endpoint, Plan, Target
from planguard.core.dnsplan.selection import Candidate
from planguard.sim.memoryzone import MemoryZone


def plan(g: int, n: int, changed: float = 0.0) -> Plan:
    k = int(n * changed)
    return Plan(f"web-{g}", "web", g, tuple(
        Endpoint(f"e{i}", 60, tuple(Target(f"10.{1 + (i < k and g > 1)}.{i // 250}.{i % 250 + j}")
                                    for j in range(1, 5)))
        for i in range(n)))


def zone_at(p: Plan) -> MemoryZone:
    z = MemoryZone()
    for step in update_steps(decide(p, z.snapshot(), "a"), 400):
        assert z.write(step.writes, step.fence_expect, step.fence_new)
    return z


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--fresh-digest", action="store_true")
    args = arguments(ap, endpoints=50, rounds=2)
    n = args.endpoints
    auth = Authority(owner="team/web", zone="example.test")
    first, base = plan(1, n), plan(1, n)
    change = plan(2, n, 0.10)
    cases = {
        "first publish": (first, MemoryZone().snapshot()),
        "10 % change": (change, zone_at(base).snapshot()),
        "converged": (base, zone_at(base).snapshot()),
    }
    print(f"{n} endpoints x 4 targets, {args.rounds} rounds each, interleaved")
    print(f"{'case':<16}{'decide, no rules':>18}{'choose, rules':>16}{'ratio':>8}")
    for name, (p, state) in cases.items():
        old: list[float] = []
        new: list[float] = []
        for _ in range(args.rounds):
            q = replace(p) if args.fresh_digest else p  # a new object: digest not cached
            cand = Candidate(q, (), False, ({"metadata": {"annotations": {}}},))
            old += timed(lambda q=q, state=state: decide(q, state, "a"), 1)
            new += timed(lambda cand=cand, state=state: choose([cand], state, "a", None, auth),
                         1)
        a, b = statistics.median(old), statistics.median(new)
        print(f"{name:<16}{a * 1000:>15.2f} ms{b * 1000:>13.2f} ms{b / a:>8.2f}")


if __name__ == "__main__":
    main()
