#!/usr/bin/env bash
# Stops the local kube-apiserver and etcd started by cluster-up.sh (their pids only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/versions.sh"
dir=$PLANGUARD_STATE/cp
for p in kube-apiserver etcd; do
  f=$dir/$p.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    echo "stopped $p ($pid)"
  fi
  rm -f "$f"
done
