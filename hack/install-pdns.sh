#!/usr/bin/env bash
# Installs PowerDNS Authoritative with its SQLite backend from Debian's packages when missing.
# (The bind backend does not accept RFC 2136 UPDATEs; gsqlite3 does.)
set -euo pipefail
if command -v pdns_server >/dev/null && command -v pdnsutil >/dev/null \
   && [ -f /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ] && command -v sqlite3 >/dev/null; then
  exit 0
fi
echo "installing PowerDNS from Debian (pdns-server, pdns-backend-sqlite3, sqlite3)..."
sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends \
  pdns-server pdns-backend-sqlite3 sqlite3 >/dev/null
# Debian's package enables a system service on the standard port; planguard's own server
# runs on a loopback port of its own (hack/pdns-up.sh), so the service is not needed.
pdns_server --version 2>&1 | head -1 || true
