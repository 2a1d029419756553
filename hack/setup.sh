#!/usr/bin/env bash
# Installs what planguard's demo and tests need on a fresh machine, idempotently.
#   hack/setup.sh          everything (the test command and CI): the demo's parts, then helm,
#                          Prometheus, a Docker engine and every kind image (first time ~15 min)
#   hack/setup.sh --demo   the demo's parts only: the Python environment (.venv), BIND 9 and
#                          PowerDNS from Debian, kube-apiserver/etcd/kubectl built through the
#                          Go module proxy into the cache (first build ~5 min on 2 cores)
# The control plane builds in the background from the start (its output is shown at its
# step): the Python and Debian steps need the network more than the CPU.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
case ${1:-} in
  "") n=6 ;;
  --demo) n=3 ;;
  *) echo "usage: $0 [--demo]" >&2; exit 2 ;;
esac
t0=$(date +%s)
step=0
say() { step=$((step + 1)); echo "==> [$step/$n] $* (at $(( $(date +%s) - t0 )) s)"; }

cp_log=$(mktemp)
# Its own process group, so that a setup stopped early stops the go builds under it too.
setsid "$here/build-control-plane.sh" >"$cp_log" 2>&1 &
cp_pid=$!
trap 'kill -0 "$cp_pid" 2>/dev/null && kill -- -"$cp_pid" 2>/dev/null; rm -f "$cp_log"' EXIT

say "Python environment (.venv)"
"$here/install-python.sh"
"$repo/.venv/bin/python" -c "import kopf, dns.version; print('    kopf', kopf.__version__ if hasattr(kopf, '__version__') else '', 'dnspython', dns.version.version)"

say "BIND 9 and PowerDNS Authoritative (Debian packages)"
"$here/install-bind.sh"
echo "    $(named -v)"
"$here/install-pdns.sh"
echo "    $(pdns_server --version 2>&1 | grep -o 'PowerDNS Authoritative Server [^ ]*' | head -1)"

say "kube-apiserver, etcd, kubectl (cached by version outside the repo)"
# Indented; Go's line per module downloaded (a few hundred on a fresh machine) as one.
tail -n +1 -f --pid="$cp_pid" "$cp_log" | while IFS= read -r line; do
  case $line in
    "go: downloading "*) [ -n "${downloading:-}" ] || echo "    go: downloading modules..."
                         downloading=1 ;;
    *) echo "    $line" ;;
  esac
done
wait "$cp_pid" || { echo "hack/build-control-plane.sh failed" >&2; exit 1; }

if [ "$n" = 6 ]; then
  say "helm (cached by version outside the repo)"
  "$here/build-helm.sh" | sed -u 's/^/    /'
  say "Prometheus and promtool (Debian package)"
  "$here/install-prometheus.sh"
  say "Docker engine and the kind suite's images (cached; first time ~15 min)"
  "$here/kind/docker-up.sh"
  mode=$("$here/kind/images-mode.sh")
  "$here/kind/build-images.sh" "$mode" >/dev/null
  if [ "$mode" = local ]; then "$here/kind/build-node-image.sh" >/dev/null; fi
fi
echo "==> setup done in $(( $(date +%s) - t0 )) s"
