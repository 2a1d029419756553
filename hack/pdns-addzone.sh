#!/usr/bin/env bash
# Adds a zone to PowerDNS's database: SOA, NS, every writer's key allowed to UPDATE, every
# key allowed to transfer, LUA records on, serial +1 per UPDATE; no-op when it exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/pdns.sh"
zone=${1:?usage: pdns-addzone.sh ZONE}
if pdnsutil_ list-zone "$zone" >/dev/null 2>&1; then exit 0; fi
pdnsutil_ create-zone "$zone" "ns.$zone" >/dev/null 2>&1
pdnsutil_ replace-rrset "$zone" @ SOA 60 "ns.$zone. hostmaster.$zone. 1 3600 600 86400 60" >/dev/null
pdnsutil_ add-record "$zone" ns A 60 127.0.0.1 >/dev/null
# shellcheck disable=SC2086  # word splitting intended: one argument per key
pdnsutil_ set-meta "$zone" TSIG-ALLOW-DNSUPDATE $PDNS_WRITERS dns-admin >/dev/null
# shellcheck disable=SC2086
pdnsutil_ set-meta "$zone" TSIG-ALLOW-AXFR $PDNS_KEYS >/dev/null
pdnsutil_ set-meta "$zone" ENABLE-LUA-RECORDS 1 >/dev/null
# Each UPDATE raises the serial by one, as the enactor's one-query change check expects.
pdnsutil_ set-meta "$zone" SOA-EDIT-DNSUPDATE INCREASE >/dev/null
