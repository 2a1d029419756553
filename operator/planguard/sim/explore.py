"""Every interleaving, for small cases: breadth-first over all reachable worlds.

Actions: the planner publishes the next plan; each enactor reads (and decides) or sends its
next write; an enactor crashes, losing its in-flight work; clean-up runs. Checked on every
state and transition; the first violation comes back with the shortest schedule to it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

from planguard.core.model import Endpoint, Plan, Target
from planguard.sim.invariants import newest_applies, state_violations, transition_violations
from planguard.sim.protocols import Protocol_
from planguard.sim.world import Enactor, World


@dataclass(frozen=True)
class Config:
    enactors: int = 3
    generations: int = 4
    endpoints: int = 2
    crashes: bool = True
    keep: int = 1
    small_changes: bool = False  # endpoint i moves only every (i+1)th generation
    # Delta plans (core/deltas.py): every `deltas`-th generation (1, 1+deltas, ...) is full,
    # the others list only what differs from that base. 0: every plan is full.
    deltas: int = 0


@dataclass
class Result:
    protocol: str
    states: int
    transitions: int
    violation: str | None = None
    trace: list[tuple[str, str]] | None = None  # (action, what happened)


def plans_for(cfg: Config) -> dict[int, Plan]:
    """Each generation moves every endpoint to a new address, so regressions are visible;
    with `small_changes`, endpoint i moves only every (i+1)th generation, so older markers
    stay on endpoints a newer plan reproduces (what clean-up must attribute correctly)."""
    names = ["api", "ipv6", "fips", "acct"][: cfg.endpoints]

    def version(i: int, g: int) -> int:
        return (g + i) // (i + 1) if cfg.small_changes else g

    def endpoints(g: int) -> tuple[Endpoint, ...]:
        return tuple(Endpoint(n, 60, (Target(f"10.0.{i}.{version(i, g)}"),))
                     for i, n in enumerate(names))
    full = {g: Plan(f"p{g}", "z", g, endpoints(g)) for g in range(1, cfg.generations + 1)}
    if not cfg.deltas:
        return full
    out = {}
    for g, plan in full.items():
        base = g - (g - 1) % cfg.deltas
        if base == g:
            out[g] = plan
            continue
        have = set(full[base].endpoints)
        changed = tuple(e for e in plan.endpoints if e not in have) or plan.endpoints[:1]
        out[g] = Plan(plan.name, "z", g, changed, base=base)
    return out


def initial(cfg: Config) -> World:
    return World(plans=plans_for(cfg),
                 enactors=tuple(Enactor(n) for n in "ABCDEFG"[: cfg.enactors]))


def actions(w: World, cfg: Config, proto: Protocol_) -> Iterator[tuple[str, World, str]]:
    if w.published < cfg.generations:
        yield "planner", replace(w, published=w.published + 1), \
            f"planner created plan {w.published + 1}"
    for e in w.enactors:
        if e.pending:
            for i in range(proto.in_flight(e.pending)):
                w2, msg = proto.send(w, e.name, i)
                yield f"{e.name}.send" + (f"[{i}]" if i else ""), w2, msg
            if cfg.crashes:
                yield f"{e.name}.crash", w.with_enactor(replace(e, plan=0, pending=())), \
                    "crashed and restarted, in-flight work lost"
        else:
            w2, msg = proto.read(w, e.name)
            if w2.key() != w.key():
                yield f"{e.name}.read", w2, msg
    for e in w.enactors:
        if e.applied:
            w2, msg = proto.cleanup(w, e.name, cfg.keep)
            if w2.key() != w.key():
                yield f"{e.name}.cleanup", w2, msg


def explore(proto: Protocol_, cfg: Config, max_states: int = 2_000_000) -> Result:
    start = initial(cfg)
    parent: dict[object, tuple[object, str, str] | None] = {start.key(): None}
    queue = deque([start])
    transitions = 0

    def trace(key: object) -> list[tuple[str, str]]:
        out = []
        while (p := parent[key]) is not None:
            key, action, msg = p
            out.append((action, msg))
        return out[::-1]

    while queue:
        w = queue.popleft()
        for action, w2, msg in actions(w, cfg, proto):
            transitions += 1
            k2 = w2.key()
            if k2 in parent:
                continue
            parent[k2] = (w.key(), action, msg)
            bad = transition_violations(w, w2) + state_violations(w2)
            stuck = newest_applies(w2, proto)
            if stuck:
                bad.append(stuck)
            if bad:
                return Result(proto.name, len(parent), transitions, "; ".join(bad), trace(k2))
            if len(parent) >= max_states:
                return Result(proto.name, len(parent), transitions,
                              f"state limit {max_states} reached without a verdict")
            queue.append(w2)
    return Result(proto.name, len(parent), transitions)


def random_schedules(
    proto: Protocol_, cfg: Config, schedules: int, steps: int, seed: int
) -> Result:
    """Seeded random walks for configurations too large to exhaust. Each schedule starts
    from the initial world and takes up to `steps` random actions; invariants are checked
    on every step. The seed of a failing run reproduces it exactly."""
    import random

    rng = random.Random(seed)
    transitions = 0
    for n in range(1, schedules + 1):
        w = initial(cfg)
        path: list[tuple[str, str]] = []
        for _ in range(steps):
            options = list(actions(w, cfg, proto))
            if not options:
                break
            action, w2, msg = options[rng.randrange(len(options))]
            transitions += 1
            path.append((action, msg))
            bad = transition_violations(w, w2) + state_violations(w2)
            stuck = newest_applies(w2, proto)
            if stuck:
                bad.append(stuck)
            if bad:
                return Result(proto.name, n, transitions,
                              f"schedule {n} (seed {seed}): " + "; ".join(bad), path)
            w = w2
    return Result(proto.name, schedules, transitions)
