#!/usr/bin/env bash
# Starts a real PowerDNS Authoritative on 127.0.0.1:$PLANGUARD_PDNS_PORT (15354), SQLite
# backend, written through RFC 2136 UPDATE only (no HTTP API), one TSIG key per writer (the
# same key files as BIND's, hack/lib/pdns.sh), LUA records enabled per zone. Zones: args,
# or "example.test"; an existing zone is left as it is (hack/pdns-delzone.sh first for a
# fresh one). Idempotent: a running server is reused.
#
# One process per database: PowerDNS checks an UPDATE's prerequisites and applies it under
# a lock that does not span processes, so two servers sharing one database can both win
# one compare-and-swap (measured with 4.7.3 on PostgreSQL; README "Weights on PowerDNS").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/pdns.sh"
"$here/install-pdns.sh"
command -v tsig-keygen >/dev/null || "$here/install-bind.sh"  # the key files' format and tool
zones=${*:-example.test}
mkdir -p "$PDNS_DIR" "$PDNS_KEY_DIR"
chmod 0700 "$PDNS_DIR" "$PDNS_KEY_DIR"  # the database holds the imported TSIG secrets

if pdns_running; then
  for z in $zones; do "$here/pdns-addzone.sh" "$z" >/dev/null; done
  echo "PowerDNS already running on 127.0.0.1:$PDNS_PORT"
  exit 0
fi
t0=$(date +%s.%N)
cat > "$PDNS_DIR/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$PDNS_DIR/pdns.sqlite3
gsqlite3-dnssec=no
local-address=127.0.0.1
local-port=$PDNS_PORT
socket-dir=$PDNS_DIR
daemon=no
guardian=no
disable-syslog=yes
log-timestamp=yes
loglevel=4
# RFC 2136 from loopback, and then only signed by a key the zone lists (TSIG-ALLOW-DNSUPDATE).
dnsupdate=yes
allow-dnsupdate-from=127.0.0.0/8
# Zone transfers only signed by a key the zone lists (TSIG-ALLOW-AXFR), from no bare address.
allow-axfr-ips=
disable-axfr=no
# LUA records per zone (metadata ENABLE-LUA-RECORDS), never globally: Lua is code the server runs.
enable-lua-records=no
security-poll-suffix=
webserver=no
api=no
# Zones are added by pdnsutil while the server runs: no zone cache to wait for.
zone-cache-refresh-interval=0
primary=no
secondary=no
CONF
if [ ! -f "$PDNS_DIR/pdns.sqlite3" ]; then
  sqlite3 "$PDNS_DIR/pdns.sqlite3" < /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
fi
for k in $PDNS_KEYS; do
  f=$PDNS_KEY_DIR/$k.key  # made here as bind-up.sh would, if BIND has not made it yet
  [ -f "$f" ] || new_key "$k" "$f"
  secret=$(sed -n 's/.*secret "\([^"]*\)".*/\1/p' "$f")
  pdnsutil_ import-tsig-key "$k" hmac-sha256 "$secret" >/dev/null
done
echo "starting $(pdns_server --version 2>&1 | head -1 | sed 's/^.*\(PowerDNS Authoritative Server [^ ]*\).*/\1/') on 127.0.0.1:$PDNS_PORT (zones: $zones)"
pdns_start || { echo "PowerDNS did not answer; see $PDNS_DIR/pdns.log" >&2; exit 1; }
for z in $zones; do "$here/pdns-addzone.sh" "$z"; done
printf 'PowerDNS serving in %s s\n' "$(awk "BEGIN{print $(date +%s.%N) - $t0}")"
echo "keys: $PDNS_KEY_DIR/<writer>.key (BIND's)"
