from planguard.core.leader_election import LeaseRecord, Observation, claim, observe, still_leading


def test_free_lease_is_taken_and_own_lease_renewed():
    got = claim(Observation(None, 0), "a", 0, 1000)
    assert got is not None and got.holder == "a" and got.transitions == 0
    renewed = claim(Observation(got, 0), "a", 5, 1005)
    assert renewed is not None and renewed.renewed == 1005 and renewed.acquired == 1000


def test_live_lease_of_another_is_respected_until_it_stops_changing_for_a_duration():
    rec = LeaseRecord("a", 15, 1000, 1000)
    obs = observe(None, rec, now=100)
    assert claim(obs, "b", 110, 0) is None
    assert observe(obs, rec, 114) is obs  # unchanged record: the observation time stays
    taken = claim(observe(obs, rec, 116), "b", 116, 2000)
    assert taken is not None and taken.holder == "b" and taken.transitions == 1


def test_renewals_keep_a_live_leader():
    obs = observe(None, LeaseRecord("a", 15, 1000, 1000), 100)
    obs = observe(obs, LeaseRecord("a", 15, 1000, 1010), 112)  # renewed: seen changing
    assert claim(obs, "b", 120, 0) is None


def test_leader_stops_acting_after_the_renew_deadline():
    assert still_leading(100, 109) and not still_leading(100, 110.5)
