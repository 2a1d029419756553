#!/usr/bin/env bash
# Prometheus in the kind cluster (namespace planguard-system, on the control plane, HTTP API
# on NodePort 30090): scrapes every planguard pod's metrics port every 5 s (found through
# cluster DNS, one headless Service per component) and evaluates the chart's alert rules
# (charts/planguard/files/alerts.yaml). --web.enable-lifecycle lets a test reload it.
#   hack/kind/monitoring-up.sh IMAGE        (KUBECONFIG set; called by hack/kind-up.sh)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
image=$1
ns=${PLANGUARD_NAMESPACE:-planguard-system}
port=${PLANGUARD_KIND_PROMETHEUS_PORT:-30090}
metrics=${PLANGUARD_METRICS_PORT:-9100}  # the chart's metrics.port
pull=IfNotPresent
cfg=$(mktemp -d); trap 'rm -rf "$cfg"' EXIT
# Debian's prometheus is built without Kubernetes service discovery, so each component gets
# a headless Service that also lists unready pods (a frozen process must stay a target and
# show up == 0) and Prometheus finds the pods through cluster DNS. It needs no API rights.
components="enactor cleanup planner leases canary"
{
  echo "global: {scrape_interval: 5s, scrape_timeout: 4s, evaluation_interval: 5s}"
  echo "rule_files: [/etc/prometheus/rules/*.yaml, /rules.d/*.yaml]"
  echo "scrape_configs:"
  for c in $components; do
    cat <<CONF
- job_name: planguard-$c
  dns_sd_configs: [{names: [planguard-scrape-$c.$ns.svc.cluster.local], type: A, port: $metrics, refresh_interval: 5s}]
  relabel_configs:
  - {target_label: container, replacement: $c}
  - {target_label: namespace, replacement: $ns}
CONF
  done
} >"$cfg/prometheus.yml"
for c in $components; do
  cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: planguard-scrape-$c, labels: {app: prometheus}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app.kubernetes.io/name: planguard, app.kubernetes.io/component: $c}
  ports: [{name: metrics, port: $metrics, targetPort: metrics}]
YAML
done >"$cfg/scrape-services.yaml"
cp "$repo/charts/planguard/files/alerts.yaml" "$cfg/planguard.yaml"
kubectl -n "$ns" create configmap prometheus --from-file="$cfg/prometheus.yml" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" create configmap prometheus-rules --from-file="$cfg/planguard.yaml" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" apply -f "$cfg/scrape-services.yaml" >/dev/null
kubectl -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus, labels: {app: prometheus}}
spec:
  replicas: 1
  selector: {matchLabels: {app: prometheus}}
  strategy: {type: Recreate}
  template:
    metadata:
      labels: {app: prometheus}
      annotations: {planguard.io/config: "$(cat "$cfg"/* | sha256sum | cut -c1-16)"}
    spec:
      automountServiceAccountToken: false
      # Outside the zones, like BIND: the kind suite pauses and stops workers.
      nodeSelector: {node-role.kubernetes.io/control-plane: ""}
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      securityContext: {runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534}
      containers:
      - name: prometheus
        image: $image
        imagePullPolicy: $pull
        args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus,
               --storage.tsdb.retention.time=6h, --web.enable-lifecycle,
               --web.listen-address=:9090]
        ports: [{name: http, containerPort: 9090}]
        readinessProbe: {httpGet: {path: /-/ready, port: http}, periodSeconds: 2}
        resources: {requests: {cpu: 50m, memory: 128Mi}, limits: {memory: 1Gi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
                          capabilities: {drop: [ALL]}}
        volumeMounts:
        - {name: config, mountPath: /etc/prometheus/prometheus.yml, subPath: prometheus.yml}
        - {name: rules, mountPath: /etc/prometheus/rules}
        - {name: extra, mountPath: /rules.d}
        - {name: data, mountPath: /prometheus}
      volumes:
      - {name: config, configMap: {name: prometheus}}
      - {name: rules, configMap: {name: prometheus-rules}}
      - {name: extra, emptyDir: {}}
      - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: prometheus}
spec:
  type: NodePort
  selector: {app: prometheus}
  ports: [{name: http, port: 9090, nodePort: $port}]
YAML
kubectl -n "$ns" rollout status deploy/prometheus --timeout=180s >/dev/null
echo "    Prometheus: http://<control plane>:$port (rules: charts/planguard/files/alerts.yaml)"
