#!/usr/bin/env bash
# Installs the web verifier's QR decoder (zxing-wasm, reader build) from
# package-lock.json and copies its two files into OUT, next to the page:
#   OUT/zxing-reader.js     the IIFE script (global ZXingWASM)
#   OUT/zxing_reader.wasm   ZXing-C++ compiled to WebAssembly
# The page loads them only when the camera starts on a browser without
# BarcodeDetector. Nothing third-party is committed: npm ci installs into a
# temporary directory (npm's cache makes a second run work offline).
# usage: bash wasm/web/qr/build.sh OUT
set -euo pipefail
out=${1:?usage: build.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
pkg=$work/node_modules/zxing-wasm/dist
mkdir -p "$out"
cp "$pkg/iife/reader/index.js" "$out/zxing-reader.js"
cp "$pkg/reader/zxing_reader.wasm" "$out/zxing_reader.wasm"
cp "$work/node_modules/zxing-wasm/LICENSE" "$out/zxing-wasm.LICENSE.txt"
