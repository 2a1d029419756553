#!/usr/bin/env bash
# A Debian bookworm base image made here from Debian's archive (debootstrap minbase, then
# `docker import`), for machines that reach no container registry. Made once per machine;
# prints the base by digest.
# What "by digest" means for a base made here: no registry gives it a manifest digest, and
# a rebuild never has the same content (file times), so its digest is its image ID (the
# sha256 of its config, which names its one layer's content digest), recorded under the
# cache when it is made (or, for a base made before records were kept, on first use).
# BuildKit cannot build FROM a bare ID (moby/moby#39769), so the base is referred to by a
# tag that is that ID, re-pointed at the recorded ID on every run: a later base under
# the plain tag (a rebuild, a `docker tag`) is never used silently. If the recorded image
# is gone, a new base is made and recorded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/versions.sh"
tag=${PLANGUARD_BASE_IMAGE:-planguard/debian:bookworm}
record=$PLANGUARD_CACHE/base-image/$(echo "$tag" | tr '/:' '__').id
mkdir -p "$(dirname "$record")"
by_id() { docker tag "$1" "${tag%:*}:sha256-${1#sha256:}" && echo "${tag%:*}:sha256-${1#sha256:}"; }
if [ -f "$record" ] && docker image inspect "$(cat "$record")" >/dev/null 2>&1; then
  by_id "$(cat "$record")"; exit 0
fi
if [ ! -f "$record" ] && id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null); then
  echo "$id" >"$record"; by_id "$id"; exit 0
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d "${TMPDIR:-/tmp}/planguard-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "    debootstrap --variant=minbase bookworm from $mirror (about 80 s)..." >&2
t0=$(date +%s)
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$PLANGUARD_CACHE/debootstrap.log" 2>&1 \
  || { tail -20 "$PLANGUARD_CACHE/debootstrap.log" >&2; exit 1; }
cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SRC
# Like Debian's official slim images: no docs, no man pages, no apt caches.
printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n' \
  >"$root/etc/dpkg/dpkg.cfg.d/docker-slim"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "    $tag imported in $(( $(date +%s) - t0 )) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))" >&2
docker image inspect -f '{{.Id}}' "$tag" >"$record"
by_id "$(cat "$record")"
