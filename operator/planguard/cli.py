"""The `planguard` command: one subcommand per role."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from planguard import __version__


def _common(p: argparse.ArgumentParser, metrics_port: int, liveness_port: int) -> None:
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                   help="kubeconfig file (default: $KUBECONFIG, or in-cluster config)")
    p.add_argument("--namespace", "-n", action="append", default=[],
                   help="watch only this namespace (repeatable; default: all namespaces)")
    p.add_argument("--metrics-port", type=int, default=metrics_port,
                   help="serve Prometheus metrics on this port (0: off)")
    p.add_argument("--liveness-port", type=int, default=liveness_port,
                   help="serve /healthz on this port (0: off)")
    p.add_argument("--tsig-key", default=os.environ.get("PLANGUARD_TSIG_KEY"), required=False,
                   help="BIND key file (tsig-keygen output) signing every DNS message; "
                        "default $PLANGUARD_TSIG_KEY")
    p.add_argument("--log-level", default=os.environ.get("PLANGUARD_LOG_LEVEL", "INFO"))
    p.add_argument("--log-format", choices=["text", "json"],
                   default=os.environ.get("PLANGUARD_LOG_FORMAT", "text"))


def _parser() -> argparse.ArgumentParser:
    from planguard import ctl

    # As a kubectl plugin (kubectl-planguard on the PATH) usage says `kubectl planguard`.
    ap = argparse.ArgumentParser(prog=ctl.prog_name(sys.argv[0]), description=__doc__)
    ap.add_argument("--version", action="version", version=f"planguard {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    e = sub.add_parser("enactor", help="apply the newest DNSPlan of every DNSZone to DNS")
    e.add_argument("--id", required=True, help="this enactor's name, e.g. its availability zone")
    e.add_argument("--drift-interval", type=float, default=10.0,
                   help="seconds between re-reads of DNS that repair hand edits")
    e.add_argument("--dns-via", metavar="HOST:PORT",
                   help="send DNS traffic through this address instead of each zone's "
                        "server (a local proxy, a per-zone path)")
    _common(e, 9101, 8081)

    c = sub.add_parser("cleanup", help="plan history, live-plan finalizers and zone status")
    c.add_argument("--interval", type=float, default=5.0)
    _common(c, 9102, 8082)

    p = sub.add_parser("planner", help="health-check DNSEndpointPools and write DNSPlans "
                                       "(one active at a time)")
    p.add_argument("--id", default=os.environ.get("POD_NAME") or socket.gethostname(),
                   help="this candidate's identity in the leader election")
    p.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "default"))
    p.add_argument("--lease-name", default="planguard-planner")
    _common(p, 9103, 8083)

    ls = sub.add_parser("leases", help="a Lease per managed Node after real check-ins; taints "
                                       "nodes whose lease lapsed (one active at a time)")
    ls.add_argument("--id", default=os.environ.get("POD_NAME") or socket.gethostname())
    ls.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "default"),
                    help="where node leases (and the leader lease) live")
    ls.add_argument("--selector", default="planguard.io/managed=true",
                    help="label selector of the managed Nodes")
    ls.add_argument("--lease-duration", type=float, default=40.0)
    ls.add_argument("--renew-interval", type=float, default=10.0)
    ls.add_argument("--workers", type=int, default=16)
    ls.add_argument("--rate", type=float, default=200.0, help="check-ins per second")
    _common(ls, 9104, 8084)

    ag = sub.add_parser("agent", help="a node's check-in endpoint (GET /nodes/NAME/checkin)")
    ag.add_argument("--node", required=True)
    ag.add_argument("--listen", default="0.0.0.0:10251")
    fl = sub.add_parser("fleet", help="simulate many nodes' agents on loopback, and create "
                                      "their Node objects")
    fl.add_argument("--nodes", type=int, default=1000)
    fl.add_argument("--zones", type=int, default=3)
    fl.add_argument("--prefix", default="sim-node-")
    fl.add_argument("--listen", default="127.0.0.1:18500")
    fl.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))

    r = sub.add_parser("replay", help="replay an incident scenario under the naive protocol "
                                      "and planguard's, with a timeline of each")
    r.add_argument("scenario", nargs="?", default="dynamodb-2025-10-19",
                   help="a scenario YAML file, the name of a bundled one, or 'dwfm' for "
                        "the lease recovery (naive vs planguard)")
    r.add_argument("--protocol", action="append", choices=["naive", "planguard"],
                   help="only this protocol (repeatable; default: both)")

    k = sub.add_parser("check", help="explore every interleaving of a small configuration "
                                     "and check the safety invariants")
    k.add_argument("--protocol", choices=["naive", "planguard"], default="planguard")
    k.add_argument("--enactors", type=int, default=2)
    k.add_argument("--generations", type=int, default=4)
    k.add_argument("--endpoints", type=int, default=2)
    k.add_argument("--no-crashes", action="store_true")
    k.add_argument("--small-changes", action="store_true",
                   help="endpoint i moves only every (i+1)th generation")
    k.add_argument("--max-states", type=int, default=2_000_000)
    k.add_argument("--random", type=int, default=0, metavar="N",
                   help="instead of every interleaving, N seeded random schedules")
    k.add_argument("--steps", type=int, default=200, help="actions per random schedule")
    k.add_argument("--seed", type=int, default=1)
    ctl.add_commands(sub)
    return ap


def _replay(args: argparse.Namespace) -> int:
    if args.scenario == "dwfm":
        from planguard.sim import dwfm

        sc = dwfm.Scenario(1000, 32, after=600)
        results = [dwfm.naive(sc), dwfm.planguard(sc)]
        print(dwfm.timeline(sc, results))
        return 0 if results[1].t_rec is not None and not results[1].false_expiries else 1
    from planguard.sim.replay import replay

    text, outcomes = replay(args.scenario, args.protocol)
    print(text)
    return 0 if all(o.safe for o in outcomes if o.protocol == "planguard") else 1


def _check(args: argparse.Namespace) -> int:
    import time

    from planguard.sim.explore import Config, explore, random_schedules
    from planguard.sim.protocols import PROTOCOLS

    cfg = Config(args.enactors, args.generations, args.endpoints, not args.no_crashes,
                 small_changes=args.small_changes)
    t0 = time.monotonic()
    if args.random:
        res = random_schedules(PROTOCOLS[args.protocol], cfg, args.random, args.steps,
                               args.seed)
        print(f"{args.protocol}: {cfg}: {res.states} random schedules (seed {args.seed}), "
              f"{res.transitions} steps in {time.monotonic() - t0:.1f} s")
    else:
        res = explore(PROTOCOLS[args.protocol], cfg, args.max_states)
        print(f"{args.protocol}: {cfg}: {res.states} states, {res.transitions} transitions "
              f"explored in {time.monotonic() - t0:.1f} s")
    if res.violation is None:
        print("every reachable state satisfies the invariants, and from each the newest "
              "plan can still be applied")
        return 0
    print(f"VIOLATION: {res.violation}")
    for i, (action, msg) in enumerate(res.trace or [], 1):
        print(f"  {i:>2}. {action:<12} {msg}")
    return 1


def _planner(args: argparse.Namespace) -> int:
    import threading

    from planguard import metrics
    from planguard.kube.api import PlanguardApi, connect
    from planguard.kube.leader import LeaderElector
    from planguard.roles import runtime
    from planguard.roles.planner import Planner, PlannerCache, build_registry

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    metrics.serve(args.metrics_port)
    client = connect(args.kubeconfig)
    elector = LeaderElector(client, args.lease_namespace, args.lease_name, args.id)
    cache = PlannerCache()
    planner = Planner(PlanguardApi(client, f"planguard-planner-{args.id}"), cache, elector)
    threading.Thread(target=elector.run, daemon=True, name="leader").start()
    loop = threading.Thread(target=planner.run, daemon=True, name="planner")
    loop.start()
    runtime.run(f"planner-{args.id}", cache, None, args.namespace, args.liveness_port,
                registry=build_registry(cache))
    # SIGTERM ended kopf: finish the round in progress, then hand the Lease over at once.
    planner.stop()
    loop.join(timeout=runtime.RECONCILE_BUDGET)
    elector.stop()
    elector.release()
    return 0


def _leases(args: argparse.Namespace) -> int:
    import signal
    import threading

    from planguard import metrics, probes
    from planguard.kube.api import connect
    from planguard.kube.leader import LeaderElector
    from planguard.roles.leases import LeaseConfig, LeaseManager

    metrics.serve(args.metrics_port)
    if args.liveness_port:
        probes.serve(args.liveness_port)
    # One connection per worker (and the loop): a smaller pool closes the extra ones.
    client = connect(args.kubeconfig, pool_size=args.workers + 2)
    elector = LeaderElector(client, args.lease_namespace, "planguard-leases", args.id)
    cfg = LeaseConfig(namespace=args.lease_namespace, selector=args.selector,
                      lease_duration=args.lease_duration, renew_interval=args.renew_interval,
                      workers=args.workers, rate=args.rate, burst=max(args.rate / 4, 1),
                      identity=args.id)
    manager = LeaseManager(client, cfg, elector)
    threading.Thread(target=elector.run, daemon=True, name="leader").start()
    signal.signal(signal.SIGTERM, lambda *_: manager.stop())
    manager.run()
    # Stopped by SIGTERM: no lease is written any more; hand leadership over at once.
    elector.stop()
    elector.release()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return _replay(args)
    if args.command == "check":
        return _check(args)
    from planguard.kube.api import identify

    # One User-Agent per process, e.g. planguard-enactor-use1-az1/0.1.0 (audit logs).
    ctl_commands = ("status", "diff", "rollback", "pause", "resume")
    identify("ctl" if args.command in ctl_commands else "-".join(
        [args.command, *([args.id] if getattr(args, "id", None) else [])]))
    if args.command in ctl_commands:
        from planguard import ctl

        return ctl.run(args)
    if args.command in ("agent", "fleet"):
        from planguard import fleet

        host, port = args.listen.rsplit(":", 1)
        if args.command == "agent":
            fleet.serve_agent(host, int(port), args.node)
        else:
            fleet.serve_fleet(host, int(port), args.prefix, args.nodes, args.zones,
                              args.kubeconfig)
        return 0
    from planguard import logs

    logs.setup(args.log_level, args.log_format, role="-".join(
        [args.command, *([args.id] if getattr(args, "id", None) else [])]))
    if args.command in ("planner", "leases"):
        return _planner(args) if args.command == "planner" else _leases(args)
    if not args.tsig_key:
        print("planguard: --tsig-key (or $PLANGUARD_TSIG_KEY) is required", file=sys.stderr)
        return 2
    # Imported here so `planguard --help` stays fast and needs no cluster.
    from planguard import metrics
    from planguard.dns.tsig import load_key
    from planguard.kube.api import PlanguardApi, connect
    from planguard.roles import runtime
    from planguard.roles.cache import ObjectCache

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's login reads it from there
    key = load_key(args.tsig_key)
    cache = ObjectCache()
    metrics.serve(args.metrics_port)
    if args.command == "enactor":
        from planguard.roles.enactor import Enactor, EnactorConfig

        api = PlanguardApi(connect(args.kubeconfig), f"planguard-enactor-{args.id}")
        fault = os.environ.get("PLANGUARD_FAULT_STOP_AFTER_READ")
        role = Enactor(api, cache, EnactorConfig(
            args.id, key, drift_interval=args.drift_interval,
            stop_after_read=int(fault) if fault else None,
            dns_via=(args.dns_via.rsplit(":", 1)[0], int(args.dns_via.rsplit(":", 1)[1]))
            if args.dns_via else None,
        ))
        component = f"enactor-{args.id}"
        reconcile = role.reconcile
    else:
        from planguard.roles.cleanup import Cleanup, CleanupConfig

        api = PlanguardApi(connect(args.kubeconfig), "planguard-cleanup")
        cleanup = Cleanup(api, cache, CleanupConfig(key, interval=args.interval))
        component = "cleanup"
        reconcile = cleanup.reconcile
    runtime.run(component, cache, reconcile, args.namespace, args.liveness_port,
                plans_without_zone=args.command == "cleanup")
    return 0


if __name__ == "__main__":
    sys.exit(main())
