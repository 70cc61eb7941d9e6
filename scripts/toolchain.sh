# Shared by setup.sh and build-wasm.sh: where gpurank's pinned tools live and how
# to find a Rust toolchain that can build wasm32-unknown-unknown.
# shellcheck shell=bash

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate pinned in crates/gpurank-core/Cargo.toml
WASM_PACK_VERSION=0.15.1
RUST_WEB="${GPURANK_RUST_WEB:-$HOME/.rust-web}"   # Debian rustc-web, unpacked (not installed)
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m[gpurank]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[gpurank] error:\033[0m %s\n' "$*" >&2; exit 1; }

# GPURANK_WASM_TOOLCHAIN=rust-web forces the Debian rustc-web path even where rustup has the target.
rustup_has_wasm_target() {
  [ "${GPURANK_WASM_TOOLCHAIN:-}" != rust-web ] && command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

rust_web_ready() {
  [ -x "$RUST_WEB/usr/bin/rustc" ] && [ -d "$RUST_WEB/usr/src" ] && compgen -G "$RUST_WEB/usr/lib/llvm-*/bin/wasm-ld" >/dev/null
}

# Exports the environment cargo needs to build std for wasm32 with Debian's rustc-web.
use_rust_web() {
  local wasm_ld
  wasm_ld=$(ls "$RUST_WEB"/usr/lib/llvm-*/bin/wasm-ld 2>/dev/null | sort -V | tail -1)
  export LD_LIBRARY_PATH="$RUST_WEB/usr/lib/x86_64-linux-gnu:$RUST_WEB/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export RUSTC="$RUST_WEB/usr/bin/rustc"
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$wasm_ld"
}
