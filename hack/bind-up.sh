#!/usr/bin/env bash
# Starts a real BIND 9 on 127.0.0.1:$PLANGUARD_DNS_PORT (15353) with one TSIG key per writer,
# dynamic zones under update-policy (unsigned or wrongly signed updates are refused), and
# rndc addzone enabled so tests can add a zone each. Zones: args, or "example.test".
# A zone that already exists is left as it is (hack/bind-delzone.sh first for a fresh one).
# Idempotent: a running server is reused (named zones are added if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/bind.sh"
"$here/install-bind.sh"
zones=${*:-example.test}
mkdir -p "$BIND_DIR/keys" "$BIND_DIR/zones"
chmod 0700 "$BIND_DIR/keys"

if [ -f "$BIND_DIR/named.pid" ] && kill -0 "$(cat "$BIND_DIR/named.pid")" 2>/dev/null; then
  for z in $zones; do "$here/bind-addzone.sh" "$z" >/dev/null; done
  echo "BIND already running on 127.0.0.1:$BIND_PORT"
  exit 0
fi
t0=$(date +%s.%N)
for k in $BIND_KEYS; do
  [ -f "$BIND_DIR/keys/$k.key" ] || new_key "$k" "$BIND_DIR/keys/$k.key"
done
[ -f "$BIND_DIR/rndc.key" ] || new_key rndc-key "$BIND_DIR/rndc.key"
chmod 0400 "$BIND_DIR"/keys/*.key "$BIND_DIR/rndc.key"  # also those an older script made 0644
printf 'include "%s/rndc.key";\noptions { default-key "rndc-key"; default-server 127.0.0.1; default-port %s; };\n' \
  "$BIND_DIR" "$BIND_RNDC_PORT" > "$BIND_DIR/rndc.conf"
rm -f "$BIND_DIR"/*.nzd "$BIND_DIR"/*.nzf "$BIND_DIR"/*.nzd-lock  # a fresh start forgets added zones

{
  for k in $BIND_KEYS; do echo "include \"$BIND_DIR/keys/$k.key\";"; done
  cat <<CONF
include "$BIND_DIR/rndc.key";
controls { inet 127.0.0.1 port $BIND_RNDC_PORT allow { 127.0.0.1; } keys { "rndc-key"; }; };
options {
  directory "$BIND_DIR";
  pid-file "$BIND_DIR/named.pid";
  listen-on port $BIND_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  allow-new-zones yes;
  dnssec-validation no;
  minimal-responses yes;
  tcp-clients 1000;
};
logging {
  channel main { file "$BIND_DIR/named.log" versions 3 size 50m; print-time yes; print-category yes; severity info; };
  category default { main; };
  category update { main; };
  category update-security { main; };
  category security { main; };
};
CONF
} > "$BIND_DIR/named.conf"
named-checkconf "$BIND_DIR/named.conf"

echo "starting $(named -v) on 127.0.0.1:$BIND_PORT (zones: $zones)"
setsid named -c "$BIND_DIR/named.conf" -f -n 2 >"$BIND_DIR/named.stderr" 2>&1 &
for i in $(seq 1 200); do
  if rndc_ status >/dev/null 2>&1; then
    # Every zone is added at run time (rndc addzone), the same way tests add theirs.
    for z in $zones; do "$here/bind-addzone.sh" "$z"; done
    printf 'BIND serving in %s s\n' "$(awk "BEGIN{print $(date +%s.%N) - $t0}")"
    echo "keys: $BIND_DIR/keys/<writer>.key"
    exit 0
  fi
  [ -f "$BIND_DIR/named.pid" ] || [ "$i" -lt 100 ] || { cat "$BIND_DIR/named.stderr" >&2; exit 1; }
  sleep 0.05
done
echo "BIND did not answer; see $BIND_DIR/named.log and $BIND_DIR/named.stderr" >&2
tail -20 "$BIND_DIR/named.stderr" >&2
exit 1
