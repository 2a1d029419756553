#!/usr/bin/env bash
# The test command: sets up what is missing (hack/setup.sh: everything, the kind suite's
# Docker engine and images included), checks style and types, then runs every test
# against a real kube-apiserver + etcd and a real BIND (the fixtures start them through
# hack/cluster-up.sh and hack/bind-up.sh, or reuse running ones). Extra args go to pytest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"
"$here/setup.sh"
echo "==> ruff"
.venv/bin/ruff check operator tests bench hack
echo "==> mypy --strict (core, dns, kube)"
.venv/bin/mypy
echo "==> CRDs in the chart match crds/"
"$here/sync-chart-crds.sh" --check
echo "==> pytest"
exec .venv/bin/pytest "$@"
