"""The authoring side's rules: who may write a DNS zone, which generations may follow the
one in DNS, which names planguard may touch, and when a plan waits for a person.

The compare-and-swap keeps racing enactors safe; these rules keep racing *authors* safe (a
second team, a typo, a recreated plan, a careless giant change). Every rule here is
decided from the exact snapshot the compare-and-swap then guards, so what is refused here
can never slip in between the check and the write:

- one owner per DNS zone: the fence record names its owner, and a plan of any other
  owner is refused (`ZoneClaimed`) before anything is written; a hand-over is an
  explicit annotation naming the claim it replaces;
- bounded generations: a plan more than `max_jump` above the fence is refused unless it
  says so itself; a fence left too high is lowered only by an explicit re-base naming it;
- a generation names one content: the fence carries the digest of the plan that raised
  it, and another content under the same generation is refused;
- never adopt what planguard did not write: a name holding records without a marker is
  refused for that endpoint only (unless the zone lists it as adoptable), and so is a
  name planguard can never write (beside a CNAME, below a delegation, too long);
- a plan that changes more than a share of the zone's records is held until approved
  for exactly its digest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from planguard.core.contract import (
    ADOPT_FROM_ANNOTATION,
    ALLOW_JUMP_ANNOTATION,
    APPROVE_ANNOTATION,
    REBASE_ANNOTATION,
)
from planguard.core.dnsplan.model import MARKER_LABEL, Plan, ZoneState, plan_from_object
from planguard.core.dnsplan.validate import Problem

MAX_GENERATION = 2**53  # the CRDs' maximum: JavaScript-safe, and room for every later plan
DEFAULT_MAX_JUMP = 1_000_000
DEFAULT_CHANGE_PERCENT = 30  # octoDNS's default for zones of 10 records or more
DEFAULT_CHANGE_MIN = 10
NAME_MAX = 253  # presentation length of a name (255 octets on the wire)
# Types that leave no room for an address record beside them or below them.
_EXCLUSIVE = frozenset({"CNAME", "DNAME"})
_DELEGATION = "NS"

_OWNER = re.compile(r"(?:^|[\s\"])owner=([^\s\"]+)")
_DIGEST = re.compile(r"(?:^|[\s\"])d=([0-9a-f]+)")


def normal_zone(zone: str) -> str:
    """One spelling per DNS zone: lowercase, no trailing dot ("Ten.Test." -> "ten.test")."""
    return zone.strip().rstrip(".").lower()


def owner_id(namespace: str, name: str, cluster: str = "") -> str:
    """The claim a DNSZone object writes into its zone's fence: `[cluster:]namespace/name`.
    The same object recreated under the same name is the same owner; another namespace,
    another name or another cluster (its `--owner-id`) is not. Long ones are shortened to a
    digest, so the fence's TXT string stays far below 255 octets."""
    text = f"{cluster}:{namespace}/{name}" if cluster else f"{namespace}/{name}"
    text = re.sub(r"[^a-z0-9._:/-]", "-", text.lower())  # one TXT word, no quotes
    if len(text) > 100:
        text = f"{text[:60]}~{hashlib.blake2b(text.encode(), digest_size=8).hexdigest()}"
    return text


def owner_of(fence: str | None) -> str | None:
    """The owner a fence text names; None when it names none (absent, or written before
    claims existed: the next write of its zone claims it)."""
    if fence is None:
        return None
    m = _OWNER.search(fence)
    return m.group(1) if m else None


def digest_of(fence: str | None) -> str | None:
    if fence is None:
        return None
    m = _DIGEST.search(fence)
    return m.group(1) if m else None


def plan_digest(plan: Plan) -> str:
    """What the plan says, as 16 hex digits (model.Plan.digest: computed once per plan)."""
    return plan.digest


@dataclass(frozen=True)
class ChangeGuard:
    """A plan changing or removing more than `percent` % of the zone's managed endpoints
    waits for approval; zones with fewer than `min_records` are never held."""

    percent: int = DEFAULT_CHANGE_PERCENT
    min_records: int = DEFAULT_CHANGE_MIN

    def holds(self, changed: int, managed: int) -> bool:
        return self.percent < 100 and managed >= self.min_records \
            and changed * 100 > self.percent * managed


@dataclass(frozen=True)
class Authority:
    """What the zone's owner (its DNSZone object) allows, read once per reconcile.
    `owner` None turns claims off (the simulator and tests of other rules)."""

    owner: str | None = None
    zone: str = ""  # the DNS zone's name, normal_zone()
    adoptable: frozenset[str] = frozenset()
    adopt_from: str | None = None  # hand-over: the claim in DNS this owner replaces
    rebase_from: int | None = None  # re-base: the fence generation this owner may lower
    max_jump: int = DEFAULT_MAX_JUMP
    guard: ChangeGuard | None = ChangeGuard()


@dataclass(frozen=True)
class Consent:
    """What a plan's own objects say about themselves."""

    approved: frozenset[str] = frozenset()  # digests approved (planguard approve)
    allow_jump: bool = False


def authority_of(zone: Mapping[str, Any], cluster: str = "") -> Authority:
    """A DNSZone object's rules (spec and the two one-shot annotations)."""
    meta, spec = zone.get("metadata") or {}, zone.get("spec") or {}
    notes = meta.get("annotations") or {}
    guard_spec = spec.get("changeGuard") or {}
    percent = int(guard_spec.get("maxChangePercent", DEFAULT_CHANGE_PERCENT))
    rebase = str(notes.get(REBASE_ANNOTATION, "")).strip()
    return Authority(
        owner=owner_id(str(meta.get("namespace", "")), str(meta.get("name", "")), cluster),
        zone=normal_zone(str(spec.get("zone", ""))),
        adoptable=frozenset(str(n).lower() for n in spec.get("adoptable") or ()),
        adopt_from=(str(notes[ADOPT_FROM_ANNOTATION]).strip().lower()
                    if notes.get(ADOPT_FROM_ANNOTATION) else None),
        rebase_from=int(rebase) if rebase.isdigit() else None,
        max_jump=int(spec.get("maxGenerationJump", DEFAULT_MAX_JUMP)),
        guard=ChangeGuard(percent, int(guard_spec.get("minRecords", DEFAULT_CHANGE_MIN)))
        if percent < 100 else None,
    )


def approved(body: dict[str, Any]) -> dict[str, Any]:
    """A full plan object to create, carrying the approval of its own content: for writers
    whose own limits stand in for a person's review (the planner's velocity control, an
    explicit `planguard rollback`)."""
    notes = body.setdefault("metadata", {}).setdefault("annotations", {})
    notes[APPROVE_ANNOTATION] = plan_from_object(body).digest
    return body


def consent_of(objs: Iterable[Mapping[str, Any]]) -> Consent:
    """Approvals and a deliberate generation jump, from any object (part) of a plan."""
    approved: set[str] = set()
    jump = False
    for o in objs:
        notes = (o.get("metadata") or {}).get("annotations") or {}
        if notes.get(APPROVE_ANNOTATION):
            approved.add(str(notes[APPROVE_ANNOTATION]).strip().lower())
        jump = jump or str(notes.get(ALLOW_JUMP_ANNOTATION, "")).lower() == "true"
    return Consent(frozenset(approved), jump)


# -- zone-level rules -----------------------------------------------------------------
def claim_problem(state: ZoneState, auth: Authority) -> Problem | None:
    """Refusal when the zone's fence names another owner (and no hand-over names it)."""
    held_by = owner_of(state.fence)
    if auth.owner is None or held_by is None or held_by == auth.owner \
            or held_by == auth.adopt_from:
        return None
    return Problem(
        "ZoneClaimed",
        f"zone {auth.zone or '?'} is claimed in DNS by {held_by} (its fence record "
        f"{MARKER_LABEL} says owner={held_by}); this DNSZone ({auth.owner}) writes nothing "
        f"to it. To take it over on purpose, annotate this DNSZone "
        f"{ADOPT_FROM_ANNOTATION}={held_by}",
    )


def claims_anew(state: ZoneState, auth: Authority) -> bool:
    """Whether the next write must (re)write the fence to carry this owner's claim."""
    return auth.owner is not None and owner_of(state.fence) != auth.owner


def floor_of(g: int, fence: int | None, older_accepted: int = 0) -> int:
    """What a plan's generation may jump from: the newest of the fence (when it is not
    above the plan) and the zone's older plans that were themselves accepted; 0 for the
    first plan of an empty zone. So neither a first plan, nor a plan a re-base brings
    the fence down to, nor a second typo counting on the first can leave no room."""
    return max(older_accepted, fence if fence is not None and fence <= g else 0)


def generation_problem(plan: Plan, digest: str, state: ZoneState, auth: Authority,
                       consent: Consent, floor: int | None = None) -> Problem | None:
    """A generation far above the fence or the zone's older accepted plans (`floor`,
    floor_of()), or the fence's generation with other content."""
    g, fence = plan.generation, state.fence_generation
    if floor is None:
        floor = floor_of(g, fence)
    if g > MAX_GENERATION:
        return Problem("GenerationTooHigh", f"generation {g} is above the maximum "
                                            f"{MAX_GENERATION}")
    if g - floor > auth.max_jump and not consent.allow_jump:
        since = f"the zone's newest accepted generation ({floor})" if floor else \
            "0 (the zone has no accepted plan yet)"
        return Problem(
            "GenerationJump",
            f"generation {g} is {g - floor} above {since}, more than {auth.max_jump} "
            f"(spec.maxGenerationJump): a typo would leave no room for the next plan. "
            f"Annotate the plan {ALLOW_JUMP_ANNOTATION}=true if it is meant")
    have = digest_of(state.fence)
    if fence == g and have is not None and have != digest:
        return Problem(
            "GenerationReused",
            f"generation {g} was applied with other content (digest {have}); this plan's "
            f"content is {digest}: a generation names one content, give it a new one")
    return None


def rebases(plan: Plan, state: ZoneState, auth: Authority) -> bool:
    """The owner lowers a fence left too high (by a typo, or before bounds existed) to
    this plan: only the exact fence generation the DNSZone's annotation names."""
    fence = state.fence_generation
    return fence is not None and fence > plan.generation and auth.rebase_from == fence


# -- endpoint-level rules ---------------------------------------------------------------
def endpoint_refusals(plan: Plan, state: ZoneState, auth: Authority) -> dict[str, Problem]:
    """Endpoints of `plan` that may not be written, each with why; the plan's other
    endpoints are written as usual."""
    out: dict[str, Problem] = {}
    delegated = {n for n, types in state.foreign.items() if _DELEGATION in types and n != "@"}
    for e in plan.endpoints:
        why = _endpoint_problem(e.name, state, auth, delegated)
        if why is not None:
            out[e.name] = why
    return out


def _endpoint_problem(name: str, state: ZoneState, auth: Authority,
                      delegated: set[str]) -> Problem | None:
    # Cheap checks first: this runs for every endpoint of a plan that is not converged.
    where = f"endpoint {name!r}"
    if auth.zone and len(MARKER_LABEL) + len(name) + len(auth.zone) + 2 > NAME_MAX:
        longest = f"{MARKER_LABEL}.{name}.{auth.zone}"
        return Problem("NameTooLong",
                       f"{where}: its marker's owner name {longest[:40]}... is "
                       f"{len(longest)} characters, more than DNS allows ({NAME_MAX})")
    if delegated and "." in name:
        labels = name.split(".")
        for i in range(1, len(labels)):
            if ".".join(labels[i:]) in delegated:
                return Problem("BelowDelegation",
                               f"{where}: {'.'.join(labels[i:])} is delegated (NS records) "
                               "to other servers; names below it are not this zone's")
    foreign = state.foreign.get(name, frozenset())
    if foreign & _EXCLUSIVE or _DELEGATION in foreign:
        return Problem("ForeignRecords",
                       f"{where}: the name holds {', '.join(sorted(foreign))} records, "
                       "which leave no room for addresses; planguard does not touch it")
    st = state.endpoint(name)
    if st.marker is None and (not st.empty or foreign) and name not in auth.adoptable:
        held = sorted({*foreign, *(["A"] if st.a else []), *(["AAAA"] if st.aaaa else []),
                       *(["LUA"] if st.lua else [])})
        return Problem("ForeignRecords",
                       f"{where}: the name holds {', '.join(held)} records planguard did "
                       f"not write (no {MARKER_LABEL} marker); it is not overwritten. "
                       "List it in the DNSZone's spec.adoptable to take it over")
    return None


def change_share(changed: int, managed: int) -> str:
    return f"{changed} of {managed} managed endpoints ({100 * changed // max(managed, 1)} %)"


def first_claimants(zones: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str],
                                                                   tuple[str, str]]:
    """DNSZone objects that name a DNS zone (on the same server) an older DNSZone already
    names, any namespace, any spelling: (namespace, name) -> the older one's. The oldest
    (then by namespace/name) keeps the zone; the others write nothing. The claim in DNS
    (the fence's owner) settles what Kubernetes cannot see: other clusters and installs."""
    by_zone: dict[tuple[str, str, int], list[tuple[str, str, str]]] = {}
    for z in zones:
        meta, spec = z.get("metadata") or {}, z.get("spec") or {}
        server = spec.get("server") or {}
        ident = (normal_zone(str(spec.get("zone", ""))),
                 str(server.get("address", "")).rstrip(".").lower(), int(server.get("port", 53)))
        by_zone.setdefault(ident, []).append(
            (str(meta.get("creationTimestamp", "")), str(meta.get("namespace", "")),
             str(meta.get("name", ""))))
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for claimants in by_zone.values():
        claimants.sort()
        first = claimants[0][1:]
        for c in claimants[1:]:
            out[c[1:]] = first
    return out


def rival_problem(zone: str, first: tuple[str, str]) -> Problem:
    return Problem(
        "ZoneClaimed",
        f"DNSZone {first[0]}/{first[1]} already names DNS zone {zone} on this server; one "
        f"DNS zone has one owner, so this DNSZone writes nothing. Delete one of them, or "
        f"hand the zone over explicitly (docs/how-to/multiple-teams.md)")
