#!/usr/bin/env bash
# A Debian bookworm base image made here from Debian's archive (debootstrap minbase, then
# `docker import`), for machines that reach no container registry. Cached by the tag
# planguard/debian:bookworm-<date of the build>; a second run with the image present does
# nothing. Prints the tag.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/versions.sh"
tag=${PLANGUARD_BASE_IMAGE:-planguard/debian:bookworm}
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi
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
echo "$tag"
