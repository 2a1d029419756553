"""One pool per zone: two pools writing plans for one zone would each undo the other's
plan every tick (DNS flip-flops). The oldest pool plans the zone (then the name decides);
the others write nothing and say which pool holds the zone."""

from __future__ import annotations

from collections.abc import Iterable

PoolKey = tuple[str, str]  # namespace, name


def zone_planners(pools: Iterable[tuple[PoolKey, str, str]]) -> dict[tuple[str, str], PoolKey]:
    """(namespace, zone) -> the pool that plans it, from (key, zone, creationTimestamp).
    RFC 3339 timestamps of one format compare as text."""
    best: dict[tuple[str, str], tuple[str, str, PoolKey]] = {}
    for key, zone, created in pools:
        z = (key[0], zone)
        cand = (created, key[1], key)
        if z not in best or cand[:2] < best[z][:2]:
            best[z] = cand
    return {z: c[2] for z, c in best.items()}
