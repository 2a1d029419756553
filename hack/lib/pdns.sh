# Shared paths and helpers for the PowerDNS scripts. Sourced, not run.
. "$(dirname "${BASH_SOURCE[0]}")/bind.sh"
PDNS_DIR=$PLANGUARD_STATE/pdns
PDNS_PORT=${PLANGUARD_PDNS_PORT:-15354}
# BIND's writers and readers (hack/lib/bind.sh) with BIND's very key files: one key per
# writer whichever server a zone is on, since an enactor takes one --tsig-key for all its
# zones. PowerDNS gets them imported (pdnsutil import-tsig-key).
PDNS_KEY_DIR=$BIND_DIR/keys
PDNS_WRITERS=$BIND_WRITERS
PDNS_KEYS=$BIND_KEYS
pdnsutil_() { pdnsutil --config-dir="$PDNS_DIR" "$@"; }
pdns_running() { [ -f "$PDNS_DIR/pdns.pid" ] && kill -0 "$(cat "$PDNS_DIR/pdns.pid")" 2>/dev/null; }
pdns_start() {  # the server in the background, its pid in pdns.pid, up when it answers
  setsid pdns_server --config-dir="$PDNS_DIR" >>"$PDNS_DIR/pdns.log" 2>&1 &
  echo $! > "$PDNS_DIR/pdns.pid"
  for _ in $(seq 1 200); do
    dig +tcp +time=1 +tries=1 -p "$PDNS_PORT" @127.0.0.1 version.bind CH TXT >/dev/null 2>&1 \
      && return 0
    pdns_running || break
    sleep 0.05
  done
  tail -20 "$PDNS_DIR/pdns.log" >&2
  return 1
}
