#!/usr/bin/env bash
# Runs on the lent GPU machine (no Node, no registries): sets up what scripts/device/pack.sh packed
# (scripts/device/env.sh) and writes gpurank's GPU report to $OUT. Carry .cache/device and
# crates/gpurank-core/pkg.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/.cache/device-out}"; mkdir -p "$OUT"
source scripts/device/env.sh
{
  echo "node $(node --version)"; echo "icd ${DEVICE_ICD:-none}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
} | tee "$OUT/env.txt"
node .cache/device/gpurank.mjs doctor --json > "$OUT/doctor.json" 2> "$OUT/doctor.stderr"
echo "doctor exit $?" | tee -a "$OUT/env.txt"
node .cache/device/gpurank.mjs doctor 2>&1 | tail -30
