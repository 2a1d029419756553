#!/usr/bin/env bash
# Prints the docker client to build images with: `docker` when it can build (BuildKit via
# buildx, or an engine whose client has BuildKit built in), else Debian's /usr/bin/docker
# (20.10, BuildKit built in) when the first docker on the PATH wants a missing buildx.
if docker buildx version >/dev/null 2>&1; then echo docker
elif [ -x /usr/bin/docker ]; then echo /usr/bin/docker
else echo docker; fi
