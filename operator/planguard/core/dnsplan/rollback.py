"""`planguard rollback --to G`: which plan may be rolled back to."""

from __future__ import annotations

from collections.abc import Iterable

from planguard.core.dnsplan.selection import Candidate


def source(cands: Iterable[Candidate], zone: str, generation: int) -> Candidate | str:
    """The plan whose content a rollback to `generation` copies, or why there is none:
    it must still exist, be complete and be valid (a delta already resolved against its
    base, so the new plan stands alone)."""
    found = next((c for c in cands if c.plan.generation == generation), None)
    if found is None:
        return (f"no plan of zone {zone} has generation {generation} (clean-up may have "
                "deleted it)")
    if found.problems or not found.complete:
        why = found.problems[0].message if found.problems else found.waiting
        return f"plan {found.plan.name} cannot be rolled back to: {why}"
    return found
