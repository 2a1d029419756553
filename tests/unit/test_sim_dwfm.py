"""The lease recovery in virtual time, with the real scheduler: planguard recovers near the
bound with no wasted work and no false expiry; the naive manager collapses."""

from planguard.sim.dwfm import Scenario, naive, planguard, timeline


def test_planguard_recovers_near_the_bound_and_the_naive_manager_collapses():
    sc = Scenario(nodes=500, workers=16, after=300)
    pg, nv = planguard(sc), naive(sc)
    assert pg.t_rec is not None and pg.t_rec <= 1.25 * sc.bound() + sc.renew
    assert pg.amplification <= 1.1 and pg.false_expiries == 0
    assert nv.t_rec is None and nv.establishments == 0 and nv.attempts > 10 * sc.nodes
    text = timeline(sc, [nv, pg])
    assert "planguard: recovered" in text and "naive: recovered never" in text
