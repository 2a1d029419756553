#!/usr/bin/env bash
# Removes the kind cluster made by hack/kind-up.sh (and its kubeconfig). Images stay cached;
# a Docker engine hack/kind/docker-up.sh started is stopped with --engine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/hack/lib/versions.sh"
cluster=${KIND_CLUSTER:-planguard}
export PATH="$KIND_BIN_DIR:$PATH"
if command -v kind >/dev/null && docker info >/dev/null 2>&1; then
  kind delete cluster --name "$cluster" 2>&1 | sed 's/^/    /'
fi
rm -f "$PLANGUARD_CACHE/state/kind-$cluster.kubeconfig"
ip route del 10.96.0.0/16 2>/dev/null || true  # the route to its Services (kind-up.sh)
if [ "${1:-}" = "--engine" ] && [ -f "$PLANGUARD_CACHE/docker/dockerd.pid" ]; then
  kill "$(cat "$PLANGUARD_CACHE/docker/dockerd.pid")" 2>/dev/null || true
  echo "    stopped dockerd"
fi
