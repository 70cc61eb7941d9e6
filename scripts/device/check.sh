#!/usr/bin/env bash
# Runs on the lent GPU machine (no Node, no registries): unpacks what scripts/device/pack.sh packed,
# points the Vulkan loader at the NVIDIA driver, and writes gpurank's GPU report to $OUT.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/.cache/device-out}"; mkdir -p "$OUT"
WORK=$(mktemp -d)
xz -dc .cache/device/node.xz > "$WORK/node" && chmod +x "$WORK/node"
export PATH="$WORK:$PATH"
[ -d node_modules/webgpu ] || tar -xJf .cache/device/node_modules.tar.xz
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  dpkg -x .cache/device/libvulkan1_*.deb "$WORK/vk"
  export LD_LIBRARY_PATH="$WORK/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# Containers often ship the NVIDIA driver without its Vulkan ICD manifest; write one if needed.
icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
if [ -z "$icd" ]; then
  glx=$(ldconfig -p | awk '/libGLX_nvidia.so.0/{print $NF; exit}')
  if [ -n "$glx" ]; then
    icd="$WORK/nvidia_icd.json"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" > "$icd"
  fi
fi
[ -n "$icd" ] && export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
{
  echo "node $(node --version)"; echo "icd ${icd:-none}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
} | tee "$OUT/env.txt"
node bin/gpurank.js doctor --json > "$OUT/doctor.json" 2> "$OUT/doctor.stderr"
echo "doctor exit $?" | tee -a "$OUT/env.txt"
node bin/gpurank.js doctor 2>&1 | tail -30
