#!/usr/bin/env bash
# Stop an engine started by scripts/engines/start.sh: SIGTERM, then SIGKILL after a bounded wait.
# Usage: scripts/engines/stop.sh opensearch|elasticsearch7|all
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
case "${1:-}" in
  opensearch|elasticsearch7) engines=("$1") ;;
  all) engines=(opensearch elasticsearch7) ;;
  *) echo "usage: stop.sh opensearch|elasticsearch7|all" >&2; exit 1 ;;
esac

for engine in "${engines[@]}"; do
  state="$root/.cache/engines/$engine"
  if [ ! -f "$state/pid" ]; then
    [ "${1}" = all ] || echo "engines/stop: $engine is not running (no $state/pid)"
    continue
  fi
  pid=$(cat "$state/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "engines/stop: $engine (pid $pid) ignored SIGTERM for 30s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$state/pid" "$state/port" "$state/url"
  echo "engines/stop: $engine stopped"
done
