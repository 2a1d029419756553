#!/usr/bin/env bash
# Restarts kube-apiserver alone (etcd and its data stay), for fault tests. Waits for /readyz.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/versions.sh"
dir=$PLANGUARD_STATE/cp
api_port=${PLANGUARD_APISERVER_PORT:-16443}
pid=$(cat "$dir/kube-apiserver.pid")
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null || true
sleep "${1:-0}"
setsid bash "$dir/kube-apiserver.cmd" >>"$dir/kube-apiserver.log" 2>&1 &
echo $! > "$dir/kube-apiserver.pid"
for _ in $(seq 1 600); do
  curl -s --max-time 1 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "https://127.0.0.1:$api_port/readyz" 2>/dev/null | grep -q '^ok' && { echo "kube-apiserver restarted"; exit 0; }
  sleep 0.1
done
echo "kube-apiserver did not come back; see $dir/kube-apiserver.log" >&2
exit 1
