# Sourced by check.sh and run.sh on the lent GPU machine (no Node, no registries): makes node, the runtime
# npm packages, the Vulkan loader and the NVIDIA Vulkan driver available from what pack.sh packed in
# .cache/device. On a machine that already has them (a dev box with lavapipe) it changes nothing, unless
# GPURANK_DEVICE_UNPACK=1 forces the unpacking (to test this path). Expects to run from the repo root.
DEVICE_WORK=$(mktemp -d)
if ! command -v node >/dev/null 2>&1; then
  xz -dc .cache/device/node.xz > "$DEVICE_WORK/node" && chmod +x "$DEVICE_WORK/node"
  export PATH="$DEVICE_WORK:$PATH"
fi
[ -d node_modules/webgpu ] || tar -xJf .cache/device/node_modules.tar.xz
# The NVIDIA driver needs the Vulkan loader and libglvnd's dispatch libraries (libGLdispatch, EGL, GLES),
# which GPU containers often lack: without them the loader fails with "Could not get vkCreateInstance via
# vk_icdGetInstanceProcAddr". Unpack every .deb and put its libraries first, with the driver's own dir.
if [ "${GPURANK_DEVICE_UNPACK:-0}" = 1 ] || command -v nvidia-smi >/dev/null 2>&1 \
   || ! ldconfig -p | grep -q 'libvulkan.so.1' || ! ldconfig -p | grep -q 'libGLdispatch.so.0'; then
  for deb in .cache/device/*.deb; do dpkg -x "$deb" "$DEVICE_WORK/root"; done
  export LD_LIBRARY_PATH="$DEVICE_WORK/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/usr/local/nvidia/lib64"
# Containers often ship the NVIDIA driver without its Vulkan ICD manifest; write one if needed.
DEVICE_ICD=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
if [ -z "$DEVICE_ICD" ]; then
  glx=$(ls /usr/local/nvidia/lib64/libGLX_nvidia.so.0 2>/dev/null || ldconfig -p | awk '/libGLX_nvidia.so.0/{print $NF; exit}')
  if [ -n "$glx" ]; then
    DEVICE_ICD="$DEVICE_WORK/nvidia_icd.json"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" > "$DEVICE_ICD"
  fi
fi
if [ -n "$DEVICE_ICD" ]; then export VK_DRIVER_FILES="$DEVICE_ICD" VK_ICD_FILENAMES="$DEVICE_ICD"; fi
