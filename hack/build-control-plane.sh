#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from source through the Go module proxy, at the
# versions pinned in hack/lib/versions.sh, into a cache outside the repository.
# A second run with the binaries present does nothing.
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

step=0
build() {  # build NAME MODULE_DIR PACKAGE LDFLAGS
  local name=$1 dir=$2 pkg=$3 ld=$4 t0
  step=$((step + 1))
  if [ -x "$CP_BIN_DIR/$name" ]; then
    echo "[$step/3] $name: cached in $CP_BIN_DIR"
    return
  fi
  echo "[$step/3] building $name from the Go module proxy (first build: several minutes on 2 cores)..."
  t0=$(date +%s)
  (cd "$here/tools/$dir" && go build -trimpath -tags=selinux,notest,providerless -ldflags "$ld" \
      -o "$CP_BIN_DIR/$name.tmp" "$pkg")
  mv "$CP_BIN_DIR/$name.tmp" "$CP_BIN_DIR/$name"
  echo "[$step/3] $name built in $(( $(date +%s) - t0 )) s"
}

build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s k8s.io/kubernetes/cmd/kube-apiserver "$ldk8s"
build kubectl k8s k8s.io/kubernetes/cmd/kubectl "$ldk8s"
echo "control plane binaries ready in $CP_BIN_DIR"
