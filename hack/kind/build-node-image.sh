#!/usr/bin/env bash
# kind's node image for Kubernetes $K8S_VERSION, built here from sources (no registry):
#   1. Kubernetes' binaries (kubelet, kubeadm, kubectl and the control plane), crictl and
#      CoreDNS from the Go module proxy; pause from Kubernetes' own pause.c
#   2. an image per component, named as kubeadm asks for them (kubeadm config images list)
#   3. kind's base image from kind's own recipe files, on Debian's containerd/runc/CNI
#   4. the node: kind's build steps (binaries in /usr/bin, /kind/version, the CNI and
#      storage manifests, every image imported into containerd), then `docker commit`
# Everything is cached by version: binaries under the cache, images by tag (the node's tag
# carries a hash of this recipe). Prints the node image's tag.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/versions.sh"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
# A module's source directory is known only once it is downloaded (a fresh machine has
# none): download first, then ask where it is.
module_dir() { (cd "$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2"); }
kind_src=$(module_dir "$here/../tools/kind" sigs.k8s.io/kind)
k8s_src=$(module_dir "$here/../tools/k8s" k8s.io/kubernetes)
[ -d "$kind_src/images/base/files" ] && [ -d "$k8s_src/build/pause" ] || {
  echo "kind or Kubernetes module source missing ($kind_src, $k8s_src)" >&2; exit 1; }
recipe=$(cat "$here"/build-node-image.sh "$here"/node-base.Dockerfile "$here"/images/* | sha256sum | cut -c1-10)
node_tag=planguard/kind-node:$K8S_VERSION-$recipe
log() { echo "    $*" >&2; }
if docker image inspect "$node_tag" >/dev/null 2>&1; then log "node image $node_tag: cached"; echo "$node_tag"; exit 0; fi
t_all=$(date +%s)
base=$("$here/build-base.sh")
dbuild() { DOCKER_BUILDKIT=1 "$("$here/docker-cli.sh")" build -q --label "planguard.recipe=$recipe" "$@" >/dev/null; }
# An image is reused only when this recipe built it (a changed script rebuilds it).
have() { [ "$(docker image inspect -f '{{index .Config.Labels "planguard.recipe"}}' "$1" 2>/dev/null)" = "$recipe" ]; }

# 1. binaries
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldk8s="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean"
bins=$PLANGUARD_CACHE/kind-node-$K8S_VERSION/bin
mkdir -p "$bins"
gobuild() {  # gobuild NAME TOOLDIR PACKAGE LDFLAGS [OUTDIR]
  local name=$1 dir=$2 pkg=$3 ld=$4 out=${5:-$bins} t0
  if [ -x "$out/$name" ]; then log "$name: cached"; return; fi
  log "building $name from the Go module proxy (1-3 min on 2 cores)..."
  t0=$(date +%s)
  (cd "$here/../tools/$dir" && go build -trimpath -tags=selinux,notest,providerless \
      -ldflags "$ld" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  log "$name built in $(( $(date +%s) - t0 )) s"
}
"$here/../build-control-plane.sh" >&2   # kube-apiserver, kubectl, etcd (shared with the tests)
for c in kube-apiserver kubectl etcd; do ln -sf "$CP_BIN_DIR/$c" "$bins/$c"; done
for c in kubelet kubeadm kube-controller-manager kube-scheduler kube-proxy; do
  gobuild "$c" k8s "k8s.io/kubernetes/cmd/$c" "$ldk8s"
done
gobuild crictl crictl sigs.k8s.io/cri-tools/cmd/crictl \
  "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
gobuild coredns coredns github.com/coredns/coredns \
  "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
if [ ! -x "$bins/pause" ]; then
  log "building pause from $k8s_src/build/pause/linux/pause.c"
  gcc -Os -static -DVERSION="$K8S_VERSION" -o "$bins/pause" "$k8s_src/build/pause/linux/pause.c"
  strip "$bins/pause"
fi

# 2. component images, named as kubeadm and kind's containerd config ask for them
mapfile -t wanted < <("$bins/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null)
sandbox=$(sed -n 's/^ *sandbox_image *= *"\(.*\)"/\1/p' "$kind_src/images/base/files/etc/containerd/config.toml")
wanted+=("$sandbox")
ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
cp "$here"/images/* "$ctx/"
images=()
for ref in "${wanted[@]}"; do
  name=${ref##*/}; name=${name%%:*}
  if have "$ref"; then log "image $ref: cached"; images+=("$ref"); continue; fi
  t0=$(date +%s)
  case $name in
    kube-proxy) cp "$bins/kube-proxy" "$ctx/"
      dbuild -f "$ctx/tools.Dockerfile" --build-arg BASE_IMAGE="$base" --build-arg BIN=kube-proxy -t "$ref" "$ctx" ;;
    coredns) cp "$bins/coredns" "$ctx/"
      [ "${ref##*:}" = "$COREDNS_VERSION" ] || { echo "kubeadm wants $ref, COREDNS_VERSION is $COREDNS_VERSION" >&2; exit 1; }
      printf 'FROM scratch\nCOPY coredns /coredns\nENTRYPOINT ["/coredns"]\n' >"$ctx/coredns.Dockerfile"
      dbuild -f "$ctx/coredns.Dockerfile" -t "$ref" "$ctx" ;;
    pause) cp "$bins/pause" "$ctx/"
      printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/pause.Dockerfile"
      dbuild -f "$ctx/pause.Dockerfile" -t "$ref" "$ctx" ;;
    *) cp -L "$bins/$name" "$ctx/"
      dbuild -f "$ctx/static.Dockerfile" --build-arg BIN="$name" -t "$ref" "$ctx" ;;
  esac
  log "image $ref built in $(( $(date +%s) - t0 )) s"
  images+=("$ref")
done
kindnet=planguard/kindnet:$recipe
if ! have "$kindnet"; then
  cp "$here/images/kindnet.sh" "$ctx/kindnet"
  dbuild -f "$ctx/tools.Dockerfile" --build-arg BASE_IMAGE="$base" --build-arg BIN=kindnet -t "$kindnet" "$ctx"
  log "image $kindnet built"
fi
images+=("$kindnet")

# 3. kind's base image, from kind's recipe files
node_base=planguard/kind-base:$KIND_VERSION-$recipe
if ! have "$node_base"; then
  log "kind base image (kind $KIND_VERSION recipe files, Debian's containerd/runc/CNI; ~2 min)..."
  t0=$(date +%s)
  bctx=$(mktemp -d)
  cp -r "$kind_src/images/base/files" "$bctx/files"; chmod -R u+w "$bctx"
  # No fuse-overlayfs snapshotter here (kind uses it only for rootless nodes).
  sed -i '/^\[proxy_plugins/,/^  address/d' "$bctx/files/etc/containerd/config.toml"
  mkdir -p "$bctx/bin"; cp "$bins/crictl" "$bctx/bin/"
  dbuild -f "$here/node-base.Dockerfile" --build-arg BASE_IMAGE="$base" -t "$node_base" "$bctx"
  rm -rf "$bctx"
  log "kind base image built in $(( $(date +%s) - t0 )) s"
fi

# 4. the node, as kind's `build node-image` assembles it
log "assembling $node_tag (kind's node-image steps)..."
t0=$(date +%s)
id=planguard-node-build-$$
docker run -d --entrypoint=sleep --name="$id" --security-opt seccomp=unconfined "$node_base" infinity >/dev/null
trap 'rm -rf "$ctx"; docker rm -f "$id" >/dev/null 2>&1 || true' EXIT
for b in kubelet kubeadm kubectl; do docker cp -L "$bins/$b" "$id:/usr/bin/$b"; done
docker exec "$id" sh -c "chmod 0755 /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl && mkdir -p /kind/manifests && echo $K8S_VERSION > /kind/version"
# kind's default CNI manifest with the kindnet stand-in's image and command.
sed -n '/^const defaultCNIManifest = `/,/^`/p' "$kind_src/pkg/build/nodeimage/const_cni.go" | sed '1d;$d' \
  | sed "s#image: \` + kindnetdImage + \`#image: $kindnet\n        command: [/usr/local/bin/kindnet]#" \
  | sed 's#^        volumeMounts:$#        volumeMounts:\n        - {name: kubelet-conf, mountPath: /etc/kubernetes/kubelet.conf, readOnly: true}#' \
  | sed 's#^      volumes:$#      volumes:\n      - {name: kubelet-conf, hostPath: {path: /etc/kubernetes/kubelet.conf, type: File}}#' \
  | docker exec -i "$id" sh -c 'cat > /kind/manifests/default-cni.yaml'
# No storage provisioner image can be built here (its source is not on the proxy); kind then
# installs its own fallback StorageClass. planguard needs no volumes.
docker exec "$id" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 & for i in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done; cat /tmp/containerd.log; exit 1'
for ref in "${images[@]}"; do
  docker save "$ref" | docker exec -i "$id" ctr --namespace=k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
done
docker exec "$id" sh -c 'ctr --namespace=k8s.io images list -q | grep -v "^sha256:"' | sed 's/^/      preloaded /' >&2
docker exec "$id" pkill containerd || true
sleep 1
docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' "$id" "$node_tag" >/dev/null
log "node image $node_tag in $(( $(date +%s) - t0 )) s (all steps $(( $(date +%s) - t_all )) s)"
# Older builds of this recipe's images are only disk now.
for repo_ in planguard/kind-node planguard/kind-base planguard/kindnet; do
  docker images --format '{{.Repository}}:{{.Tag}}' "$repo_" | grep -v -e "$recipe" \
    | xargs -r docker rmi >/dev/null 2>&1 || true
done
echo "$node_tag"
