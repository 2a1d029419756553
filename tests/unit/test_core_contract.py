"""Plan names and part order, as the CRDs' CEL rules expect them."""

from planguard.core.contract import part_index, part_of, plan_name


def test_plan_names_follow_the_cel_rule():
    assert plan_name("dynamo", 7) == "dynamo-7"
    assert plan_name("dynamo", 7, part=2) == "dynamo-7-p2"


def test_parts_sort_by_index_and_a_plan_in_one_piece_is_part_0_of_1():
    objs = [{"spec": {"part": {"index": i, "count": 3}}} for i in (2, 0, 1)]
    assert [part_index(o) for o in sorted(objs, key=part_index)] == [0, 1, 2]
    assert part_of({"spec": {}}) == (0, 1) and part_of({}) == (0, 1)
