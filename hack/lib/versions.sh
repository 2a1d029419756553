# Pinned versions of everything the scripts build or install. Sourced, not run.
K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.14
PLANGUARD_CACHE=${PLANGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/planguard}
CP_BIN_DIR=$PLANGUARD_CACHE/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin
# Runtime state of the local control plane and BIND (certificates, data, logs, pids).
PLANGUARD_STATE=${PLANGUARD_STATE:-$PLANGUARD_CACHE/state}
# The kind path (hack/kind/): kind's release whose default node is Kubernetes 1.34 (the host
# is cgroup v1, which 1.35+ refuses), and what a node image built here carries.
KIND_VERSION=v0.30.0
CRICTL_VERSION=v1.34.0
COREDNS_VERSION=v1.12.1
# The NetworkPolicy enforcer of a node image built here (hack/kind/build-kube-router.sh):
# kube-router's firewall alone. Known security flaws in this release are acceptable only
# because it guards nothing but the throwaway test cluster.
KUBE_ROUTER_VERSION=v2.1.0
KIND_BIN_DIR=$PLANGUARD_CACHE/kind-$KIND_VERSION/bin
