#!/usr/bin/env bash
# The issue-3 GPU run, on the lent machine (or any machine, e.g. lavapipe, to test it): sets up what
# scripts/device/pack.sh packed, makes MiniLM-shaped models with torch, then writes to $OUT:
#   doctor.json          gpurank doctor --json
#   score-cross.json     bench score on the cross-encoder (also workload.json: the query and passages)
#   score-bi.json        bench score on the bi-encoder
#   matmul.json          bench matmul (f32 and f16)
#   gpurank-scores.jsonl gpurank score (CLI, f32) of the workload's pairs, torch-scores.json: torch's logits
#   torch.json           scripts/device/torch_bench.py, the PyTorch peer on the same texts and models
#   summary.json         scripts/device/summarize.py over all of the above; steps.txt: exit code and time per step
# Carry .cache/device and crates/gpurank-core/pkg. Env: RUNS (10), DOCS (100), TORCH_RUNS (20), MATMUL_RUNS (5),
# MATMUL_M (16384), PYTHON (python3, needs torch, transformers, sentence-transformers).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/.cache/device-out}"; mkdir -p "$OUT"
RUNS=${RUNS:-10}; DOCS=${DOCS:-100}; TORCH_RUNS=${TORCH_RUNS:-20}; MATMUL_RUNS=${MATMUL_RUNS:-5}; MATMUL_M=${MATMUL_M:-16384}
PY=${PYTHON:-python3}
source scripts/device/env.sh
MODELS="$DEVICE_WORK/models"
: > "$OUT/steps.txt"
exec 3>&2 # steps report here, whatever their own stderr is redirected to
# Runs one step under a time limit; records its exit code and seconds (a failed step does not stop the rest).
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "$name: exit $rc, $((SECONDS - t0)) s" | tee -a "$OUT/steps.txt" >&3
}
{
  echo "node $(node --version)"; echo "icd ${DEVICE_ICD:-none}"
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1; else echo "no nvidia-smi"; fi
} > "$OUT/env.txt"
cat "$OUT/env.txt"
step models 180 "$PY" scripts/device/make_minilm_shaped.py --src .cache/device/minilm --out "$MODELS" > "$OUT/models.log" 2>&1
step doctor 60 node .cache/device/gpurank.mjs doctor --json > "$OUT/doctor.json" 2> "$OUT/doctor.stderr"
step score-cross 300 node .cache/device/bench.mjs score --model "$MODELS/cross-encoder" --runs "$RUNS" --docs "$DOCS" --dump "$OUT/workload.json" > "$OUT/score-cross.json" 2> "$OUT/score-cross.stderr"
step score-bi 300 node .cache/device/bench.mjs score --model "$MODELS/bi-encoder" --runs "$RUNS" --docs "$DOCS" > "$OUT/score-bi.json" 2> "$OUT/score-bi.stderr"
step matmul 300 node .cache/device/bench.mjs matmul --runs "$MATMUL_RUNS" --m "$MATMUL_M" > "$OUT/matmul.json" 2> "$OUT/matmul.stderr"
"$PY" -c 'import json, sys; w = json.load(open(sys.argv[1])); [print(json.dumps({"query": w["query"], "document": d})) for d in w["docs"]]' "$OUT/workload.json" > "$OUT/pairs.jsonl"
step gpurank-scores 120 node .cache/device/gpurank.mjs score --model "$MODELS/cross-encoder" --dtype f32 < "$OUT/pairs.jsonl" > "$OUT/gpurank-scores.jsonl" 2> "$OUT/gpurank-scores.stderr"
step torch 400 "$PY" scripts/device/torch_bench.py --workload "$OUT/workload.json" --cross "$MODELS/cross-encoder" --bi "$MODELS/bi-encoder" --runs "$TORCH_RUNS" --scores-out "$OUT/torch-scores.json" > "$OUT/torch.json" 2> "$OUT/torch.stderr"
"$PY" scripts/device/summarize.py "$OUT" > "$OUT/summary.json"
cat "$OUT/summary.json"
for f in "$OUT"/*.stderr; do grep -v maxDynamicStorageBuffers "$f" | tail -3 | sed "s|^|$(basename "$f"): |"; done
