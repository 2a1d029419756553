#!/usr/bin/env bash
# The Python environment of the tests and the demo (default .venv), from the hashed locks
# only (hack/lock.py writes them): pip --require-hashes refuses a package that is not pinned
# or a file whose hash differs from the lock's. planguard itself is then installed
# editable, built by the backend the lock just installed (--no-build-isolation: no backend
# resolved at build time). Reinstalls when pyproject.toml or a lock is newer than the last
# install.   hack/install-python.sh [VENV]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$repo/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp=$venv/.planguard-installed
if [ -f "$stamp" ] && [ -z "$(find "$repo/pyproject.toml" "$repo"/requirements*.lock -newer "$stamp")" ]; then
  exit 0
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" --require-hashes -r "$repo/requirements-build.lock"
"${pip[@]}" --require-hashes -r "$repo/requirements.lock" -r "$repo/requirements-dev.lock"
"${pip[@]}" --no-deps --no-build-isolation --check-build-dependencies -e "$repo"
"$venv/bin/python" -m pip check >/dev/null
touch "$stamp"
