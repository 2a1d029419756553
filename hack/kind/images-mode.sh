#!/usr/bin/env bash
# Prints where kind's images come from: "local" (all built here, no registry) when the
# Docker engine is the one hack/kind/docker-up.sh started, "public" with an ordinary Docker.
# PLANGUARD_KIND_IMAGES=local|public overrides.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/versions.sh"
if [ -n "${PLANGUARD_KIND_IMAGES:-}" ]; then echo "$PLANGUARD_KIND_IMAGES"; exit 0; fi
pid=$PLANGUARD_CACHE/docker/dockerd.pid
if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then echo local; else echo public; fi
