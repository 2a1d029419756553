from hypothesis import given
from hypothesis import strategies as st

from planguard.core.nodelease.availability_zones import (
    NORMAL_RATE,
    SECONDARY_RATE,
    Disruption,
    ZoneCount,
    taint_rates,
    zone_state,
)


def test_states_follow_the_node_lifecycle_controller():
    assert zone_state(ZoneCount(10, 2)) is Disruption.NORMAL
    assert zone_state(ZoneCount(2, 3)) is Disruption.PARTIAL  # 60 % and at least 3
    assert zone_state(ZoneCount(1, 2)) is Disruption.NORMAL  # 67 % but only 2 lapsed
    assert zone_state(ZoneCount(0, 4)) is Disruption.FULL


def test_rates_slow_in_partial_stop_small_zones_and_freeze_when_all_look_dead():
    r = taint_rates({"a": ZoneCount(100, 1), "b": ZoneCount(40, 60), "c": ZoneCount(2, 8),
                     "d": ZoneCount(0, 7)}, dependency_ok=True)
    assert r == {"a": NORMAL_RATE, "b": SECONDARY_RATE, "c": 0.0, "d": 0.0}
    assert set(taint_rates({"a": ZoneCount(0, 5), "b": ZoneCount(0, 9)}, True).values()) == {0}
    assert set(taint_rates({"a": ZoneCount(100, 1)}, dependency_ok=False).values()) == {0}


@given(st.dictionaries(st.sampled_from("abcd"),
                       st.builds(ZoneCount, st.integers(0, 200), st.integers(0, 200)),
                       min_size=1), st.booleans())
def test_rates_never_exceed_the_normal_rate_and_freeze_without_the_dependency(zones, ok):
    r = taint_rates(zones, ok)
    assert all(0 <= v <= NORMAL_RATE for v in r.values())
    if not ok:
        assert not any(r.values())
