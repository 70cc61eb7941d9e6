#!/usr/bin/env bash
# Builds crates/gpurank-core to WebAssembly with wasm-pack into crates/gpurank-core/pkg/.
# Uses rustup's wasm32 target when installed, otherwise Debian's rustc-web with -Zbuild-std
# (see scripts/setup.sh, which installs whichever is possible).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=toolchain.sh
source "$ROOT/scripts/toolchain.sh"

CRATE="$ROOT/crates/gpurank-core"
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) or run 'npm run setup'"
command -v wasm-pack >/dev/null || die "wasm-pack not found: run 'npm run setup' (or 'cargo install wasm-pack --version $WASM_PACK_VERSION')"
command -v wasm-bindgen >/dev/null || die "wasm-bindgen not found: run 'npm run setup' (or 'cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION')"
have=$(wasm-bindgen --version | awk '{print $2}')
[ "$have" = "$WASM_BINDGEN_VERSION" ] || die "wasm-bindgen-cli is $have but the crate pins $WASM_BINDGEN_VERSION: cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION --force"

extra=()
if rustup_has_wasm_target; then
  say "building the WASM core with rustup's wasm32-unknown-unknown target"
elif rust_web_ready; then
  say "building the WASM core with Debian rustc-web and -Zbuild-std ($RUST_WEB)"
  use_rust_web
  extra=(-Zbuild-std=std,panic_abort)
else
  die "no Rust toolchain can build wasm32-unknown-unknown: run 'npm run setup' (or 'rustup target add wasm32-unknown-unknown')"
fi

# A target dir of its own keeps wasm builds from fighting native `cargo test` over locks and fingerprints.
export CARGO_TARGET_DIR="$CRATE/target/wasm"
# --mode no-install: use the pinned wasm-bindgen on PATH, and skip wasm-pack's sysroot check, which
# does not know about -Zbuild-std.
wasm-pack --log-level warn build "$CRATE" --release --target web --mode no-install --out-dir pkg --no-pack -- "${extra[@]}"
say "WASM core built: $(du -h "$CRATE/pkg/gpurank_core_bg.wasm" | cut -f1) in crates/gpurank-core/pkg/"
