#!/usr/bin/env bash
# Stops the local kube-apiserver and etcd started by cluster-up.sh (their pids only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/versions.sh"
. "$here/lib/stop.sh"
for p in kube-apiserver etcd; do
  stop_pidfile "$PLANGUARD_STATE/cp/$p.pid" "$p"
done
