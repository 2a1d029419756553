"""Every Prometheus metric planguard exports, in one place: the `planguard_` prefix, base
units, `_total` only on counters, and labels bounded (zone, endpoint, enactor, result),
never a plan name or an address."""

from __future__ import annotations

import platform

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from planguard import __version__

BUILD_INFO = Gauge(
    "planguard_build_info", "Always 1: the planguard and Python versions of this process",
    ["version", "python"],
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

ENACTOR_GENERATION = Gauge(
    "planguard_enactor_applied_generation",
    "Generation this enactor last brought the zone to", ["zone", "enactor"],
)


def _enactor_counter(name: str, doc: str, by: str) -> Counter:
    """A count per zone and enactor, split by one more label (`by`)."""
    return Counter(name, doc, ["zone", "enactor", by])


CAS_OUTCOMES = _enactor_counter(
    "planguard_cas_outcomes_total",
    "Compare-and-swap UPDATE outcomes: applied, conflict (re-read), already_newer (not written)",
    by="result",
)
ENDPOINT_WRITES = _enactor_counter(
    "planguard_endpoint_writes_total",
    "Endpoint writes applied, by kind (create, update, remove, repair, adopt)", by="kind",
)
REFUSALS = Counter(
    "planguard_plan_refusals_total", "Plans refused, by reason", ["zone", "reason"],
)
ZONE_HELD = Gauge(
    "planguard_zone_held",
    "1 while the zone's newest plan is held for approval (too large a change)", ["zone"],
)
ENDPOINTS_REFUSED = Gauge(
    "planguard_zone_endpoints_refused",
    "Endpoints of the zone's chosen plan not written: records planguard did not write, "
    "names beside a CNAME or below a delegation, names too long", ["zone"],
)
DNS_ERRORS = Counter(
    "planguard_dns_errors_total", "DNS errors, by kind (state unknown: nothing written)",
    ["zone", "component", "kind"],
)
ZONE_READS = _enactor_counter(
    "planguard_enactor_zone_reads_total",
    "Zone state checks: a full transfer, or an SOA serial showing no change by anyone else",
    by="kind",
)
APPLY_SECONDS = Histogram(
    "planguard_apply_duration_seconds",
    "Time from reading the zone to the last UPDATE of one reconcile that wrote to DNS "
    "(converged no-ops are not observed)",
    ["zone", "enactor"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


def _zone_gauge(name: str, doc: str) -> Gauge:
    return Gauge(name, doc, ["zone"])


PAUSED = _zone_gauge("planguard_zone_paused", "1 while the zone is paused")
ZONE_ACTIVE = _zone_gauge("planguard_zone_active_generation", "Zone fence generation read from DNS")
ZONE_NEWEST = _zone_gauge(
    "planguard_zone_newest_plan_generation", "Newest accepted plan's generation",
)
ZONE_LIVE_OLDEST = _zone_gauge(
    "planguard_zone_live_generation_oldest", "Oldest generation live on an endpoint",
)
ZONE_LIVE_NEWEST = _zone_gauge(
    "planguard_zone_live_generation_newest", "Newest generation live on an endpoint",
)
ZONE_EMPTY_ENDPOINTS = _zone_gauge(
    "planguard_zone_empty_endpoints", "Managed endpoints serving no address",
)
CLEANUP_DELETIONS = Counter(
    "planguard_cleanup_deleted_plans_total", "Plans deleted by clean-up", ["zone"],
)
CLEANUP_DELETE_REFUSED = Counter(
    "planguard_cleanup_delete_refused_total",
    "Plan deletions the API server refused (the object was replaced: uid precondition)",
    ["zone"],
)
CLEANUP_PLAN_STATUS_WRITES = Counter(
    "planguard_cleanup_plan_status_writes_total",
    "Plan status writes by clean-up (deferred while a zone's plans keep coming)", ["zone"],
)
CLEANUP_CYCLE_SECONDS = Histogram(
    "planguard_cleanup_cycle_seconds", "Time of one clean-up reconcile of a zone", ["zone"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

PLANNER_LEADER = Gauge("planguard_planner_leader", "1 while this planner is the active one")
PLANNER_TARGETS = Gauge(
    "planguard_planner_targets", "Targets by health-check state", ["zone", "state"],
)
PLANNER_HOLDS = Counter(
    "planguard_planner_holds_total",
    "Changes held back by a safety limit, by reason (FailStatic, VelocityPerPlan, "
    "VelocityWindow, MinTargets, EmptyEndpoint)", ["zone", "reason"],
)
PLANNER_PLANS = Counter("planguard_planner_plans_total", "Plans written by the planner", ["zone"])
PLANNER_FAILURES = Counter(
    "planguard_planner_plan_failures_total",
    "Plans the planner could not make or have accepted, by reason (PlanInvalid, PlanRefused, "
    "PlanFailed); each is followed by a backoff of 2 s doubling to 300 s", ["zone", "reason"],
)

CANARY_LOOKUPS = Counter(
    "planguard_canary_lookups_total",
    "A client's lookups of an endpoint through the cluster DNS (planguard canary), by result: "
    "answered, empty (no address after one was seen), failed (no answer), unpublished",
    ["endpoint", "result"],
)
CANARY_REGRESSIONS = Counter(
    "planguard_canary_regressions_total",
    "Lookups whose marker generation was below one this client had seen longer ago than "
    "the cache window (an older plan served after a newer one)", ["endpoint"],
)
CANARY_STALE = Counter(
    "planguard_canary_stale_answers_total",
    "Lookups answered with an older generation within the cache window of a newer one "
    "(another resolver's cached copy, within its TTL)", ["endpoint"],
)
CANARY_CONNECTS = Counter(
    "planguard_canary_connects_total",
    "TCP connections the canary opened to an address it was given, by result (ok, failed)",
    ["endpoint", "result"],
)
CANARY_GENERATION = Gauge(
    "planguard_canary_generation", "Highest marker generation the canary has seen",
    ["endpoint"],
)


def serve(port: int, host: str) -> None:
    """Serves /metrics on `host` (--listen-address: the pod IP in the chart, which the
    Service's endpoints scrape); port 0 disables."""
    if port:
        start_http_server(port, addr=host)


def forget_zone(zone: str) -> None:
    """Drops every series of a zone (label `namespace/name`) that is gone, so a deleted
    DNSZone stops being reported (and alerted on) with its last values."""
    for obj in list(globals().values()):
        if isinstance(obj, MetricWrapperBase) and "zone" in obj._labelnames:
            obj.remove_by_labels({"zone": zone})

LEASES = Gauge("planguard_leases", "Node leases by state (live, lapsed)", ["state"])
LEASE_QUEUE_DEPTH = Gauge("planguard_lease_queue_depth", "Lease work waiting")
LEASE_QUEUE_OLDEST = Gauge("planguard_lease_queue_oldest_seconds", "Age of the oldest waiting work")
LEASE_TOKENS = Gauge("planguard_lease_tokens", "Tokens left in the check-in bucket")
LEASE_ADMISSIONS = Counter("planguard_lease_admissions_total", "Establishments admitted")
LEASE_CHECKINS = Counter(
    "planguard_lease_checkins_total", "Check-ins with nodes, by result (ok, failed)", ["result"],
)
LEASE_DROPPED = Counter(
    "planguard_lease_dropped_total", "Work dropped because its deadline passed (re-evaluated)",
)
TAINTS = Counter("planguard_taints_total", "Lease taints applied and removed", ["action"])
TAINTS_HELD = Counter(
    "planguard_taints_held_total", "Taints held back by velocity or fail-static", ["zone"],
)
LEASE_DEPENDENCY_UP = Gauge(
    "planguard_lease_dependency_up", "0 while check-ins or the API fail (taints frozen)",
)
LEASE_PAUSED = Gauge("planguard_lease_paused", "1 while the lease manager is paused")
LEASE_LEADER = Gauge("planguard_lease_manager_leader", "1 while this lease manager is active")
