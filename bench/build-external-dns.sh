#!/usr/bin/env bash
# Builds kubernetes-sigs/external-dns from source through the Go module proxy into the
# cache outside the repository (once per version), and copies its DNSEndpoint CRD beside
# the binary so bench/peer_external_dns.py can install it. Prints the binary's path.
#
#   bench/build-external-dns.sh          # progress on stderr, the path on stdout
#
# v0.23.0 is the newest release the proxy serves. Its go.mod says `go 1.27.0` and this
# machine has Go 1.26, so the build runs under a pinned Go 1.27 toolchain, itself a module
# (golang.org/toolchain) fetched through the same proxy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../hack/lib/versions.sh"
EXTERNAL_DNS_VERSION=${EXTERNAL_DNS_VERSION:-v0.23.0}
EXTERNAL_DNS_GO=${EXTERNAL_DNS_GO:-go1.27.4}
mod=sigs.k8s.io/external-dns
dir=$PLANGUARD_CACHE/external-dns-$EXTERNAL_DNS_VERSION
bin=$dir/bin/external-dns
crd=$dir/dnsendpoints.externaldns.k8s.io.yaml

if [ -x "$bin" ] && [ -s "$crd" ]; then
  echo "external-dns $EXTERNAL_DNS_VERSION: cached in $dir" >&2
  echo "$bin"
  exit 0
fi
export CGO_ENABLED=0 GOTOOLCHAIN=$EXTERNAL_DNS_GO GOFLAGS="-mod=mod -buildvcs=false"
t0=$(date +%s)
mkdir -p "$dir/bin"
# `go mod download` rather than `go install mod@ver`: the latter refuses a module whose
# go.mod has replace directives, and this way the CRD YAML comes from the same source.
info=$(cd "$PLANGUARD_CACHE" && go mod download -json "$mod@$EXTERNAL_DNS_VERSION")
src=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  echo "go mod download failed: $info" >&2
  exit 1
fi

if [ ! -s "$crd" ]; then
  found=""
  for d in config/crd/standard config/crd charts/external-dns/crds docs; do
    [ -d "$src/$d" ] || continue
    found=$(find "$src/$d" -name 'dnsendpoint*.yaml' | sort | head -n1)
    [ -n "$found" ] && break
  done
  if [ -z "$found" ]; then
    echo "no DNSEndpoint CRD found in $mod@$EXTERNAL_DNS_VERSION" >&2
    exit 1
  fi
  cat "$found" > "$crd.tmp" && mv "$crd.tmp" "$crd"  # the module cache is read-only
  echo "external-dns CRD: ${found#"$src"/} -> $crd" >&2
fi
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

echo "building external-dns $EXTERNAL_DNS_VERSION with $EXTERNAL_DNS_GO from the Go module" \
  "proxy, this takes minutes on first run (about 10 on 2 cores)..." >&2
# The module cache is read-only; build in a scratch copy that is removed afterwards.
work=$(mktemp -d "${TMPDIR:-/tmp}/external-dns-src.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
# The proxy refuses (403 "not available") three of its dependencies: civogo and egoscale/v3
# (the Civo and Exoscale providers) and openshift/api (the openshift-route source). Cut
# exactly those from our copy; the bench uses only source=crd and provider=rfc2136.
rm -rf "$work/provider/civo" "$work/provider/exoscale" "$work"/source/openshift_route*.go
perl -0pi -e '
  s{^\s*"sigs.k8s.io/external-dns/provider/(civo|exoscale)"\n}{}mg;
  s{^\s*externaldns.Provider(Civo|Exoscale):.*\n}{}mg' "$work/provider/factory/provider.go"
perl -0pi -e '
  s{^\s*openshift "github.com/openshift/client-go/route/clientset/versioned"\n}{}m;
  s{openshift\.Interface}{any}g;
  s{p\.openshiftClient, p\.openshiftClientErr = openshift\.NewForConfig\(config\)}
   {p.openshiftClientErr = errors.New("openshift-route source not in this build")};
  s{return NewOcpRouteSource\(ctx, ocpClient, cfg\)}{_ = ocpClient\n\treturn nil, ErrSourceNotFound}
' "$work/source/store.go"
if grep -rq --include='*.go' -E 'provider/(civo|exoscale)"|openshift\.|NewOcpRouteSource\(ctx' \
    "$work/provider/factory" "$work/source/store.go"; then
  echo "patching external-dns $EXTERNAL_DNS_VERSION failed: the source changed, adjust the script" >&2
  exit 1
fi
echo "  compiling (about 1,000 packages: the providers for every cloud come along)..." >&2
(cd "$work" && go build -trimpath \
  -ldflags "-s -w -X $mod/pkg/apis/externaldns.Version=$EXTERNAL_DNS_VERSION" \
  -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "external-dns $EXTERNAL_DNS_VERSION built in $(( $(date +%s) - t0 )) s: $bin" >&2
echo "$bin"
