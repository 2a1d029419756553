#!/usr/bin/env bash
# Starts a real etcd + kube-apiserver on loopback (the envtest way: no Docker, no kubelet),
# with generated certificates, RBAC on, and writes an admin kubeconfig.
# Builds the binaries first if they are not cached. Idempotent: a running pair is reused.
#   env: PLANGUARD_STATE (state dir), PLANGUARD_APISERVER_PORT (16443), PLANGUARD_ETCD_PORT (12379),
#        PLANGUARD_AUDIT_LOG (unset: no audit; a path: every request logged there at level
#        Metadata, one JSON line each, for counting requests per user agent, see bench/api_load.py)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/versions.sh"

api_port=${PLANGUARD_APISERVER_PORT:-16443}
etcd_port=${PLANGUARD_ETCD_PORT:-12379}
dir=$PLANGUARD_STATE/cp
kubeconfig=$dir/kubeconfig
mkdir -p "$dir"
# Owner-only credentials, also those an older version of this script left world-readable.
if [ -f "$kubeconfig" ]; then chmod 0600 "$kubeconfig"; fi
if [ -d "$dir/pki" ]; then chmod 0700 "$dir/pki"; chmod 0600 "$dir"/pki/*.key*; fi
# One at a time: two test runs starting together would each stop the other's half-started
# pair (cluster-down below) and wipe its etcd; the second waits and then reuses the first's.
exec 9>"$dir/.up.lock"
flock -w 300 9 || { echo "another hack/cluster-up.sh holds $dir/.up.lock" >&2; exit 1; }

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }
if alive etcd && alive kube-apiserver && \
   curl -sk --max-time 2 "https://127.0.0.1:$api_port/readyz" 2>/dev/null | grep -q ok; then
  echo "control plane already running: KUBECONFIG=$kubeconfig"
  if [ -n "${PLANGUARD_AUDIT_LOG:-}" ] && ! grep -qF -- "$PLANGUARD_AUDIT_LOG" "$dir/kube-apiserver.cmd"; then
    echo "warning: it was started without --audit-log-path $PLANGUARD_AUDIT_LOG (cluster-down.sh first)" >&2
  fi
  exit 0
fi
"$here/cluster-down.sh" >/dev/null 2>&1 || true
"$here/build-control-plane.sh"

t0=$(date +%s.%N)
pki=$dir/pki
if [ ! -f "$pki/admin.crt" ]; then
  echo "generating certificates in $pki"
  mkdir -p "$pki"
  chmod 0700 "$pki"
  (
    cd "$pki"
    umask 077  # private keys (the CA's, the service-account signer's) readable by us alone
    ossl() { openssl "$@" 2>/dev/null; }
    ossl ecparam -name prime256v1 -genkey -noout -out ca.key
    ossl req -x509 -new -key ca.key -subj "/CN=planguard-local-ca" -days 3650 -out ca.crt
    ossl ecparam -name prime256v1 -genkey -noout -out apiserver.key
    ossl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
    printf 'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' > apiserver.ext
    ossl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt
    ossl ecparam -name prime256v1 -genkey -noout -out admin.key.ec
    ossl pkcs8 -topk8 -nocrypt -in admin.key.ec -out admin.key
    ossl req -new -key admin.key -subj "/O=system:masters/CN=admin" -out admin.csr
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    ossl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out admin.crt
    ossl ecparam -name prime256v1 -genkey -noout -out sa.key.ec
    ossl pkcs8 -topk8 -nocrypt -in sa.key.ec -out sa.key
    ossl ec -in sa.key -pubout -out sa.pub
    rm -f ./*.csr ./*.ec
  )
fi

echo "starting etcd $ETCD_VERSION on 127.0.0.1:$etcd_port"
rm -rf "$dir/etcd-data"
setsid "$CP_BIN_DIR/etcd" --name planguard --data-dir "$dir/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-cluster "planguard=http://127.0.0.1:$((etcd_port + 1))" \
  --unsafe-no-fsync --quota-backend-bytes 8589934592 --max-request-bytes 10485760 \
  --log-level warn >"$dir/etcd.log" 2>&1 9>&- &
echo $! > "$dir/etcd.pid"
for _ in $(seq 1 200); do
  curl -s --max-time 1 "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && break
  alive etcd || { echo "etcd died, see $dir/etcd.log" >&2; tail -20 "$dir/etcd.log" >&2; exit 1; }
  sleep 0.05
done

audit_flags=""
if [ -n "${PLANGUARD_AUDIT_LOG:-}" ]; then
  # Metadata: who, verb, object, code and timestamps, no bodies; one event per request
  # (RequestReceived omitted; a watch also logs ResponseStarted before ResponseComplete).
  cat > "$dir/audit-policy.yaml" <<POLICY
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
POLICY
  mkdir -p "$(dirname "$PLANGUARD_AUDIT_LOG")"
  audit_flags="--audit-policy-file \"$dir/audit-policy.yaml\" --audit-log-path \"$PLANGUARD_AUDIT_LOG\" --audit-log-maxsize 8192 --audit-log-maxbackup 1"
  echo "audit log: $PLANGUARD_AUDIT_LOG"
fi
echo "starting kube-apiserver $K8S_VERSION on https://127.0.0.1:$api_port"
# Saved so apiserver-restart.sh can restart it alone, with etcd's data intact.
cat > "$dir/kube-apiserver.cmd" <<CMD
exec "$CP_BIN_DIR/kube-apiserver" \\
  --etcd-servers "http://127.0.0.1:$etcd_port" \\
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \\
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \\
  --client-ca-file "$pki/ca.crt" \\
  --service-account-issuer "https://127.0.0.1:$api_port" \\
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \\
  --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \\
  --authorization-mode RBAC --disable-admission-plugins ServiceAccount \\
  --enable-priority-and-fairness=false${audit_flags:+ $audit_flags}
CMD
setsid bash "$dir/kube-apiserver.cmd" >>"$dir/kube-apiserver.log" 2>&1 9>&- &
echo $! > "$dir/kube-apiserver.pid"

b64() { base64 -w0 < "$1"; }
(umask 077; cat > "$kubeconfig.tmp") <<KC
apiVersion: v1
kind: Config
clusters:
- name: planguard-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: planguard-local
  context: {cluster: planguard-local, user: admin}
current-context: planguard-local
KC
mv "$kubeconfig.tmp" "$kubeconfig"

for i in $(seq 1 600); do
  if curl -s --max-time 1 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
       "https://127.0.0.1:$api_port/readyz" 2>/dev/null | grep -q '^ok'; then
    break
  fi
  alive kube-apiserver || { echo "kube-apiserver died, see $dir/kube-apiserver.log" >&2; tail -20 "$dir/kube-apiserver.log" >&2; exit 1; }
  [ $((i % 50)) -eq 0 ] && echo "  waiting for kube-apiserver /readyz ($((i / 10)) s)"
  sleep 0.1
done
until KUBECONFIG=$kubeconfig "$CP_BIN_DIR/kubectl" get namespace default >/dev/null 2>&1; do sleep 0.1; done
printf 'control plane serving in %.1f s: kube-apiserver %s, etcd %s\n' \
  "$(awk "BEGIN{print $(date +%s.%N) - $t0}")" "$K8S_VERSION" "$ETCD_VERSION"
echo "KUBECONFIG=$kubeconfig"
