#!/usr/bin/env bash
# The NetworkPolicy enforcer for a kind cluster of node images built here (the kindnet
# stand-in routes pods and enforces nothing): kube-router $KUBE_ROUTER_VERSION, only its
# firewall (iptables + ipset), built from the Go module proxy into the cache, in the tools
# image (hack/kind/images/tools.Dockerfile: iptables through iptables-wrapper, ipset).
# Cached by version (binary) and by recipe (image tag). Prints the image's tag.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/versions.sh"
log() { echo "    $*" >&2; }
recipe=$(cat "$0" "$here/images/tools.Dockerfile" "$here/images/iptables-wrapper" | sha256sum | cut -c1-10)
tag=planguard/kube-router:$KUBE_ROUTER_VERSION-$recipe
if docker image inspect "$tag" >/dev/null 2>&1; then log "image $tag: cached"; echo "$tag"; exit 0; fi
bin=$PLANGUARD_CACHE/kube-router-$KUBE_ROUTER_VERSION/bin
if [ ! -x "$bin/kube-router" ]; then
  log "building kube-router $KUBE_ROUTER_VERSION from the Go module proxy (~2 min on 2 cores)..."
  t0=$(date +%s)
  tmp=$(mktemp -d)
  # pkg@version: the module's own go.mod decides the dependencies, not a tools module here.
  env -u GOFLAGS CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  mkdir -p "$bin"; mv "$tmp/kube-router" "$bin/kube-router"; rm -rf "$tmp"
  log "kube-router built in $(( $(date +%s) - t0 )) s"
fi
t0=$(date +%s)
base=$("$here/build-base.sh")
ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
cp "$here/images/tools.Dockerfile" "$here/images/iptables-wrapper" "$bin/kube-router" "$ctx/"
DOCKER_BUILDKIT=1 "$("$here/docker-cli.sh")" build -q -f "$ctx/tools.Dockerfile" \
  --build-arg BASE_IMAGE="$base" --build-arg BIN=kube-router -t "$tag" "$ctx" >/dev/null
log "image $tag built in $(( $(date +%s) - t0 )) s"
docker images --format '{{.Repository}}:{{.Tag}}' planguard/kube-router | grep -vx "$tag" \
  | xargs -r docker rmi >/dev/null 2>&1 || true  # older recipes: only disk now
echo "$tag"
