"""Clean-up selection: never a plan DNS may depend on, whatever the inputs."""

from hypothesis import given
from hypothesis import strategies as st

from planguard.core.cleanup import PlanRef, needs_finalizer, select_deletions


def refs(*gens: int) -> list[PlanRef]:
    return [PlanRef(f"z-{g}", g) for g in gens]


def test_keeps_newest_n_and_live_ones():
    out = select_deletions(refs(1, 2, 3, 4, 5, 6), live={2, 6}, fence=6, keep=2)
    assert [p.generation for p in out] == [4, 3, 1]


def test_nothing_is_deleted_without_a_fence():
    assert select_deletions(refs(1, 2, 3), live=set(), fence=None, keep=1) == []


def test_plans_newer_than_the_fence_are_kept():
    out = select_deletions(refs(1, 2, 3, 9), live={2}, fence=2, keep=1)
    assert [p.generation for p in out] == [1]


def test_refused_plans_carry_no_finalizer():
    assert not needs_finalizer(PlanRef("z-9", 9, refused=True), set(), 3)
    assert needs_finalizer(PlanRef("z-9", 9), set(), 3)
    assert not needs_finalizer(PlanRef("z-1", 1), {2}, 3)


@given(
    gens=st.sets(st.integers(1, 40), min_size=1, max_size=20),
    live=st.sets(st.integers(1, 40), max_size=6),
    fence=st.one_of(st.none(), st.integers(1, 40)),
    keep=st.integers(0, 10),
)
def test_never_deletes_a_live_plan_the_fenced_one_or_anything_newer(gens, live, fence, keep):
    deleted = {p.generation for p in select_deletions(refs(*gens), live, fence, keep)}
    assert not deleted & live
    if fence is not None:
        assert all(g < fence for g in deleted)
    else:
        assert not deleted
    assert len(gens) - len(deleted) >= min(len(gens), max(keep, 1))
