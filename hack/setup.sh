#!/usr/bin/env bash
# Installs everything planguard's demo and tests need on a fresh machine, idempotently:
# the Python environment (.venv), BIND 9 and PowerDNS from Debian, and
# kube-apiserver/etcd/kubectl built and helm from source through the Go module proxy into
# the cache (first build: ~7 min on 2 cores); for the kind suite a Docker engine and every image (hack/kind/: first build
# ~15 min, then cached).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
t0=$(date +%s)

echo "==> [1/6] Python environment (.venv)"
"$here/install-python.sh"
"$repo/.venv/bin/python" -c "import kopf, dns.version; print('    kopf', kopf.__version__ if hasattr(kopf, '__version__') else '', 'dnspython', dns.version.version)"

echo "==> [2/6] BIND 9 and PowerDNS Authoritative (Debian packages)"
"$here/install-bind.sh"
echo "    $(named -v)"
"$here/install-pdns.sh"
echo "    $(pdns_server --version 2>&1 | grep -o 'PowerDNS Authoritative Server [^ ]*' | head -1)"

echo "==> [3/6] kube-apiserver, etcd, kubectl (cached by version outside the repo)"
"$here/build-control-plane.sh"
echo "==> [4/6] helm (cached by version outside the repo)"
"$here/build-helm.sh"
echo "==> [5/6] Prometheus and promtool (Debian package)"
"$here/install-prometheus.sh"
echo "==> [6/6] Docker engine and the kind suite's images (cached; first time ~15 min)"
"$here/kind/docker-up.sh"
mode=$("$here/kind/images-mode.sh")
"$here/kind/build-images.sh" "$mode" >/dev/null
if [ "$mode" = local ]; then "$here/kind/build-node-image.sh" >/dev/null; fi
echo "==> setup done in $(( $(date +%s) - t0 )) s"
