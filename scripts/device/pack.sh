#!/usr/bin/env bash
# Packs what a GPU machine without Node needs to run gpurank's GPU checks into .cache/device/
# (xz-compressed node, the Vulkan loader .deb, and the runtime npm packages). Carry .cache/device,
# dist and crates/gpurank-core/pkg, then run scripts/device/check.sh there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/.cache/device"
rm -rf "$OUT" && mkdir -p "$OUT"
xz -6 -T0 -c "$(command -v node)" > "$OUT/node.xz"
(cd "$OUT" && apt-get download libvulkan1 >/dev/null 2>&1)
# Runtime packages only, and only the linux-x64 Dawn build.
tar -C "$ROOT" -cJf "$OUT/node_modules.tar.xz" \
  --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/darwin-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' \
  node_modules/webgpu node_modules/@webgpu node_modules/commander node_modules/debug node_modules/ms
du -sh "$OUT"/*
