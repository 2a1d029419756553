"""The `planguard` command: one subcommand per role."""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

from planguard import __version__
from planguard.core.contract import MANAGED_LABEL
from planguard.core.deadline import RECONCILE_BUDGET
from planguard.core.dnsplan.targets import DEFAULT_ALLOWED, Network, parse_cidrs
from planguard.core.nodelease.scheduler import LeasePolicy


def _common(p: argparse.ArgumentParser, metrics_port: int, liveness_port: int) -> None:
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                   help="kubeconfig file (default: $KUBECONFIG, or in-cluster config)")
    p.add_argument("--namespace", "-n", action="append", default=[],
                   help="watch only this namespace (repeatable; default: all namespaces)")
    p.add_argument("--metrics-port", type=int, default=metrics_port,
                   help="serve Prometheus metrics on this port (0: off)")
    p.add_argument("--liveness-port", type=int, default=liveness_port,
                   help="serve /healthz on this port (0: off)")
    # The chart sets $POD_IP (downward API): a pod on the host network then never offers
    # these on every node address. Unset (tests, a laptop): every interface.
    p.add_argument("--listen-address", default=os.environ.get("POD_IP") or "0.0.0.0",
                   help="address of /metrics, /healthz and /readyz "
                        "(default: $POD_IP, else every interface)")
    p.add_argument("--tsig-key", default=os.environ.get("PLANGUARD_TSIG_KEY"), required=False,
                   help="BIND key file (tsig-keygen output) signing every DNS message; "
                        "default $PLANGUARD_TSIG_KEY")
    p.add_argument("--log-level", default=os.environ.get("PLANGUARD_LOG_LEVEL", "INFO"))
    p.add_argument("--log-format", choices=["text", "json"],
                   default=os.environ.get("PLANGUARD_LOG_FORMAT", "text"))


def _owner(p: argparse.ArgumentParser) -> None:
    p.add_argument("--owner-id", default=os.environ.get("PLANGUARD_OWNER_ID", ""),
                   help="this install's name in the claims it writes into DNS zones "
                        "(owner=<owner-id>:<namespace>/<dnszone>): two clusters or installs "
                        "writing one DNS server must differ (the chart sets the kube-system "
                        "namespace's uid); default $PLANGUARD_OWNER_ID or none")


def _candidate(p: argparse.ArgumentParser, namespace_help: str) -> None:
    """The flags of a role with one active replica, chosen by a leader election."""
    p.add_argument("--id", default=os.environ.get("POD_NAME") or socket.gethostname(),
                   help="this candidate's identity in the leader election")
    p.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "default"),
                   help=namespace_help)


def _checkin_key(p: argparse.ArgumentParser) -> None:
    env = os.environ.get("PLANGUARD_CHECKIN_KEY_FILE")
    p.add_argument("--checkin-key-file", default=env, required=not env,
                   help="the check-in key shared by the agents and the lease manager (at "
                        "least 32 bytes); default $PLANGUARD_CHECKIN_KEY_FILE")


def _cidrs(text: str) -> tuple[Network, ...]:
    try:
        return parse_cidrs(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _seconds(text: str) -> float:
    """A deadline: finite, above 0, at most an hour."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0 < v <= 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r}: seconds above 0, at most 3600")
    return v


def _target(text: str) -> object:
    from planguard.canary import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _dns_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dns-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="deadline of one DNS exchange, connect and every read included: a "
                        "whole zone transfer, an SOA query, each UPDATE (default 30); a "
                        "server slower than this fails its own zone only")


def _parser() -> argparse.ArgumentParser:
    from planguard import ctl

    # As a kubectl plugin (kubectl-planguard on the PATH) usage says `kubectl planguard`.
    ap = argparse.ArgumentParser(prog=ctl.prog_name(sys.argv[0]), description=__doc__)
    ap.add_argument("--version", action="version", version=f"planguard {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    e = sub.add_parser("enactor", help="apply the newest DNSPlan of every DNSZone to DNS")
    e.add_argument("--id", required=True, help="this enactor's name, e.g. its availability zone")
    _owner(e)
    _dns_timeout(e)
    e.add_argument("--drift-interval", type=float, default=10.0,
                   help="seconds between re-reads of DNS that repair hand edits")
    e.add_argument("--dns-via", metavar="HOST:PORT",
                   help="send DNS traffic through this address instead of each zone's "
                        "server (a local proxy, a per-zone path)")
    _common(e, 9101, 8081)

    c = sub.add_parser("cleanup", help="plan history, live-plan finalizers and zone status")
    _dns_timeout(c)
    c.add_argument("--interval", type=float, default=5.0)
    c.add_argument("--status-settle", type=float, default=2.0,
                   help="seconds a valid plan waits for its first status, and the pause "
                        "in a zone's stream of plans that plan status waits for")
    c.add_argument("--status-hold", type=float, default=30.0,
                   help="while a zone's plans keep coming, a plan's status waits at most "
                        "this long after its creation (plans deleted sooner: none)")
    _owner(c)
    _common(c, 9102, 8082)

    p = sub.add_parser("planner", help="health-check DNSEndpointPools and write DNSPlans "
                                       "(one active at a time)")
    _candidate(p, "where its leader lease lives")
    p.add_argument("--lease-name", default="planguard-planner")
    p.add_argument("--health-check-allowed-cidrs", default=",".join(DEFAULT_ALLOWED),
                   metavar="CIDR,...", type=_cidrs,
                   help="where health checks may go (default: RFC 1918 and ULA ranges); "
                        "metadata and link-local addresses never, loopback only when a "
                        "loopback range is listed")
    _common(p, 9103, 8083)

    ls = sub.add_parser("leases", help="a Lease per managed Node after real check-ins; taints "
                                       "nodes whose lease lapsed (one active at a time)")
    _candidate(ls, "where node leases (and the leader lease) live")
    ls.add_argument("--selector", default=f"{MANAGED_LABEL}=true",
                    help="label selector of the managed Nodes")
    ls.add_argument("--lease-duration", type=float, default=LeasePolicy.lease_duration,
                    help="seconds a node's Lease stays live after its last check-in")
    ls.add_argument("--renew-interval", type=float, default=LeasePolicy.renew_interval,
                    help="seconds between check-ins of one node")
    ls.add_argument("--workers", type=int, default=LeasePolicy.workers,
                    help="check-ins in flight at once")
    ls.add_argument("--rate", type=float, default=LeasePolicy.rate, help="check-ins per second")
    ls.add_argument("--agent-port", type=int, default=10251,
                    help="where each node's agent listens on its InternalIP")
    ls.add_argument("--loopback-agent-urls", action="store_true",
                    help="check a node in at its planguard.io/agent-url annotation when that "
                         "names a loopback IP (planguard fleet); off: always the InternalIP")
    _checkin_key(ls)
    _common(ls, 9104, 8084)

    ag = sub.add_parser("agent", help="a node's check-in endpoint (GET /nodes/NAME/checkin)")
    ag.add_argument("--node", required=True)
    ag.add_argument("--listen", default="0.0.0.0:10251")
    _checkin_key(ag)
    fl = sub.add_parser("fleet", help="simulate many nodes' agents on loopback, and create "
                                      "their Node objects")
    fl.add_argument("--nodes", type=int, default=1000)
    fl.add_argument("--zones", type=int, default=3)
    fl.add_argument("--prefix", default="sim-node-")
    fl.add_argument("--listen", default="127.0.0.1:18500", help="a loopback address only")
    fl.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    _checkin_key(fl)

    cn = sub.add_parser("canary", help="resolve endpoints through this pod's DNS every few ms, "
                                       "connect to the answers, export what a client saw")
    cn.add_argument("--zone", required=True, help="the DNS zone, e.g. example.test")
    cn.add_argument("--endpoint", action="append", type=_target, required=True,
                    dest="targets", metavar="NAME[:PORT]",
                    help="an endpoint to resolve (repeatable); with :PORT, a TCP connection "
                         "to an address of each answer")
    cn.add_argument("--every", type=_seconds, default=0.01, metavar="SECONDS",
                    help="pause between rounds over the endpoints (default 0.01)")
    cn.add_argument("--timeout", type=_seconds, default=2.0, metavar="SECONDS",
                    help="deadline of one lookup and of one connection (default 2)")
    cn.add_argument("--cache-window", type=_seconds, default=35.0, metavar="SECONDS",
                    help="how long after a newer generation an older one is a cached copy "
                         "(counted stale), not a regression: the cluster DNS's longest "
                         "cache time and the secondaries' lag (default 35)")
    cn.add_argument("--metrics-port", type=int, default=9105)
    cn.add_argument("--liveness-port", type=int, default=8085)
    cn.add_argument("--listen-address", default=os.environ.get("POD_IP") or "0.0.0.0")
    cn.add_argument("--log-level", default=os.environ.get("PLANGUARD_LOG_LEVEL", "INFO"))
    cn.add_argument("--log-format", choices=["text", "json"],
                    default=os.environ.get("PLANGUARD_LOG_FORMAT", "text"))

    r = sub.add_parser("replay", help="replay an incident scenario under the naive protocol "
                                      "and planguard's, with a timeline of each")
    r.add_argument("scenario", nargs="?", default="dynamodb-2025-10-19",
                   help="a scenario YAML file, the name of a bundled one, or 'dwfm' for "
                        "the lease recovery (naive vs planguard)")
    r.add_argument("--protocol", action="append", choices=["naive", "planguard"],
                   help="only this protocol (repeatable; default: both)")

    k = sub.add_parser("check", help="explore every interleaving of a small configuration "
                                     "and check the safety invariants")
    k.add_argument("--protocol", choices=["naive", "planguard", "planguard-weighted"],
                   default="planguard",
                   help="planguard-weighted: on a server with weighted answers (PowerDNS)")
    k.add_argument("--enactors", type=int, default=2)
    k.add_argument("--generations", type=int, default=4)
    k.add_argument("--endpoints", type=int, default=2)
    k.add_argument("--no-crashes", action="store_true")
    k.add_argument("--small-changes", action="store_true",
                   help="endpoint i moves only every (i+1)th generation")
    k.add_argument("--deltas", type=int, default=0, metavar="N",
                   help="delta plans: every Nth generation full, the others deltas on it")
    k.add_argument("--claimants", type=int, choices=[1, 2], default=1,
                   help="2: a second DNSZone (other/steal) with its own enactor and plans "
                        "for the same DNS zone")
    k.add_argument("--hostile-generation", action="store_true",
                   help="the second DNSZone's later plan has generation 2^53 (annotated "
                        "as a deliberate jump)")
    k.add_argument("--typo", action="store_true",
                   help="the team creates a plan with a typo'd generation after its plan 2")
    k.add_argument("--start", choices=["empty", "claimed", "legacy"], default="empty",
                   help="DNS at first: empty, the team's plan 1 applied, or a fence at "
                        "2^63-1 from before any rules (the team's DNSZone re-bases it)")
    k.add_argument("--withdraw", action="store_true",
                   help="a user may kubectl-delete any of the team's plans at any moment "
                        "(live ones held by the clean-up's finalizer, or just before)")
    k.add_argument("--max-states", type=int, default=2_000_000)
    k.add_argument("--random", type=int, default=0, metavar="N",
                   help="instead of every interleaving, N seeded random schedules")
    k.add_argument("--steps", type=int, default=200, help="actions per random schedule")
    k.add_argument("--seed", type=int, default=1)
    ctl.add_commands(sub)
    return ap


@dataclass(frozen=True)
class Hooks:
    """Where a test harness reaches into a process (tests/faults.py); production sets none."""

    after_decide: Callable[[int], None] | None = None  # the enactor, before it writes


def _replay(args: argparse.Namespace, hooks: Hooks) -> int:
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


def _check(args: argparse.Namespace, hooks: Hooks) -> int:
    import time

    from planguard.sim.explore import Config, explore, random_schedules
    from planguard.sim.protocols import PROTOCOLS

    cfg = Config(args.enactors, args.generations, args.endpoints, not args.no_crashes,
                 small_changes=args.small_changes, deltas=args.deltas,
                 claimants=args.claimants, hostile=args.hostile_generation, typo=args.typo,
                 start=args.start, withdraw=args.withdraw)
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
        if cfg.claimants > 1:
            print("no write of another owner landed on a claimed zone, and every fence named "
                  "a plan its owner meant (where the other owner claimed the empty zone "
                  "first, the team's newest plan applies after a hand-over)")
        return 0
    print(f"VIOLATION: {res.violation}")
    for i, (action, msg) in enumerate(res.trace or [], 1):
        print(f"  {i:>2}. {action:<12} {msg}")
    return 1


def _planner(args: argparse.Namespace, hooks: Hooks) -> int:
    import threading

    from planguard.core.dnsplan.targets import TargetPolicy
    from planguard.kube.api import PlanguardApi, connect
    from planguard.kube.leader import LeaderElector
    from planguard.roles import runtime
    from planguard.roles.cache import PlannerCache
    from planguard.roles.planner import Planner, build_registry

    client = connect(args.kubeconfig)
    elector = LeaderElector(client, args.lease_namespace, args.lease_name, args.id)
    cache = PlannerCache()
    planner = Planner(PlanguardApi(client, f"planguard-planner-{args.id}"), cache, elector,
                      policy=TargetPolicy(args.health_check_allowed_cidrs))
    threading.Thread(target=elector.run, daemon=True, name="leader").start()
    loop = threading.Thread(target=planner.run, daemon=True, name="planner")
    loop.start()
    runtime.run(f"planner-{args.id}", cache, None, args.namespace, args.liveness_port,
                registry=build_registry(cache))
    # SIGTERM ended kopf: finish the round in progress, then hand the Lease over at once.
    planner.stop()
    loop.join(timeout=RECONCILE_BUDGET)
    elector.stop()
    elector.release()
    return 0


def _leases(args: argparse.Namespace, hooks: Hooks) -> int:
    import signal
    import threading

    from planguard import probe_server
    from planguard.core.nodelease import breaker
    from planguard.kube.api import connect
    from planguard.kube.leader import LeaderElector
    from planguard.roles.leases import LeaseConfig, LeaseManager

    if args.liveness_port:
        probe_server.serve(args.liveness_port)
    # One connection per worker (and the loop): a smaller pool closes the extra ones.
    client = connect(args.kubeconfig, pool_size=args.workers + 2)
    elector = LeaderElector(client, args.lease_namespace, "planguard-leases", args.id)
    policy = LeasePolicy(lease_duration=args.lease_duration,
                         renew_interval=args.renew_interval, workers=args.workers,
                         rate=args.rate, burst=max(args.rate / 4, 1),
                         breaker=breaker.for_workers(args.workers, args.renew_interval))
    cfg = LeaseConfig(namespace=args.lease_namespace, selector=args.selector, policy=policy,
                      identity=args.id, agent_port=args.agent_port,
                      checkin_key=_read_checkin_key(args.checkin_key_file),
                      loopback_agent_urls=args.loopback_agent_urls)
    manager = LeaseManager(client, cfg, elector)
    threading.Thread(target=elector.run, daemon=True, name="leader").start()
    signal.signal(signal.SIGTERM, lambda *_: manager.stop())
    manager.run()
    # Stopped by SIGTERM: no lease is written any more; hand leadership over at once.
    elector.stop()
    elector.release()
    return 0


def _enactor(args: argparse.Namespace, hooks: Hooks) -> int:
    from planguard.dns.tsig import load_key
    from planguard.kube.api import PlanguardApi, connect
    from planguard.roles import runtime
    from planguard.roles.cache import ObjectCache
    from planguard.roles.enactor import Enactor, EnactorConfig

    key, cache = load_key(args.tsig_key), ObjectCache()
    api = PlanguardApi(connect(args.kubeconfig), f"planguard-enactor-{args.id}")
    role = Enactor(api, cache, EnactorConfig(
        args.id, key, drift_interval=args.drift_interval, owner_id=args.owner_id,
        dns_via=(args.dns_via.rsplit(":", 1)[0], int(args.dns_via.rsplit(":", 1)[1]))
        if args.dns_via else None, dns_timeout=args.dns_timeout,
    ), after_decide=hooks.after_decide)
    runtime.run(f"enactor-{args.id}", cache, role.reconcile, args.namespace,
                args.liveness_port, timed_out=role.dns_timed_out,
                budget=runtime.reconcile_budget(args.dns_timeout))
    return 0


def _cleanup(args: argparse.Namespace, hooks: Hooks) -> int:
    from planguard.dns.tsig import load_key
    from planguard.kube.api import PlanguardApi, connect
    from planguard.roles import runtime
    from planguard.roles.cache import ObjectCache
    from planguard.roles.cleanup import Cleanup, CleanupConfig

    key, cache = load_key(args.tsig_key), ObjectCache()
    api = PlanguardApi(connect(args.kubeconfig), "planguard-cleanup")
    cleanup = Cleanup(api, cache, CleanupConfig(key, interval=args.interval,
                                                   owner_id=args.owner_id,
                                                   status_settle=args.status_settle,
                                                   status_hold=args.status_hold,
                                                   dns_timeout=args.dns_timeout))
    runtime.run("cleanup", cache, cleanup.reconcile, args.namespace, args.liveness_port,
                plans_without_zone=True, timed_out=cleanup.dns_timed_out,
                budget=runtime.reconcile_budget(args.dns_timeout))
    return 0


def _canary(args: argparse.Namespace, hooks: Hooks) -> int:
    from planguard import canary, probe_server

    if args.liveness_port:
        probe_server.serve(args.liveness_port)
    canary.run(args.zone, args.targets, args.every, args.timeout, args.cache_window)
    return 0


def _ctl(args: argparse.Namespace, hooks: Hooks) -> int:
    from planguard import ctl

    return ctl.run(args)


def _read_checkin_key(path: str) -> Callable[[], bytes]:
    from planguard.core.nodelease.checkin import parse_key
    from planguard.keyfile import KeyFile

    return KeyFile(path, parse_key).get


def _agent(args: argparse.Namespace, hooks: Hooks) -> int:
    from planguard import agent

    host, port = args.listen.rsplit(":", 1)
    agent.serve(host.strip("[]"), int(port), args.node, _read_checkin_key(args.checkin_key_file))
    return 0


def _fleet(args: argparse.Namespace, hooks: Hooks) -> int:
    from planguard import fleet

    host, port = args.listen.rsplit(":", 1)
    try:
        host = fleet.loopback_only(host.strip("[]"))
    except ValueError as e:
        print(f"planguard: {e}", file=sys.stderr)
        return 2
    fleet.serve_fleet(host, int(port), args.prefix, args.nodes, args.zones, args.kubeconfig,
                      _read_checkin_key(args.checkin_key_file))
    return 0


@dataclass(frozen=True)
class Command:
    run: Callable[[argparse.Namespace, Hooks], int]
    kind: str  # offline: no cluster at all; tool: runs alone; role: logs and metrics too
    tsig: bool = False  # the role signs DNS messages: --tsig-key is required
    user_agent: str | None = None  # how it names itself to the API server (None: by role)


COMMANDS: dict[str, Command] = {
    "replay": Command(_replay, "offline"),
    "check": Command(_check, "offline"),
    **{c: Command(_ctl, "tool", user_agent="ctl")
       for c in ("status", "diff", "rollback", "approve", "pause", "resume")},
    "agent": Command(_agent, "tool"),
    "fleet": Command(_fleet, "tool"),
    "enactor": Command(_enactor, "role", tsig=True),
    "cleanup": Command(_cleanup, "role", tsig=True),
    "planner": Command(_planner, "role"),
    "leases": Command(_leases, "role"),
    "canary": Command(_canary, "role"),
}


def main(argv: list[str] | None = None,
         after_decide: Callable[[int], None] | None = None) -> int:
    """after_decide: a test harness's hook into the enactor (roles/enactor.Enactor)."""
    args = _parser().parse_args(argv)
    cmd, hooks = COMMANDS[args.command], Hooks(after_decide)
    if cmd.kind == "offline":
        return cmd.run(args, hooks)
    from planguard.kube.api import identify

    # One User-Agent per process, e.g. planguard-enactor-use1-az1/0.1.0 (audit logs).
    name = "-".join([args.command, *([args.id] if getattr(args, "id", None) else [])])
    identify(cmd.user_agent or name)
    if cmd.kind == "tool":
        return cmd.run(args, hooks)
    # Imported here so `planguard --help` stays fast and needs no cluster.
    from planguard import logs, metrics, probe_server

    logs.setup(args.log_level, args.log_format, role=name)
    if cmd.tsig and not args.tsig_key:
        print("planguard: --tsig-key (or $PLANGUARD_TSIG_KEY) is required", file=sys.stderr)
        return 2
    if getattr(args, "kubeconfig", None):
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's login reads it from there
    # kopf registers the official Kubernetes client as a fallback login whenever it can be
    # imported, and so imports it (20 MiB resident in every role); planguard logs kopf in
    # itself (roles/runtime.py) and uses kube/rest.py. The image does not install that
    # client; this keeps a role the same size where it is installed (a dev venv).
    sys.modules.setdefault("kubernetes", None)  # type: ignore[assignment]
    probe_server.LISTEN_ADDRESS = args.listen_address
    metrics.serve(args.metrics_port, args.listen_address)
    return cmd.run(args, hooks)


if __name__ == "__main__":
    sys.exit(main())
