#!/usr/bin/env bash
# Integration run for CI: start the engines, index the collections, run `npm run test:integration`, and
# stop the engines whatever happens. Usage: scripts/engines/ci.sh [engine...] (default: opensearch elasticsearch7)
set -euo pipefail
cd "$(dirname "$0")/../.."

engines=("$@")
[ ${#engines[@]} -gt 0 ] || engines=(opensearch elasticsearch7)
trap 'bash scripts/engines/stop.sh all' EXIT

start=$(date +%s)
for engine in "${engines[@]}"; do
  bash scripts/engines/start.sh "$engine"
done
echo "[engines] started ${engines[*]} in $(( $(date +%s) - start ))s"
npx tsx scripts/engines/index.ts "${engines[@]}"
npm run test:integration
echo "[engines] integration run took $(( $(date +%s) - start ))s"
