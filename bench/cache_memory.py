"""What a role's plan cache holds in memory (tracemalloc), without any server.

  .venv/bin/python bench/cache_memory.py [--endpoints 25000] [--generations 3]
  PYTHONPATH=<worktree of an older commit>/operator .venv/bin/python bench/cache_memory.py

Feeds `ObjectCache` the watch events an enactor receives: `--generations` full plans of N
endpoints x 4 targets in parts of 1,000 (the peer bench's shape), each changing 10 % of
the endpoints, and assembles the newest valid plan after each one, as a reconcile does.
Reports the Python heap held at the end and its peak. Run it against two commits (the
older one from a git worktree on PYTHONPATH) for a before/after on the same machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tracemalloc

from common import arguments
from planguard.core.dnsplan.selection import PartCache, candidates, newest_valid
from planguard.roles.cache import ObjectCache


def part_bodies(eps: dict[str, list[str]], generation: int, size: int) -> list[bytes]:
    names, count = list(eps), (len(eps) + size - 1) // size
    out = []
    for i in range(count):
        spec = {"zone": "z", "generation": generation, "part": {"index": i, "count": count},
                "endpoints": [{"name": n, "ttl": 60,
                               "targets": [{"address": a, "weight": 1} for a in eps[n]]}
                              for n in names[i * size:(i + 1) * size]]}
        meta = {"name": f"z-{generation}-p{i}", "namespace": "ns",
                "uid": f"uid-{generation}-{i}", "generation": 1}
        out.append(json.dumps({"metadata": meta, "spec": spec}).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoints", type=int, default=25000)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--part-size", type=int, default=1000)
    args = arguments(ap, endpoints=2000, generations=2)
    rng = random.Random(1)
    eps = {f"e{i}": [f"10.{i % 250}.{j}.{rng.randint(1, 250)}" for j in range(4)]
           for i in range(args.endpoints)}
    tracemalloc.start()
    cache, parts = ObjectCache(), PartCache()
    for g in range(1, args.generations + 1):
        for wire in part_bodies(eps, g, args.part_size):
            cache.plan_event("ADDED", json.loads(wire))  # what kopf hands the role
        best = newest_valid(candidates(cache.plans(("ns", "z")), parts))
        assert best is not None and best.plan.generation == g
        assert len(best.plan.endpoints) == args.endpoints
        for n in rng.sample(list(eps), args.endpoints // 10):
            eps[n] = [f"10.{rng.randint(0, 250)}.{j}.{rng.randint(1, 250)}" for j in range(4)]
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    print(f"{args.generations} generations x {args.endpoints} endpoints x 4 targets: "
          f"held {held / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
