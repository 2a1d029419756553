# Shared paths and helpers for the BIND scripts. Sourced, not run.
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
BIND_DIR=$PLANGUARD_STATE/bind
BIND_PORT=${PLANGUARD_DNS_PORT:-15353}
BIND_RNDC_PORT=${PLANGUARD_RNDC_PORT:-15953}
# One TSIG key per writer, so BIND's log attributes every change. Enactor keys may update
# only address and TXT records (endpoints and planguard's markers), never SOA, NS or other
# types; clean-up and the reader may only transfer the zone; dns-admin stands for a person.
BIND_WRITERS=${PLANGUARD_DNS_WRITERS:-"enactor-a enactor-b enactor-c"}
BIND_READERS="planguard-cleanup planguard-reader"
BIND_KEYS="$BIND_WRITERS $BIND_READERS dns-admin"
new_key() {  # new_key NAME FILE: a TSIG key file only its owner may read (0400)
  (umask 077 && tsig-keygen -a hmac-sha256 "$1" > "$2") && chmod 0400 "$2"
}
rndc_() { rndc -c "$BIND_DIR/rndc.conf" -s 127.0.0.1 -p "$BIND_RNDC_PORT" "$@"; }
zone_stanza() {  # zone_stanza ZONE -> the body of a zone statement
  local zone=$1 grants="" xfr="" k
  for k in $BIND_WRITERS; do grants+="grant $k zonesub A AAAA TXT; "; done
  grants+="grant dns-admin zonesub ANY; "
  for k in $BIND_KEYS; do xfr+="key $k; "; done
  printf '{ type primary; file "zones/db.%s"; update-policy { %s}; allow-transfer { %s}; allow-query { any; }; };' \
    "$zone" "$grants" "$xfr"
}
write_zone_file() {  # write_zone_file ZONE
  mkdir -p "$BIND_DIR/zones"
  rm -f "$BIND_DIR/zones/db.$1" "$BIND_DIR/zones/db.$1.jnl"
  cat > "$BIND_DIR/zones/db.$1" <<Z
\$TTL 60
@ IN SOA ns.$1. hostmaster.$1. 1 3600 600 86400 60
@ IN NS ns.$1.
ns IN A 127.0.0.1
Z
}
