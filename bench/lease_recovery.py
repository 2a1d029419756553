"""Lease recovery after a 2.5-hour dependency outage, in virtual time, with the real
scheduler code (planguard) against a naive manager in the same run.

  .venv/bin/python bench/lease_recovery.py        (about 2 minutes; writes a PNG)
  .venv/bin/python bench/lease_recovery.py --quick   (N = 1,000 only, no plot)

L = 300 s, R = 60 s, c = 0.1 s per check-in, u = 0.8; k = 32 workers (N = 1,000 and
10,000) and 333 (N = 100,000, the reference's sizing rule). Reports T_rec against the
bound N*c/(u*k), work amplification, false expiries, and goodput over time.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from common import REPO, arguments, write_result
from planguard.sim.dwfm import Scenario, naive, planguard

CASES = ((1000, 32, 1200, True), (10_000, 32, 3600, True), (100_000, 333, 300, False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=len(CASES), help="the first N of N=1k/10k/100k")
    ap.add_argument("--no-plot", action="store_true", help="no PNG (matplotlib not needed)")
    args = arguments(ap, cases=1, no_plot=True)
    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    for n, k, after, run_naive in CASES[:args.cases]:
        sc = Scenario(n, k, after=after)
        t0 = time.time()
        pg = planguard(sc)
        row = {"N": n, "k": k, "bound_s": sc.bound(), "planguard_t_rec_s": pg.t_rec,
               "target_s": 1.25 * sc.bound() + sc.renew,
               "planguard_amplification": pg.amplification,
               "planguard_false_expiries": pg.false_expiries, "sim_seconds": time.time() - t0}
        if run_naive:
            nv = naive(sc)
            row |= {"naive_t_rec_s": nv.t_rec, "naive_attempts": nv.attempts,
                    "naive_establishments": nv.establishments,
                    "naive_amplification": nv.amplification, "naive_after_s": after}
            if n == 10_000:
                curves = {"planguard": pg.goodput, "naive": nv.goodput}
        rows.append(row)
        print(json.dumps(row))
    write_result("lease_recovery", {"rows": rows})
    if not args.no_plot:
        plot(curves)


def plot(curves: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, pts in curves.items():
        xs = [x for x, _ in pts]
        ys = [y for _, y in pts]
        ax.plot(xs or [0, 3600], ys or [0, 0], label=name, drawstyle="steps-post")
    ax.set_xlim(-10, 600)
    ax.set_xlabel("seconds after the dependency recovers (N = 10,000, k = 32)")
    ax.set_ylabel("leases established / s")
    ax.set_title("Goodput after a 2.5 h outage: planguard vs a naive FIFO with retries")
    ax.legend()
    fig.tight_layout()
    out = REPO / "docs" / "lease-recovery.png"
    fig.savefig(out, dpi=90)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
