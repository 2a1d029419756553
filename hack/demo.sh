#!/usr/bin/env bash
# The main job on the embedded default: a local kube-apiserver + etcd, BIND and PowerDNS,
# three enactors (one per "availability zone", each with its own TSIG key) and clean-up,
# then sample plans pushed with kubectl apply and what DNS and kubectl show after each;
# on PowerDNS, 1,000 answers counted to show the plan's weights served.
#   hack/demo.sh          run the story, then stop the planguard processes
#   hack/demo.sh --keep   leave everything running (stop with hack/demo-down.sh)
# Sets up only what it uses (hack/setup.sh --demo): no Docker, no images, no helm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
. "$here/lib/pdns.sh"  # and lib/bind.sh
keep=${1:-}
"$here/setup.sh" --demo
"$here/cluster-up.sh"
"$here/bind-up.sh"
for z in example.test svc.test; do  # fresh zones: the demo starts from generation 1
  "$here/bind-delzone.sh" "$z"
  "$here/bind-addzone.sh" "$z"
done
"$here/pdns-up.sh" weighted.test >/dev/null
"$here/pdns-delzone.sh" weighted.test
"$here/pdns-addzone.sh" weighted.test
export KUBECONFIG=$PLANGUARD_STATE/cp/kubeconfig
k() { "$CP_BIN_DIR/kubectl" "$@"; }
ns=planguard-demo
logs=$PLANGUARD_STATE/demo-logs
mkdir -p "$logs"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() {
  sleep "${1:-3}"
  echo "\$ dig +short dynamodb.example.test A / dynamodb-fips A / ipv6.dynamodb AAAA / markers"
  for q in "dynamodb A" "dynamodb-fips A" "ipv6.dynamodb AAAA" "_planguard.dynamodb TXT" "_planguard TXT"; do
    set -- $q
    printf '  %-28s %s\n' "$1 $2" "$(dig +short +tcp -p "$BIND_PORT" @127.0.0.1 "$1.example.test" "$2" | tr '\n' ' ')"
  done
  echo "\$ kubectl get dnsplans,dnszones -n $ns"
  k get dnsplans,dnszones -n "$ns" | sed 's/^/  /'
}

step "CRDs"
k apply --server-side -f "$repo/crds" >/dev/null
k wait --for=condition=Established crd/dnsplans.planguard.io crd/dnszones.planguard.io \
  crd/dnsendpointpools.planguard.io >/dev/null
k get ns "$ns" >/dev/null 2>&1 || k create ns "$ns" >/dev/null
for o in $(k get dnsplans,dnszones,dnsendpointpools -n "$ns" -o name); do  # an earlier run's
  k patch "$o" -n "$ns" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null
  k delete "$o" -n "$ns" --wait=false >/dev/null
done

step "starting 3 enactors (enactor-a/b/c, one TSIG key each) and clean-up; logs in $logs"
"$here/demo-down.sh" --quiet
pids=()
port=9101
for e in a b c; do
  nohup "$repo/.venv/bin/planguard" enactor --id "use1-az-$e" -n "$ns" --drift-interval 5 \
    --tsig-key "$BIND_DIR/keys/enactor-$e.key" --metrics-port "$port" --liveness-port 0 \
    >"$logs/enactor-$e.log" 2>&1 &
  pids+=($!); port=$((port + 1))
done
nohup "$repo/.venv/bin/planguard" planner -n "$ns" --id demo-planner --lease-namespace "$ns" \
  --health-check-allowed-cidrs 127.0.0.0/8 --metrics-port 9108 --liveness-port 0 \
  >"$logs/planner.log" 2>&1 &
pids+=($!)
nohup "$repo/.venv/bin/planguard" cleanup -n "$ns" --interval 2 \
  --tsig-key "$BIND_DIR/keys/planguard-cleanup.key" --metrics-port 9109 --liveness-port 0 \
  >"$logs/cleanup.log" 2>&1 &
pids+=($!)
printf '%s\n' "${pids[@]}" > "$PLANGUARD_STATE/demo.pids"

step "kubectl apply the zone and plan generation 1"
k apply -n "$ns" -f "$here/demo/zone.yaml" -f "$here/demo/plan-1.yaml"
show 4
step "kubectl apply generation 2: lb-c drained (weight 0)"
k apply -n "$ns" -f "$here/demo/plan-2.yaml"
show 3
step "a plan that would empty the regional endpoint is refused by the API server"
k apply -n "$ns" -f "$here/demo/plan-bad.yaml" 2>&1 | sed 's/^/  /' || true
step "racing authors: a second DNSZone for example.test. with generation 2^53, and a typo'd generation"
k apply -n "$ns" -f "$here/demo/racing-authors.yaml" | sed 's/^/  /'
why() {  # wait for a condition's reason, then print "reason: message"
  for _ in $(seq 1 50); do
    got=$(k get "$1" -n "$ns" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].reason}: {.status.conditions[?(@.type==\"$2\")].message}" 2>/dev/null || true)
    case "$got" in "$3"*) break ;; esac
    sleep 0.2
  done
  printf '  %s %s: %s\n' "$1" "$2" "$got" | fold -s -w 100
}
why dnszone/steal Ready ZoneClaimed
why dnsplan/dynamo-1000000003 Accepted GenerationJump
printf '  dig dynamodb.example.test A: %s (unchanged)\n' \
  "$(dig +short +tcp -p "$BIND_PORT" @127.0.0.1 dynamodb.example.test A | sort | tr '\n' ' ')"
k delete -n "$ns" -f "$here/demo/racing-authors.yaml" --wait=false >/dev/null
step "weights served for real: zone weighted.test on PowerDNS (LUA records, same compare-and-swap)"
split() {  # 1,000 queries, answers counted: what clients would get
  "$repo/.venv/bin/python" - "$1" "$PDNS_PORT" <<'PY'
import collections, sys
import dns.message, dns.query
name, port = sys.argv[1], int(sys.argv[2])
seen = collections.Counter()
q = dns.message.make_query(name, "A")
for _ in range(1000):
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    seen.update(rd.to_text() for rr in r.answer for rd in rr)
for a, n in sorted(seen.items()):
    print(f"  {a:<10} {n:>4} answers  {n / 10:5.1f} %")
PY
}
served_gen() {  # wait until the endpoint's marker says generation $1
  for _ in $(seq 1 100); do
    dig +short +tcp -p "$PDNS_PORT" @127.0.0.1 _planguard.dynamodb.weighted.test TXT \
      | grep -q "gen=$1 " && return 0
    sleep 0.1
  done
}
k apply -n "$ns" -f "$here/demo/zone-weighted.yaml" -f "$here/demo/weighted-1.yaml"
served_gen 1
echo "\$ 1,000 x dig dynamodb.weighted.test A   (weights 10 / 30 / 60 / 0)"
split dynamodb.weighted.test
k apply -n "$ns" -f "$here/demo/weighted-2.yaml"
served_gen 2
echo "\$ 1,000 x dig dynamodb.weighted.test A   (weights 50 / 50 / 0 / 100)"
split dynamodb.weighted.test
echo "\$ planguard status --tsig-key .../planguard-reader.key   (weights as served, read from DNS)"
"$repo/.venv/bin/planguard" status -n "$ns" --tsig-key "$BIND_DIR/keys/planguard-reader.key" \
  | grep -A3 '^zone weighted' | sed 's/^/  /'

step "zone status (what the enactors and clean-up report)"
k get dnszone dynamo -n "$ns" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.message}{"\n"}{end}' | sed 's/^/  /'
echo "  enactors: $(k get dnszone dynamo -n "$ns" -o jsonpath='{.status.enactors}')"
echo "  metrics: curl -s localhost:9101/metrics | grep ^planguard_"
curl -s localhost:9101/metrics | grep -E '^planguard_(enactor_applied_generation|cas_outcomes_total)' | sed 's/^/  /'

step "the planner: three load balancers on loopback (HTTP on 127.0.0.41-43:18080), one pool"
for ip in 41 42 43; do
  nohup "$repo/.venv/bin/python" -m http.server 18080 --bind "127.0.0.$ip" -d /tmp \
    >"$logs/target-$ip.log" 2>&1 &
  echo $! > "$PLANGUARD_STATE/demo-target-$ip.pid"
  pids+=($!)
done
printf '%s\n' "${pids[@]}" > "$PLANGUARD_STATE/demo.pids"
k apply -n "$ns" -f "$here/demo/pool.yaml"
answers() {
  sleep "$1"
  printf '  api.svc.test  -> %s\n' "$(dig +short +tcp -p "$BIND_PORT" @127.0.0.1 api.svc.test A | sort | tr '\n' ' ')"
  k get dnsendpointpool regional -n "$ns" | sed 's/^/  /'
}
answers 6
step "load balancer 127.0.0.42 stops answering its health check: drained after 3 failures"
kill "$(cat "$PLANGUARD_STATE/demo-target-42.pid")"
answers 5
step "it comes back: restored after 2 successes"
nohup "$repo/.venv/bin/python" -m http.server 18080 --bind 127.0.0.42 -d /tmp \
  >"$logs/target-42.log" 2>&1 &
pids+=($!)
printf '%s\n' "${pids[@]}" > "$PLANGUARD_STATE/demo.pids"
answers 5
echo "  plans the planner wrote:"
k get dnsplans -n "$ns" -l planguard.io/pool=regional | sed 's/^/  /'

step "the lease manager over a simulated fleet: 30 nodes in 3 zones, agents on 127.0.0.1:18600"
k delete nodes -l planguard.io/fleet=demo-node --wait=false >/dev/null 2>&1 || true
# The check-in key the simulated agents prove their check-ins with (core/nodelease/checkin.py).
checkin_key="$PLANGUARD_STATE/demo-checkin.key"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$checkin_key")
nohup "$repo/.venv/bin/planguard" fleet --nodes 30 --zones 3 --prefix demo-node- \
  --listen 127.0.0.1:18600 --checkin-key-file "$checkin_key" >"$logs/fleet.log" 2>&1 &
pids+=($!)
nohup "$repo/.venv/bin/planguard" leases --id demo-leases --lease-namespace "$ns" \
  --selector planguard.io/fleet=demo-node --lease-duration 6 --renew-interval 2 \
  --checkin-key-file "$checkin_key" --loopback-agent-urls \
  --metrics-port 9110 >"$logs/leases.log" 2>&1 &
pids+=($!)
printf '%s\n' "${pids[@]}" > "$PLANGUARD_STATE/demo.pids"
fleet() { curl -s -X POST -d "$1" http://127.0.0.1:18600/control >/dev/null; }
leases() {
  sleep "$1"
  "$repo/.venv/bin/planguard" status -n "$ns" --lease-namespace "$ns" | tail -1 | sed 's/^/  /'
  echo "  demo-node-4 taints: [$(k get node demo-node-4 -o jsonpath='{.spec.taints[*].key}')]"
}
leases 8
step "agent of demo-node-4 stops: its lease lapses, the node is tainted NoSchedule"
fleet '{"down": ["demo-node-4"]}'
leases 14
step "it comes back: lease renewed, taint removed"
fleet '{"up": ["demo-node-4"]}'
leases 5
step "the dependency fails for every node (outage): leases lapse, but tainting is frozen"
fleet '{"outage": true}'
leases 14
step "recovery: every lease gets a full duration of grace, then is renewed; nobody tainted"
fleet '{"outage": false}'
leases 6

if [ "$keep" = "--keep" ]; then
  step "left running: KUBECONFIG=$KUBECONFIG; stop with hack/demo-down.sh"
else
  "$here/demo-down.sh"
  k delete nodes -l planguard.io/fleet=demo-node --wait=false >/dev/null 2>&1 || true
  step "demo done (control plane, BIND and PowerDNS still up; hack/cluster-down.sh, hack/bind-down.sh, hack/pdns-down.sh stop them)"
fi
