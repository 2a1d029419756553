#!/usr/bin/env bash
# planguard on a kind cluster: one control plane and three workers in zones zone-a/b/c,
# the DNS tier (charts/planguard-dns: a BIND primary on a PersistentVolume, two
# secondaries, TSIG key Secrets) and CoreDNS forwarding its zone to the secondaries,
# planguard's image loaded, its chart installed with helm, a sample zone and plan applied
# with kubectl, and the answer checked from the host (dig through the primary's NodePort)
# and from a pod (through the cluster DNS).
#   hack/kind-up.sh [--images local|public] [--no-monitoring]
# --images local (the default where this script started the Docker engine itself, i.e. a
# machine with no container registry): every image is built here, kind's node image from
# sources (hack/kind/build-node-image.sh; first build ~15 min on 2 cores, then cached).
# --images public (the default with an ordinary Docker): kind's public node image, the
# public python and BIND images. kind, kubectl and helm are built into the cache if absent.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/hack/lib/versions.sh"
cluster=${KIND_CLUSTER:-planguard}
ns=planguard-system
nodeport=${PLANGUARD_KIND_DNS_PORT:-30053}
images=""
monitoring=true
while [ $# -gt 0 ]; do
  case $1 in
    --images) images=$2; shift 2 ;;
    --no-monitoring) monitoring=false; shift ;;
    *) echo "usage: $0 [--images local|public] [--no-monitoring]" >&2; exit 2 ;;
  esac
done
t_start=$(date +%s)
step() { echo "==> [$1/9] $2 (at $(( $(date +%s) - t_start )) s)"; }

step 1 "Docker engine"
"$repo/hack/kind/docker-up.sh"
command -v dig >/dev/null || "$repo/hack/install-bind.sh"  # step 9 asks BIND from the host
[ -n "$images" ] || images=$("$repo/hack/kind/images-mode.sh")
echo "    images: $images"

step 2 "kind $KIND_VERSION, kubectl, helm (cached by version)"
if [ ! -x "$KIND_BIN_DIR/kind" ]; then
  echo "    building kind from the Go module proxy..."
  mkdir -p "$KIND_BIN_DIR"
  (cd "$repo/hack/tools/kind" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
     go build -trimpath -ldflags "-s -w" -o "$KIND_BIN_DIR/kind" sigs.k8s.io/kind)
fi
"$repo/hack/build-control-plane.sh" >/dev/null
helm=$("$repo/hack/build-helm.sh")
export PATH="$KIND_BIN_DIR:$CP_BIN_DIR:$(dirname "$helm"):$PATH"

step 3 "images ($images)"
mapfile -t built < <("$repo/hack/kind/build-images.sh" "$images")
bind_image=${built[1]}
prom_image=${built[2]}
# Tagged by content, so a rebuilt image rolls the pods (pullPolicy Never, nothing to pull).
pg_image=planguard:dev-$(docker image inspect -f '{{.Id}}' "${built[0]}" | cut -c8-19)
docker tag "${built[0]}" "$pg_image"
node_args=()
if [ "$images" = local ]; then
  node_args=(--image "$("$repo/hack/kind/build-node-image.sh")")
  docker image inspect -f '    {{index .RepoTags 0}}: {{.Size}} bytes' "${node_args[1]}"
  # The kindnet stand-in enforces no NetworkPolicy (kind's own kindnetd does): kube-router's.
  router_image=$("$repo/hack/kind/build-kube-router.sh")
fi

step 4 "kind cluster $cluster (1 control plane, 3 workers in zone-a/b/c)"
kubeconfig=$PLANGUARD_CACHE/state/kind-$cluster.kubeconfig
mkdir -p "$(dirname "$kubeconfig")"
export KUBECONFIG=$kubeconfig
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  patches=""
  # Where the capability bounding set lacks CAP_SYS_RESOURCE (hack/kind/docker-up.sh),
  # nothing in a node may lower an oom_score_adj: containerd must not try.
  last=$(cat /proc/sys/kernel/cap_last_cap)
  if [ $(( 16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status) >> 24 & 1 )) -eq 0 ] && [ "$last" -ge 24 ]; then
    patches='containerdConfigPatches:
- |-
  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true'
  fi
  kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" "${node_args[@]}" --wait 5m --config - <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
$patches
nodes:
- role: control-plane
- role: worker
  labels: {topology.kubernetes.io/zone: zone-a}
- role: worker
  labels: {topology.kubernetes.io/zone: zone-b}
- role: worker
  labels: {topology.kubernetes.io/zone: zone-c}
KIND
else
  kind export kubeconfig --name "$cluster" --kubeconfig "$kubeconfig"
fi
if [ "$images" = local ]; then
  # Nothing on this machine may reach past the containers it started: the nodes need no
  # registry (every image is preloaded), so traffic from the kind network may go only back
  # into it (the host itself, e.g. dig on the NodePort, is not forwarded traffic).
  bridge=br-$(docker network inspect kind -f '{{.Id}}' | cut -c1-12)
  iptables -C DOCKER-USER -i "$bridge" ! -o "$bridge" -j REJECT 2>/dev/null \
    || iptables -I DOCKER-USER -i "$bridge" ! -o "$bridge" -j REJECT
  echo "    forwarded traffic from $bridge confined to the kind network"
fi
kubectl wait --for=condition=Ready nodes --all --timeout=300s >/dev/null
# Every node is managed by the lease manager (its agent DaemonSet runs there); the control
# plane counts in zone-a, so one zone has two managed nodes (hack/kind/values-kind.yaml).
kubectl label nodes --all planguard.io/managed=true --overwrite >/dev/null
kubectl label node "$cluster-control-plane" topology.kubernetes.io/zone=zone-a --overwrite >/dev/null
kubectl get nodes -L topology.kubernetes.io/zone

load=("$pg_image")
[ "$images" = local ] && load+=("$bind_image" "$prom_image" "$router_image")
step 5 "load ${load[*]} into the nodes"
kind load docker-image --name "$cluster" "${load[@]}"
if [ "$images" = local ]; then
  echo "    NetworkPolicy enforcer: kube-router's firewall ($router_image) (at $(( $(date +%s) - t_start )) s)"
  sed "s#image: IMAGE#image: $router_image#" "$repo/hack/kind/kube-router.yaml" | kubectl apply -f - >/dev/null
  kubectl -n kube-system rollout status ds/kube-router --timeout=180s
fi

step 6 "DNS tier (charts/planguard-dns): BIND primary (NodePort $nodeport), 2 secondaries, cluster DNS"
kubectl get ns "$ns" >/dev/null 2>&1 || kubectl create ns "$ns"
# A cluster made by an older kind-up: its BIND goes, its keys are adopted by the release
# (BIND and planguard must keep agreeing on them).
kubectl -n "$ns" delete deploy/bind svc/bind cm/bind --ignore-not-found >/dev/null
for k in planguard-enactor-az1 planguard-enactor-az2 planguard-enactor-az3 planguard-cleanup; do
  if kubectl -n "$ns" get secret "$k" >/dev/null 2>&1; then
    kubectl -n "$ns" annotate --overwrite secret "$k" meta.helm.sh/release-name=dns \
      meta.helm.sh/release-namespace="$ns" >/dev/null
    kubectl -n "$ns" label --overwrite secret "$k" app.kubernetes.io/managed-by=Helm >/dev/null
  fi
done
# The primary's zone files and journals on a PersistentVolume, so that a restarted or
# rescheduled pod answers as before. kind's default StorageClass has no provisioner behind it
# here, so a static volume on the control plane's disk (where the primary runs), bound to
# the chart's claim by name; the class is only a name that keeps any other claim off it.
kubectl apply -f - >/dev/null <<PV
apiVersion: v1
kind: PersistentVolume
metadata: {name: planguard-dns-primary}
spec:
  capacity: {storage: 256Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: planguard-dns-local
  hostPath: {path: /var/lib/planguard/dns-primary, type: DirectoryOrCreate}
  claimRef: {namespace: $ns, name: dns-primary-data}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$cluster-control-plane]}
PV
if [ "$images" = local ]; then named=/usr/sbin/named; else named=named; fi
# The primary on the control plane: the kind suite pauses and stops workers (a zone lost)
# while the primary must keep taking updates, as one outside the zones would. The
# secondaries on workers, each on its own.
helm upgrade --install dns "$repo/charts/planguard-dns" -n "$ns" \
  --set image.repository="${bind_image%:*}" --set image.tag="${bind_image##*:}" \
  --set named="$named" --set primary.persistence.storageClass=planguard-dns-local \
  --set primary.service.type=NodePort --set primary.service.nodePort="$nodeport" \
  --set-json 'primary.nodeSelector={"node-role.kubernetes.io/control-plane":""}' \
  --set-json 'primary.tolerations=[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]' \
  --wait --timeout 5m
# Cluster DNS: pods resolve the zone through CoreDNS, which asks the secondaries (a stub
# zone; hack/kind/cluster-dns.sh says which cache settings and why).
"$repo/hack/kind/cluster-dns.sh" "$(kubectl -n "$ns" get svc dns-secondaries -o jsonpath='{.spec.clusterIP}')" example.test

if $monitoring; then
  step 7 "Prometheus in the cluster ($prom_image), the chart's alert rules loaded"
  "$repo/hack/kind/monitoring-up.sh" "$prom_image"
else
  step 7 "monitoring skipped (--no-monitoring)"
fi

step 8 "planguard chart (helm install, waiting for every pod to be Ready)"
# A release left pending by an interrupted run would refuse every later upgrade.
case $(helm status planguard -n "$ns" -o json 2>/dev/null | sed -n 's/.*"status":"\([a-z-]*\)".*/\1/p' | head -1) in
  pending-install) helm uninstall planguard -n "$ns" --wait >/dev/null ;;
  pending-upgrade|pending-rollback) helm rollback planguard -n "$ns" --wait >/dev/null ;;
esac
# values-kind.yaml: every role runs (the chart leaves the lease manager off by default).
helm upgrade --install planguard "$repo/charts/planguard" -n "$ns" \
  --set image.repository="${pg_image%:*}" --set image.tag="${pg_image##*:}" \
  --set image.pullPolicy=Never -f "$repo/hack/kind/values-kind.yaml" --wait --timeout 5m
kubectl -n "$ns" get pods -o wide

step 9 "sample zone and plan (kubectl apply), answer checked from the host with dig and from a pod"
ip=$(kubectl -n "$ns" get svc dns-primary -o jsonpath='{.spec.clusterIP}')
kubectl apply -f - <<ZONE
apiVersion: planguard.io/v1alpha1
kind: DNSZone
metadata: {name: dynamo, namespace: default}
# changeGuard off: the kind suite's plans replace every endpoint's addresses on purpose
# (so that applying one takes the enactors seconds); the guard is tested elsewhere.
spec: {zone: example.test, server: {address: "$ip", port: 53}, keep: 3,
       changeGuard: {maxChangePercent: 100}}
ZONE
kubectl apply -n default -f "$repo/hack/demo/plan-1.yaml"
node_ip=$(kubectl get node "$cluster-control-plane" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
want="10.0.1.10 10.0.2.10 10.0.3.10"
for _ in $(seq 1 60); do
  got=$(dig +short +tcp +time=2 +tries=1 @"$node_ip" -p "$nodeport" dynamodb.example.test A | sort | xargs || true)
  [ "$got" = "$want" ] && break
  sleep 2
done
if [ "$got" != "$want" ]; then
  echo "kind-up: dig @$node_ip -p $nodeport dynamodb.example.test gave '$got', want '$want'" >&2
  kubectl get dnsplans,dnszones -A >&2 || true
  exit 1
fi
echo "    dig @$node_ip -p $nodeport dynamodb.example.test A -> $got"
# ...and from a pod, through the cluster DNS (CoreDNS, the secondaries behind it).
resolve='import socket; print(" ".join(sorted({a[4][0] for a in socket.getaddrinfo("dynamodb.example.test", 80, proto=6)})))'
kubectl -n default delete pod planguard-resolve --ignore-not-found >/dev/null
for _ in $(seq 1 30); do
  kubectl -n default run planguard-resolve --image="$pg_image" --image-pull-policy=Never \
    --restart=Never --command -- python3 -c "$resolve" >/dev/null || true
  kubectl -n default wait pod/planguard-resolve --timeout=120s \
    --for=jsonpath='{.status.phase}'=Succeeded >/dev/null 2>&1 || true
  in_pod=$(kubectl -n default logs planguard-resolve 2>/dev/null || true)
  kubectl -n default delete pod planguard-resolve --ignore-not-found >/dev/null
  [ "$in_pod" = "$want" ] && break
  sleep 2
done
if [ "$in_pod" != "$want" ]; then
  echo "kind-up: a pod resolved dynamodb.example.test to '$in_pod', want '$want'" >&2
  exit 1
fi
echo "    a pod (kubectl run planguard-resolve): dynamodb.example.test -> $in_pod"
# The host reaches Service addresses through the control plane's node, as a pod would (the
# kind suite asks each secondary and CoreDNS there).
ip route replace 10.96.0.0/16 via "$node_ip"
kubectl get dnsplans,dnszones -n default
echo "==> done in $(( $(date +%s) - t_start )) s"
echo "    export KUBECONFIG=$kubeconfig   # kubectl get dnsplans,dnszones -A"
echo "    dig @$node_ip -p $nodeport dynamodb.example.test   # the primary, through its NodePort"
echo "    kubectl run -it --rm q --image=$pg_image --image-pull-policy=Never --restart=Never --command -- getent ahostsv4 dynamodb.example.test   # a pod, through CoreDNS"
echo "    hack/kind-down.sh removes it all"
