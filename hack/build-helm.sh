#!/usr/bin/env bash
# Builds helm from source through the Go module proxy into the cache (once per version).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/versions.sh"
HELM_VERSION=${HELM_VERSION:-v3.21.4}
bin=$PLANGUARD_CACHE/helm-$HELM_VERSION/bin
if [ -x "$bin/helm" ]; then echo "$bin/helm"; exit 0; fi
echo "building helm $HELM_VERSION from the Go module proxy (first time: a few minutes)..." >&2
mkdir -p "$bin"
t0=$(date +%s)
CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$bin" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
echo "helm built in $(( $(date +%s) - t0 )) s" >&2
echo "$bin/helm"
