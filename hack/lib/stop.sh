# stop_pidfile FILE WHAT: stops the process whose pid FILE holds (TERM, then KILL after
# 10 s) and removes FILE; nothing to do when FILE is absent. Sourced by the *-down.sh scripts.
stop_pidfile() {
  local f=$1 what=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    echo "stopped $what ($pid)"
  fi
  rm -f "$f"
}
