"""Delta plans: resolution against a full base, and every reason one is refused."""

from planguard.core.dnsplan import deltas
from planguard.core.dnsplan.model import Endpoint, Plan, Target


def ep(name: str, addr: str, **kw: bool) -> Endpoint:
    return Endpoint(name, 60, (Target(addr),) if addr else (), **kw)


BASE = Plan("z-1", "z", 1, (ep("a", "10.0.0.1"), ep("b", "10.0.0.2"), ep("c", "10.0.0.3")))


def test_a_delta_replaces_the_endpoints_it_lists_and_keeps_every_other():
    d = Plan("z-5", "z", 5, (ep("b", "10.0.9.9"), ep("new", "10.0.0.7"),
                             ep("c", "", remove=True)), uid="u5", base=1)
    full = deltas.resolve(d, BASE)
    assert [(e.name, e.remove) for e in full.endpoints] == [
        ("a", False), ("b", False), ("c", True), ("new", False)]
    assert full.endpoint("b") == ep("b", "10.0.9.9")
    assert full.endpoint("a") is BASE.endpoint("a")
    assert (full.name, full.generation, full.uid, full.base) == ("z-5", 5, "u5", 1)


def test_a_delta_is_refused_unless_its_base_is_an_older_valid_full_plan():
    d = Plan("z-5", "z", 5, (ep("a", "10.0.0.9"),), base=1)
    assert deltas.base_problem(d, BASE) is None
    assert deltas.base_problem(BASE, None) is None  # a full plan needs no base
    missing = deltas.base_problem(d, None)
    assert missing and missing.reason == "BaseMissing" and "generation 1" in missing.message
    chained = deltas.base_problem(d, Plan("z-1", "z", 1, BASE.endpoints, base=0))
    assert chained and chained.reason == "BaseIsDelta"
    bad = deltas.base_problem(d, BASE, base_valid=False)
    assert bad and bad.reason == "BaseNotValid"
    newer = deltas.base_problem(Plan("z-5", "z", 5, d.endpoints, base=5), BASE)
    assert newer and newer.reason == "InvalidBase"
