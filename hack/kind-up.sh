#!/usr/bin/env bash
# planguard on a kind cluster: one control plane and three workers in zones zone-a/b/c,
# BIND in the cluster with one TSIG key Secret per writer, planguard's image loaded, the
# chart installed with helm, a sample zone and plan applied with kubectl, and the answer
# checked from the host with dig through BIND's NodePort.
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

step 6 "TSIG keys (one Secret per writer) and BIND 9 in the cluster (NodePort $nodeport)"
kubectl get ns "$ns" >/dev/null 2>&1 || kubectl create ns "$ns"
old_umask=$(umask); umask 077  # the key files written below: owner-only
keys=$(mktemp -d); trap 'rm -rf "$keys"' EXIT
for k in enactor-az1 enactor-az2 enactor-az3 cleanup; do
  # A secret already in the cluster is kept: BIND and planguard must agree on it.
  if ! kubectl -n "$ns" get secret "planguard-$k" -o jsonpath='{.data.tsig\.key}' 2>/dev/null \
       | base64 -d > "$keys/$k.key" || [ ! -s "$keys/$k.key" ]; then
    printf 'key "planguard-%s" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' \
      "$k" "$(head -c 32 /dev/urandom | base64)" > "$keys/$k.key"
    kubectl -n "$ns" create secret generic "planguard-$k" --from-file=tsig.key="$keys/$k.key" >/dev/null
  fi
done
# BIND's config holds no key (a ConfigMap is readable by the built-in `view` role): it
# includes them from the Secrets, mounted into the pod and copied for the bind user only.
{
  for k in enactor-az1 enactor-az2 enactor-az3 cleanup; do echo "include \"/keys/$k.key\";"; done
  cat <<'CONF'
options { directory "/var/cache/bind"; listen-on { any; }; listen-on-v6 { none; };
  recursion no; allow-new-zones yes; pid-file none; };
zone "example.test" {
  type primary; file "/var/cache/bind/db.example.test";
  update-policy {
    grant planguard-enactor-az1 zonesub A AAAA TXT;
    grant planguard-enactor-az2 zonesub A AAAA TXT;
    grant planguard-enactor-az3 zonesub A AAAA TXT;
  };
  allow-transfer { key planguard-enactor-az1; key planguard-enactor-az2;
                   key planguard-enactor-az3; key planguard-cleanup; };
};
CONF
} > "$keys/named.conf"
umask "$old_umask"
printf '$TTL 60\n@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ IN NS ns.example.test.\nns IN A 127.0.0.1\n' > "$keys/db.example.test"
kubectl -n "$ns" create configmap bind --from-file="$keys/named.conf" \
  --from-file="$keys/db.example.test" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
if [ "$images" = local ]; then named=(/usr/sbin/named -g); else named=(named -g); fi
kubectl -n "$ns" apply -f - <<BIND
apiVersion: apps/v1
kind: Deployment
metadata: {name: bind}
spec:
  replicas: 1
  selector: {matchLabels: {app: bind}}
  template:
    metadata: {labels: {app: bind}}
    spec:
      # On the control plane: the kind suite pauses and stops workers (a zone lost) while
      # DNS must keep answering, as a real primary outside the zones would.
      nodeSelector: {node-role.kubernetes.io/control-plane: ""}
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      initContainers:
      - name: zone
        image: $bind_image
        imagePullPolicy: IfNotPresent
        # named reads its config as the bind user (it drops root first): the keys are
        # copied from the Secrets (root-only) to a memory volume, readable by bind alone.
        # The zone file only into a new pod: a restarted one (the Docker engine restarted)
        # keeps the file its journal was written against, or BIND refuses the zone.
        command: [sh, -c, "(test -e /var/cache/bind/db.example.test || cp /config/db.example.test /var/cache/bind/) && chmod 666 /var/cache/bind/* && chmod 777 /var/cache/bind && install -o bind -g bind -m 0400 /secrets/*.key /keys/ && chown bind:bind /keys && chmod 0500 /keys"]
        volumeMounts:
        - {name: config, mountPath: /config}
        - {name: data, mountPath: /var/cache/bind}
        - {name: secrets, mountPath: /secrets, readOnly: true}
        - {name: keys, mountPath: /keys}
      containers:
      - name: named
        image: $bind_image
        imagePullPolicy: IfNotPresent
        command: [${named[0]}]
        args: [${named[1]}, -c, /config/named.conf, -u, bind]
        ports: [{containerPort: 53, protocol: TCP}, {containerPort: 53, protocol: UDP}]
        readinessProbe: {tcpSocket: {port: 53}, periodSeconds: 2}
        volumeMounts:
        - {name: config, mountPath: /config}
        - {name: data, mountPath: /var/cache/bind}
        - {name: keys, mountPath: /keys, readOnly: true}
      volumes:
      - {name: config, configMap: {name: bind}}
      - {name: data, emptyDir: {sizeLimit: 64Mi}}
      - {name: keys, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
      - name: secrets
        projected:
          defaultMode: 0400
          sources:
$(for k in enactor-az1 enactor-az2 enactor-az3 cleanup; do
  echo "          - {secret: {name: planguard-$k, items: [{key: tsig.key, path: $k.key}]}}"
done)
---
apiVersion: v1
kind: Service
metadata: {name: bind}
spec:
  type: NodePort
  selector: {app: bind}
  ports:
  - {name: dns-tcp, port: 53, protocol: TCP, nodePort: $nodeport}
  - {name: dns-udp, port: 53, protocol: UDP, nodePort: $nodeport}
BIND
kubectl -n "$ns" rollout status deploy/bind --timeout=180s

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

step 9 "sample zone and plan (kubectl apply), answer checked from the host with dig"
ip=$(kubectl -n "$ns" get svc bind -o jsonpath='{.spec.clusterIP}')
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
kubectl get dnsplans,dnszones -n default
echo "==> done in $(( $(date +%s) - t_start )) s"
echo "    export KUBECONFIG=$kubeconfig   # kubectl get dnsplans,dnszones -A"
echo "    dig @$node_ip -p $nodeport dynamodb.example.test   # BIND, through its NodePort"
echo "    hack/kind-down.sh removes it all"
