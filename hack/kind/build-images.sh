#!/usr/bin/env bash
# planguard's and BIND's images for the kind path, built here from the local Debian base
# (hack/kind/build-base.sh), PyPI reached with the host's CA bundle. Prints two lines:
# the planguard image and the BIND image. Docker's layer cache makes a rebuild with no
# change a few seconds. A third line: the Prometheus image (Debian's package) for the
# in-cluster monitoring (hack/kind/monitoring-up.sh).
#   hack/kind/build-images.sh [local|public]
# public: planguard's image FROM the public python image, BIND's and Prometheus' public
# images (no build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mode=${1:-local}
cli=$("$here/docker-cli.sh")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")
revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
build=(env DOCKER_BUILDKIT=1 "$cli" build -q --build-arg VERSION="$version")
# The CA bundle pip trusts here (a TLS-inspecting proxy's CA among them, on some machines).
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ -f "$ca" ] && secret=(--secret "id=ca,src=$ca")
t0=$(date +%s)
if [ "$mode" = local ]; then
  base=$("$here/build-base.sh")
  "${build[@]}" "${secret[@]}" --build-arg BASE_IMAGE="$base" --build-arg REVISION="$revision" \
    -t planguard:dev "$repo" >/dev/null
  echo "    planguard:dev built in $(( $(date +%s) - t0 )) s" >&2
  t0=$(date +%s)
  "${build[@]}" --build-arg BASE_IMAGE="$base" -t planguard/bind9:bookworm -f "$here/bind.Dockerfile" "$here" >/dev/null
  echo "    planguard/bind9:bookworm built in $(( $(date +%s) - t0 )) s" >&2
  t0=$(date +%s)
  "${build[@]}" --build-arg BASE_IMAGE="$base" -t planguard/prometheus:bookworm -f "$here/prometheus.Dockerfile" "$here" >/dev/null
  echo "    planguard/prometheus:bookworm built in $(( $(date +%s) - t0 )) s" >&2
  echo planguard:dev; echo planguard/bind9:bookworm; echo planguard/prometheus:bookworm
else
  "${build[@]}" "${secret[@]}" -t planguard:dev "$repo" >/dev/null
  echo "    planguard:dev built in $(( $(date +%s) - t0 )) s" >&2
  echo planguard:dev; echo internetsystemsconsortium/bind9:9.18; echo prom/prometheus:v2.53.2
fi
