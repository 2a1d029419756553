"""What a DNSZone's and a DNSPlan's status say, as a function of what was read: the zone
object, its plans, DNS (or why DNS could not be read), and the enactors' reports.

Clean-up writes both (roles/cleanup.py); this module decides every condition and its
reason. The enactors' per-enactor entries (status.enactors.<id>) are typed here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from planguard.core import conditions, timefmt
from planguard.core.conditions import Condition
from planguard.core.dnsplan.cleanup import settle_wait, status_deferred, superseded
from planguard.core.dnsplan.enact import Choice, Decision, Verdict
from planguard.core.dnsplan.model import ZoneState
from planguard.core.dnsplan.selection import Candidate
from planguard.core.dnsplan.validate import Problem

# A plan carries Accepted only (False with the refusal's reason); earlier versions also
# wrote its mirror image, Refused, which is removed from plans they wrote.
RETIRED_PLAN_CONDITIONS = ("Refused",)
GUARD_CONDITIONS = ("Held", "EndpointsRefused")  # on a plan only while they hold
DEGRADED_MAX = 2000  # characters of Degraded's message (and of Ready's when degraded)


class EnactorEntry(TypedDict, total=False):
    """status.enactors.<enactor id>: what one enactor last did with the zone."""

    generation: int  # the plan it last applied (or found applied)
    appliedAt: str
    lastError: str  # set while its last attempt failed
    lastErrorKind: str
    lastErrorTime: str
    heartbeat: str  # refreshed while nothing changes, so a silent enactor shows


def applied_entry(generation: int, now: datetime) -> EnactorEntry:
    return {"generation": generation, "appliedAt": timefmt.seconds(now)}


def error_entry(message: str, kind: str, now: datetime) -> EnactorEntry:
    return {"lastError": message, "lastErrorKind": kind, "lastErrorTime": timefmt.seconds(now)}


# -- plans -------------------------------------------------------------------------------
def zone_missing(namespace: str, zone: str) -> Condition:
    """A plan naming a DNSZone that does not exist: never applied, and said so."""
    return Condition("Accepted", False, "ZoneNotFound",
                     f"DNSZone {zone!r} does not exist in namespace {namespace!r}; "
                     "nothing is written")


@dataclass(frozen=True)
class Timing:
    """When a valid plan's first status may be written (cleanup.status_deferred): seconds
    since the plan's newest part was created (-1 unknown), since a plan last arrived in its
    zone, and clean-up's cycle, settle and hold."""

    age: float = -1.0
    stream_age: float = -1.0
    cycle: float = 5.0
    settle: float = 0.0
    hold: float = 0.0


@dataclass(frozen=True)
class PlanStatus:
    conditions: tuple[Condition, ...] = ()
    deferred: bool = False  # nothing to write yet
    due: float | None = None  # deferred: seconds until it settles (None: the next cycle)

    @property
    def drop(self) -> tuple[str, ...]:
        """Types to remove: the retired ones, and guards that no longer hold."""
        have = {c.type for c in self.conditions}
        return (*RETIRED_PLAN_CONDITIONS, *(t for t in GUARD_CONDITIONS if t not in have))


def plan_status(c: Candidate, verdict: Sequence[Condition], state: ZoneState | None,
                live: Set[int], bases: Set[int], t: Timing) -> PlanStatus:
    """A plan's conditions: Accepted (the plan's own problems, or the authoring rules'
    refusal in `verdict`), the rules' other conditions, and for a valid plan while DNS is
    readable its phase, Live and Superseded. Phase only: these stay the same while newer
    plans come and go, so a plan's status is written when its phase changes."""
    problems = "; ".join(p.message for p in c.problems)
    reason = c.problems[0].reason if c.problems else ("Valid" if c.complete else "Waiting")
    conds = [Condition("Accepted", c.valid, reason,
                       "passed enactment checks" if c.valid else problems or c.waiting)]
    refusal = next((v for v in verdict if v.type == "Accepted"), None)
    if refusal is not None:
        conds = [refusal]
    conds.extend(v for v in verdict if v.type != "Accepted")
    if state is None or not c.valid or refusal is not None:
        return PlanStatus(tuple(conds))
    g, fence = c.plan.generation, state.fence_generation
    if status_deferred(g, live, fence, t.age, t.cycle, t.settle, t.stream_age, t.hold):
        return PlanStatus(deferred=True, due=settle_wait(t.age, t.settle, t.stream_age, t.hold))
    return PlanStatus((*conds, *phase(g, live, fence, bases)))


def phase(g: int, live: Set[int], fence: int | None, bases: Set[int]) -> list[Condition]:
    """Live and Superseded of generation `g`: the base of a plan in DNS is never superseded."""
    in_dns, fenced = g in live, g == fence
    base_of_live = g in bases
    sup = superseded(g, live, fence) and not base_of_live
    return [
        Condition("Live", in_dns or fenced, "InDNS" if in_dns or fenced else "NotInDNS",
                  "endpoints in DNS serve this plan and no newer one" if in_dns else
                  "the zone's active (fenced) generation" if fenced else
                  "no endpoint in DNS depends on this plan"),
        Condition("Superseded", sup,
                  "NewerPlanLive" if sup else "BaseOfLivePlan" if base_of_live
                  else "NotSuperseded",
                  "a newer generation is active and no endpoint serves this one" if sup else
                  "the base of a delta plan DNS may depend on" if base_of_live else ""),
    ]


def verdicts(choice: Choice) -> dict[str, list[Condition]]:
    """Per plan name, the conditions the authoring rules give it (authoring.py):
    Accepted=False for a refusal, Held=True while it waits for approval,
    EndpointsRefused=True while some of its endpoints are not written (both absent
    otherwise)."""
    out: dict[str, list[Condition]] = {}
    for c, d in choice.refused:
        p = d.problems[0]
        out[c.plan.name] = [Condition("Accepted", False, p.reason, p.message)]
    newest, decision = choice.candidate, choice.decision
    if newest is None or decision is None:
        return out
    conds, d = out.setdefault(newest.plan.name, []), decision
    if d.verdict is Verdict.REFUSED:
        conds.append(Condition("Accepted", False, d.problems[0].reason, d.problems[0].message))
    if d.verdict is Verdict.HELD:
        conds.append(Condition("Held", True, "Held", d.problems[0].message))
    if d.refused:
        conds.append(Condition("EndpointsRefused", True, d.refused[0].reason,
                               "; ".join(p.message for p in d.refused)[:4000]))
    return out


def age(objs: Iterable[Mapping[str, Any]], now: datetime) -> float:
    """Seconds since the newest of a plan's objects was created (API server clock); -1
    when any creationTimestamp is unknown, which never defers anything."""
    stamps = [o["metadata"].get("creationTimestamp") for o in objs]
    if not stamps or not all(stamps):
        return -1.0
    return (now - max(timefmt.parse(str(s)) for s in stamps)).total_seconds()


# -- zone --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unreadable:
    """Why DNS could not be read: the error's kind (dns/provider.DnsErrorKind's value)."""

    kind: str
    message: str = ""


@dataclass(frozen=True)
class ZoneRead:
    """What clean-up read for one zone this cycle."""

    paused: bool
    cands: Sequence[Candidate]  # the plans kept this cycle
    choice: Choice
    state: ZoneState | None  # None: DNS unreadable (see `unreadable`)
    depended: Set[int]  # generations DNS depends on (cleanup.depended_on)
    unreadable: Unreadable | None = None
    blocked: Problem | None = None  # this DNSZone may not act on its zone
    enactors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ZoneStatus:
    conditions: tuple[Condition, ...]
    fields: dict[str, Any]  # status fields besides conditions (observedGeneration aside)
    held: bool = False  # the newest plan waits for approval
    refused_endpoints: int = 0


def zone_status(r: ZoneRead, now: datetime, stale_enactor: float) -> ZoneStatus:
    """Paused, DNSReadable, Converged, Degraded and Ready, and the counts beside them."""
    conds = [Condition("Paused", r.paused, "Paused" if r.paused else "Running",
                       "spec.paused is true: no writes to this zone" if r.paused else "")]
    out: dict[str, Any] = {}
    newest, d = r.choice.candidate, r.choice.decision
    if newest is not None:
        out["newestPlan"] = newest.plan.generation
    converged, why = False, "DNS state unknown"
    if r.state is None:
        u = r.unreadable or Unreadable("unknown", "")
        conds += [Condition("DNSReadable", False, conditions.camel(u.kind), u.message),
                  Condition("Converged", False, "DNSUnreadable", why)]
    else:
        conds.append(Condition("DNSReadable", True, "ZoneTransferred", "zone transfer succeeded"))
        managed = [e for e in r.state.endpoints.values() if e.marker is not None]
        live = sorted(r.depended)
        out["activeGeneration"] = r.state.fence_generation
        out["liveGenerations"] = {"oldest": live[0], "newest": live[-1]} if live else {}
        out["endpoints"] = {"managed": len(managed),
                            "empty": sum(1 for e in managed if e.empty),
                            "orphaned": len(d.orphans) if d else 0}
        # What an enactor would do with the newest plan now: one decision serves both.
        converged, why = converged_now(newest, d, r.state)
        conds.append(Condition("Converged", converged,
                               "Converged" if converged else "Pending", why))
    problems = "; ".join(degraded(r, now, stale_enactor))[:DEGRADED_MAX]
    conds.append(Condition("Degraded", bool(problems),
                           "Problems" if problems else "Healthy", problems))
    stop = r.blocked or (d.problems[0] if d is not None and d.problems
                         and d.verdict in (Verdict.HELD, Verdict.REFUSED) else None)
    conds.append(ready(r.paused, r.unreadable if r.state is None else None, converged, why,
                       problems, stop))
    return ZoneStatus(tuple(conds), out, d is not None and d.verdict is Verdict.HELD,
                      len(d.refused) if d is not None else 0)


def degraded(r: ZoneRead, now: datetime, stale_enactor: float) -> list[str]:
    """What degrades the zone, in this order: refused plans (not being deleted), the
    newest plan's refused endpoints, DNS unreadable or endpoints left orphaned, then every
    enactor whose last error is younger than `stale_enactor` seconds."""
    out = [f"plan {c.plan.name} refused: {c.problems[0].message}"
           for c in r.cands if c.problems and not c.deleting]
    out += [f"plan {c.plan.name} refused: {d.problems[0].message}"
            for c, d in r.choice.refused if not c.deleting]
    newest, d = r.choice.candidate, r.choice.decision
    if d is not None and d.refused:
        out.append(f"{len(d.refused)} endpoint(s) of plan "
                   f"{newest.plan.name if newest else '?'} not written: "
                   + "; ".join(p.message for p in d.refused[:3]))
    if r.state is None:
        out.append(f"DNS unreadable: {r.unreadable.message if r.unreadable else ''}")
    elif d is not None and d.orphans:
        out.append(f"{len(d.orphans)} endpoint(s) in DNS not in the newest plan "
                   f"(left alone): {', '.join(d.orphans[:5])}")
    for eid, e in r.enactors.items():
        t = e.get("lastErrorTime")
        if t and (now - timefmt.parse(str(t))).total_seconds() < stale_enactor:
            out.append(f"enactor {eid}: {e.get('lastError')}")
    return out


def ready(paused: bool, unreadable: Unreadable | None, converged: bool, why: str,
          problems: str, stop: Problem | None = None) -> Condition:
    """Ready is what `kubectl wait --for=condition=Ready` users assume: DNS serves the
    newest valid plan, nothing is degraded and the zone is not paused. The reason is the
    first thing in the way, in this order: Paused, DNSUnreadable, `stop` (an authoring
    rule that stops every write, or holds the newest plan), Degraded, NotConverged."""
    if paused:
        return Condition("Ready", False, "Paused", "spec.paused is true: no writes")
    if unreadable is not None:
        return Condition("Ready", False, "DNSUnreadable", unreadable.message)
    if stop is not None:
        return Condition("Ready", False, stop.reason, stop.message)
    if problems:  # before NotConverged: often the reason it does not converge
        return Condition("Ready", False, "Degraded", problems)
    if not converged:
        return Condition("Ready", False, "NotConverged", why)
    return Condition("Ready", True, "Converged", why)


def converged_now(newest: Candidate | None, d: Decision | None,
                  state: ZoneState) -> tuple[bool, str]:
    """Whether DNS serves the newest valid plan, and what says so (or what is left)."""
    if newest is None or d is None:
        return False, "no valid plan"
    if d.verdict is Verdict.SUPERSEDED:
        return False, (f"{d.reasons[0]}, but no such plan exists: apply a plan with a "
                       f"generation above {state.fence_generation}")
    if d.verdict in (Verdict.HELD, Verdict.REFUSED):
        return False, f"plan {newest.plan.name}: {d.problems[0].message}"
    if d.writes or d.fence_new is not None:
        return False, (f"{len(d.writes)} endpoint(s) not yet at plan {newest.plan.name}; "
                       f"zone fence at {state.fence_generation}")
    return True, f"every endpoint serves plan {newest.plan.name}"
