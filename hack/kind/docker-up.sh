#!/usr/bin/env bash
# Makes sure a Docker engine answers, for the kind path. On a machine with Docker running,
# it does nothing. Otherwise it installs Debian's docker.io if dockerd is missing, and
# starts dockerd (pid file and log under the cache). Only where the capability bounding
# set of this machine is incomplete (`docker run --privileged` then fails with "unable to
# apply caps") does it register hack/kind/runc-capfilter as dockerd's default runtime.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/versions.sh"
state=$PLANGUARD_CACHE/docker
mkdir -p "$state"

if docker info >/dev/null 2>&1; then
  echo "    docker engine already running ($(docker info -f '{{.ServerVersion}}'))"
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "    installing Debian's docker.io (dockerd, containerd, runc)..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >"$state/apt.log" 2>&1 \
    || { tail -20 "$state/apt.log" >&2; exit 1; }
fi

# Every capability the kernel knows, against the bounding set of this shell.
last=$(cat /proc/sys/kernel/cap_last_cap)
want=$(( (1 << (last + 1)) - 1 ))
have=$(( 16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status) ))
args=(--pidfile "$state/dockerd.pid" --exec-root "$state/exec" -H unix:///var/run/docker.sock)
if [ $(( have & want )) -ne "$want" ]; then
  missing=$(printf '%x' $(( want & ~have )))
  echo "    capability bounding set incomplete (missing mask 0x$missing): runtime runc-capfilter"
  args+=(--add-runtime "capfilter=$here/runc-capfilter" --default-runtime capfilter)
fi
echo "    starting dockerd (log: $state/dockerd.log)"
t0=$(date +%s)
nohup dockerd "${args[@]}" >"$state/dockerd.log" 2>&1 &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    echo "    dockerd $(docker info -f '{{.ServerVersion}}') up in $(( $(date +%s) - t0 )) s"
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 60 s; see $state/dockerd.log" >&2
tail -20 "$state/dockerd.log" >&2
exit 1
