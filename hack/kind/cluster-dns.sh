#!/usr/bin/env bash
# Cluster DNS for planguard's zones: a stub zone in CoreDNS's Corefile (kube-system/coredns)
# that forwards each zone to the DNS tier's secondaries, then CoreDNS restarted to take it.
# Run again with other zones or another address: the block is replaced, never doubled.
#   hack/kind/cluster-dns.sh SECONDARIES_IP ZONE [ZONE...]
# The cache, chosen for a zone whose answers change with every plan:
# - success answers at most their own TTL (planguard's, e.g. 5 s on the probes) and never
#   more than 30 s: a plan reaches pods within one TTL of reaching the secondaries;
# - "no such name" at most 5 s (the zone says 10): a name a plan adds is found quickly;
# - serve_stale 1h verify: while the secondaries cannot be reached, pods get the last
#   answers (for up to an hour) instead of SERVFAIL; while they can, never a stale one.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SECONDARIES_IP ZONE [ZONE...]" >&2; exit 2; }
ip=$1; shift
zones=$*
current=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
# The block (hack/kind/coredns-zone.conf) is the one bench/serving_tier.py runs too.
block="# planguard zones begin
$(sed -e "s#ZONES#$zones#" -e "s#UPSTREAMS#$ip#" "$(dirname "$0")/coredns-zone.conf")
# planguard zones end"
corefile=$(printf '%s\n' "$current" | sed '/^# planguard zones begin$/,/^# planguard zones end$/d')
corefile="$corefile
$block"
kubectl -n kube-system create configmap coredns --from-literal=Corefile="$corefile" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n kube-system rollout restart deploy/coredns >/dev/null
kubectl -n kube-system rollout status deploy/coredns --timeout=180s
echo "    CoreDNS: $zones forwarded to $ip (cache 30 s, no-such-name 5 s, serve_stale 1h)"
