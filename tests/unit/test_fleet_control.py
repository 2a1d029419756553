"""The fleet simulator's controls take only well-formed bodies (a bad one changes nothing)
and its port only a loopback address."""

import json

import pytest

from planguard.fleet import FleetState, loopback_only


def _state() -> FleetState:
    return FleetState(nodes={"n0": "zone-a", "n1": "zone-b", "n2": "zone-a"})


def test_controls_apply() -> None:
    s = _state()
    s.control({"down": ["n1"], "latency": 0.5, "outage": True})
    assert (s.down, s.latency, s.outage) == ({"n1"}, 0.5, True)
    s.control({"zone_down": "zone-a", "up": ["n1"]})
    assert s.down == {"n0", "n2"}
    s.control({"zone_up": "zone-a", "outage": False, "latency": 0})
    assert (s.down, s.latency, s.outage) == (set(), 0.0, False)


@pytest.mark.parametrize("body", [
    {"latency": float("inf")}, {"latency": float("nan")}, {"latency": -1}, {"latency": 61},
    {"latency": "1"}, {"latency": True}, {"outage": "yes"}, {"outage": 1},
    {"down": "n1"}, {"down": [1]}, {"down": {"n1": 1}}, {"up": [None]},
    {"zone_down": ["zone-a"]}, {"shutdown": True}, [], "down",
])
def test_a_bad_body_is_refused_and_changes_nothing(body: object) -> None:
    s = _state()
    s.control({"down": ["n1"]})
    with pytest.raises(ValueError):
        s.control(body if not isinstance(body, dict) else {"down": ["n0"], **body})
    assert (s.down, s.latency, s.outage) == ({"n1"}, 0.0, False)


def test_json_infinity_is_not_a_number_here() -> None:
    from planguard.fleet import _no_constant
    with pytest.raises(ValueError):
        json.loads('{"latency": Infinity}', parse_constant=_no_constant)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1"])
def test_loopback_listens(host: str) -> None:
    assert loopback_only(host) == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "localhost", "", "example.test"])
def test_anything_else_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        loopback_only(host)
