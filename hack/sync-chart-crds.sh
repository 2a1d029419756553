#!/usr/bin/env bash
# Copies crds/ into the Helm chart (crds/ is the source of truth); --check only compares.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dst=$repo/charts/planguard/crds
if [ "${1:-}" = "--check" ]; then
  diff -r "$repo/crds" "$dst" >/dev/null || {
    echo "charts/planguard/crds differs from crds/: run hack/sync-chart-crds.sh" >&2; exit 1; }
  exit 0
fi
mkdir -p "$dst"
rm -f "$dst"/*.yaml
cp "$repo"/crds/*.yaml "$dst"/
