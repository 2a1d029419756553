#!/usr/bin/env bash
# Removes a zone added with bind-addzone.sh, with its files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/bind.sh"
rndc_ delzone -clean "${1:?usage: bind-delzone.sh ZONE}" 2>/dev/null || true
