#!/usr/bin/env bash
# The main job on the embedded default: a local kube-apiserver + etcd and BIND, three
# enactors (one per "availability zone", each with its own TSIG key) and clean-up, then
# sample plans pushed with kubectl apply and what DNS and kubectl show after each.
#   hack/demo.sh          run the story, then stop the planguard processes
#   hack/demo.sh --keep   leave everything running (stop with hack/demo-down.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
. "$here/lib/bind.sh"
keep=${1:-}
"$here/setup.sh"
"$here/cluster-up.sh"
"$here/bind-up.sh"
"$here/bind-delzone.sh" example.test  # a fresh zone: the demo starts from generation 1
"$here/bind-addzone.sh" example.test
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
k wait --for=condition=Established crd/dnsplans.planguard.io crd/dnszones.planguard.io >/dev/null
k get ns "$ns" >/dev/null 2>&1 || k create ns "$ns" >/dev/null
for o in $(k get dnsplans,dnszones -n "$ns" -o name); do  # leftovers of an earlier run
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
step "zone status (what the enactors and clean-up report)"
k get dnszone dynamo -n "$ns" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.message}{"\n"}{end}' | sed 's/^/  /'
echo "  enactors: $(k get dnszone dynamo -n "$ns" -o jsonpath='{.status.enactors}')"
echo "  metrics: curl -s localhost:9101/metrics | grep ^planguard_"
curl -s localhost:9101/metrics | grep -E '^planguard_(enactor_applied_generation|cas_outcomes_total)' | sed 's/^/  /'

if [ "$keep" = "--keep" ]; then
  step "left running: KUBECONFIG=$KUBECONFIG; stop with hack/demo-down.sh"
else
  "$here/demo-down.sh"
  step "demo done (control plane and BIND still up; hack/cluster-down.sh, hack/bind-down.sh stop them)"
fi
