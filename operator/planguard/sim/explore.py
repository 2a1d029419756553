"""Every interleaving, for small cases: breadth-first over all reachable worlds.

Actions: the planner publishes the next plan; each enactor reads (and decides) or sends its
next write; an enactor crashes, losing its in-flight work; clean-up runs. Checked on every
state and transition; the first violation comes back with the shortest schedule to it.

Authoring (issue 28): every enactor acts for a DNSZone and decides under its rules. With
`claimants=2` a second DNSZone (RIVAL: another namespace or cluster) names the same DNS
zone, with one enactor and plans of its own created over time; `hostile` makes its second
plan HOSTILE (2^53, far beyond any jump bound, annotated as a deliberate jump, so only the
zone's claim stands in its way); `typo` slips TYPO among the team's own plans (no
annotation: only the generation bound stands in its way). `start`: "empty" (nobody has
claimed the zone: the claimants race for it), "claimed" (the team's plan 1 is applied),
"legacy" (a fence at LEGACY written before any rules, above every plan, and the team's
DNSZone re-bases it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

from planguard.core.dnsplan.authoring import Authority, Consent
from planguard.core.dnsplan.enact import decide, update_steps
from planguard.core.dnsplan.markers import fence_text, marker_text
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target
from planguard.sim.invariants import newest_applies, state_violations, transition_violations
from planguard.sim.protocols import Protocol_
from planguard.sim.world import DNS_ZONE, TEAM, Dns, Enactor, Rival, Setup, World

RIVAL = "other/steal"
HOSTILE = 2**53  # the CRDs' maximum generation: once in the fence, no plan can follow it
TYPO = 30_000_000_002  # "3" with extra digits: far beyond the default jump bound
LEGACY = 2**63 - 1  # a fence written before generations were bounded
STARTS = ("empty", "claimed", "legacy")


@dataclass(frozen=True)
class Config:
    enactors: int = 3
    generations: int = 4
    endpoints: int = 2
    crashes: bool = True
    keep: int = 1
    small_changes: bool = False  # endpoint i moves only every (i+1)th generation
    # Delta plans (core/dnsplan/deltas.py): every `deltas`-th generation (1, 1+deltas, ...) is full,
    # the others list only what differs from that base. 0: every plan is full.
    deltas: int = 0
    claimants: int = 1  # 2: a second DNSZone (RIVAL) with one enactor of its own
    hostile: bool = False  # the rival's second plan has generation HOSTILE
    typo: bool = False  # the team creates a plan at generation TYPO after its plan 2
    start: str = "empty"  # what DNS holds at first: one of STARTS
    # An enactor may decide from its cached snapshot (own writes included) however stale
    # (core/dnsplan/enactment.Reads): the compare-and-swap must make that safe.
    reuse: bool = True
    # A user may `kubectl delete` any of the team's plans at any moment, applied or not, live
    # or not; the API server removes it then or, while the live-plan finalizer holds it,
    # once it is no longer live (core/dnsplan/enactment.withdrawn).
    withdraw: bool = False


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
    names = _endpoint_names(cfg)

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


def _endpoint_names(cfg: Config) -> list[str]:
    return ["api", "ipv6", "fips", "acct"][: cfg.endpoints]


def rival_for(cfg: Config) -> Rival | None:
    """The second DNSZone's plans: an ordinary one (generation 5, its own numbering), then,
    with `hostile`, one at HOSTILE that says the jump is deliberate. Both serve other
    addresses at the team's names."""
    if cfg.claimants < 2:
        return None
    names = _endpoint_names(cfg)

    def plan(g: int, octet: int) -> Plan:
        return Plan(f"steal-{octet}", "steal", g, tuple(
            Endpoint(n, 60, (Target(f"10.66.{i}.{octet}"),)) for i, n in enumerate(names)))
    plans = (plan(5, 5), *((plan(HOSTILE, 66),) if cfg.hostile else ()))
    return Rival(Authority(owner=RIVAL, zone=DNS_ZONE), plans,
                 {HOSTILE: Consent(allow_jump=True)})


def initial(cfg: Config) -> World:
    if cfg.start not in STARTS:
        raise ValueError(f"start {cfg.start!r}: one of {', '.join(STARTS)}")
    plans = plans_for(cfg)
    order = tuple(sorted(plans))
    team = Authority(owner=TEAM, zone=DNS_ZONE,
                     rebase_from=LEGACY if cfg.start == "legacy" else None)
    if cfg.typo:
        plans[TYPO] = Plan(f"p{TYPO}", "z", TYPO, tuple(
            Endpoint(n, 60, (Target(f"10.0.{i}.99"),))
            for i, n in enumerate(_endpoint_names(cfg))))
        order = (*order[:2], TYPO, *order[2:])
    rival = rival_for(cfg)
    enactors = tuple(Enactor(n) for n in "ABCDEFG"[: cfg.enactors])
    if rival is not None:
        enactors += (Enactor("X", owner=RIVAL),)
    w = World(plans=plans, enactors=enactors, setup=Setup(
        order, frozenset({TYPO} if cfg.typo else ()), {TEAM: team}, rival=rival))
    if cfg.start == "claimed":  # the team's zone is live: its plan 1 applied by A
        d = decide(plans[1], Dns().snapshot(), "A", None, team)
        dns: Dns | None = Dns()
        for step in update_steps(d, 100):
            dns = dns.cas(step) if dns is not None else None
        assert dns is not None
        w = replace(w, published=1, dns=dns).with_enactor(Enactor("A", applied=1))
    elif cfg.start == "legacy":  # written by a version without rules: no owner, no bound
        dns = Dns(fence=fence_text(LEGACY, "old"))
        for i, n in enumerate(_endpoint_names(cfg)):
            dns = dns.with_endpoint(EndpointState(
                n, marker=marker_text(LEGACY, "legacy", "old"), generation=LEGACY,
                a=frozenset({f"10.9.{i}.9"}), ttl=60))
        w = replace(w, dns=dns)
    return w


def actions(w: World, cfg: Config, proto: Protocol_) -> Iterator[tuple[str, World, str]]:
    if w.published < len(w.sequence):
        g = w.sequence[w.published]
        yield "planner", replace(w, published=w.published + 1), f"planner created plan {g}"
    rival = w.setup.rival
    if rival is not None and w.rival_published < len(rival.plans):
        p = rival.plans[w.rival_published]
        yield "X.planner", replace(w, rival_published=w.rival_published + 1), \
            f"{rival.auth.owner}'s planner created its plan {p.generation}"
    for e in w.enactors:
        if e.pending:
            for i in range(proto.in_flight(e.pending)):
                w2, msg = proto.send(w, e.name, i)
                yield f"{e.name}.send" + (f"[{i}]" if i else ""), w2, msg
            if cfg.crashes:
                yield f"{e.name}.crash", w.with_enactor(
                    replace(e, plan=0, pending=(), snapshot=None)), \
                    "crashed and restarted, in-flight work and snapshot lost"
        else:
            w2, msg = proto.read(w, e.name)
            if w2.key() != w.key():
                yield f"{e.name}.read", w2, msg
            if cfg.reuse and e.snapshot is not None and e.snapshot != w.dns:
                w2, msg = proto.reuse(w, e.name)
                if w2.key() != w.key():
                    yield f"{e.name}.reuse", w2, msg
    if cfg.withdraw:
        yield from withdrawals(w)
    for e in w.enactors:
        if e.applied and e.owner == TEAM:  # the rival's clean-up is not modelled
            w2, msg = proto.cleanup(w, e.name, cfg.keep)
            if w2.key() != w.key():
                yield f"{e.name}.cleanup", w2, msg


def user_deletes(w: World, g: int, finalized: bool = True) -> World:
    """A user `kubectl delete`s plan `g`: a live one stays, held by the clean-up's
    finalizer, unless the deletion came before the clean-up put it there (`finalized`)."""
    held = w.held | {g} if finalized and g == w.live_generation() else w.held
    return replace(w, withdrawn=w.withdrawn | {g}, held=held)


def withdrawals(w: World) -> Iterator[tuple[str, World, str]]:
    """Every deletion a user may start now, and every removal the API server may make. A
    live plan is deleted both with the finalizer in place and in the moment before."""
    live = w.live_generation()
    for g in w.existing():
        if w.removable(g):
            yield "api.remove", replace(w, deleted=w.deleted | {g}), \
                f"the API server removed plan {g}, deleted by a user"
        if g in w.withdrawn:
            continue
        yield "user.delete", user_deletes(w, g), f"a user deleted plan {g}" + (
            ": the live-plan finalizer holds it" if g == live else "")
        if g == live:
            yield "user.delete", user_deletes(w, g, finalized=False), \
                f"a user deleted live plan {g} before the clean-up's finalizer held it"


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
