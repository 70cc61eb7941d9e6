#!/usr/bin/env bash
# Packs what a GPU machine without Node needs to run gpurank's GPU checks and benchmarks into .cache/device/:
# xz-compressed node, the Vulkan loader and libglvnd .debs (the NVIDIA Vulkan driver needs both), the
# runtime npm packages (Dawn), the CLI and benchmarks bundled into single ESM files (scripts/device/bundle.mjs),
# and the default model's config and tokenizer files (no weights: scripts/device/make_minilm_shaped.py
# makes same-shaped ones there). Carry .cache/device and crates/gpurank-core/pkg, then run
# scripts/device/check.sh or scripts/device/run.sh there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/.cache/device"
MODEL="$ROOT/models/all-MiniLM-L6-v2"
[ -f "$ROOT/crates/gpurank-core/pkg/gpurank_core_bg.wasm" ] || { echo "pack: build the WASM core first (npm run build:wasm)" >&2; exit 1; }
[ -f "$MODEL/config.json" ] || { echo "pack: $MODEL is missing: run npm run setup" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/minilm"
xz -6 -T0 -c "$(command -v node)" > "$OUT/node.xz"
(cd "$OUT" && apt-get download libvulkan1 libglvnd0 libegl1 libgles2 >/dev/null)
# Runtime packages only, and only the linux-x64 Dawn build.
tar -C "$ROOT" -cJf "$OUT/node_modules.tar.xz" \
  --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/darwin-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' \
  node_modules/webgpu node_modules/@webgpu node_modules/debug node_modules/ms
node "$ROOT/scripts/device/bundle.mjs"
for f in config.json sentence_bert_config.json tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json; do
  [ -f "$MODEL/$f" ] && cp "$MODEL/$f" "$OUT/minilm/"
done
du -sh "$OUT"/*
