#!/usr/bin/env bash
# checkov on planguard's chart and on external-dns's, both rendered with default values by
# the repo's helm for the control plane's Kubernetes version; prints each chart's failed
# checks, workloads and failed checks per workload (issue 29: ours must not exceed theirs).
#   bench/checkov.sh            # checkov $CHECKOV_VERSION in a venv in the cache (made once)
# external-dns's chart: $EXTERNAL_DNS_CHART (a directory), else the cached copy of
# $EXTERNAL_DNS_CHART_VERSION, else `helm pull` from its chart repository into the cache.
# checkov is a tool here, never a dependency of planguard (not in pyproject or the lock).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$repo/hack/lib/versions.sh"
CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}
EXTERNAL_DNS_CHART_VERSION=${EXTERNAL_DNS_CHART_VERSION:-1.21.1}
venv=$PLANGUARD_CACHE/checkov-$CHECKOV_VERSION
if [ ! -x "$venv/bin/checkov" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "checkov==$CHECKOV_VERSION" >&2
fi
helm=$("$repo/hack/build-helm.sh" | tail -1)
chart=${EXTERNAL_DNS_CHART:-$PLANGUARD_CACHE/external-dns-chart-$EXTERNAL_DNS_CHART_VERSION/external-dns}
if [ ! -f "$chart/Chart.yaml" ]; then
  mkdir -p "$(dirname "$chart")"
  "$helm" pull external-dns --repo https://kubernetes-sigs.github.io/external-dns/ \
    --version "$EXTERNAL_DNS_CHART_VERSION" --untar --untardir "$(dirname "$chart")" >&2
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
"$helm" template planguard "$repo/charts/planguard" -n planguard-system \
  --kube-version "${K8S_VERSION#v}" > "$out/planguard.yaml"
"$helm" template external-dns "$chart" -n external-dns \
  --kube-version "${K8S_VERSION#v}" > "$out/external-dns.yaml"
echo "checkov $("$venv/bin/checkov" --version), helm $("$helm" version --template '{{.Version}}'), Kubernetes ${K8S_VERSION#v}"
for name in planguard external-dns; do
  # checkov exits 1 when a check fails: that is the measurement, not an error.
  "$venv/bin/checkov" -f "$out/$name.yaml" --framework kubernetes --quiet --compact \
    -o json > "$out/$name.json" 2>/dev/null || true
  "$repo/.venv/bin/python" - "$name" "$out/$name.yaml" "$out/$name.json" <<'PY'
import json, sys, yaml
name, rendered, report = sys.argv[1:]
workloads = [d for d in yaml.safe_load_all(open(rendered)) if d and d["kind"] in
             ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod")]
r = json.load(open(report))
r = r[0] if isinstance(r, list) else r
failed = r["results"]["failed_checks"]
ids = sorted({f["check_id"] for f in failed})
print(f"{name}: {len(failed)} failed, {r['summary']['skipped']} skipped (annotated), "
      f"{len(workloads)} workloads, {len(failed) / len(workloads):.2f} failed per workload; "
      f"failed: {' '.join(ids) or 'none'}")
PY
done
