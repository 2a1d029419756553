"""The raw limit of BIND (or PowerDNS) on this machine against planguard's DNS path, same
changes, same run.

  .venv/bin/python bench/dns_raw_limit.py [--endpoints 5000] [--targets 4] [--change 0.10]
                                          [--server bind|powerdns]

On PowerDNS (`--server powerdns`) every endpoint is weighted (target i has weight i+1): the
raw client replaces each changed endpoint's LUA RRset with the same record planguard
writes, and planguard's path is `PowerDnsProvider` (LUA records under the CAS).

Baseline: the simplest client that produces the changes: pre-signed RFC 2136 UPDATEs (one
per endpoint: replace its A RRset), written on one TCP connection as fast as BIND takes
them, `--window` in flight (pipelined), answers counted, nothing checked. It is measured
both one-at-a-time and pipelined; the better of the two is "the raw limit".

planguard: the enactor's own DNS path (`Rfc2136Provider`: a zone transfer, `decide`, the
UPDATEs with every compare-and-swap prerequisite and marker, pipelined) pushing the same
endpoint changes into an identical zone. Also measured: the raw client sending planguard's
batch size, to show how much of the gap is batching.

Each case runs on its own fresh zone; the order is interleaved and repeated (`--rounds`) so
drift on a noisy machine hits both sides alike; medians are reported.
"""

from __future__ import annotations

import argparse
import random
import resource
import socket
import statistics
import struct
import time
from collections.abc import Callable

import dns.rdata
import dns.rdataclass
import dns.update

from common import arguments, changed, initial_endpoints, served, unique, write_result
from harness import Bind, PowerDns, run_script
from planguard.core.dnsplan import cas, weights
from planguard.core.dnsplan.enact import decide, update_steps
from planguard.core.dnsplan.model import Endpoint, Plan, Target
from planguard.dns.powerdns import PowerDnsProvider
from planguard.dns.rfc2136 import Rfc2136Provider
from planguard.dns.tsig import TsigKey, load_key

SELECTOR = "pickwrandom"

Endpoints = dict[str, list[str]]


def raw_messages(zone: str, key: TsigKey, eps: Endpoints, per_msg: int,
                 weighted: bool = False) -> list[bytes]:
    """Signed UPDATE wires, `per_msg` endpoints each (replace the A RRset, or `weighted`
    the LUA RRset), framed for TCP."""
    ring = key.keyring()
    out, names = [], list(eps)
    for i in range(0, len(names), per_msg):
        u = dns.update.UpdateMessage(zone, keyring=ring, keyname=key.keyname,
                                     keyalgorithm=key.algorithm)
        u.id = i // per_msg & 0xFFFF
        for n in names[i:i + per_msg]:
            if weighted:
                u.replace(n, 60, *(dns.rdata.from_wire(dns.rdataclass.IN, weights.LUA, rd, 0,
                                                       len(rd))
                                   for rd in weights.records(SELECTOR, endpoint(n, eps[n]))))
            else:
                u.replace(n, 60, "A", *eps[n])
        w = u.to_wire()
        out.append(struct.pack("!H", len(w)) + w)
    return out


def raw_push(port: int, frames: list[bytes], window: int) -> tuple[float, int]:
    """Writes frames with up to `window` unanswered; returns (seconds, NOERROR answers)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    ok = sent = got = 0
    t0 = time.monotonic()
    while got < len(frames):
        while sent < len(frames) and sent - got < window:
            s.sendall(frames[sent])
            sent += 1
        while True:
            if len(buf) >= 2:
                (n,) = struct.unpack("!H", buf[:2])
                if len(buf) >= 2 + n:
                    ok += (buf[2 + 3] & 0x0F) == 0  # rcode NOERROR
                    del buf[:2 + n]
                    got += 1
                    break
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("BIND closed the connection")
            buf += chunk
    dt = time.monotonic() - t0
    s.close()
    return dt, ok


def endpoint(name: str, addrs: list[str]) -> Endpoint:
    """Target i weighs i+1 (BIND serves them all alike; PowerDNS by weight)."""
    return Endpoint(name, 60, tuple(Target(a, i + 1) for i, a in enumerate(addrs)))


def as_plan(zone_rel: str, g: int, eps: Endpoints) -> Plan:
    return Plan(f"{zone_rel}-{g}", zone_rel, g, tuple(
        endpoint(n, addrs) for n, addrs in eps.items()))


PROVIDER: type[Rfc2136Provider] = Rfc2136Provider


def provider(zone: str, port: int, key: TsigKey, window: int = 16) -> Rfc2136Provider:
    return PROVIDER(zone, "127.0.0.1", port, key, window=window)


def planguard_push(zone: str, port: int, key: TsigKey, plan: Plan, window: int,
                   max_records: int, read: bool) -> tuple[float, int]:
    """The enactor's path: (zone transfer,) decide, pipelined compare-and-swap UPDATEs."""
    p = provider(zone, port, key, window)
    state = p.read_zone()
    t0 = time.monotonic()
    if read:
        state = p.read_zone()
    d = decide(plan, state, "bench", p.lua)
    steps = update_steps(d, min(max_records, p.max_records))  # as the enactor batches
    outcomes = p.write_steps(steps)
    dt = time.monotonic() - t0
    p.close()
    if not all(o.value == "applied" for o in outcomes):
        raise RuntimeError(f"planguard: {outcomes.count('conflict')} conflicts on a private zone")
    return dt, len(d.writes)


def planguard_frames(zone: str, port: int, key: TsigKey, plan: Plan,
                     max_records: int) -> list[bytes]:
    """planguard's own UPDATEs (prerequisites, markers), prebuilt, for the raw sender."""
    p = provider(zone, port, key)
    d = decide(plan, p.read_zone(), "bench", p.lua)
    steps = update_steps(d, min(max_records, p.max_records))
    msgs = [p.build_update(cas.message(s, p.lua is not None), i) for i, s in enumerate(steps)]
    return [struct.pack("!H", len(m.wire)) + m.wire for m in msgs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=5000)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--change", type=float, default=0.10)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--max-records", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--server", choices=["bind", "powerdns"], default="bind")
    args = arguments(ap, endpoints=200, rounds=1)
    weighted = args.server == "powerdns"
    # DNS only: the raw limit needs no Kubernetes.
    run_script("pdns-up.sh" if weighted else "bind-up.sh")
    bind = PowerDns() if weighted else Bind()
    global PROVIDER
    PROVIDER = PowerDnsProvider if weighted else Rfc2136Provider
    key = load_key(bind.key("enactor-a"))
    rng = random.Random(11)
    first = initial_endpoints(args.endpoints, args.targets)
    second, names = changed(first, args.change, rng, 2)
    delta = {n: second[n] for n in names}
    # Records per planguard endpoint write: 4 A + marker + prerequisites (4 A + marker);
    # weighted: LUA + marker + prerequisites (LUA + marker).
    per_batch = max(1, args.max_records // (4 if weighted else 2 * args.targets + 2))

    def fresh_zone() -> str:
        z = f"{unique('lim')}.test"
        bind.add_zone(z)
        return z

    def seeded(z: str) -> None:  # the zone at generation 1, through planguard's own path
        planguard_push(z, bind.port, key, as_plan("z", 1, first), args.window,
                       args.max_records, read=False)

    cases: dict[str, Callable[[str], tuple[float, int]]] = {
        "raw, 1 UPDATE per endpoint, one at a time":
            lambda z: raw_push(bind.port, raw_messages(z, key, delta, 1, weighted), 1),
        f"raw, 1 UPDATE per endpoint, pipelined (window {args.window})":
            lambda z: raw_push(bind.port, raw_messages(z, key, delta, 1, weighted), args.window),
        f"raw, {per_batch} endpoints per UPDATE, pipelined":
            lambda z: raw_push(bind.port, raw_messages(z, key, delta, per_batch, weighted),
                             args.window),
        "raw sender, planguard's own UPDATEs prebuilt (the server's cost of the CAS)":
            lambda z: raw_push(bind.port, planguard_frames(z, bind.port, key,
                                                           as_plan("z", 2, second),
                                                           args.max_records), args.window),
        "planguard, from its snapshot (steady state)":
            lambda z: planguard_push(z, bind.port, key, as_plan("z", 2, second), args.window,
                                     args.max_records, read=False),
        "planguard, zone transfer first":
            lambda z: planguard_push(z, bind.port, key, as_plan("z", 2, second), args.window,
                                     args.max_records, read=True),
        "planguard, zone transfer first, not pipelined":
            lambda z: planguard_push(z, bind.port, key, as_plan("z", 2, second), 1,
                                     args.max_records, read=True),
    }
    times: dict[str, list[float]] = {c: [] for c in cases}
    for r in range(args.rounds):
        order = list(cases)
        random.Random(r).shuffle(order)
        for c in order:
            z = fresh_zone()
            seeded(z)
            dt, n = cases[c](z)
            if n == 0:
                raise RuntimeError(f"{c}: nothing acknowledged")
            last = list(delta)[-1]
            if not served(bind, z, last, second[last], weighted=weighted):
                raise RuntimeError(f"{c}: the last change is not served")
            times[c].append(dt)
            bind.del_zone(z)
            print(f"round {r + 1}/{args.rounds}: {c}: {dt:.3f} s", flush=True)
    med = {c: statistics.median(t) for c, t in times.items()}
    raw_limit = min(med[c] for c in med if c.startswith("raw, 1 UPDATE"))
    result = {"server": args.server, "endpoints": args.endpoints, "targets": args.targets,
              "changed": len(delta),
              "window": args.window, "rounds": args.rounds, "median_s": med,
              "changes_per_s": {c: len(delta) / t for c, t in med.items()},
              "ratio_to_raw_limit": {c: raw_limit / t for c, t in med.items()},
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    path = write_result("dns_raw_limit", result)
    what = "weighted, one LUA A each" if weighted else f"{args.targets} A each"
    print(f"\n{args.server}: {len(delta)} endpoint changes ({what}) in a zone of "
          f"{args.endpoints}; medians of {args.rounds} rounds")
    print(f"{'case':72} {'s':>7} {'changes/s':>10} {'x raw limit':>11}")
    for c, t in med.items():
        print(f"{c:72} {t:7.3f} {len(delta) / t:10.0f} {raw_limit / t:11.2f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
