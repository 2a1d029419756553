#!/usr/bin/env bash
# Generates the chart's CRD templates from crds/ (the source of truth): each CRD verbatim,
# behind {{ if .Values.crds.enabled }}, with the chart's labels and, with crds.keep, the
# annotation helm.sh/resource-policy: keep. Templates, not the chart's crds/ directory,
# because Helm installs crds/ once and never upgrades it. --check only compares.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dst=$repo/charts/planguard/templates/crds

generate() {  # generate DIR: writes every template into DIR
  local f name
  for f in "$repo"/crds/*.yaml; do
    name=$(basename "$f")
    # The CRD text goes through Go templates: an action in it would be evaluated.
    if grep -q '{{' "$f"; then echo "crds/$name contains '{{': cannot be templated" >&2; exit 1; fi
    grep -qx 'metadata:' "$f" || { echo "crds/$name: no top-level 'metadata:' line" >&2; exit 1; }
    {
      echo "{{- /* Generated from crds/$name by hack/sync-chart-crds.sh: edit that, then run this. */ -}}"
      echo "{{- if .Values.crds.enabled }}"
      awk '
        { print }
        $0 == "metadata:" && !done {
          print "  labels: {{- include \"planguard.labels\" . | nindent 4 }}"
          print "  {{- if .Values.crds.keep }}"
          print "  annotations:"
          print "    helm.sh/resource-policy: keep"
          print "  {{- end }}"
          done = 1
        }' "$f"
      echo "{{- end }}"
    } > "$1/$name"
  done
}

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  generate "$tmp"
  diff -r "$tmp" "$dst" >/dev/null 2>&1 || {
    echo "charts/planguard/templates/crds differs from crds/: run hack/sync-chart-crds.sh" >&2; exit 1; }
  if [ -e "$repo/charts/planguard/crds" ]; then
    echo "charts/planguard/crds/ must not exist (Helm would install those CRDs too)" >&2; exit 1
  fi
  exit 0
fi
mkdir -p "$dst"
rm -f "$dst"/*.yaml
generate "$dst"
