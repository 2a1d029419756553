#!/usr/bin/env bash
# Removes a zone added with pdns-addzone.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/pdns.sh"
pdnsutil_ delete-zone "${1:?usage: pdns-delzone.sh ZONE}" >/dev/null 2>&1 || true
