#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from source through the Go module proxy, at the
# versions pinned in hack/lib/versions.sh, into a cache outside the repository.
# A second run with the binaries present does nothing.
# etcd (a module of its own) builds beside kube-apiserver and kubectl, which build in one
# `go build`: each overlaps the other's downloads and links, where one core would idle.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/versions.sh"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
mkdir -p "$CP_BIN_DIR"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldk8s="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean"

build() {  # build MODULE_DIR LDFLAGS NAME...: the missing ones (etcd, or k8s.io/kubernetes/cmd/NAME)
  local dir=$1 ld=$2 t0 tmp out pkgs=() names=() name
  shift 2
  for name in "$@"; do
    if [ -x "$CP_BIN_DIR/$name" ]; then
      echo "$name: cached in $CP_BIN_DIR"
    else
      names+=("$name")
      case $name in
        etcd) pkgs+=(go.etcd.io/etcd/server/v3) ;;
        *) pkgs+=("k8s.io/kubernetes/cmd/$name") ;;
      esac
    fi
  done
  [ ${#names[@]} -gt 0 ] || return 0
  echo "building ${names[*]} from the Go module proxy (first build: several minutes on 2 cores)..."
  t0=$(date +%s)
  tmp=$(mktemp -d "$CP_BIN_DIR/.build.XXXXXX")
  # -o a directory: one binary per main package, named after its last path element.
  out=$tmp/; [ ${#names[@]} -gt 1 ] || out=$tmp/${names[0]}
  if ! (cd "$here/tools/$dir" && go build -trimpath -tags=selinux,notest,providerless \
          -ldflags "$ld" -o "$out" "${pkgs[@]}"); then
    rm -rf "$tmp"
    return 1
  fi
  for name in "${names[@]}"; do mv "$tmp/$name" "$CP_BIN_DIR/$name"; done
  rmdir "$tmp"
  echo "${names[*]} built in $(( $(date +%s) - t0 )) s"
}

build k8s "$ldk8s" kube-apiserver kubectl &
k8s=$!
etcd_ok=0
build etcd "-s -w" etcd || etcd_ok=$?
k8s_ok=0
wait "$k8s" || k8s_ok=$?
[ "$etcd_ok" = 0 ] && [ "$k8s_ok" = 0 ] || exit 1
echo "control plane binaries ready in $CP_BIN_DIR"
