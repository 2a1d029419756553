#!/usr/bin/env bash
# For users with Docker: a kind cluster whose three workers sit in three zones, BIND in the
# cluster, planguard's image built and loaded, the chart installed, a sample zone applied.
#   hack/kind-up.sh [--with-monitoring]    (kube-prometheus-stack from its Helm repository)
# Needs docker, kind, kubectl, helm and tsig-keygen (bind9-utils) on the PATH, and network
# access for the kindest/node and BIND images. NOT exercised on planguard's CI machines,
# which have no container engine: there the same chart is linted, rendered and dry-run
# against a real kube-apiserver instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cluster=${KIND_CLUSTER:-planguard}
ns=planguard-system
for tool in docker kind kubectl helm tsig-keygen; do
  command -v "$tool" >/dev/null || { echo "kind-up: $tool is needed" >&2; exit 1; }
done

echo "==> [1/6] kind cluster $cluster (1 control plane, 3 workers in zone-a/b/c)"
if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --config - <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
  labels: {topology.kubernetes.io/zone: zone-a}
- role: worker
  labels: {topology.kubernetes.io/zone: zone-b}
- role: worker
  labels: {topology.kubernetes.io/zone: zone-c}
KIND
fi
kubectl config use-context "kind-$cluster" >/dev/null

echo "==> [2/6] image planguard:dev"
docker build -t planguard:dev "$repo"
kind load docker-image planguard:dev --name "$cluster"

echo "==> [3/6] TSIG keys (one per writer) as Secrets"
kubectl get ns "$ns" >/dev/null 2>&1 || kubectl create ns "$ns"
keys=$(mktemp -d)
for k in enactor-az1 enactor-az2 enactor-az3 cleanup; do
  tsig-keygen -a hmac-sha256 "planguard-$k" > "$keys/$k.key"
  kubectl -n "$ns" create secret generic "planguard-$k" --from-file=tsig.key="$keys/$k.key" \
    --dry-run=client -o yaml | kubectl apply -f -
done

echo "==> [4/6] BIND 9 in the cluster (zone example.test, update-policy per key)"
{
  cat "$keys"/*.key
  cat <<'CONF'
options { directory "/var/cache/bind"; listen-on { any; }; listen-on-v6 { none; };
  recursion no; allow-new-zones yes; };
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
printf '$TTL 60\n@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ IN NS ns.example.test.\nns IN A 127.0.0.1\n' > "$keys/db.example.test"
kubectl -n "$ns" create configmap bind --from-file="$keys/named.conf" \
  --from-file="$keys/db.example.test" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" apply -f - <<'BIND'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bind}
spec:
  replicas: 1
  selector: {matchLabels: {app: bind}}
  template:
    metadata: {labels: {app: bind}}
    spec:
      initContainers:
      - name: zone
        image: busybox:1.36
        command: [sh, -c, "cp /config/db.example.test /var/cache/bind/ && chmod 666 /var/cache/bind/*"]
        volumeMounts: [{name: config, mountPath: /config}, {name: data, mountPath: /var/cache/bind}]
      containers:
      - name: named
        image: internetsystemsconsortium/bind9:9.18
        args: [-g, -c, /config/named.conf, -u, bind]
        ports: [{containerPort: 53, protocol: TCP}, {containerPort: 53, protocol: UDP}]
        volumeMounts: [{name: config, mountPath: /config}, {name: data, mountPath: /var/cache/bind}]
      volumes:
      - {name: config, configMap: {name: bind}}
      - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: bind}
spec:
  selector: {app: bind}
  ports: [{name: dns-tcp, port: 53, protocol: TCP}, {name: dns-udp, port: 53, protocol: UDP}]
BIND
kubectl -n "$ns" rollout status deploy/bind --timeout=180s

monitoring=()
if [ "${1:-}" = "--with-monitoring" ]; then
  echo "==> [5/6] kube-prometheus-stack"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
  helm upgrade --install kps prometheus-community/kube-prometheus-stack -n monitoring \
    --create-namespace --wait
  monitoring=(--set metrics.serviceMonitor.enabled=true
              --set metrics.serviceMonitor.labels.release=kps
              --set prometheusRule.enabled=true --set prometheusRule.labels.release=kps)
else
  echo "==> [5/6] monitoring skipped (--with-monitoring installs kube-prometheus-stack)"
fi

echo "==> [6/6] planguard chart and a sample zone"
helm upgrade --install planguard "$repo/charts/planguard" -n "$ns" \
  --set image.repository=planguard --set image.tag=dev --set image.pullPolicy=Never \
  --set enactors[0].tsigSecret=planguard-enactor-az1 \
  --set enactors[1].tsigSecret=planguard-enactor-az2 \
  --set enactors[2].tsigSecret=planguard-enactor-az3 \
  --set cleanup.tsigSecret=planguard-cleanup "${monitoring[@]}" --wait
ip=$(kubectl -n "$ns" get svc bind -o jsonpath='{.spec.clusterIP}')
kubectl apply -f - <<ZONE
apiVersion: planguard.io/v1alpha1
kind: DNSZone
metadata: {name: dynamo, namespace: default}
spec: {zone: example.test, server: {address: "$ip", port: 53}}
ZONE
kubectl apply -n default -f "$repo/hack/demo/plan-1.yaml"
echo "done: kubectl get dnsplans,dnszones -A; BIND answers at $ip inside the cluster"
