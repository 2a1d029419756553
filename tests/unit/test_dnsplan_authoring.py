"""The authoring rules (core/dnsplan/authoring.py) through the enactor's decision: pure, no I/O."""

from dataclasses import replace

from planguard.core.dnsplan import authoring
from planguard.core.dnsplan.authoring import Authority, ChangeGuard, Consent
from planguard.core.dnsplan.enact import Verdict, choose, decide, update_steps
from planguard.core.dnsplan.markers import TXT_MAX, fence_text, marker_text
from planguard.core.dnsplan.model import Endpoint, EndpointState, Plan, Target, ZoneState
from planguard.core.dnsplan.selection import candidates
from planguard.sim.memoryzone import MemoryZone

TEAM = Authority(owner="team/web", zone="ten.test")
THIEF = Authority(owner="other/steal", zone="ten.test")
NONE = Consent()


def plan(g: int, **eps: tuple[str, ...]) -> Plan:
    return Plan(f"web-{g}", "web", g, tuple(
        Endpoint(n, 60, tuple(Target(a) for a in addrs)) for n, addrs in eps.items()))


def apply(zone: MemoryZone, p: Plan, auth: Authority = TEAM, consent: Consent = NONE,
          writer: str = "a") -> Verdict:
    d = decide(p, zone.snapshot(), writer, None, auth, consent)
    if d.verdict is Verdict.APPLY:
        for step in update_steps(d, 10):
            assert zone.write(step.writes, step.fence_expect, step.fence_new)
    return d.verdict


def plan_obj(g: int, annotations: dict[str, str] | None = None,
             **eps: tuple[str, ...]) -> dict:
    return {"metadata": {"name": f"web-{g}", "namespace": "team", "uid": f"u{g}",
                         "annotations": annotations or {}},
            "spec": {"zone": "web", "generation": g,
                     "endpoints": [{"name": n, "addresses": list(a)} for n, a in eps.items()]}}


# -- one owner per zone ---------------------------------------------------------------
def test_the_first_write_claims_the_zone_and_another_owner_is_refused():
    z = MemoryZone()
    assert apply(z, plan(1, api=("10.0.0.1",))) is Verdict.APPLY
    assert authoring.owner_of(z.fence) == "team/web"
    d = decide(plan(2**40, api=("10.9.9.9",)), z.snapshot(), "x", None, THIEF)
    assert d.verdict is Verdict.REFUSED and not d.writes
    assert d.problems[0].reason == "ZoneClaimed"
    assert "claimed in DNS by team/web" in d.problems[0].message
    assert "planguard.io/adopt-from=team/web" in d.problems[0].message
    # The team's next plan is served as if nothing happened.
    assert apply(z, plan(2, api=("10.0.0.2",))) is Verdict.APPLY
    assert z.endpoints["api"].a == {"10.0.0.2"}


def test_a_hand_over_names_the_claim_it_replaces():
    z = MemoryZone()
    apply(z, plan(3, api=("10.0.0.1",)))
    wrong = replace(THIEF, adopt_from="team/other")
    assert decide(plan(4, api=("10.0.0.2",)), z.snapshot(), "x", None, wrong).verdict \
        is Verdict.REFUSED
    heir = replace(THIEF, adopt_from="team/web")
    assert apply(z, plan(3, api=("10.0.0.1",)), heir) is Verdict.APPLY  # same generation
    assert authoring.owner_of(z.fence) == "other/steal"
    assert decide(plan(4, api=("10.0.0.2",)), z.snapshot(), "a", None, TEAM).verdict \
        is Verdict.REFUSED  # the old owner is now the other one


def test_a_fence_from_before_claims_is_claimed_by_the_next_write():
    z = MemoryZone(fence=fence_text(2, "a"))
    d = decide(plan(2, api=("10.0.0.1",)), z.snapshot(), "a", None, TEAM)
    assert d.verdict is Verdict.APPLY and "owner=team/web" in (d.fence_new or "")


def test_two_dnszones_of_one_dns_zone_any_spelling_any_namespace():
    def zone(ns: str, name: str, dns_zone: str, created: str, port: int = 53) -> dict:
        return {"metadata": {"namespace": ns, "name": name, "creationTimestamp": created},
                "spec": {"zone": dns_zone, "server": {"address": "127.0.0.1", "port": port}}}
    zones = [zone("team", "web", "ten.test", "2026-01-01T00:00:00Z"),
             zone("other", "steal", "TEN.test.", "2026-01-02T00:00:00Z"),
             zone("team", "web2", "ten.test.", "2026-01-03T00:00:00Z"),
             zone("team", "elsewhere", "ten.test", "2026-01-03T00:00:00Z", port=5353)]
    rivals = authoring.first_claimants(zones)
    assert rivals == {("other", "steal"): ("team", "web"), ("team", "web2"): ("team", "web")}
    assert authoring.normal_zone("Ten.Test.") == "ten.test"


def test_owner_ids_are_one_txt_word():
    assert authoring.owner_id("ns", "web", "c1") == "c1:ns/web"
    long = authoring.owner_id("n" * 63, "w" * 200)
    assert len(long) <= 100 and " " not in long and '"' not in long
    assert authoring.owner_id("ns", "web", 'we"ird id') == "we-ird-id:ns/web"


# -- bounded generations and a way back --------------------------------------------------
def test_a_generation_far_above_the_fence_is_refused_and_never_blocks_the_next():
    z = MemoryZone()
    apply(z, plan(5, api=("10.0.0.1",)))
    cands = candidates([plan_obj(5, api=("10.0.0.1",)),
                        plan_obj(9_000_000_000_000_000, api=("10.9.9.9",)),
                        plan_obj(6, api=("10.0.0.6",))])
    choice = choose(cands, z.snapshot(), "a", None, TEAM)
    assert choice.candidate is not None and choice.candidate.plan.generation == 6
    (bad, d), = choice.refused
    assert bad.plan.generation == 9_000_000_000_000_000
    assert d.problems[0].reason == "GenerationJump"
    assert "more than 1000000 (spec.maxGenerationJump)" in d.problems[0].message


def test_a_deliberate_jump_says_so_on_the_plan():
    z = MemoryZone()
    apply(z, plan(5, api=("10.0.0.1",)))
    cands = candidates([plan_obj(10**12, {"planguard.io/allow-generation-jump": "true"},
                                 api=("10.0.0.2",))])
    assert choose(cands, z.snapshot(), "a", None, TEAM).decision.verdict is Verdict.APPLY
    assert decide(plan(2**53 + 1, api=("10.0.0.3",)), MemoryZone().snapshot(), "a", None,
                  TEAM, Consent(allow_jump=True)).verdict is Verdict.REFUSED


def test_a_fence_left_too_high_is_lowered_by_an_explicit_rebase_only():
    """The issue's frozen zone: 2^63-1 written by a version without bounds."""
    z = MemoryZone()
    frozen = 2**63 - 1
    legacy = decide(plan(frozen, api=("10.9.9.9",), www=("10.9.9.8",)), z.snapshot(), "x")
    for step in update_steps(legacy, 10):
        assert z.write(step.writes, step.fence_expect, step.fence_new)
    assert decide(plan(7, api=("10.0.0.7",)), z.snapshot(), "a", None, TEAM).verdict \
        is Verdict.SUPERSEDED
    wrong = replace(TEAM, rebase_from=frozen - 1)
    assert decide(plan(7, api=("10.0.0.7",)), z.snapshot(), "a", None, wrong).verdict \
        is Verdict.SUPERSEDED
    rebase = replace(TEAM, rebase_from=frozen)
    assert apply(z, plan(7, api=("10.0.0.7",), www=("10.0.0.8",)), rebase) is Verdict.APPLY
    assert z.snapshot().fence_generation == 7
    assert z.endpoints["api"].generation == 7 and z.endpoints["www"].a == {"10.0.0.8"}
    # The annotation is spent: it names a fence that is no longer there.
    assert apply(z, plan(8, api=("10.0.0.8",), www=("10.0.0.8",)), rebase) is Verdict.APPLY
    assert z.endpoints["api"].generation == 8


def test_a_marker_above_the_fence_is_overwritten_not_obeyed():
    """Only a re-base (or a hand edit) can leave one: no write of the protocol puts an
    endpoint above the fence. Obeying it would freeze that endpoint for good."""
    z = MemoryZone(fence=fence_text(3, "a", "team/web"), endpoints={
        "api": EndpointState("api", marker=marker_text(2**60, "x", "a"),
                             generation=2**60, a=frozenset({"10.9.9.9"}), ttl=60)})
    d = decide(plan(4, api=("10.0.0.4",)), z.snapshot(), "a", None, TEAM)
    assert [w.name for w in d.writes] == ["api"] and not d.newer


def test_a_generation_names_one_content():
    z = MemoryZone()
    apply(z, plan(3, api=("10.0.0.1",)))
    assert authoring.digest_of(z.fence) == plan(3, api=("10.0.0.1",)).digest
    d = decide(plan(3, api=("10.6.6.6",)), z.snapshot(), "b", None, TEAM)
    assert d.verdict is Verdict.REFUSED and d.problems[0].reason == "GenerationReused"
    assert plan(3, api=("10.0.0.1",)).digest in d.problems[0].message
    again = decide(plan(3, api=("10.0.0.1",)), z.snapshot(), "b", None, TEAM)
    assert again.verdict is Verdict.APPLY and not again.writes and again.fence_new is None


def test_the_digest_is_the_content():
    a = Plan("p", "z", 1, (Endpoint("a", 60, (Target("10.0.0.1"), Target("10.0.0.2"))),
                           Endpoint("b", 60, (Target("10.0.0.3"),))))
    shuffled = Plan("q", "z", 2, (Endpoint("b", 60, (Target("10.0.0.3"),)),
                                  Endpoint("a", 60, (Target("10.0.0.2"), Target("10.0.0.1")))))
    assert a.digest == shuffled.digest and len(a.digest) == 16
    for other in (Endpoint("b", 61, (Target("10.0.0.3"),)),
                  Endpoint("b", 60, (Target("10.0.0.4"),)),
                  Endpoint("b", 60, (Target("10.0.0.3", weight=2),)),
                  Endpoint("b", 60, (), remove=True)):
        assert replace(a, endpoints=(a.endpoints[0], other)).digest != a.digest


# -- never adopt what planguard did not write -------------------------------------------
def foreign_zone() -> ZoneState:
    return ZoneState(endpoints={
        "ns": EndpointState("ns", a=frozenset({"127.0.0.1"}), ttl=60),
        "api": EndpointState("api", marker=marker_text(1, "web-1", "a"), generation=1,
                             a=frozenset({"10.0.0.1"}), ttl=60),
    }, foreign={"@": frozenset({"NS"}), "www": frozenset({"CNAME"}),
                "sub": frozenset({"NS"}), "mail": frozenset({"MX"})})


def test_names_planguard_did_not_write_are_refused_one_by_one():
    p = plan(2, api=("10.0.0.2",), ns=("10.9.9.9",), www=("10.0.0.3",),
             **{"a.sub": ("10.0.0.4",), "mail": ("10.0.0.5",), "new": ("10.0.0.6",)})
    d = decide(p, foreign_zone(), "a", None, TEAM)
    assert d.verdict is Verdict.APPLY
    assert sorted(w.name for w in d.writes) == ["api", "new"]
    why = {p.message.split("'")[1]: p for p in d.refused}
    assert set(why) == {"ns", "www", "a.sub", "mail"}
    assert why["ns"].reason == "ForeignRecords" and "A records planguard did not" in \
        why["ns"].message and "spec.adoptable" in why["ns"].message
    assert "CNAME" in why["www"].message and why["a.sub"].reason == "BelowDelegation"


def test_adoptable_names_are_taken_over_but_never_beside_a_cname():
    auth = replace(TEAM, adoptable=frozenset({"ns", "www", "mail"}))
    d = decide(plan(2, ns=("10.0.0.9",), www=("10.0.0.3",), mail=("10.0.0.5",)),
               foreign_zone(), "a", None, auth)
    assert sorted(w.name for w in d.writes) == ["mail", "ns"]
    assert [p.reason for p in d.refused] == ["ForeignRecords"]


def test_a_name_too_long_for_dns_is_refused_alone():
    auth = replace(TEAM, zone="z" * 63 + ".test")
    name = ".".join(["a" * 60] * 3) + ".b"
    d = decide(plan(1, **{name: ("10.0.0.1",), "ok": ("10.0.0.2",)}), ZoneState(), "a",
               None, auth)
    assert [w.name for w in d.writes] == ["ok"]
    assert d.refused[0].reason == "NameTooLong" and "more than DNS allows" in \
        d.refused[0].message


def test_marker_text_fits_one_txt_string():
    text = marker_text(2**53, "p" * 253, "enactor-a", removed=True)
    assert len(text) - 2 <= TXT_MAX and text.startswith('"gen=9007199254740992 plan=ppp')


# -- a guard against large changes ------------------------------------------------------
def zone_of(n: int) -> MemoryZone:
    z = MemoryZone()
    apply(z, plan(1, **{f"e{i}": (f"10.0.0.{i}",) for i in range(n)}))
    return z


def changing(g: int, n: int, k: int) -> Plan:
    return plan(g, **{f"e{i}": (f"10.0.{1 if i < k else 0}.{i}",) for i in range(n)})


def test_a_change_of_more_than_30_percent_is_held_until_approved_for_its_digest():
    z = zone_of(20)
    p = changing(2, 20, 7)
    d = decide(p, z.snapshot(), "a", None, TEAM)
    assert d.verdict is Verdict.HELD and not d.writes
    assert "7 of 20 managed endpoints (35 %)" in d.problems[0].message
    assert f"planguard approve web-2 (digest {p.digest})" in d.problems[0].message
    other = Consent(approved=frozenset({changing(2, 20, 8).digest}))
    assert decide(p, z.snapshot(), "a", None, TEAM, other).verdict is Verdict.HELD
    assert apply(z, p, consent=Consent(approved=frozenset({p.digest}))) is Verdict.APPLY
    assert apply(z, changing(3, 20, 6)) is Verdict.APPLY  # 6 of 20 (30 %): not more than


def test_small_zones_and_an_open_guard_are_never_held():
    assert decide(changing(2, 9, 9), zone_of(9).snapshot(), "a", None, TEAM).verdict \
        is Verdict.APPLY
    loose = replace(TEAM, guard=ChangeGuard(percent=60))
    assert decide(changing(2, 20, 12), zone_of(20).snapshot(), "a", None, loose).verdict \
        is Verdict.APPLY
    assert not ChangeGuard(percent=100).holds(50, 50)


def test_authority_of_reads_the_dnszone():
    auth = authoring.authority_of({
        "metadata": {"namespace": "team", "name": "web", "annotations": {
            "planguard.io/adopt-from": "Old/Web", "planguard.io/rebase-fence": "99"}},
        "spec": {"zone": "Ten.Test.", "adoptable": ["ns"], "maxGenerationJump": 10,
                 "changeGuard": {"maxChangePercent": 100}}}, cluster="c")
    assert auth == Authority(owner="c:team/web", zone="ten.test", adoptable=frozenset({"ns"}),
                             adopt_from="old/web", rebase_from=99, max_jump=10, guard=None)


def test_a_typo_is_bounded_on_an_empty_zone_in_a_rebase_and_behind_another_typo():
    """Found by the model checker: bounded only against a fence below the plan, a typo
    could be a zone's first write or what a re-base lowers the fence to."""
    typo, worse = 30_000_000_002, 30_000_000_003
    cands = candidates([plan_obj(1, api=("10.0.0.1",)), plan_obj(typo, api=("10.9.9.9",)),
                        plan_obj(worse, api=("10.9.9.8",))])
    choice = choose(cands, ZoneState(), "a", None, TEAM)
    assert choice.candidate.plan.generation == 1
    assert sorted(c.plan.generation for c, _ in choice.refused) == [typo, worse]
    alone = choose(candidates([plan_obj(typo, api=("10.9.9.9",))]), ZoneState(), "a", None,
                   TEAM)
    assert alone.candidate is None
    assert "above 0 (the zone has no accepted plan yet)" in alone.refused[0][1].problems[0].message
    frozen = ZoneState(fence=fence_text(2**63 - 1, "x"), fence_generation=2**63 - 1)
    rebase = replace(TEAM, rebase_from=2**63 - 1)
    again = choose(cands, frozen, "a", None, rebase)
    assert again.candidate.plan.generation == 1 and again.decision.verdict is Verdict.APPLY


def test_careless_annotations_grant_nothing():
    """Only the exact forms count: a re-base names a generation in digits, a jump says
    "true", an approval is a digest; anything else is as if absent."""
    zone = {"metadata": {"namespace": "team", "name": "web", "annotations": {
        "planguard.io/rebase-fence": "9e18", "planguard.io/adopt-from": ""}},
        "spec": {"zone": "ten.test"}}
    auth = authoring.authority_of(zone)
    assert auth.rebase_from is None and auth.adopt_from is None
    for jump in ("yes", "1", "True ", ""):
        obj = plan_obj(10**12, {"planguard.io/allow-generation-jump": jump}, api=("10.0.0.2",))
        assert authoring.consent_of([obj]).allow_jump is (jump.lower() == "true")
    z = zone_of(20)
    p = changing(2, 20, 7)
    for wrong in ("true", "", p.digest[:8], p.digest.upper() + "0"):
        consent = authoring.consent_of([plan_obj(2, {"planguard.io/approve": wrong})])
        assert decide(p, z.snapshot(), "a", None, TEAM, consent).verdict is Verdict.HELD
